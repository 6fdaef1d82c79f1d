"""What RASP statements produce besides atoms, lists, dicts and IR nodes: functions, applied
s-ops, statement results, and the short texts that name values in messages and generated names."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from rasp import ast, ir
from rasp.scope import Environment
from rasp.values import format_value


class Caller(Protocol):
    """What runs a user function's body: the runtime of the text that defined it (so that its
    errors point into that text)."""

    def apply(self, function: Function, args: list[Any]) -> Any: ...


@dataclass
class Function:
    """A user function: parameters, body statements, return expressions, defining scope."""

    name: str
    params: tuple[str, ...]
    body: tuple[ast.Statement, ...]
    returns: tuple[ast.Expr, ...]
    closure: Environment
    source: Caller = field(repr=False)

    def __str__(self) -> str:
        return f"{self.closure.name} function: {self.name}({', '.join(self.params)})"


@dataclass(frozen=True)
class Builtin:
    """A function the language provides in Python (e.g. `selector_width`)."""

    name: str
    params: tuple[str, ...]
    fn: Callable[..., Any]

    def __str__(self) -> str:
        return f"built-in function: {self.name}({', '.join(self.params)})"


@dataclass(frozen=True)
class Applied:
    """The result of applying an s-op or selector to an input in a program (`hist("hello")`)."""

    node: ir.Node
    input: Any
    value: Any


@dataclass(frozen=True)
class Result:
    """What a statement produced, for the REPL to show: a named binding or an expression value.

    `kind` is "value", "example" (show example), "draw", "loaded" (a name a `load` brought in)
    or "error" (a statement of a loaded file that failed and was skipped; `value` is the
    `RaspError`)."""

    name: str | None
    value: Any
    kind: str = "value"


def is_atom(value: Any) -> bool:
    return isinstance(value, (int, float, str, bool))


#: As in the original: a list or dict argument longer than this is shown as `(list)` / `(dict)`
#: in the name of a function's result, and a generated name longer than NAME_CAP is replaced
#: by `s-op` / `sel`.  (Spelling out nested containers in full made names grow exponentially.)
DESCRIPTION_CAP = 20
NAME_CAP = 30


def describe(value: Any, cap: int | None = None) -> str:
    """A short text for a value in messages and generated names: s-ops and selectors by their
    name, strings quoted, lists and dicts item by item (never through the nodes' repr)."""
    if isinstance(value, ir.Node):
        return value.label
    if isinstance(value, (Function, Builtin)):
        return str(value)
    if isinstance(value, list):
        text = "[" + ", ".join(describe(item) for item in value) + "]"
        return "(list)" if cap is not None and len(text) > cap else text
    if isinstance(value, dict):
        text = "{" + ", ".join(f"{describe(k)}: {describe(v)}" for k, v in value.items()) + "}"
        return "(dict)" if cap is not None and len(text) > cap else text
    return format_value(value)


def result_name(function: str, args: list[Any], result: ir.Node) -> str:
    """The name a function's s-op or selector result takes: `f(arg , arg)`."""
    name = f"{function}({' , '.join(describe(a, DESCRIPTION_CAP) for a in args)})"
    if len(name) > NAME_CAP:
        return "sel" if isinstance(result, ir.Selector) else "s-op"
    return name


def nodes_in(value: Any) -> list[ir.Node]:
    """The s-ops and selectors in a value: itself, or inside its lists and dicts."""
    if isinstance(value, ir.Node):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return [node for item in value for node in nodes_in(item)]
    return []
