"""The `reference` engine: the simulator itself, predicting the trace the harness checks
against.  It needs no RASP; it is the control of every comparison."""

from __future__ import annotations

from collections.abc import Sequence

from turing.compact import Tape, replay
from turing.engines.base import Engine, EngineError, TraceDecoder, register
from turing.errors import TuringError
from turing.formats import COMPACT, TAPE_COPY, TraceFormat
from turing.machine import Machine
from turing.simulator import step
from turing.tokens import END, SEP, START
from turing.trace import TraceError, parse_trace


@register
class ReferenceEngine(Engine):
    """The simulator as an engine, writing `trace_format`: in the tape-copy format it steps the
    configuration each `|` closes; in the compact one it replays the steps so far and names the
    next."""

    name = "reference"
    options = frozenset({"trace_format"})

    def __init__(self, trace_format: TraceFormat = TAPE_COPY) -> None:
        self._format = trace_format

    @property
    def trace_format(self) -> TraceFormat:
        return self._format

    def decoder(self, machine: Machine, capacity: int | None = None) -> TraceDecoder:
        if self.trace_format is COMPACT:
            return _CompactReferenceDecoder(machine)
        return _ReferenceDecoder(machine)


class _CompactReferenceDecoder:
    """Keeps the prompt until its `|`, then only the machine: memory O(cells), not O(steps)."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.prompt: list[str] = []
        self.tape: Tape | None = None  # the machine after the context, once the prompt is closed
        self.ended = False

    def extend(self, tokens: Sequence[str]) -> str:
        for token in tokens:
            if self.ended:
                raise EngineError("the trace has already ended")
            if self.tape is None:
                self.prompt.append(token)
                if token == SEP:
                    self.tape = self._start()
            elif token == END:
                self.ended = True
            else:
                step = self.tape.next_step()
                if step is None or self.tape.next_token() != token:
                    raise EngineError(f"the context's step {token!r} is not the machine's")
                self.tape.take(step)
        if self.tape is None:
            raise EngineError("the reference engine predicts only after a complete prompt `$ x0 ... |`")
        if self.ended:
            raise EngineError("the trace has already ended")
        return self.tape.next_token() or END

    def _start(self) -> Tape:
        try:
            tape, _ = replay(self.prompt, self.machine)
        except TuringError as error:
            raise EngineError(f"the context's prompt is malformed: {error.message}") from None
        return tape


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
