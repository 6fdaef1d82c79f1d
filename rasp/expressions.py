"""Evaluates RASP expressions (`rasp.ast.Expr`) to values: atoms, lists, dicts, functions and IR
nodes.  Building an s-op or selector evaluates nothing on an input; only applying one does
(`f("hello")`).  Every error is reported at the innermost expression that raised it, and every
IR node an expression builds records that expression's position as its origin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rasp import ast, ir
from rasp.errors import Location, RaspError, RaspEvaluationError, RaspTypeError
from rasp.interpreter import evaluate
from rasp.objects import Applied, Builtin, Function, describe, is_atom, result_name
from rasp.scope import Environment
from rasp.values import format_value


class Expressions:
    """The expression half of a runtime: one method per kind of `rasp.ast.Expr`, over the
    source text the nodes came from (`file`, `lines`), for locating errors."""

    def __init__(self, file: str | None, source: str) -> None:
        self.file = file
        self.lines = source.splitlines()

    # -------------------------------------------------------------------------- errors

    def _source_line(self, location: Location | None) -> str | None:
        if location is None or not 0 < location.line <= len(self.lines):
            return None
        return self.lines[location.line - 1]

    def locate(self, error: RaspError, node: ast.Syntax) -> RaspError:
        """Give the error this node's position, unless it already names a deeper one (then
        only add that position's source line, when it is in this text, or, when it is in
        another file, this position as a step it was called from)."""
        if error.location is not None:
            if error.source_line is None and error.location.file == self.file:
                error.source_line = self._source_line(error.location)
            elif error.location.file != self.file:
                here = node.at
                if here is not None and not any(str(here.file) in step for step in error.called_from):
                    error.called_from.append(f"{here}: {(self._source_line(here) or '').strip()}")
            return error
        return error.at(node.at, self._source_line(node.at))

    # ----------------------------------------------------------------------- iteration

    @staticmethod
    def iterate(iterable: Any, what: str) -> list[Any]:
        if isinstance(iterable, (list, dict)):
            return list(iterable)
        raise RaspTypeError(f"{what} over a list or dict, but got: {describe(iterable)}")

    @staticmethod
    def bind_iteration(names: tuple[str, ...], item: Any, env: Environment) -> None:
        if len(names) == 1:
            env.assign(names[0], item)
            return
        if not isinstance(item, (list, str, dict)):
            raise RaspTypeError(
                f"iterating with multiple iterator names, but got single iterator value: {describe(item)}"
            )
        values = list(item)
        if len(values) != len(names):
            raise RaspTypeError(f"iterating with {len(names)} names but got {len(values)} values ( {item!r} )")
        for name, value in zip(names, values):
            env.assign(name, value)

    # ----------------------------------------------------------------------- expressions

    def expr(self, node: ast.Expr, env: Environment) -> Any:
        try:
            return _EVALUATORS[type(node)](self, node, env)
        except RaspError as error:
            raise self.locate(error, node)

    def name(self, node: ast.Name, env: Environment) -> Any:
        return env.lookup(node.name)

    def constant(self, node: ast.Constant, env: Environment) -> int | float | str:
        return node.value

    def list_display(self, node: ast.ListDisplay, env: Environment) -> list[Any]:
        return [self.expr(item, env) for item in node.items]

    def dict_display(self, node: ast.DictDisplay, env: Environment) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        for key, value in node.pairs:
            result[_key(self.expr(key, env))] = self.expr(value, env)
        return result

    def list_comprehension(self, node: ast.ListComprehension, env: Environment) -> list[Any]:
        scope = Environment(env, "comprehension")
        result = []
        for item in self.iterate(
            self.expr(node.iterable, env), "list comprehension should have got a list or dict to loop"
        ):
            self.bind_iteration(node.targets, item, scope)
            result.append(self.expr(node.value, scope))
        return result

    def dict_comprehension(self, node: ast.DictComprehension, env: Environment) -> dict[Any, Any]:
        scope = Environment(env, "comprehension")
        result = {}
        for item in self.iterate(
            self.expr(node.iterable, env), "dict comprehension should have got a list or dict to loop"
        ):
            self.bind_iteration(node.targets, item, scope)
            result[_key(self.expr(node.key, scope))] = self.expr(node.value, scope)
        return result

    def select(self, node: ast.SelectCall, env: Environment) -> ir.Select:
        keys, queries = self.expr(node.keys, env), self.expr(node.queries, env)
        for role, value in (("keys", keys), ("queries", queries)):
            if not (isinstance(value, ir.SOp) or is_atom(value)):
                raise RaspTypeError(f"select {role} must be an s-op or an atom, got: {describe(value)}")
        return ir.select(keys, queries, node.op).with_origin(node.at)

    def aggregate(self, node: ast.AggregateCall, env: Environment) -> ir.Aggregate:
        selector = self.expr(node.selector, env)
        sop = self.expr(node.sop, env)
        default = self.expr(node.default, env) if node.default is not None else 0
        if not isinstance(selector, ir.Selector):
            raise RaspTypeError(f"Expected selector, got: {describe(selector)}")
        if not (isinstance(sop, ir.SOp) or is_atom(sop)):
            raise RaspTypeError(f"Expected s-op, got: {describe(sop)}")
        if not is_atom(default):
            raise RaspTypeError(f"Expected atom, got: {describe(default)}", hint="aggregate's default is an atom")
        return ir.aggregate(selector, sop, default).with_origin(node.at)

    def range(self, node: ast.Range, env: Environment) -> list[int]:
        args = [self.expr(arg, env) for arg in node.args]
        if not 1 <= len(args) <= 3:
            raise RaspTypeError(f"wrong number of inputs to range, expected: 1, 2, or 3, got: {len(args)}")
        if not all(isinstance(a, int) for a in args):
            raise RaspTypeError(f"range expects all integer inputs, but got: {describe(args)}")
        return list(range(*args))

    def zip(self, node: ast.Zip, env: Environment) -> list[list[Any]]:
        args = [self.expr(arg, env) for arg in node.args]
        for position, arg in enumerate(args, start=1):
            if not isinstance(arg, list):
                raise RaspTypeError(
                    f"attempting to zip lists, but {position} -th element is not list: {describe(arg)}"
                )
            if len(arg) != len(args[0]):
                raise RaspTypeError(
                    f"attempting to zip lists of length {len(args[0])} , but {position} -th list has length {len(arg)}"
                )
        return [list(items) for items in zip(*args)]

    def len(self, node: ast.Len, env: Environment) -> int:
        value = self.expr(node.operand, env)
        if not isinstance(value, list):
            raise RaspTypeError(f"attempting to compute length of non-list: {describe(value)}")
        return len(value)

    def unary(self, node: ast.Unary, env: Environment) -> Any:
        operand = self.expr(node.operand, env)
        if node.builtin and node.op == "indicator" and not isinstance(operand, ir.SOp):
            raise RaspTypeError(f"indicator operator expects s-op, got: {describe(operand)}")
        return _operate(lambda: ir.unary(node.op, operand), node, operand)

    def binary(self, node: ast.Binary, env: Environment) -> Any:
        left, right = self.expr(node.left, env), self.expr(node.right, env)
        return _operate(lambda: ir.binary(node.op, left, right), node, left, right)

    def conditional(self, node: ast.Conditional, env: Environment) -> Any:
        """With an atom condition only the chosen branch is evaluated (which is what lets a
        recursive function stop); with an s-op condition the choice is made per position."""
        condition = self.expr(node.condition, env)
        if not isinstance(condition, ir.Node):
            return self.expr(node.if_true if condition else node.if_false, env)
        when_true, when_false = self.expr(node.if_true, env), self.expr(node.if_false, env)
        operands = (condition, when_true, when_false)
        if any(isinstance(o, ir.Selector) for o in operands):
            raise RaspTypeError("'if else' does not apply to selectors")
        if all(isinstance(o, ir.SOp) or is_atom(o) for o in operands):
            return ir.SequenceMap(
                fn=lambda c, a, b: a if c else b,
                inputs=(ir.as_sop(condition), ir.as_sop(when_true), ir.as_sop(when_false)),
                description=f"{describe(when_true)} if {describe(condition)} else {describe(when_false)}",
                choice=True,
                origin=node.at,
            )
        raise RaspTypeError(
            f"'if else' over s-ops needs atoms or s-ops in both branches, got: "
            f"{describe(when_true)} and {describe(when_false)}"
        )

    def contains(self, node: ast.Contains, env: Environment) -> Any:
        item, container = self.expr(node.item, env), self.expr(node.container, env)
        origin = node.at
        if isinstance(item, ir.SOp):
            if not isinstance(container, list):
                raise RaspTypeError(
                    f'"[s-op] in X" expects X to be list of atoms, but got non-list: {describe(container)}'
                )
            if not all(is_atom(v) for v in container):
                raise RaspTypeError(
                    f'"[s-op] in X" expects X to be list of atoms, but got list with values: {describe(container)}'
                )
            members = list(container)
            return ir.Map(
                fn=lambda v: v in members, inner=item, description=f"{item.label} in {members}", origin=origin
            )
        if is_atom(item) and isinstance(container, ir.SOp):
            found = ir.Map(
                fn=lambda v: 1 if v == item else 0,
                inner=container,
                description=f"indicator({container.label} == {format_value(item)})",
            )
            share = ir.aggregate(ir.select(1, 1, "=="), found)
            return ir.Map(
                fn=lambda v: v > 0, inner=share, description=f"{format_value(item)} in {container.label}", origin=origin
            )
        if is_atom(item):
            if isinstance(container, list):
                return item in container
            raise RaspTypeError(f'"[atom] in X" expects X to be list or s-op, but got: {describe(container)}')
        raise RaspTypeError(f'"A in X" expects A to be s-op or atom, but got A: {describe(item)}')

    def index(self, node: ast.Index, env: Environment) -> Any:
        indexable, index = self.expr(node.target, env), self.expr(node.index, env)
        if isinstance(indexable, ir.SOp):
            return _sop_at(indexable, index, env).with_origin(node.at)
        if isinstance(index, ir.SOp) and isinstance(indexable, (list, dict, str)):
            return ir.Map(
                fn=lambda v: lookup(indexable, v),
                inner=index,
                description=f"{describe(indexable)}[{index.label}]",
                origin=node.at,
            )
        if isinstance(indexable, (list, dict, str)):
            return lookup(indexable, index)
        raise RaspTypeError(
            f"can only index into a list, dict, string, or sequence, but instead got: {describe(indexable)}"
        )

    def call(self, node: ast.Call, env: Environment) -> Any:
        callee = self.expr(node.callee, env)
        args = [self.expr(arg, env) for arg in node.args]
        if isinstance(callee, ir.Node):
            if len(args) != 1:
                raise RaspTypeError(f"wrong number of args for evaluate unfinished- expected: 1, got: {len(args)}.")
            value = evaluate(callee, args[0])
            return Applied(callee, args[0], value)
        if isinstance(callee, (Function, Builtin)):
            if len(args) != len(callee.params):
                raise RaspTypeError(
                    f"wrong number of args for {callee.name}- expected: {len(callee.params)}, got: {len(args)}."
                )
            if isinstance(callee, Builtin):
                result = callee.fn(*args)
                return result.with_origin(node.at) if isinstance(result, ir.Node) else result
            result = callee.source.apply(callee, args)
            if isinstance(result, ir.Node):
                return result.named(result_name(callee.name, args, result))
            return result
        raise RaspTypeError(f"{describe(callee)} is not a function")


#: The method of `Expressions` that evaluates each kind of expression.
_EVALUATORS: dict[type[ast.Expr], Callable[[Expressions, Any, Environment], Any]] = {
    ast.Name: Expressions.name,
    ast.Constant: Expressions.constant,
    ast.ListDisplay: Expressions.list_display,
    ast.DictDisplay: Expressions.dict_display,
    ast.ListComprehension: Expressions.list_comprehension,
    ast.DictComprehension: Expressions.dict_comprehension,
    ast.SelectCall: Expressions.select,
    ast.AggregateCall: Expressions.aggregate,
    ast.Range: Expressions.range,
    ast.Zip: Expressions.zip,
    ast.Len: Expressions.len,
    ast.Unary: Expressions.unary,
    ast.Binary: Expressions.binary,
    ast.Conditional: Expressions.conditional,
    ast.Contains: Expressions.contains,
    ast.Index: Expressions.index,
    ast.Call: Expressions.call,
}


def _key(key: Any) -> Any:
    if not is_atom(key):
        raise RaspTypeError(f"dictionary keys can only be atoms, but instead got: {describe(key)}")
    return key


def _operate(build: Callable[[], Any], node: ast.Unary | ast.Binary, *operands: Any) -> Any:
    """An operator applied: refused on functions and applied s-ops, Python's own failures on
    atoms (`1 / 0`) as RaspTypeErrors, and a built node given the expression's position."""
    for operand in operands:
        if isinstance(operand, (Function, Builtin, Applied)):
            raise RaspTypeError(f"'{node.op}' does not apply to {describe(operand)}")
    try:
        result = build()
    except RaspError:
        raise
    except (TypeError, ValueError, ZeroDivisionError, OverflowError) as error:
        shown = (
            f" {node.op} ".join(describe(o) for o in operands)
            if len(operands) == 2
            else f"{node.op} {describe(operands[0])}"
        )
        raise RaspTypeError(f"cannot compute {shown}: {error}") from None
    if isinstance(result, ir.Node):
        return result.with_origin(node.at)
    return result


def _sop_at(sop: ir.SOp, index: Any, env: Environment) -> ir.SOp:
    """`s[i]`: the value at position i (from the end when negative) at every position,
    0 where there is no such position."""
    if not isinstance(index, int):
        raise RaspTypeError(f"index into sequence has to be integer, got: {describe(index)}")
    where = index if index >= 0 else env.lookup("length") + index
    return ir.aggregate(ir.select(ir.indices, where, "=="), sop)


def lookup(container: list[Any] | dict[Any, Any] | str, index: Any) -> Any:
    """`container[index]` with RASP's error messages."""
    if isinstance(container, dict):
        if not is_atom(index):
            raise RaspTypeError(
                f"index into dict has to be s-op or atom (i.e., string, int, float, bool), got: {describe(index)}"
            )
        if index not in container:
            raise RaspEvaluationError(f"index [ {format_value(index)} ] not in dict.")
        return container[index]
    kind = "string" if isinstance(container, str) else "list"
    if not isinstance(index, int):
        raise RaspTypeError(f"index into {kind} has to be s-op or integer, got: {describe(index)}")
    if not -len(container) <= index < len(container):
        raise RaspEvaluationError(f"index {index} out of range for {kind} of length {len(container)}")
    return container[index]
