"""RASP's operators: one Python function per operator, used on atoms directly and elementwise on
s-ops through Map/SequenceMap nodes.

`build_binary` and `build_unary` decide, from the operand kinds, whether an operation is a plain
value (two atoms), a node over s-ops, or a selector combination, and annotate linear maps so that
the compiler can lower `indices + 1` without an MLP.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from rasp import ir
from rasp.errors import RaspTypeError
from rasp.values import format_value


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


def _describe(operand: Any) -> str:
    """An operand in a node's description: s-ops by label, atoms as written, containers by
    kind only (their items may be whole graphs, whose repr would be enormous)."""
    if isinstance(operand, ir.Node):
        return operand.label
    if isinstance(operand, (list, dict)):
        return f"({type(operand).__name__})"
    return format_value(operand)


def _affine(op: str, sop_on_left: bool, constant: Any) -> tuple[float, float] | None:
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


def build_binary(op: str, left: Any, right: Any) -> Any:
    """`left op right`: an atom, an s-op node, or a selector node."""
    if isinstance(left, ir.Selector) or isinstance(right, ir.Selector):
        if op not in ("and", "or"):
            raise RaspTypeError(f"Cannot apply {op} to selector(s)", hint="selectors combine with and, or, not")
        if not (isinstance(left, ir.Selector) and isinstance(right, ir.Selector)):
            raise RaspTypeError("Cannot apply and/or between selector and non-selector")
        return ir.SelectorAnd(left, right) if op == "and" else ir.SelectorOr(left, right)
    on_sops = isinstance(left, ir.SOp) or isinstance(right, ir.SOp)
    fn = ELEMENTWISE_LOGIC[op] if on_sops and op in ELEMENTWISE_LOGIC else BINARY[op]
    if not on_sops:
        return fn(left, right)
    description = f"{_describe(left)} {op} {_describe(right)}"
    if isinstance(left, ir.SOp) and isinstance(right, ir.SOp):
        linear = {"+": (1, 1), "-": (1, -1)}.get(op)
        return ir.SequenceMap(fn=fn, inputs=(left, right), description=description, linear=linear)
    if isinstance(left, ir.SOp):
        return ir.Map(fn=lambda x: fn(x, right), inner=left, description=description, affine=_affine(op, True, right))
    return ir.Map(fn=lambda x: fn(left, x), inner=right, description=description, affine=_affine(op, False, left))


def build_unary(op: str, operand: Any) -> Any:
    """`op operand` for not, -, +, round and indicator."""
    fn = UNARY[op]
    if isinstance(operand, ir.Selector):
        if op != "not":
            raise RaspTypeError(f"'{op}' does not apply to the selector {operand.label}; only 'not' does")
        return ir.SelectorNot(operand)
    if isinstance(operand, ir.SOp):
        affine = {"-": (-1, 0), "+": (1, 0)}.get(op)
        return ir.Map(fn=fn, inner=operand, description=f"{op} {operand.label}", affine=affine)
    return fn(operand)
