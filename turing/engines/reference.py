"""The `reference` engine: the simulator itself, predicting the trace the harness checks
against.  It needs no RASP; it is the control of every comparison."""

from __future__ import annotations

from collections.abc import Sequence

from turing.engines.base import Engine, EngineError, TraceDecoder, register
from turing.machine import Machine
from turing.simulator import step
from turing.tokens import END, SEP, START
from turing.trace import TraceError, parse_trace


@register
class ReferenceEngine(Engine):
    """The simulator as an engine: after each `|` it steps the configuration just closed."""

    name = "reference"

    def decoder(self, machine: Machine, capacity: int | None = None) -> TraceDecoder:
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
