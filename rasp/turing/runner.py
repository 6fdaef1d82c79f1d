"""Running a Turing machine through an engine, token by token, against the reference trace.

An engine predicts the trace's next token from the tokens so far.  The runner starts it on
`$ C0 |`, feeds every prediction back (autoregressive generation), compares each generated token
with the reference simulator's trace, and stops at `#`, at the step or token budget, or shortly
after the first mismatch (once the configuration being written is finished, so that a report can
show it).

The engine interface is the one a KV-cached transformer has: a `Decoder` holds a growing context
and `extend` appends tokens (the prompt at once, then one token at a time) and returns the
prediction after the last one.  Engines here: `reference` (the simulator) and `interpreter` (the
RASP program); the compiled transformer plugs in the same way from outside the language core.
"""

from __future__ import annotations

import math
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from rasp import ir
from rasp.errors import RaspError
from rasp.interpreter import IncrementalEvaluator, Interpreter
from rasp.turing.machine import Machine
from rasp.turing.program import next_token_sop
from rasp.turing.random_machines import random_machine, random_tape
from rasp.turing.simulator import DEFAULT_MAX_STEPS, Configuration, initial_configuration, step
from rasp.turing.tokens import END, SEP, START
from rasp.turing.trace import TraceError, describe_divergence, encode_trace, first_divergence, parse_trace, trace_of


class Decoder(Protocol):
    """One generation: a context that only grows, and the prediction after it."""

    def extend(self, tokens: Sequence[str]) -> str:
        """Append `tokens` (at least one) to the context; return the predicted next token."""
        ...


class Engine(Protocol):
    """Something that can run the Turing Program for a machine."""

    name: str

    def decoder(self, machine: Machine) -> Decoder:
        """A fresh generation for `machine`, with an empty context."""
        ...


class BoundedEngine(ABC):
    """An engine whose decoders hold a bounded context, as a transformer's KV cache does:
    `run_machine` tells `decoder` how many tokens the run can feed it (`capacity`)."""

    name: str

    @abstractmethod
    def decoder(self, machine: Machine, capacity: int | None = None) -> Decoder:
        """A fresh generation for `machine` that can take `capacity` tokens (None: a default)."""


class EngineError(RaspError):
    """An engine cannot predict from its context (raised by engines, recorded by the runner)."""


# ------------------------------------------------------------------------------- engines


class ReferenceEngine:
    """The simulator as an engine: after each `|` it steps the configuration just closed."""

    name = "reference"

    def decoder(self, machine: Machine) -> Decoder:
        return _ReferenceDecoder(machine)


class _ReferenceDecoder:
    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.current: list[str] = []  # tokens since the last `$` or `|`
        self.upcoming: tuple[str, ...] | None = None  # what follows the last `|`

    def extend(self, tokens: Sequence[str]) -> str:
        for token in tokens:
            if token == START:
                self.current, self.upcoming = [], None
            elif token == SEP:
                self.upcoming = self._successor(self.current)
                self.current = []
            else:
                self.current.append(token)
        if self.upcoming is None:
            raise EngineError("the reference engine predicts only after a complete configuration `$ C0 |`")
        if len(self.current) >= len(self.upcoming):
            raise EngineError("the trace has already ended")
        return self.upcoming[len(self.current)]

    def _successor(self, tokens: list[str]) -> tuple[str, ...]:
        try:
            (config,), _ = parse_trace([START, *tokens, SEP], self.machine)
        except TraceError as error:
            raise EngineError(f"the context's last configuration is malformed: {error.message}") from None
        successor = step(self.machine, config)
        return (END,) if successor is None else (*successor.tokens(), SEP)


class InterpreterEngine:
    """The RASP program `programs/turing_machine.rasp`, evaluated causally by the interpreter.

    Incremental (the default): values at earlier positions are kept, so a new token costs one
    new row per node, work proportional to the context.  With `incremental=False` the whole
    context is evaluated again for every token, which costs its square; only for comparison."""

    name = "interpreter"

    def __init__(self, incremental: bool = True) -> None:
        self.incremental = incremental

    def sop(self, machine: Machine) -> ir.SOp:
        """The program's output s-op for `machine` (subclasses run other Turing Programs)."""
        return next_token_sop(machine)

    def decoder(self, machine: Machine) -> Decoder:
        sop = self.sop(machine)
        return _IncrementalDecoder(sop) if self.incremental else _FullDecoder(sop)


class _IncrementalDecoder:
    def __init__(self, sop: ir.SOp) -> None:
        self.evaluator = IncrementalEvaluator(sop)

    def extend(self, tokens: Sequence[str]) -> str:
        # str(): on a context that is no trace (after a divergence) the output may be a number.
        return str(self.evaluator.extend(tokens)[-1])


class _FullDecoder:
    def __init__(self, sop: ir.SOp) -> None:
        self.sop = sop
        self.context: list[str] = []
        self.interpreter = Interpreter(memory=1)

    def extend(self, tokens: Sequence[str]) -> str:
        self.context.extend(tokens)
        return str(self.interpreter.evaluate(self.sop, self.context, causal=True)[-1])


ENGINES: dict[str, Callable[[], Engine | BoundedEngine]] = {
    "reference": ReferenceEngine,
    "interpreter": InterpreterEngine,
}
"""Engines by name.  Layers that may import more (the command line) add theirs here."""


def engine_named(name: str) -> Engine | BoundedEngine:
    """A new engine of the given name; an unknown name is a user error (EngineError)."""
    try:
        return ENGINES[name]()
    except KeyError:
        raise EngineError(f"unknown engine {name!r}; the engines are {', '.join(ENGINES)}") from None


# --------------------------------------------------------------------------------- runs


@dataclass(frozen=True)
class TraceRun:
    """One generation compared with the reference.

    `tokens` is the generated trace, the prompt `$ C0 |` included; `expected` the reference
    trace to the same step budget.  `divergence` is the first position where `tokens` differs
    from `expected` (cut to the length generated when the token budget stopped the run), or None.
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

    @property
    def matches(self) -> bool:
        return self.divergence is None

    def _repr_png_(self) -> bytes:
        """Jupyter's display: the run's space-time picture (rasp.turing.plot; needs matplotlib)."""
        from rasp.notebook import png_bytes
        from rasp.turing.plot import configuration_spans, plot_spacetime

        steps = len(configuration_spans(self.tokens)) - 1
        return png_bytes(lambda path: plot_spacetime(self.machine, self.tape, steps, path))

    @property
    def halted(self) -> bool:
        return self.tokens[-1:] == [END]

    def final_configuration(self) -> Configuration | None:
        """The last configuration the generated trace closes, or None when that part of the
        trace is malformed (possible only after a divergence)."""
        closed = len(self.tokens) - self.tokens[::-1].index(SEP)
        try:
            configurations, _ = parse_trace(self.tokens[:closed], self.machine)
        except TraceError:
            return None
        return configurations[-1]

    def report(self) -> str:
        """Where and how the generated trace left the reference ('' when it did not)."""
        if self.divergence is None:
            return ""
        lines = []
        if first_divergence(self.expected, self.tokens) is not None:
            lines.append(describe_divergence(self.expected, self.tokens, self.machine))
        if self.error:
            lines.append(f"the {self.engine} engine failed after {len(self.tokens)} tokens: {self.error}")
        return "\n".join(lines)


def run_machine(
    engine: Engine | BoundedEngine,
    machine: Machine,
    tape: Sequence[str] = (),
    max_steps: int = DEFAULT_MAX_STEPS,
    max_tokens: int | None = None,
) -> TraceRun:
    """Generate the trace of `machine` on `tape` with `engine` and compare it with the reference.

    Generation stops at `#`; after the `|` closing configuration `max_steps` unless the engine
    then predicts `#`; when the trace has `max_tokens` tokens; when the engine fails; or, after
    the first mismatch, once the configuration being written is closed (or has run 4 tokens past
    the expected one), so that `report` can show it.  An engine failure counts as a mismatch.
    """
    start = time.perf_counter()
    expected = trace_of(machine, tape, max_steps)
    tokens = encode_trace([initial_configuration(machine, tape)], halted=False)
    limit = math.inf if max_tokens is None else max_tokens
    stop_at = math.inf  # set at the first mismatch
    closed = 1  # configurations closed by a `|` so far
    error = None
    try:
        if isinstance(engine, BoundedEngine):
            decoder = engine.decoder(machine, capacity(expected, max_tokens))
        else:
            decoder = engine.decoder(machine)
        prediction = decoder.extend(tokens)
        while len(tokens) < min(limit, stop_at):
            if closed > max_steps and prediction != END:
                break
            position = len(tokens)
            tokens.append(prediction)
            if stop_at == math.inf and expected[position : position + 1] != [prediction]:
                stop_at = position + _rest_of_configuration(expected, position) + 4
            if prediction == END or (stop_at < math.inf and prediction == SEP):
                break
            closed += prediction == SEP
            prediction = decoder.extend([prediction])
    except RaspError as failure:
        error = failure.message
    truncated = error is None and len(tokens) >= limit and tokens[-1] != END
    divergence = first_divergence(expected[: len(tokens)] if truncated else expected, tokens)
    if error is not None and divergence is None:
        divergence = len(tokens)
    return TraceRun(
        engine=engine.name,
        machine=machine,
        tape=tuple(tape),
        tokens=tokens,
        expected=expected,
        divergence=divergence,
        error=error,
        seconds=time.perf_counter() - start,
    )


def capacity(expected: Sequence[str], max_tokens: int | None = None) -> int:
    """How many tokens `run_machine` can feed a decoder when the reference trace is `expected`:
    the trace, and after a divergence at its end the rest of a configuration (at most the longest
    one, plus the tape's growth) and 4 tokens more."""
    bounds = [position for position, token in enumerate(expected) if token in (START, SEP)]
    longest = max((b - a for a, b in zip(bounds, bounds[1:])), default=len(expected))
    needed = len(expected) + longest + 5
    return needed if max_tokens is None else min(needed, max_tokens)


def _rest_of_configuration(trace: list[str], position: int) -> int:
    """How many tokens of `trace` from `position` to the end of its configuration."""
    for offset, token in enumerate(trace[position:]):
        if token in (SEP, END):
            return offset + 1
    return 0


def random_cases(
    count: int,
    n_states: int,
    n_symbols: int,
    seed: int = 0,
    n_moves: bool = False,
    max_tape: int = 4,
) -> Iterator[tuple[Machine, tuple[str, ...]]]:
    """`count` random machines, each with a random input tape of 0 to `max_tape` cells, all
    reproducible from `seed`."""
    rng = random.Random(seed)
    for _ in range(count):
        case_seed = rng.randrange(2**32)
        machine = random_machine(n_states, n_symbols, case_seed, allow_n_moves=n_moves)
        yield machine, random_tape(machine, rng.randint(0, max_tape), case_seed)
