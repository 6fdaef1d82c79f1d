"""RASP's operators on atoms: one Python function per operator, used on atoms directly and
elementwise on s-ops (through the Map/SequenceMap nodes that `rasp.ir.binary` and
`rasp.ir.unary` build), and which of them are affine in a number, so that the compiler can
lower `indices + 1` without an MLP.  Knows nothing of the IR, which builds on it.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any


def _power(base: Any, exponent: Any) -> Any:
    return base**exponent


def _logical_and(left: Any, right: Any) -> Any:
    return left and right


def _logical_or(left: Any, right: Any) -> Any:
    return left or right


def _both(left: Any, right: Any) -> bool:
    return bool(left) and bool(right)


def _either(left: Any, right: Any) -> bool:
    return bool(left) or bool(right)


#: On s-ops, `and` and `or` give bools position by position (on atoms they return an operand).
ELEMENTWISE_LOGIC = {"and": _both, "or": _either}


BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "%": operator.mod,
    "^": _power,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
    "and": _logical_and,
    "or": _logical_or,
}


def _indicator(value: Any) -> int:
    return 1 if value else 0


UNARY: dict[str, Callable[[Any], Any]] = {
    "not": operator.not_,
    "-": operator.neg,
    "+": operator.pos,
    "round": round,
    "indicator": _indicator,
}


#: A comparison read the other way round: `c < x` is `x > c`.
_FLIPPED = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


def comparison(op: str, sop_on_left: bool, constant: Any) -> tuple[str, float] | None:
    """(op', c) with fn(x) = (x op' c), for a comparison of an s-op with a number."""
    if op not in _FLIPPED or isinstance(constant, bool) or not isinstance(constant, (int, float)):
        return None
    return (op if sop_on_left else _FLIPPED[op], constant)


def affine(op: str, sop_on_left: bool, constant: Any) -> tuple[float, float] | None:
    """(a, b) with fn(x) = a*x + b, for the operators that are affine in their s-op operand."""
    if isinstance(constant, bool) or not isinstance(constant, (int, float)):
        return None
    if op == "+":
        return (1, constant)
    if op == "-":
        return (1, -constant) if sop_on_left else (-1, constant)
    if op == "*":
        return (constant, 0)
    if op == "/" and sop_on_left and constant != 0:
        return (1 / constant, 0)
    return None
