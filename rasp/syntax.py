"""Lark's parse tree to the syntax tree of `rasp.ast`.

The parser (`rasp.parser`) checks the text and reports syntax errors; this module only rebuilds
what it accepted as `rasp.ast` nodes, one method per grammar rule, bottom-up.  Every node takes
the position Lark recorded for its rule (`propagate_positions`), with the file the text came from.
"""

from __future__ import annotations

import sys
from typing import Any

from lark import Token, Transformer, Tree, v_args
from lark.exceptions import VisitError
from lark.tree import Meta

from rasp import ast
from rasp.errors import Location, RaspSyntaxError
from rasp.parser import parse, parse_each


def _without_quotes(token: Token) -> str:
    return str(token)[1:-1]


def _subset(token: Token | None) -> str:
    return str(token) if token is not None else "both"


@v_args(meta=True)
class ToAst(Transformer):
    """One method per rule of `grammar.lark`; operator rules become their symbol."""

    def __init__(self, file: str | None) -> None:
        super().__init__()
        self.file = file

    def _at(self, meta: Meta) -> Location | None:
        return None if meta.empty else Location(self.file, meta.line, meta.column)

    # ------------------------------------------------------------------------ shared pieces

    def start(self, meta: Meta, statements: list[ast.Statement]) -> tuple[ast.Statement, ...]:
        return tuple(statements)

    def targets(self, meta: Meta, names: list[Token]) -> tuple[str, ...]:
        return tuple(str(name) for name in names)

    def exprs(self, meta: Meta, items: list[ast.Expr]) -> tuple[ast.Expr, ...]:
        return tuple(items)

    def pair(self, meta: Meta, children: list[ast.Expr]) -> tuple[ast.Expr, ast.Expr]:
        key, value = children
        return key, value

    def return_statement(self, meta: Meta, children: list[tuple[ast.Expr, ...]]) -> tuple[ast.Expr, ...]:
        return children[0]

    def _symbol(self, meta: Meta, children: list[Token]) -> str:
        return str(children[0])

    logic_op = compare_op = select_op = add_op = mod_op = mul_op = pow_op = unary_op = builtin_op = _symbol

    # --------------------------------------------------------------------------- statements

    def expr_statement(self, meta: Meta, children: list[ast.Expr]) -> ast.ExprStatement:
        return ast.ExprStatement(children[0], at=self._at(meta))

    def assign(self, meta: Meta, children: list[Any]) -> ast.Assign:
        targets, values = children
        return ast.Assign(targets, values, at=self._at(meta))

    def draw(self, meta: Meta, children: list[ast.Expr | None]) -> ast.Draw:
        target, example = children
        assert target is not None
        return ast.Draw(target, example, at=self._at(meta))

    def load(self, meta: Meta, children: list[Token]) -> ast.Load:
        return ast.Load(_without_quotes(children[0]), at=self._at(meta))

    def funcdef(self, meta: Meta, children: list[Any]) -> ast.FuncDef:
        name, params, *body, returns = children
        return ast.FuncDef(str(name), params or (), tuple(body), returns, at=self._at(meta))

    def forloop(self, meta: Meta, children: list[Any]) -> ast.ForLoop:
        targets, iterable, *body = children
        return ast.ForLoop(targets, iterable, tuple(body), at=self._at(meta))

    def set_example(self, meta: Meta, children: list[Any]) -> ast.SetExample:
        subset, value = children
        return ast.SetExample(_subset(subset), value, at=self._at(meta))

    def show_example(self, meta: Meta, children: list[Token | None]) -> ast.ShowExample:
        return ast.ShowExample(_subset(children[0]), at=self._at(meta))

    def toggle_examples(self, meta: Meta, children: list[Token | None]) -> ast.ToggleExamples:
        subset, switch = children
        return ast.ToggleExamples(_subset(subset), str(switch) == "on", at=self._at(meta))

    def toggle_full_display(self, meta: Meta, children: list[Token]) -> ast.ToggleFullDisplay:
        return ast.ToggleFullDisplay(str(children[1]) == "on", at=self._at(meta))

    def exit(self, meta: Meta, children: list[Token]) -> ast.Exit:
        return ast.Exit(at=self._at(meta))

    # -------------------------------------------------------------------------- expressions

    def name(self, meta: Meta, children: list[Token]) -> ast.Name:
        return ast.Name(str(children[0]), at=self._at(meta))

    def integer(self, meta: Meta, children: list[Token]) -> ast.Constant:
        return ast.Constant(int(children[0]), at=self._at(meta))

    def float(self, meta: Meta, children: list[Token]) -> ast.Constant:
        return ast.Constant(float(children[0]), at=self._at(meta))

    def string(self, meta: Meta, children: list[Token]) -> ast.Constant:
        return ast.Constant(_without_quotes(children[0]), at=self._at(meta))

    def list(self, meta: Meta, children: list[tuple[ast.Expr, ...] | None]) -> ast.ListDisplay:
        return ast.ListDisplay(children[0] or (), at=self._at(meta))

    def dict(self, meta: Meta, children: list[tuple[ast.Expr, ast.Expr] | None]) -> ast.DictDisplay:
        return ast.DictDisplay(tuple(pair for pair in children if pair is not None), at=self._at(meta))

    def list_comprehension(self, meta: Meta, children: list[Any]) -> ast.ListComprehension:
        value, targets, iterable = children
        return ast.ListComprehension(value, targets, iterable, at=self._at(meta))

    def dict_comprehension(self, meta: Meta, children: list[Any]) -> ast.DictComprehension:
        key, value, targets, iterable = children
        return ast.DictComprehension(key, value, targets, iterable, at=self._at(meta))

    def select(self, meta: Meta, children: list[Any]) -> ast.SelectCall:
        _, keys, queries, op = children
        return ast.SelectCall(keys, queries, op, at=self._at(meta))

    def aggregate(self, meta: Meta, children: list[Any]) -> ast.AggregateCall:
        _, selector, sop, default = children
        return ast.AggregateCall(selector, sop, default, at=self._at(meta))

    def range(self, meta: Meta, children: list[Any]) -> ast.Range:
        return ast.Range(children[1], at=self._at(meta))

    def zip(self, meta: Meta, children: list[Any]) -> ast.Zip:
        return ast.Zip(children[1], at=self._at(meta))

    def len(self, meta: Meta, children: list[Any]) -> ast.Len:
        return ast.Len(children[1], at=self._at(meta))

    def builtin_unary(self, meta: Meta, children: list[Any]) -> ast.Unary:
        op, operand = children
        return ast.Unary(op, operand, builtin=True, at=self._at(meta))

    def unary(self, meta: Meta, children: list[Any]) -> ast.Unary:
        op, operand = children
        return ast.Unary(op, operand, at=self._at(meta))

    def binary(self, meta: Meta, children: list[Any]) -> ast.Binary:
        left, op, right = children
        return ast.Binary(op, left, right, at=self._at(meta))

    def conditional(self, meta: Meta, children: list[ast.Expr]) -> ast.Conditional:
        if_true, condition, if_false = children
        return ast.Conditional(condition, if_true, if_false, at=self._at(meta))

    def contains(self, meta: Meta, children: list[ast.Expr]) -> ast.Contains:
        item, container = children
        return ast.Contains(item, container, at=self._at(meta))

    def index(self, meta: Meta, children: list[ast.Expr]) -> ast.Index:
        target, index = children
        return ast.Index(target, index, at=self._at(meta))

    def call(self, meta: Meta, children: list[Any]) -> ast.Call:
        callee, args = children
        return ast.Call(callee, args or (), at=self._at(meta))


def to_ast(tree: Tree, file: str | None) -> tuple[ast.Statement, ...]:
    """The statements of a parse tree (a `start` tree) as syntax nodes."""
    return ToAst(file).transform(tree)


def read(source: str, file: str | None = None) -> tuple[ast.Statement, ...]:
    """A whole program's statements; a `RaspSyntaxError` when it does not parse."""
    tree = parse(source, file)
    try:
        return to_ast(tree, file)
    except (RecursionError, VisitError) as error:
        raise _recursion(error, tree, file) from None


def read_each(source: str, file: str | None = None) -> list[ast.Statement | RaspSyntaxError]:
    """A file's statements one by one, each malformed one as its error (`rasp.parser.parse_each`)."""
    transformer = ToAst(file)
    items = parse_each(source, file)
    return [item if isinstance(item, RaspSyntaxError) else _transformed(transformer, item, file) for item in items]


def _transformed(transformer: ToAst, tree: Tree, file: str | None) -> ast.Statement | RaspSyntaxError:
    try:
        return transformer.transform(tree)
    except (RecursionError, VisitError) as error:
        return _recursion(error, tree, file)


def _recursion(error: Exception, tree: Tree, file: str | None) -> RaspSyntaxError:
    """`too_deep` for a RecursionError, also one Lark wrapped in a VisitError (raised inside a
    rule's method); any other error is not ours to explain and goes on."""
    if isinstance(error, VisitError) and not isinstance(error.orig_exc, RecursionError):
        raise error
    return too_deep(tree, file)


def too_deep(tree: Tree, file: str | None) -> RaspSyntaxError:
    """The error for a program nested deeper than the reader's recursion can follow, at its
    most deeply nested statement (found without recursion)."""
    statements = [child for child in tree.children if isinstance(child, Tree)] if tree.data == "start" else [tree]
    depth, deepest = max(((_depth(statement), statement) for statement in statements), key=lambda pair: pair[0])
    meta = deepest.meta
    return RaspSyntaxError(
        f"this statement nests {depth} levels deep, more than Python's recursion limit "
        f"({sys.getrecursionlimit()}) lets the reader follow",
        None if meta.empty else Location(file, meta.line, meta.column),
        hint="the rasp command follows about 20,000 levels; or name inner expressions (`a = ...;`) to nest less",
    )


def _depth(tree: Tree) -> int:
    deepest, pending = 0, [(tree, 1)]
    while pending:
        node, depth = pending.pop()
        deepest = max(deepest, depth)
        pending.extend((child, depth + 1) for child in node.children if isinstance(child, Tree))
    return deepest
