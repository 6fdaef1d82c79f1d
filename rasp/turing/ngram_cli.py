"""`--program ngram --n N` for `rasp tm run` and `rasp tm verify`: the engine that runs the
n-gram Turing Program, and what each run says about the no-repeated-n-gram assumption.  Kept
apart from rasp.turing.cli, which only calls the three functions here."""

from __future__ import annotations

import argparse
from typing import Any

from rasp.cli import UsageError
from rasp.turing.ngram import NgramInterpreterEngine, assumption_note, assumption_violations, configuration_at
from rasp.turing.ngram_compiled import NgramCompiledEngine
from rasp.turing.runner import BoundedEngine, Engine, TraceRun

PROGRAMS = ("positional", "ngram")


def add_program_options(parser: argparse.ArgumentParser) -> None:
    """`--program` and `--n` on a `tm` subcommand."""
    parser.add_argument(
        "--program", choices=PROGRAMS, default="positional",
        help="the Turing Program the interpreter or compiled engine runs: programs/turing_machine.rasp "
        "(positional, the default) or programs/turing_ngram.rasp (ngram, Hou et al. 2024; needs --n)",
    )
    parser.add_argument("--n", type=int, metavar="N", help="the n-gram length of --program ngram")


def ngram_engine(args: argparse.Namespace) -> Engine | BoundedEngine | None:
    """The engine for `--program ngram` (None for the positional program); checks --n."""
    if args.program != "ngram":
        if args.n is not None:
            raise UsageError("--n applies to --program ngram only")
        return None
    if args.n is None or args.n < 1:
        raise UsageError(f"--program ngram needs --n N with N >= 1, got {args.n}", hint="e.g. --program ngram --n 3")
    if args.engine == "interpreter":
        return NgramInterpreterEngine(args.n)
    if args.engine == "compiled":
        return NgramCompiledEngine(args.n, args.dtype)
    raise UsageError(f"--program ngram runs on the interpreter or compiled engine, not on {args.engine!r}")


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
