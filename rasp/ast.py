"""The syntax tree of RASP: one frozen dataclass per construct, each knowing where it was written.

`rasp.syntax` builds these from Lark's parse tree; `rasp.runtime` and `rasp.expressions` execute
them.  The nodes hold plain values (names as strings, literals already converted, operators as
their symbols), so nothing downstream reads Lark's trees or tokens.  `at` is the position of the
construct's first character (file, line, column): errors raised while running a node are reported
there, and the IR nodes an expression builds take it as their origin.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rasp.errors import Location


@dataclass(frozen=True)
class Syntax:
    """Base of every node: `at` is None only for a construct with no text of its own.

    Each subclass becomes a frozen dataclass as it is declared, so a node is written as its fields
    alone and none can be left mutable or without its generated constructor."""

    at: Location | None = field(kw_only=True, compare=False)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclass(frozen=True)(cls)


# ---------------------------------------------------------------------------------- expressions


class Expr(Syntax):
    """Base of the expressions."""


class Name(Expr):
    name: str


class Constant(Expr):
    """An integer, float or string literal, converted (a string without its quotes)."""

    value: int | float | str


class ListDisplay(Expr):
    """`[a, b, c]`."""

    items: tuple[Expr, ...]


class DictDisplay(Expr):
    """`{k: v, ...}`."""

    pairs: tuple[tuple[Expr, Expr], ...]


class ListComprehension(Expr):
    """`[value for targets in iterable]`."""

    value: Expr
    targets: tuple[str, ...]
    iterable: Expr


class DictComprehension(Expr):
    """`{key: value for targets in iterable}`."""

    key: Expr
    value: Expr
    targets: tuple[str, ...]
    iterable: Expr


class SelectCall(Expr):
    """`select(keys, queries, op)`."""

    keys: Expr
    queries: Expr
    op: str


class AggregateCall(Expr):
    """`aggregate(selector, sop[, default])`."""

    selector: Expr
    sop: Expr
    default: Expr | None


class Range(Expr):
    args: tuple[Expr, ...]


class Zip(Expr):
    args: tuple[Expr, ...]


class Len(Expr):
    operand: Expr


class Unary(Expr):
    """`not x`, `-x`, `+x`, and the built-ins `round(x)`, `indicator(x)` (`builtin` true)."""

    op: str
    operand: Expr
    builtin: bool = False


class Binary(Expr):
    op: str
    left: Expr
    right: Expr


class Conditional(Expr):
    """`if_true if condition else if_false`."""

    condition: Expr
    if_true: Expr
    if_false: Expr


class Contains(Expr):
    """`item in container`."""

    item: Expr
    container: Expr


class Index(Expr):
    """`target[index]`."""

    target: Expr
    index: Expr


class Call(Expr):
    """`callee(args)`: a user function, a built-in, or an s-op/selector applied to an input."""

    callee: Expr
    args: tuple[Expr, ...]


# ----------------------------------------------------------------------------------- statements


class Statement(Syntax):
    """Base of the statements and REPL commands."""


class ExprStatement(Statement):
    expr: Expr


class Assign(Statement):
    """`a, b = x, y;`."""

    targets: tuple[str, ...]
    values: tuple[Expr, ...]


class Draw(Statement):
    """`draw(sop[, example]);`."""

    target: Expr
    example: Expr | None


class Load(Statement):
    """`load "name";` (the name without its quotes)."""

    name: str


class FuncDef(Statement):
    """`def name(params) { body return returns; }`."""

    name: str
    params: tuple[str, ...]
    body: tuple[Statement, ...]
    returns: tuple[Expr, ...]


class ForLoop(Statement):
    """`for targets in iterable { body }`."""

    targets: tuple[str, ...]
    iterable: Expr
    body: tuple[Statement, ...]


class SetExample(Statement):
    """`set [s-op|selector] example value`; `subset` is "both" when none is named."""

    subset: str
    value: Expr


class ShowExample(Statement):
    subset: str


class ToggleExamples(Statement):
    subset: str
    on: bool


class ToggleFullDisplay(Statement):
    on: bool


class Exit(Statement):
    """`exit` or `quit`."""
