"""Running and verifying Turing machines through any engine, token by token, against the
reference trace: the library behind `rasp tm run` and `rasp tm verify`.

The harness starts an engine's decoder on the prompt of its program's trace format
(`turing.formats`: `$ C0 |`, or `$ x0 ... |` for the compact trace), feeds every prediction
back (autoregressive generation), compares each generated token with the reference trace in
that format, and stops at `#`, at the step or token budget, or shortly after the first
mismatch (once the step being written is finished, so that a report can show it).  It knows
engines only through `turing.engines.base.Engine`: `run_machine` asks for one decoder,
`run_machines` for one per machine at once, which lets a batching engine generate them
together.  An engine that cannot take a job at all refuses it before anything runs
(`Engine.admit` raises), so the caller sees a user error.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from rasp.errors import RaspError
from turing.engines.base import Batch, Engine, Job, TraceDecoder
from turing.errors import TuringError
from turing.formats import FinalTape, TraceFormat
from turing.machine import Machine
from turing.simulator import DEFAULT_MAX_STEPS
from turing.tokens import END
from turing.trace import first_divergence


@dataclass(frozen=True)
class TraceRun:
    """One generation compared with the reference.

    `tokens` is the generated trace, the prompt included; `expected` the reference trace to
    the same step budget, both in `trace_format`, the engine's program's.  `divergence` is the
    first position where `tokens` differs from `expected` (cut to the length generated when the
    token budget stopped the run), or None.
    `error` is the engine's message when it failed to predict; the run stops there.
    """

    engine: str
    machine: Machine
    tape: tuple[str, ...]
    tokens: list[str]
    expected: list[str]
    divergence: int | None
    error: str | None
    seconds: float
    trace_format: TraceFormat

    @property
    def matches(self) -> bool:
        return self.divergence is None

    def _repr_png_(self) -> bytes:
        """Jupyter's display: the run's space-time picture (turing.plot; needs matplotlib)."""
        from rasp.notebook import png_bytes
        from turing.plot import plot_spacetime

        return png_bytes(lambda path: plot_spacetime(self.machine, self.tape, self.steps, path))

    @property
    def halted(self) -> bool:
        return self.tokens[-1:] == [END]

    @property
    def steps(self) -> int:
        """The steps the generated trace has completed."""
        return self.trace_format.steps(self.tokens)

    def final(self) -> FinalTape | None:
        """Where the generated trace leaves the machine, or None when it is malformed there
        (possible only after a divergence)."""
        return self.trace_format.final(self.tokens, self.machine)

    def report(self) -> str:
        """Where and how the generated trace left the reference ('' when it did not)."""
        if self.divergence is None:
            return ""
        lines = []
        if first_divergence(self.expected, self.tokens) is not None:
            lines.append(self.trace_format.describe_divergence(self.expected, self.tokens, self.machine))
        if self.error:
            lines.append(f"the {self.engine} engine failed after {len(self.tokens)} tokens: {self.error}")
        return "\n".join(lines)


def run_machine(
    engine: Engine,
    machine: Machine,
    tape: Sequence[str] = (),
    max_steps: int = DEFAULT_MAX_STEPS,
    max_tokens: int | None = None,
) -> TraceRun:
    """Generate the trace of `machine` on `tape` with one decoder of `engine` and compare it
    with the reference in the engine's trace format (simulated no further than `max_tokens`
    needs).

    Generation stops at `#`; after the `|` closing configuration `max_steps` unless the engine
    then predicts `#`; when the trace has `max_tokens` tokens; when the engine fails; or, after
    the first mismatch, once the configuration being written is closed (or has run 4 tokens past
    the expected one), so that `report` can show it.  An engine failure counts as a mismatch.
    """
    start = time.perf_counter()
    trace_format = engine.trace_format
    expected = trace_format.reference(machine, tape, max_steps, max_tokens)
    needed = trace_format.capacity(expected, max_tokens)
    engine.admit([Job(machine, tuple(tape), needed, tuple(expected))])
    return _generate(
        engine.name, lambda: engine.decoder(machine, needed),
        machine, tuple(tape), expected, max_steps, max_tokens, start, trace_format,
    )


def run_machines(
    engine: Engine,
    cases: Iterable[tuple[Machine, Sequence[str]]],
    max_steps: int | Sequence[int],
    on_run: Callable[[TraceRun], None] | None = None,
) -> list[TraceRun]:
    """`run_machine(engine, machine, tape, steps)` for every case, with `max_steps` one budget
    for all or one per case; the engine is asked for all the decoders at once (`decoders`), so
    that it may generate them together.  `on_run` sees each run as it is checked."""
    cases = [(machine, tuple(tape)) for machine, tape in cases]
    budgets = [max_steps] * len(cases) if isinstance(max_steps, int) else list(max_steps)
    if len(budgets) != len(cases):
        raise RaspError(f"{len(budgets)} step budgets for {len(cases)} machines")
    trace_format = engine.trace_format
    expected = [trace_format.reference(machine, tape, steps) for (machine, tape), steps in zip(cases, budgets)]
    jobs = [
        Job(machine, tape, trace_format.capacity(trace), tuple(trace))
        for (machine, tape), trace in zip(cases, expected)
    ]
    engine.admit(jobs)
    runs = []
    for job, decoder, trace, steps in zip(jobs, engine.decoders(jobs), expected, budgets):
        run = _generate(
            engine.name, decoder, job.machine, job.tape, trace, steps, None, time.perf_counter(), trace_format
        )
        if on_run is not None:
            on_run(run)
        runs.append(run)
    return runs


@dataclass(frozen=True)
class EngineVerification:
    """Runs of one engine checked against the reference: what `rasp tm verify` reports.
    `batches` is the engine's account of its batches (None for an engine that does not batch)."""

    engine: str
    runs: list[TraceRun]
    seconds: float
    batches: list[Batch] | None

    @property
    def mismatches(self) -> list[TraceRun]:
        return [run for run in self.runs if not run.matches]

    @property
    def tokens(self) -> int:
        return sum(len(run.tokens) for run in self.runs)

    @property
    def halted(self) -> int:
        return sum(run.halted for run in self.runs)


def verify_machines(
    engine: Engine,
    cases: Iterable[tuple[Machine, Sequence[str]]],
    max_steps: int,
    on_run: Callable[[TraceRun], None] | None = None,
) -> EngineVerification:
    """Every case run through `engine` (`run_machines`) and timed as a whole."""
    start = time.perf_counter()
    runs = run_machines(engine, cases, max_steps, on_run)
    return EngineVerification(engine.name, runs, time.perf_counter() - start, engine.batches)


def _generate(
    engine: str,
    make_decoder: Callable[[], TraceDecoder],
    machine: Machine,
    tape: tuple[str, ...],
    expected: list[str],
    max_steps: int,
    max_tokens: int | None,
    start: float,
    trace_format: TraceFormat,
) -> TraceRun:
    """One generation from the decoder `make_decoder` builds, compared with `expected`."""
    tokens = trace_format.prompt(machine, tape)
    limit = math.inf if max_tokens is None else max_tokens
    stop_at = math.inf  # set at the first mismatch
    closed = 1  # steps closed so far, the prompt's counted as one (`C0 |`)
    error = None
    try:
        decoder = make_decoder()
        prediction = decoder.extend(tokens)
        while len(tokens) < min(limit, stop_at):
            if closed > max_steps and prediction != END:
                break
            position = len(tokens)
            tokens.append(prediction)
            if stop_at == math.inf and expected[position : position + 1] != [prediction]:
                stop_at = position + trace_format.rest_of_step(expected, position) + 4
            if prediction == END or (stop_at < math.inf and trace_format.closes_step(prediction)):
                break
            closed += trace_format.closes_step(prediction)
            prediction = decoder.extend([prediction])
    except (RaspError, TuringError) as failure:
        error = failure.message
    truncated = error is None and len(tokens) >= limit and tokens[-1] != END
    divergence = first_divergence(expected[: len(tokens)] if truncated else expected, tokens)
    if error is not None and divergence is None:
        divergence = len(tokens)
    return TraceRun(
        engine=engine,
        machine=machine,
        tape=tape,
        tokens=tokens,
        expected=expected,
        divergence=divergence,
        error=error,
        seconds=time.perf_counter() - start,
        trace_format=trace_format,
    )
