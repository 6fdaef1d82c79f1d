"""Differential fuzzing of the compiler: random RASP programs (`compiler.fuzzing.generate`),
each compiled and compared with the interpreter in a guarded worker process, and a table of
how they fared: exact / refused / wrong / over budget / crash.

    PYTHONPATH=. python benchmarks/fuzz_compiler.py --count 2000 --seed 0 --jobs 8 [--failures DIR]

A worker that passes the memory limit (its resident set, polled) or the time limit on one
program is killed and replaced, and the program counts as over budget.  Every program that is
wrong, over budget or crashes is printed with its source and a command that reproduces it
(`rasp compile ... --check 200`); with --failures each is also saved there as a .rasp file.
Programs with seeds seed..seed+count-1 are the same on every machine.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from collections import Counter
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from compiler.fuzzing import OUTCOMES, Case, Outcome, classify, generate  # noqa: E402

PAGE = 4096
POLL_S = 0.05


def _serve(connection: Connection, options: dict[str, Any]) -> None:
    """A worker: generates and classifies (with `options`) the seeds it is sent, one at a time."""
    while True:
        seed = connection.recv()
        case = generate(seed)
        connection.send((case, classify(case, **options)))


def _resident_bytes(pid: int) -> int:
    """The resident set of a process (Linux /proc; 0 where it cannot be read).  JAX reserves
    far more address space than it uses, so the address-space limit (RLIMIT_AS) would kill
    healthy workers; the resident set is what runs a laptop out of memory."""
    try:
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


@dataclass
class _Worker:
    process: multiprocessing.Process
    connection: Connection
    seed: int | None = None
    started: float = 0.0
    peak: int = 0


class Pool:
    """Worker processes, each running one program at a time under a memory and a time limit."""

    def __init__(self, jobs: int, memory_bytes: int, timeout_s: float, options: dict[str, Any]):
        self.context = multiprocessing.get_context("spawn")
        self.memory_bytes = memory_bytes
        self.timeout_s = timeout_s
        self.options = options  # classify's keyword arguments
        self.workers = [self._start() for _ in range(jobs)]

    def _start(self) -> _Worker:
        parent, child = self.context.Pipe()
        process = self.context.Process(target=_serve, args=(child, self.options), daemon=True)
        process.start()
        return _Worker(process, parent)

    def _replace(self, worker: _Worker) -> _Worker:
        worker.process.kill()
        worker.process.join()
        return self._start()

    def run(self, seeds: list[int]) -> Any:
        """Yields (seed, case or None, outcome) as programs finish, in any order."""
        pending = list(reversed(seeds))
        while pending or any(w.seed is not None for w in self.workers):
            for index, worker in enumerate(self.workers):
                if worker.seed is None and pending:
                    worker.seed, worker.started, worker.peak = pending.pop(), time.monotonic(), 0
                    worker.connection.send(worker.seed)
                if worker.seed is None:
                    continue
                worker.peak = max(worker.peak, _resident_bytes(worker.process.pid))
                seed = worker.seed
                if worker.connection.poll():
                    try:
                        case, outcome = worker.connection.recv()
                    except EOFError:  # the worker died (the operating system killed it)
                        self.workers[index] = self._replace(worker)
                        yield seed, None, Outcome("over budget", "worker died", "the worker process died")
                        continue
                    worker.seed = None
                    outcome.summary["peak_rss_mb"] = round(worker.peak / 2**20)
                    yield seed, case, outcome
                elif not worker.process.is_alive():
                    self.workers[index] = self._replace(worker)
                    yield seed, None, Outcome("over budget", "worker died", "the worker process died")
                elif worker.peak > self.memory_bytes:
                    self.workers[index] = self._replace(worker)
                    mb = worker.peak // 2**20
                    yield seed, None, Outcome("over budget", f"memory over {mb} MB", f"killed at {mb} MB resident")
                elif time.monotonic() - worker.started > self.timeout_s:
                    self.workers[index] = self._replace(worker)
                    yield seed, None, Outcome("over budget", f"time over {self.timeout_s:g} s", "killed")
            time.sleep(POLL_S)

    def close(self) -> None:
        for worker in self.workers:
            worker.process.kill()
            worker.process.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=200, help="how many programs")
    parser.add_argument("--seed", type=int, default=0, help="the first program's seed")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    parser.add_argument("--memory-mb", type=int, default=4096, help="resident memory limit per program")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per program")
    parser.add_argument("--exact-shapes", action="store_true",
                        help="run each model at its own shape (default: zero-padded to shared shapes)")
    parser.add_argument("--failures", type=Path, help="save every failing program here as SEED.rasp")
    parser.add_argument("--attention", choices=("soft", "hard"), default="soft", help="the heads compiled")
    parser.add_argument("--length-free", action="store_true",
                        help="compile every program causally, hard and length-free (docs/compiler.md)")
    args = parser.parse_args()

    console = Console()
    seeds = list(range(args.seed, args.seed + args.count))
    counts: Counter[str] = Counter()
    refusals: Counter[str] = Counter()
    failures: list[tuple[int, Case | None, Outcome]] = []
    started = time.monotonic()
    options = {"share_shapes": not args.exact_shapes, "attention": args.attention, "length_free": args.length_free}
    pool = Pool(args.jobs, args.memory_mb * 2**20, args.timeout, options)
    try:
        for done, (seed, case, outcome) in enumerate(pool.run(seeds), start=1):
            counts[outcome.kind] += 1
            if outcome.kind == "refused":
                refusals[outcome.reason] += 1
            elif outcome.kind != "exact":
                failures.append((seed, case or generate(seed), outcome))
            if done % 100 == 0:
                console.print(f"{done}/{len(seeds)} programs, {time.monotonic() - started:.0f} s", style="dim")
    finally:
        pool.close()
    elapsed = time.monotonic() - started

    for seed, case, outcome in sorted(failures, key=lambda item: item[0]):
        path = f"fuzz_{seed}.rasp"
        if args.failures:
            args.failures.mkdir(parents=True, exist_ok=True)
            path = str(args.failures / f"fuzz_{seed}.rasp")
            Path(path).write_text(case.header() + f"# {outcome.kind}: {outcome.reason}\n" + case.source)
        console.rule(f"seed {seed}: {outcome.kind} ({outcome.reason})")
        console.print(case.header() + case.source, markup=False, highlight=False, soft_wrap=True)
        console.print(outcome.detail.strip().splitlines()[-1] if outcome.detail.strip() else "", markup=False)
        saved = "" if args.failures else f" (after saving the source above as {path})"
        if args.length_free:
            command = replace(case, causal=True).command(path) + " --attention hard --length-free"
        else:
            command = case.command(path) + (" --attention hard" if args.attention == "hard" else "")
        console.print(f"reproduce{saved}: {command}", markup=False, highlight=False, soft_wrap=True)

    table = Table(title=f"{args.count} random programs (seeds {args.seed}..{args.seed + args.count - 1}), "
                  f"{'length-free' if args.length_free else args.attention} attention, "
                  f"{elapsed:.0f} s with {args.jobs} jobs")
    table.add_column("outcome")
    table.add_column("programs", justify="right")
    table.add_column("%", justify="right")
    for kind in OUTCOMES:
        table.add_row(kind, str(counts[kind]), f"{100 * counts[kind] / max(args.count, 1):.1f}")
    console.print(table)
    if refusals:
        reasons = Table(title="refusals by reason")
        reasons.add_column("reason")
        reasons.add_column("programs", justify="right")
        for reason, number in refusals.most_common():
            reasons.add_row(reason, str(number))
        console.print(reasons)


if __name__ == "__main__":
    main()
