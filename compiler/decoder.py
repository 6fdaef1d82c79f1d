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
from rasp.errors import RaspError

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


def _stacked(models: Sequence[Transformer], dtype: str) -> Params:
    """The weights of models of one shape as one tree of arrays with a leading model axis (for
    vmap), stacked on the host: one transfer per array, no XLA computation per array."""
    if dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    return jax.tree_util.tree_map(
        lambda *arrays: jax.device_put(np.stack(arrays).astype(dtype)), *[model.params for model in models]
    )


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
    stacked = _stacked(models, dtype)
    ids = jnp.asarray([[0, *model.token_ids(list(tokens))] for model, tokens in zip(models, inputs)])
    streams = np.asarray(_run_models(stacked, ids), np.float64)
    return [model.decode(streams[m, 1:]) for m, model in enumerate(models)]


# ------------------------------------------------------------------ batched generation


def _next_ids(model: Transformer, outputs: int) -> np.ndarray:
    """Per output column, the token id of its value (-1 for padding columns): generation feeds
    each output back as the next token, so a model's output values must be its tokens."""
    if model.output_kind != "categorical":
        raise CompileError("generation needs a model whose output is categorical (the next token)")
    ids = np.full(outputs, -1, np.int32)
    for column, value in enumerate(model.output_values):
        try:
            (ids[column],) = model.token_ids([value])
        except RaspError:
            raise CompileError(f"the output value {value!r} is not a token of the model") from None
    return ids


def _generate(
    params: Params, prompt: jax.Array, prompt_length: jax.Array, next_ids: jax.Array, length: int
) -> jax.Array:
    """One model: feeds prompt[:prompt_length], then its own greedy predictions, up to `length`
    tokens; returns the prediction after every position (length,)."""
    cache, _ = _step(params, empty_cache(params, length + 1), jnp.int32(0), jnp.int32(0))

    Carry = tuple[Cache, jax.Array]

    def body(carry: Carry, position: jax.Array) -> tuple[Carry, jax.Array]:
        cache, predicted = carry
        token = jnp.where(position <= prompt_length, prompt[position - 1], predicted)
        cache, stream = _step(params, cache, token, position)
        scores = jnp.where(next_ids >= 0, stream @ params["unembed"], -jnp.inf)
        predicted = next_ids[jnp.argmax(scores)]
        return (cache, predicted), predicted

    _, predictions = jax.lax.scan(body, (cache, jnp.int32(0)), jnp.arange(1, length + 1, dtype=jnp.int32))
    return predictions


_generate_models = jax.jit(jax.vmap(_generate, in_axes=(0, 0, 0, 0, None)), static_argnums=4)


def _shard(arrays: Any, devices: Sequence[jax.Device]) -> Any:
    """Places the leading (model) axis of every array across `devices`; with one device the
    arrays stay where they are."""
    if len(devices) == 1:
        return arrays
    mesh = jax.sharding.Mesh(np.array(devices), ("models",))
    return jax.device_put(arrays, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("models")))


def batch_generate(
    models: Sequence[Transformer],
    prompts: Sequence[Sequence[Any]],
    length: int,
    dtype: str = "float32",
    devices: Sequence[jax.Device] | None = None,
) -> list[list[Any]]:
    """Greedy generation for many causal models at once: models[m] reads prompts[m] and then
    its own outputs fed back as tokens, up to `length` tokens.  Returns, per model, the
    prediction after every position (`length` values; the first len(prompt) - 1 continue the
    prompt, the last is the prediction after the final token).

    The models must have one shape (`compiler.shapes.pad` makes it so).  The whole generation
    is one jitted call, the step scanned over positions and vmapped over models; the models
    are split across `devices` (default: every device of the default backend), which
    with a single device changes nothing."""
    for model in models:
        _require_causal(model)
    if len(prompts) != len(models) or not models:
        raise CompileError("batch generation needs one prompt per model")
    if len({tuple(np.shape(a) for a in jax.tree_util.tree_leaves(m.params)) for m in models}) != 1:
        raise CompileError("batch generation needs models of the same shapes (see compiler.shapes.pad)")
    if not all(1 <= len(prompt) <= length <= model.max_seq_len for model, prompt in zip(models, prompts)):
        raise CompileError(f"prompts must be non-empty and at most {length} <= max_seq_len tokens")
    devices = list(devices or jax.devices())
    count = len(models)
    rows = -(-count // len(devices)) * len(devices)  # a multiple of the device count
    chosen = [*models, *[models[-1]] * (rows - count)]
    chosen_prompts = [*prompts, *[prompts[-1]] * (rows - count)]
    outputs = models[0].params["unembed"].shape[1]
    prompt_ids = np.zeros((rows, length), np.int32)
    for row, (model, prompt) in enumerate(zip(chosen, chosen_prompts)):
        prompt_ids[row, : len(prompt)] = model.token_ids(list(prompt))
    params = _stacked(chosen, dtype)
    arguments = _shard(
        (
            params,
            jax.device_put(prompt_ids),
            jax.device_put(np.array([len(p) for p in chosen_prompts], np.int32)),
            jax.device_put(np.stack([_next_ids(m, outputs) for m in chosen])),
        ),
        devices,
    )
    predictions = np.asarray(_generate_models(*arguments, length))
    tokens = [[None, *model.vocab] for model in models]
    return [[tokens[m][int(i)] for i in predictions[m]] for m in range(count)]
