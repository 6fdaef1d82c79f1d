"""`rasp repl`, `rasp run`, `rasp draw` and `rasp check`: the language's subcommands.  Each
parses its arguments, asks the language for the answer and prints it."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rasp import ir
from rasp.display import Display, selector_matrix
from rasp.errors import UsageError
from rasp.inputs import input_text, parse_input
from rasp.interpreter import evaluate
from rasp.session import Session
from rasp.values import format_sequence
from turing.machine import load_machine
from turing.program import machine_bindings

INPUT_HELP = 'the input: "hello", "a b c" or a JSON list such as [1,2,3]'
FILE_INPUT_HELP = f"{INPUT_HELP}; @FILE reads it from a file, - from standard input"


def register(commands: Any) -> None:
    """Add `repl`, `run`, `draw` and `check` to the `rasp` command's subparsers."""
    repl = commands.add_parser("repl", help="start the interactive REPL (the default)")
    repl.add_argument("files", nargs="*", metavar="FILE", help="files to load first")
    repl.set_defaults(handler=command_repl)

    run = commands.add_parser("run", help="run a RASP file and print its s-ops on an input")
    run.add_argument("file", metavar="FILE")
    run.add_argument("names", nargs="*", metavar="NAME", help="s-ops to print (default: all top-level ones)")
    run.add_argument("--input", "-i", help=FILE_INPUT_HELP)
    run.add_argument("--causal", action="store_true", help="evaluate causally (key <= query)")
    run.add_argument(
        "--strict-loads",
        action="store_true",
        help="a failing statement in a loaded file stops the run (default: it is reported and skipped)",
    )
    shown = run.add_mutually_exclusive_group()
    shown.add_argument("--json", action="store_true", help="print one JSON object")
    shown.add_argument(
        "--show-loads", action="store_true", help="first list the names each load brings in, as the REPL does"
    )
    run.set_defaults(handler=command_run)

    draw = commands.add_parser(
        "draw", help="draw an s-op's selectors and values, layer by layer, to an image (needs the viz extra)"
    )
    draw.add_argument("file", metavar="FILE")
    draw.add_argument("name", metavar="NAME", help="the s-op to draw")
    draw.add_argument("--input", "-i", help=INPUT_HELP)
    draw.add_argument("--output", "-o", metavar="PATH", help="the image file (default NAME.png; format from suffix)")
    draw.add_argument("--causal", action="store_true", help="evaluate causally (key <= query)")
    draw.set_defaults(handler=command_draw)

    check = commands.add_parser("check", help="static checks of a program: --rasp-l (no arithmetic on indices)")
    check.add_argument("file", metavar="FILE")
    check.add_argument("name", nargs="?", metavar="NAME", help="the s-op to check (default: every top-level one)")
    check.add_argument("--rasp-l", action="store_true", help="report s-ops that do arithmetic on positions")
    check.add_argument(
        "--machine", metavar="SPEC", help="bind a Turing machine's tables first (for programs/turing_*.rasp)"
    )
    check.add_argument("--n", type=int, metavar="N", help="with --machine: bind tm_n (programs/turing_ngram.rasp)")
    check.set_defaults(handler=command_check)


def load_program(path: str | Path, strict_loads: bool = False, show_loads: bool = False) -> Session:
    """A session with the file at `path` run in it.  Statements of loaded files that failed
    and were skipped are reported on standard error; `show_loads` prints the names each `load`
    brought in, as the REPL shows them."""
    session = Session(strict_loads=strict_loads)
    display = Display(session)
    for result in session.run_file(path):
        if result.kind == "error":
            print(f"skipped: {result.value}", file=sys.stderr)
        elif result.kind == "loaded" and show_loads:
            print("\n".join(display.render(result)))
    return session


def program_nodes(path: str | Path) -> dict[str, ir.Node]:
    """The s-ops and selectors a file binds at top level, by name (what `rasp compile` picks from)."""
    session = load_program(path)
    return {name: value for name, value in session.globals.bindings.items() if isinstance(value, ir.Node)}


def command_repl(args: argparse.Namespace) -> int:
    from rasp.repl import run_repl

    return run_repl(args.files)


def command_run(args: argparse.Namespace) -> int:
    session = load_program(args.file, strict_loads=args.strict_loads, show_loads=args.show_loads)
    example = parse_input(input_text(args.input)) if args.input is not None else session.sop_example
    names = args.names or [
        name
        for name, value in session.globals.bindings.items()
        if isinstance(value, ir.Node) and name != "out" and not name.startswith("_")
    ]
    outputs: dict[str, Any] = {}
    for name in names:
        node = _bound(session, args.file, name)
        if not isinstance(node, ir.Node):
            raise UsageError(f"{name} is not an s-op or selector (it is {type(node).__name__})")
        outputs[name] = (node, evaluate(node, example, causal=args.causal))
    if args.json:
        print(json.dumps({"input": example, "outputs": {n: v for n, (_, v) in outputs.items()}}))
        return 0
    print(f"input: {example!r}")
    for name, (node, value) in outputs.items():
        if isinstance(node, ir.Selector):
            print(f"{name}:")
            print("\n".join(selector_matrix(example, value)))
        else:
            print(f"{name} = {format_sequence(value)}")
    return 0


def _bound(session: Session, file: str, name: str) -> Any:
    try:
        return session[name]
    except KeyError:
        raise UsageError(f"{file} binds no name {name!r}") from None


def command_draw(args: argparse.Namespace) -> int:
    from rasp.draw import draw_program

    session = load_program(args.file)
    example = parse_input(args.input) if args.input is not None else session.sop_example
    node = _bound(session, args.file, args.name)
    if not isinstance(node, ir.SOp):
        raise UsageError(f"{args.name} is not an s-op (it is {type(node).__name__}); draw pictures an s-op's program")
    path = draw_program(node, example, args.output or f"{args.name}.png", causal=args.causal)
    print(f"wrote {path}")
    return 0


def command_check(args: argparse.Namespace) -> int:
    from rasp.raspl import check_raspl

    if not args.rasp_l:
        raise UsageError("rasp check needs a check to run", hint="rasp check --rasp-l FILE [NAME]")
    session = Session(check_examples=args.machine is None)
    if args.machine is not None:
        bindings = {**machine_bindings(load_machine(args.machine)), **({"tm_n": args.n} if args.n is not None else {})}
        for name, value in bindings.items():
            session.bind(name, value)
    elif args.n is not None:
        raise UsageError("--n is bound only with --machine (for the Turing Programs)")
    session.run_file(args.file)
    if args.name is not None:
        if args.name not in session:
            raise UsageError(f"{args.file} binds no name {args.name!r}")
        roots = [session[args.name]]
        if not isinstance(roots[0], ir.Node):
            raise UsageError(f"{args.name} is not an s-op or selector (it is {type(roots[0]).__name__})")
    else:
        roots = [value for value in session.globals.bindings.values() if isinstance(value, ir.Node)]
    offences = check_raspl(roots)
    what = args.name or f"{len(roots)} top-level s-ops and selectors"
    if not offences:
        print(f"{args.file}: {what}: no arithmetic on indices (RASP-L)")
        return 0
    print(f"{args.file}: {what}: {len(offences)} s-ops compute with positions (not RASP-L):")
    for offence in offences:
        print(f"  {offence}")
    return 1
