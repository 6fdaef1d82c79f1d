"""Decoding many causal models at once, for batch verification (of Turing machines compiled
from one program, say).

`batch_outputs` runs models of the same shapes on token sequences of one length in one call,
`batch_generate` generates greedily with them: the KV-cached step (`compiled_model.arithmetic.step`)
scanned over positions and vmapped over models, the models split across devices.  One model
fed one token at a time is `compiled_model.decoder.Decoder`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
import numpy as np

from compiled_model.arithmetic import Cache, Params, empty_cache, precision, step, to_device
from compiled_model.errors import ModelError
from compiled_model.transformer import Transformer
from rasp.errors import RaspError

__all__ = ["batch_generate", "batch_outputs"]

Item = TypeVar("Item")


def _run(params: Params, token_ids: jax.Array, window: float | None = None) -> jax.Array:
    """Residual streams at every position of one sequence (BOS first), by scanning the step."""
    cache = empty_cache(params, token_ids.shape[0])

    def body(cache: Cache, inputs: tuple[jax.Array, jax.Array]) -> tuple[Cache, jax.Array]:
        token_id, position = inputs
        return step(params, cache, token_id, position, window)

    _, streams = jax.lax.scan(body, cache, (token_ids, jnp.arange(token_ids.shape[0])))
    return streams


@functools.partial(jax.jit, static_argnames="window")
def _run_models(params: Params, token_ids: jax.Array, window: float | None) -> jax.Array:
    return jax.vmap(lambda p, ids: _run(p, ids, window))(params, token_ids)


def stacked_params(models: Sequence[Transformer], dtype: str) -> Params:
    """The weights of models of one shape as one tree of arrays with a leading model axis (for
    vmap), stacked on the host: one transfer per array, no XLA computation per array."""
    return to_device(jax.tree_util.tree_map(lambda *arrays: np.stack(arrays), *[m.params for m in models]), dtype)


def same_shapes(models: Sequence[Transformer]) -> bool:
    return len({tuple(np.shape(a) for a in jax.tree_util.tree_leaves(m.params)) for m in models}) == 1


def shared_window(models: Sequence[Transformer]) -> float | None:
    """The attention mode the models share (None: softmax; else hard attention's tie window)."""
    windows = {model.window for model in models}
    if len(windows) != 1:
        raise ModelError("batch decoding needs models of one attention mode (all soft or all hard)")
    return windows.pop()


def batch_outputs(
    models: Sequence[Transformer], inputs: Sequence[Sequence[Any]], dtype: str = "float32"
) -> list[list[Any]]:
    """Outputs of models[m] on inputs[m] for every m, in one vmapped call: the models must
    have the same shapes and the inputs the same length."""
    for model in models:
        model.require_causal()
    if len({len(tokens) for tokens in inputs}) != 1 or len(inputs) != len(models):
        raise ModelError("batch decoding needs one input per model, all of the same length")
    window = shared_window(models)  # first: hard models may embed positions differently
    if not same_shapes(models):
        raise ModelError("batch decoding needs models of the same shapes")
    params = stacked_params(models, dtype)
    ids = np.asarray([[0, *model.token_ids(list(tokens))] for model, tokens in zip(models, inputs)], np.int32)
    with precision(dtype):
        streams = np.asarray(_run_models(params, ids, window), np.float64)
    return [model.decode(streams[m, 1:]) for m, model in enumerate(models)]


# ------------------------------------------------------------------ batched generation


def next_ids_of(model: Transformer, outputs: int) -> np.ndarray:
    """Per output column, the token id of its value (-1 for padding columns): generation feeds
    each output back as the next token, so a model's output values must be its tokens."""
    if model.spec.output.kind != "categorical":
        raise ModelError("generation needs a model whose output is categorical (the next token)")
    ids = np.full(outputs, -1, np.int32)
    for column, value in enumerate(model.spec.output.values):
        try:
            (ids[column],) = model.token_ids([value])
        except RaspError:
            raise ModelError(f"the output value {value!r} is not a token of the model") from None
    return ids


def _generate(
    params: Params,
    prompt: jax.Array,
    prompt_length: jax.Array,
    next_ids: jax.Array,
    length: int,
    window: float | None,
) -> jax.Array:
    """One model: feeds prompt[:prompt_length], then its own greedy predictions, up to `length`
    tokens; returns the prediction after every position (length,)."""
    cache, _ = step(params, empty_cache(params, length + 1), jnp.int32(0), jnp.int32(0), window)

    Carry = tuple[Cache, jax.Array]

    def body(carry: Carry, position: jax.Array) -> tuple[Carry, jax.Array]:
        cache, predicted = carry
        token = jnp.where(position <= prompt_length, prompt[position - 1], predicted)
        cache, stream = step(params, cache, token, position, window)
        scores = jnp.where(next_ids >= 0, stream @ params["unembed"], -jnp.inf)
        predicted = next_ids[jnp.argmax(scores)]
        return (cache, predicted), predicted

    _, predictions = jax.lax.scan(body, (cache, jnp.int32(0)), jnp.arange(1, length + 1, dtype=jnp.int32))
    return predictions


_generate_models = jax.jit(jax.vmap(_generate, in_axes=(0, 0, 0, 0, None, None)), static_argnums=(4, 5))


def fill_rows(items: Sequence[Item], devices: Sequence[jax.Device]) -> list[Item]:
    """`items` with the last one repeated up to a multiple of the device count, so that every
    device gets as many rows."""
    rows = -(-len(items) // len(devices)) * len(devices)
    return [*items, *[items[-1]] * (rows - len(items))]


def shard(arrays: Any, devices: Sequence[jax.Device]) -> Any:
    """Places the leading (model) axis of every array across `devices`; with one device the
    arrays stay where they are."""
    if len(devices) == 1:
        return arrays
    mesh = jax.sharding.Mesh(np.array(devices), ("models",))
    return jax.device_put(arrays, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("models")))


def replicated(arrays: Any, devices: Sequence[jax.Device]) -> Any:
    """A copy of every array on each of `devices` (what rows on every device read); with one
    device the arrays stay where they are."""
    if len(devices) == 1:
        return arrays
    mesh = jax.sharding.Mesh(np.array(devices), ("models",))
    return jax.device_put(arrays, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec()))


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

    The models must have one shape (`compiled_model.shapes.pad` makes it so).  The whole generation
    is one jitted call, the step scanned over positions and vmapped over models; the models
    are split across `devices` (default: every device of the default backend), which
    with a single device changes nothing."""
    for model in models:
        model.require_causal()
    if len(prompts) != len(models) or not models:
        raise ModelError("batch generation needs one prompt per model")
    window = shared_window(models)  # first: hard models may embed positions differently
    if not same_shapes(models):
        raise ModelError("batch generation needs models of the same shapes (see compiled_model.shapes.pad)")
    if not all(1 <= len(prompt) <= length <= model.max_seq_len for model, prompt in zip(models, prompts)):
        raise ModelError(f"prompts must be non-empty and at most {length} <= max_seq_len tokens")
    devices = list(devices or jax.devices())
    count = len(models)
    chosen, chosen_prompts = fill_rows(models, devices), fill_rows(prompts, devices)
    rows = len(chosen)
    outputs = models[0].params["unembed"].shape[1]
    prompt_ids = np.zeros((rows, length), np.int32)
    for row, (model, prompt) in enumerate(zip(chosen, chosen_prompts)):
        prompt_ids[row, : len(prompt)] = model.token_ids(list(prompt))
    params = stacked_params(chosen, dtype)
    with precision(dtype):
        arguments = shard(
            (
                params,
                jax.device_put(prompt_ids),
                jax.device_put(np.array([len(p) for p in chosen_prompts], np.int32)),
                jax.device_put(np.stack([next_ids_of(m, outputs) for m in chosen])),
            ),
            devices,
        )
        predictions = np.asarray(_generate_models(*arguments, length, window))
    tokens = [[None, *model.vocab] for model in models]
    return [[tokens[m][int(i)] for i in predictions[m]] for m in range(count)]
