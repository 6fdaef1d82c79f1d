"""Time for a whole machine class, from slices spread over it: what `rasp tm verify --all` would
take for every machine of a shape, measured on a part of it.

    python benchmarks/class_slices.py [--states 3] [--symbols 2] [--steps 30] [--slices 8]
                                      [--size 131072] [--markdown]

The brute-force class (`turing.enumeration`) is not uniform: machines whose first entries loop
run to the step budget, whole stretches of others halt at once.  So the slices are `--slices`
runs of `--size` consecutive machines whose starts are spread evenly over the class (slice k
starts at (2k + 1)/(2 * slices) of it, rounded down to a multiple of the last entry's choices,
so that each slice's groups of machines sharing all records but the last are whole), checked
as `tm verify --all` checks them (`turing.exhaustive.verify_enumeration`, the universal engine
on the compact program with hard attention: in arrays, `turing.bulk`), every token against the
reference.  A warm-up slice elsewhere compiles the passes first, so no row includes XLA
compilation.  The total row extrapolates the measured rate to the whole class.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console  # noqa: E402

from benchmarks.turing_compiled import show  # noqa: E402
from turing.engines.universal import UniversalEngine  # noqa: E402
from turing.enumeration import machine_count  # noqa: E402
from turing.exhaustive import verify_enumeration  # noqa: E402
from turing.formats import COMPACT  # noqa: E402
from turing.shape import Shape  # noqa: E402


def slices_table(states: int, symbols: int, steps: int, slices: int, size: int) -> tuple[str, list, list, str]:
    total = machine_count(states, symbols)
    last_entry = 1 + 2 * symbols * (states + 1)
    engine = UniversalEngine(shape=Shape(states, symbols), attention="hard", trace_format=COMPACT)
    verify_enumeration(engine, states, symbols, steps, start=0, count=min(size, total))  # compilations
    columns = ["start", "machines", "halted", "trace tokens", "mismatches", "s", "machines/s", "tokens/s"]
    rows, sums = [], [0, 0, 0, 0, 0.0]
    for k in range(slices):
        start = (2 * k + 1) * total // (2 * slices) // last_entry * last_entry
        began = time.perf_counter()
        result = verify_enumeration(engine, states, symbols, steps, start=start, count=size)
        seconds = time.perf_counter() - began
        counts = [result.machines, result.halted, result.tokens, len(result.mismatches), seconds]
        sums = [a + b for a, b in zip(sums, counts)]
        rows.append(_row(f"{start:,}", counts))
    rows.append(_row("all slices", sums))
    hours = total / (sums[0] / sums[4]) / 3600
    title = (
        f"{slices} slices of {size:,} machines spread over the {total:,} with {states} states and {symbols} "
        f"symbols, {steps} steps, in arrays"
    )
    note = f"The whole class at this rate: {hours:.2f} hours ({total:,} machines)."
    return title, columns, rows, note


def _row(label: str, counts: list) -> list[str]:
    machines, halted, tokens, mismatches, seconds = counts
    return [
        label, f"{machines:,}", f"{halted:,}", f"{tokens:,}", str(mismatches), f"{seconds:.1f}",
        f"{machines / seconds:,.0f}", f"{tokens / seconds:,.0f}",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--states", type=int, default=3)
    parser.add_argument("--symbols", type=int, default=2)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--slices", type=int, default=8)
    parser.add_argument("--size", type=int, default=131_072)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    title, columns, rows, note = slices_table(args.states, args.symbols, args.steps, args.slices, args.size)
    show(Console(), title, columns, rows, note, args.markdown)
    return 1 if rows[-1][4] != "0" else 0


if __name__ == "__main__":
    sys.exit(main())
