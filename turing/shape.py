"""The bound of a universal Turing Program and the input it reads: pure machine code.

The universal program (`programs/universal_turing_machine.rasp`, bound by `turing.universal`)
binds only a `Shape`: the vocabulary of machines with at most Q states and S symbols, named as
busy-beaver notation names them (states A, B, C, ..., symbols 0, 1, 2, ..., blank 0, halting state
Z).  The machine enters through the input instead: `table_tokens` writes its transitions as the
prompt's first tokens, one record `q s w m n ;` per defined transition, and the trace follows.
One bound program, and so one compiled model, then runs every machine of the shape.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from turing.compact import every_step, step_tables, step_vocabulary
from turing.errors import TuringError
from turing.formats import TAPE_COPY, TraceFormat
from turing.machine import MOVES, Machine
from turing.random_machines import HALT
from turing.simulator import DEFAULT_MAX_STEPS, initial_configuration
from turing.tokens import RESERVED, SEP
from turing.trace import encode_trace, trace_of

RECORD_END = ";"
"""Closes each record of the table in the prompt."""

BLANK = "0"
"""The blank of every shape: busy-beaver notation's symbol 0."""

MAX_STATES = 11
"""The most working states a shape can name (A..K): the twelfth letter, L, is the left move's
token, and a token cannot be both a state and a move of the table."""

MAX_SYMBOLS = 10
"""Symbols are the digits 0..S-1, as in busy-beaver notation."""


class ShapeError(TuringError):
    """A shape is out of range, or a machine does not fit the shape it is run with."""


@dataclass(frozen=True)
class Shape:
    """The bound of a universal program: machines whose states are among the first `states`
    letters and the halting state Z, and whose symbols are among the digits below `symbols`."""

    states: int
    symbols: int

    def __post_init__(self) -> None:
        if not 1 <= self.states <= MAX_STATES:
            raise ShapeError(
                f"a universal program takes 1 to {MAX_STATES} states, got {self.states} (state names are "
                "A, B, C, ...; beyond K they would collide with the moves L, N, R)"
            )
        if not 1 <= self.symbols <= MAX_SYMBOLS:
            raise ShapeError(f"a universal program takes 1 to {MAX_SYMBOLS} symbols, got {self.symbols}")

    @property
    def state_names(self) -> tuple[str, ...]:
        """A, B, ... (`states` of them), then the halting state Z."""
        return (*string.ascii_uppercase[: self.states], HALT)

    @property
    def symbol_names(self) -> tuple[str, ...]:
        return tuple(str(digit) for digit in range(self.symbols))

    def vocab(self) -> list[str]:
        """Every token of a prompt or trace: `$ | #`, `;`, the moves, the symbols, the states."""
        return [*sorted(RESERVED), RECORD_END, *MOVES, *self.symbol_names, *self.state_names]

    def bindings(self) -> dict[str, Any]:
        """The RASP values the program reads, by name (its header documents them)."""
        return {
            "tm_vocab": self.vocab(),
            "tm_states": list(self.state_names),
            "tm_symbols": list(self.symbol_names),
            "tm_blank": BLANK,
        }

    def compact_bindings(self) -> dict[str, Any]:
        """The values programs/universal_turing_compact.rasp reads (its header documents
        them): these, with every step token over the shape's names."""
        steps = step_vocabulary(every_step(self.state_names, self.symbol_names))
        return {
            **self.bindings(),
            "tm_vocab": [*self.vocab(), *steps],
            "tm_start": self.state_names[0],
            **step_tables(steps),
        }

    def check(self, machine: Machine) -> None:
        """Raise ShapeError unless every name of `machine` is in this shape's vocabulary."""
        states = [state for state in machine.states if state not in self.state_names]
        symbols = [symbol for symbol in machine.symbols if symbol not in self.symbol_names]
        problem = None
        if states:
            problem = f"state(s) {', '.join(states)} not among {', '.join(self.state_names)}"
        elif symbols:
            problem = f"symbol(s) {', '.join(symbols)} not among {', '.join(self.symbol_names)}"
        elif machine.blank != BLANK:
            problem = f"blank {machine.blank!r} is not {BLANK!r}"
        if problem:
            raise ShapeError(
                f"the machine does not fit {self}: {problem}; name states A, B, ... with halting state Z "
                "and symbols 0, 1, ... with blank 0 (busy-beaver notation), and choose a shape with enough "
                "states and symbols"
            )

    @classmethod
    def of(cls, machine: Machine) -> Shape:
        """The smallest shape that `machine` fits (ShapeError when no shape does)."""
        letters = [state for state in machine.states if state != HALT]
        states = max((string.ascii_uppercase.find(state) + 1 for state in letters), default=1)
        symbols = max((int(symbol) + 1 for symbol in machine.symbols if symbol.isdigit()), default=1)
        shape = cls(max(states, 1), min(symbols, MAX_SYMBOLS))
        shape.check(machine)
        return shape

    def __str__(self) -> str:
        return f"the shape of {self.states} states and {self.symbols} symbols"


# ------------------------------------------------------------------------------ the input


def table_tokens(machine: Machine) -> list[str]:
    """The prompt's table: `q s w m n ;` for every defined transition, in the machine's order."""
    tokens: list[str] = []
    for (state, read), entry in machine.transitions.items():
        tokens.extend((state, read, entry.write, entry.move, entry.next, RECORD_END))
    return tokens


def prompt_tokens(machine: Machine, tape: Sequence[str] = ()) -> list[str]:
    """What generation starts from: the table, then `$ C0 |`."""
    return [*table_tokens(machine), *encode_trace([initial_configuration(machine, tape)], halted=False)]


def universal_trace(machine: Machine, tape: Sequence[str] = (), max_steps: int = DEFAULT_MAX_STEPS) -> list[str]:
    """The table followed by the reference trace: the whole input a teacher-forced check feeds."""
    return [*table_tokens(machine), *trace_of(machine, tape, max_steps)]


def first_wrong_prediction(tokens: Sequence[str], predictions: Sequence[Any]) -> int | None:
    """The first position n, from the trace's first `|` on, whose prediction is not token n+1
    (None when all are right): the positions the program is claimed for, since the table and
    `$ C0` before them are the input.  A causal program right at every such position generates
    the trace token by token, by induction on the position."""
    start = list(tokens).index(SEP)
    for position in range(start, len(tokens) - 1):
        if str(predictions[position]) != tokens[position + 1]:
            return position
    return None


def input_bound(shape: Shape, max_steps: int, trace_format: TraceFormat = TAPE_COPY) -> int:
    """The most tokens any machine of `shape` can need from a model on the blank tape within
    `max_steps` steps: its table (six tokens a record, at most one record per entry) and the
    run in `trace_format` with the harness's room for a mismatch report
    (`TraceFormat.longest_run`).  The same for every machine, so every slice of an enumeration
    picks the same model."""
    return 6 * shape.states * shape.symbols + trace_format.longest_run(max_steps)


def steps_within(shape: Shape, positions: int, trace_format: TraceFormat = TAPE_COPY) -> int:
    """The largest step budget whose `input_bound` fits `positions` (-1 when none does): what
    to suggest when a budget needs too long a model.  `input_bound` grows with the budget and
    exceeds `positions` at the budget `positions`, which bounds the search."""
    low, high = -1, positions  # input_bound(shape, low) <= positions < input_bound(shape, high)
    while high - low > 1:
        middle = (low + high) // 2
        fits = input_bound(shape, middle, trace_format) <= positions
        low, high = (middle, high) if fits else (low, middle)
    return low
