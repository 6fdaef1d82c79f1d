"""`compiled_model.fast_forward`: a hard model's whole-sequence pass with running heads as a scan,
lookups as a gather and categorical queries as one scan per query vector must give the streams
of the dense forward pass, on programs that use each kind of head, on random inputs padded as
teacher forcing pads them; the plan (`compiled_model.fast_plan`) is the fast decoder's too."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import compiler
from compiled_model.arithmetic import forward, precision, to_device
from compiled_model.errors import InexactQuery, ModelError
from compiled_model.fast_decoder import FastDecoder
from compiled_model.fast_forward import fast_forward
from compiled_model.fast_plan import ScanGroup, plan_of, tables_of
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


def _kinds(layers: tuple) -> set[str]:
    """The kinds of head a plan's layers run: scans of one vector ("running"), scans of a
    categorical query ("cases"), lookups and dense heads."""
    scans = {"cases" if group.dims else "running" for layer in layers for group in layer.scans}
    return scans | {kind for layer in layers for kind in ("lookups", "dense") if getattr(layer, kind)}


def test_each_kind_of_head_is_planned_as_expected() -> None:
    kinds = {name: _kinds(plan_of([_model(name)]).layers) for name in PROGRAMS}
    assert kinds["counted"] == {"running"} and kinds["shifted"] == {"lookups"}
    assert "cases" in kinds["same"] and "dense" in kinds["earlier"]
    tokens = _model("same").labels.index("tokens:a")  # hand-checked: the query reads the token's indicators
    assert plan_of([_model("same")]).layers[0].scans == (ScanGroup((0,), (tokens, tokens + 1, tokens + 2), True),)


def _fast(model: compiler.Transformer, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The fast pass's streams in float64."""
    plan = plan_of([model])
    with precision("float64"):
        tables = to_device(tables_of(model, plan), "float64")
        return np.asarray(fast_forward(model.device_params("float64"), tables, ids, mask, plan, model.window))


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
    fast = _fast(model, ids, mask)
    np.testing.assert_allclose(fast[mask], dense[mask], atol=1e-9)
    for row, text in enumerate(rows):
        assert model.decode(fast[row, 1 : 1 + len(text)]) == model.decode(dense[row, 1 : 1 + len(text)])
        assert model.decode(fast[row, 1 : 1 + len(text)]) == PROGRAMS[name](list(text), causal=True)


def test_a_softmax_model_is_refused() -> None:
    model = compiler.compile(PROGRAMS["counted"], "abc", N, causal=True)
    with pytest.raises(ModelError, match="hard-attention"):
        plan_of([model])


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_one_plan_serves_the_whole_pass_and_the_decoder(name: str) -> None:
    """The decoder's plan is the whole pass's, and its streams, one position at a time, are the
    whole pass's (the same sublayer over a block of one)."""
    model = _model(name)
    decoder = FastDecoder(model, "float64", chunk=8)
    assert decoder.plan == plan_of([model])
    tokens = list("abcab")
    ids, mask = model.encode([tokens])
    _, streams = decoder._run(tokens, 1, (), generating=False)
    np.testing.assert_allclose(np.concatenate(streams), _fast(model, ids, mask)[0], atol=1e-12)


def _inexact() -> compiler.Transformer:
    """The categorical query of `same`, its token `b` embedded at 0.9 rather than 1: the query
    is no vector of its scan (an exact model never does this)."""
    model = _model("same")
    params = {**model.params, "token_embed": model.params["token_embed"].copy()}
    params["token_embed"][2, model.labels.index("tokens:b")] = 0.9
    return compiler.Transformer(params, model.spec)


def test_an_inexact_categorical_query_is_refused_by_both_passes() -> None:
    model = _inexact()
    ids, mask = model.encode([list("ab")])
    with pytest.raises(InexactQuery, match="differs by 0.1"):
        _fast(model, ids, mask)
    with pytest.raises(InexactQuery, match="differs by 0.1"):
        FastDecoder(model, "float64").outputs(list("ab"))
    assert FastDecoder(model, "float64").outputs(list("aca")) == _model("same")(list("aca"))  # no `b`: exact
