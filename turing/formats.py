"""The two trace formats a Turing Program may write, behind one interface for the harness.

- `TAPE_COPY` (`turing.trace`): `$ C0 | C1 | ... | CT | #`, every configuration written out,
  as in Hou et al. (2024); what `programs/turing_machine.rasp` and the n-gram program write.
- `COMPACT` (`turing.compact`): `$ x0 ... x(m-1) | s1 ... sT #`, one token per step;
  what `programs/turing_compact.rasp` writes.

The harness (`turing.harness`) generates and checks a run through the format of the engine's
program: the reference trace, the prompt generation starts from, which generated tokens close
a step (for the step budget), how far a mismatch report runs, and the final tape.  Nothing
else in the harness knows a format, so a run never switches format silently: the program
names its format, and the reference is written in it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from turing import compact
from turing.errors import TuringError
from turing.machine import Machine
from turing.simulator import initial_configuration
from turing.tokens import END, SEP, START
from turing.trace import TraceError, describe_divergence, encode_trace, first_divergence, parse_trace, trace_of


@dataclass(frozen=True)
class FinalTape:
    """Where a run ended: the state, the cells from the leftmost to the rightmost one the run
    held (blanks included) and the head's index among them."""

    state: str
    cells: tuple[str, ...]
    head: int
    nonblank: int


class TraceFormat(ABC):
    """How a Turing Program's trace is written."""

    name: ClassVar[str]

    @abstractmethod
    def reference(
        self, machine: Machine, tape: Sequence[str], max_steps: int, max_tokens: int | None = None
    ) -> list[str]:
        """The reference trace: at most `max_steps` steps and, with `max_tokens`, no more of
        it than that many tokens need."""

    @abstractmethod
    def prompt(self, machine: Machine, tape: Sequence[str]) -> list[str]:
        """What generation starts from (before any step)."""

    @abstractmethod
    def closes_step(self, token: str) -> bool:
        """Whether a generated `token` completes a step's part of the trace."""

    @abstractmethod
    def steps(self, tokens: Sequence[str]) -> int:
        """How many steps a trace (from `$` on) has completed."""

    @abstractmethod
    def rest_of_step(self, trace: Sequence[str], position: int) -> int:
        """How many tokens of `trace` from `position` to the end of the step's part there."""

    @abstractmethod
    def final(self, tokens: Sequence[str], machine: Machine) -> FinalTape | None:
        """Where the trace leaves the machine, or None where it is malformed (possible only
        after a divergence)."""

    @abstractmethod
    def describe_divergence(self, expected: Sequence[str], tokens: Sequence[str], machine: Machine) -> str:
        """The first difference of `tokens` from the reference `expected`, in words."""

    @abstractmethod
    def longest_run(self, max_steps: int) -> int:
        """The most tokens a run from the blank tape needs within `max_steps` steps, with the
        room `capacity` leaves for a mismatch report: the same for every machine."""

    def capacity(self, expected: Sequence[str], max_tokens: int | None = None) -> int:
        """How many tokens a run checked against `expected` may feed a decoder: the trace and,
        after a divergence at its end, the rest of a step's part and 4 tokens more."""
        needed = len(expected) + self._slack(expected) + 5
        return needed if max_tokens is None else min(needed, max_tokens)

    def _slack(self, expected: Sequence[str]) -> int:
        return 1


class TapeCopy(TraceFormat):
    name = "tape-copy"

    def reference(
        self, machine: Machine, tape: Sequence[str], max_steps: int, max_tokens: int | None = None
    ) -> list[str]:
        return trace_of(machine, tape, max_steps, max_tokens)

    def prompt(self, machine: Machine, tape: Sequence[str]) -> list[str]:
        return encode_trace([initial_configuration(machine, tape)], halted=False)

    def closes_step(self, token: str) -> bool:
        return token == SEP

    def steps(self, tokens: Sequence[str]) -> int:
        return list(tokens).count(SEP) - 1

    def rest_of_step(self, trace: Sequence[str], position: int) -> int:
        for offset, token in enumerate(trace[position:]):
            if token in (SEP, END):
                return offset + 1
        return 0

    def final(self, tokens: Sequence[str], machine: Machine) -> FinalTape | None:
        tokens = list(tokens)
        closed = len(tokens) - tokens[::-1].index(SEP)
        try:
            configurations, _ = parse_trace(tokens[:closed], machine)
        except TraceError:
            return None
        last = configurations[-1]
        cells = last.left + last.right
        return FinalTape(last.state, cells, len(last.left), sum(cell != machine.blank for cell in cells))

    def describe_divergence(self, expected: Sequence[str], tokens: Sequence[str], machine: Machine) -> str:
        return describe_divergence(expected, tokens, machine)

    def longest_run(self, max_steps: int) -> int:
        """`$`, configuration t with a state, at most t + 1 cells and a `|`, then `#`; and the
        longest configuration (T + 3 tokens) and 5 for a report."""
        trace = 1 + max_steps * (max_steps + 1) // 2 + 3 * (max_steps + 1) + 1
        return trace + (max_steps + 3) + 5

    def _slack(self, expected: Sequence[str]) -> int:
        """The longest configuration (with its `|`): a mismatch report shows the one at stake."""
        bounds = [position for position, token in enumerate(expected) if token in (START, SEP)]
        return max((b - a for a, b in zip(bounds, bounds[1:])), default=len(expected))


class Compact(TraceFormat):
    name = "compact"

    def reference(
        self, machine: Machine, tape: Sequence[str], max_steps: int, max_tokens: int | None = None
    ) -> list[str]:
        return compact.compact_trace(machine, tape, max_steps, max_tokens)

    def prompt(self, machine: Machine, tape: Sequence[str]) -> list[str]:
        return compact.prompt(machine, tape)

    def closes_step(self, token: str) -> bool:
        return token != END

    def steps(self, tokens: Sequence[str]) -> int:
        """Every token after the prompt's `|` but `#` (counted without copying: a run to
        BB(5)'s halt has 47 million)."""
        if SEP not in tokens:
            return 0
        return len(tokens) - tokens.index(SEP) - 1 - (tokens[-1] == END)

    def rest_of_step(self, trace: Sequence[str], position: int) -> int:
        return 1 if position < len(trace) else 0

    def longest_run(self, max_steps: int) -> int:
        """`$ |`, a token per step, `#`, and 6 for a report."""
        return 2 + max_steps + 1 + 6

    def final(self, tokens: Sequence[str], machine: Machine) -> FinalTape | None:
        try:
            tape, _ = compact.replay(tokens, machine)
        except TuringError:
            return None
        cells, head = tape.written()
        return FinalTape(tape.state, cells, head, tape.nonblank())

    def describe_divergence(self, expected: Sequence[str], tokens: Sequence[str], machine: Machine) -> str:
        position = first_divergence(expected, tokens)
        if position is None:
            return f"the traces agree ({len(expected)} tokens)"
        want = repr(expected[position]) if position < len(expected) else "the end"
        got = repr(tokens[position]) if position < len(tokens) else "the end"
        step = self.steps(expected[:position]) + 1
        return f"first divergence at position {position}, step {step}: expected {want}, got {got}"


TAPE_COPY = TapeCopy()
COMPACT = Compact()
