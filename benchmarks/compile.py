"""Compiles Tracr's library programs, as written in RASP under programs/lib/, at several lengths
and prints their sizes, timings and agreement with the interpreter, beside Tracr's figures.

    PYTHONPATH=. python benchmarks/compile.py [--lengths 5,10,20,50,100] [--programs sort,reverse] [--markdown]

Compile time excludes parsing the program (each is loaded once, before timing).  Forward
time is one batch of the random inputs after a warm-up call (so without the XLA compilation).
Agreement is over those inputs: random lengths from 1 to N (N and 1 among them), random tokens;
for the bracket programs half of them are balanced, so that both verdicts occur; for sort_unique
the tokens are distinct, drawn from 0..N-1 (so its vocabulary, and width, grow with N).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

import compiler  # noqa: E402
from rasp import ir  # noqa: E402
from rasp.programs import library_program  # noqa: E402


@dataclass(frozen=True)
class Entry:
    """One of Tracr's library programs (tracr/compiler/lib.py): the programs/lib file that does
    its task, the vocabulary (None: the integers 0..N-1) and the kind of inputs it is meant for
    ("words", "distinct" tokens or "brackets")."""

    file: str
    alphabet: tuple[Any, ...] | None
    inputs: str = "words"

    @property
    def program(self) -> ir.SOp:
        return _load(self.file)

    def vocab(self, n: int) -> tuple[Any, ...]:
        return tuple(range(n)) if self.alphabet is None else self.alphabet

    def sample(self, n: int, count: int, seed: int) -> list[list[Any]]:
        """`count` inputs (at least 2) of at most n tokens: the first of length n, the second of
        length 1, the others of random lengths."""
        rng = random.Random(seed)
        vocab = self.vocab(n)
        lengths = [n, 1, *(rng.randint(1, n) for _ in range(count - 2))]
        batch = []
        for index, length in enumerate(lengths):
            if self.inputs == "distinct":
                batch.append(rng.sample(vocab, length))
            elif self.inputs == "brackets" and index % 2 == 0 and length >= 2:
                batch.append(_balanced(vocab, length - length % 2, rng))
            else:
                batch.append([rng.choice(vocab) for _ in range(length)])
        return batch


def _balanced(pairs: tuple[str, ...], length: int, rng: random.Random) -> list[str]:
    """Opening brackets of random kinds, then their closing ones in a random order (each kind
    balanced on its own, the kinds interleaved: what shuffle_dyck accepts)."""
    kinds = [rng.randrange(len(pairs) // 2) for _ in range(length // 2)]
    return [pairs[2 * k] for k in kinds] + [pairs[2 * k + 1] for k in rng.sample(kinds, len(kinds))]


@cache
def _load(file: str) -> ir.SOp:
    return library_program(file)


#: Tracr's programs, by the names of its library, as programs/lib files.
LIBRARY = {
    "length": Entry("length", tuple("abc")),
    "reverse": Entry("reverse", tuple("abc")),
    "hist": Entry("histogram", tuple("abc")),
    "sort_unique": Entry("sort_unique", None, "distinct"),
    "sort": Entry("sort", (1, 2, 3, 4, 5)),
    "sort_freq": Entry("sort_by_frequency", tuple("abc")),
    "frac_prevs": Entry("frac_prevs", tuple("xyz")),
    "pair_balance": Entry("pair_balance", tuple("()")),
    "shuffle_dyck1": Entry("shuffle_dyck1", tuple("()"), "brackets"),
    "shuffle_dyck2": Entry("shuffle_dyck2", tuple("(){}"), "brackets"),
    "shift": Entry("shift", tuple("abc")),
    "detect_pattern": Entry("detect_pattern", tuple("abc")),
    "count": Entry("count", tuple("abc")),
}

#: Tracr's published residual width and parameter count, by (program, N).
TRACR = {
    ("length", 20): (48, 6_400),
    ("length", 50): (108, 31_000),
    ("reverse", 20): (131, 535_000),
    ("reverse", 50): (311, 6_900_000),
    ("sort", 20): (155, 289_000),
    ("sort", 50): (365, 1_680_000),
    ("sort_freq", 20): (518, 6_600_000),
}

COLUMNS = (
    "program",
    "N",
    "layers",
    "heads",
    "width",
    "mlp hidden",
    "params",
    "nonzero",
    "Tracr width / params",
    "dtype",
    "compile ms",
    "forward ms",
    "agree",
)


def measure(name: str, n: int, samples: int, seed: int) -> tuple[str, ...]:
    entry = LIBRARY[name]
    program = entry.program
    start = time.perf_counter()
    model = compiler.compile(program, entry.vocab(n), n)
    compile_time = time.perf_counter() - start
    inputs = entry.sample(n, samples, seed)
    model.predict(inputs)  # warm-up: XLA compilation
    start = time.perf_counter()
    model.predict(inputs)
    forward_time = time.perf_counter() - start
    result = compiler.verify(model, program, inputs)
    summary = model.summary()
    agree = f"{result.agreeing}/{result.total}" + (f" ({len(result.mixtures)} mixed)" if result.mixtures else "")
    tracr = TRACR.get((name, n))
    return (
        name,
        str(n),
        str(summary["layers"]),
        str(summary["heads"]),
        str(summary["residual_width"]),
        str(summary["mlp_hidden"]),
        f"{summary['params']:,}",
        f"{summary['nonzero_params']:,}",
        f"{tracr[0]} / {_short(tracr[1])}" if tracr else "",
        model.dtype(),
        f"{compile_time * 1000:.1f}",
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
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table instead")
    args = parser.parse_args(argv)
    lengths = [int(n) for n in args.lengths.split(",")]
    names = args.programs.split(",")
    unknown = [name for name in names if name not in LIBRARY]
    if unknown:
        parser.error(f"unknown programs {', '.join(unknown)}; known: {', '.join(LIBRARY)}")
    rows = [measure(name, n, max(args.samples, 2), seed=n) for name in names for n in lengths]
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
