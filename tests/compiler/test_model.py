"""The compiled model as an object: summary, parameters, batching, save/load, decoding."""

from __future__ import annotations

import numpy as np
import pytest
from compiler_helpers import compiled

import compiler
from compiled_model.batch import batch_outputs
from compiled_model.decoder import Decoder
from compiled_model.errors import ModelError
from rasp import ir
from rasp.errors import RaspError
from rasp.programs import library_program


@pytest.fixture(scope="module")
def reverse() -> tuple[ir.SOp, compiler.Transformer]:
    program = library_program("reverse")
    return program, compiled(program, "abc", 6)


def test_summary_counts_the_parameter_arrays(reverse) -> None:
    _, model = reverse
    summary = model.summary()
    arrays = [model.params["token_embed"], model.params["pos_embed"], model.params["unembed"]]
    for layer in model.params["layers"]:
        arrays += list(layer["attn"].values()) + list(layer["mlp"].values())
    assert summary["params"] == sum(a.size for a in arrays)
    assert summary["nonzero_params"] == sum(np.count_nonzero(a) for a in arrays)
    assert summary["residual_width"] == model.params["token_embed"].shape[1] == len(model.labels)
    assert summary["layers"] == len(model.params["layers"])
    assert summary["heads"] == sum(layer["attn"]["w_q"].shape[0] for layer in model.params["layers"])
    assert summary["mlp_hidden"] == max(layer["mlp"]["w_in"].shape[1] for layer in model.params["layers"])


def test_batch_with_padding_equals_single_runs(reverse) -> None:
    program, model = reverse
    inputs = ["a", "abcab", "cba", "abcabc"]
    assert model.predict(inputs) == [program(tokens) for tokens in inputs]
    assert model.predict(inputs) == [model(tokens) for tokens in inputs]


def test_float64_gives_the_same_outputs(reverse) -> None:
    program, model = reverse
    assert model("abcca", dtype="float64") == program("abcca")


def test_save_and_load_round_trip(reverse, tmp_path) -> None:
    program, model = reverse
    path = tmp_path / "reverse.npz"
    model.save(path)
    loaded = compiler.load(path)
    assert loaded.spec == model.spec
    assert loaded.summary() == model.summary()
    for name in ("token_embed", "pos_embed", "unembed"):
        np.testing.assert_array_equal(loaded.params[name], model.params[name])
    assert loaded("abcab") == program("abcab")
    with np.load(path, allow_pickle=False) as data:  # readable without pickle
        assert "__metadata__" in data.files


@pytest.mark.parametrize(
    "table", [{"a": 1, "b": 2}, {"a": 1.5, "b": 1.0}, {"a": True, "b": False}, {"a": "1", "b": "x"}]
)
def test_save_keeps_value_types(table, tmp_path) -> None:
    program = ir.Map(fn=lambda x: table[x], inner=ir.tokens)
    compiler.compile(program, "ab", 3).save(tmp_path / "m.npz")
    out = compiler.load(tmp_path / "m.npz")("abb")
    assert out == program("abb") and [type(v) for v in out] == [type(v) for v in program("abb")]


def test_load_rejects_other_files(tmp_path) -> None:
    np.savez(tmp_path / "plain.npz", x=np.zeros(3))
    with pytest.raises(RaspError):
        compiler.load(tmp_path / "plain.npz")
    with pytest.raises(RaspError):
        compiler.load(tmp_path / "missing.npz")


def test_inputs_outside_the_model_are_rejected(reverse) -> None:
    _, model = reverse
    with pytest.raises(RaspError):
        model("abcabca")
    with pytest.raises(RaspError):
        model("xyz")


@pytest.mark.parametrize("attention", ["soft", "hard"])
def test_categorical_mean_is_flagged_as_mixture(attention: str) -> None:
    """Keys 0 and 1 selected at every position: the interpreter refuses to average strings,
    equal or not.  With
    different strings ("ab") the one-hot mean is a mixture; with equal ones ("aa") it is a
    clean "a", and only the several-keys check tells (issue 23: `run-model` printed `a a`)."""
    program = ir.aggregate(ir.select(ir.indices, 1, "<="), ir.tokens, default="-")
    model = compiler.compile(program, "ab", 4, attention=attention)
    result = compiler.verify(model, program, ["ab", "a", "aa"])
    flagged = {("".join(m["input"]), m["position"], m["reason"].split()[1]) for m in result.mixtures}
    assert flagged == {
        ("ab", 0, "aggregate"), ("ab", 1, "aggregate"), ("ab", 0, "categorical"), ("ab", 1, "categorical"),
        ("aa", 0, "aggregate"), ("aa", 1, "aggregate"),
    }
    assert len(result.interpreter_errors) == 2 and result.total == 1 and result.agreeing == 1
    assert not result.unrefused and result.ok


def test_incremental_decoder_matches_causal_interpretation() -> None:
    is_a = ir.Map(fn=lambda x: 1 if x == "a" else 0, inner=ir.tokens)
    program = ir.sequence_map(
        lambda f, p: f"{f:.2f}:{p}",
        ir.aggregate(ir.select(1, 1, "=="), is_a, default=0),
        ir.aggregate(ir.select(ir.indices, ir.indices - 1, "=="), ir.tokens, default="^"),
    )
    model = compiled(program, "abc", 6, causal=True)
    decoder = Decoder(model)
    tokens = "abaacb"
    assert decoder.extend(tokens) == program(tokens, causal=True)
    decoder.reset()
    assert decoder.append("b") == program("b", causal=True)[0]
    inputs = ["abca", "bbbb", "caab"]
    assert batch_outputs([model] * 3, inputs) == [program(t, causal=True) for t in inputs]


def test_generation_feeds_outputs_back() -> None:
    """A causal 'next token' program: the output at i is the token after tokens[i] in a cycle."""
    nxt = ir.Map(fn=lambda x: {"a": "b", "b": "c", "c": "a"}[x], inner=ir.tokens)
    model = compiled(nxt, "abc", 6, causal=True)
    assert Decoder(model).generate("a", 4) == list("abcab")


def test_decoder_needs_a_causal_model(reverse) -> None:
    _, model = reverse
    with pytest.raises(ModelError):
        Decoder(model)
