"""The numbered enumeration of every machine of a shape (turing.enumeration)."""

from __future__ import annotations

import pytest

from turing.enumeration import all_machines, machine_at, machine_count
from turing.machine import MachineSpecError


def test_counts() -> None:
    assert machine_count(2, 2) == 13**4 == 28_561
    assert machine_count(1, 2) == 9**2
    assert machine_count(3, 2) == 17**6


def test_busy_beaver_has_its_number() -> None:
    # Digits per entry: 0 undefined, then write 0 (L A, L B, L Z, R A, R B, R Z) = 1..6, write 1 = 7..12.
    # BB(2) = 1RB (11) 1LB (8) _ 1LA (7) 1RZ (12), most significant first.
    assert machine_at(((11 * 13 + 8) * 13 + 7) * 13 + 12, 2, 2).to_text() == "1RB1LB_1LA1RZ"


def test_first_and_last() -> None:
    assert dict(machine_at(0, 2, 2).transitions) == {}
    assert machine_at(28_560, 2, 2).to_text() == "1RZ1RZ_1RZ1RZ"


def test_every_machine_once() -> None:
    machines = list(all_machines(1, 2))
    assert len({machine for machine in machines}) == len(machines) == 81
    assert [m.to_text() for m in all_machines(1, 2, start=79)] == [machines[79].to_text(), machines[80].to_text()]
    assert len(list(all_machines(2, 2, start=100, count=7))) == 7


def test_number_out_of_range() -> None:
    with pytest.raises(MachineSpecError, match="outside 0..28560"):
        machine_at(28_561, 2, 2)
