"""The Turing Program compiled into transformers: sizes, compile times and generation speed for
machines of 2 to 6 states and 2 to 4 symbols, model size against max_seq_len, and the longest
traces the compiled model reproduces exactly in float32 and in float64.

    python benchmarks/turing_compiled.py [--tokens 500] [--lengths 256 512 ... 8192]
                                         [--exactness 256 384 512 768 1024 2048 4096 8192]

Machines: a random machine per shape with a total table and no halting state (so that its trace
is as long as asked), and for the length tables the 4-state machine of benchmarks/turing_interpreter.py, which
sweeps back and forth over a slowly growing tape.  Speeds are trace tokens per second generating
`--tokens` tokens through `run_machine`: the compiled model's KV-cached decoder (after one warm-up
run, so without the XLA compilation), the interpreter's incremental evaluation, and the reference
simulator.  Every generated trace is checked against the reference.

Exactness: for each length N the models are compiled for N positions and generate N tokens
autoregressively (batched, through the KV-cached step that the engine uses), and the first token
that differs from the reference trace is reported.  Besides the sweeper, the length runs use a
bouncer over a long run of 1s and a machine that grows its tape to the left at every step.  The
last column evaluates the whole reference trace at once in float32 (`model(tokens)`), whose
sequence-wide matrix products XLA rounds differently on CPU.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

import compiler
from compiler.decoder import batch_generate
from compiler.shapes import common_shape, pad
from turing import Machine, load_machine, random_machine, trace_of
from turing.engines import Decoder, Engine, InterpreterEngine, ReferenceEngine
from turing.engines.compiled import GreedyDecoder, compile_machine
from turing.harness import run_machine

SWEEPER = "1RC0RC_1RD0LB_1RB0LC_1LA0LD"
"""benchmarks/turing_interpreter.py's machine: 4 states, 2 symbols, never halts."""

EXACTNESS_MACHINES = {
    "sweeper": (SWEEPER, ()),
    "bouncer over 1s": ("1RB1LA_1LA1RB", ("1",) * 8),
    "grows left": ("1LA1LA", ("1",)),
}


class _Prebuilt(Engine):
    """An engine around one compiled model, so that timing leaves compilation out."""

    name = "compiled"

    def __init__(self, model: compiler.Transformer) -> None:
        self.model = model

    def decoder(self, machine: Machine, capacity: int | None = None) -> Decoder:
        return GreedyDecoder(self.model)


def tokens_per_second(engine: Engine, machine: Machine, tokens: int) -> float:
    run = run_machine(engine, machine, (), max_steps=tokens, max_tokens=tokens)
    assert run.matches and len(run.tokens) == tokens, run.report()
    return tokens / run.seconds


Report = tuple[str, list[str], list[list[str]], str]
"""A table: title, column names, rows, caption."""


_SIZE_COLUMNS = ["layers", "heads", "width", "MLP units", "params"]


def _size_cells(summary: dict[str, Any]) -> list[str]:
    """The cells of the `_SIZE_COLUMNS`, read from `model.summary()`: one place keeps both tables'
    size columns in the same order as their headers."""
    return [
        str(summary["layers"]),
        str(summary["heads"]),
        str(summary["residual_width"]),
        f"{summary['mlp_hidden_total']:,}",
        f"{summary['params']:,}",
    ]


def shapes_table(tokens: int) -> Report:
    title = f"the compiled Turing Program per machine shape (models of {tokens} positions)"
    columns = [
        "states",
        "symbols",
        *_SIZE_COLUMNS,
        "compile s",
        "compiled tok/s",
        "interpreter tok/s",
        "reference tok/s",
    ]
    rows = []
    for n_states in range(2, 7):
        for n_symbols in range(2, 5):
            machine = random_machine(n_states, n_symbols, seed=n_states * 10 + n_symbols, halt_share=0.0)
            start = time.perf_counter()
            model = compile_machine(machine, tokens)
            seconds = time.perf_counter() - start
            summary = model.summary()
            engine = _Prebuilt(model)
            tokens_per_second(engine, machine, tokens)  # warm-up: the XLA compilation of the step
            rows.append(
                [
                    str(n_states),
                    str(n_symbols),
                    *_size_cells(summary),
                    f"{seconds:.2f}",
                    f"{tokens_per_second(engine, machine, tokens):,.0f}",
                    f"{tokens_per_second(InterpreterEngine(), machine, tokens):,.0f}",
                    f"{tokens_per_second(ReferenceEngine(), machine, tokens):,.0f}",
                ]
            )
    return title, columns, rows, ""


def lengths_table(lengths: Sequence[int]) -> Report:
    title = f"model size against max_seq_len ({SWEEPER}, 4 states, 2 symbols)"
    columns = ["max_seq_len", *_SIZE_COLUMNS, "non-zero", "compile s"]
    rows = []
    machine = load_machine(SWEEPER)
    for length in lengths:
        start = time.perf_counter()
        summary = compile_machine(machine, length).summary()
        seconds = time.perf_counter() - start
        rows.append(
            [
                f"{length:,}",
                *_size_cells(summary),
                f"{summary['nonzero_params']:,}",
                f"{seconds:.2f}",
            ]
        )
    return title, columns, rows, ""


def first_divergences(length: int, dtype: str) -> dict[str, int | None]:
    """Per exactness machine, the first position where the generated trace of `length` tokens
    differs from the reference (None: exact)."""
    cases = {name: (load_machine(spec), tape) for name, (spec, tape) in EXACTNESS_MACHINES.items()}
    traces = {name: trace_of(machine, tape, length)[:length] for name, (machine, tape) in cases.items()}
    models = [compile_machine(machine, length) for machine, _ in cases.values()]
    shape = common_shape(models)
    prompts = [trace[: trace.index("|") + 1] for trace in traces.values()]
    generated = batch_generate([pad(model, shape) for model in models], prompts, length, dtype)
    result: dict[str, int | None] = {}
    for (name, trace), prompt, predictions in zip(traces.items(), prompts, generated):
        tokens = prompt + predictions[len(prompt) - 1 : length - 1]
        result[name] = next((i for i, (a, b) in enumerate(zip(trace, tokens)) if a != b), None)
    return result


def forward_divergence(length: int) -> int | None:
    """The first wrong prediction of the whole-sequence forward pass in float32 on the sweeper's
    trace (teacher forcing: the context is the reference trace), or None."""
    machine = load_machine(SWEEPER)
    trace = trace_of(machine, (), length)[:length]
    outputs = compile_machine(machine, length)(trace, dtype="float32")
    start = trace.index("|")
    return next((i + 1 for i in range(start, length - 1) if outputs[i] != trace[i + 1]), None)


def exactness_table(lengths: Sequence[int], forward_limit: int) -> Report:
    title = "exactness: the first generated token that differs from the reference (- : none)"
    columns = ["max_seq_len = trace tokens", "compiler's float32 verdict"]
    columns += [f"{dtype}: {name}" for dtype in ("float32", "float64") for name in EXACTNESS_MACHINES]
    columns.append("float32 forward pass: sweeper")
    rows = []
    longest = {"float32": 0, "float64": 0}  # every length up to it was exact
    broken = {"float32": False, "float64": False}
    for length in lengths:
        row = [f"{length:,}", str(compile_machine(load_machine(SWEEPER), length).summary()["float32_ok"])]
        for dtype in ("float32", "float64"):
            divergences = first_divergences(length, dtype)
            row += ["-" if d is None else f"{d:,}" for d in divergences.values()]
            broken[dtype] = broken[dtype] or any(d is not None for d in divergences.values())
            longest[dtype] = longest[dtype] if broken[dtype] else length
        forward = forward_divergence(length) if length <= forward_limit else "not run"
        row.append("-" if forward is None else f"{forward:,}" if isinstance(forward, int) else forward)
        rows.append(row)
    return (
        title,
        columns,
        rows,
        f"longest exact length measured: float32 {longest['float32']:,}, float64 {longest['float64']:,}",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=512, help="trace tokens generated per machine shape")
    parser.add_argument("--lengths", type=int, nargs="+", default=[256, 512, 1024, 2048, 4096, 8192])
    parser.add_argument("--exactness", type=int, nargs="+", default=[256, 384, 512, 768, 1024, 2048, 4096, 8192])
    parser.add_argument("--forward-limit", type=int, default=2048, help="longest forward pass checked")
    parser.add_argument("--skip", nargs="*", default=[], choices=["shapes", "lengths", "exactness"])
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables (for docs/turing.md)")
    args = parser.parse_args()
    console = Console(width=250)
    reports = {
        "shapes": lambda: shapes_table(args.tokens),
        "lengths": lambda: lengths_table(args.lengths),
        "exactness": lambda: exactness_table(sorted(args.exactness), args.forward_limit),
    }
    for name, report in reports.items():
        if name not in args.skip:
            show(console, *report(), markdown=args.markdown)


def show(console: Console, title: str, columns: list[str], rows: list[list[str]], caption: str, markdown: bool) -> None:
    if markdown:
        lines = [f"**{title}**", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        console.print("\n".join([*lines, "", caption, ""]), markup=False, highlight=False, soft_wrap=True)
        return
    table = Table(title=title, caption=caption or None)
    for column in columns:
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(*row)
    console.print(table)


if __name__ == "__main__":
    main()
