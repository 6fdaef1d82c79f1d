"""Checking machines through the universal compact model, per batch size: aggregate machines/s
and tokens/s of teacher-forced verification (`turing.bulk`) and of greedy generation
(`compiled_model.fast_decoder.batch_fast_generate`), beside the per-machine harness.

    python benchmarks/verification_throughput.py [--states 3 --symbols 2] [--steps 30]
        [--batches 1 8 64 512] [--machines 4096] [--baseline 512] [--tape-copy 64] [--gen-machines 512]
        [--gen-calls 64] [--seed 0] [--repeats 1] [--markdown]

The machines are a seeded random sample (`--machines`, `--seed`) of the numbers of the shape's
enumeration (`turing.enumeration`), run on the blank tape for `--steps` steps through the one
hard-attention universal model of the compact program (`turing.universal_model`, loaded from the
model cache or compiled once before anything is timed; max_seq_len as `rasp tm verify --all`
picks it), in the model's float type.  Every row takes a prefix of that one sample.

Teacher-forced verification: per batch size B, `turing.bulk.check_numbers` over the whole sample
with B machines per forward pass (`rows`): the reference runs in numpy, the shared table records
read once per group of machines, each machine's own tokens after them, the predictions compared
with the reference in arrays.  Positions are the model's input positions (BOS, table, `$ |`,
steps, `#`); trace tokens are the harness's (`$ |`, the steps, `#` where the run halted).  The
baseline row is the per-machine harness, `turing.harness.run_machines` through the `universal`
engine (compact format): Python `Machine` objects, reference traces as strings, teacher-forced
batches of the engine's own size, every prediction replayed through a decoder, on the first
`--baseline` machines of the sample (the engine pads each batch to its full rows, 512 at the
shortest padded length: a smaller baseline understates the harness); the last column is
machines/s over the harness's.  On
those machines the harness and `check_numbers` must agree on every trace length and on which
machines are wrong (the benchmark stops if they do not).

Generation: per batch size B, the first machines of the sample (at most `--gen-machines`, and at
most `--gen-calls` calls of B machines: batch 1 runs fewer) generate through `batch_fast_generate`
with the model repeated B times, B machines per call, from the prompt of the table's tokens
and `$ |`, greedy, until `#` or `--steps` + 1 tokens (the harness also asks for the token after
the budget's last step, to see whether it is `#`).  Every generated token is compared with the
reference trace (`turing.formats.COMPACT`, run one step further: the token after the budget
must be that step's, not `#`).  The time includes everything `batch_fast_generate` does per
call (planning, generating, decoding the tokens; B generations of one model share its weights).
Positions are those the model ran, one per scan step: the BOS, the prompt, and every generated
token but the last.

Timing leaves XLA compilation out: every configuration is run once untimed first with the same
shapes (the same call for the teacher-forced rows and the harness; for generation one call of
each cache capacity the timed calls use), then timed, the best of `--repeats`.  Any wrong
machine is a failure: the tables are printed and the exit status is 1.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax  # noqa: E402
import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402

from benchmarks.turing_compiled import Report, show  # noqa: E402
from compiled_model.fast_decoder import batch_fast_generate, capacity_for  # noqa: E402
from compiled_model.transformer import Transformer  # noqa: E402
from turing.bulk import check_numbers  # noqa: E402
from turing.engines.compiled import model_length  # noqa: E402
from turing.engines.universal import BATCH_TOKENS, UniversalEngine  # noqa: E402
from turing.enumeration import machine_at, machine_count  # noqa: E402
from turing.formats import COMPACT, TAPE_COPY  # noqa: E402
from turing.harness import TraceRun, run_machines  # noqa: E402
from turing.machine import Machine  # noqa: E402
from turing.shape import Shape, input_bound, table_tokens  # noqa: E402
from turing.tokens import END  # noqa: E402
from turing.universal import COMPACT_PROGRAM  # noqa: E402
from turing.universal_model import fast_pass, universal_model  # noqa: E402

T = TypeVar("T")


def timed(call: Callable[[], T], repeats: int, warm_up: Callable[[], Any] | None = None) -> tuple[T, float]:
    """The result and best seconds of `repeats` runs of `call`, after one untimed run of
    `warm_up` (default: `call` itself), which compiles its shapes."""
    (warm_up or call)()
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = call()
        best = min(best, time.perf_counter() - start)
    return result, best  # type: ignore[return-value]


def sample(shape: Shape, count: int, seed: int) -> np.ndarray:
    """`count` distinct machine numbers of `shape`, drawn at random (in the drawn order: a prefix
    of the sample is a random sample too)."""
    total = machine_count(shape.states, shape.symbols)
    if not 0 < count <= total:
        raise SystemExit(f"--machines must be in 1..{total:,} for {shape.states} states and {shape.symbols} symbols")
    return np.random.default_rng(seed).choice(total, count, replace=False).astype(np.int64)


def rate(amount: float, seconds: float) -> str:
    return f"{amount / seconds:,.0f}" if amount / seconds >= 100 else f"{amount / seconds:,.1f}"


def harness_runs(engine: UniversalEngine, machines: Sequence[Machine], steps: int) -> list[TraceRun]:
    return run_machines(engine, [(machine, ()) for machine in machines], steps)


def teacher_forced_table(
    model: Transformer, dtype: str, shape: Shape, steps: int, numbers: np.ndarray, args: argparse.Namespace
) -> tuple[Report, int]:
    """Table 1 and the number of wrong machines in it."""
    fast = fast_pass(model, dtype)
    machines = [machine_at(int(number), shape.states, shape.symbols) for number in numbers[: args.baseline]]
    engine = UniversalEngine(shape=shape, max_len=model.max_seq_len, attention="hard", trace_format=COMPACT)
    runs, harness_seconds = timed(lambda: harness_runs(engine, machines, steps), args.repeats)
    harness_rate = len(runs) / harness_seconds
    copying, copy_rate, copy_row = tape_copy_row(shape, machines[: args.tape_copy], steps, args.repeats)
    harness_wrong = np.array([not run.matches for run in runs])
    harness_tokens = sum(len(run.expected) for run in runs)
    harness_positions = sum(1 + len(table_tokens(run.machine)) + len(run.expected) for run in runs)
    batches = sorted({BATCH_TOKENS["hard"] // batch.padded_to for batch in engine.batches if batch.padded_to})
    columns = ["path", "batch", "machines", "positions", "trace tokens", "s", "machines/s", "positions/s"]
    columns += ["trace tokens/s", "steps/s", "wrong", "vs harness", "steps/s vs tape-copy"]
    harness_steps = sum(run.steps for run in runs)
    rows = [
        [
            *copy_row,
            str(int(sum(not run.matches for run in copying))),
            f"{copy_rate[0] / harness_rate:,.2f}x",
            "1.0x",
        ],
        [
            "harness",
            "/".join(str(size) for size in reversed(batches)),
            f"{len(runs):,}",
            f"{harness_positions:,}",
            f"{harness_tokens:,}",
            f"{harness_seconds:.2f}",
            rate(len(runs), harness_seconds),
            rate(harness_positions, harness_seconds),
            rate(harness_tokens, harness_seconds),
            rate(harness_steps, harness_seconds),
            str(int(harness_wrong.sum())),
            "1.0x",
            f"{harness_steps / harness_seconds / copy_rate[1]:,.1f}x",
        ],
    ]
    total_wrong = int(harness_wrong.sum()) + int(sum(not run.matches for run in copying))
    for batch in args.batches:
        (bulk, wrong), seconds = timed(
            lambda batch=batch: check_numbers(model, numbers, shape, steps, dtype, fast, rows=batch), args.repeats
        )
        agree(runs, harness_wrong, bulk.trace_tokens[: len(runs)], wrong[: len(runs)])
        positions, tokens = int(bulk.lengths.sum()), int(bulk.trace_tokens.sum())
        total_wrong += int(wrong.sum())
        rows.append(
            [
                "turing.bulk",
                str(batch),
                f"{len(numbers):,}",
                f"{positions:,}",
                f"{tokens:,}",
                f"{seconds:.2f}",
                rate(len(numbers), seconds),
                rate(positions, seconds),
                rate(tokens, seconds),
                rate(int(bulk.steps.sum()), seconds),
                str(int(wrong.sum())),
                f"{len(numbers) / seconds / harness_rate:,.1f}x",
                f"{int(bulk.steps.sum()) / seconds / copy_rate[1]:,.1f}x",
            ]
        )
    base = 1 + 2 * shape.symbols * (shape.states + 1)  # the enumeration's digits per table entry
    groups = len(np.unique(numbers // base))
    title = (
        f"teacher-forced verification of {len(numbers):,} random machines of {shape.states} states and "
        f"{shape.symbols} symbols for {steps} steps, per batch (machines per forward pass)"
    )
    caption = (
        f"harness, tape-copy: the same on the first {len(copying):,} machines through the hard universal model of the "
        "tape-copy program (every configuration written out), the per-machine check the issues' first throughput "
        "figures measured; steps/s: machine steps verified per second; "
        f"harness: turing.harness.run_machines through the universal engine on the sample's first {len(runs):,} "
        f"machines, teacher-forced batches of the engine's size per padded length; turing.bulk: check_numbers, "
        f"the {len(numbers):,} machines in {groups:,} groups sharing all table records but the last; "
        "seconds are the best of --repeats after an untimed run with the same shapes"
    )
    return (title, columns, rows, caption), total_wrong


def tape_copy_row(
    shape: Shape, machines: Sequence[Machine], steps: int, repeats: int
) -> tuple[list[TraceRun], tuple[float, float], list[str]]:
    """The baseline of the tape-copy traces (`turing.formats.TAPE_COPY`: each step writes the
    whole configuration, so a step costs tens of tokens where a compact step costs one): the
    harness's runs of `machines` through the hard universal model of the tape-copy program, its
    machines/s and steps/s, and the first cells of its row."""
    engine = UniversalEngine(shape=shape, attention="hard", trace_format=TAPE_COPY)
    runs, seconds = timed(lambda: harness_runs(engine, machines, steps), repeats)
    positions = sum(1 + len(table_tokens(run.machine)) + len(run.expected) for run in runs)
    tokens, machine_steps = sum(len(run.expected) for run in runs), sum(run.steps for run in runs)
    cells = ["harness, tape-copy", "", f"{len(runs):,}", f"{positions:,}", f"{tokens:,}", f"{seconds:.2f}"]
    cells += [rate(len(runs), seconds), rate(positions, seconds), rate(tokens, seconds), rate(machine_steps, seconds)]
    return runs, (len(runs) / seconds, machine_steps / seconds), cells


def agree(runs: list[TraceRun], harness_wrong: np.ndarray, tokens: np.ndarray, wrong: np.ndarray) -> None:
    """Stops the benchmark where `check_numbers` and the harness disagree on a machine's trace
    length or on whether the model gets it wrong."""
    lengths = np.array([len(run.expected) for run in runs])
    for index in np.flatnonzero((lengths != tokens) | (harness_wrong != wrong)):
        run = runs[index]
        raise SystemExit(
            f"machine {run.machine.to_text()} (sample position {index}): the harness counts {lengths[index]} trace "
            f"tokens, wrong={bool(harness_wrong[index])}; turing.bulk {tokens[index]}, wrong={bool(wrong[index])}"
        )


def generate(model: Transformer, calls: list[list[list[str]]], quota: int, dtype: str) -> list[list[str]]:
    """The traces of every prompt, one `batch_fast_generate` call per list of prompts."""
    traces = []
    for prompts in calls:
        traces += batch_fast_generate([model] * len(prompts), prompts, quota, (END,), dtype)
    return traces


def generation_table(
    model: Transformer, dtype: str, shape: Shape, steps: int, numbers: np.ndarray, args: argparse.Namespace
) -> tuple[Report, int]:
    """Table 2 and the number of wrong machines in it."""
    quota = steps + 1
    columns = ["batch", "machines", "calls", "positions", "generated tokens", "s", "machines/s", "positions/s"]
    columns += ["tokens/s", "wrong"]
    columns += [f"vs batch {args.batches[0]}"]
    rows, total_wrong, first_rate = [], 0, None
    for batch in args.batches:
        if batch > len(numbers):
            rows.append([str(batch), f"(skipped: the sample has {len(numbers):,} machines)", *[""] * 9])
            continue
        count = max(batch, min(args.gen_machines, batch * args.gen_calls) // batch * batch)  # full calls only
        machines = [machine_at(int(number), shape.states, shape.symbols) for number in numbers[:count]]
        tables = [table_tokens(machine) for machine in machines]
        prompts = [[*table, *COMPACT.prompt(machine, ())] for table, machine in zip(tables, machines)]
        expected = [COMPACT.reference(machine, (), quota)[: 2 + quota] for machine in machines]
        calls = [prompts[at : at + batch] for at in range(0, count, batch)]
        capacities = {}  # one warm-up call per cache capacity (the shapes of the scan)
        for call in calls:
            capacities.setdefault(capacity_for(max(map(len, call)) + quota, model.max_seq_len), call)
        traces, seconds = timed(
            partial(generate, model, calls, quota, dtype),
            args.repeats,
            partial(generate, model, list(capacities.values()), quota, dtype),
        )
        generated = positions = wrong = 0
        for table, prompt, trace, reference in zip(tables, prompts, traces, expected):
            generated += len(trace) - len(prompt)
            positions += len(trace)  # the BOS, the prompt, every generated token but the last
            wrong += trace[len(table) :] != reference
        total_wrong += wrong
        first_rate = first_rate or count / seconds
        rows.append(
            [
                str(batch),
                f"{count:,}",
                f"{len(calls):,}",
                f"{positions:,}",
                f"{generated:,}",
                f"{seconds:.2f}",
                rate(count, seconds),
                rate(positions, seconds),
                rate(generated, seconds),
                str(wrong),
                f"{count / seconds / first_rate:,.1f}x",
            ]
        )
    title = (
        f"greedy generation through batch_fast_generate, B machines per call (the model repeated B times), "
        f"{steps} steps + 1 token at most, stopping at {END}"
    )
    caption = (
        "positions: the model's, one at a time (BOS, prompt, each generated token but the last); generated tokens: "
        "after the prompt (table, $ |), each compared with the reference trace; "
        "seconds are the best of --repeats after one untimed call per cache capacity used"
    )
    return (title, columns, rows, caption), total_wrong


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--states", type=int, default=3)
    parser.add_argument("--symbols", type=int, default=2)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 64, 512])
    parser.add_argument("--machines", type=int, default=4096, help="the sample: teacher-forced rows check all of it")
    parser.add_argument(
        "--baseline", type=int, default=512, help="machines of the sample the harness checks (512: full batches)"
    )
    parser.add_argument(
        "--tape-copy", type=int, default=64, help="machines of the sample the tape-copy baseline checks"
    )
    parser.add_argument("--gen-machines", type=int, default=512, help="machines of the sample each generation row runs")
    parser.add_argument("--gen-calls", type=int, default=64, help="at most this many generation calls per row")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1, help="timed runs per row (the best is shown)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["teacher-forced", "generation"])
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    args = parser.parse_args(argv)
    if (
        min(args.batches) < 1
        or args.baseline < 1
        or args.tape_copy < 1
        or args.gen_machines < 1
        or args.gen_calls < 1
        or args.repeats < 1
    ):
        parser.error("batch sizes, --baseline, --gen-machines, --gen-calls and --repeats must be at least 1")
    shape = Shape(args.states, args.symbols)
    numbers = sample(shape, args.machines, args.seed)
    length = model_length(input_bound(shape, args.steps, COMPACT))
    found = universal_model(shape, length, "hard", program=COMPACT_PROGRAM)
    model, dtype = found.model, found.dtype()
    summary = model.summary()
    console = Console(width=250)
    facts = (
        f"device: {', '.join(str(device) for device in jax.devices())} ({jax.default_backend()}); "
        f"model: the universal compact program, {shape.states} states x {shape.symbols} symbols, "
        f"max_seq_len {model.max_seq_len}, hard attention, {dtype}: {summary['layers']} layers, "
        f"{summary['heads']} heads, width {summary['residual_width']}, {summary['mlp_hidden_total']:,} MLP units, "
        f"{summary['params']:,} params ({summary['nonzero_params']:,} non-zero); "
        f"sample: {len(numbers):,} of {machine_count(shape.states, shape.symbols):,} machines, seed {args.seed}"
    )
    console.print(facts, markup=False, highlight=False, soft_wrap=True)
    console.print()
    wrong = 0
    for name, table in (("teacher-forced", teacher_forced_table), ("generation", generation_table)):
        if name not in args.skip:
            report, found_wrong = table(model, dtype, shape, args.steps, numbers, args)
            show(console, *report, markdown=args.markdown)
            wrong += found_wrong
    if wrong:
        console.print(f"{wrong} wrong machines: the model left the reference", markup=False)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
