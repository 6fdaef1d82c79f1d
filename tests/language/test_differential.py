"""The vectorised interpreter against the literal pair-by-pair evaluator, on random programs and
inputs; and incremental causal evaluation against full causal evaluation."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

import rasp
from rasp import ir
from rasp.naive import naive_evaluate

OPS = ["==", "!=", "<", ">", "<=", ">="]


@st.composite
def programs(draw: st.DrawFn) -> ir.SOp:
    """Random graphs over int tokens: maps, sequence maps, selects, aggregates, widths."""
    sops: list[ir.SOp] = [ir.Tokens(kind="int"), ir.indices, ir.length]
    selectors: list[ir.Selector] = []
    for _ in range(draw(st.integers(1, 6))):
        choice = draw(st.integers(0, 5))
        pick = st.sampled_from(sops)
        if choice == 0:
            sops.append(draw(pick) + draw(st.integers(-2, 2)))
        elif choice == 1:
            sops.append(ir.binary(draw(st.sampled_from(["+", "-", "*"])), draw(pick), draw(pick)))
        elif choice == 2 or not selectors:
            selectors.append(ir.select(draw(pick), draw(pick), draw(st.sampled_from(OPS))))
        elif choice == 3:
            a, b = draw(st.sampled_from(selectors)), draw(st.sampled_from(selectors))
            selectors.append(draw(st.sampled_from([a & b, a | b, ~a])))
        elif choice == 4:
            sops.append(ir.aggregate(draw(st.sampled_from(selectors)), draw(pick), draw(st.integers(-1, 1))))
        else:
            sops.append(ir.selector_width(draw(st.sampled_from(selectors))))
    return sops[-1]


inputs = st.lists(st.integers(0, 5), min_size=1, max_size=9)


@settings(max_examples=200, deadline=None)
@given(programs(), inputs, st.booleans())
def test_interpreter_equals_naive_evaluation(program: ir.SOp, tokens: list[int], causal: bool) -> None:
    assert rasp.evaluate(program, tokens, causal=causal) == naive_evaluate(program, tokens, causal=causal)


@settings(max_examples=100, deadline=None)
@given(programs(), inputs)
def test_incremental_equals_full_causal_evaluation(program: ir.SOp, tokens: list[int]) -> None:
    incremental = rasp.IncrementalEvaluator(program)
    step_by_step = [incremental.append(t) for t in tokens]
    assert step_by_step == rasp.evaluate(program, tokens, causal=True)
    assert incremental.outputs == step_by_step


def test_long_sort_is_exact() -> None:
    session = rasp.Session(check_examples=False)
    session.run("tokens = tokens_int;\ns = sort(tokens, tokens);")
    data = [(i * 7919) % 1000 for i in range(10_000)]
    assert session["s"](data) == sorted(data)
