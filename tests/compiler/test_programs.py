"""Differential tests of hand-written programs covering each IR operation and encoding."""

from __future__ import annotations

import random

import pytest
from compiler_helpers import assert_agrees, compiled

from rasp import ir

VOCAB = ("a", "b", "c")
INTS = (-2, 0, 1, 3)


def _random(vocab: tuple, max_seq_len: int, count: int = 15, seed: int = 0) -> list[list]:
    rng = random.Random(seed)
    return [[rng.choice(vocab) for _ in range(rng.randint(1, max_seq_len))] for _ in range(count)] + [
        [vocab[0]] * max_seq_len
    ]


tokens_int = ir.Tokens(kind="int")
is_a = ir.Map(fn=lambda x: 1 if x == "a" else 0, inner=ir.tokens, description="is a")

PROGRAMS = {
    # numerical means over prefixes, with the default for empty selections
    "prefix_mean": lambda: ir.aggregate(ir.select(ir.indices, ir.indices, "<"), is_a, default=-1),
    "mean_of_ints": lambda: ir.aggregate(ir.select(tokens_int, tokens_int, "<="), tokens_int, default=7),
    "negative_map": lambda: ir.Map(fn=lambda x: x * x - 3 if x < 2 else -x, inner=ir.indices - 2),
    "nonlinear_of_length": lambda: ir.Map(fn=lambda n: n % 3 == 0, inner=ir.length),
    "categorical_sequence_map": lambda: ir.sequence_map(
        lambda x, y: x + y, ir.tokens, ir.Map(fn=str, inner=ir.indices)
    ),
    "mixed_sequence_map": lambda: ir.sequence_map(lambda x, i: x if i % 2 else "-", ir.tokens, ir.indices),
    "two_numbers": lambda: ir.sequence_map(lambda i, n: i * n - i * i, ir.indices, ir.length),
    "selector_and": lambda: ir.selector_width(
        ir.select(ir.tokens, ir.tokens, "==") & ir.select(ir.indices, ir.indices, "<")
    ),
    "selector_or": lambda: ir.selector_width(
        ir.select(ir.tokens, "a", "==") | ir.select(ir.indices, ir.indices, ">")
    ),
    "selector_not": lambda: ir.selector_width(~ir.select(ir.tokens, ir.tokens, "==")),
    "not_of_and": lambda: ir.selector_width(
        ~(ir.select(ir.tokens, "a", "==") & ir.select(ir.indices, 1, ">="))
    ),
    "numeric_equality": lambda: ir.aggregate(
        ir.select(ir.indices, ir.length - ir.indices - 2, "=="), ir.tokens, "z"
    ),
    "empty_selection_default": lambda: ir.aggregate(ir.select(ir.tokens, "d", "=="), ir.indices, default=-5),
    "constant_false": lambda: ir.aggregate(ir.select(1, 2, "=="), ir.tokens, default="none"),
    "width_of_everything": lambda: ir.selector_width(ir.select(1, 1, "==")),
    # `or`s over several s-ops: selector widths counted over disjoint conjunctions
    "or_of_three": lambda: ir.selector_width(
        ir.select(ir.tokens, "a", "==") | ir.select(ir.indices, ir.indices, "<") | ir.select(ir.tokens, ir.tokens, ">")
    ),
    "not_of_or": lambda: ir.selector_width(
        ~(ir.select(ir.tokens, ir.tokens, "<") | ir.select(ir.indices, ir.indices, ">"))
    ),
    "and_of_or": lambda: ir.selector_width(
        ir.select(ir.tokens, ir.tokens, "==")
        & (ir.select(ir.indices, ir.indices, "<") | ir.select(ir.tokens, "b", "=="))
    ),
    "or_with_numeric_equality": lambda: ir.selector_width(
        ir.select(ir.indices, ir.length - ir.indices - 1, "==") | ir.select(ir.tokens, ir.tokens, "<")
    ),
    "numerical_order": lambda: ir.selector_width(ir.select(ir.length - ir.indices, ir.indices, ">")),
    "not_equal_positions": lambda: ir.aggregate(
        ir.select(ir.indices, ir.indices, "!=") & ir.select(ir.indices, 0, "=="), ir.tokens, "none"
    ),
    "constant_program": lambda: ir.Full(value=4) + ir.indices * 0,
    "chained_aggregates": lambda: ir.aggregate(
        ir.select(ir.indices, ir.selector_width(ir.select(ir.tokens, ir.tokens, "<")), "=="),
        ir.tokens,
        "none",
    ),
}


@pytest.mark.parametrize("max_seq_len", [1, 6])
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_program_matches_interpreter(name: str, max_seq_len: int) -> None:
    program = PROGRAMS[name]()
    vocab = INTS if name == "mean_of_ints" else VOCAB
    model = compiled(program, vocab, max_seq_len)
    assert_agrees(model, program, _random(vocab, max_seq_len, seed=max_seq_len))


CAUSAL = {
    "prefix_fraction": lambda: ir.aggregate(ir.select(1, 1, "=="), is_a, default=0),
    "previous_token": lambda: ir.aggregate(ir.select(ir.indices, ir.indices - 1, "=="), ir.tokens, "^"),
    "last_of_length": lambda: ir.aggregate(ir.select(ir.indices, ir.length - 1, "=="), ir.tokens, "^"),
    "running_count": lambda: ir.selector_width(ir.select(ir.tokens, ir.tokens, "==")),
    "position_arithmetic": lambda: ir.aggregate(
        ir.select(ir.indices, ir.length - 1 - ir.Map(fn=lambda x: x % 2, inner=ir.indices), "=="),
        ir.tokens,
        "^",
    ),
}


@pytest.mark.parametrize("name", sorted(CAUSAL))
def test_causal_program_matches_causal_interpretation(name: str) -> None:
    program = CAUSAL[name]()
    model = compiled(program, VOCAB, 7, causal=True)
    assert_agrees(model, program, _random(VOCAB, 7, seed=3))


def test_causal_model_differs_from_non_causal_interpretation() -> None:
    """Guards the causal test itself: the causal model does not compute the full-sequence result."""
    program = CAUSAL["prefix_fraction"]()
    model = compiled(program, VOCAB, 7, causal=True)
    assert model("bba") != program("bba")
    assert model("bba") == program("bba", causal=True)
