"""The machine model: readers, writers, round trips and the errors bad specifications get."""

from __future__ import annotations

import json
import pickle

import pytest
import turing_cases
from hypothesis import given
from hypothesis import strategies as st

from turing import Machine, MachineSpecError, Transition, load_machine, random_machine
from turing.errors import TuringError

BB2 = "1RB1LB_1LA1RZ"

INCREMENT = json.loads(turing_cases.INCREMENT)  # binary increment, named states


def test_bb_text_reads_states_symbols_and_table() -> None:
    machine = Machine.from_text(BB2)
    assert machine.states == ("A", "B", "Z")
    assert machine.symbols == ("0", "1")
    assert machine.blank == "0"
    assert machine.start == "A"
    assert machine.halting == frozenset({"Z"})
    assert machine.transition("A", "0") == Transition("1", "R", "B")
    assert machine.transition("A", "1") == Transition("1", "L", "B")
    assert machine.transition("B", "0") == Transition("1", "L", "A")
    assert machine.transition("B", "1") == Transition("1", "R", "Z")
    assert machine.transition("Z", "0") is None


def test_bb_text_undefined_entries_n_moves_and_several_halting_letters() -> None:
    machine = Machine.from_text("1NB---_0RH1LZ")
    assert machine.transition("A", "1") is None
    assert machine.transition("A", "0") == Transition("1", "N", "B")
    assert machine.halting == frozenset({"H", "Z"})
    assert machine.states == ("A", "B", "H", "Z")
    assert len(machine.transitions) == 3


def test_bb_text_with_three_symbols_and_surrounding_whitespace() -> None:
    machine = Machine.from_text("  1RB2LA1RZ_2LA0RB1LB\n")
    assert machine.symbols == ("0", "1", "2")
    assert machine.transition("B", "2") == Transition("1", "L", "B")


def test_json_reader_keeps_names_and_custom_blank() -> None:
    machine = Machine.from_json(json.dumps(INCREMENT))
    assert machine == Machine.from_json(INCREMENT)
    assert machine.blank == "_"
    assert machine.start == "right"
    assert machine.halting == frozenset({"done"})
    assert machine.transition("carry", "0") == Transition("1", "N", "done")
    assert machine.transition("carry", "_") == Transition("1", "N", "done")
    assert machine.transition("done", "1") is None


def test_json_multi_character_names_and_default_halting() -> None:
    spec = {
        "states": ["start", "loop"],
        "symbols": ["blank", "mark"],
        "blank": "blank",
        "start": "start",
        "transitions": [["start", "blank", "mark", "R", "loop"]],
    }
    machine = Machine.from_json(spec)
    assert machine.halting == frozenset()
    assert machine.transition("start", "blank") == Transition("mark", "R", "loop")


def test_to_text_writes_the_notation_it_reads() -> None:
    assert Machine.from_text(BB2).to_text() == BB2
    assert Machine.from_text("1NB---_0RH1LZ").to_text() == "1NB---_0RH1LZ"


def test_to_json_round_trip_of_a_named_machine() -> None:
    machine = Machine.from_json(INCREMENT)
    assert Machine.from_json(machine.to_json()) == machine
    assert sorted(map(tuple, json.loads(machine.to_json())["transitions"])) == sorted(
        map(tuple, INCREMENT["transitions"])
    )


@given(
    st.integers(1, 6), st.integers(1, 4), st.integers(0, 10**6), st.booleans(), st.sampled_from([0, 0.2, 1])
)
def test_random_machines_round_trip_through_both_forms(n_states, n_symbols, seed, n_moves, share) -> None:
    machine = random_machine(n_states, n_symbols, seed, halt_share=share, allow_n_moves=n_moves)
    assert Machine.from_text(machine.to_text()) == machine
    assert Machine.from_json(machine.to_json()) == machine
    assert pickle.loads(pickle.dumps(machine)) == machine


def test_machines_are_hashable_and_read_only() -> None:
    machine = Machine.from_text(BB2)
    assert hash(machine) == hash(Machine.from_text(BB2))
    with pytest.raises(TypeError):
        machine.transitions["A", "0"] = Transition("0", "R", "A")  # type: ignore[index]


def test_to_text_refuses_named_machines() -> None:
    with pytest.raises(MachineSpecError, match="no busy-beaver notation: the symbols"):
        Machine.from_json(INCREMENT).to_text()
    bb_like = {"states": ["A", "B", "Z"], "symbols": ["0", "1"], "blank": "0", "start": "A", "halting": ["Z"]}
    entry = ["A", "0", "1", "R", "B"]
    with pytest.raises(MachineSpecError, match="halting state.*Z are never entered"):
        Machine.from_json({**bb_like, "transitions": [entry]}).to_text()
    with pytest.raises(MachineSpecError, match="with start state A"):
        Machine.from_json({**bb_like, "start": "B", "transitions": [entry]}).to_text()
    assert Machine.from_json({**bb_like, "transitions": [entry, ["B", "1", "0", "L", "Z"]]}).to_text() == (
        "1RB---_---0LZ"
    )


def test_load_machine_accepts_all_three_forms(tmp_path) -> None:
    expected = Machine.from_text(BB2)
    assert load_machine(BB2) == expected
    assert load_machine(expected.to_json()) == expected
    json_file = tmp_path / "bb2.json"
    json_file.write_text(expected.to_json())
    assert load_machine(str(json_file)) == expected
    assert load_machine(json_file) == expected
    text_file = tmp_path / "bb2.txt"
    text_file.write_text(BB2 + "\n")
    assert load_machine(str(text_file)) == expected


# ----------------------------------------------------------------------------- bad specifications


def _json_with(**changes) -> str:
    spec = {**INCREMENT, **changes}
    return json.dumps({key: value for key, value in spec.items() if value is not None})


BAD_SPECS = [
    # (specification, fragments the message must contain)
    ("1RB1LB_1LA", ["group 2", "state B", "3 characters", "expected 6"]),
    ("1RB1L", ["group 1", "5 characters"]),
    ("1XB1LB_1LA1RZ", ["group 1", "triple 1", "move 'X'", "L, R, N"]),
    ("1RB1LB_1LA2RZ", ["group 2", "triple 2", "write symbol '2'", "0, 1"]),
    ("1RB1LB_1LA1R?", ["group 2", "triple 2", "next state '?'"]),
    ("-RB1LB_1LA1RZ", ["group 1", "triple 1", "write symbol '-'"]),
    ("   ", ["empty machine text"]),
    (_json_with(start="begin"), ["start state 'begin'", "right, carry, done"]),
    (_json_with(states=["right", "carry", "right", "done"]), ["states[2]", "listed twice", "states[0]"]),
    (_json_with(symbols=["_", "1", "1", "0"]), ["symbols[2]", "listed twice"]),
    (_json_with(states=["right", "$", "carry", "done"]), ["states[1]", "'$'", "reserved"]),
    (_json_with(symbols=["_", "0", "1", "|"]), ["symbols[3]", "'|'", "reserved"]),
    (_json_with(symbols=["#", "_", "0", "1"]), ["symbols[0]", "'#'", "reserved"]),
    (_json_with(states=["right", "carry", "all done"]), ["states[2]", "'all done'", "whitespace"]),
    (_json_with(symbols=["_", "0", "1", ""]), ["symbols[3]", "empty"]),
    (_json_with(states=["right", "carry", "done", "1"]), ["'1' is both a state and a symbol"]),
    (_json_with(blank="B"), ["blank 'B'", "_, 0, 1"]),
    (_json_with(halting=["stop"]), ["halting state 'stop'"]),
    (
        _json_with(transitions=[["right", "x", "0", "R", "right"]]),
        ["transitions[0]", "read symbol 'x'", "_, 0, 1"],
    ),
    (
        _json_with(transitions=[["right", "0", "0", "R", "right"], ["right", "1", "1", "U", "right"]]),
        ["transitions[1]", "move 'U'", "L, R, N"],
    ),
    (_json_with(transitions=[["right", "0", "7", "R", "right"]]), ["transitions[0]", "write symbol '7'"]),
    (
        _json_with(transitions=[["right", "0", "0", "R", "nowhere"]]),
        ["transitions[0]", "next state 'nowhere'"],
    ),
    (_json_with(transitions=[["wrong", "0", "0", "R", "right"]]), ["transitions[0]", "state 'wrong'"]),
    (
        _json_with(transitions=[["right", "0", "0", "R", "right"], ["right", "0", "1", "L", "carry"]]),
        ["transitions[1]", "(right, 0) again", "transitions[0]"],
    ),
    (
        _json_with(transitions=[["done", "0", "0", "R", "right"]]),
        ["transitions[0]", "'done' is a halting state"],
    ),
    (_json_with(transitions=[["right", "0", "0", "R"]]), ["transitions[0]", "5 strings"]),
    (_json_with(start=None), ["missing key 'start'"]),
    (json.dumps({**INCREMENT, "transition": []}), ["unknown key 'transition'"]),
    (_json_with(states="right carry"), ["states must be a list"]),
    ("[1, 2]", ["must be an object", "list"]),
    ('{"states": [}', ["not valid JSON"]),
]


@pytest.mark.parametrize(("spec", "fragments"), BAD_SPECS)
def test_bad_specifications_name_the_place(spec: str, fragments: list[str]) -> None:
    reader = Machine.from_json if spec.lstrip().startswith(("{", "[")) else Machine.from_text
    with pytest.raises(MachineSpecError) as caught:
        reader(spec)
    message = str(caught.value)
    assert isinstance(caught.value, TuringError)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_bb_errors_point_at_the_offending_character() -> None:
    with pytest.raises(MachineSpecError) as caught:
        Machine.from_text("1RB1LB_1LA1QZ")
    error = caught.value
    assert (error.line, error.column) == (1, 12)
    assert "1RB1LB_1LA1QZ"[error.column - 1] == "Q"
    assert str(error).splitlines()[-1] == "    " + " " * 11 + "^"


def test_invalid_json_reports_line_and_column() -> None:
    with pytest.raises(MachineSpecError) as caught:
        Machine.from_json('{"states": ["a"],\n  "symbols": ["0"] "blank": "0"}')
    assert (caught.value.line, caught.value.column) == (2, 20)


def test_load_machine_errors_name_the_file(tmp_path) -> None:
    with pytest.raises(MachineSpecError, match="cannot read machine file .*missing.json"):
        load_machine(str(tmp_path / "missing.json"))
    broken = tmp_path / "broken.json"
    broken.write_text(_json_with(start="begin"))
    with pytest.raises(MachineSpecError, match=r"broken\.json.*start state 'begin'"):
        load_machine(str(broken))
    bad_text = tmp_path / "bad.txt"
    bad_text.write_text("1RB1LB_1LA1QZ")
    with pytest.raises(MachineSpecError) as caught:
        load_machine(str(bad_text))
    assert caught.value.file == str(bad_text)
    assert caught.value.column == 12


def test_direct_construction_is_validated_too() -> None:
    with pytest.raises(MachineSpecError, match=r"transition \(A, 0\): move 'X'"):
        Machine(("A",), ("0",), "0", "A", frozenset(), {("A", "0"): Transition("0", "X", "A")})
    with pytest.raises(MachineSpecError, match="at least one state"):
        Machine((), ("0",), "0", "A", frozenset(), {})
