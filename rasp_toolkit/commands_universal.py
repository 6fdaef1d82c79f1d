"""`rasp tm universal` and `rasp tm verify --all`: the universal Turing Program compiled once per
shape, and every machine of a shape checked through it (`turing.exhaustive`), on one host or
several (`turing.processes`).  This module parses arguments and prints."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import Any

from rich.console import Console
from rich.table import Table

from rasp.errors import UsageError
from rasp_toolkit.commands_compiler import ATTENTION_CHOICES, attention_argument, format_report
from rasp_toolkit.turing_display import MISMATCH, batch_table, output_console, progress_bar, warnings_on_stderr
from turing.engines import Engine
from turing.engines.compiled import choose_attention
from turing.exhaustive import Enumeration, verify_enumeration
from turing.processes import Processes
from turing.shape import Shape
from turing.universal import COMPACT_PROGRAM, PROGRAM
from turing.universal_model import UniversalModel, check_length, universal_model

SHOWN_MISMATCHES = 3
"""How many mismatch reports `tm verify --all` prints in full (all are in its --json)."""


def add_universal_command(sub: Any) -> None:
    """`tm universal`: compile (or load from the cache) the universal model of a shape."""
    universal = sub.add_parser(
        "universal",
        help="compile the universal Turing Program: one transformer for every machine of a shape",
        description="Compile programs/universal_turing_machine.rasp (or, with --program compact, "
        "programs/universal_turing_compact.rasp) for machines of at most Q states and S "
        "symbols (busy-beaver names: states A, B, ..., halting state Z, symbols 0, 1, ...). The model is kept "
        "in the cache ($RASP_TOOLKIT_CACHE, else $XDG_CACHE_HOME/rasp-toolkit or ~/.cache/rasp-toolkit), so "
        "`tm run`/`tm verify --engine universal` reuse it.",
    )
    universal.add_argument("--states", type=int, required=True, metavar="Q", help="the most states a machine has")
    universal.add_argument("--symbols", type=int, required=True, metavar="S", help="the most symbols a machine has")
    universal.add_argument(
        "--max-len", type=int, required=True, metavar="N", help="the longest input (table and trace) the model takes"
    )
    universal.add_argument(
        "--attention", type=attention_argument, metavar=ATTENTION_CHOICES,
        help="soft: softmax heads; hard: each head averages the keys of maximal score, the same size at every "
        "length (default: soft where it is known exact, hard for longer models, as for the compiled engine)",
    )
    universal.add_argument(
        "--program", choices=("positional", "compact"), default="positional",
        help="programs/universal_turing_machine.rasp (positional, the default) or "
        "programs/universal_turing_compact.rasp (compact: one token per step)",
    )
    universal.add_argument("-o", "--output", metavar="PATH", help="also write the model to this .npz file")
    universal.add_argument("--json", action="store_true", help="print the model summary as one JSON object")
    universal.set_defaults(handler=command_universal)


def add_enumeration_options(verify: argparse.ArgumentParser) -> None:
    """`tm verify`'s options for --all: the class, the slice of it, the checkpoint and the processes."""
    verify.add_argument(
        "--tnf", action="store_true",
        help="with --all: only the machines of tree normal form (reached from the blank tape, transitions defined "
        "in the order they are first used, states and symbols numbered in order of first use; docs/turing.md)",
    )
    verify.add_argument(
        "--start", type=int, default=0, metavar="K",
        help="with --all: the first machine (its number; with --tnf, its place in the class)",
    )
    verify.add_argument("--count", type=int, metavar="M", help="with --all: how many machines (default: to the last)")
    verify.add_argument(
        "--checkpoint", metavar="PATH",
        help="with --all: keep the counts in this file after every chunk, and resume from it when it exists "
        "(a killed run started again with the same arguments ends with the same counts)",
    )
    verify.add_argument(
        "--process-id", type=int, metavar="P", help="with --all: this process's number (default: $JAX_PROCESS_ID or 0)"
    )
    verify.add_argument(
        "--num-processes", type=int, metavar="P",
        help="with --all: how many processes share the enumeration (default: $JAX_NUM_PROCESSES or 1)",
    )
    verify.add_argument(
        "--coordinator", metavar="HOST:PORT",
        help="with --all and several processes: process 0's address (default: $JAX_COORDINATOR_ADDRESS)",
    )


def check_no_enumeration_options(args: argparse.Namespace) -> None:
    """Refuse the --all options on a `tm verify --random`."""
    given = [option for option, default in ENUMERATION_DEFAULTS.items() if getattr(args, option) != default]
    if given:
        raise UsageError(f"--{given[0].replace('_', '-')} applies to --all only")


ENUMERATION_DEFAULTS = {
    "tnf": False, "start": 0, "count": None, "checkpoint": None, "process_id": None, "num_processes": None,
    "coordinator": None,
}


def announce_model(found: UniversalModel) -> None:
    """One line on stderr for every universal model an engine takes up: compiled or cached."""
    shape, model = found.shape, found.model
    what = (
        f"universal model ({shape.states} states, {shape.symbols} symbols, max length {model.max_seq_len}, "
        f"{model.summary()['attention']} attention)"
    )
    if found.cached:
        print(f"{what}: loaded from the cache {found.path} in {found.seconds:.1f} s", file=sys.stderr)
    else:
        where = f", cached in {found.path}" if found.path else ""
        print(f"{what}: compiled in {found.seconds:.1f} s{where}", file=sys.stderr)


def command_universal(args: argparse.Namespace) -> int:
    if args.max_len < 1:
        raise UsageError(f"--max-len must be at least 1, got {args.max_len}")
    check_length(args.max_len)
    with warnings_on_stderr():  # the attention chosen, and a cache that cannot be used
        attention = choose_attention(args.max_len, args.attention)
        program = COMPACT_PROGRAM if args.program == "compact" else PROGRAM
        found = universal_model(Shape(args.states, args.symbols), args.max_len, attention, program=program)
    if args.output:
        found.model.save(args.output)
    if args.json:
        cache_file = None if found.path is None else str(found.path)
        print(json.dumps({**found.model.summary(), "cached": found.cached, "cache_file": cache_file,
                          "seconds": round(found.seconds, 3)}))
        return 0
    print(format_report(found.model))
    if found.path is None:
        print(f"compiled, not cached ({found.seconds:.1f} s)")
    else:
        announce = "loaded from the cache" if found.cached else "compiled and cached"
        print(f"{announce}: {found.path} ({found.seconds:.1f} s)")
    return 0


def command_verify_all(args: argparse.Namespace, engine: Engine) -> int:
    """`tm verify --all`: this process's share of the enumeration, the summary of all shares."""
    processes = Processes.from_environment(args.process_id, args.num_processes, args.coordinator)
    processes.start()
    errors = Console(stderr=True)
    progress = progress_bar(f"verifying every machine with the {engine.name} engine", errors, args.json)
    with progress, warnings_on_stderr():
        task = progress.add_task("machines", total=None)
        result = verify_enumeration(
            engine, args.states, args.symbols, args.max_steps, args.start, args.count, processes,
            on_chunk=lambda done, share: progress.update(task, advance=done, total=share),
            machine_class="tnf" if args.tnf else "all", checkpoint=args.checkpoint,
        )
    again = rerun_command(args, engine)
    if args.json:
        print(json.dumps(enumeration_summary(result, engine, again)))
        return MISMATCH if result.mismatches else 0
    console = output_console()
    console.print(enumeration_table(result, engine))
    if result.batches:
        console.print(batch_table(result.batches, "the universal model: one XLA compilation per padded length"))
    for mismatch in result.mismatches[:SHOWN_MISMATCHES]:
        console.print(f"\nmismatch: {again.format(mismatch.index)}", markup=False, soft_wrap=True)
        console.print(mismatch.report or f"diverges at token {mismatch.divergence}", markup=False)
    if len(result.mismatches) > SHOWN_MISMATCHES:
        console.print(f"\n... and {len(result.mismatches) - SHOWN_MISMATCHES} more (see --json)")
    return MISMATCH if result.mismatches else 0


def rerun_command(args: argparse.Namespace, engine: Engine) -> str:
    """The `rasp tm run` command that reproduces a machine's check, `{}` for its number."""
    command = f"rasp tm run --machine {{}} --states {args.states} --symbols {args.symbols} --engine {engine.name}"
    if args.program not in (None, "positional"):
        command += f" --program {args.program}"
    if args.max_len is not None:
        command += f" --max-len {args.max_len}"
    if args.dtype is not None:
        command += f" --dtype {args.dtype}"
    if args.attention is not None:
        command += f" --attention {args.attention}"
    return command + f" --max-steps {args.max_steps}"


def enumeration_summary(result: Enumeration, engine: Engine, again: str) -> dict[str, Any]:
    """The JSON object of `tm verify --all`."""
    return {
        "engine": engine.name,
        "states": result.states,
        "symbols": result.symbols,
        "max_steps": result.max_steps,
        "program": engine.trace_format.name,
        "machines_in_shape": result.total,
        "class": result.machine_class,
        "machines_in_class": result.class_size,
        "start": result.start,
        "stop": result.stop,
        "processes": result.processes,
        "share": [result.share.start, result.share.stop],
        "machines": result.machines,
        "halted": result.halted,
        "budget_exhausted": result.machines - result.halted,
        "tokens": result.tokens,
        "seconds": round(result.seconds, 6),
        "checked_in_arrays": result.checked_in_arrays,
        "resumed_at": result.resumed_at,
        "mismatches": [
            {**asdict(mismatch), "command": again.format(mismatch.index)} for mismatch in result.mismatches
        ],
        "batches": [asdict(batch) for batch in result.batches],
    }


def enumeration_table(result: Enumeration, engine: Engine) -> Table:
    processes = f", {result.processes} processes" if result.processes > 1 else ""
    shape = f"{result.states} states and {result.symbols} symbols"
    which = (
        f"the {result.class_size:,} of tree normal form (of {result.total:,} tables) with {shape}"
        if result.machine_class == "tnf" else f"the {result.total:,} with {shape}"
    )
    resumed = f", resumed at {result.resumed_at:,}" if result.resumed_at is not None else ""
    table = Table(
        title=f"{engine.name} engine ({engine.trace_format.name} trace) vs reference: machines {result.start:,} "
        f"to {result.stop - 1:,} of {which}, {result.max_steps} steps{processes}{resumed}"
    )
    for column in ("machines", "halted", "budget reached", "trace tokens", "machines/s", "tokens/s", "s"):
        table.add_column(column, justify="right")
    table.add_column("mismatches", justify="right", style="red" if result.mismatches else "green")
    seconds = result.seconds
    table.add_row(
        f"{result.machines:,}",
        f"{result.halted:,}",
        f"{result.machines - result.halted:,}",
        f"{result.tokens:,}",
        f"{result.machines / seconds:,.1f}" if seconds > 0 else "-",
        f"{result.tokens / seconds:,.0f}" if seconds > 0 else "-",
        f"{seconds:.1f}",
        str(len(result.mismatches)),
    )
    return table
