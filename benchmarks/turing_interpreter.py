"""How fast the Turing machine engines run: the reference simulator in steps per second, the
RASP program in the interpreter in trace tokens per second, incrementally (each token one new
row per node) and by full re-evaluation of the whole context for every token.

    python benchmarks/turing_interpreter.py [--lengths 100 200 500 1000 2000 5000] [--full-limit 1000]

Full re-evaluation costs the square of the context per token, so its column stops at
--full-limit tokens.  Every run is also checked against the reference trace.
"""

from __future__ import annotations

import argparse
import time

from rich.console import Console
from rich.table import Table

from turing import load_machine, simulate
from turing.engines import InterpreterEngine
from turing.harness import run_machine

MACHINE = "1RC0RC_1RD0LB_1RB0LC_1LA0LD"
"""A 4-state machine that never halts and sweeps back and forth over a slowly growing tape, so
that traces of any length exist and are not one long run to the right."""

SIMULATOR_STEPS = 1_000_000


def simulator_steps_per_second(steps: int, record: bool) -> float:
    machine = load_machine(MACHINE)
    start = time.perf_counter()
    run = simulate(machine, (), max_steps=steps, record=record)
    assert run.steps == steps, "the benchmark machine must not halt"
    return steps / (time.perf_counter() - start)


def interpreter_tokens_per_second(length: int, incremental: bool) -> tuple[float, int]:
    """Tokens per second generating a trace of `length` tokens, and the steps it holds."""
    engine = InterpreterEngine(incremental=incremental)
    run = run_machine(engine, load_machine(MACHINE), (), max_steps=length, max_tokens=length)
    assert run.matches and len(run.tokens) == length, run.report()
    return length / run.seconds, run.tokens.count("|") - 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[100, 200, 500, 1000, 2000, 5000])
    parser.add_argument("--full-limit", type=int, default=1000, help="longest trace to re-evaluate in full")
    args = parser.parse_args()
    console = Console()
    console.print(f"machine {MACHINE}")
    interpreter_tokens_per_second(20, incremental=True)  # warm up: build the grammar and parse tables once
    for record in (False, True):
        rate = simulator_steps_per_second(SIMULATOR_STEPS if not record else SIMULATOR_STEPS // 100, record)
        kind = "recorded configurations" if record else "fast path"
        console.print(f"reference simulator ({kind}): {rate:,.0f} steps/s")
    table = Table(title="interpreter engine: RASP program, generating autoregressively")
    for column in ("trace tokens", "steps", "incremental tokens/s", "full re-evaluation tokens/s"):
        table.add_column(column, justify="right")
    for length in args.lengths:
        incremental, steps = interpreter_tokens_per_second(length, incremental=True)
        full = interpreter_tokens_per_second(length, incremental=False)[0] if length <= args.full_limit else None
        table.add_row(str(length), str(steps), f"{incremental:,.0f}", "-" if full is None else f"{full:,.0f}")
    table.caption = f"full re-evaluation is quadratic per token: measured up to {args.full_limit} tokens only"
    console.print(table)


if __name__ == "__main__":
    main()
