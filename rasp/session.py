"""`rasp.Session`: the language's front door for programs, the REPL and other tools.

A session holds the global scope (standard library preloaded, `tokens = tokens_str`), the REPL's
running examples and display switches, and loads files relative to the file that loads them.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from rasp import ast, ir
from rasp.errors import RaspError, RaspEvaluationError, RaspSyntaxError, RaspTypeError
from rasp.interpreter import evaluate
from rasp.objects import Builtin, Result
from rasp.runtime import Runtime
from rasp.scope import RESERVED, Environment
from rasp.shipped import program_path
from rasp.syntax import read, read_each

#: The running example every session starts with, as in the original REPL.
DEFAULT_EXAMPLE = "hello"


class ExitRequested(Exception):
    """Raised by `exit`/`quit` to skip the rest of the source; the REPL then stops."""


def _builtin_bindings() -> dict[str, Any]:
    bindings: dict[str, Any] = {f"tokens_{kind}": ir.Tokens(kind=kind) for kind in ir.TOKEN_KINDS}
    bindings.update(
        {
            "tokens": bindings["tokens_str"],
            "indices": ir.indices,
            "length": ir.length,
            "True": True,
            "False": False,
            "selector_width": Builtin("selector_width", ("sel",), _selector_width),
        }
    )
    return bindings


def _selector_width(selector: Any) -> ir.SelectorWidth:
    if not isinstance(selector, ir.Selector):
        raise RaspTypeError(f"selector_width expects a selector, got: {selector!r}")
    return ir.selector_width(selector)


def read_source(path: Path, verb: str, error: type[RaspError]) -> str:
    """The text of a program file, a byte-order mark dropped, or `error` saying that the file
    cannot be read (for `verb`) and why: missing, unreadable, or not UTF-8 (a binary file given
    by mistake must be one message, not a traceback)."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as problem:
        raise error(f"cannot {verb} {path}: it is not UTF-8 text (byte {problem.start})") from None
    except OSError as problem:
        raise error(f"cannot {verb} {path}: {problem.strerror}") from None


@cache
def _parsed_stdlib() -> tuple[str, tuple[ast.Statement, ...]]:
    path = program_path("stdlib.rasp")
    source = path.read_text(encoding="utf-8-sig")
    return source, read(source, "stdlib.rasp")


class Session:
    """Runs RASP statements and keeps their bindings.

    >>> s = Session()
    >>> s.run("hist = selector_width(select(tokens, tokens, ==));")
    >>> s["hist"]("hello")
    [1, 1, 2, 2, 1]
    """

    def __init__(
        self,
        stdlib: bool = True,
        check_examples: bool = True,
        strict_loads: bool = False,
        load_root: Path | None = None,
    ) -> None:
        """`check_examples`: try every new s-op and selector on the running example, as the
        original does (so `tokens_int` fails while the example is "hello").  Tools that build
        programs for other inputs (the Turing machine runner) turn it off.

        `strict_loads`: a statement that fails inside a loaded file raises its error (after
        exporting what the file bound before it) instead of being reported and skipped.

        `load_root`: `load` reads only files inside this folder (symbolic links and `..`
        resolved first); the playground (`rasp serve`) confines its programs to the folder it
        serves so."""
        self.strict_loads = strict_loads
        self.load_root = None if load_root is None else load_root.resolve()
        self._loading: list[Path] = []  # the files being loaded, outermost first: a cycle is refused
        self.check_examples = False
        self.builtins = Environment(name="builtins")
        self.builtins.bindings.update(_builtin_bindings())
        self.base = Environment(self.builtins, "stdlib")
        if stdlib:
            source, statements = _parsed_stdlib()
            Runtime("stdlib.rasp", source, self, self._load).execute(statements, self.base)
        library_names = frozenset(self.base.bindings) | frozenset(self.builtins.bindings) - {"tokens"}
        self.globals = Environment(self.base, "console", RESERVED | library_names)
        self.check_examples = check_examples
        self.sop_example: Any = DEFAULT_EXAMPLE
        self.selector_example: Any = DEFAULT_EXAMPLE
        self.show_sop_examples = True
        self.show_selector_examples = True
        self.full_display = False
        self.exit_requested = False
        #: What a statement that fails on the running example is told (`{example}`: the example).
        self.example_hint = (
            "the statement was tried on the running example {example!r}; "
            "use `set example ...` to give one that suits the program"
        )

    # ------------------------------------------------------------------ running programs

    def run(self, source: str, file: str | None = None) -> list[Result]:
        """Run statements (and REPL commands); returns what each produced, for display."""
        statements = read(source, file)
        runtime = Runtime(file, source, self, self._load)
        try:
            return runtime.execute(statements, self.globals)
        except ExitRequested:
            return []

    def run_each(self, source: str, file: str | None = None) -> list[Result]:
        """Like `run`, one statement at a time, as `load` reads a file: a statement that does
        not parse or fails is reported (a Result of kind "error") and the others still run.
        `rasp repl FILE` reads its files so."""
        runtime = Runtime(file, source, self, self._load)
        results: list[Result] = []
        for statement in self._statements(source, file or "<input>"):
            if isinstance(statement, RaspSyntaxError):
                results.append(Result(None, statement, kind="error"))
                continue
            try:
                results.extend(runtime.execute([statement], self.globals))
            except ExitRequested:
                break
            except RaspError as error:
                results.append(Result(None, error, kind="error"))
        return results

    def run_file(self, path: str | Path) -> list[Result]:
        path = Path(path)
        return self.run(read_source(path, "read", RaspError), str(path))

    def __getitem__(self, name: str) -> Any:
        scope: Environment | None = self.globals
        while scope is not None:
            if name in scope.bindings:
                return scope.bindings[name]
            scope = scope.parent
        raise KeyError(name)

    def __contains__(self, name: str) -> bool:
        try:
            self[name]
        except KeyError:
            return False
        return True

    def bind(self, name: str, value: Any) -> None:
        """Bind a Python value (atom, list, dict, IR node) to a name, as an assignment would."""
        self.globals.assign(name, value.named(name) if isinstance(value, ir.Node) else value)

    def user_names(self) -> list[str]:
        """Names bound by the user's own statements, in order of first binding (not `out`)."""
        return [name for name in self.globals.bindings if name != "out"]

    # ------------------------------------------------------------------------- loading

    def _load(self, name: str, loader: Runtime, env: Environment) -> list[Result]:
        """Run a file in a fresh scope over the standard library, statement by statement; after
        each, copy the public names it bound (not `_private`, not `out`) into the loading scope.

        Returns what the REPL shows for the load, as the original does: each name brought in,
        once, where it was last bound, and each statement that failed and was skipped."""
        base = Path(loader.file).parent if loader.file and loader.file != "stdlib.rasp" else None
        path = load_path(name, base)
        if self.load_root is not None and not path.resolve().is_relative_to(self.load_root):
            raise RaspEvaluationError(
                f"cannot load {name!r}: it is outside the folder {self.load_root}",
                hint="loads are confined to the folder the playground serves",
            )
        if path.resolve() in self._loading:
            chain = " -> ".join(p.name for p in [*self._loading, path.resolve()])
            raise RaspEvaluationError(f"load cycle: {path} loads itself ({chain})")
        self._loading.append(path.resolve())
        try:
            return self._load_file(path, name, env)
        finally:
            self._loading.pop()

    def _load_file(self, path: Path, name: str, env: Environment) -> list[Result]:
        source = read_source(path, "load", RaspEvaluationError)
        scope = Environment(self.base, name)
        runtime = Runtime(str(path), source, self, self._load)
        report: list[Result] = []
        for statement in self._statements(source, str(path)):
            if isinstance(statement, RaspSyntaxError):
                results = [Result(None, statement, kind="error")]
            else:
                results = _run_loaded(runtime, statement, scope, env)
            for result in results:
                if result.kind == "error":
                    if self.strict_loads:
                        raise result.value
                    report.append(result)
                elif _brought_in(result, env):
                    report.append(Result(result.name, result.value, kind="loaded"))
        return _last_binding_of_each_name(report)

    def _statements(self, source: str, file: str) -> Sequence[ast.Statement | RaspSyntaxError]:
        """A loaded file's statements; when it does not parse as a whole, and loads are not
        strict, the statements that do parse and an error for each one that does not."""
        try:
            return read(source, file)
        except RaspSyntaxError:
            if self.strict_loads:
                raise
            return read_each(source, file)

    # -------------------------------------------------------------------- REPL commands

    def set_example(self, subset: str, value: Any) -> None:
        if subset in ("both", "s-op"):
            self.sop_example = value
        if subset in ("both", "selector"):
            self.selector_example = value

    def show_example(self, subset: str) -> list[Result]:
        shown = []
        if subset in ("both", "s-op"):
            shown.append(Result("s-op", self.sop_example, kind="example"))
        if subset in ("both", "selector"):
            shown.append(Result("selector", self.selector_example, kind="example"))
        return shown

    def toggle_examples(self, subset: str, on: bool) -> None:
        if subset in ("both", "s-op"):
            self.show_sop_examples = on
        if subset in ("both", "selector"):
            self.show_selector_examples = on

    def toggle_full_display(self, on: bool) -> None:
        self.full_display = on

    def check_on_example(self, node: ir.Node) -> None:
        if not self.check_examples:
            return
        try:
            evaluate(node, self.sop_example)
        except RaspError as error:
            error.hint = error.hint or self.example_hint.format(example=self.sop_example)
            raise

    def exit(self) -> None:
        self.exit_requested = True
        raise ExitRequested()


def _run_loaded(runtime: Runtime, statement: ast.Statement, scope: Environment, env: Environment) -> list[Result]:
    """One statement of a loaded file: what it produced (or its error), then an error for each
    name it bound that the loading scope refuses."""
    before = dict(scope.bindings)
    try:
        results = runtime.execute([statement], scope)
    except RaspError as error:
        results = [Result(None, runtime.locate(error, statement), kind="error")]
    for error in _export(scope, before, env):
        results.append(Result(None, runtime.locate(error, statement), kind="error"))
    return results


def _brought_in(result: Result, env: Environment) -> bool:
    """Whether a statement's result names a binding the load copied into the loading scope."""
    return (
        result.kind in ("value", "loaded")
        and _public(result.name)
        and env.bindings.get(str(result.name)) is result.value
    )


def _public(name: str | None) -> bool:
    """Whether a loaded file exports the name: not `_private`, not `out`."""
    return name is not None and not name.startswith("_") and name != "out"


def _export(scope: Environment, before: dict[str, Any], env: Environment) -> list[RaspError]:
    """Copy the public names a statement (re)bound in `scope` into `env`; the errors of those
    that `env` refuses (a name it reserves)."""
    errors = []
    for key, value in scope.bindings.items():
        if _public(key) and (key not in before or before[key] is not value):
            try:
                env.assign(key, value)
            except RaspError as error:
                errors.append(error)
    return errors


def _last_binding_of_each_name(report: list[Result]) -> list[Result]:
    """A load's report with each name listed once, at its last binding (the original's order)."""
    seen: set[str | None] = set()
    kept = []
    for result in reversed(report):
        if result.kind == "loaded":
            if result.name in seen:
                continue
            seen.add(result.name)
        kept.append(result)
    return kept[::-1]


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
