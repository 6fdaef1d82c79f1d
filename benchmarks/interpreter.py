"""Time per evaluation of sort, histogram and reverse, from length 10 to 10,000.

Columns: the vectorised interpreter (fresh input each time, so nothing is memoised), the literal
pair-by-pair evaluator `rasp.naive` as a same-run baseline (only up to length 1,000: it is
quadratic in Python), and the speed-up over the original RASP implementation's published times at
length 200 (sort 1.36 s, histogram 0.78 s, reverse 0.58 s per evaluation).

    python benchmarks/interpreter.py [--lengths 10,100,200,1000,10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import time

from rich.console import Console
from rich.table import Table

import rasp
from rasp.interpreter import Interpreter
from rasp.naive import naive_evaluate

ORIGINAL_SECONDS_AT_200 = {"sort": 1.36, "histogram": 0.78, "reverse": 0.58}
NAIVE_LIMIT = 1000

PROGRAMS = """
set example [3, 1, 2]
tokens = tokens_int;
sorted = sort(tokens, tokens);
histogram = selector_width(select(tokens, tokens, ==));
reverse = aggregate(select(indices, length - indices - 1, ==), tokens);
"""


def best_time(run, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="10,100,200,1000,2000,5000,10000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    session = rasp.Session()
    session.run(PROGRAMS)
    programs = {"sort": session["sorted"], "histogram": session["histogram"], "reverse": session["reverse"]}
    rng = random.Random(0)
    table = Table(title="RASP interpreter: seconds per evaluation (best of repeats)")
    for column in ("program", "length", "interpreter s", "naive s", "naive / interp", "original / interp"):
        table.add_column(column, justify="right")
    for name, node in programs.items():
        for n in (int(x) for x in args.lengths.split(",")):
            inputs = [[rng.randint(0, 99) for _ in range(n)] for _ in range(args.repeat)]
            fresh = iter(inputs)
            interp = best_time(lambda node=node, fresh=fresh: Interpreter(memory=0).evaluate(node, next(fresh)),
                               args.repeat)
            naive = (best_time(lambda node=node, inputs=inputs: naive_evaluate(node, inputs[0]), 1)
                     if n <= NAIVE_LIMIT else None)
            original = ORIGINAL_SECONDS_AT_200[name] / interp if n == 200 else None
            table.add_row(
                name,
                str(n),
                f"{interp:.5f}",
                f"{naive:.4f}" if naive is not None else "-",
                f"{naive / interp:.0f}x" if naive is not None else "-",
                f"{original:.0f}x" if original is not None else "-",
            )
    Console().print(table)


if __name__ == "__main__":
    main()
