"""The vectorised interpreter against the literal pair-by-pair evaluator, on random programs and
inputs; and incremental causal evaluation against full causal evaluation."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from random_programs import inputs, programs

import rasp
from rasp import ir
from rasp.naive import naive_evaluate


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
