"""Model size and compile time of a program made of the length-independent hard-attention idioms
(latest match, position lookup with a computed address: docs/compiler.md, "Sizes that do not
grow with the length"), compiled causally with hard attention at several max_seq_len.

    PYTHONPATH=. python benchmarks/hard_sizes.py [--exponents 10 14 17 20]

Every size column should be the same on every row; compile time grows with the value sets of
positions (a few values per position), not with pairs of positions.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

import compiler  # noqa: E402
import rasp  # noqa: E402

#: The token mirrored about the latest `|`: a latest match, then a lookup at 2 b - i.
PROGRAM = """
is_bar = tokens == "|";
bars = selector_width(select(is_bar, True, ==));
bar_at = aggregate(select(bars, bars, ==) and select(is_bar, True, ==), indices, -1);
mirrored = aggregate(select(indices, 2 * bar_at - indices, ==), tokens, "_");
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exponents", type=int, nargs="+", default=[10, 14, 17, 20])
    args = parser.parse_args()
    session = rasp.Session()
    session.run(PROGRAM)
    table = Table(title="mirrored, causal, hard attention")
    columns = ("layers", "heads", "residual_width", "mlp_hidden_total", "params", "float32_ok")
    for column in ("max_seq_len", *columns, "compile s"):
        table.add_column(column, justify="right")
    for exponent in args.exponents:
        start = time.perf_counter()
        model = compiler.compile(session["mirrored"], "ab|", 2**exponent, causal=True, attention="hard")
        seconds = time.perf_counter() - start
        summary = model.summary()
        table.add_row(f"2^{exponent}", *(f"{summary[c]}" for c in columns), f"{seconds:.2f}")
    Console(width=140).print(table)


if __name__ == "__main__":
    main()
