"""The universal Turing Program (programs/universal_turing_machine.rasp) against the reference
simulator: one program bound to a shape, the machine's table in the input.

Teacher forcing: the interpreter evaluates the reference input (table and trace) causally, and
its prediction at every position from the first `|` on must be the reference's next token.  For a
causal program that is the same as generating greedily, by induction on the position; one test
generates through `run_machine` as well.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from turing.engines.universal import UniversalInterpreterEngine
from turing.harness import run_machine
from turing.machine import Machine
from turing.random_machines import random_machine, random_tape
from turing.shape import (
    RECORD_END,
    Shape,
    ShapeError,
    first_wrong_prediction,
    prompt_tokens,
    table_tokens,
    universal_trace,
)
from turing.simulator import simulate
from turing.universal import interpreter_predictions

BB2 = "1RB1LB_1LA1RZ"
BB3 = "1RB1RZ_1LB0RC_1LC1LA"
BB4 = "1RB1LB_1LA0LC_1RZ1LD_1RD0RA"
BB23 = "1RB2LB1RZ_2LA2RB1LB"


def predictions_after_prompt(shape: Shape, tokens: list[str]) -> list[str]:
    """The predictions from the first `|` on, one per token still to come."""
    start = tokens.index("|")
    return interpreter_predictions(shape, tokens)[start : len(tokens) - 1]


# ------------------------------------------------------------------------- hand-checked


def test_right_move_off_the_tape_then_halt_in_z() -> None:
    machine = Machine.from_text("1RZ---")  # A reading 0: write 1, move right, halt in Z
    tokens = universal_trace(machine, ["0"])
    assert tokens == "A 0 1 R Z ; $ A 0 | 1 Z 0 | #".split()
    # After `$ A 0 |`: the new configuration `1 Z 0` (a blank gained on the right), `|`, then `#`
    # because Z has no record.
    assert predictions_after_prompt(Shape(1, 2), tokens) == ["1", "Z", "0", "|", "#"]


def test_left_move_off_the_tape_grows_in_front() -> None:
    machine = Machine.from_text("1LZ---")
    tokens = universal_trace(machine, ["0"])
    assert tokens == "A 0 1 L Z ; $ A 0 | Z 0 1 | #".split()
    assert predictions_after_prompt(Shape(1, 2), tokens) == ["Z", "0", "1", "|", "#"]


def test_missing_record_halts_at_once() -> None:
    machine = Machine.from_text("1RZ---")  # no record for (A, 1)
    tokens = universal_trace(machine, ["1"])
    assert tokens == "A 0 1 R Z ; $ A 1 | #".split()
    assert predictions_after_prompt(Shape(1, 2), tokens) == ["#"]


def test_prompt_is_table_then_first_configuration() -> None:
    machine = Machine.from_text(BB2)
    assert table_tokens(machine) == "A 0 1 R B ; A 1 1 L B ; B 0 1 L A ; B 1 1 R Z ;".split()
    assert prompt_tokens(machine, ["1"]) == [*table_tokens(machine), "$", "A", "1", "|"]


# ------------------------------------------------------------------------- busy beavers


@pytest.mark.parametrize(
    ("text", "steps"),
    [(BB2, 6), (BB3, 21), (BB4, 107), (BB23, 38)],
    ids=["BB(2)", "BB(3)", "BB(4)", "BB(2,3)"],
)
def test_busy_beavers_exact(text: str, steps: int) -> None:
    machine = Machine.from_text(text)
    run = simulate(machine, (), 1000)
    assert run.halted and run.steps == steps
    tokens = universal_trace(machine, (), 1000)
    assert tokens[-1] == "#"
    predictions = interpreter_predictions(Shape.of(machine), tokens)
    assert first_wrong_prediction(tokens, predictions) is None


def test_generation_through_the_runner() -> None:
    machine = Machine.from_text(BB3)
    run = run_machine(UniversalInterpreterEngine(Shape(3, 2)), machine, (), max_steps=100)
    assert run.matches and run.halted
    assert run.tokens == universal_trace(machine, (), 100)[len(table_tokens(machine)) :]


# ------------------------------------------------------------------------- random machines


@settings(max_examples=40, deadline=None)
@given(
    n_states=st.integers(1, 4),
    n_symbols=st.integers(2, 3),
    spare=st.tuples(st.integers(0, 1), st.integers(0, 1)),
    halt_share=st.sampled_from([0.0, 0.2, 0.5]),
    n_moves=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
    tape_length=st.integers(0, 4),
    steps=st.integers(0, 25),
)
def test_random_machines_exact(
    n_states: int,
    n_symbols: int,
    spare: tuple[int, int],
    halt_share: float,
    n_moves: bool,
    seed: int,
    tape_length: int,
    steps: int,
) -> None:
    """Any machine within the shape, run by that shape's one program (`spare` makes the shape
    larger than the machine, which must not matter)."""
    machine = random_machine(n_states, n_symbols, seed, halt_share=halt_share, allow_n_moves=n_moves)
    tape = random_tape(machine, tape_length, seed)
    shape = Shape(n_states + spare[0], n_symbols + spare[1])
    tokens = universal_trace(machine, tape, steps)
    assert first_wrong_prediction(tokens, interpreter_predictions(shape, tokens)) is None


def test_random_machines_with_undefined_transitions() -> None:
    """Seeded machines of which every one leaves some entries undefined (halting by a missing
    record), each run until it halts or for 40 steps."""
    shape = Shape(3, 3)
    checked = 0
    for seed in range(40):
        machine = random_machine(3, 3, seed, halt_share=0.4)
        if len(machine.transitions) == 9:
            continue
        tokens = universal_trace(machine, random_tape(machine, 3, seed), 40)
        assert first_wrong_prediction(tokens, interpreter_predictions(shape, tokens)) is None, machine.to_text()
        checked += 1
    assert checked >= 20


def test_records_in_any_order() -> None:
    machine = Machine.from_text(BB23)
    table = table_tokens(machine)
    records = [table[i : i + 6] for i in range(0, len(table), 6)]
    random.Random(7).shuffle(records)
    shuffled = [token for record in records for token in record]
    assert shuffled != table and shuffled.count(RECORD_END) == len(records)
    tokens = [*shuffled, *universal_trace(machine, (), 20)[len(table) :]]
    assert first_wrong_prediction(tokens, interpreter_predictions(Shape(2, 3), tokens)) is None


def test_wrong_prediction_is_found() -> None:
    """The comparison itself can fail: a prediction off by one token is reported where it is."""
    machine = Machine.from_text(BB2)
    tokens = universal_trace(machine)
    predictions = interpreter_predictions(Shape(2, 2), tokens)
    position = tokens.index("|") + 3
    predictions[position] = "#"
    assert first_wrong_prediction(tokens, predictions) == position


# ------------------------------------------------------------------------------ shapes


def test_machine_outside_the_shape_is_refused() -> None:
    machine = Machine.from_text("1RB1LB_1LA1RH")  # halting state H, not Z
    with pytest.raises(ShapeError, match="state\\(s\\) H.*busy-beaver notation"):
        Shape(2, 2).check(machine)
    with pytest.raises(ShapeError, match="symbol\\(s\\) 2"):
        Shape(2, 2).check(Machine.from_text(BB23))


def test_shape_bounds() -> None:
    with pytest.raises(ShapeError, match="1 to 11 states"):
        Shape(12, 2)
    with pytest.raises(ShapeError, match="1 to 10 symbols"):
        Shape(2, 0)
    assert Shape.of(Machine.from_text(BB23)) == Shape(2, 3)
    assert Shape(2, 3).vocab() == ["#", "$", "|", ";", "L", "R", "N", "0", "1", "2", "A", "B", "Z"]
