"""Every machine of a shape through one engine, checked token by token: the library behind
`rasp tm verify --all`.

`verify_enumeration` runs a range of machines of a class through an engine: the brute-force
class (every table, `turing.enumeration`: positions are machine numbers) or its tree normal
form (`turing.tree_normal_form`: the machines reached from the blank tape, numbered in
order; a position picks the machine number).  An engine that checks many machines at once
(`bulk`: the universal engine on the compact program's length-free model, `turing.bulk`)
takes chunks of BULK_CHUNK numbers in arrays, and the machines it marks wrong go through the
harness for their reports; any other engine takes chunks of CHUNK machines through the harness
(`turing.harness.run_machines`).  Only counts and mismatches are kept, so memory does not grow
with the enumeration.

With a `checkpoint` file, the counts after every chunk are written there (atomically), and a
run started with the same file and the same arguments resumes after the last chunk written:
its final counts are those of a run never interrupted.  With several processes
(`turing.processes`) each runs its contiguous share (and keeps its own checkpoint,
`checkpoint_path`) and the counts and mismatches are gathered, so every process returns the
summary of the whole range.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from compiled_model.serialization import written_atomically
from rasp.errors import UsageError
from turing.bulk import Checker
from turing.engines.base import Batch, Engine
from turing.enumeration import machine_at, machine_count
from turing.harness import TraceRun, run_machines
from turing.processes import Processes
from turing.shape import Shape
from turing.tree_normal_form import tnf_numbers

CHUNK = 512
"""Machines handed to the harness at once: large enough for full batches, small enough that the
progress bar moves and the runs of one chunk fit in memory."""

BULK_CHUNK = 16_384
"""Machines an engine that checks in arrays takes at once (and the checkpoint's step): its
prefixes' states and inputs take a few tens of megabytes."""

CLASSES = ("all", "tnf")
"""The classes enumerated: every table (brute force), or the tree normal form."""


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
    """What `verify_enumeration` found over positions `start` to `stop - 1` of the class
    (`machine_class`: "all" or "tnf", of `class_size` machines; all processes), and this
    process's own `share` of them.  `resumed_at`: the position a checkpoint resumed from."""

    states: int
    symbols: int
    max_steps: int
    start: int
    stop: int
    share: range
    processes: int
    machine_class: str = "all"
    class_size: int = 0
    machines: int = 0
    halted: int = 0
    tokens: int = 0
    seconds: float = 0.0
    mismatches: list[Mismatch] = field(default_factory=list)
    batches: list[Batch] = field(default_factory=list)
    checked_in_arrays: bool = False
    resumed_at: int | None = None

    @property
    def total(self) -> int:
        """How many machines the shape has (the brute-force class)."""
        return machine_count(self.states, self.symbols)


def class_numbers(machine_class: str, states: int, symbols: int, max_steps: int) -> np.ndarray | None:
    """The machine numbers of the tree-normal-form class in order, or None for the brute-force
    class (whose positions are its numbers)."""
    if machine_class not in CLASSES:
        raise UsageError(f"unknown machine class {machine_class!r}; the classes are {', '.join(CLASSES)}")
    return tnf_numbers(states, symbols, max_steps) if machine_class == "tnf" else None


def verify_enumeration(
    engine: Engine,
    states: int,
    symbols: int,
    max_steps: int,
    start: int = 0,
    count: int | None = None,
    processes: Processes | None = None,
    on_chunk: Callable[[int, int], None] | None = None,
    chunk: int | None = None,
    machine_class: str = "all",
    checkpoint: str | Path | None = None,
) -> Enumeration:
    """Positions `start` .. `start + count - 1` of the class (to the last when `count` is
    None), this process's share of them run through `engine` for `max_steps` steps each;
    `on_chunk` hears how many machines each finished chunk held, and how many the share holds.
    The result counts the whole range, gathered from every process."""
    numbers = class_numbers(machine_class, states, symbols, max_steps)
    size = machine_count(states, symbols) if numbers is None else len(numbers)
    if not 0 <= start < size:
        raise UsageError(f"--start must be in 0..{size - 1} for the {size:,} machines of the class, got {start}")
    if count is not None and count < 1:
        raise UsageError(f"--count must be at least 1, got {count}")
    stop = size if count is None else min(start + count, size)
    processes = processes or Processes()
    share = processes.share(start, stop)
    result = Enumeration(states, symbols, max_steps, start, stop, share, processes.count, machine_class, size)
    bulk = getattr(engine, "bulk", None)
    checker = bulk(Shape(states, symbols), max_steps) if bulk is not None and share else None
    result.checked_in_arrays = checker is not None
    step = chunk or (BULK_CHUNK if checker is not None else CHUNK)
    path = None if checkpoint is None else checkpoint_path(checkpoint, processes)
    done = share.start if path is None else _resumed(path, result, engine)
    began = time.perf_counter() - result.seconds
    for first in range(done, share.stop, step):
        positions = np.arange(first, min(first + step, share.stop))
        machine_numbers = positions if numbers is None else numbers[positions]
        if checker is None:
            _through_harness(engine, machine_numbers, result)
        else:
            _in_arrays(engine, checker, machine_numbers, result)
        result.seconds = time.perf_counter() - began
        if path is not None:
            _save(path, result, engine, next_position=int(positions[-1]) + 1)
        if on_chunk is not None:
            on_chunk(len(positions), len(share))
    result.seconds = time.perf_counter() - began
    return _gathered(result, processes)


def _mismatches(engine: Engine, numbers: np.ndarray, result: Enumeration) -> tuple[list[TraceRun], list[Mismatch]]:
    """Machines `numbers` run through the harness, one decoder each: the runs and the mismatches."""
    cases = [(machine_at(int(number), result.states, result.symbols), ()) for number in numbers]
    runs = run_machines(engine, cases, result.max_steps)
    found = [
        Mismatch(int(number), run.machine.to_text(), run.divergence, run.report())
        for number, run in zip(numbers, runs)
        if run.divergence is not None
    ]
    return runs, found


def _through_harness(engine: Engine, numbers: np.ndarray, result: Enumeration) -> None:
    """Machines `numbers` run through the harness into `result`."""
    runs, found = _mismatches(engine, numbers, result)
    result.machines += len(runs)
    result.halted += sum(run.halted for run in runs)
    result.tokens += sum(len(run.tokens) for run in runs)
    result.mismatches += found
    result.batches = merged([*result.batches, *(engine.batches or [])])


def _in_arrays(engine: Engine, checker: Checker, numbers: np.ndarray, result: Enumeration) -> None:
    """Machines `numbers` checked at once by the engine's `checker` (`turing.bulk`) into
    `result`; the machines it marks wrong run again through the harness, which reports where
    they leave the reference and counts what they generated (the reference's counts stand for
    the others: they generate it).  A machine marked wrong whose generation the harness finds
    right stops the run with an error: the two checks must agree, and neither may be trusted
    silently."""
    began = time.perf_counter()
    runs, wrong = checker(numbers)
    seconds = time.perf_counter() - began
    right = ~wrong
    generated, found = _mismatches(engine, numbers[wrong], result) if wrong.any() else ([], [])
    if len(found) != int(wrong.sum()):
        agreed = {mismatch.index for mismatch in found}
        missing = [int(number) for number in numbers[wrong] if int(number) not in agreed]
        raise RuntimeError(
            f"internal error: the array check marks machines {missing[:5]} wrong, but generating their "
            "traces one by one matches the reference; please report it"
        )
    result.machines += len(numbers)
    result.halted += int(runs.halted[right].sum()) + sum(run.halted for run in generated)
    result.tokens += int(runs.trace_tokens[right].sum()) + sum(len(run.tokens) for run in generated)
    result.mismatches += found
    batch = Batch(checker.model.max_seq_len, len(numbers), checker.dtype, checker.summary, seconds)
    result.batches = merged([*result.batches, batch])


CHECKPOINT_FORMAT = "rasp-toolkit enumeration checkpoint"
CHECKPOINT_VERSION = 1


def checkpoint_path(path: str | Path, processes: Processes) -> Path:
    """The checkpoint file of this process: `path` itself for one process, else with
    `.P-of-N` before its suffix (each process resumes its own share)."""
    path = Path(path)
    if processes.count == 1:
        return path
    return path.with_name(f"{path.stem}.{processes.process_id}-of-{processes.count}{path.suffix}")


def _run_key(result: Enumeration, engine: Engine) -> dict[str, Any]:
    """What a checkpoint must agree on to be resumed: the class, the range, the share, the
    step budget and the engine."""
    return {
        "engine": engine.name,
        "trace_format": engine.trace_format.name,
        "attention": str(getattr(engine, "attention", None)),
        "states": result.states,
        "symbols": result.symbols,
        "max_steps": result.max_steps,
        "class": result.machine_class,
        "start": result.start,
        "stop": result.stop,
        "share": [result.share.start, result.share.stop],
    }


def _save(path: Path, result: Enumeration, engine: Engine, next_position: int) -> None:
    """The counts so far and the next position, written atomically (a run killed while writing
    leaves the previous checkpoint whole)."""
    record = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "run": _run_key(result, engine),
        "next": next_position,
        "counts": {"machines": result.machines, "halted": result.halted, "tokens": result.tokens},
        "seconds": result.seconds,
        "mismatches": [asdict(mismatch) for mismatch in result.mismatches],
    }
    with written_atomically(path) as temporary:
        temporary.write_text(json.dumps(record))


def _resumed(path: Path, result: Enumeration, engine: Engine) -> int:
    """The position to start from: the share's start when `path` does not exist, else the
    checkpoint's next position, with its counts put into `result`.  A checkpoint of another
    run, or one that is not a checkpoint, is refused (UsageError: exit 2): resuming it would
    add counts that do not belong to this run."""
    if not path.exists():
        return result.share.start
    problem = f"the checkpoint {path} cannot be resumed"
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UsageError(f"{problem}: it is not a checkpoint file ({error})", hint="remove it to start again") from None
    if not isinstance(record, dict) or record.get("format") != CHECKPOINT_FORMAT:
        raise UsageError(f"{problem}: it is not a checkpoint file", hint="remove it to start again")
    if record.get("version") != CHECKPOINT_VERSION:
        raise UsageError(f"{problem}: it was written by another version ({record.get('version')!r})")
    wanted, saved = _run_key(result, engine), record.get("run")
    if not isinstance(saved, dict) or saved != wanted:
        differ = sorted(key for key in wanted if not isinstance(saved, dict) or saved.get(key) != wanted[key])
        raise UsageError(
            f"{problem}: it belongs to another run (it differs in {', '.join(differ)})",
            hint="pass the arguments it was written with, or another --checkpoint file",
        )
    try:
        next_position, counts = record["next"], record["counts"]
        machines, halted, tokens = (counts[key] for key in ("machines", "halted", "tokens"))
        mismatches = [Mismatch(**mismatch) for mismatch in record["mismatches"]]
        seconds = float(record["seconds"])
        if not all(isinstance(m.index, int) and isinstance(m.divergence, int) for m in mismatches):
            raise TypeError("a mismatch's number or position is not an integer")
    except (KeyError, TypeError, ValueError) as error:
        raise UsageError(f"{problem}: it is damaged ({error!r})", hint="remove it to start again") from None
    share = result.share
    plain = all(isinstance(value, int) and value >= 0 for value in (next_position, machines, halted, tokens))
    if not plain or not share.start <= next_position <= share.stop or machines != next_position - share.start:
        raise UsageError(f"{problem}: its counts are inconsistent", hint="remove it to start again")
    result.machines, result.halted, result.tokens, result.seconds = machines, halted, tokens, seconds
    result.mismatches, result.resumed_at = mismatches, next_position
    return next_position


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
