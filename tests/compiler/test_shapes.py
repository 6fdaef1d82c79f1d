"""Zero-padding models to one shape, and batched greedy generation over padded models."""

from __future__ import annotations

import dataclasses

import pytest
from compiler_helpers import compiled

import compiler
import rasp
from compiled_model.batch import batch_generate
from compiled_model.decoder import Decoder
from compiled_model.errors import ModelError
from compiled_model.shapes import common_shape, pad, shape_of
from rasp import ir

REVERSE = ir.aggregate(ir.select(ir.indices, ir.length - ir.indices - 1, "=="), ir.tokens, default="")
PREVIOUS = ir.aggregate(ir.select(ir.indices, ir.indices - 1, "=="), ir.tokens, default="^")


def _following(order: str) -> dict[str, str]:
    return {a: b for a, b in zip(order, order[1:] + order[0])}


def _cycle(order: str) -> ir.SOp:
    """A causal next-token program: the token after tokens[i] in the cycle `order`."""
    following = _following(order)
    return ir.Map(fn=lambda x: following[x], inner=ir.tokens)


@pytest.mark.slow  # models at several padded shapes
def test_a_padded_model_computes_the_same() -> None:
    small = compiled(REVERSE, "ab", 8)
    large = compiled(ir.sequence_map(lambda a, b: a + b, REVERSE, PREVIOUS), "abcd", 8)
    shape = common_shape([small, large])
    padded = pad(small, shape)
    assert shape_of(padded) == shape and shape_of(pad(large, shape)) == shape
    assert shape.width > len(small.labels) and len(shape.layers) >= len(small.params["layers"])
    for tokens in ("abba", "b", "aabbab"):
        assert padded(tokens) == small(tokens) == REVERSE(tokens)
    assert padded.summary()["residual_width"] == shape.width


def test_models_for_different_lengths_share_no_shape() -> None:
    with pytest.raises(ModelError, match="cannot share a shape"):
        common_shape([compiled(REVERSE, "ab", 8), compiled(REVERSE, "ab", 9)])


def test_batch_generation_equals_one_decoder_per_model() -> None:
    orders = ("ab", "abc", "cab")
    models = [compiled(_cycle(order), order, 12, causal=True) for order in orders]
    shape = common_shape(models)
    prompts = [["a"], ["b", "c"], ["c"]]
    generated = batch_generate([pad(model, shape) for model in models], prompts, 10)
    for model, order, prompt, predictions in zip(models, orders, prompts, generated):
        fed = prompt + predictions[len(prompt) - 1 : 9]  # the prompt, then its own outputs
        assert predictions == [_following(order)[token] for token in fed]
        assert fed == Decoder(model).generate(prompt, 10 - len(prompt))


def test_generation_needs_outputs_that_are_tokens() -> None:
    count = ir.Map(fn=lambda x: 1 if x == "a" else 0, inner=ir.tokens)
    with pytest.raises(ModelError, match="not a token"):
        batch_generate([compiled(count, "ab", 6, causal=True)], [["a"]], 4)


def test_generation_needs_one_shape() -> None:
    models = [compiled(_cycle("ab"), "ab", 6, causal=True), compiled(_cycle("abc"), "abc", 6, causal=True)]
    with pytest.raises(ModelError, match="same shapes"):
        batch_generate(models, [["a"], ["a"]], 4)


def test_a_layer_with_head_modes_does_not_fit_a_shape_without_them() -> None:
    """Padding a length-free model (sum and latest heads) into a shape without head modes would
    turn its sums into averages: refused by name, never run."""
    session = rasp.Session()
    session.run('as_seen = selector_width(select(tokens, "a", ==));')
    model = compiler.compile(session["as_seen"], "ab", 8, causal=True, attention="hard", length_free=True)
    shape = shape_of(model)
    plain = dataclasses.replace(shape, layers=tuple(dataclasses.replace(layer, moded=False) for layer in shape.layers))
    with pytest.raises(ModelError, match="head modes"):
        pad(model, plain)
    assert pad(model, shape)(list("aba")) == [1, 1, 2]
