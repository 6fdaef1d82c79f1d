"""The syntax tree of RASP: one frozen dataclass per construct, each knowing where it was written.

`rasp.syntax` builds these from Lark's parse tree; `rasp.runtime` and `rasp.expressions` execute
them.  The nodes hold plain values (names as strings, literals already converted, operators as
their symbols), so nothing downstream reads Lark's trees or tokens.  `at` is the position of the
construct's first character (file, line, column): errors raised while running a node are reported
there, and the IR nodes an expression builds take it as their origin.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rasp.errors import Location


@dataclass(frozen=True)
class Syntax:
    """Base of every node: `at` is None only for a construct with no text of its own."""

    at: Location | None = field(kw_only=True, compare=False)


# ---------------------------------------------------------------------------------- expressions


class Expr(Syntax):
    """Base of the expressions."""


@dataclass(frozen=True)
class Name(Expr):
    name: str


@dataclass(frozen=True)
class Constant(Expr):
    """An integer, float or string literal, converted (a string without its quotes)."""

    value: int | float | str


@dataclass(frozen=True)
class ListDisplay(Expr):
    """`[a, b, c]`."""

    items: tuple[Expr, ...]


@dataclass(frozen=True)
class DictDisplay(Expr):
    """`{k: v, ...}`."""

    pairs: tuple[tuple[Expr, Expr], ...]


@dataclass(frozen=True)
class ListComprehension(Expr):
    """`[value for targets in iterable]`."""

    value: Expr
    targets: tuple[str, ...]
    iterable: Expr


@dataclass(frozen=True)
class DictComprehension(Expr):
    """`{key: value for targets in iterable}`."""

    key: Expr
    value: Expr
    targets: tuple[str, ...]
    iterable: Expr


@dataclass(frozen=True)
class Select(Expr):
    """`select(keys, queries, op)`."""

    keys: Expr
    queries: Expr
    op: str


@dataclass(frozen=True)
class Aggregate(Expr):
    """`aggregate(selector, sop[, default])`."""

    selector: Expr
    sop: Expr
    default: Expr | None


@dataclass(frozen=True)
class Range(Expr):
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class Zip(Expr):
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class Len(Expr):
    operand: Expr


@dataclass(frozen=True)
class Unary(Expr):
    """`not x`, `-x`, `+x`, and the built-ins `round(x)`, `indicator(x)` (`builtin` true)."""

    op: str
    operand: Expr
    builtin: bool = False


@dataclass(frozen=True)
class Binary(Expr):
    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Conditional(Expr):
    """`if_true if condition else if_false`."""

    condition: Expr
    if_true: Expr
    if_false: Expr


@dataclass(frozen=True)
class Contains(Expr):
    """`item in container`."""

    item: Expr
    container: Expr


@dataclass(frozen=True)
class Index(Expr):
    """`target[index]`."""

    target: Expr
    index: Expr


@dataclass(frozen=True)
class Call(Expr):
    """`callee(args)`: a user function, a built-in, or an s-op/selector applied to an input."""

    callee: Expr
    args: tuple[Expr, ...]


# ----------------------------------------------------------------------------------- statements


class Statement(Syntax):
    """Base of the statements and REPL commands."""


@dataclass(frozen=True)
class ExprStatement(Statement):
    expr: Expr


@dataclass(frozen=True)
class Assign(Statement):
    """`a, b = x, y;`."""

    targets: tuple[str, ...]
    values: tuple[Expr, ...]


@dataclass(frozen=True)
class Draw(Statement):
    """`draw(sop[, example]);`."""

    target: Expr
    example: Expr | None


@dataclass(frozen=True)
class Load(Statement):
    """`load "name";` (the name without its quotes)."""

    name: str


@dataclass(frozen=True)
class FuncDef(Statement):
    """`def name(params) { body return returns; }`."""

    name: str
    params: tuple[str, ...]
    body: tuple[Statement, ...]
    returns: tuple[Expr, ...]


@dataclass(frozen=True)
class ForLoop(Statement):
    """`for targets in iterable { body }`."""

    targets: tuple[str, ...]
    iterable: Expr
    body: tuple[Statement, ...]


@dataclass(frozen=True)
class SetExample(Statement):
    """`set [s-op|selector] example value`; `subset` is "both" when none is named."""

    subset: str
    value: Expr


@dataclass(frozen=True)
class ShowExample(Statement):
    subset: str


@dataclass(frozen=True)
class ToggleExamples(Statement):
    subset: str
    on: bool


@dataclass(frozen=True)
class ToggleFullDisplay(Statement):
    on: bool


@dataclass(frozen=True)
class Exit(Statement):
    """`exit` or `quit`."""
