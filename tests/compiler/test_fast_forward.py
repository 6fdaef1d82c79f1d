"""`compiled_model.fast_forward`: a hard model's whole-sequence pass with running heads as a scan,
lookups as a gather and categorical queries as one scan per query vector must give the streams
of the dense forward pass, on programs that use each kind of head, on random inputs padded as
teacher forcing pads them."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import compiler
from compiled_model.arithmetic import forward, precision
from compiled_model.fast_forward import fast_forward, plan
from rasp import ir

N = 8
BATCH = 4


def _programs() -> dict[str, ir.SOp]:
    counted = ir.selector_width(ir.select(ir.tokens, "a", "=="))  # a running head
    latest_a = ir.aggregate(  # the latest `a` at or before i: a latest match (running)
        ir.select(counted, counted, "==") & ir.select(ir.tokens, "a", "=="), ir.indices, 0
    )
    shifted = ir.aggregate(ir.select(ir.indices + 2, ir.indices, "=="), ir.tokens, "_")  # a lookup
    same = ir.aggregate(ir.select(ir.tokens, ir.tokens, "=="), ir.indices)  # a categorical query
    earlier = ir.selector_width(ir.select(ir.indices, ir.indices, "<"))  # dense
    return {"counted": counted, "latest": latest_a, "shifted": shifted, "same": same, "earlier": earlier}


PROGRAMS = _programs()
_models: dict[str, compiler.Transformer] = {}


def _model(name: str) -> compiler.Transformer:
    if name not in _models:
        _models[name] = compiler.compile(PROGRAMS[name], "abc", N, causal=True, attention="hard")
    return _models[name]


def test_each_kind_of_head_is_planned_as_expected() -> None:
    kinds = {}
    for name in PROGRAMS:
        layers = plan(_model(name).params, _model(name).spec).layers
        kinds[name] = {k for layer in layers for k in ("running", "lookups", "cases", "dense") if getattr(layer, k)}
    assert kinds["counted"] == {"running"} and kinds["shifted"] == {"lookups"}
    assert "cases" in kinds["same"] and "dense" in kinds["earlier"]


@pytest.mark.parametrize("name", sorted(PROGRAMS))
@settings(max_examples=15, deadline=None)
@given(st.lists(st.text(alphabet="abc", min_size=1, max_size=N), min_size=1, max_size=BATCH))
def test_the_fast_pass_equals_the_dense_pass(name: str, inputs: list[str]) -> None:
    model = _model(name)
    rows = [*inputs, *[inputs[0]] * (BATCH - len(inputs))]  # one shape: BATCH rows (repeats are inputs too)
    ids, mask = model.encode([list(text) for text in rows])
    ids = np.pad(ids, ((0, 0), (0, N + 1 - ids.shape[1])))  # and N + 1 positions: padding after the tokens
    mask = np.pad(mask, ((0, 0), (0, N + 1 - mask.shape[1])))
    with precision("float64"):
        params = model.device_params("float64")
        dense = np.asarray(forward(params, ids, mask, True, window=model.window))
        fast = np.asarray(fast_forward(params, ids, mask, plan(model.params, model.spec), model.window))
    np.testing.assert_allclose(fast[mask], dense[mask], atol=1e-9)
    for row, text in enumerate(rows):
        assert model.decode(fast[row, 1 : 1 + len(text)]) == model.decode(dense[row, 1 : 1 + len(text)])
        assert model.decode(fast[row, 1 : 1 + len(text)]) == PROGRAMS[name](list(text), causal=True)


def test_a_softmax_model_is_refused() -> None:
    model = compiler.compile(PROGRAMS["counted"], "abc", N, causal=True)
    with pytest.raises(ValueError, match="hard-attention"):
        plan(model.params, model.spec)
