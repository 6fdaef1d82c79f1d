"""Differential tests: Tracr's library programs, compiled, against the interpreter."""

from __future__ import annotations

import random

import pytest
from compiler_helpers import assert_agrees, compiled
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.tracr_programs import LIBRARY, example

LENGTHS = (1, 5, 12)


def _inputs(vocab: tuple, max_seq_len: int, count: int, seed: int) -> list[list]:
    rng = random.Random(seed)
    inputs = [[rng.choice(vocab) for _ in range(rng.randint(1, max_seq_len))] for _ in range(count)]
    inputs.append([vocab[0]] * max_seq_len)  # the longest input, all tokens equal
    inputs.append([vocab[-1]])
    return inputs


@pytest.mark.parametrize("max_seq_len", LENGTHS)
@pytest.mark.parametrize("name", sorted(LIBRARY))
def test_library_program_matches_interpreter(name: str, max_seq_len: int) -> None:
    ex = example(name, max_seq_len)
    model = compiled(ex.program, ex.vocab, max_seq_len)
    assert_agrees(model, ex.program, _inputs(ex.vocab, max_seq_len, 12, seed=max_seq_len))


@pytest.mark.parametrize("name", ["reverse", "sort", "shuffle_dyck2", "detect_pattern", "hist"])
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_library_program_on_generated_inputs(name: str, data: st.DataObject) -> None:
    ex = example(name, 8)
    tokens = data.draw(st.lists(st.sampled_from(ex.vocab), min_size=1, max_size=8))
    assert_agrees(compiled(ex.program, ex.vocab, 8), ex.program, [tokens])


def test_shuffle_dyck_recognises_balanced_and_unbalanced_inputs() -> None:
    ex = example("shuffle_dyck2", 8)
    model = compiled(ex.program, ex.vocab, 8)
    assert model("({)}")[-1] is True
    assert model("(}{)")[-1] is False
    assert model(")(")[-1] is False
