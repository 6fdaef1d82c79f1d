"""Every machine of a shape through one engine, checked token by token: the library behind
`rasp tm verify --all`.

`verify_enumeration` runs machines number `start` to `start + count - 1` of the enumeration
(`turing.enumeration`, busy-beaver notation) on the blank tape through an engine, in chunks that
the engine takes at once (`turing.harness.run_machines`: the universal engine checks a chunk by
teacher forcing in a few batched forward passes), and keeps counts and the mismatches only, so
that memory does not grow with the enumeration.  With several processes (`turing.processes`)
each runs its contiguous share and the counts and mismatches are gathered, so every process
returns the summary of the whole range.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from rasp.errors import UsageError
from turing.engines.base import Batch, Engine
from turing.enumeration import machine_at, machine_count
from turing.harness import run_machines
from turing.processes import Processes

CHUNK = 512
"""Machines handed to the engine at once: large enough for full batches, small enough that the
progress bar moves and the runs of one chunk fit in memory."""


@dataclass(frozen=True)
class Mismatch:
    """A machine whose generated trace left the reference: its number, its busy-beaver text,
    the first wrong position, and the report (empty when another process found it)."""

    index: int
    machine: str
    divergence: int
    report: str = ""


@dataclass
class Enumeration:
    """What `verify_enumeration` found over machines `start` to `stop - 1` (all processes), and
    this process's own `share` of them."""

    states: int
    symbols: int
    max_steps: int
    start: int
    stop: int
    share: range
    processes: int
    machines: int = 0
    halted: int = 0
    tokens: int = 0
    seconds: float = 0.0
    mismatches: list[Mismatch] = field(default_factory=list)
    batches: list[Batch] = field(default_factory=list)

    @property
    def total(self) -> int:
        """How many machines the shape has."""
        return machine_count(self.states, self.symbols)


def verify_enumeration(
    engine: Engine,
    states: int,
    symbols: int,
    max_steps: int,
    start: int = 0,
    count: int | None = None,
    processes: Processes | None = None,
    on_chunk: Callable[[int, int], None] | None = None,
    chunk: int = CHUNK,
) -> Enumeration:
    """Machines `start` .. `start + count - 1` of the shape (to the last when `count` is None),
    this process's share of them run through `engine` for `max_steps` steps each; `on_chunk`
    hears how many machines each finished chunk held, and how many the share holds.  The result counts the whole range,
    gathered from every process."""
    total = machine_count(states, symbols)
    if not 0 <= start < total:
        raise UsageError(f"--start must be in 0..{total - 1} for {states} states and {symbols} symbols, got {start}")
    if count is not None and count < 1:
        raise UsageError(f"--count must be at least 1, got {count}")
    stop = total if count is None else min(start + count, total)
    processes = processes or Processes()
    share = processes.share(start, stop)
    result = Enumeration(states, symbols, max_steps, start, stop, share, processes.count)
    began = time.perf_counter()
    for first in range(share.start, share.stop, chunk):
        numbers = range(first, min(first + chunk, share.stop))
        cases = [(machine_at(number, states, symbols), ()) for number in numbers]
        runs = run_machines(engine, cases, max_steps)
        result.machines += len(runs)
        result.halted += sum(run.halted for run in runs)
        result.tokens += sum(len(run.tokens) for run in runs)
        result.mismatches += [
            Mismatch(number, run.machine.to_text(), run.divergence, run.report())
            for number, run in zip(numbers, runs)
            if run.divergence is not None
        ]
        result.batches = merged([*result.batches, *(engine.batches or [])])
        if on_chunk is not None:
            on_chunk(len(runs), len(share))
    result.seconds = time.perf_counter() - began
    return _gathered(result, processes)


def merged(batches: list[Batch]) -> list[Batch]:
    """One batch per model length, padded length and float type: the chunks' batches added up
    (so the summary has a row per XLA compilation, not per chunk)."""
    rows: dict[tuple[int, int | None, str], Batch] = {}
    for batch in batches:
        key = (batch.max_seq_len, batch.padded_to, batch.dtype)
        seen = rows.get(key)
        rows[key] = batch if seen is None else replace(
            seen, machines=seen.machines + batch.machines, seconds=seen.seconds + batch.seconds
        )
    return sorted(rows.values(), key=lambda batch: (batch.max_seq_len, batch.padded_to or 0))


def _gathered(result: Enumeration, processes: Processes) -> Enumeration:
    """`result` with the counts and mismatches of every process's share (the time: the slowest
    share's).  Mismatches found elsewhere come back as numbers and are described again here."""
    if processes.count == 1:
        return result
    counts = processes.gather(np.array([result.machines, result.halted, result.tokens, len(result.mismatches)]))
    found = np.full((max(1, int(counts[:, 3].max())), 2), -1, np.int64)
    for row, mismatch in enumerate(result.mismatches):
        found[row] = mismatch.index, mismatch.divergence
    everywhere = processes.gather(found).reshape(-1, 2)
    seconds = processes.gather(np.array([int(result.seconds * 1e6)]))
    own = {mismatch.index: mismatch for mismatch in result.mismatches}
    result.machines, result.halted, result.tokens = (int(value) for value in counts[:, :3].sum(axis=0))
    result.mismatches = [
        own.get(index) or Mismatch(index, machine_at(index, result.states, result.symbols).to_text(), divergence)
        for index, divergence in sorted(everywhere.tolist())
        if index >= 0
    ]
    result.seconds = float(seconds.max()) / 1e6
    return result
