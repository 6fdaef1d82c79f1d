"""The one definition of the transformer (`compiled_model.arithmetic`): its three callers agree with
each other and with the interpreter, and float64 is scoped to the call.  (The import ladder is
tests/test_architecture.py's.)"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from compiler_helpers import compiled
from hypothesis import given, settings
from hypothesis import strategies as st

import compiler
from compiled_model import arithmetic as transformer
from compiled_model import batch as decoder
from compiled_model import serialization
from compiled_model.batch import batch_generate
from compiled_model.decoder import Decoder
from rasp import ir
from rasp.errors import RaspError

WIDTH, HEADS, DEPTH, HIDDEN, LENGTH = 6, 2, 3, 5, 5


def random_params(seed: int) -> transformer.Params:
    """Two layers of random weights, the second without hidden units (a skipped MLP)."""
    rng = np.random.default_rng(seed)

    def layer(hidden: int) -> dict[str, dict[str, np.ndarray]]:
        return {
            "attn": {
                "w_q": rng.normal(size=(HEADS, WIDTH, DEPTH)),
                "w_k": rng.normal(size=(HEADS, WIDTH, DEPTH)),
                "w_v": rng.normal(size=(HEADS, WIDTH, DEPTH)),
                "w_o": rng.normal(size=(HEADS, DEPTH, WIDTH)),
            },
            "mlp": {
                "w_in": rng.normal(size=(WIDTH, hidden)),
                "b_in": rng.normal(size=hidden),
                "w_out": rng.normal(size=(hidden, WIDTH)),
                "b_out": rng.normal(size=WIDTH),
            },
        }

    return {
        "token_embed": rng.normal(size=(4, WIDTH)),
        "pos_embed": rng.normal(size=(LENGTH, WIDTH)),
        "layers": [layer(HIDDEN), layer(0)],
        "unembed": rng.normal(size=(WIDTH, 3)),
    }


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), tokens=st.lists(st.integers(1, 3), min_size=LENGTH - 1, max_size=LENGTH - 1))
def test_forward_step_and_numpy_layer_agree(seed: int, tokens: list[int]) -> None:
    """The whole-sequence pass, the KV-cached step scanned over positions, and the numpy layer
    applied by hand give the same causal streams (float64, up to rounding order)."""
    params = random_params(seed)
    ids = np.array([0, *tokens], np.int32)
    with transformer.precision("float64"):
        device = transformer.to_device(params, "float64")
        whole = np.asarray(transformer.forward(device, ids[None], np.ones((1, LENGTH), bool), causal=True)[0])
        stepped = np.asarray(decoder._run(device, ids))
    x = params["token_embed"][ids] + params["pos_embed"]
    causal = np.tril(np.ones((LENGTH, LENGTH), bool))
    for weights in params["layers"]:
        x = transformer.layer(x, weights, causal, xp=np)[1]
    # entries reach ~100 after two random layers; XLA and numpy sum in different orders, which
    # moves the last few of float64's 53 bits (seen: 1.4e-12 relative)
    np.testing.assert_allclose(whole, x, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(stepped, x, rtol=1e-10, atol=1e-10)


def test_a_single_position_attends_to_itself_exactly() -> None:
    """The assembly's BOS bookkeeping relies on it: one visible key gets weight exactly 1, so
    the attention sublayer adds value @ w_o, bit for bit."""
    weights = random_params(1)["layers"][0]
    x = np.random.default_rng(2).normal(size=(1, WIDTH))
    _, after, pattern, _ = transformer.layer(x, weights, np.ones((1, 1), bool), xp=np)
    assert np.all(pattern == 1.0)
    values = np.einsum("...td,hde->...hte", x, weights["attn"]["w_v"])
    attended = x + np.einsum("...hqe,hed->...qd", values, weights["attn"]["w_o"])
    assert np.array_equal(after, attended + transformer.mlp(attended, weights["mlp"], xp=np))


def test_the_bos_stream_does_not_depend_on_the_input() -> None:
    """What the assembly's BOS bookkeeping assumes of the forward pass: in a causal model, after
    every sublayer the BOS stream is the same for every input (bit for bit), and the outputs
    are the interpreter's."""
    program = ir.aggregate(ir.select(ir.tokens, ir.tokens, "<="), ir.indices, default=0)
    model = compiled(program, "abc", 5, causal=True)
    rows = [model.inspect(tokens, "float64")["residuals"] for tokens in ("a", "cab", "bbca")]
    for streams in zip(*rows):
        assert all(np.array_equal(streams[0][0], other[0]) for other in streams[1:])
    assert model.predict(["a", "cab", "bbca"]) == [program(t, causal=True) for t in ("a", "cab", "bbca")]


def test_float64_is_scoped_to_the_call() -> None:
    """Running float64 models, decoders and batches leaves JAX's 64-bit flag as it was, and
    float32 runs stay float32 whatever the flag (on inside a caller's own scope too)."""
    nxt = ir.Map(fn=lambda x: {"a": "b", "b": "c", "c": "a"}[x], inner=ir.tokens)
    model = compiled(nxt, "abc", 6, causal=True)
    before = jax.config.jax_enable_x64
    assert model("abc", dtype="float64") == nxt("abc", causal=True)
    assert Decoder(model, "float64").generate("a", 3) == list("abca")
    assert batch_generate([model, model], ["a", "b"], 3, dtype="float64") == [list("bca"), list("cab")]
    assert jax.config.jax_enable_x64 == before
    assert model.device_params("float64")["unembed"].dtype == jnp.float64
    for outer in (False, True):
        with jax.enable_x64(outer):
            ids, mask = model.encode(["abc"])
            with transformer.precision("float32"):
                stream = transformer.forward(model.device_params("float32"), ids, mask, True)
            assert stream.dtype == jnp.float32
            assert model("cab", dtype="float32") == nxt("cab", causal=True)
            assert jax.config.jax_enable_x64 == outer


def test_model_files_choose_their_format(tmp_path: Path) -> None:
    model = compiled(ir.Map(fn=lambda x: x == "a", inner=ir.tokens), "ab", 3)
    path = tmp_path / "model.bin"
    model.save(path, "safetensors")  # a name without the suffix: the content tells
    assert compiler.load(path)("abb") == [True, False, False]
    params, spec = serialization.load(path)
    assert spec == model.spec and set(serialization.flatten(params)) == set(model.arrays())
    with pytest.raises(RaspError, match="unknown model file format 'pickle'"):
        model.save(tmp_path / "model.pkl", "pickle")
