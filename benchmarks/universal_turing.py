"""The universal Turing Program compiled: its size beside the per-machine model's, and the speed of
checking machines of a shape through one model by teacher forcing.

    python benchmarks/universal_turing.py [--shapes 2x2 3x2 4x3] [--lengths 256 1024]
                                          [--states 2 --symbols 2 --steps 50 --sample 64]
                                          [--dtype float32] [--skip sizes throughput]

Sizes: per shape and max_seq_len, the universal model (one for every machine of the shape)
beside the per-machine model of `rasp tm compile` for a random machine of the shape with a total
table.

Throughput: the input of every machine of the shape (`turing.enumeration`, busy-beaver
notation) for `--steps` steps, table and reference trace, has a length; machines are grouped by
the power of two (at least 64) that holds it, and each group gets a model compiled for that length.
A sample of `--sample` machines per group (spread over the enumeration) runs through it in batches
in one whole-sequence forward pass (`teacher_forced`, after one warm-up call that compiles it),
every prediction checked against the reference.  The last column extrapolates the group's
measured machines per second to all its machines; the total is the estimated time of an
exhaustive check with this method.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

from rich.console import Console

from benchmarks.turing_compiled import Report, show
from turing import random_machine
from turing.engines.compiled import compile_machine, model_length
from turing.enumeration import all_machines, machine_at, machine_count
from turing.shape import Shape, first_wrong_prediction, universal_trace
from turing.universal_model import compile_universal, teacher_forced

BATCH_TOKENS = 8192
"""Tokens per forward-pass batch: the batch is this over the group's length (memory: the MLPs'
hidden layers hold batch x length x units numbers)."""


SUMMARY_KEYS = ("layers", "heads", "residual_width", "mlp_hidden_total", "params", "nonzero_params")
"""The model summary's entries in the sizes table, in its column order."""


def sizes_table(shapes: Sequence[tuple[int, int]], lengths: Sequence[int]) -> Report:
    title = "the universal model (one per shape) beside the per-machine model (one per machine)"
    columns = ["states", "symbols", "max_seq_len", "model", "layers", "heads", "width"]
    columns += ["MLP units", "params", "non-zero", "compile s"]
    rows = []
    for n_states, n_symbols in shapes:
        machine = random_machine(n_states, n_symbols, seed=n_states * 10 + n_symbols, halt_share=0.0)
        for length in lengths:
            for name in ("universal", "per machine"):
                start = time.perf_counter()
                if name == "universal":
                    model = compile_universal(Shape(n_states, n_symbols), length)
                else:
                    model = compile_machine(machine, length)
                summary = model.summary()
                seconds = time.perf_counter() - start
                row = [str(n_states), str(n_symbols), f"{length:,}", name]
                row += [f"{summary[key]:,}" for key in SUMMARY_KEYS]
                rows.append([*row, f"{seconds:.1f}"])
    return title, columns, rows, ""


def throughput_table(
    n_states: int, n_symbols: int, steps: int, sample: int, dtype: str, only: Sequence[int] = ()
) -> Report:
    """`only`: the model lengths to measure (all when empty); the estimate covers those."""
    shape = Shape(n_states, n_symbols)
    groups: dict[int, list[int]] = {}  # model length -> machine numbers
    tokens_in: dict[int, int] = {}
    for index, machine in enumerate(all_machines(n_states, n_symbols)):
        tokens = len(universal_trace(machine, (), steps))
        groups.setdefault(model_length(tokens), []).append(index)
        tokens_in[model_length(tokens)] = tokens_in.get(model_length(tokens), 0) + tokens
    title = (
        f"teacher-forced checking of all {machine_count(n_states, n_symbols):,} machines of {n_states} states "
        f"and {n_symbols} symbols, {steps} steps, {dtype}: measured on {sample} per group"
    )
    columns = ["model length", "machines", "their tokens", "batch", "compile s", "wrong"]
    columns += ["tokens/s", "machines/s", "estimated s for all"]
    rows = []
    total = 0.0
    for length, members in sorted(groups.items()):
        if only and length not in only:
            continue
        start = time.perf_counter()
        model = compile_universal(shape, length)
        compile_seconds = time.perf_counter() - start
        chosen = members[:: max(1, len(members) // sample)][:sample]
        inputs = [universal_trace(machine_at(number, n_states, n_symbols), (), steps) for number in chosen]
        batch = max(1, BATCH_TOKENS // length)
        teacher_forced(model, inputs[:batch], length, dtype)  # warm-up: the XLA compilation
        start = time.perf_counter()
        outputs = [
            predicted
            for first in range(0, len(inputs), batch)
            for predicted in teacher_forced(model, inputs[first : first + batch], length, dtype)
        ]
        seconds = time.perf_counter() - start
        wrong = sum(first_wrong_prediction(tokens, predicted) is not None for tokens, predicted in zip(inputs, outputs))
        machines_per_second = len(inputs) / seconds
        estimate = len(members) / machines_per_second
        total += estimate
        rows.append(
            [
                f"{length:,}",
                f"{len(members):,}",
                f"{tokens_in[length]:,}",
                str(batch),
                f"{compile_seconds:.1f}",
                str(wrong),
                f"{sum(map(len, inputs)) / seconds:,.0f}",
                f"{machines_per_second:,.1f}",
                f"{estimate:,.0f}",
            ]
        )
    caption = f"estimated time for the machines of these groups: {total:,.0f} s (not counting compilation, enumeration)"
    return title, columns, rows, caption


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=["2x2", "3x2", "4x3"], help="STATESxSYMBOLS")
    parser.add_argument("--lengths", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--states", type=int, default=2)
    parser.add_argument("--symbols", type=int, default=2)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--sample", type=int, default=64, help="machines measured per length group")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--only", type=int, nargs="*", default=[], help="model lengths measured (default: all)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["sizes", "throughput"])
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    args = parser.parse_args()
    shapes = [tuple(int(part) for part in text.split("x")) for text in args.shapes]
    reports = {
        "sizes": lambda: sizes_table(shapes, args.lengths),  # type: ignore[arg-type]
        "throughput": lambda: throughput_table(
            args.states, args.symbols, args.steps, args.sample, args.dtype, args.only
        ),
    }
    console = Console(width=250)
    for name, report in reports.items():
        if name not in args.skip:
            show(console, *report(), markdown=args.markdown)


if __name__ == "__main__":
    main()
