"""Size targets against Tracr's published figures, and exactness at a long length."""

from __future__ import annotations

import random

import pytest
from compiler_helpers import assert_agrees

import compiler
from rasp.programs import library_program, tracr_programs

LIBRARY = tracr_programs()
#: Tracr's published (residual width, parameter count), by (program, N): literature constants.
TRACR = {(name, n): figures for name, entry in LIBRARY.items() for n, figures in entry.published.items()}


def _summary(name: str, n: int) -> dict:
    entry = LIBRARY[name]
    return compiler.compile(library_program(entry.program.name), entry.vocab(n), n).summary()


@pytest.mark.parametrize(("name", "n"), sorted(TRACR))
def test_at_most_half_the_width_of_tracr(name: str, n: int) -> None:
    assert _summary(name, n)["residual_width"] <= TRACR[name, n][0] / 2


@pytest.mark.parametrize(("name", "n"), sorted(key for key in TRACR if key[1] == 50))
def test_at_most_a_tenth_of_the_params_of_tracr_at_50(name: str, n: int) -> None:
    assert _summary(name, n)["params"] <= TRACR[name, n][1] / 10


@pytest.mark.slow
@pytest.mark.parametrize("name", ["reverse", "sort"])
def test_exact_at_length_1000(name: str) -> None:
    entry = LIBRARY[name]
    program = library_program(entry.program.name)
    model = compiler.compile(program, entry.vocab(1000), 1000)
    rng = random.Random(7)
    inputs = [[rng.choice(entry.vocab(1000)) for _ in range(n)] for n in (1000, 999, 1)]
    assert_agrees(model, program, inputs)


def test_positions_stay_numerical_in_causal_models() -> None:
    """Causal position arithmetic and equality selects keep the width independent of n."""
    from rasp import ir

    previous = ir.aggregate(ir.select(ir.indices, ir.length - 2, "=="), ir.tokens, default="^")
    widths = {
        n: compiler.compile(previous, "ab", n, causal=True).summary()["residual_width"] for n in (10, 500)
    }
    assert widths[10] == widths[500]
