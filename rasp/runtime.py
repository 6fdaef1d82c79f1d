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
from typing import Any

from lark import Token, Tree

from rasp import ir
from rasp.errors import Location, RaspError, RaspEvaluationError, RaspNameError, RaspTypeError
from rasp.interpreter import evaluate
from rasp.operators import build_binary, build_unary
from rasp.parser import parse
from rasp.values import format_value

#: Names the language defines that programs may read but never rebind.
RESERVED = frozenset(
    {"tokens_str", "tokens_int", "tokens_float", "tokens_bool", "tokens_asis", "indices", "length", "True",
     "False"}
)


class Environment:
    """A scope: a dictionary of bindings and the enclosing scope (lexical scoping)."""

    def __init__(self, parent: Environment | None = None, name: str = "") -> None:
        self.parent = parent
        self.name = name
        self.bindings: dict[str, Any] = {}

    def lookup(self, name: str) -> Any:
        scope: Environment | None = self
        while scope is not None:
            if name in scope.bindings:
                return scope.bindings[name]
            scope = scope.parent
        raise RaspNameError(f"undefined variable: {name}", hint="assign it before use, or load the file that defines it")

    def assign(self, name: str, value: Any) -> None:
        if name in RESERVED:
            raise RaspNameError(f"cannot assign to reserved name: {name}")
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
        return f"function: {self.name}({', '.join(self.params)})"


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


class Returned(tuple):
    """The values of a `return a, b;`: several values that only a multi-assignment unpacks."""


@dataclass(frozen=True)
class Result:
    """What a statement produced, for the REPL to show: a named binding or an expression value."""

    name: str | None
    value: Any
    kind: str = "value"  # "value", "example", "silent"


class ReplCommand:
    """Hooks the runtime calls for REPL commands; the Session implements them."""

    def set_example(self, subset: str, value: Any) -> None: ...
    def show_example(self, subset: str) -> list[Result]: ...
    def toggle_examples(self, subset: str, on: bool) -> None: ...
    def toggle_full_display(self, on: bool) -> None: ...
    def exit(self) -> None: ...


_BINARY_RULES = ("binary",)


def _location(tree: Tree | Token, file: str | None) -> Location | None:
    if isinstance(tree, Token):
        return Location(file, tree.line or 1, tree.column or 1)
    meta = tree.meta
    if getattr(meta, "empty", True):
        return None
    return Location(file, meta.line, meta.column)


def _is_atom(value: Any) -> bool:
    return isinstance(value, (int, float, str, bool))


def _describe(value: Any) -> str:
    if isinstance(value, ir.Node):
        return value.label
    if isinstance(value, (Function, Builtin)):
        return str(value)
    return format_value(value)


class Runtime:
    """Executes the statements of one source text (a file, or one REPL entry)."""

    def __init__(
        self,
        file: str | None,
        source: str,
        commands: ReplCommand,
        loader: Callable[[str, Runtime, Environment], None],
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

    def _locate(self, error: RaspError, tree: Tree | Token) -> RaspError:
        location = _location(tree, self.file)
        return error.at(location, self._source_line(location))

    # ------------------------------------------------------------------------ statements

    def execute(self, statements: Iterable[Tree], env: Environment) -> list[Result]:
        results: list[Result] = []
        for statement in statements:
            try:
                results.extend(self.statement(statement, env))
            except RaspError as error:
                raise self._locate(error, statement)
        return results

    def statement(self, tree: Tree, env: Environment) -> list[Result]:
        handler = getattr(self, "stmt_" + tree.data, None)
        if handler is None:  # an expression rule inlined as a statement cannot happen: grammar keeps ';'
            raise RaspError(f"unsupported statement {tree.data}")
        return handler(tree, env)

    def stmt_expr_statement(self, tree: Tree, env: Environment) -> list[Result]:
        value = self.expr(tree.children[0], env)
        if isinstance(value, ir.Node):
            value = value.named("out")
            env.assign("out", value)
            return [Result("out", value)]
        return [Result(None, value)]

    def stmt_assign(self, tree: Tree, env: Environment) -> list[Result]:
        targets_tree, exprs_tree = tree.children
        names = [str(token) for token in targets_tree.children]
        values = [self.expr(child, env) for child in exprs_tree.children]
        if len(values) == 1 and isinstance(values[0], Returned):
            values = list(values[0])
        if len(values) != len(names):
            raise RaspTypeError(
                f"expected {len(names)} values to assign to {', '.join(names)}, got {len(values)}"
            )
        results = []
        for name, value in zip(names, values):
            if isinstance(value, Returned):
                raise RaspTypeError(f"a function returning {len(value)} values cannot be assigned to one name")
            if isinstance(value, ir.Node):
                value = value.named(name)
            env.assign(name, value)
            results.append(Result(name, value))
        return results

    def stmt_draw(self, tree: Tree, env: Environment) -> list[Result]:
        target = self.expr(tree.children[0], env)
        if not isinstance(target, ir.SOp):
            raise RaspTypeError(f"draw expects an s-op, got: {_describe(target)}")
        example = self.expr(tree.children[1], env) if tree.children[1] is not None else None
        return [Result(None, (target, example), kind="draw")]

    def stmt_load(self, tree: Tree, env: Environment) -> list[Result]:
        name = str(tree.children[0])[1:-1]
        self.loader(name, self, env)
        return []

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
        for item in self._iterate(iterable):
            self._bind_iteration(names, item, env)
            self.execute(body, env)
        return []

    def stmt_set_example(self, tree: Tree, env: Environment) -> list[Result]:
        subset = str(tree.children[0]) if tree.children[0] is not None else "both"
        value = self.expr(tree.children[1], env)
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
    def _iterate(iterable: Any) -> list[Any]:
        if isinstance(iterable, dict):
            return list(iterable.keys())
        if isinstance(iterable, (list, str)):
            return list(iterable)
        raise RaspTypeError(f"can only iterate over lists and dicts, got: {_describe(iterable)}")

    @staticmethod
    def _bind_iteration(names: list[str], item: Any, env: Environment) -> None:
        if len(names) == 1:
            env.assign(names[0], item)
            return
        if not isinstance(item, list) or len(item) != len(names):
            raise RaspTypeError(f"cannot unpack {_describe(item)} into {len(names)} names ({', '.join(names)})")
        for name, value in zip(names, item):
            env.assign(name, value)

    # ----------------------------------------------------------------------- expressions

    def expr(self, tree: Tree | Token, env: Environment) -> Any:
        try:
            return getattr(self, "ex_" + tree.data)(tree, env)
        except RaspError as error:
            raise self._locate(error, tree)

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
        return [] if exprs is None else [self._plain(self.expr(child, env)) for child in exprs.children]

    def ex_dict(self, tree: Tree, env: Environment) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        for pair in tree.children:
            if pair is None:
                continue
            key = self.expr(pair.children[0], env)
            if not _is_atom(key):
                raise RaspTypeError(f"dict keys must be atoms, got: {_describe(key)}")
            result[key] = self._plain(self.expr(pair.children[1], env))
        return result

    def ex_list_comprehension(self, tree: Tree, env: Environment) -> list[Any]:
        value_tree, targets_tree, iterable_tree = tree.children
        names = [str(t) for t in targets_tree.children]
        scope = Environment(env, "comprehension")
        result = []
        for item in self._iterate(self.expr(iterable_tree, env)):
            self._bind_iteration(names, item, scope)
            result.append(self._plain(self.expr(value_tree, scope)))
        return result

    def ex_dict_comprehension(self, tree: Tree, env: Environment) -> dict[Any, Any]:
        key_tree, value_tree, targets_tree, iterable_tree = tree.children
        names = [str(t) for t in targets_tree.children]
        scope = Environment(env, "comprehension")
        result = {}
        for item in self._iterate(self.expr(iterable_tree, env)):
            self._bind_iteration(names, item, scope)
            key = self.expr(key_tree, scope)
            if not _is_atom(key):
                raise RaspTypeError(f"dict keys must be atoms, got: {_describe(key)}")
            result[key] = self._plain(self.expr(value_tree, scope))
        return result

    @staticmethod
    def _plain(value: Any) -> Any:
        if isinstance(value, Returned):
            raise RaspTypeError("a function returning several values cannot be used as one value")
        return value

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
        if not 1 <= len(args) <= 3 or not all(isinstance(a, int) and not isinstance(a, bool) for a in args):
            raise RaspTypeError(f"range expects 1 to 3 ints, got: {', '.join(_describe(a) for a in args)}")
        return list(range(*args))

    def ex_zip(self, tree: Tree, env: Environment) -> list[list[Any]]:
        args = [self.expr(child, env) for child in tree.children[1].children]
        for arg in args:
            if not isinstance(arg, list):
                raise RaspTypeError(f"zip expects lists, got: {_describe(arg)}")
        return [list(items) for items in zip(*args)]

    def ex_len(self, tree: Tree, env: Environment) -> int:
        value = self.expr(tree.children[1], env)
        if not isinstance(value, (list, dict, str)):
            raise RaspTypeError(f"len expects a list or dict, got: {_describe(value)}")
        return len(value)

    def ex_builtin_unary(self, tree: Tree, env: Environment) -> Any:
        op = str(tree.children[0].children[0])
        operand = self.expr(tree.children[1], env)
        if op == "indicator" and not isinstance(operand, ir.SOp):
            raise RaspTypeError(f"indicator operator expects s-op, got: {_describe(operand)}")
        return self._operate(lambda: build_unary(op, operand), tree, op, operand)

    def ex_unary(self, tree: Tree, env: Environment) -> Any:
        op = str(tree.children[0].children[0])
        operand = self._plain(self.expr(tree.children[1], env))
        return self._operate(lambda: build_unary(op, operand), tree, op, operand)

    def ex_binary(self, tree: Tree, env: Environment) -> Any:
        left_tree, op_tree, right_tree = tree.children
        op = str(op_tree.children[0])
        left, right = self._plain(self.expr(left_tree, env)), self._plain(self.expr(right_tree, env))
        return self._operate(lambda: build_binary(op, left, right), tree, op, left, right)

    def _operate(self, build: Callable[[], Any], tree: Tree, op: str, *operands: Any) -> Any:
        for operand in operands:
            if not (isinstance(operand, ir.Node) or _is_atom(operand)) and op not in ("==",):
                raise RaspTypeError(f"'{op}' does not apply to {_describe(operand)}")
        try:
            result = build()
        except RaspError:
            raise
        except (TypeError, ValueError, ZeroDivisionError, OverflowError) as error:
            shown = f" {op} ".join(_describe(o) for o in operands) if len(operands) == 2 else f"{op} {_describe(operands[0])}"
            raise RaspTypeError(f"cannot compute {shown}: {error}") from None
        if isinstance(result, ir.Node):
            return result.with_origin(_location(tree, self.file))
        return result

    def ex_conditional(self, tree: Tree, env: Environment) -> Any:
        when_true, condition, when_false = (self._plain(self.expr(child, env)) for child in tree.children)
        operands = (condition, when_true, when_false)
        if any(isinstance(o, ir.Selector) for o in operands):
            raise RaspTypeError("'if else' does not apply to selectors")
        if any(isinstance(o, ir.SOp) for o in operands):
            return ir.SequenceMap(
                fn=lambda c, a, b: a if c else b,
                inputs=(ir.as_sop(condition), ir.as_sop(when_true), ir.as_sop(when_false)),
                description=f"{_describe(when_true)} if {_describe(condition)} else {_describe(when_false)}",
                origin=_location(tree, self.file),
            )
        return when_true if condition else when_false

    def ex_contains(self, tree: Tree, env: Environment) -> Any:
        item, container = (self._plain(self.expr(child, env)) for child in tree.children)
        origin = _location(tree, self.file)
        if isinstance(item, ir.SOp) and isinstance(container, (list, dict)):
            members = list(container)
            return ir.Map(fn=lambda v: v in members, inner=item, description=f"{item.label} in {members}",
                          origin=origin)
        if _is_atom(item) and isinstance(container, ir.SOp):
            found = ir.Map(fn=lambda v: 1 if v == item else 0, inner=container,
                           description=f"indicator({container.label} == {format_value(item)})")
            share = ir.aggregate(ir.select(1, 1, "=="), found)
            return ir.Map(fn=lambda v: v > 0, inner=share, description=f"{format_value(item)} in {container.label}",
                          origin=origin)
        if _is_atom(item) and isinstance(container, (list, dict, str)):
            return item in container
        raise RaspTypeError(f"'in' cannot test {_describe(item)} in {_describe(container)}")

    def ex_index(self, tree: Tree, env: Environment) -> Any:
        indexable, index = (self._plain(self.expr(child, env)) for child in tree.children)
        if isinstance(index, ir.SOp):
            if not isinstance(indexable, (list, dict)):
                raise RaspTypeError(f"an s-op can only index a list or dict, got: {_describe(indexable)}")
            return ir.Map(fn=lambda v: lookup(indexable, v), inner=index,
                          description=f"{_describe(indexable)}[{index.label}]", origin=_location(tree, self.file))
        if isinstance(indexable, (list, dict, str)):
            return lookup(indexable, index)
        raise RaspTypeError(f"cannot index {_describe(indexable)}")

    def ex_call(self, tree: Tree, env: Environment) -> Any:
        callee = self._plain(self.expr(tree.children[0], env))
        args_tree = tree.children[1]
        args = [] if args_tree is None else [self._plain(self.expr(c, env)) for c in args_tree.children]
        if isinstance(callee, ir.Node):
            if len(args) != 1:
                raise RaspTypeError(f"{callee.label} is applied to one input, got {len(args)} arguments")
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
            return self.call(callee, args)
        raise RaspTypeError(f"{_describe(callee)} is not a function")

    def call(self, function: Function, args: list[Any]) -> Any:
        scope = Environment(function.closure, function.name)
        for name, value in zip(function.params, args):
            scope.bindings[name] = value
        runtime = function.source
        runtime.execute(function.body, scope)
        values = [runtime.expr(child, scope) for child in function.returns.children]
        return values[0] if len(values) == 1 else Returned(values)


def lookup(container: list[Any] | dict[Any, Any] | str, index: Any) -> Any:
    """`container[index]` with RASP's error messages."""
    if isinstance(container, dict):
        if not _is_atom(index) or index not in container:
            raise RaspEvaluationError(f"index [ {format_value(index)} ] not in dict.")
        return container[index]
    if not isinstance(index, int) or isinstance(index, bool):
        raise RaspTypeError(f"list index must be an int, got: {format_value(index)}")
    if not -len(container) <= index < len(container):
        raise RaspEvaluationError(f"index {index} out of range for a list of length {len(container)}")
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
    raise RaspEvaluationError(f"could not find file: {candidates[0]}", hint="load paths are relative to the loading file")


def parse_file(path: Path) -> tuple[str, Tree]:
    source = path.read_text(encoding="utf-8")
    return source, parse(source, str(path))
