"""Every machine of a shape, in busy-beaver notation, numbered: for exhaustive verification.

A machine with Q states (A, B, ...) and S symbols (0, 1, ...) has Q*S table entries, each either
undefined or a triple (write one of S symbols, move L or R, go to one of the Q states or the
halting state Z): `1 + 2*S*(Q+1)` choices per entry, `(1 + 2*S*(Q+1)) ** (Q*S)` machines, 13^4 =
28,561 for two states and two symbols.  Machine number k writes k in that base, one digit per
entry in state-then-symbol order, the first entry the most significant; digit 0 is undefined.
Numbers make a run resumable and a failure reproducible (`machine_at(k, Q, S)`).
"""

from __future__ import annotations

import string
from collections.abc import Iterator

from turing.machine import Machine, MachineSpecError, Transition
from turing.random_machines import HALT

MOVES = ("L", "R")
"""Enumerated moves: busy-beaver machines never stay put."""


def entry_choices(n_states: int, n_symbols: int) -> list[Transition | None]:
    """The choices for one table entry, in digit order: undefined, then every triple."""
    targets = [*string.ascii_uppercase[:n_states], HALT]
    triples = [
        Transition(str(write), move, target) for write in range(n_symbols) for move in MOVES for target in targets
    ]
    return [None, *triples]


def machine_count(n_states: int, n_symbols: int) -> int:
    """How many machines the shape has."""
    return len(entry_choices(n_states, n_symbols)) ** (n_states * n_symbols)


def machine_at(index: int, n_states: int, n_symbols: int) -> Machine:
    """Machine number `index` of the shape (see the module docstring)."""
    total = machine_count(n_states, n_symbols)
    if not 0 <= index < total:
        raise MachineSpecError(
            f"machine number {index} is outside 0..{total - 1} for {n_states} states and {n_symbols} symbols"
        )
    choices = entry_choices(n_states, n_symbols)
    keys = [(state, str(symbol)) for state in string.ascii_uppercase[:n_states] for symbol in range(n_symbols)]
    transitions: dict[tuple[str, str], Transition] = {}
    for key in reversed(keys):
        index, digit = divmod(index, len(choices))
        if choices[digit] is not None:
            transitions[key] = choices[digit]
    table = {key: transitions[key] for key in keys if key in transitions}
    halting = frozenset({HALT}) if any(entry.next == HALT for entry in table.values()) else frozenset()
    return Machine(
        states=(*string.ascii_uppercase[:n_states], *halting),
        symbols=tuple(str(symbol) for symbol in range(n_symbols)),
        blank="0",
        start="A",
        halting=halting,
        transitions=table,
    )


def all_machines(n_states: int, n_symbols: int, start: int = 0, count: int | None = None) -> Iterator[Machine]:
    """Machines number `start`, `start + 1`, ... (`count` of them, or to the last)."""
    total = machine_count(n_states, n_symbols)
    stop = total if count is None else min(start + count, total)
    for index in range(start, stop):
        yield machine_at(index, n_states, n_symbols)
