"""The one interface every engine serves, and the registry of engines by name.

An engine predicts a Turing machine's trace, token by token.  `decoder(machine, capacity)`
starts one generation: a `TraceDecoder` holds a context that only grows (the interface of a
KV-cached transformer) and `extend` returns the prediction after the tokens it was given.
`decoders(jobs)` starts many at once; the default makes each decoder when it is first used, and
an engine that can generate many machines together (the compiled one, in one jitted call)
overrides it and says what it did in `batches`.  The harness (`turing.harness`) drives every
engine through these methods alone and compares what they generate with the reference.

Engines register themselves where they are defined (`@register`); importing `turing.engines`
imports them all, so `ENGINES` is complete (docs/architecture.md: adding an engine).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar, Protocol, TypeVar

from rasp.errors import RaspError
from turing.formats import TAPE_COPY, TraceFormat
from turing.machine import Machine
from turing.program import TuringProgram


class TraceDecoder(Protocol):
    """One generation: a context that only grows, and the prediction after it."""

    def extend(self, tokens: Sequence[str]) -> str:
        """Append `tokens` (at least one) to the context; return the predicted next token."""
        ...


@dataclass(frozen=True)
class Job:
    """One generation an engine is asked for: `machine` on input `tape`, fed at most `capacity`
    tokens (the reference trace and the slack a mismatch report needs; `turing.harness.capacity`).
    `trace` is the reference trace itself, for an engine that checks by teacher forcing
    (`turing.engines.universal`); empty when the caller has none."""

    machine: Machine
    tape: tuple[str, ...]
    capacity: int
    trace: tuple[str, ...] = ()


@dataclass(frozen=True)
class Batch:
    """What a batching engine generated together: the machines whose runs fit models of
    `max_seq_len` positions, run by models padded to one shape (`summary`, that shape's model
    summary) in `dtype`, in `seconds`.  `padded_to`: the length a teacher-forcing engine padded
    this batch's inputs to (None for generation, which runs to the model's length)."""

    max_seq_len: int
    machines: int
    dtype: str
    summary: dict[str, Any]
    seconds: float
    padded_to: int | None = None


class EngineError(RaspError):
    """An engine cannot predict from its context (raised by engines, recorded by the harness)."""


class Engine(ABC):
    """Something that can run a Turing Program for a machine.

    `options` names the keyword arguments the constructor takes besides none at all: `program`
    (a `turing.program.TuringProgram`) for engines that run RASP, `dtype` for engines with a
    float type.  `batches` is None for an engine that generates one machine at a time, else the
    batches of its last `decoders` call."""

    name: ClassVar[str]
    options: ClassVar[frozenset[str]] = frozenset()
    batches: list[Batch] | None = None
    program: TuringProgram | None = None

    @property
    def trace_format(self) -> TraceFormat:
        """The format of the traces this engine writes: its program's (an engine without one
        writes the tape-copy trace)."""
        return TAPE_COPY if self.program is None else self.program.trace_format

    def admit(self, jobs: Sequence[Job]) -> None:
        """Raise a RaspError when the engine cannot take these jobs at all (a model too short
        for one, a float type the model is not exact in), and prepare what they need (load a
        model).  The harness calls it with every job before generating anything, so that such
        a run is refused as a user error rather than recorded as a failed one.  Most engines
        take every job and prepare nothing."""
        return None

    @abstractmethod
    def decoder(self, machine: Machine, capacity: int | None = None) -> TraceDecoder:
        """A fresh generation for `machine` that will be fed at most `capacity` tokens (None:
        not known; a bounded engine then picks a default)."""

    def decoders(self, jobs: Sequence[Job]) -> list[Callable[[], TraceDecoder]]:
        """One decoder factory per job, in order.  The harness calls each where it records an
        engine failure, so a decoder that cannot be built fails its run only."""
        return [partial(self.decoder, job.machine, job.capacity) for job in jobs]


ENGINES: dict[str, type[Engine]] = {}
"""Engines by name, in the order they registered."""

E = TypeVar("E", bound=type[Engine])


def register(engine: E) -> E:
    """Class decorator: make `engine` available by its `name` (`engine_named`, `rasp tm --engine`)."""
    ENGINES[engine.name] = engine
    return engine


def engine_named(name: str, **options: Any) -> Engine:
    """A new engine of the given name built with `options`; an unknown name is a user error."""
    try:
        engine = ENGINES[name]
    except KeyError:
        raise EngineError(f"unknown engine {name!r}; the engines are {', '.join(ENGINES)}") from None
    return engine(**options)


def engines_taking(option: str) -> list[str]:
    """The names of the engines whose constructor takes `option`, in registration order."""
    return [name for name, engine in ENGINES.items() if option in engine.options]
