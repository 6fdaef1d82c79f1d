"""Causal position arithmetic: the analyses and encodings that keep the width of a compiled
program independent of max_seq_len when positions are copied, counted, added and compared
for equality (the Turing Program does all four)."""

from __future__ import annotations

import random

import numpy as np
import pytest
from compiler_helpers import assert_agrees
from hypothesis import given
from hypothesis import strategies as st

import compiler
from compiler import mlps
from compiler.blocks import ONE
from compiler.valuesets import _sums, analyse, selects_at_most_one
from rasp import ir

FLAG = ir.Map(fn=lambda t: t == "|", inner=ir.tokens, description="tokens == '|'")


def opens() -> ir.Select:
    """A key filter, built afresh each time (as a program that writes it twice does)."""
    return ir.select(FLAG, True, "==")


COUNT = ir.selector_width(opens())  # causally: the `|` at or before each position
LAST_BAR = ir.select(COUNT, COUNT, "==") & opens()
PREVIOUS_BAR = ir.select(COUNT, COUNT - 1, "==") & opens()


def _random_inputs(count: int, length: int, seed: int = 0) -> list[list[str]]:
    rng = random.Random(seed)
    return [[rng.choice("ab|") for _ in range(rng.randint(1, length))] for _ in range(count)]


@pytest.mark.parametrize(
    ("selector", "causal", "single"),
    [
        (ir.select(ir.indices + 1, ir.indices, "=="), False, True),  # shift
        (ir.select(ir.indices, ir.length - ir.indices - 1, "=="), False, True),  # reverse
        (LAST_BAR, True, True),
        (PREVIOUS_BAR, True, True),
        (LAST_BAR, False, False),  # the count is a prefix count only in causal evaluation
        (ir.select(COUNT, COUNT, "=="), True, False),  # no filter: every token after a `|`
        (ir.select(ir.tokens, ir.tokens, "=="), True, False),
        (ir.select(ir.indices, ir.indices, "<="), True, False),
    ],
)
def test_selections_of_at_most_one_key(selector: ir.Selector, causal: bool, single: bool) -> None:
    assert selects_at_most_one(selector, causal) is single
    if single:  # the claim, checked against the interpreter's selection matrices
        for tokens in _random_inputs(40, 12):
            assert max(sum(row) for row in selector(tokens, causal=causal)) <= 1


def test_an_aggregate_of_one_key_copies_its_value_set() -> None:
    """The last `|` position is a position, not any mean of positions."""
    last = ir.aggregate(LAST_BAR, ir.indices, default=0)
    sets = analyse(last, "ab|", 50, causal=True)
    assert sets.known(last) == frozenset(range(50))
    assert 0.5 in analyse(last, "ab|", 50, causal=False).known(last)  # a mean of positions 0 and 1


@given(
    st.lists(st.integers(-40, 40), min_size=1, max_size=12, unique=True),
    st.lists(st.integers(-40, 40), min_size=1, max_size=12, unique=True),
    st.sampled_from([1.0, -1.0, 2.0, 0.5]),
)
def test_sums_of_value_sets_are_every_pairwise_sum(left: list[int], right: list[int], scale: float) -> None:
    a, b = np.array(left, float), scale * np.array(right, float)
    assert _sums(a, b).tolist() == sorted({x + y for x in a.tolist() for y in b.tolist()})


def _offset_program() -> ir.SOp:
    """The token `gap` positions back, where `gap` is the distance between the last two `|`:
    positions copied by attention, subtracted, and compared for equality with positions."""
    last = ir.aggregate(LAST_BAR, ir.indices, default=0)
    previous = ir.aggregate(PREVIOUS_BAR, ir.indices, default=0)
    gap = last - previous
    return ir.aggregate(ir.select(ir.indices, ir.indices - gap, "=="), ir.tokens, default="-")


@pytest.mark.parametrize("n", [24, 200])
def test_copied_and_subtracted_positions_compile_exactly(n: int) -> None:
    program = _offset_program()
    model = compiler.compile(program, "ab|", n, causal=True)
    inputs = [[random.Random(k).choice("ab|") for _ in range(n - k)] for k in range(6)]
    assert_agrees(model, program, inputs + _random_inputs(10, n, seed=n))


def test_width_does_not_grow_and_mlps_grow_linearly() -> None:
    program = _offset_program()
    small, large = (compiler.compile(program, "ab|", n, causal=True).summary() for n in (50, 800))
    assert small["residual_width"] == large["residual_width"]
    assert large["mlp_hidden_total"] <= 16 * small["mlp_hidden_total"] + 16


def test_a_compared_width_gets_its_square_from_its_decoder() -> None:
    """`select(COUNT, COUNT - 1, ==)` needs the square of COUNT: the units that decode the width
    also give its square, so the comparison's head follows in the next layer, not one later."""
    model = compiler.compile(ir.aggregate(PREVIOUS_BAR, ir.indices, default=0), "ab|", 30, causal=True)
    first = model.spec.layout[0].mlps
    assert [block.writes for block in first if block.node == COUNT.label] == [(COUNT.label, f"{COUNT.label}^2")]
    assert model.summary()["layers"] == 2


def test_a_clamped_query_steps_only_inside_the_keys_range() -> None:
    """`indices - gap` takes about 3n values, but a query outside the keys' positions matches
    none, so its MLP steps only where it can match: about 2 units per position, not per value."""
    n = 120
    model = compiler.compile(_offset_program(), "ab|", n, causal=True)
    (query,) = [m for m in model.spec.precision.mlps if m.node.startswith("sequencemap")]
    assert query.units <= 2 * (n + 4)


def test_steep_ramps_cancel_on_their_short_side() -> None:
    """A selector width's decoder steps at 1/(w+1), crowded near 0: each ramp's cancelling side
    is put towards that end, so no pre-activation exceeds about 2n (not 2n^2)."""
    n = 200
    widths = np.arange(n + 1)
    points = 1.0 / (widths[::-1] + 1.0)
    lookup = mlps.discretise({"x": 1.0}, points, widths[::-1, None].astype(float))
    assert lookup.max_preactivation <= 2 * n + 2
    out = np.tile(lookup.base, (len(points), 1))
    for pre, weights in lookup.units:
        out += np.maximum(pre["x"] * points + pre.get(ONE, 0.0), 0.0)[:, None] * weights[None, :]
    np.testing.assert_allclose(out[:, 0], widths[::-1], atol=1e-9)
