"""Compiles the RASP paper's programs, as its authors wrote them (tests/compiler/paper_programs.rasp),
beside the programs/lib programs that do the same task and Tracr's figures where Tracr compiles
that task, and prints their sizes and agreement with the interpreter, or the reason a program
is refused.

    PYTHONPATH=. python benchmarks/paper_programs.py [--lengths 20,50] [--inputs 30]

Agreement is over random inputs of lengths 1 to N (N and 1 among them, and N copies of one
token), checked against the interpreter.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

import compiler  # noqa: E402
import rasp  # noqa: E402
from rasp.programs import library_program, tracr_programs  # noqa: E402

PAPER = Path(__file__).resolve().parents[1] / "tests" / "compiler" / "paper_programs.rasp"

#: paper program -> (vocabulary, the programs/lib file for the same task, Tracr's name for it)
TASKS: dict[str, tuple[str, str, str | None]] = {
    "hist_bos": ("abc", "histogram", None),
    "hist2_bos": ("abc", "double_histogram", None),
    "sort_bos": ("abc", "sort_unique", "sort"),
    "sort_by_most_freq": ("abc", "sort_by_frequency", "sort_freq"),
    "dyck1_ptf": ("()", "dyck1", None),
    "dyck2_ptf": ("(){}", "dyck2", None),
    "dyck3_ptf": ("(){}[]", None, None),
    "count_a": ("abc", "count", None),
}


def _inputs(vocab: str, n: int, count: int, seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    inputs = [[vocab[0]] * n, [vocab[-1]]]
    inputs += [[rng.choice(vocab) for _ in range(rng.randint(1, n))] for _ in range(count - 2)]
    return inputs


def _size(summary: dict[str, Any]) -> str:
    return f"{summary['residual_width']} / {summary['params']:,}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", default="20,50", help="comma-separated max_seq_len values")
    parser.add_argument("--inputs", type=int, default=30, help="random inputs per program")
    args = parser.parse_args()
    session = rasp.Session()
    session.run(PAPER.read_text())
    table = Table(title="The RASP paper's programs compiled (width / params)")
    for column in ("program", "N", "layers", "ours", "exact", "programs/lib", "Tracr", "seconds", "refused because"):
        table.add_column(column)
    for n in (int(text) for text in args.lengths.split(",")):
        for name, (vocab, library, tracr_name) in TASKS.items():
            lib = ""
            if library is not None:
                lib_vocab = tuple(range(n)) if library == "sort_unique" else tuple(vocab)
                lib = _size(compiler.compile(library_program(library), lib_vocab, n).summary())
            tracr = tracr_programs()[tracr_name].published.get(n) if tracr_name else None
            tracr_text = f"{tracr[0]} / {tracr[1]:,}" if tracr else ""
            start = time.perf_counter()
            try:
                model = compiler.compile(session[name], vocab, n)
            except compiler.CompileError as error:
                seconds = f"{time.perf_counter() - start:.2f}"
                table.add_row(name, str(n), "", "", "", lib, tracr_text, seconds, error.message)
                continue
            seconds = f"{time.perf_counter() - start:.2f}"
            result = compiler.verify(model, session[name], _inputs(vocab, n, args.inputs, seed=n))
            exact = f"{result.agreeing}/{result.total}" + (" mixtures!" if result.mixtures else "")
            summary = model.summary()
            table.add_row(name, str(n), str(summary["layers"]), _size(summary), exact, lib, tracr_text, seconds, "")
    Console(width=200).print(table)


if __name__ == "__main__":
    main()
