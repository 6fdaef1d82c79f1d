"""The compact trace: one token per machine step (docs/turing.md, The compact Turing Program).

    $ x0 x1 ... x(m-1) | s1 s2 ... sT #

The prompt holds the input tape between `$` and `|` (nothing between them for the blank tape);
the head starts on x0, cell 0, in the start state.  Each step token `r/wdq` names the
transition that step takes: the symbol `r` it read, the symbol `w` it wrote, its move `d`
(L, R or N) and the state `q` it entered (`0/1RB` is busy-beaver notation's `1RB` taken on a
0).  `#` follows the last step when the machine halts there: its state halts, or it has no
transition for the symbol under the head.  A run cut by a step or token budget ends without
it.  What a step changed is a function of its token alone, which is what lets a transformer
find the head (the sum of the moves so far) and the symbol under it (the latest write to
that cell) by attention over earlier tokens, without copying the tape.

The tape-copy trace (`turing.trace`) writes every configuration out; this one writes only
the transitions, so it costs one token per step whatever the tape's length.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from turing.errors import TuringError
from turing.machine import MOVES, Machine
from turing.simulator import DEFAULT_MAX_STEPS, initial_configuration
from turing.tokens import END, SEP, START

MARK = "/"
"""Separates the symbol read from the transition taken in a step token."""

DELTA = {"L": -1, "R": 1, "N": 0}
"""The head's move of each move letter."""


class CompactTraceError(TuringError):
    """A token sequence is not a well-formed compact trace of the machine; `position` is the culprit."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"trace position {position}: {message}")
        self.position = position


@dataclass(frozen=True)
class Step:
    """One transition as the compact trace names it."""

    read: str
    write: str
    move: str
    next: str

    @property
    def token(self) -> str:
        return f"{self.read}{MARK}{self.write}{self.move}{self.next}"

    def __str__(self) -> str:
        return f"read {self.read}, write {self.write}, move {self.move}, enter {self.next}"


def transition_steps(machine: Machine) -> dict[tuple[str, str], tuple[Step, str]]:
    """Each defined (state, symbol) pair's step and its token, made once: a run of 47 million
    steps then holds one string per transition, not one per step.  A machine whose names
    run together so that two transitions spell one token has no compact trace: TuringError
    (`step_vocabulary`), before any trace is written."""
    steps = {(state, read): Step(read, *entry) for (state, read), entry in machine.transitions.items()}
    step_vocabulary(steps.values())
    return {key: (step, step.token) for key, step in steps.items()}


def machine_steps(machine: Machine) -> list[Step]:
    """The step of every defined transition of `machine`, in its table's order."""
    return [step for step, _ in transition_steps(machine).values()]


def every_step(states: Sequence[str], symbols: Sequence[str]) -> list[Step]:
    """Every step a machine over these names could take: the universal program's vocabulary."""
    return [Step(r, w, d, q) for r in symbols for w in symbols for d in MOVES for q in states]


def step_vocabulary(steps: Iterable[Step]) -> dict[str, Step]:
    """The steps by token.  Names of several characters could spell two steps alike
    (`a/bcRd` is read `a`, write `bc` or `b`, ...): such a machine has no compact trace."""
    vocabulary: dict[str, Step] = {}
    for step in steps:
        other = vocabulary.setdefault(step.token, step)
        if other != step:
            raise TuringError(
                f"the step token {step.token!r} spells two transitions ({other}; {step}): "
                "rename the states or symbols so that their names do not run together"
            )
    return vocabulary


def step_tables(steps: dict[str, Step]) -> dict[str, Any]:
    """The RASP values a compact program reads about its step tokens: `tm_steps`, and the
    dicts `tm_write`, `tm_move`, `tm_next` keyed by step token."""
    return {
        "tm_steps": list(steps),
        "tm_write": {token: step.write for token, step in steps.items()},
        "tm_move": {token: step.move for token, step in steps.items()},
        "tm_next": {token: step.next for token, step in steps.items()},
    }


@dataclass
class Tape:
    """A machine's state, head and written cells (a dict: cells may be negative), as a
    compact trace is replayed or the reference runs."""

    machine: Machine
    state: str
    head: int
    cells: dict[int, str]
    steps: int = 0
    table: dict[tuple[str, str], tuple[Step, str]] = field(default_factory=dict)

    @classmethod
    def start(cls, machine: Machine, tape: Sequence[str] = ()) -> Tape:
        initial_configuration(machine, tape)  # refuses cells that are no symbols (TapeError)
        return cls(machine, machine.start, 0, dict(enumerate(tape)), table=transition_steps(machine))

    @property
    def scanned(self) -> str:
        return self.cells.get(self.head, self.machine.blank)

    def next_step(self) -> Step | None:
        """The step the machine takes now, or None where it halts (halting states have no
        transitions: `Machine` validates that)."""
        found = self.table.get((self.state, self.scanned))
        return None if found is None else found[0]

    def next_token(self) -> str | None:
        """The token of `next_step` (one shared string per transition), or None where it halts."""
        found = self.table.get((self.state, self.scanned))
        return None if found is None else found[1]

    def take(self, step: Step) -> None:
        self.cells[self.head] = step.write
        self.head += DELTA[step.move]
        self.state = step.next
        self.steps += 1

    def written(self) -> tuple[tuple[str, ...], int]:
        """The cells from the leftmost to the rightmost one ever held or scanned (blanks
        included), and the head's index among them."""
        low = min(min(self.cells, default=0), self.head)
        high = max(max(self.cells, default=0), self.head)
        blank = self.machine.blank
        return tuple(self.cells.get(cell, blank) for cell in range(low, high + 1)), self.head - low

    def nonblank(self) -> int:
        return sum(cell != self.machine.blank for cell in self.cells.values())


def prompt(machine: Machine, tape: Sequence[str] = ()) -> list[str]:
    """`$ x0 ... x(m-1) |`: what generation starts from."""
    Tape.start(machine, tape)
    return [START, *tape, SEP]


def steps_of(machine: Machine, tape: Sequence[str] = (), max_steps: int = DEFAULT_MAX_STEPS) -> Iterator[str]:
    """The step tokens of the run, then `#` if it halts within `max_steps` steps; lazily, so
    that a long run's trace need not be held."""
    state = Tape.start(machine, tape)
    while True:
        step, token = state.next_step(), state.next_token()
        if step is None or token is None:
            yield END
            return
        if state.steps == max_steps:
            return
        state.take(step)
        yield token


def compact_trace(
    machine: Machine, tape: Sequence[str] = (), max_steps: int = DEFAULT_MAX_STEPS, max_tokens: int | None = None
) -> list[str]:
    """The reference compact trace of `machine` on `tape`, at most `max_steps` steps and, with
    `max_tokens`, at most that many tokens."""
    trace = prompt(machine, tape)
    for token in steps_of(machine, tape, max_steps):
        if max_tokens is not None and len(trace) >= max_tokens:
            break
        trace.append(token)
    return trace


def replay(tokens: Sequence[str], machine: Machine) -> tuple[Tape, bool]:
    """The machine's state after a well-formed compact trace, and whether the trace ends with
    `#`.  Every step must be the one the machine takes there, and `#` must come where it halts:
    a CompactTraceError names the first position where that fails."""
    if not tokens or tokens[0] != START:
        raise CompactTraceError(f"a compact trace starts with {START!r}", 0)
    try:
        end_of_prompt = tokens.index(SEP)
    except ValueError:
        raise CompactTraceError(f"the prompt is not closed by {SEP!r}", len(tokens)) from None
    try:
        state = Tape.start(machine, tokens[1:end_of_prompt])
    except TuringError as error:
        raise CompactTraceError(f"the prompt's tape is not the machine's: {error.message}", 1) from None
    for position in range(end_of_prompt + 1, len(tokens)):
        expected = state.next_step()
        token = tokens[position]
        wanted = END if expected is None else expected.token
        if token != wanted:
            raise CompactTraceError(f"expected {wanted!r}, got {token!r}", position)
        if expected is None:
            if position != len(tokens) - 1:
                raise CompactTraceError(f"tokens follow {END!r}", position + 1)
            return state, True
        state.take(expected)
    return state, False
