"""The universal Turing Program compiled: its size beside the per-machine model's, and the speed of
checking every machine of a shape through one model (`rasp tm verify --all`).

    python benchmarks/universal_turing.py [--states 2 3 4 5 6] [--symbols 2 3 4] [--lengths 256]
                                         [--shape 2x2 --steps 50 --attention hard]
                                         [--skip sizes throughput] [--markdown]

Sizes: per shape and max_seq_len, the universal model (one for every machine of the shape), with
softmax and with hard attention, beside the per-machine model of `rasp tm compile` for a random
machine of the shape with a total table.

Throughput: the universal engine checks machines by teacher forcing, in batches padded to the
engine's bucket length for each input (table and reference trace: `bucket_length`), through one
model long enough for every machine of the shape (`turing.shape.input_bound`), with softmax or
hard attention (`--attention`; a hard model runs the fast forward pass, compiled_model/fast_forward.py).
Machines of the shape are grouped by
that padded length; one full batch of each group (as many machines as a batch holds, spread over
the group) runs through the universal engine after a warm-up call that compiles the group's
forward pass, every token checked.  The last column extrapolates the group's measured
rate to all its machines; the total estimates the whole `tm verify --all` run.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

from rich.console import Console

from benchmarks.turing_compiled import Report, show
from turing import random_machine, trace_of
from turing.engines.compiled import compile_machine, model_length
from turing.engines.universal import BATCH_TOKENS, UniversalEngine, bucket_length
from turing.enumeration import all_machines, machine_at, machine_count
from turing.harness import run_machines
from turing.shape import Shape, input_bound, table_tokens
from turing.universal_model import universal_model

SUMMARY_KEYS = ("layers", "heads", "residual_width", "mlp_hidden_total", "params", "nonzero_params")
"""The model summary's entries in the sizes table, in its column order."""


def sizes_table(states: Sequence[int], symbols: Sequence[int], lengths: Sequence[int]) -> Report:
    title = "the universal model (one per shape) beside the per-machine model (one per machine)"
    columns = ["states", "symbols", "max_seq_len", "model", "layers", "heads", "width"]
    columns += ["MLP units", "params", "non-zero", "compile s"]
    rows = []
    for n_states in states:
        for n_symbols in symbols:
            machine = random_machine(n_states, n_symbols, seed=n_states * 10 + n_symbols, halt_share=0.0)
            for length in lengths:
                for name in ("universal soft", "universal hard", "per machine"):
                    start = time.perf_counter()
                    if name.startswith("universal"):
                        attention = name.split()[1]
                        model = universal_model(Shape(n_states, n_symbols), length, attention, cache=False).model
                    else:
                        model = compile_machine(machine, length)
                    summary = model.summary()
                    seconds = time.perf_counter() - start
                    row = [str(n_states), str(n_symbols), f"{length:,}", name]
                    row += [f"{summary[key]:,}" for key in SUMMARY_KEYS]
                    rows.append([*row, f"{seconds:.1f}"])
    return title, columns, rows, ""


def throughput_table(n_states: int, n_symbols: int, steps: int, attention: str) -> Report:
    shape = Shape(n_states, n_symbols)
    length = model_length(input_bound(shape, steps))
    groups: dict[int, list[int]] = {}  # padded length -> machine numbers
    tokens_in: dict[int, int] = {}
    for index, machine in enumerate(all_machines(n_states, n_symbols)):
        tokens = len(table_tokens(machine)) + len(trace_of(machine, (), steps))
        padded = bucket_length(tokens)
        groups.setdefault(padded, []).append(index)
        tokens_in[padded] = tokens_in.get(padded, 0) + tokens
    found = universal_model(shape, length, attention)
    engine = UniversalEngine(shape, max_len=length, attention=attention)
    title = (
        f"checking all {machine_count(n_states, n_symbols):,} machines of {n_states} states and {n_symbols} "
        f"symbols for {steps} steps through one universal model ({length:,} positions, "
        f"{attention} attention, {found.dtype()}): measured on one batch per group"
    )
    columns = ["padded to", "machines", "their tokens", "batch", "wrong", "tokens/s", "machines/s"]
    columns += ["estimated s for all"]
    rows = []
    total = 0.0
    for padded, members in sorted(groups.items()):
        sample = min(len(members), max(1, BATCH_TOKENS[attention] // padded))
        chosen = members[:: max(1, len(members) // sample)][:sample]
        cases = [(machine_at(number, n_states, n_symbols), ()) for number in chosen]
        run_machines(engine, cases[:1], steps)  # warm-up: the XLA compilation of this padded length
        start = time.perf_counter()
        runs = run_machines(engine, cases, steps)
        seconds = time.perf_counter() - start
        wrong = sum(not run.matches for run in runs)
        tokens = sum(len(table_tokens(run.machine)) + len(run.expected) for run in runs)
        estimate = len(members) * seconds / len(runs)
        total += estimate
        rows.append(
            [
                f"{padded:,}",
                f"{len(members):,}",
                f"{tokens_in[padded]:,}",
                str(len(runs)),
                str(wrong),
                f"{tokens / seconds:,.0f}",
                f"{len(runs) / seconds:,.1f}",
                f"{estimate:,.0f}",
            ]
        )
    machines, tokens = machine_count(n_states, n_symbols), sum(tokens_in.values())
    caption = (
        f"estimated time for all machines: {total:,.0f} s ({total / 3600:.1f} h), compilation not counted: "
        f"{machines / total:,.1f} machines/s, {tokens / total:,.0f} tokens/s"
    )
    return title, columns, rows, caption


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--states", type=int, nargs="+", default=[2, 3, 4, 5, 6])
    parser.add_argument("--symbols", type=int, nargs="+", default=[2, 3, 4])
    parser.add_argument("--lengths", type=int, nargs="+", default=[256])
    parser.add_argument("--shape", default="2x2", help="STATESxSYMBOLS of the throughput table")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--attention", choices=("soft", "hard"), default="hard", help="the throughput table's model")
    parser.add_argument("--skip", nargs="*", default=[], choices=["sizes", "throughput"])
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    args = parser.parse_args()
    n_states, n_symbols = (int(part) for part in args.shape.split("x"))
    reports = {
        "sizes": lambda: sizes_table(args.states, args.symbols, args.lengths),
        "throughput": lambda: throughput_table(n_states, n_symbols, args.steps, args.attention),
    }
    console = Console(width=250)
    for name, report in reports.items():
        if name not in args.skip:
            show(console, *report(), markdown=args.markdown)


if __name__ == "__main__":
    main()
