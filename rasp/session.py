"""`rasp.Session`: the language's front door for programs, the REPL and other tools.

A session holds the global scope (standard library preloaded, `tokens = tokens_str`), the REPL's
running examples and display switches, and loads files relative to the file that loads them.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from lark import Tree

from rasp import ir
from rasp.errors import RaspError, RaspEvaluationError, RaspTypeError
from rasp.interpreter import evaluate
from rasp.parser import parse
from rasp.programs import program_path
from rasp.runtime import RESERVED, Builtin, Environment, Result, Runtime, load_path

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


@cache
def _parsed_stdlib() -> tuple[str, Tree]:
    path = program_path("stdlib.rasp")
    source = path.read_text(encoding="utf-8")
    return source, parse(source, "stdlib.rasp")


class Session:
    """Runs RASP statements and keeps their bindings.

    >>> s = Session()
    >>> s.run("hist = selector_width(select(tokens, tokens, ==));")
    >>> s["hist"]("hello")
    [1, 1, 2, 2, 1]
    """

    def __init__(self, stdlib: bool = True, check_examples: bool = True) -> None:
        """`check_examples`: try every new s-op and selector on the running example, as the
        original does (so `tokens_int` fails while the example is "hello").  Tools that build
        programs for other inputs (the Turing machine runner) turn it off."""
        self.check_examples = False
        self.builtins = Environment(name="builtins")
        self.builtins.bindings.update(_builtin_bindings())
        self.base = Environment(self.builtins, "stdlib")
        if stdlib:
            source, tree = _parsed_stdlib()
            Runtime("stdlib.rasp", source, self, self._load).execute(tree.children, self.base)
        library_names = frozenset(self.base.bindings) | frozenset(self.builtins.bindings) - {"tokens"}
        self.globals = Environment(self.base, "console", RESERVED | library_names)
        self.check_examples = check_examples
        self.sop_example: Any = DEFAULT_EXAMPLE
        self.selector_example: Any = DEFAULT_EXAMPLE
        self.show_sop_examples = True
        self.show_selector_examples = True
        self.full_display = False
        self.exit_requested = False

    # ------------------------------------------------------------------ running programs

    def run(self, source: str, file: str | None = None) -> list[Result]:
        """Run statements (and REPL commands); returns what each produced, for display."""
        tree = parse(source, file)
        runtime = Runtime(file, source, self, self._load)
        try:
            return runtime.execute(tree.children, self.globals)
        except ExitRequested:
            return []
        except RecursionError:
            raise RaspEvaluationError(
                "maximum recursion depth exceeded",
                hint="a recursive function needs a condition on atoms that stops it (`a if n < 1 else f(n - 1)`)",
            ) from None
        except MemoryError:
            raise RaspEvaluationError("out of memory (a list or number too large?)") from None

    def run_file(self, path: str | Path) -> list[Result]:
        path = Path(path)
        try:
            source = path.read_text(encoding="utf-8")
        except OSError as error:
            raise RaspError(f"cannot read {path}: {error.strerror}") from None
        return self.run(source, str(path))

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

    def _load(self, name: str, loader: Runtime, env: Environment) -> None:
        """Run a file in a fresh scope over the standard library, then copy its public names
        (not `_private`, not `out`) into the loading scope."""
        base = Path(loader.file).parent if loader.file and loader.file != "stdlib.rasp" else None
        path = load_path(name, base)
        source = path.read_text(encoding="utf-8")
        tree = parse(source, str(path))
        scope = Environment(self.base, name)
        try:
            Runtime(str(path), source, self, self._load).execute(tree.children, scope)
        finally:  # as in the original, what the file bound before an error is still exported
            for key, value in scope.bindings.items():
                if not key.startswith("_") and key != "out":
                    env.assign(key, value)

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
            error.hint = error.hint or (
                f"the statement was tried on the running example {self.sop_example!r}; "
                "use `set example ...` to give one that suits the program"
            )
            raise

    def exit(self) -> None:
        self.exit_requested = True
        raise ExitRequested()
