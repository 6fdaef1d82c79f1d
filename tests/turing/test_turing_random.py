"""Random machines and tapes: reproducible from the seed, of the asked shape."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from turing import MachineSpecError, TapeError, random_machine, random_tape


@given(st.integers(1, 8), st.integers(1, 5), st.integers(0, 2**64), st.floats(0, 1), st.booleans())
def test_same_seed_same_machine(n_states, n_symbols, seed, share, n_moves) -> None:
    first = random_machine(n_states, n_symbols, seed, halt_share=share, allow_n_moves=n_moves)
    second = random_machine(n_states, n_symbols, seed, halt_share=share, allow_n_moves=n_moves)
    assert first == second
    assert random_tape(first, 10, seed) == random_tape(second, 10, seed)


def test_different_seeds_give_different_machines() -> None:
    machines = {random_machine(3, 2, seed).to_text() for seed in range(50)}
    assert len(machines) > 40


@given(st.integers(1, 8), st.integers(1, 5), st.integers(0, 10**6), st.floats(0, 1))
def test_shape(n_states, n_symbols, seed, share) -> None:
    machine = random_machine(n_states, n_symbols, seed, halt_share=share)
    letters = "ABCDEFGH"[:n_states]
    assert machine.symbols == tuple(str(digit) for digit in range(n_symbols))
    assert (machine.blank, machine.start) == ("0", "A")
    assert machine.states[:n_states] == tuple(letters)
    assert set(machine.states[n_states:]) == set(machine.halting) <= {"Z"}
    for (state, read), entry in machine.transitions.items():
        assert state in letters and read in machine.symbols
        assert entry.write in machine.symbols
        assert entry.move in "LR"
        assert entry.next in machine.states


def test_halt_share_zero_gives_a_total_table_and_one_gives_no_working_entry() -> None:
    for seed in range(20):
        total = random_machine(4, 3, seed, halt_share=0)
        assert len(total.transitions) == 4 * 3
        assert total.halting == frozenset()
        stopping = random_machine(4, 3, seed, halt_share=1)
        assert all(entry.next == "Z" for entry in stopping.transitions.values())


def test_halt_share_is_roughly_respected_and_halting_entries_split_evenly() -> None:
    entries = missing = to_halt = 0
    for seed in range(200):
        machine = random_machine(5, 2, seed, halt_share=0.3)
        entries += 10
        missing += 10 - len(machine.transitions)
        to_halt += sum(entry.next == "Z" for entry in machine.transitions.values())
    assert 0.25 < (missing + to_halt) / entries < 0.35
    assert 0.4 < missing / (missing + to_halt) < 0.6


def test_n_moves_appear_only_when_allowed() -> None:
    moves = {
        entry.move for seed in range(20) for entry in random_machine(4, 3, seed, 0, True).transitions.values()
    }
    assert moves == {"L", "R", "N"}


def test_random_tape_uses_the_machine_symbols() -> None:
    machine = random_machine(2, 3, seed=7)
    tape = random_tape(machine, 200, seed=1)
    assert len(tape) == 200
    assert set(tape) == {"0", "1", "2"}
    assert random_tape(machine, 0, seed=1) == ()


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: random_machine(0, 2, 1), "n_states must be between 1 and 25, got 0"),
        (lambda: random_machine(26, 2, 1), "got 26"),
        (lambda: random_machine(2, 11, 1), "n_symbols must be between 1 and 10, got 11"),
        (lambda: random_machine(2, 2, 1, halt_share=1.5), "halt_share must be between 0 and 1"),
    ],
)
def test_bad_arguments(call, fragment) -> None:
    with pytest.raises(MachineSpecError, match=fragment):
        call()


def test_negative_tape_length() -> None:
    with pytest.raises(TapeError, match="got -1"):
        random_tape(random_machine(1, 1, 0), -1, 0)
