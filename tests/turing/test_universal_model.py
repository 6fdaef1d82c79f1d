"""The universal Turing Program compiled for the shape (2, 2): one model, many machines, its
teacher-forced predictions against the interpreter's and the reference trace's."""

from __future__ import annotations

import pytest

from rasp.errors import RaspError
from turing.machine import Machine
from turing.random_machines import random_machine, random_tape
from turing.shape import Shape, first_wrong_prediction, universal_trace
from turing.universal import interpreter_predictions
from turing.universal_model import compile_universal, teacher_forced

LENGTH = 192
SHAPE = Shape(2, 2)


@pytest.fixture(scope="module")
def model():
    return compile_universal(SHAPE, LENGTH)


def cases() -> list[list[str]]:
    """BB(2), a one-state machine, and random machines (some entries undefined), cut to the
    model's length."""
    machines = [Machine.from_text("1RB1LB_1LA1RZ"), Machine.from_text("1LA0RZ")]
    machines += [random_machine(2, 2, seed, halt_share=0.3) for seed in range(14)]
    inputs = [
        universal_trace(machine, random_tape(machine, seed % 3, seed), 40) for seed, machine in enumerate(machines)
    ]
    assert any(len(machine.transitions) < 4 for machine in machines)
    return [tokens[:LENGTH] for tokens in inputs]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_compiled_matches_interpreter_and_reference(model, dtype: str) -> None:
    inputs = cases()
    outputs = teacher_forced(model, inputs, LENGTH, dtype)
    for tokens, predicted in zip(inputs, outputs):
        start = tokens.index("|")
        assert predicted[start:] == interpreter_predictions(SHAPE, tokens)[start:]
        assert first_wrong_prediction(tokens, predicted) is None


def test_same_weights_for_every_machine(model) -> None:
    """The model takes any machine of the shape through its input alone: a machine compiled
    nowhere (BB(2) with its moves mirrored) runs on the same weights."""
    mirrored = Machine.from_text("1LB1RB_1RA1LZ")
    tokens = universal_trace(mirrored, (), 40)
    (predicted,) = teacher_forced(model, [tokens])
    assert first_wrong_prediction(tokens, predicted) is None


def test_input_longer_than_the_padding_is_refused(model) -> None:
    with pytest.raises(RaspError, match="more than the length 8"):
        teacher_forced(model, [universal_trace(Machine.from_text("1RB1LB_1LA1RZ"))], 8)
