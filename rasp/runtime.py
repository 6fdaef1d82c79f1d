"""Executes RASP statements (`rasp.ast.Statement`): bindings, functions, loops, `load`, REPL
commands.

Running a statement produces plain values (atoms, lists, dicts, functions) and IR nodes (s-ops
and selectors); nothing is evaluated on an input here except when a program asks for it
explicitly (`f("hello")`, `set example`).  The resulting bindings are what `Session[name]`
returns and what the interpreter and the compiler consume.  Expressions are evaluated by the
`rasp.expressions.Expressions` half this class extends.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from rasp import ast, ir
from rasp.errors import RaspError, RaspEvaluationError, RaspNameError, RaspTypeError
from rasp.expressions import Expressions
from rasp.objects import Applied, Function, Result, describe, nodes_in
from rasp.scope import Environment


class ReplCommand(Protocol):
    """What the runtime needs from its owner (the Session): the REPL commands, and trying new
    s-ops on the running example."""

    def set_example(self, subset: str, value: Any) -> None: ...
    def show_example(self, subset: str) -> list[Result]: ...
    def toggle_examples(self, subset: str, on: bool) -> None: ...
    def toggle_full_display(self, on: bool) -> None: ...
    def exit(self) -> None: ...
    def check_on_example(self, node: ir.Node) -> None: ...


class Runtime(Expressions):
    """Executes the statements of one source text (a file, or one REPL entry)."""

    def __init__(
        self,
        file: str | None,
        source: str,
        commands: ReplCommand,
        loader: Callable[[str, Runtime, Environment], list[Result]],
    ) -> None:
        super().__init__(file, source)
        self.commands = commands
        self.loader = loader

    def execute(self, statements: Iterable[ast.Statement], env: Environment) -> list[Result]:
        results: list[Result] = []
        for statement in statements:
            try:
                results.extend(_EXECUTORS[type(statement)](self, statement, env))
            except RaspError as error:
                raise self.locate(error, statement)
            except RecursionError:  # Python's own limits, reached by the program: located like its errors
                raise self.locate(
                    RaspEvaluationError(
                        f"maximum recursion depth exceeded ({sys.getrecursionlimit()} frames)",
                        hint="a recursive function needs a condition on atoms that stops it "
                        "(`a if n < 1 else f(n - 1)`); the rasp command allows about 20,000 frames",
                    ),
                    statement,
                ) from None
            except MemoryError:
                raise self.locate(
                    RaspEvaluationError("out of memory (a list or number too large?)"), statement
                ) from None
        return results

    def checked(self, value: Any, node: ast.Expr) -> Any:
        """Like the original, try every new s-op or selector (also those held in lists and
        dicts) on the running example, so that a program that cannot work fails at the
        statement that builds it."""
        try:
            for built in nodes_in(value):
                self.commands.check_on_example(built)
        except RaspError as error:
            raise self.locate(error, node)
        return value

    def apply(self, function: Function, args: list[Any]) -> Any:
        """A user function (defined in this runtime's text) applied: a fresh scope under its
        defining scope; several return values come back as a list (which a multi-assignment
        unpacks)."""
        scope = Environment(function.closure, function.closure.name + "'")
        for name, value in zip(function.params, args):
            scope.assign(name, value)
        self.execute(function.body, scope)
        values = [self.checked(self.expr(expr, scope), expr) for expr in function.returns]
        return values[0] if len(values) == 1 else values

    # ------------------------------------------------------------------------ statements

    def expr_statement(self, statement: ast.ExprStatement, env: Environment) -> list[Result]:
        """An expression's value is bound to `out`, and shown under that name (or under the
        variable's own name when the expression is just a variable)."""
        value = self.checked(self.expr(statement.expr, env), statement.expr)
        if isinstance(value, Applied):
            return [Result(None, value)]
        shown = statement.expr.name if isinstance(statement.expr, ast.Name) else "out"
        env.bindings["out"] = value.named("out") if isinstance(value, ir.Node) and shown == "out" else value
        return [Result(shown, value)]

    def assign(self, statement: ast.Assign, env: Environment) -> list[Result]:
        names = statement.targets
        values = [self.checked(self.expr(expr, env), expr) for expr in statement.values]
        if len(names) == 1 and len(values) > 1:
            values = [values]
        elif len(names) > 1 and len(values) == 1:
            values = _unpack(values[0], len(names))
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

    def draw(self, statement: ast.Draw, env: Environment) -> list[Result]:
        target = self.expr(statement.target, env)
        if not isinstance(target, ir.SOp):
            raise RaspTypeError(f"draw expects unfinished sequence, got: {describe(target)}")
        example = self.expr(statement.example, env) if statement.example is not None else None
        return [Result(None, (target, example), kind="draw")]

    def load(self, statement: ast.Load, env: Environment) -> list[Result]:
        return self.loader(statement.name, self, env)

    def funcdef(self, statement: ast.FuncDef, env: Environment) -> list[Result]:
        if len(set(statement.params)) != len(statement.params):
            raise RaspNameError(f"function {statement.name} has a repeated parameter name")
        function = Function(statement.name, statement.params, statement.body, statement.returns, env, self)
        env.assign(statement.name, function)
        return [Result(statement.name, function)]

    def forloop(self, statement: ast.ForLoop, env: Environment) -> list[Result]:
        iterable = self.expr(statement.iterable, env)
        for item in self.iterate(iterable, "for loop needs to iterate"):
            self.bind_iteration(statement.targets, item, env)
            self.execute(statement.body, env)
        return []

    def set_example(self, statement: ast.SetExample, env: Environment) -> list[Result]:
        value = self.expr(statement.value, env)
        if isinstance(value, dict):
            value = list(value)
        if not isinstance(value, (str, list)):
            raise RaspTypeError(f"example not iterable: {describe(value)}", hint='e.g. set example "hello"')
        self.commands.set_example(statement.subset, value)
        return []

    def show_example(self, statement: ast.ShowExample, env: Environment) -> list[Result]:
        return self.commands.show_example(statement.subset)

    def toggle_examples(self, statement: ast.ToggleExamples, env: Environment) -> list[Result]:
        self.commands.toggle_examples(statement.subset, statement.on)
        return []

    def toggle_full_display(self, statement: ast.ToggleFullDisplay, env: Environment) -> list[Result]:
        self.commands.toggle_full_display(statement.on)
        return []

    def exit(self, statement: ast.Exit, env: Environment) -> list[Result]:
        self.commands.exit()
        return []


#: The method of `Runtime` that executes each kind of statement.
_EXECUTORS: dict[type[ast.Statement], Callable[[Runtime, Any, Environment], list[Result]]] = {
    ast.ExprStatement: Runtime.expr_statement,
    ast.Assign: Runtime.assign,
    ast.Draw: Runtime.draw,
    ast.Load: Runtime.load,
    ast.FuncDef: Runtime.funcdef,
    ast.ForLoop: Runtime.forloop,
    ast.SetExample: Runtime.set_example,
    ast.ShowExample: Runtime.show_example,
    ast.ToggleExamples: Runtime.toggle_examples,
    ast.ToggleFullDisplay: Runtime.toggle_full_display,
    ast.Exit: Runtime.exit,
}


def _unpack(value: Any, count: int) -> list[Any]:
    if isinstance(value, (list, str, dict)):
        items = list(value)
        if len(items) != count:
            raise RaspTypeError(f"expected {count} values, but got: {len(items)}")
        return items
    raise RaspTypeError(f"expected {count} values, but got one: {describe(value)}")
