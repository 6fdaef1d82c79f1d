"""Incremental (KV-cached) decoding of causal models.

In a causal model the stream at position i depends on positions <= i only, so a new token
needs one new row per layer: its query attends over the cached keys and values of the earlier
positions.  The cache has a fixed capacity (max_seq_len + 1, the BOS included) so that one XLA
compilation serves every step: a step costs O(capacity) for the attention rows (masked beyond
the current position) and O(1) for everything else.

`batch_outputs` runs several models of the same shapes on token sequences of one length in one
call: the step is scanned over positions and vmapped over models, for batch verification (of
Turing machines compiled from one program, say).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from compiler.errors import CompileError
from compiler.model import Params, Transformer

Cache = list[tuple[jax.Array, jax.Array]]


def empty_cache(params: Params, capacity: int) -> Cache:
    """Keys (heads, capacity, key depth) and values (heads, capacity, value depth) per layer."""
    cache = []
    for layer in params["layers"]:
        w_k, w_v = layer["attn"]["w_k"], layer["attn"]["w_v"]
        cache.append(
            (
                jnp.zeros((w_k.shape[0], capacity, w_k.shape[2]), w_k.dtype),
                jnp.zeros((w_v.shape[0], capacity, w_v.shape[2]), w_v.dtype),
            )
        )
    return cache


def _step(params: Params, cache: Cache, token_id: jax.Array, position: jax.Array) -> tuple[Cache, jax.Array]:
    """One position: the residual stream at `position` after the last layer, and the cache
    with this position's keys and values written in."""
    x = params["token_embed"][token_id] + params["pos_embed"][position]
    updated = []
    for layer, (keys, values) in zip(params["layers"], cache):
        attn = layer["attn"]
        if attn["w_q"].shape[0]:
            q = jnp.einsum("d,hde->he", x, attn["w_q"])
            keys = keys.at[:, position].set(jnp.einsum("d,hde->he", x, attn["w_k"]))
            values = values.at[:, position].set(jnp.einsum("d,hde->he", x, attn["w_v"]))
            logits = jnp.einsum("he,hte->ht", q, keys)
            logits = jnp.where(jnp.arange(keys.shape[1])[None] <= position, logits, -jnp.inf)
            pattern = jax.nn.softmax(logits, axis=-1)
            x = x + jnp.einsum("he,hed->d", jnp.einsum("ht,hte->he", pattern, values), attn["w_o"])
        mlp = layer["mlp"]
        if mlp["w_in"].shape[1]:
            x = x + jax.nn.relu(x @ mlp["w_in"] + mlp["b_in"]) @ mlp["w_out"] + mlp["b_out"]
        updated.append((keys, values))
    return updated, x


step = jax.jit(_step)


@jax.jit
def _run(params: Params, token_ids: jax.Array) -> jax.Array:
    """Residual streams at every position of one sequence (BOS first), by scanning the step."""
    cache = empty_cache(params, token_ids.shape[0])

    def body(cache: Cache, inputs: tuple[jax.Array, jax.Array]) -> tuple[Cache, jax.Array]:
        token_id, position = inputs
        return _step(params, cache, token_id, position)

    _, streams = jax.lax.scan(body, cache, (token_ids, jnp.arange(token_ids.shape[0])))
    return streams


_run_models = jax.jit(jax.vmap(_run))


def _require_causal(model: Transformer) -> None:
    if not model.causal:
        raise CompileError("incremental decoding needs a model compiled with causal=True")


class Decoder:
    """Feeds a causal model one token at a time; `append` returns the output at the new position."""

    def __init__(self, model: Transformer, dtype: str | None = None):
        _require_causal(model)
        self.model = model
        self.params = model.device_params(dtype)
        self.reset()

    def reset(self) -> None:
        self.position = 0
        self.cache, _ = step(self.params, empty_cache(self.params, self.model.max_seq_len + 1), 0, 0)
        self.outputs: list[Any] = []

    def append(self, token: Any) -> Any:
        if self.position >= self.model.max_seq_len:
            raise CompileError(
                f"the decoder is full: the model takes at most {self.model.max_seq_len} tokens"
            )
        (token_id,) = self.model.token_ids([token])
        self.position += 1
        self.cache, stream = step(self.params, self.cache, token_id, self.position)
        value = self.model.decode(np.asarray(stream, np.float64)[None])[0]
        self.outputs.append(value)
        return value

    def extend(self, tokens: Sequence[Any]) -> list[Any]:
        return [self.append(token) for token in tokens]

    def generate(self, prompt: Sequence[Any], steps: int) -> list[Any]:
        """Feeds `prompt`, then `steps` times the output at the last position back as the next
        token (the output values must be tokens of the vocabulary)."""
        tokens = list(prompt)
        output = self.extend(tokens)[-1]
        for _ in range(steps):
            tokens.append(output)
            output = self.append(output)
        return tokens


def batch_outputs(
    models: Sequence[Transformer], inputs: Sequence[Sequence[Any]], dtype: str = "float32"
) -> list[list[Any]]:
    """Outputs of models[m] on inputs[m] for every m, in one vmapped call: the models must
    have the same shapes and the inputs the same length."""
    for model in models:
        _require_causal(model)
    if len({len(tokens) for tokens in inputs}) != 1 or len(inputs) != len(models):
        raise CompileError("batch decoding needs one input per model, all of the same length")
    shapes = {tuple(np.shape(a) for a in jax.tree_util.tree_leaves(model.params)) for model in models}
    if len(shapes) != 1:
        raise CompileError("batch decoding needs models of the same shapes")
    stacked = jax.tree_util.tree_map(
        lambda *arrays: jnp.stack(arrays), *[m.device_params(dtype) for m in models]
    )
    ids = jnp.asarray([[0, *model.token_ids(list(tokens))] for model, tokens in zip(models, inputs)])
    streams = np.asarray(_run_models(stacked, ids), np.float64)
    return [model.decode(streams[m, 1:]) for m, model in enumerate(models)]
