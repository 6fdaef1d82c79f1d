"""`rasp tm run|verify|compile|plot`: Turing machines through an engine, checked against the
reference simulator (`turing.harness`), the Turing Program compiled for one machine, and pictures
of runs (`turing.plot`); `tm universal` and `tm verify --all` are `commands_universal`'s.  This
module parses arguments and prints; exit codes as for every `rasp` command: 0 agreement, 1 a
mismatch, 2 a user error."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import Any

from rich.console import Console
from rich.table import Table

from compiled_model.spec import SOFTMAX
from rasp.errors import RaspError, UsageError
from rasp.inputs import parse_input
from rasp_toolkit.commands_compiler import ATTENTION_CHOICES, ATTENTION_HELP, attention_argument, format_report
from rasp_toolkit.commands_universal import (
    add_enumeration_options,
    add_universal_command,
    announce_model,
    check_no_enumeration_options,
    command_verify_all,
)
from rasp_toolkit.turing_display import (
    MISMATCH,
    GenerationProgress,
    batch_table,
    machine_text,
    output_console,
    progress_bar,
    warnings_on_stderr,
)
from turing.bulk import MAX_STEPS as BULK_MAX_STEPS
from turing.engines import ENGINES, Engine, engine_named, engines_taking
from turing.engines.compiled import CompiledEngine, compile_machine, configuration_attention, model_length
from turing.engines.universal import UniversalEngine
from turing.enumeration import machine_at
from turing.formats import TAPE_COPY, TraceFormat
from turing.harness import EngineVerification, TraceRun, run_machine, verify_machines
from turing.machine import Machine, load_machine
from turing.ngram import assumption_note, assumption_violations, configuration_at, ngram_program
from turing.plot import DEFAULT_PLOT_STEPS, plot_attention, plot_spacetime
from turing.program import COMPACT, POSITIONAL
from turing.random_machines import random_cases
from turing.shape import Shape, input_bound, steps_within
from turing.simulator import DEFAULT_MAX_STEPS
from turing.trace import render_trace
from turing.universal_model import MAX_LENGTH, check_length, keep_compilations

SHOWN_MISMATCHES = 3
"""How many mismatch reports `tm verify` prints in full (all are in its --json)."""


PROGRAMS = ("positional", "ngram", "compact")
COMPILED_PROGRAMS = ("positional", "compact")
"""The programs `tm compile` and `tm universal` build: the n-gram one needs its n, and runs."""
MAX_LEN_HELP = (
    "the universal engine's model length (default: the next power of two that holds the run; "
    "with --all, every machine's)"
)
SPEC_HELP = "busy-beaver notation (1RB1LB_1LA1RZ), JSON text, or a .json file"


def register(commands: Any) -> None:
    """Add `tm run`, `tm verify`, `tm compile` and `tm plot` to the `rasp` command's subparsers
    (and `tm universal`, from `commands_universal`)."""
    tm = commands.add_parser("tm", help="Turing machines: run one through an engine, or verify an engine")
    sub = tm.add_subparsers(dest="tm_command", metavar="COMMAND", required=True)
    _add_run_command(sub)
    _add_verify_command(sub)
    _add_compile_command(sub)
    _add_plot_command(sub)
    add_universal_command(sub)


def _add_run_command(sub: Any) -> None:
    """`tm run`: one machine (by its text or its number in an enumeration) through one engine."""
    run = sub.add_parser("run", help="run a machine through an engine and check its trace against the reference")
    run.add_argument("spec", metavar="SPEC", nargs="?", help=f"{SPEC_HELP} (or --machine K)")
    run.add_argument(
        "--machine", type=int, metavar="K",
        help="instead of SPEC, machine number K of the enumeration of --states and --symbols (tm verify --all)",
    )
    run.add_argument("--states", type=int, metavar="Q", help="with --machine, or the universal engine's shape")
    run.add_argument("--symbols", type=int, metavar="S", help="with --machine, or the universal engine's shape")
    run.add_argument("--max-len", type=int, metavar="N", help=MAX_LEN_HELP)
    run.add_argument(
        "--input", "-i", default="", metavar="TAPE",
        help='the input tape: space-separated symbols ("a b c"), one symbol, or one character a cell ("0110")',
    )
    run.add_argument("--engine", default="reference", help=f"one of {', '.join(ENGINES)} (default: reference)")
    run.add_argument("--max-steps", type=int, default=DEFAULT_MAX_STEPS, help="step budget (default: %(default)s)")
    run.add_argument("--max-tokens", type=int, help="stop once the trace has this many tokens")
    run.add_argument("--trace", action="store_true", help="show the generated trace, one configuration a line")
    _add_engine_run_options(run)
    run.set_defaults(handler=command_run)


def _add_verify_command(sub: Any) -> None:
    """`tm verify`: an engine on random machines, or on every machine of a shape (--all)."""
    verify = sub.add_parser(
        "verify", help="run an engine on random machines, or on every machine of a shape, and compare every token"
    )
    which = verify.add_mutually_exclusive_group(required=True)
    which.add_argument("--random", type=int, metavar="N", help="how many random machines")
    which.add_argument(
        "--all", action="store_true",
        help="every machine of the shape in busy-beaver notation, on the blank tape (default engine: universal)",
    )
    verify.add_argument("--states", type=int, required=True, metavar="Q", help="states per machine")
    verify.add_argument("--symbols", type=int, required=True, metavar="S", help="symbols per machine")
    verify.add_argument("--max-steps", type=int, required=True, metavar="T", help="step budget per machine")
    verify.add_argument("--seed", type=int, default=0, metavar="K", help="seed of the machines and tapes")
    verify.add_argument(
        "--engine", help=f"one of {', '.join(ENGINES)} (default: interpreter; with --all, universal)"
    )
    verify.add_argument("--max-len", type=int, metavar="N", help=MAX_LEN_HELP)
    add_enumeration_options(verify)
    verify.add_argument("--n-moves", action="store_true", help="let the machines also stay put (move N)")
    verify.add_argument("--max-tape", type=int, default=4, help="input tapes have 0 to this many cells")
    _add_engine_run_options(verify, program_default=None)
    verify.set_defaults(handler=command_verify)


def _add_compile_command(sub: Any) -> None:
    """`tm compile`: the Turing Program compiled for one machine, saved or summarised."""
    build = sub.add_parser(
        "compile", help="compile the Turing Program for a machine into transformer weights"
    )
    build.add_argument("spec", metavar="SPEC", help=SPEC_HELP)
    build.add_argument("--max-len", type=int, required=True, metavar="N", help="longest trace the model takes")
    build.add_argument("-o", "--output", metavar="PATH", help="write the model to this .npz file (for rasp run-model)")
    build.add_argument("--json", action="store_true", help="print the model summary as one JSON object")
    build.add_argument(
        "--attention", type=attention_argument, metavar=ATTENTION_CHOICES, default=SOFTMAX,
        help=ATTENTION_HELP,
    )
    build.add_argument(
        "--program", choices=COMPILED_PROGRAMS, default="positional",
        help="programs/turing_machine.rasp (positional, the default) or programs/turing_compact.rasp (compact)",
    )
    build.set_defaults(handler=command_compile)


def _add_plot_command(sub: Any) -> None:
    """`tm plot`: a run's space-time diagram, or what the compiled model's heads attend to."""
    plot = sub.add_parser(
        "plot",
        help="draw the space-time diagram of a run to an image (needs the viz extra)",
        description="Draw the space-time diagram of a machine's run: tape cells across, steps downwards.",
    )
    plot.add_argument("spec", metavar="SPEC", help="busy-beaver text (1RB1LB_1LA1RZ), JSON, or a file holding either")
    plot.add_argument("--input", "-i", metavar="TAPE", help="input tape: '1 0 1' (space-separated) or '101'")
    plot.add_argument(
        "--max-steps",
        "-n",
        type=int,
        default=DEFAULT_PLOT_STEPS,
        metavar="N",
        help=f"at most this many steps (default {DEFAULT_PLOT_STEPS})",
    )
    plot.add_argument("--output", "-o", required=True, metavar="PATH", help="the image file (format from suffix)")
    plot.add_argument(
        "--attention", type=int, metavar="T",
        help="instead, draw which tokens of configuration T-1 each head of the compiled model attends to while "
        "writing configuration T",
    )
    plot.set_defaults(handler=command_plot)


def _add_engine_run_options(parser: argparse.ArgumentParser, program_default: str | None = "positional") -> None:
    """`--json`, `--dtype`, `--attention`, `--program` and `--n`: what `tm run` and `tm verify`
    share (`tm verify` leaves --program unset, to choose it for --all: `_fastest_exact`)."""
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--dtype", choices=("float32", "float64"),
        help="the compiled engine's float type (default: float32 where it is exact, else float64)",
    )
    parser.add_argument(
        "--attention", type=attention_argument, metavar=ATTENTION_CHOICES,
        help="the compiled engine's attention (default: soft where it is known exact, hard for longer runs)",
    )
    parser.add_argument(
        "--program", choices=PROGRAMS, default=program_default,
        help="the Turing Program the engine runs: programs/turing_machine.rasp (positional, the default; "
        "with tm verify --all, compact with hard attention unless --program or --attention is given), "
        "programs/turing_ngram.rasp (ngram, Hou et al. 2024; needs --n), or programs/turing_compact.rasp "
        "(compact: one token per step, its own trace format; docs/turing.md)",
    )
    parser.add_argument("--n", type=int, metavar="N", help="the n-gram length of --program ngram")


def parse_tape(text: str | None, machine: Machine | None = None) -> tuple[str, ...]:
    """A tape from the command line, read as every `--input` is (`rasp.inputs`), a machine's
    symbols being its vocabulary: `1 0 1`, `101`, one symbol of several characters, a JSON list."""
    return tuple(str(cell) for cell in parse_input(text, None if machine is None else machine.symbols))


def command_plot(args: argparse.Namespace) -> int:
    """`tm plot`: the space-time diagram, or with --attention the compiled model's attention."""
    if args.attention is None and args.max_steps < 0:
        raise RaspError(f"--max-steps must be >= 0, got {args.max_steps}")
    machine = load_machine(args.spec)
    tape = parse_tape(args.input, machine)
    if args.attention is None:
        print(f"wrote {plot_spacetime(machine, tape, args.max_steps, args.output)}")
        return 0
    tokens, heads, queries, keys = configuration_attention(machine, tape, args.attention, args.max_steps)
    title = f"{args.spec}: the compiled model writing configuration {args.attention}"
    print(f"wrote {plot_attention(tokens, heads, args.output, queries=queries, keys=keys, title=title)}")
    return 0


def _non_negative(value: int | None, option: str) -> None:
    if value is not None and value < 0:
        raise UsageError(f"{option} must be >= 0, got {value}")


def _only(engines: list[str], joiner: str) -> str:
    """`the compiled engine`, `the interpreter or compiled engine`: the engines an option fits."""
    return f"the {f' {joiner} '.join(engines)} engine{'s' if len(engines) > 1 and joiner == 'and' else ''}"


def engine_from(args: argparse.Namespace) -> Engine:
    """The engine `--engine` names, with `--dtype` and `--attention` where it takes them, running
    the Turing Program `--program` names (`--n` checked)."""
    options: dict[str, Any] = {}
    for option, value in (("dtype", args.dtype), ("attention", args.attention)):
        if value is not None:
            if args.engine not in engines_taking(option):
                raise UsageError(
                    f"--{option} applies to {_only(engines_taking(option), 'and')} only, not to {args.engine!r}"
                )
            options[option] = value
    if args.max_len is not None:
        if args.engine not in engines_taking("max_len"):
            raise UsageError(f"--max-len applies to {_only(engines_taking('max_len'), 'and')} only")
        if args.max_len < 1:
            raise UsageError(f"--max-len must be at least 1, got {args.max_len}")
        options["max_len"] = args.max_len
    if args.states is not None and args.engine in engines_taking("shape"):
        options["shape"] = Shape(args.states, args.symbols)
    if args.engine in engines_taking("on_model"):
        options["on_model"] = announce_model
        keep_compilations()  # a process of the command line: its XLA programs serve the next run
    if args.program != "ngram" and args.n is not None:
        raise UsageError("--n applies to --program ngram only")
    if args.program == "positional":
        return engine_named(args.engine, **options)
    # an engine that runs no per-machine RASP program takes the compact program's trace format
    if args.program == "compact" and args.engine in engines_taking("trace_format"):
        return engine_named(args.engine, trace_format=COMPACT.trace_format, **options)
    if args.engine not in engines_taking("program"):
        takers = engines_taking("program") + (engines_taking("trace_format") if args.program == "compact" else [])
        raise UsageError(f"--program {args.program} runs on {_only(sorted(takers), 'or')}, not on {args.engine!r}")
    if args.program == "compact":
        return engine_named(args.engine, program=COMPACT, **options)
    if args.n is None or args.n < 1:
        raise UsageError(f"--program ngram needs --n N with N >= 1, got {args.n}", hint="e.g. --program ngram --n 3")
    return engine_named(args.engine, program=ngram_program(args.n), **options)


def assumption_summary(run: TraceRun, n: int) -> dict[str, Any]:
    """The JSON fields a run of the n-gram program adds: the configurations whose tape repeats
    an n-gram (in the reference trace), and whether the one being written at the divergence does."""
    violated = [v.configuration for v in assumption_violations(run.expected, run.machine, n)]
    at = None if run.divergence is None else configuration_at(run.expected, run.divergence)
    return {
        "n": n,
        "assumption_violated_in": violated,
        "assumption_violated_at_divergence": None if at is None else at in violated,
        "assumption": assumption_note(run.expected, run.machine, n, run.divergence),
    }


# ----------------------------------------------------------------------------- tm run


def machine_from(args: argparse.Namespace) -> Machine:
    """The machine of `tm run`: SPEC, or --machine K of the enumeration of --states, --symbols."""
    if (args.spec is None) == (args.machine is None):
        raise UsageError("give the machine as SPEC or as --machine K, not both or neither")
    if args.spec is not None:
        return load_machine(args.spec)
    if args.states is None or args.symbols is None:
        raise UsageError("--machine K needs --states Q and --symbols S: K numbers the machines of that shape")
    return machine_at(args.machine, args.states, args.symbols)



def run_summary(run: TraceRun) -> dict[str, Any]:
    """The JSON object of `tm run`: the trace format, the final tape the engine reached and the
    check.  The tape fields are None when the generated trace is malformed there."""
    final = run.final()
    steps = run.steps
    summary: dict[str, Any] = {
        "engine": run.engine,
        "trace_format": run.trace_format.name,
        "machine": machine_text(run.machine),
        "input": list(run.tape),
        "halted": run.halted,
        "steps": steps,
        "state": None,
        "tape": None,
        "head": None,
        "nonblank": None,
        "trace_tokens": len(run.tokens),
        "tokens_per_step": round(len(run.tokens) / steps, 3) if steps else None,
        "matches_reference": run.matches,
        "divergence": run.divergence,
        "report": run.report() or None,
        "seconds": round(run.seconds, 6),
    }
    if final is not None:
        summary.update(state=final.state, tape=" ".join(final.cells), head=final.head, nonblank=final.nonblank)
    return summary


def command_run(args: argparse.Namespace) -> int:
    _non_negative(args.max_steps, "--max-steps")
    _non_negative(args.max_tokens, "--max-tokens")
    machine = machine_from(args)
    engine = engine_from(args)
    if isinstance(engine, (CompiledEngine, UniversalEngine)):
        engine.progress = GenerationProgress()  # a line on stderr every 10 s of a long generation
    with warnings_on_stderr():
        run = run_machine(engine, machine, parse_tape(args.input, machine), args.max_steps, args.max_tokens)
    summary = run_summary(run)
    if args.program == "ngram":
        summary.update(assumption_summary(run, args.n))
    if args.json:
        if args.trace:
            summary["trace"] = " ".join(run.tokens)
        print(json.dumps(summary))
        return 0 if run.matches else MISMATCH
    console = output_console()
    if args.trace:
        trace = render_trace(run.tokens, machine) if run.trace_format is TAPE_COPY else " ".join(run.tokens)
        console.print(trace, markup=False)
    if summary["state"] is not None:
        cells = summary["tape"].split()
        cells[summary["head"]] = f"[{cells[summary['head']]}]"
        console.print(f"state {summary['state']}  tape {' '.join(cells)}  nonblank {summary['nonblank']}", markup=False)
    ending = "halted" if run.halted else "did not halt (budget)"
    console.print(
        f"{ending} after {summary['steps']} steps; {len(run.tokens)} {run.trace_format.name} trace tokens "
        f"from the {run.engine} engine "
        f"in {run.seconds:.3f} s",
        markup=False,
    )
    if args.program == "ngram":
        console.print(summary["assumption"], markup=False)
    if run.matches:
        console.print("matches the reference trace")
        return 0
    console.print(run.report(), markup=False)
    return MISMATCH


# -------------------------------------------------------------------------- tm verify


def command_verify(args: argparse.Namespace) -> int:
    """`tm verify`: random machines (or, with --all, every machine of a shape) through an
    engine, every token compared with the reference; exits 1 on any mismatch."""
    for value, option in ((args.random, "--random"), (args.max_steps, "--max-steps"), (args.max_tape, "--max-tape")):
        _non_negative(value, option)
    if args.all:
        return _verify_every_machine(args)
    args.engine, args.program = args.engine or "interpreter", args.program or "positional"
    check_no_enumeration_options(args)
    verification = _verify_random_machines(args, engine_from(args))
    if args.json:
        print(json.dumps(_verification_json(verification, args)))
    else:
        _print_verification(verification, args)
    return MISMATCH if verification.mismatches else 0


def _verify_every_machine(args: argparse.Namespace) -> int:
    """`tm verify --all`: every machine of the shape on the blank tape (so the options of random
    tapes are refused), through the universal engine unless another is named, whose model is
    sized for the longest run of the shape when no --max-len is given."""
    if args.seed != 0 or args.n_moves or args.max_tape != 4:
        raise UsageError("--seed, --n-moves and --max-tape apply to --random only: --all runs on the blank tape")
    args.engine = args.engine or "universal"
    _fastest_exact(args)
    if args.max_len is None and args.engine in engines_taking("max_len"):
        trace_format = COMPACT.trace_format if args.program == "compact" else TAPE_COPY
        args.max_len = enumeration_length(Shape(args.states, args.symbols), args.max_steps, trace_format)
    return command_verify_all(args, engine_from(args))


def _fastest_exact(args: argparse.Namespace) -> None:
    """The Turing Program and attention of `tm verify --all` where neither is given: the
    universal engine on the compact program with hard attention, whose one model is compiled
    length-free (exact at every length, docs/compiler.md) and checks machines in arrays
    (`turing.bulk`), hundreds of times faster than the positional program's dense softmax
    model; said on stderr, with how to choose another."""
    if args.program is not None:
        return
    args.program = "positional"
    if args.engine != "universal" or args.attention is not None:
        return
    args.program, args.attention = "compact", attention_argument("hard")
    print(
        "tm verify --all: the universal engine on the compact program with hard attention, the fastest "
        "exact engine (one length-free model, exact at every length; machines checked in arrays up to "
        f"{BULK_MAX_STEPS} steps, one by one beyond). Pass --program positional or --attention soft for another.",
        file=sys.stderr,
    )


def _verify_random_machines(args: argparse.Namespace, engine: Engine) -> EngineVerification:
    """`--random N` machines (and tapes) from `--seed`, run through `engine` and checked, with a
    progress bar on stderr (none with --json) and the engines' warnings on stderr too."""
    cases = random_cases(args.random, args.states, args.symbols, args.seed, args.n_moves, args.max_tape)
    progress = progress_bar(f"verifying the {engine.name} engine", Console(stderr=True), args.json)
    with progress, warnings_on_stderr():
        task = progress.add_task("machines", total=args.random)
        return verify_machines(engine, cases, args.max_steps, on_run=lambda _: progress.advance(task))


def _verification_json(verification: EngineVerification, args: argparse.Namespace) -> dict[str, Any]:
    """`tm verify --json`: the counts, every mismatch in full (with the n-gram assumption's
    account for --program ngram) and the engine's batches."""
    runs, halted = verification.runs, verification.halted
    return {
        "engine": verification.engine,
        "machines": len(runs),
        "halted": halted,
        "budget_exhausted": len(runs) - halted,
        "tokens": verification.tokens,
        "seconds": round(verification.seconds, 6),
        "mismatches": [
            {
                "machine": machine_text(run.machine),
                "input": list(run.tape),
                "divergence": run.divergence,
                "report": run.report(),
                **(assumption_summary(run, args.n) if args.program == "ngram" else {}),
            }
            for run in verification.mismatches
        ],
        "batches": [asdict(b) for b in verification.batches or []],
    }


def _print_verification(verification: EngineVerification, args: argparse.Namespace) -> None:
    """`tm verify`'s table, the engine's batches, for --program ngram how many mismatches the
    n-gram assumption explains, and the first SHOWN_MISMATCHES mismatches with a command that
    reruns each."""
    console = output_console()
    console.print(_verification_table(verification, args))
    if verification.batches is not None:
        console.print(batch_table(verification.batches))
    mismatches = verification.mismatches
    if args.program == "ngram":
        summaries = [assumption_summary(run, args.n) for run in mismatches]
        unexplained = [s for s in summaries if not s["assumption_violated_at_divergence"]]
        console.print(
            f"{len(mismatches) - len(unexplained)} of {len(mismatches)} mismatches diverge where the "
            f"no-repeated-{args.n}-gram assumption is violated; {len(unexplained)} where it holds",
            markup=False,
        )
    for run in mismatches[:SHOWN_MISMATCHES]:
        console.print(f"\nmismatch: {_rerun_command(run, args)}", markup=False)
        console.print(run.report(), markup=False)
        if args.program == "ngram":
            console.print(assumption_summary(run, args.n)["assumption"], markup=False)
    if len(mismatches) > SHOWN_MISMATCHES:
        console.print(f"\n... and {len(mismatches) - SHOWN_MISMATCHES} more (see --json)")


def _verification_table(verification: EngineVerification, args: argparse.Namespace) -> Table:
    """One row: machines, how many halted or reached the budget, trace tokens, tokens per
    second and mismatches (red when there are any)."""
    runs, halted, tokens, seconds = verification.runs, verification.halted, verification.tokens, verification.seconds
    mismatches = verification.mismatches
    table = Table(title=f"{verification.engine} engine vs reference: {args.states} states, {args.symbols} symbols")
    table.add_column("machines", justify="right")
    table.add_column("halted", justify="right")
    table.add_column("budget reached", justify="right")
    table.add_column("trace tokens", justify="right")
    table.add_column("tokens/s", justify="right")
    table.add_column("mismatches", justify="right", style="red" if mismatches else "green")
    table.add_row(
        str(len(runs)),
        str(halted),
        str(len(runs) - halted),
        str(tokens),
        f"{tokens / seconds:,.0f}" if seconds > 0 else "-",
        str(len(mismatches)),
    )
    return table


def _rerun_command(run: TraceRun, args: argparse.Namespace) -> str:
    """The `rasp tm run` command that reproduces one mismatched run: its machine, tape and
    engine, and the options of this verification that the engine takes."""
    again = f"rasp tm run '{machine_text(run.machine)}' --input '{' '.join(run.tape)}' --engine {run.engine}"
    if args.engine in engines_taking("shape"):
        again += f" --states {args.states} --symbols {args.symbols}"
    if args.program == "ngram":
        again += f" --program ngram --n {args.n}"
    if args.program == "compact":
        again += " --program compact"
    if args.max_len is not None:
        again += f" --max-len {args.max_len}"
    return f"{again} --max-steps {args.max_steps}"


def enumeration_length(shape: Shape, max_steps: int, trace_format: TraceFormat = TAPE_COPY) -> int:
    """The universal model length that `tm verify --all` needs for every machine of `shape`
    within `max_steps` steps in `trace_format`, refused up front (before any machine is
    simulated) past the length a universal model can have, with the step budget that would fit."""
    length = model_length(input_bound(shape, max_steps, trace_format))
    most = steps_within(shape, MAX_LENGTH, trace_format)
    check_length(
        length, f"checking every machine of {shape.states} states and {shape.symbols} symbols for {max_steps:,} steps",
        f"pass --max-steps {most:,} or fewer (the longest trace of T steps has about T^2/2 tokens)",
    )
    return length


# ------------------------------------------------------------------------- tm compile


def command_compile(args: argparse.Namespace) -> int:
    if args.max_len < 1:
        raise UsageError(f"--max-len must be at least 1, got {args.max_len}")
    program = COMPACT if args.program == "compact" else POSITIONAL
    model = compile_machine(load_machine(args.spec), args.max_len, program, attention=args.attention)
    if args.output:
        model.save(args.output)
    if args.json:
        print(json.dumps(model.summary()))
    else:
        print(format_report(model))
    return 0
