"""Each kind of block on its own: MLP constructions, selector scores, one head, selector width."""

from __future__ import annotations

import numpy as np
import pytest
from compiler_helpers import assert_agrees

import compiler
from compiler import mlps
from compiler.blocks import ONE
from compiler.ledger import Ledger
from compiler.lowering import Lowering
from compiler.margins import rounding_apart
from compiler.mlp_blocks import output_columns, output_table
from compiler.valuesets import analyse
from rasp import ir


def _run_units(lookup: mlps.LookupMLP, u: np.ndarray) -> np.ndarray:
    """Evaluates a one-input lookup MLP (input dimension "x") at the points u."""
    out = np.tile(lookup.base, (len(u), 1))
    for pre, weights in lookup.units:
        hidden = np.maximum(pre.get("x", 0.0) * u + pre.get(ONE, 0.0), 0.0)
        out += hidden[:, None] * weights[None, :]
    return out


POINTS = np.array([-3.0, -1.0, 0.0, 2.0, 5.0])
TABLE = np.array([[4.0, 0.0], [-2.0, 1.0], [0.0, 0.0], [7.0, 1.0], [7.0, 0.0]])


@pytest.mark.parametrize("build", [mlps.interpolate, mlps.discretise])
def test_lookup_mlp_is_exact_on_its_points(build) -> None:
    lookup = build({"x": 1.0}, POINTS, TABLE)
    np.testing.assert_allclose(_run_units(lookup, POINTS), TABLE, atol=1e-12)


def test_discretise_tolerates_a_quarter_gap() -> None:
    lookup = mlps.discretise({"x": 1.0}, POINTS, TABLE)
    gaps = np.minimum(np.diff(POINTS, prepend=-np.inf), np.diff(POINTS, append=np.inf))
    for sign in (-1, 1):
        np.testing.assert_allclose(_run_units(lookup, POINTS + sign * 0.24 * gaps), TABLE, atol=1e-9)


def test_interpolate_uses_one_unit_per_slope_change() -> None:
    lookup = mlps.interpolate({"x": 1.0}, np.arange(6.0), np.arange(6.0)[:, None] * 2 + 1)
    assert len(lookup.units) == 1  # an affine table needs a single unit (its slope from the start)


def test_conjunction_units_fire_only_on_their_tuple() -> None:
    a, b = {"a": 1.0}, {"b": 1.0}
    lookup = mlps.conjunctions([[a, b]], np.array([[5.0]]), np.array([0.0]))
    ((pre, out),) = lookup.units
    for x in (0.0, 1.0):
        for y in (0.0, 1.0):
            hidden = max(pre.get("a", 0) * x + pre.get("b", 0) * y + pre.get(ONE, 0), 0.0)
            assert hidden * out[0] == (5.0 if x == y == 1.0 else 0.0)


def _score_matrix(
    selector: ir.Selector, keys: ir.SOp, queries: ir.SOp, n: int = 6
) -> tuple[list, list, np.ndarray]:
    """The score of every (query value, key value) pair, evaluating the functionals on
    residual vectors built from each s-op's representation."""
    sets = analyse(ir.selector_width(selector), ("a", "b", "c"), n)
    lowering = Lowering(Ledger(sets))
    score = lowering.scores.score(selector, selector)
    assert not lowering.ledger.blocks  # these selectors need no MLP
    values = lambda node: sorted(sets.known(node), key=str)  # noqa: E731

    def vector(node: ir.SOp, value) -> dict[str, float]:
        if isinstance(node, ir.Indices):
            return {"indices": value, "indices^2": value * value, f"indices={value}": 1.0, str(ONE): 1.0}
        return {f"tokens:{value}": 1.0, str(ONE): 1.0}

    def apply(functional, vec) -> float:  # the residual read through each dimension's label
        return sum(c * vec.get(str(dim), 0.0) for dim, c in functional.items())

    qs, ks = values(queries), values(keys)
    matrix = np.array(
        [
            [
                sum(apply(q, vector(queries, qv)) * apply(k, vector(keys, kv)) for q, k in score.terms)
                for kv in ks
            ]
            for qv in qs
        ]
    )
    return qs, ks, matrix


@pytest.mark.parametrize(
    "make",
    [
        lambda: ir.select(ir.tokens, ir.tokens, "<"),
        lambda: ir.select(ir.indices, ir.indices, "=="),
        lambda: ir.select(ir.indices, ir.indices, ">="),
        lambda: ~ir.select(ir.tokens, ir.tokens, "=="),
    ],
)
def test_selector_score_is_one_when_selected_and_at_most_zero_otherwise(make) -> None:
    selector = make()
    leaf = selector if isinstance(selector, ir.Select) else selector.inner
    qs, ks, matrix = _score_matrix(selector, leaf.keys, leaf.queries)
    for i, q in enumerate(qs):
        for j, k in enumerate(ks):
            selected = ir.COMPARISONS[leaf.op](k, q) != isinstance(selector, ir.SelectorNot)
            if selected:
                assert matrix[i, j] == pytest.approx(1.0)
            else:
                assert matrix[i, j] <= 1e-9


def test_aggregate_head_attends_uniformly_to_selected_keys_or_to_bos() -> None:
    selector = ir.select(ir.tokens, ir.tokens, "==")
    program = ir.aggregate(selector, ir.Map(fn=lambda x: 1 if x == "a" else 0, inner=ir.tokens), default=0)
    model = compiler.compile(program, "abc", 6)
    tokens = "abcaab"
    pattern = model.inspect(tokens)["attention"][0][0]  # (query, key) incl. BOS
    expected = np.array(selector(tokens), float)
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(pattern[1:, 1:], expected, atol=1e-5)  # softmax leak
    assert pattern[0, 0] == pytest.approx(1.0)  # the BOS query sees only itself

    empty = compiler.compile(ir.aggregate(ir.select(ir.tokens, "z", "=="), ir.indices, default=-1), "abc", 6)
    pattern = empty.inspect("abc")["attention"][0][0]
    np.testing.assert_allclose(pattern[:, 0], 1.0, atol=1e-6)  # nothing selected: all weight on BOS


def test_selector_width_head_gives_bos_weight_one_over_width_plus_one() -> None:
    selector = ir.select(ir.tokens, ir.tokens, "<=")
    model = compiler.compile(ir.selector_width(selector), "abc", 8)
    tokens = "cabbca"
    view = model.inspect(tokens)
    (raw,) = [i for i, label in enumerate(view["labels"]) if label.endswith("/bos")]
    widths = np.array(selector(tokens)).sum(axis=1)
    # within the decoder's tolerance: an eighth of the smallest gap between 1/(w+1) values
    np.testing.assert_allclose(view["residuals"][1][1:, raw], 1.0 / (widths + 1.0), atol=1 / (8 * 8 * 9))
    assert model(tokens) == widths.tolist()


@pytest.mark.parametrize("build", [mlps.interpolate, mlps.discretise])
def test_a_one_point_lookup_is_its_constant(build) -> None:
    lookup = build({"x": 1.0}, np.array([4.0]), np.array([[3.0, -1.0]]))
    assert lookup.units == []
    assert lookup.base.tolist() == [3.0, -1.0]


def test_discretise_spends_units_only_where_the_table_changes() -> None:
    """A step at 300 and one back at 700 over 1000 points: two ramps of two units each."""
    points = np.arange(1000.0)
    table = ((points >= 300) & (points < 700)).astype(float)[:, None]
    lookup = mlps.discretise({"x": 1.0}, points, table)
    assert len(lookup.units) == 4
    np.testing.assert_allclose(_run_units(lookup, points), table, atol=1e-9)
    assert lookup.tolerance == 0.25  # a quarter of the unit gap at both steps


def test_rounding_apart_compares_neighbours_elementwise() -> None:
    left = np.array([1.0, 1.0, 1.0, 1e12])
    right = np.array([0.9999999999999999, 1.0, 1.1, 1e12 + 1e-3])
    assert rounding_apart(left, right).tolist() == [True, False, False, True]


def test_output_table_is_one_hot_in_value_order() -> None:
    outputs = [True, "b", False, True, "b"]
    columns = output_columns(outputs)
    assert columns == [False, True, "b"]
    assert output_table(outputs, columns).tolist() == [[0, 1, 0], [0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]]
    assert output_columns([2, 0.5]) == [None]
    assert output_table([2, 0.5], [None]).tolist() == [[2.0], [0.5]]


def test_a_map_that_fails_on_some_values_leaves_them_out() -> None:
    """12 // (i - 3) fails at position 3: the value set and the lookup MLP skip that point, and
    the model agrees with the interpreter on every input that never reaches it.  On one that
    does, a flag that the map is defined is off at position 3, and the model refuses there."""
    program = ir.Map(fn=lambda x: 12 // x, inner=ir.indices - 3)
    sets = analyse(program, "ab", 8)
    assert sets[program] == frozenset({-4, -6, -12, 12, 6, 4, 3})
    model = compiler.compile(program, "ab", 8)
    assert_agrees(model, program, [list("a"), list("ab"), list("abb")])
    result = compiler.verify(model, program, [list("abab"), list("abbab")])
    assert [(len(m["input"]), m["position"]) for m in result.mixtures] == [(4, 3), (5, 3)]
    assert all("fails on its input" in m["reason"] for m in result.mixtures)
    assert not result.unrefused and result.ok
