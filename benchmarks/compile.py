"""Compiles Tracr's library programs at several lengths and prints their sizes, timings and
agreement with the interpreter.

    PYTHONPATH=. python benchmarks/compile.py [--lengths 5,10,20,50,100] [--programs sort,reverse]

Forward time is one batch of the random inputs after a warm-up call (so without the XLA
compilation); agreement is over those inputs (random lengths from 1 to N, random tokens).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

import compiler  # noqa: E402
from benchmarks.tracr_programs import LIBRARY, example  # noqa: E402

COLUMNS = (
    "program",
    "N",
    "layers",
    "heads",
    "width",
    "mlp hidden",
    "params",
    "nonzero",
    "dtype",
    "compile s",
    "forward ms",
    "agree",
)


def measure(name: str, n: int, samples: int, seed: int) -> tuple[str, ...]:
    ex = example(name, n)
    start = time.perf_counter()
    model = compiler.compile(ex.program, ex.vocab, n)
    compile_time = time.perf_counter() - start
    rng = random.Random(seed)
    inputs = [[rng.choice(ex.vocab) for _ in range(rng.randint(1, n))] for _ in range(samples)]
    model.predict(inputs)  # warm-up: XLA compilation
    start = time.perf_counter()
    model.predict(inputs)
    forward_time = time.perf_counter() - start
    result = compiler.verify(model, ex.program, inputs)
    summary = model.summary()
    agree = f"{result.agreeing}/{result.total}" + (
        f" ({len(result.mixtures)} mixed)" if result.mixtures else ""
    )
    return (
        name,
        str(n),
        str(summary["layers"]),
        str(summary["heads"]),
        str(summary["residual_width"]),
        str(summary["mlp_hidden"]),
        f"{summary['params']:,}",
        f"{summary['nonzero_params']:,}",
        model.dtype(),
        f"{compile_time:.2f}",
        f"{forward_time * 1000:.0f}",
        agree,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="5,10,20,50,100")
    parser.add_argument("--programs", default=",".join(LIBRARY))
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table instead")
    args = parser.parse_args(argv)
    lengths = [int(n) for n in args.lengths.split(",")]
    rows = [measure(name, n, args.samples, seed=n) for name in args.programs.split(",") for n in lengths]
    if args.markdown:
        print("| " + " | ".join(COLUMNS) + " |")
        print("|" + "---|" * len(COLUMNS))
        for row in rows:
            print("| " + " | ".join(row) + " |")
        return 0
    table = Table(title="Tracr's library, compiled")
    for column in COLUMNS:
        table.add_column(column, justify="left" if column == "program" else "right")
    for row in rows:
        table.add_row(*row)
    Console().print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
