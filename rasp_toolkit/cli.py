"""The `rasp` command: one parser wiring every subcommand of the toolkit.

The language's commands (`repl`, `run`, `draw`, `check`), the compiler's (`compile`,
`run-model`) and the Turing machines' (`tm run|verify|compile|plot`) are registered from their
`commands_*` modules, which parse arguments and print; the work is done by the libraries below.
Exit codes: 0 success, 1 a failed verification (a compiled model that differs from the
interpreter among them), 141 when the reader of the output closed the pipe (as for any Unix
command stopped by SIGPIPE), 2 a user error (a `RaspError` or `TuringError`,
printed as one message, never a traceback).
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading
from collections.abc import Sequence

# only the standard library at the top: the toolkit's modules (and JAX behind them) are imported
# inside `main`, so that Ctrl-C during that second of imports is an "interrupted", not a traceback
from rasp_toolkit.deep_stack import deeply, leave_if_busy

USER_ERROR = 2
VERIFICATION_FAILED = 1
CLOSED_PIPE = 141
"""128 + SIGPIPE: the status a shell shows for a command whose reader closed the pipe."""


def build_parser(modules: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser of the commands of `modules` (default: every command module, `COMMAND_MODULES`)."""
    parser = argparse.ArgumentParser(
        prog="rasp",
        description="RASP, the programming language of transformers: run, compile, verify.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in modules or COMMAND_MODULES:
        importlib.import_module(name).register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _dispatch(argv)
    except BrokenPipeError:  # `rasp ... | head`: the reader has gone; stop quietly, as Unix commands do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no complaint when stdout is flushed
        return CLOSED_PIPE
    except OSError as error:  # a file that cannot be read or written (a full disk), in any command
        from rasp.errors import visible

        print(f"error: {visible(str(error))}", file=sys.stderr)
        return USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        leave_if_busy(USER_ERROR)
        return USER_ERROR


LANGUAGE_MODULE = "rasp_toolkit.commands_language"
SERVE_MODULE = "rasp_toolkit.commands_serve"
COMMAND_MODULES = (LANGUAGE_MODULE, "rasp_toolkit.commands_compiler", "rasp_toolkit.commands_turing", SERVE_MODULE)
LANGUAGE_COMMANDS = frozenset({"repl", "run", "draw", "check"})
"""The language's commands (`commands_language`): the interpreter's, which need neither the
compiler nor JAX."""


MAIN_THREAD_COMMANDS = frozenset({"repl", "serve"})


def modules_for(argv: Sequence[str]) -> tuple[str, ...]:
    """The command modules a command line needs: the language's alone for the REPL and the
    language's commands (they start in a fraction of a second, where importing JAX takes two),
    every module otherwise (the other commands, `--help`, a mistyped command's message); `serve`
    takes the language's and its own: its web server runs no program itself."""
    if not argv or argv[0] in LANGUAGE_COMMANDS:
        return (LANGUAGE_MODULE,)
    if argv[0] == "serve":  # the web server routes; its worker process imports the rest
        return (LANGUAGE_MODULE, SERVE_MODULE)
    return COMMAND_MODULES


def _import_the_toolkit(modules: Sequence[str]) -> None:
    """Imports the command modules (and JAX behind them) with Ctrl-C only noted, then raised: JAX's
    import catches a KeyboardInterrupt raised inside its extension's initialisation, prints it
    and goes on, so a Ctrl-C in that second was lost and the command ran to its end.  (Signal
    handlers are the main thread's: elsewhere the modules are imported as they are.)"""
    on_main_thread = threading.current_thread() is threading.main_thread()
    pressed: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda number, frame: pressed.append(number)) if on_main_thread else None
    try:
        for name in modules:
            importlib.import_module(name)
    finally:
        if on_main_thread:
            signal.signal(signal.SIGINT, previous)
    if pressed:
        raise KeyboardInterrupt


def _dispatch(argv: Sequence[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    modules = modules_for(argv)
    _import_the_toolkit(modules)
    from rasp.errors import RaspError
    from rasp_toolkit.commands_language import command_repl
    from turing.errors import TuringError

    args = build_parser(modules).parse_args(argv)
    if args.command is None:
        return command_repl(argparse.Namespace(files=[]))
    try:
        # the REPL stays on the main thread, where Ctrl-C interrupts a statement, not the session,
        # and the playground's server, whose signal handlers only the main thread may install
        if args.command in MAIN_THREAD_COMMANDS:
            return args.handler(args)
        return deeply(lambda: args.handler(args))
    except (RaspError, TuringError) as error:
        print(str(error), file=sys.stderr)
        return VERIFICATION_FAILED if _failed_check(error) else USER_ERROR


def _failed_check(error: Exception) -> bool:
    """Whether `error` is a compiled model found to differ from the interpreter
    (`compiler.errors.CheckFailed`: a failed verification, exit 1); only a command that loaded
    the compiler can raise one, so the language's commands never import it to ask."""
    errors = sys.modules.get("compiler.errors")
    return errors is not None and isinstance(error, errors.CheckFailed)


if __name__ == "__main__":
    sys.exit(main())
