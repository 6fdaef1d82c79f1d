"""Atoms: what counts as a number, how input tokens are read, and how values are displayed.

The display follows the original RASP REPL: floats to 3 places, bools as T/F, strings bare, a
sequence whose values are all equal as `[v]*n`, and the sequence's type in brackets.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable
from typing import Any

import numpy as np

from rasp.errors import RaspEvaluationError


def is_number(value: Any) -> bool:
    """Ints and floats are numbers; bools are not (a mean over bools is an error)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def all_numbers(values: Iterable[Any]) -> bool:
    """Whether every value is a number, as `is_number` says, checked per type: value sets of
    positions hold millions of values at long lengths, and their types are few.  A set that
    says it holds integers only (`integers_only`: the compiler's intervals) is not walked."""
    if getattr(values, "integers_only", False):
        return True
    return all(issubclass(t, (int, float)) and not issubclass(t, bool) for t in set(map(type, values)))


def all_integers(values: Collection[Any]) -> bool:
    """Whether every value of a set of numbers is an integer (1.0 included), in one array pass."""
    if getattr(values, "integers_only", False):
        return True
    return bool(np.all(np.mod(np.fromiter(values, float, count=len(values)), 1) == 0))


#: RASP's names of Python's types, tried in order: bool before int, which it subclasses.
_TYPE_NAMES: tuple[tuple[type, str], ...] = (
    (bool, "bool"),
    (int, "int"),
    (float, "float"),
    (str, "string"),
    (list, "list"),
    (dict, "dict"),
)


def type_name(value: Any) -> str:
    """The RASP name of an atom's type (a subclass, such as numpy's float64, by its base's)."""
    return _name_of_type(type(value))


@functools.cache
def _name_of_type(kind: type) -> str:
    """`type_name` per Python type, remembered: the interpreter asks it of every value of every
    s-op, and a sequence holds few distinct types."""
    return next((name for base, name in _TYPE_NAMES if issubclass(kind, base)), kind.__name__)


def read_token(token: Any, kind: str) -> Any:
    """One input token as `tokens_<kind>` sees it: Python's str, int, float or bool of it (so
    `tokens_bool` reads every non-empty string as true), or the token itself for `asis`."""
    if kind == "str":
        return token if isinstance(token, str) else str(token)
    if kind == "int":
        return int(token)
    if kind == "float":
        return float(token)
    if kind == "bool":
        return bool(token)
    return token


def sequence_type(values: list[Any]) -> str:
    """The type a sequence shows in brackets, as the original decides it: strings, bools, ints
    (bools count as ints when mixed with them) or floats (any float among numbers).

    Raises RaspEvaluationError for a sequence that mixes strings with other atoms, or holds
    something that is not an atom: the original refuses to build such a sequence."""
    kinds = {_name_of_type(kind) for kind in set(map(type, values))}
    if kinds <= {"string"}:
        return "strings"
    if kinds == {"bool"}:
        return "bools"
    if kinds <= {"int", "bool"}:
        return "ints"
    if kinds <= {"int", "bool", "float"}:
        return "floats"
    shown = ", ".join(repr(v) for v in values[:12]) + (", ..." if len(values) > 12 else "")
    if kinds <= {"int", "bool", "float", "string"}:
        raise RaspEvaluationError(f"attempted to create sequence with vals of different types: [{shown}]")
    raise RaspEvaluationError(
        f"attempted to create sequence with illegal val types (vals must be bool, float, int or string): [{shown}]"
    )


def format_atom(value: Any) -> str:
    """An atom inside a displayed sequence."""
    if isinstance(value, bool):
        return "T" if value else "F"
    if isinstance(value, float):
        return str(round(value, 3))
    return str(value)


def format_sequence(values: list[Any]) -> str:
    """`[1, 2, 3] (ints)`, or `[5]*3 (ints)` when every value is the same."""
    kind = sequence_type(values)
    if len(values) > 1 and len(set(values)) == 1:
        body = f"[{format_atom(values[0])}]*{len(values)}"
    else:
        body = "[" + ", ".join(format_atom(v) for v in values) + "]"
    return f"{body} ({kind})"


def format_value(value: Any) -> str:
    """A plain RASP value (atom, list, dict) the way the REPL shows it."""
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)
