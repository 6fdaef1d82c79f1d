"""Size targets against Tracr's published figures, and exactness at a long length."""

from __future__ import annotations

import random

import pytest
from compiler_helpers import assert_agrees

import compiler
from benchmarks.tracr_programs import example

#: Tracr at max_seq_len 50: residual width and parameter count.
TRACR_AT_50 = {"reverse": (311, 6_900_000), "sort": (365, 1_680_000), "length": (108, 31_000)}


@pytest.mark.parametrize("name", sorted(TRACR_AT_50))
def test_at_most_half_the_width_and_a_tenth_of_the_params_of_tracr(name: str) -> None:
    ex = example(name, 50)
    summary = compiler.compile(ex.program, ex.vocab, 50).summary()
    width, params = TRACR_AT_50[name]
    assert summary["residual_width"] <= width / 2
    assert summary["params"] <= params / 10


@pytest.mark.parametrize("name", ["reverse", "sort"])
def test_exact_at_length_1000(name: str) -> None:
    ex = example(name, 1000)
    model = compiler.compile(ex.program, ex.vocab, 1000)
    rng = random.Random(7)
    inputs = [[rng.choice(ex.vocab) for _ in range(n)] for n in (1000, 999, 1)]
    assert_agrees(model, ex.program, inputs)


def test_positions_stay_numerical_in_causal_models() -> None:
    """Causal position arithmetic and equality selects keep the width independent of n."""
    from rasp import ir

    previous = ir.aggregate(ir.select(ir.indices, ir.length - 2, "=="), ir.tokens, default="^")
    widths = {
        n: compiler.compile(previous, "ab", n, causal=True).summary()["residual_width"] for n in (10, 500)
    }
    assert widths[10] == widths[500]
