"""Random machines and tapes, reproducible from a seed, for property tests and stress runs.

Machines use the busy-beaver naming (states `A`, `B`, ..., symbols `0`..`S-1`, blank `0`,
halting state `Z`) so that every one can be printed with `Machine.to_text` and pasted into a
command line to reproduce a failure.
"""

from __future__ import annotations

import random
import string
from collections.abc import Iterator

from turing.machine import Machine, MachineSpecError, Transition
from turing.simulator import TapeError

HALT = "Z"
"""The halting state of random machines; the letter after the largest possible group."""

MAX_STATES = 25  # A..Y, keeping Z for HALT
MAX_SYMBOLS = 10  # one digit per symbol in bb notation


def random_machine(
    n_states: int, n_symbols: int, seed: int, halt_share: float = 0.1, allow_n_moves: bool = False
) -> Machine:
    """A machine whose every table entry is drawn independently from `random.Random(seed)`.

    With probability `halt_share` an entry halts: half of those are left undefined, half go to
    `Z`.  Other entries write a random symbol, move L or R (or N if `allow_n_moves`), and go to a
    random non-halting state.  `Z` is a state only when some entry enters it, so that the
    machine has a busy-beaver text form; `halt_share=0` gives a total table.
    """
    if not 1 <= n_states <= MAX_STATES:
        raise MachineSpecError(f"n_states must be between 1 and {MAX_STATES}, got {n_states}")
    if not 1 <= n_symbols <= MAX_SYMBOLS:
        raise MachineSpecError(f"n_symbols must be between 1 and {MAX_SYMBOLS}, got {n_symbols}")
    if not 0.0 <= halt_share <= 1.0:
        raise MachineSpecError(f"halt_share must be between 0 and 1, got {halt_share}")
    rng = random.Random(seed)
    states = tuple(string.ascii_uppercase[:n_states])
    symbols = tuple(str(digit) for digit in range(n_symbols))
    moves = "LRN" if allow_n_moves else "LR"
    transitions: dict[tuple[str, str], Transition] = {}
    for state in states:
        for read in symbols:
            write, move = rng.choice(symbols), rng.choice(moves)
            if rng.random() < halt_share:
                if rng.random() < 0.5:
                    continue
                transitions[state, read] = Transition(write, move, HALT)
            else:
                transitions[state, read] = Transition(write, move, rng.choice(states))
    halting = frozenset({HALT}) if any(entry.next == HALT for entry in transitions.values()) else frozenset()
    return Machine(
        states=states + tuple(halting),
        symbols=symbols,
        blank="0",
        start="A",
        halting=halting,
        transitions=transitions,
    )


def random_tape(machine: Machine, length: int, seed: int) -> tuple[str, ...]:
    """`length` cells drawn uniformly from the machine's symbols (the blank included)."""
    if length < 0:
        raise TapeError(f"tape length must be >= 0, got {length}")
    rng = random.Random(seed)
    return tuple(rng.choice(machine.symbols) for _ in range(length))


def random_cases(
    count: int, n_states: int, n_symbols: int, seed: int = 0, n_moves: bool = False, max_tape: int = 4
) -> Iterator[tuple[Machine, tuple[str, ...]]]:
    """`count` random machines, each with a random input tape of 0 to `max_tape` cells, all
    reproducible from `seed` (what `rasp tm verify --random` runs)."""
    rng = random.Random(seed)
    for _ in range(count):
        case_seed = rng.randrange(2**32)
        machine = random_machine(n_states, n_symbols, case_seed, allow_n_moves=n_moves)
        yield machine, random_tape(machine, rng.randint(0, max_tape), case_seed)
