"""The tree-normal-form class of machines (turing.tree_normal_form), held against brute force."""

from __future__ import annotations

import random

import numpy as np
import pytest

from rasp.errors import UsageError
from turing import tree_normal_form
from turing.enumeration import entry_choices, machine_at, machine_count
from turing.machine import Machine
from turing.simulator import simulate
from turing.tree_normal_form import tnf_numbers


def _decoded(n_states: int, n_symbols: int) -> list[tuple[int, int, int] | None]:
    """Digit -> (write, head delta, next state index with Z = n_states), from entry_choices."""
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXY"[:n_states]
    return [
        None
        if choice is None
        else (int(choice.write), -1 if choice.move == "L" else 1, (letters + "Z").index(choice.next))
        for choice in entry_choices(n_states, n_symbols)
    ]


def _digits(index: int, n_states: int, n_symbols: int) -> list[int]:
    """Machine number `index` as its table digits, first entry first."""
    base = len(entry_choices(n_states, n_symbols))
    digits = []
    for _ in range(n_states * n_symbols):
        index, digit = divmod(index, base)
        digits.append(digit)
    return digits[::-1]


def _number(digits: list[int], n_states: int, n_symbols: int) -> int:
    base = len(entry_choices(n_states, n_symbols))
    number = 0
    for digit in digits:
        number = number * base + digit
    return number


def _restricted(index: int, n_states: int, n_symbols: int, max_steps: int) -> tuple[int, bool]:
    """Machine `index` with every entry its blank-tape run does not use within `max_steps`
    steps made undefined, and whether it is in normal form.

    Used means executed by one of steps 1..max_steps; an undefined entry the run stops on stays
    undefined anyway.  Normal form: in order of first use, the entries' targets (Z left out,
    A put first) meet the states A, B, C, ... in order, and their written symbols (0 put
    first) meet 0, 1, 2, ... in order.
    """
    decoded = _decoded(n_states, n_symbols)
    digits = _digits(index, n_states, n_symbols)
    tape: dict[int, int] = {}
    head = state = 0
    order: list[int] = []
    for _ in range(max_steps):
        if state == n_states:
            break
        entry = state * n_symbols + tape.get(head, 0)
        triple = decoded[digits[entry]]
        if triple is None:
            break
        if entry not in order:
            order.append(entry)
        tape[head], delta, state = triple
        head += delta
    kept = [digit if entry in order else 0 for entry, digit in enumerate(digits)]
    triples = [decoded[digits[entry]] for entry in order]
    states = list(dict.fromkeys([0, *(target for _, _, target in triples if target != n_states)]))
    symbols = list(dict.fromkeys([0, *(write for write, _, _ in triples)]))
    normal = states == list(range(len(states))) and symbols == list(range(len(symbols)))
    return _number(kept, n_states, n_symbols), normal


def _brute_force(n_states: int, n_symbols: int, max_steps: int, indices: range | list[int]) -> set[int]:
    """The restrictions of machines `indices` that are in normal form."""
    found = set()
    for index in indices:
        number, normal = _restricted(index, n_states, n_symbols, max_steps)
        if normal:
            found.add(number)
    return found


@pytest.mark.parametrize(
    ("n_states", "n_symbols", "max_steps"), [(1, 2, 0), (1, 2, 5), (2, 2, 0), (2, 2, 3), (2, 2, 12), (2, 2, 50)]
)
def test_equals_brute_force(n_states: int, n_symbols: int, max_steps: int) -> None:
    expected = _brute_force(n_states, n_symbols, max_steps, range(machine_count(n_states, n_symbols)))
    assert set(tnf_numbers(n_states, n_symbols, max_steps).tolist()) == expected


@pytest.mark.parametrize(("n_states", "n_symbols", "max_steps"), [(2, 3, 10), (3, 2, 14)])
def test_agrees_with_brute_force_where_too_large_to_list(n_states: int, n_symbols: int, max_steps: int) -> None:
    # Every TNF machine is its own restriction and in normal form (the whole class is checked) ...
    numbers = tnf_numbers(n_states, n_symbols, max_steps)
    for number in numbers.tolist():
        assert _restricted(number, n_states, n_symbols, max_steps) == (number, True), machine_at(
            number, n_states, n_symbols
        ).to_text()
    # ... and the normal-form restriction of a random machine is in the class (a sample).
    rng = random.Random(1)
    sample = [rng.randrange(machine_count(n_states, n_symbols)) for _ in range(4000)]
    missing = _brute_force(n_states, n_symbols, max_steps, sample) - set(numbers.tolist())
    assert not missing, [machine_at(number, n_states, n_symbols).to_text() for number in missing]


@pytest.mark.parametrize(("n_states", "n_symbols"), [(3, 2), (2, 3)])
def test_closure_shortcut_changes_nothing(monkeypatch: pytest.MonkeyPatch, n_states: int, n_symbols: int) -> None:
    # A node that cannot meet an undefined entry any more is made a leaf without running to the
    # bound (bounds of 40 and more only); simulating every node to the end must agree.
    fast = tnf_numbers(n_states, n_symbols, 100)
    monkeypatch.setattr(tree_normal_form, "CLOSURE_AFTER", 10**9)
    assert np.array_equal(tnf_numbers(n_states, n_symbols, 100), fast)


def test_one_state_by_hand() -> None:
    # A0 is reached first; A1 never is: whatever A0 writes, it moves onto a fresh blank cell, so
    # every state-A configuration reads 0.  Hence A0 undefined, A0 halting (4 ways) or A0
    # looping on A (4 ways) with A1 undefined, at any bound of 1 step or more.
    expected = {"------", *(f"{write}{move}{target}---" for write in "01" for move in "LR" for target in "AZ")}
    for max_steps in (1, 2, 50):
        assert {machine_at(k, 1, 2).to_text() for k in tnf_numbers(1, 2, max_steps)} == expected
    assert [machine_at(k, 1, 2).to_text() for k in tnf_numbers(1, 2, 0)] == ["------"]


def test_two_states_by_hand() -> None:
    # One step: A0 undefined, or A0 defined with any write, either move and target A, B (the
    # first unused state) or Z; the run is then over, so B is never read.
    first = [f"{write}{move}{target}" for write in "01" for move in "LR" for target in "ABZ"]
    assert {machine_at(k, 2, 2).to_text() for k in tnf_numbers(2, 2, 1)} == {
        "------_------",
        *(f"{a0}---_------" for a0 in first),
    }
    # Two steps: the machines going to B (on a fresh blank) branch again at B0, where any write
    # (1 may always be written: 0 + 1 is allowed), either move and A, B or Z are allowed; those
    # going to A read A0 again, already defined, and those going to Z have halted.
    # 1 + 12 + 4 * 12 = 61 machines.
    expected = {
        "------_------",
        *(f"{a0}---_------" for a0 in first),
        *(f"{a0}---_{b0}---" for a0 in first if a0.endswith("B") for b0 in first),
    }
    assert len(expected) == 61
    assert {machine_at(k, 2, 2).to_text() for k in tnf_numbers(2, 2, 2)} == expected


def _number_of(machine: Machine, n_states: int, n_symbols: int) -> int:
    """The brute-force number of a busy-beaver-notation machine of the shape."""
    choices = entry_choices(n_states, n_symbols)
    digits = [
        choices.index(machine.transition(state, str(read)))
        for state in "ABCDEFGHIJKLMNOPQRSTUVWXY"[:n_states]
        for read in range(n_symbols)
    ]
    return _number(digits, n_states, n_symbols)


@pytest.mark.parametrize(
    ("text", "n_states", "halts_after"),
    [
        ("1RB1LB_1LA1RZ", 2, 6),
        # BB(3), the 21-step champion.  Its states are met in order already (A0 enters B, then
        # B1 enters C, the first unused one), and it writes 1 before any other symbol, so it
        # is its own TNF representative without renaming.
        ("1RB1RZ_1LB0RC_1LC1LA", 3, 21),
    ],
)
def test_busy_beavers_are_in_the_class(text: str, n_states: int, halts_after: int) -> None:
    machine = Machine.from_text(text)
    run = simulate(machine, max_steps=1000, record=False)
    assert run.halted and run.steps == halts_after
    number = _number_of(machine, n_states, 2)
    assert machine_at(number, n_states, 2).to_text() == text
    for bound in (halts_after, halts_after + 1, 100):
        assert number in set(tnf_numbers(n_states, 2, bound).tolist())
    # One step short of halting the final (halting) entry is not yet used: the class holds the
    # machine with it left undefined instead.
    short = set(tnf_numbers(n_states, 2, halts_after - 1).tolist())
    assert number not in short
    assert text.count("1RZ") == 1
    assert _number_of(Machine.from_text(text.replace("1RZ", "---")), n_states, 2) in short


def test_class_shape_and_monotone() -> None:
    previous = np.zeros(0, dtype=np.int64)
    counts = []
    for bound in (0, 1, 2, 5, 6, 11, 30):
        numbers = tnf_numbers(2, 2, bound)
        assert numbers.dtype == np.int64
        assert np.all(numbers >= 0) and np.all(numbers < machine_count(2, 2))
        assert np.all(np.diff(numbers) > 0)  # sorted, no repeats
        # A leaf stays a leaf under a larger bound (its run is the same; where it stopped on an
        # undefined entry it now branches, and its undefined child is itself).
        assert np.all(np.isin(previous, numbers))
        previous = numbers
        counts.append(len(numbers))
    assert counts[:3] == [1, 13, 61]
    assert counts == sorted(counts)
    # A node that branches at C_t could instead halt after t + 1 steps (define the entry to go
    # to Z), and BB(2) halts after 6 steps: no branch needs a bound past 6, and one needs 6.
    assert counts[3] < counts[4] == counts[-1] == 445 < machine_count(2, 2)


def test_every_class_machine_runs_as_the_reference_simulator_says() -> None:
    # A leaf either halts within the bound (Z or an undefined entry, possibly read exactly at
    # the bound) or runs the whole bound; its run uses every entry it defines.
    for number in tnf_numbers(2, 2, 8).tolist():
        machine = machine_at(number, 2, 2)
        run = simulate(machine, max_steps=8, record=True)
        assert run.halted or run.steps == 8
        assert run.configurations is not None
        used = {(config.state, config.right[0]) for config in run.configurations[:-1]}
        assert used == set(machine.transitions), machine.to_text()


@pytest.mark.parametrize(
    ("n_states", "n_symbols", "max_steps", "message"),
    [
        (0, 2, 5, "states"),
        (2, 1, 5, "symbols"),
        (2, 2, -1, "max_steps"),
        (26, 2, 5, "states"),
        (2, 11, 5, "symbols"),
        (9, 3, 5, "int64"),
    ],
)
def test_bad_arguments(n_states: int, n_symbols: int, max_steps: int, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        tnf_numbers(n_states, n_symbols, max_steps)
