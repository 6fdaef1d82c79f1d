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


def build_parser() -> argparse.ArgumentParser:
    from rasp_toolkit import commands_compiler, commands_language, commands_turing

    parser = argparse.ArgumentParser(
        prog="rasp",
        description="RASP, the programming language of transformers: run, compile, verify.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands_language.register(commands)
    commands_compiler.register(commands)
    commands_turing.register(commands)
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


COMMAND_MODULES = ("rasp_toolkit.commands_language", "rasp_toolkit.commands_compiler", "rasp_toolkit.commands_turing")


def _import_the_toolkit() -> None:
    """Imports the commands (and JAX behind them) with Ctrl-C only noted, then raised: JAX's
    import catches a KeyboardInterrupt raised inside its extension's initialisation, prints it
    and goes on, so a Ctrl-C in that second was lost and the command ran to its end.  (Signal
    handlers are the main thread's: elsewhere the modules are imported as they are.)"""
    on_main_thread = threading.current_thread() is threading.main_thread()
    pressed: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda number, frame: pressed.append(number)) if on_main_thread else None
    try:
        for name in COMMAND_MODULES:
            importlib.import_module(name)
    finally:
        if on_main_thread:
            signal.signal(signal.SIGINT, previous)
    if pressed:
        raise KeyboardInterrupt


def _dispatch(argv: Sequence[str] | None) -> int:
    _import_the_toolkit()
    from compiler.errors import CheckFailed
    from rasp.errors import RaspError
    from rasp_toolkit.commands_language import command_repl
    from turing.errors import TuringError

    args = build_parser().parse_args(argv)
    if args.command is None:
        return command_repl(argparse.Namespace(files=[]))
    try:
        # the REPL stays on the main thread, where Ctrl-C interrupts a statement, not the session
        return args.handler(args) if args.command == "repl" else deeply(lambda: args.handler(args))
    except CheckFailed as error:  # a compiled model differs from the interpreter: a failed verification
        print(str(error), file=sys.stderr)
        return VERIFICATION_FAILED
    except (RaspError, TuringError) as error:
        print(str(error), file=sys.stderr)
        return USER_ERROR

if __name__ == "__main__":
    sys.exit(main())
