"""How often the n-gram Turing Program's assumption fails, and how often the program then fails.

    python benchmarks/turing_ngram.py [--machines 10] [--steps 25] [--max-n 8] [--plot PATH]

For random machines of several shapes (each with a random input tape of 0 to 4 cells) and the
famous machines of the test suite, run for at most `--steps` steps, and for n = 1..max-n:

- violated: the share of runs whose reference trace has a configuration after the prompt whose
  tape repeats an n-gram (`turing.ngram.assumption_violations`);
- diverged: the share of runs where programs/turing_ngram.rasp, evaluated causally on the
  reference trace, predicts a wrong token (the first wrong prediction is where autoregressive
  generation would leave the trace, docs/turing.md section 8);
- the median step (configuration index) of the first violation and of the divergence;
- unexplained: divergences in a configuration whose tape satisfies the assumption (the program
  is exact there, so this column must be 0).

Then the compiled sizes of the positional program and of the n-gram program for each n, for
busy beaver 2 at max_seq_len 512, and a plot of both shares against n (docs/images/).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from rasp.interpreter import evaluate
from turing import Machine, load_machine, trace_of
from turing.engines.compiled import compile_machine
from turing.ngram import assumption_violations, configuration_at, ngram_program, ngram_sop
from turing.random_machines import random_cases

SHAPES = ((2, 2), (3, 2), (4, 2), (3, 3))
FAMOUS = {
    "busy beaver 2": ("1RB1LB_1LA1RZ", ()),
    "busy beaver 3": ("1RB1RZ_1LB0RC_1LC1LA", ()),
    "busy beaver 4": ("1RB1LB_1LA0LC_1RZ1LD_1RD0RA", ()),
    "busy beaver 5": ("1RB1LC_1RC1RB_1RD0LE_1LA1LD_1RZ0LA", ()),
    "bouncer over 1s": ("1RB1LA_1LA1RB", ("1",) * 6),
}
IMAGE = Path(__file__).resolve().parent.parent / "docs" / "images" / "turing_ngram.png"


@dataclass(frozen=True)
class Outcome:
    """One run and one n: the first configuration whose tape violates the assumption and the
    configuration being written at the first wrong prediction (None: none)."""

    violation: int | None
    divergence: int | None
    unexplained: bool


def measure(machine: Machine, tape: Sequence[str], steps: int, n: int) -> Outcome:
    trace = trace_of(machine, tape, steps)
    violations = [v.configuration for v in assumption_violations(trace, machine, n)]
    predictions = evaluate(ngram_sop(machine, n), trace, causal=True)
    wrong = [p for p in range(trace.index("|"), len(trace) - 1) if str(predictions[p]) != trace[p + 1]]
    divergence = configuration_at(trace, wrong[0] + 1) if wrong else None
    unexplained = divergence is not None and divergence not in violations
    return Outcome(violations[0] if violations else None, divergence, unexplained)


def median(values: list[int]) -> str:
    return f"{statistics.median(values):g}" if values else "-"


def share_table(outcomes: dict[int, list[Outcome]], title: str) -> Table:
    table = Table(title=title)
    columns = ("n", "runs", "violated", "diverged", "median step: violation", "median step: divergence", "unexplained")
    for column in columns:
        table.add_column(column, justify="right")
    for n, runs in outcomes.items():
        violated = [o.violation for o in runs if o.violation is not None]
        diverged = [o.divergence for o in runs if o.divergence is not None]
        table.add_row(
            str(n), str(len(runs)), f"{len(violated) / len(runs):.0%}", f"{len(diverged) / len(runs):.0%}",
            median(violated), median(diverged), str(sum(o.unexplained for o in runs)),
        )
    return table


def famous_table(results: dict[str, dict[int, Outcome]], max_n: int) -> Table:
    table = Table(title="famous machines: first violating step / first diverging step (- : none)")
    table.add_column("machine")
    for n in range(1, max_n + 1):
        table.add_column(f"n={n}", justify="right")
    for name, by_n in results.items():
        table.add_row(name, *(f"{_step(o.violation)} / {_step(o.divergence)}" for o in by_n.values()))
    return table


def _step(step: int | None) -> str:
    return "-" if step is None else str(step)


def size_table(max_n: int, max_seq_len: int) -> Table:
    machine = load_machine(FAMOUS["busy beaver 2"][0])
    table = Table(title=f"compiled sizes, busy beaver 2, max_seq_len {max_seq_len}")
    for column in ("program", "layers", "heads", "width", "MLP units", "params", "compile s"):
        table.add_column(column, justify="right")
    builds = [("positional", lambda: compile_machine(machine, max_seq_len))]
    builds += [
        (f"n-gram, n={n}", lambda n=n: compile_machine(machine, max_seq_len, ngram_program(n)))
        for n in range(1, max_n + 1)
    ]
    for name, build in builds:
        start = time.perf_counter()
        summary = build().summary()
        table.add_row(
            name, str(summary["layers"]), str(summary["heads"]), str(summary["residual_width"]),
            f"{summary['mlp_hidden_total']:,}", f"{summary['params']:,}", f"{time.perf_counter() - start:.1f}",
        )
    return table


def plot(outcomes: dict[int, list[Outcome]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns = list(outcomes)
    violated = [100 * sum(o.violation is not None for o in runs) / len(runs) for runs in outcomes.values()]
    diverged = [100 * sum(o.divergence is not None for o in runs) / len(runs) for runs in outcomes.values()]
    figure, axes = plt.subplots(figsize=(6, 3.6))
    axes.plot(ns, violated, "o-", label="tape repeats an n-gram (assumption violated)")
    axes.plot(ns, diverged, "s--", label="n-gram program diverges from the reference")
    axes.set_xlabel("n")
    axes.set_ylabel("% of runs")
    axes.set_ylim(0, 100)
    axes.set_xticks(ns)
    axes.set_title(title, fontsize=9)
    axes.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--machines", type=int, default=10, help="random machines per shape")
    parser.add_argument("--steps", type=int, default=25, help="step budget T per run")
    parser.add_argument("--max-n", type=int, default=8)
    parser.add_argument("--size-len", type=int, default=512, help="max_seq_len of the compiled size table")
    parser.add_argument("--plot", type=Path, default=IMAGE, help="where to save the picture")
    args = parser.parse_args()
    console = Console(highlight=False)
    ns = range(1, args.max_n + 1)
    start = time.perf_counter()
    cases = [
        case
        for index, (states, symbols) in enumerate(SHAPES)
        for case in random_cases(args.machines, states, symbols, seed=index, max_tape=4)
    ]
    outcomes = {n: [measure(machine, tape, args.steps, n) for machine, tape in cases] for n in ns}
    shapes = ", ".join(f"{q}x{s}" for q, s in SHAPES)
    title = f"{len(cases)} random machines ({shapes} states x symbols), T = {args.steps} steps"
    console.print(share_table(outcomes, title))
    famous = {
        name: {n: measure(load_machine(spec), tape, args.steps, n) for n in ns} for name, (spec, tape) in FAMOUS.items()
    }
    console.print(famous_table(famous, args.max_n))
    console.print(f"measured in {time.perf_counter() - start:.0f} s")
    plot(outcomes, args.plot, title)
    console.print(f"wrote {args.plot}")
    console.print(size_table(args.max_n, args.size_len))


if __name__ == "__main__":
    main()
