"""The universal Turing Program compiled for the shape (2, 2): one model, many machines, its
teacher-forced predictions against the interpreter's and the reference trace's."""

from __future__ import annotations

import pytest
from host_devices import run_on_two_devices

import compiler
from rasp.errors import RaspError
from turing.machine import Machine
from turing.random_machines import random_machine, random_tape
from turing.shape import Shape, first_wrong_prediction, universal_trace
from turing.universal import interpreter_predictions, universal_sop
from turing.universal_model import teacher_forced, universal_model

LENGTH = 128
SHAPE = Shape(2, 2)


@pytest.fixture(scope="module")
def model():
    return universal_model(SHAPE, LENGTH).model  # shared with test_universal_engine.py through the cache


def cases() -> list[list[str]]:
    """BB(2), a one-state machine, and random machines (some entries undefined), cut to the
    model's length."""
    machines = [Machine.from_text("1RB1LB_1LA1RZ"), Machine.from_text("1LA0RZ")]
    machines += [random_machine(2, 2, seed, halt_share=0.3) for seed in range(8)]
    inputs = [
        universal_trace(machine, random_tape(machine, seed % 3, seed), 40) for seed, machine in enumerate(machines)
    ]
    assert any(len(machine.transitions) < 4 for machine in machines)
    return [tokens[:LENGTH] for tokens in inputs]


def test_compiled_matches_interpreter_and_reference(model) -> None:
    """In the model's own float type (its precision record's choice)."""
    inputs = cases()
    outputs = teacher_forced(model, inputs, LENGTH)
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


@pytest.mark.slow
def test_hard_attention_model_runs_as_one() -> None:
    """`teacher_forced` runs a hard-attention model with its hard heads (a softmax pass over hard
    weights predicts other tokens): at every position, the prompt included, it equals the
    interpreter."""
    shape = Shape(2, 2)
    hard = compiler.compile(universal_sop(shape), shape.vocab(), 64, causal=True, attention="hard")
    machines = [Machine.from_text("1RB1LB_1LA1RZ"), *(random_machine(2, 2, seed, halt_share=0.3) for seed in range(3))]
    inputs = [universal_trace(m, random_tape(m, seed % 3, seed), 20)[:64] for seed, m in enumerate(machines)]
    for tokens, predicted in zip(inputs, teacher_forced(hard, inputs, 64)):
        assert predicted == interpreter_predictions(shape, tokens)


def test_input_longer_than_the_padding_is_refused(model) -> None:
    with pytest.raises(RaspError, match="more than the length 8"):
        teacher_forced(model, [universal_trace(Machine.from_text("1RB1LB_1LA1RZ"))], 8)


SHARDED = """
import jax
from turing.machine import Machine
from turing.shape import Shape, first_wrong_prediction, universal_trace
from turing.universal_model import teacher_forced, universal_model

assert len(jax.devices()) == 2, jax.devices()
model = universal_model(Shape(1, 2), 64).model
inputs = [universal_trace(Machine.from_text(text), (), 6) for text in ("1RA1LZ", "0LA---", "1RZ0LA")]  # 6 steps
split = teacher_forced(model, inputs, 64)  # 3 inputs, padded to 4 rows over the 2 devices
assert split == teacher_forced(model, inputs, 64, devices=jax.devices()[:1])
assert all(first_wrong_prediction(tokens, predicted) is None for tokens, predicted in zip(inputs, split))
print("split over", len(jax.devices()))
"""


@pytest.mark.slow
def test_batches_are_split_across_devices() -> None:
    """Two host devices stand in for two accelerators (tests/turing/host_devices.py)."""
    assert "split over 2" in run_on_two_devices(SHARDED)
