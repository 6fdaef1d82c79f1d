"""Executes RASP statements: environments, functions, loops, `load`, REPL commands.

Running a statement produces plain values (atoms, lists, dicts, functions) and IR nodes (s-ops
and selectors); nothing is evaluated on an input here except when a program asks for it
explicitly (`f("hello")`, `set example`).  The resulting bindings are what `Session[name]`
returns and what the interpreter and the compiler consume.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from lark import Token, Tree

from rasp import ir
from rasp.errors import Location, RaspError, RaspEvaluationError, RaspNameError, RaspTypeError
from rasp.interpreter import evaluate
from rasp.operators import build_binary, build_unary
from rasp.parser import parse
from rasp.values import format_value

#: Names no scope may rebind: the language's constants and the original's reserved words.
#: (`out` is written only by expression statements.)
RESERVED = frozenset(
    {
        "tokens_str",
        "tokens_int",
        "tokens_float",
        "tokens_bool",
        "tokens_asis",
        "indices",
        "True",
        "False",
        "if",
        "else",
        "not",
        "and",
        "or",
        "out",
        "def",
        "return",
        "range",
        "for",
        "in",
        "zip",
        "len",
        "get",
    }
)


class Environment:
    """A scope: a dictionary of bindings and the enclosing scope (lexical scoping).

    `reserved` names cannot be assigned here; the console scope also reserves the standard
    library's names, which functions and loaded files may still shadow locally."""

    def __init__(self, parent: Environment | None = None, name: str = "", reserved: frozenset[str] = RESERVED):
        self.parent = parent
        self.name = name
        self.reserved = reserved
        self.bindings: dict[str, Any] = {}

    def lookup(self, name: str) -> Any:
        scope: Environment | None = self
        while scope is not None:
            if name in scope.bindings:
                return scope.bindings[name]
            scope = scope.parent
        raise RaspNameError(
            f"Undefined variable: {name}", hint="assign it before use, or load the file that defines it"
        )

    def assign(self, name: str, value: Any) -> None:
        if name in self.reserved:
            raise RaspNameError(f"Cannot set reserved name: {name}")
        self.bindings[name] = value


@dataclass
class Function:
    """A user function: parameters, body statements, return expressions, defining scope."""

    name: str
    params: tuple[str, ...]
    body: list[Tree]
    returns: Tree
    closure: Environment
    source: Runtime = field(repr=False)

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


class ReplCommand(Protocol):
    """What the runtime needs from its owner (the Session): the REPL commands, and trying new
    s-ops on the running example."""

    def set_example(self, subset: str, value: Any) -> None: ...
    def show_example(self, subset: str) -> list[Result]: ...
    def toggle_examples(self, subset: str, on: bool) -> None: ...
    def toggle_full_display(self, on: bool) -> None: ...
    def exit(self) -> None: ...
    def check_on_example(self, node: ir.Node) -> None: ...


def _location(tree: Tree | Token, file: str | None) -> Location | None:
    if isinstance(tree, Token):
        return Location(file, tree.line or 1, tree.column or 1)
    meta = tree.meta
    if getattr(meta, "empty", True):
        return None
    return Location(file, meta.line, meta.column)


def _is_atom(value: Any) -> bool:
    return isinstance(value, (int, float, str, bool))


#: As in the original: a list or dict argument longer than this is shown as `(list)` / `(dict)`
#: in the name of a function's result, and a generated name longer than NAME_CAP is replaced
#: by `s-op` / `sel`.  (Spelling out nested containers in full made names grow exponentially.)
DESCRIPTION_CAP = 20
NAME_CAP = 30


def _describe(value: Any, cap: int | None = None) -> str:
    """A short text for a value in messages and generated names: s-ops and selectors by their
    name, strings quoted, lists and dicts item by item (never through the nodes' repr)."""
    if isinstance(value, ir.Node):
        return value.label
    if isinstance(value, (Function, Builtin)):
        return str(value)
    if isinstance(value, list):
        text = "[" + ", ".join(_describe(item) for item in value) + "]"
        return "(list)" if cap is not None and len(text) > cap else text
    if isinstance(value, dict):
        text = "{" + ", ".join(f"{_describe(k)}: {_describe(v)}" for k, v in value.items()) + "}"
        return "(dict)" if cap is not None and len(text) > cap else text
    return format_value(value)


def _result_name(function: str, args: list[Any], result: ir.Node) -> str:
    """The name a function's s-op or selector result takes: `f(arg , arg)`."""
    name = f"{function}({' , '.join(_describe(a, DESCRIPTION_CAP) for a in args)})"
    if len(name) > NAME_CAP:
        return "sel" if isinstance(result, ir.Selector) else "s-op"
    return name


class Runtime:
    """Executes the statements of one source text (a file, or one REPL entry)."""

    def __init__(
        self,
        file: str | None,
        source: str,
        commands: ReplCommand,
        loader: Callable[[str, Runtime, Environment], list[Result]],
    ) -> None:
        self.file = file
        self.lines = source.splitlines()
        self.commands = commands
        self.loader = loader

    # -------------------------------------------------------------------------- errors

    def _source_line(self, location: Location | None) -> str | None:
        if location is None or not 0 < location.line <= len(self.lines):
            return None
        return self.lines[location.line - 1]

    def locate(self, error: RaspError, tree: Tree | Token) -> RaspError:
        """Give the error this statement's position, unless it already names a deeper one
        (then only add that position's source line, when it is in this text)."""
        if error.location is not None:
            if error.source_line is None and error.location.file == self.file:
                error.source_line = self._source_line(error.location)
            elif error.location.file != self.file:
                here = _location(tree, self.file)
                if here is not None and not any(str(here.file) in step for step in error.called_from):
                    error.called_from.append(f"{here}: {(self._source_line(here) or '').strip()}")
            return error
        location = _location(tree, self.file)
        return error.at(location, self._source_line(location))

    # ------------------------------------------------------------------------ statements

    def execute(self, statements: Iterable[Tree], env: Environment) -> list[Result]:
        results: list[Result] = []
        for statement in statements:
            try:
                results.extend(self.statement(statement, env))
            except RaspError as error:
                raise self.locate(error, statement)
        return results

    def statement(self, tree: Tree, env: Environment) -> list[Result]:
        handler = getattr(self, "stmt_" + tree.data, None)
        if handler is None:  # an expression rule inlined as a statement cannot happen: grammar keeps ';'
            raise RaspError(f"unsupported statement {tree.data}")
        return handler(tree, env)

    def stmt_expr_statement(self, tree: Tree, env: Environment) -> list[Result]:
        """An expression's value is bound to `out`, and shown under that name (or under the
        variable's own name when the expression is just a variable)."""
        expression = tree.children[0]
        value = self.checked(self.expr(expression, env), expression)
        if isinstance(value, Applied):
            return [Result(None, value)]
        shown = str(expression.children[0]) if expression.data == "name" else "out"
        env.bindings["out"] = value.named("out") if isinstance(value, ir.Node) and shown == "out" else value
        return [Result(shown, value)]

    def checked(self, value: Any, tree: Tree) -> Any:
        """Like the original, try every new s-op or selector (also those held in lists and
        dicts) on the running example, so that a program that cannot work fails at the
        statement that builds it."""
        try:
            for node in _nodes_in(value):
                self.commands.check_on_example(node)
        except RaspError as error:
            raise self.locate(error, tree)
        return value

    def stmt_assign(self, tree: Tree, env: Environment) -> list[Result]:
        targets_tree, exprs_tree = tree.children
        names = [str(token) for token in targets_tree.children]
        values = [self.checked(self.expr(child, env), child) for child in exprs_tree.children]
        if len(names) == 1 and len(values) > 1:
            values = [values]
        elif len(names) > 1 and len(values) == 1:
            values = self._unpack(values[0], len(names))
        if len(values) != len(names):
            raise RaspTypeError(f"expected {len(names)} values, but got: {len(values)}")
        results = []
        for name, value in zip(names, values):
            if isinstance(value, ir.Node):
                value = value.named(name)
            env.assign(name, value)
            results.append(Result(name, value))
        env.bindings["out"] = values[-1]  # as in the original, the last value computed
        return results

    @staticmethod
    def _unpack(value: Any, count: int) -> list[Any]:
        if isinstance(value, (list, str, dict)):
            items = list(value)
            if len(items) != count:
                raise RaspTypeError(f"expected {count} values, but got: {len(items)}")
            return items
        raise RaspTypeError(f"expected {count} values, but got one: {_describe(value)}")

    def stmt_draw(self, tree: Tree, env: Environment) -> list[Result]:
        target = self.expr(tree.children[0], env)
        if not isinstance(target, ir.SOp):
            raise RaspTypeError(f"draw expects unfinished sequence, got: {_describe(target)}")
        example = self.expr(tree.children[1], env) if tree.children[1] is not None else None
        return [Result(None, (target, example), kind="draw")]

    def stmt_load(self, tree: Tree, env: Environment) -> list[Result]:
        return self.loader(str(tree.children[0])[1:-1], self, env)

    def stmt_funcdef(self, tree: Tree, env: Environment) -> list[Result]:
        name_token, params_tree, *rest = tree.children
        *body, returns = rest
        params = tuple(str(t) for t in params_tree.children) if params_tree is not None else ()
        if len(set(params)) != len(params):
            raise RaspNameError(f"function {name_token} has a repeated parameter name")
        function = Function(str(name_token), params, body, returns.children[0], env, self)
        env.assign(str(name_token), function)
        return [Result(str(name_token), function)]

    def stmt_forloop(self, tree: Tree, env: Environment) -> list[Result]:
        targets_tree, iterable_tree, *body = tree.children
        names = [str(t) for t in targets_tree.children]
        iterable = self.expr(iterable_tree, env)
        for item in self._iterate(iterable, "for loop needs to iterate"):
            self._bind_iteration(names, item, env)
            self.execute(body, env)
        return []

    def stmt_set_example(self, tree: Tree, env: Environment) -> list[Result]:
        subset = str(tree.children[0]) if tree.children[0] is not None else "both"
        value = self.expr(tree.children[1], env)
        if isinstance(value, dict):
            value = list(value)
        if not isinstance(value, (str, list)):
            raise RaspTypeError(f"example not iterable: {_describe(value)}", hint='e.g. set example "hello"')
        self.commands.set_example(subset, value)
        return []

    def stmt_show_example(self, tree: Tree, env: Environment) -> list[Result]:
        subset = str(tree.children[0]) if tree.children[0] is not None else "both"
        return self.commands.show_example(subset)

    def stmt_toggle_examples(self, tree: Tree, env: Environment) -> list[Result]:
        subset = str(tree.children[0]) if tree.children[0] is not None else "both"
        self.commands.toggle_examples(subset, str(tree.children[1]) == "on")
        return []

    def stmt_toggle_full_display(self, tree: Tree, env: Environment) -> list[Result]:
        self.commands.toggle_full_display(str(tree.children[1]) == "on")
        return []

    def stmt_exit(self, tree: Tree, env: Environment) -> list[Result]:
        self.commands.exit()
        return []

    # ----------------------------------------------------------------------- iteration

    @staticmethod
    def _iterate(iterable: Any, what: str) -> list[Any]:
        if isinstance(iterable, (list, dict)):
            return list(iterable)
        raise RaspTypeError(f"{what} over a list or dict, but got: {_describe(iterable)}")

    @staticmethod
    def _bind_iteration(names: list[str], item: Any, env: Environment) -> None:
        if len(names) == 1:
            env.assign(names[0], item)
            return
        if not isinstance(item, (list, str, dict)):
            raise RaspTypeError(
                f"iterating with multiple iterator names, but got single iterator value: {_describe(item)}"
            )
        values = list(item)
        if len(values) != len(names):
            raise RaspTypeError(f"iterating with {len(names)} names but got {len(values)} values ( {item!r} )")
        for name, value in zip(names, values):
            env.assign(name, value)

    # ----------------------------------------------------------------------- expressions

    def expr(self, tree: Tree | Token, env: Environment) -> Any:
        try:
            return getattr(self, "ex_" + tree.data)(tree, env)
        except RaspError as error:
            raise self.locate(error, tree)

    def ex_name(self, tree: Tree, env: Environment) -> Any:
        return env.lookup(str(tree.children[0]))

    def ex_integer(self, tree: Tree, env: Environment) -> int:
        return int(tree.children[0])

    def ex_float(self, tree: Tree, env: Environment) -> float:
        return float(tree.children[0])

    def ex_string(self, tree: Tree, env: Environment) -> str:
        return str(tree.children[0])[1:-1]

    def ex_list(self, tree: Tree, env: Environment) -> list[Any]:
        exprs = tree.children[0]
        return [] if exprs is None else [self.expr(child, env) for child in exprs.children]

    def ex_dict(self, tree: Tree, env: Environment) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        for pair in tree.children:
            if pair is None:
                continue
            result[self._key(self.expr(pair.children[0], env))] = self.expr(pair.children[1], env)
        return result

    def ex_list_comprehension(self, tree: Tree, env: Environment) -> list[Any]:
        value_tree, targets_tree, iterable_tree = tree.children
        names = [str(t) for t in targets_tree.children]
        scope = Environment(env, "comprehension")
        result = []
        for item in self._iterate(
            self.expr(iterable_tree, env), "list comprehension should have got a list or dict to loop"
        ):
            self._bind_iteration(names, item, scope)
            result.append(self.expr(value_tree, scope))
        return result

    def ex_dict_comprehension(self, tree: Tree, env: Environment) -> dict[Any, Any]:
        key_tree, value_tree, targets_tree, iterable_tree = tree.children
        names = [str(t) for t in targets_tree.children]
        scope = Environment(env, "comprehension")
        result = {}
        for item in self._iterate(
            self.expr(iterable_tree, env), "dict comprehension should have got a list or dict to loop"
        ):
            self._bind_iteration(names, item, scope)
            result[self._key(self.expr(key_tree, scope))] = self.expr(value_tree, scope)
        return result

    @staticmethod
    def _key(key: Any) -> Any:
        if not _is_atom(key):
            raise RaspTypeError(f"dictionary keys can only be atoms, but instead got: {_describe(key)}")
        return key

    def ex_select(self, tree: Tree, env: Environment) -> ir.Select:
        _, keys_tree, queries_tree, op_tree = tree.children
        keys, queries = self.expr(keys_tree, env), self.expr(queries_tree, env)
        for role, value in (("keys", keys), ("queries", queries)):
            if not (isinstance(value, ir.SOp) or _is_atom(value)):
                raise RaspTypeError(f"select {role} must be an s-op or an atom, got: {_describe(value)}")
        return ir.select(keys, queries, str(op_tree.children[0])).with_origin(_location(tree, self.file))

    def ex_aggregate(self, tree: Tree, env: Environment) -> ir.Aggregate:
        _, selector_tree, sop_tree, default_tree = tree.children
        selector = self.expr(selector_tree, env)
        sop = self.expr(sop_tree, env)
        default = self.expr(default_tree, env) if default_tree is not None else 0
        if not isinstance(selector, ir.Selector):
            raise RaspTypeError(f"Expected selector, got: {_describe(selector)}")
        if not (isinstance(sop, ir.SOp) or _is_atom(sop)):
            raise RaspTypeError(f"Expected s-op, got: {_describe(sop)}")
        if not _is_atom(default):
            raise RaspTypeError(f"Expected atom, got: {_describe(default)}", hint="aggregate's default is an atom")
        return ir.aggregate(selector, sop, default).with_origin(_location(tree, self.file))

    def ex_range(self, tree: Tree, env: Environment) -> list[int]:
        args = [self.expr(child, env) for child in tree.children[1].children]
        if not 1 <= len(args) <= 3:
            raise RaspTypeError(f"wrong number of inputs to range, expected: 1, 2, or 3, got: {len(args)}")
        if not all(isinstance(a, int) for a in args):
            raise RaspTypeError(f"range expects all integer inputs, but got: {_describe(args)}")
        return list(range(*args))

    def ex_zip(self, tree: Tree, env: Environment) -> list[list[Any]]:
        args = [self.expr(child, env) for child in tree.children[1].children]
        for position, arg in enumerate(args, start=1):
            if not isinstance(arg, list):
                raise RaspTypeError(
                    f"attempting to zip lists, but {position} -th element is not list: {_describe(arg)}"
                )
            if len(arg) != len(args[0]):
                raise RaspTypeError(
                    f"attempting to zip lists of length {len(args[0])} , but {position} -th list has length {len(arg)}"
                )
        return [list(items) for items in zip(*args)]

    def ex_len(self, tree: Tree, env: Environment) -> int:
        value = self.expr(tree.children[1], env)
        if not isinstance(value, list):
            raise RaspTypeError(f"attempting to compute length of non-list: {_describe(value)}")
        return len(value)

    def ex_builtin_unary(self, tree: Tree, env: Environment) -> Any:
        op = str(tree.children[0].children[0])
        operand = self.expr(tree.children[1], env)
        if op == "indicator" and not isinstance(operand, ir.SOp):
            raise RaspTypeError(f"indicator operator expects s-op, got: {_describe(operand)}")
        return self._operate(lambda: build_unary(op, operand), tree, op, operand)

    def ex_unary(self, tree: Tree, env: Environment) -> Any:
        op = str(tree.children[0].children[0])
        operand = self.expr(tree.children[1], env)
        return self._operate(lambda: build_unary(op, operand), tree, op, operand)

    def ex_binary(self, tree: Tree, env: Environment) -> Any:
        left_tree, op_tree, right_tree = tree.children
        op = str(op_tree.children[0])
        left, right = self.expr(left_tree, env), self.expr(right_tree, env)
        return self._operate(lambda: build_binary(op, left, right), tree, op, left, right)

    def _operate(self, build: Callable[[], Any], tree: Tree, op: str, *operands: Any) -> Any:
        for operand in operands:
            if isinstance(operand, (Function, Builtin, Applied)):
                raise RaspTypeError(f"'{op}' does not apply to {_describe(operand)}")
        try:
            result = build()
        except RaspError:
            raise
        except (TypeError, ValueError, ZeroDivisionError, OverflowError) as error:
            shown = (
                f" {op} ".join(_describe(o) for o in operands)
                if len(operands) == 2
                else f"{op} {_describe(operands[0])}"
            )
            raise RaspTypeError(f"cannot compute {shown}: {error}") from None
        if isinstance(result, ir.Node):
            return result.with_origin(_location(tree, self.file))
        return result

    def ex_conditional(self, tree: Tree, env: Environment) -> Any:
        """With an atom condition only the chosen branch is evaluated (which is what lets a
        recursive function stop); with an s-op condition the choice is made per position."""
        true_tree, condition_tree, false_tree = tree.children
        condition = self.expr(condition_tree, env)
        if not isinstance(condition, ir.Node):
            return self.expr(true_tree if condition else false_tree, env)
        when_true, when_false = self.expr(true_tree, env), self.expr(false_tree, env)
        operands = (condition, when_true, when_false)
        if any(isinstance(o, ir.Selector) for o in operands):
            raise RaspTypeError("'if else' does not apply to selectors")
        if all(isinstance(o, ir.SOp) or _is_atom(o) for o in operands):
            return ir.SequenceMap(
                fn=lambda c, a, b: a if c else b,
                inputs=(ir.as_sop(condition), ir.as_sop(when_true), ir.as_sop(when_false)),
                description=f"{_describe(when_true)} if {_describe(condition)} else {_describe(when_false)}",
                origin=_location(tree, self.file),
            )
        raise RaspTypeError(
            f"'if else' over s-ops needs atoms or s-ops in both branches, got: "
            f"{_describe(when_true)} and {_describe(when_false)}"
        )

    def ex_contains(self, tree: Tree, env: Environment) -> Any:
        item, container = (self.expr(child, env) for child in tree.children)
        origin = _location(tree, self.file)
        if isinstance(item, ir.SOp):
            if not isinstance(container, list):
                raise RaspTypeError(
                    f'"[s-op] in X" expects X to be list of atoms, but got non-list: {_describe(container)}'
                )
            if not all(_is_atom(v) for v in container):
                raise RaspTypeError(
                    f'"[s-op] in X" expects X to be list of atoms, but got list with values: {_describe(container)}'
                )
            members = list(container)
            return ir.Map(
                fn=lambda v: v in members, inner=item, description=f"{item.label} in {members}", origin=origin
            )
        if _is_atom(item) and isinstance(container, ir.SOp):
            found = ir.Map(
                fn=lambda v: 1 if v == item else 0,
                inner=container,
                description=f"indicator({container.label} == {format_value(item)})",
            )
            share = ir.aggregate(ir.select(1, 1, "=="), found)
            return ir.Map(
                fn=lambda v: v > 0, inner=share, description=f"{format_value(item)} in {container.label}", origin=origin
            )
        if _is_atom(item):
            if isinstance(container, list):
                return item in container
            raise RaspTypeError(f'"[atom] in X" expects X to be list or s-op, but got: {_describe(container)}')
        raise RaspTypeError(f'"A in X" expects A to be s-op or atom, but got A: {_describe(item)}')

    def ex_index(self, tree: Tree, env: Environment) -> Any:
        indexable, index = (self.expr(child, env) for child in tree.children)
        origin = _location(tree, self.file)
        if isinstance(indexable, ir.SOp):
            return self._sop_at(indexable, index, env).with_origin(origin)
        if isinstance(index, ir.SOp) and isinstance(indexable, (list, dict, str)):
            return ir.Map(
                fn=lambda v: lookup(indexable, v),
                inner=index,
                description=f"{_describe(indexable)}[{index.label}]",
                origin=origin,
            )
        if isinstance(indexable, (list, dict, str)):
            return lookup(indexable, index)
        raise RaspTypeError(
            f"can only index into a list, dict, string, or sequence, but instead got: {_describe(indexable)}"
        )

    @staticmethod
    def _sop_at(sop: ir.SOp, index: Any, env: Environment) -> ir.SOp:
        """`s[i]`: the value at position i (from the end when negative) at every position,
        0 where there is no such position."""
        if not isinstance(index, int):
            raise RaspTypeError(f"index into sequence has to be integer, got: {_describe(index)}")
        where = index if index >= 0 else env.lookup("length") + index
        return ir.aggregate(ir.select(ir.indices, where, "=="), sop)

    def ex_call(self, tree: Tree, env: Environment) -> Any:
        callee = self.expr(tree.children[0], env)
        args_tree = tree.children[1]
        args = [] if args_tree is None else [self.expr(c, env) for c in args_tree.children]
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
                return result.with_origin(_location(tree, self.file)) if isinstance(result, ir.Node) else result
            result = self.call(callee, args)
            if isinstance(result, ir.Node):
                return result.named(_result_name(callee.name, args, result))
            return result
        raise RaspTypeError(f"{_describe(callee)} is not a function")

    def call(self, function: Function, args: list[Any]) -> Any:
        """A fresh scope under the function's defining scope; several return values come back
        as a list (which a multi-assignment unpacks)."""
        scope = Environment(function.closure, function.closure.name + "'")
        for name, value in zip(function.params, args):
            scope.assign(name, value)
        runtime = function.source
        runtime.execute(function.body, scope)
        values = [runtime.checked(runtime.expr(child, scope), child) for child in function.returns.children]
        return values[0] if len(values) == 1 else values


def _nodes_in(value: Any) -> list[ir.Node]:
    """The s-ops and selectors in a value: itself, or inside its lists and dicts."""
    if isinstance(value, ir.Node):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return [node for item in value for node in _nodes_in(item)]
    return []


def lookup(container: list[Any] | dict[Any, Any] | str, index: Any) -> Any:
    """`container[index]` with RASP's error messages."""
    if isinstance(container, dict):
        if not _is_atom(index):
            raise RaspTypeError(
                f"index into dict has to be s-op or atom (i.e., string, int, float, bool), got: {_describe(index)}"
            )
        if index not in container:
            raise RaspEvaluationError(f"index [ {format_value(index)} ] not in dict.")
        return container[index]
    kind = "string" if isinstance(container, str) else "list"
    if not isinstance(index, int):
        raise RaspTypeError(f"index into {kind} has to be s-op or integer, got: {_describe(index)}")
    if not -len(container) <= index < len(container):
        raise RaspEvaluationError(f"index {index} out of range for {kind} of length {len(container)}")
    return container[index]


def load_path(name: str, base: Path | None) -> Path:
    """Where `load "name";` reads: relative to the loading file's folder (or the working
    folder), with `.rasp` added when the name has no suffix."""
    candidates = [name] if name.endswith(".rasp") else [name + ".rasp", name]
    folders = [base] if base is not None else []
    folders.append(Path.cwd())
    for folder in folders:
        for candidate in candidates:
            path = folder / candidate
            if path.is_file():
                return path
    raise RaspEvaluationError(
        f"could not find file: {candidates[0]}", hint="load paths are relative to the loading file"
    )


def parse_file(path: Path) -> tuple[str, Tree]:
    source = path.read_text(encoding="utf-8")
    return source, parse(source, str(path))
