"""Compiles Tracr's library programs, as written in RASP under programs/lib/, at several lengths
and prints their sizes, timings and agreement with the interpreter, beside Tracr's figures (the
programs, vocabularies and figures come from the catalogue, `rasp.programs.tracr_programs`).

    PYTHONPATH=. python benchmarks/compile.py [--lengths 5,10,20,50,100] [--programs sort,reverse]
                                              [--attention soft,hard] [--markdown]

Compile time excludes parsing the program (each is loaded once, before timing) and the
self-check, which has a column of its own (`compiler.check.check` with its default inputs).  Forward
time is one batch of the random inputs after a warm-up call (so without the XLA compilation).
Agreement is over those inputs: random lengths from 1 to N (N and 1 among them), random tokens;
for the bracket programs half of them are balanced, so that both verdicts occur; for sort_unique
the tokens are distinct, drawn from 0..N-1 (so its vocabulary, and width, grow with N).
`--attention soft,hard` compiles each program with both kinds of heads (`compile(...,
attention=...)`), one row each.
"""

from __future__ import annotations

import argparse
import sys
import time
from functools import cache
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

import compiler  # noqa: E402
from compiler.check import check  # noqa: E402
from rasp import ir  # noqa: E402
from rasp.programs import library_program, tracr_programs  # noqa: E402


@cache
def _load(name: str) -> ir.SOp:
    return library_program(name)


#: Tracr's programs, by the names of its library (the catalogue's comparison, rasp.programs).
LIBRARY = tracr_programs()


COLUMNS = (
    "program",
    "N",
    "attention",
    "layers",
    "heads",
    "width",
    "mlp hidden",
    "params",
    "nonzero",
    "Tracr width / params",
    "dtype",
    "compile ms",
    "self-check ms",
    "forward ms",
    "agree",
)


def measure(name: str, n: int, samples: int, seed: int, attention: str = "soft") -> tuple[str, ...]:
    entry = LIBRARY[name]
    program = _load(entry.program.name)
    start = time.perf_counter()
    try:
        model = compiler.compile(program, entry.vocab(n), n, attention=attention, check=0)
    except compiler.CompileError as error:
        return (name, str(n), attention, *[""] * (len(COLUMNS) - 4), f"refused: {error.message}")
    compile_time = time.perf_counter() - start
    start = time.perf_counter()
    check(model, program)  # what compile adds by default (docs/compiler.md, The self-check)
    check_time = time.perf_counter() - start
    inputs = entry.sample(n, samples, seed)
    model.predict(inputs)  # warm-up: XLA compilation
    start = time.perf_counter()
    model.predict(inputs)
    forward_time = time.perf_counter() - start
    result = compiler.verify(model, program, inputs)
    summary = model.summary()
    agree = f"{result.agreeing}/{result.total}" + (f" ({len(result.mixtures)} mixed)" if result.mixtures else "")
    tracr = entry.published.get(n)
    return (
        name,
        str(n),
        attention,
        str(summary["layers"]),
        str(summary["heads"]),
        str(summary["residual_width"]),
        str(summary["mlp_hidden"]),
        f"{summary['params']:,}",
        f"{summary['nonzero_params']:,}",
        f"{tracr[0]} / {_short(tracr[1])}" if tracr else "",
        model.dtype(),
        f"{compile_time * 1000:.1f}",
        f"{check_time * 1000:.1f}",
        f"{forward_time * 1000:.0f}",
        agree,
    )


def _short(count: int) -> str:
    """6.9M, 535k, 6.4k: a published figure as it is usually quoted."""
    for unit, size in (("M", 1e6), ("k", 1e3)):
        if count >= size:
            return f"{count / size:.3g}{unit}"
    return str(count)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="5,10,20,50,100")
    parser.add_argument("--programs", default=",".join(LIBRARY))
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--attention", default="soft", help="soft, hard or soft,hard: the heads compiled")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table instead")
    args = parser.parse_args(argv)
    modes = args.attention.split(",")
    if not set(modes) <= {"soft", "hard"}:
        parser.error(f"--attention takes soft, hard or soft,hard, not {args.attention}")
    lengths = [int(n) for n in args.lengths.split(",")]
    names = args.programs.split(",")
    unknown = [name for name in names if name not in LIBRARY]
    if unknown:
        parser.error(f"unknown programs {', '.join(unknown)}; known: {', '.join(LIBRARY)}")
    rows = [
        measure(name, n, max(args.samples, 2), seed=n, attention=mode)
        for name in names
        for n in lengths
        for mode in modes
    ]
    if args.markdown:
        print("| " + " | ".join(COLUMNS) + " |")
        print("|" + "---|" * len(COLUMNS))
        for row in rows:
            print("| " + " | ".join(row) + " |")
        return 0
    table = Table(title="Tracr's library (programs/lib), compiled")
    for column in COLUMNS:
        table.add_column(column, justify="left" if column == "program" else "right")
    for row in rows:
        table.add_row(*row)
    Console().print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
