"""`rasp compile` and `rasp run-model`: the compiler's subcommands.

`register(subparsers)` adds both commands; each sets `handler`, a function of the parsed
arguments returning the exit status.  The programs come from `rasp compile`'s file through the
language (`program_nodes`), or from the loader a test passes in.  A failed `--check` prints its
report and returns 1; user errors print one message to stderr and return 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable
from typing import Any

from compiled_model.spec import ATTENTION_MODES, SOFTMAX, Attention
from compiled_model.transformer import Transformer, load
from compiler.budget import DEFAULT_BUDGET
from compiler.check import DEFAULT_CHECK, CheckFailed, check_count_problem
from compiler.compiling import compile as compile_program
from rasp import ir
from rasp.errors import RaspError
from rasp.inputs import input_text, parse_input
from rasp_toolkit.commands_language import program_nodes

LoadProgram = Callable[[str], dict[str, ir.Node]]
EXPORTS = ("safetensors", "torch", "transformer-lens")

ATTENTION_HELP = (
    "soft: softmax heads (the default); hard: each head averages the keys of maximal score, "
    "exactly RASP's aggregate (docs/compiler.md, Hard attention)"
)


ATTENTION_CHOICES = "{" + ",".join(ATTENTION_MODES) + "}"


def attention_argument(text: str) -> Attention:
    """`--attention`'s value as the one type the compiler, the engines and the weights take."""
    if text not in ATTENTION_MODES:
        raise argparse.ArgumentTypeError(f"invalid choice: {text!r} (choose from {', '.join(ATTENTION_MODES)})")
    return Attention(text)


def register(subparsers: Any, load_program: LoadProgram = program_nodes) -> None:
    compile_parser = subparsers.add_parser(
        "compile",
        help="compile a RASP program into transformer weights",
        description="Compile an s-op of a RASP file into transformer weights and check the model against "
        "the interpreter on edge and random inputs (exit 1 if it differs; --check 0 skips the check).",
    )
    compile_parser.add_argument("file", help="a .rasp file")
    compile_parser.add_argument("name", nargs="?", help="the s-op to compile (default: out)")
    compile_parser.add_argument("--vocab", required=True, help="comma-separated tokens, e.g. a,b,c")
    compile_parser.add_argument("--max-len", type=int, required=True, help="longest input the model takes")
    compile_parser.add_argument("--causal", action="store_true", help="compile for causal evaluation")
    compile_parser.add_argument(
        "--check",
        type=int,
        default=DEFAULT_CHECK,
        metavar="K",
        help="compare the model with the interpreter on the edge inputs (a constant input of every length, "
        f"each token at the longest) and K random inputs (default {DEFAULT_CHECK}; 0: no check at all); "
        "exit 1 on any difference",
    )
    compile_parser.add_argument(
        "-o", "--output", help="write the model to this file (.npz, or .safetensors by its suffix; see --export)"
    )
    compile_parser.add_argument(
        "--export",
        choices=EXPORTS,
        help="the -o file's format: safetensors, a torch module's weights, or a TransformerLens model "
        "(the last two need the interop extra; docs/interop.md)",
    )
    compile_parser.add_argument(
        "--budget",
        type=int,
        default=DEFAULT_BUDGET,
        help=f"refuse a model of more parameters than this, before building it (default {DEFAULT_BUDGET:,})",
    )
    compile_parser.add_argument(
        "--attention",
        type=attention_argument,
        metavar=ATTENTION_CHOICES,
        default=SOFTMAX,
        help=ATTENTION_HELP,
    )
    compile_parser.add_argument(
        "--length-free", action="store_true",
        help="build a model whose size does not depend on --max-len (hard attention and --causal only; float64): "
        "counts become sum heads, and an s-op that would need a table over positions is refused "
        "(docs/compiler.md, Length-free compiles)",
    )
    compile_parser.add_argument("--json", action="store_true", help="print the summary and layout as JSON")
    compile_parser.add_argument(
        "--sizes", action="store_true",
        help="also print, per s-op, the residual dimensions, heads and MLP units it costs, the costliest first",
    )
    compile_parser.add_argument(
        "--plot",
        metavar="PNG",
        help="draw the model: what each head and MLP reads and writes, and its attention on --input "
        "beside the selectors (needs matplotlib)",
    )
    compile_parser.add_argument(
        "--input",
        help='the input --plot runs the model on: "abc", "a b c" or a JSON list '
        "(default: the vocabulary repeated, up to 8 tokens)",
    )
    compile_parser.set_defaults(handler=lambda args: _guard(_compile, args, load_program))

    run_parser = subparsers.add_parser("run-model", help="run a compiled model on inputs")
    run_parser.add_argument("model", help="a model file written by `rasp compile -o`")
    run_parser.add_argument(
        "--input",
        action="append",
        required=True,
        help='an input: "abc", "a b c" or a JSON list; @FILE reads it from a file, - from standard input '
        "(repeatable)",
    )
    run_parser.add_argument("--json", action="store_true", help="print the outputs as JSON")
    run_parser.set_defaults(handler=lambda args: _guard(_run_model, args))


def _guard(command: Callable[..., int], *args: Any) -> int:
    try:
        return command(*args)
    except CheckFailed as error:
        print(str(error), file=sys.stderr)
        return 1
    except RaspError as error:
        print(str(error), file=sys.stderr)
    return 2  # an OSError (a file that cannot be written) is `cli.main`'s, which keeps BrokenPipe apart


def _compile(args: argparse.Namespace, load_program: LoadProgram) -> int:
    if args.max_len < 1:
        raise RaspError(f"--max-len must be at least 1, not {args.max_len}")
    if args.budget < 1:
        raise RaspError(f"--budget must be at least 1, not {args.budget}")
    if args.export and not args.output:
        raise RaspError(f"--export {args.export} needs -o PATH, the file to write")
    if args.check < 0:
        raise RaspError(f"--check must be a number of random inputs, at least 0, not {args.check}")
    # "a, b, c" means a, b and c: inputs are split on spaces, so a token with one could never be given
    vocab = [token.strip() for token in args.vocab.split(",") if token.strip()]
    too_many = check_count_problem(args.check, len(set(vocab)), args.max_len)
    if too_many is not None:  # before the program is even read
        raise RaspError(f"--check {args.check:,} {too_many[0]}", hint=f"pass --check {too_many[1]}")
    program = load_program(args.file)
    name = args.name or "out"
    node = program.get(name)
    if not isinstance(node, ir.SOp):
        available = ", ".join(sorted(k for k, v in program.items() if isinstance(v, ir.SOp))) or "none"
        raise RaspError(f"{args.file} defines no s-op named {name!r}; s-ops: {available}")
    model = compile_program(
        node, vocab, args.max_len, causal=args.causal, budget=args.budget, check=args.check, attention=args.attention,
        length_free=args.length_free,
    )
    picture = None
    if args.plot:
        from compiler.plot import default_input, plot_model

        if args.input is None:
            tokens = default_input(model)
        else:
            tokens = _split_input(model, args.input)
        picture = plot_model(model, tokens, args.plot, program=node)
    if args.output:
        write_model(model, args.output, args.export)
    if args.json:
        report = {"summary": model.summary(), "layout": [dataclasses.asdict(layer) for layer in model.spec.layout]}
        if args.sizes:
            report["sizes"] = [dataclasses.asdict(row) for row in model.spec.sizes()]
        if picture is not None:
            report["plot"] = str(picture)
        print(json.dumps(report, indent=2))
    else:
        print(format_report(model))
        if args.sizes:
            print(f"\n{format_sizes(model)}")
        if picture is not None:
            print(f"\nwrote {picture}")
    return 0


def write_model(model: Transformer, path: str, export: str | None) -> None:
    """`model` in the file format `export` names (None: by the path's suffix, Transformer.save)."""
    if export in ("torch", "transformer-lens"):
        try:
            from compiled_model import export as exports
        except ImportError:
            raise RaspError(f"--export {export} needs PyTorch: pip install 'rasp-toolkit[interop]'") from None
        (exports.save_torch if export == "torch" else exports.save_transformer_lens)(model, path)
    else:
        model.save(path, export)


def _split_input(model: Transformer, text: str) -> list[Any]:
    """Command-line input text as tokens of `model`'s vocabulary (`rasp.inputs`)."""
    return list(parse_input(text, model.vocab))


def format_report(model: Transformer) -> str:
    """The summary and, per layer, what each head and the MLP read and write."""
    lines = [f"{key}: {value}" for key, value in model.summary().items()]
    lines.append("")
    lines.append(_columns([("layer", "block", "s-op", "reads", "writes"), *model.spec.layer_table()]))
    return "\n".join(lines)


def format_sizes(model: Transformer) -> str:
    """`--sizes`: per s-op, the dimensions, heads and MLP units it costs, and their share."""
    summary = model.summary()
    rows = [("s-op", "dims", "heads", "MLP units", "MLP params", "share of params")]
    for row in model.spec.sizes():
        share = row.mlp_params / summary["params"] if summary["params"] else 0.0
        rows.append((row.sop, str(row.dims), str(row.heads), f"{row.units:,}", f"{row.mlp_params:,}", f"{share:.1%}"))
    width = summary["residual_width"]
    note = (
        f"the residual width is {width}: each MLP unit reads and writes it ({2 * width + 1} parameters); "
        "the dimensions not listed are the embedding's (tokens, positions, constants)"
    )
    return f"{_columns(rows, right=True)}\n{note}"


def _columns(rows: list[tuple[str, ...]], right: bool = False) -> str:
    """Rows as aligned text columns (numbers right-aligned when `right`, but the first column)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]

    def cell(text: str, column: int) -> str:
        return text.rjust(widths[column]) if right and column else text.ljust(widths[column])

    return "\n".join("  ".join(cell(text, i) for i, text in enumerate(row)).rstrip() for row in rows)


def _run_model(args: argparse.Namespace) -> int:
    model = load(args.model)
    inputs = [_split_input(model, input_text(argument)) for argument in args.input]
    outputs, mixtures = model.run(inputs)
    for text, mixed in zip(args.input, mixtures):
        if mixed:  # no value to print
            position, mixture = mixed[0]
            raise RaspError(f"input {text!r}: at position {position} {mixture.explain()}; the model has no value there")
    if args.json:
        print(json.dumps(outputs))
    else:
        for text, output in zip(args.input, outputs):
            print(f"{text}: {' '.join(str(value) for value in output)}")
    return 0
