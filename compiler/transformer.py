"""The compiled transformer's arithmetic, written once: attention, MLP, residual update.

A layer adds an attention sublayer and then an MLP sublayer to the residual stream; there is no
layer norm, and a layer without heads (or without hidden units) skips that sublayer.  `layer`
serves three callers: `forward` (every position of a batch of sequences), `step` (one new
position attending over a key/value cache, for the decoder) and the assembly's bookkeeping of
the beginning-of-sequence stream (numpy on the host, through `xp`).  The functions take their
array module as `xp` (jax.numpy or numpy; the PyTorch export passes torch), so they agree
operation for operation.

The weights are arguments, so one XLA compilation serves every model of the same shapes.
float64 runs need JAX's 64-bit mode; `precision(dtype)` turns it on for the calls inside only.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

Params = dict[str, Any]
Cache = list[tuple[jax.Array, jax.Array]]


def precision(dtype: str) -> AbstractContextManager[Any]:
    """JAX's 64-bit mode for `dtype` (on for float64, off otherwise) inside the `with` block
    only: a thread-local setting, restored on exit, so the caller's process keeps its own."""
    return jax.enable_x64(dtype == "float64")


def to_device(params: Params, dtype: str) -> Params:
    """The weights as JAX arrays of `dtype`; use them under `precision(dtype)`.  device_put
    moves the arrays (jnp.asarray would compile one XLA computation per shape)."""
    with precision(dtype):
        return jax.tree_util.tree_map(lambda a: jax.device_put(np.asarray(a, dtype=dtype)), params)


def softmax(logits: Any, xp: Any = jnp) -> Any:
    """Softmax over the last axis (the operations of jax.nn.softmax, in either array module)."""
    unnormalised = xp.exp(logits - xp.amax(logits, axis=-1, keepdims=True))
    return unnormalised / xp.sum(unnormalised, axis=-1, keepdims=True)


def attention(x: Any, weights: Params, keys: Any, values: Any, mask: Any, xp: Any = jnp) -> tuple[Any, Any]:
    """What the attention sublayer adds to the streams x (..., queries, width), whose queries
    attend over keys and values (..., heads, positions, depth) where mask (..., queries,
    positions) holds; and the attention pattern (..., heads, queries, positions)."""
    queries = xp.einsum("...qd,hde->...hqe", x, weights["w_q"])
    logits = xp.einsum("...hqe,...hke->...hqk", queries, keys)
    pattern = softmax(xp.where(mask[..., None, :, :], logits, -xp.inf), xp)
    mixed = xp.einsum("...hqk,...hke->...hqe", pattern, values)
    return xp.einsum("...hqe,hed->...qd", mixed, weights["w_o"]), pattern


def mlp(x: Any, weights: Params, xp: Any = jnp) -> Any:
    """What the MLP sublayer adds: one ReLU hidden layer (written with `where`, which numpy,
    jax.numpy and torch spell alike)."""
    pre = x @ weights["w_in"] + weights["b_in"]
    hidden = xp.where(pre > 0, pre, 0)
    return hidden @ weights["w_out"] + weights["b_out"]


Remember = Callable[[Any, Any], tuple[Any, Any]]


def layer(
    x: Any, weights: Params, mask: Any, remember: Remember | None = None, xp: Any = jnp
) -> tuple[Any, Any, Any, tuple[Any, Any] | None]:
    """One layer over the streams x (..., positions, width).  The queries attend over the keys
    and values of x itself, or over what `remember` makes of them (the decoder adds them to
    its cache).  Returns the stream after the attention sublayer and after the MLP, the
    pattern and the keys and values attended over (None for a layer without heads)."""
    attn, pattern, memory = weights["attn"], None, None
    if attn["w_q"].shape[0]:
        keys = xp.einsum("...td,hde->...hte", x, attn["w_k"])
        values = xp.einsum("...td,hde->...hte", x, attn["w_v"])
        memory = (keys, values) if remember is None else remember(keys, values)
        update, pattern = attention(x, attn, *memory, mask, xp)
        x = x + update
    attended = x
    if weights["mlp"]["w_in"].shape[1]:
        x = x + mlp(x, weights["mlp"], xp)
    return attended, x, pattern, memory


@functools.partial(jax.jit, static_argnames=("causal", "inspect"))
def forward(params: Params, token_ids: jax.Array, key_mask: jax.Array, causal: bool, inspect: bool = False) -> Any:
    """token_ids (batch, T) with the BOS id 0 first; key_mask (batch, T) false on padding.
    Returns the final residual stream (batch, T, width), and with `inspect` also the stream
    after the embedding and every sublayer and every layer's attention pattern."""
    t = token_ids.shape[1]
    x = params["token_embed"][token_ids] + params["pos_embed"][:t][None]
    mask = key_mask[:, None, :] & jnp.ones((t, t), bool)[None]
    if causal:
        mask = mask & jnp.tril(jnp.ones((t, t), bool))[None]
    streams, patterns = [x], []
    for weights in params["layers"]:
        attended, x, pattern, _ = layer(x, weights, mask)
        streams += [attended, x]
        patterns.append(jnp.zeros((x.shape[0], 0, t, t), x.dtype) if pattern is None else pattern)
    if inspect:
        return x, streams, patterns
    return x


def empty_cache(params: Params, capacity: int) -> Cache:
    """Keys (heads, capacity, key depth) and values (heads, capacity, value depth) per layer."""
    cache = []
    for weights in params["layers"]:
        w_k, w_v = weights["attn"]["w_k"], weights["attn"]["w_v"]
        cache.append(
            (
                jnp.zeros((w_k.shape[0], capacity, w_k.shape[2]), w_k.dtype),
                jnp.zeros((w_v.shape[0], capacity, w_v.shape[2]), w_v.dtype),
            )
        )
    return cache


def step(params: Params, cache: Cache, token_id: jax.Array, position: jax.Array) -> tuple[Cache, jax.Array]:
    """One position of a causal model: the cache with this position's keys and values written
    in, and the residual stream (width,) at `position` after the last layer."""
    x = (params["token_embed"][token_id] + params["pos_embed"][position])[None]
    updated = []
    for weights, (keys, values) in zip(params["layers"], cache):
        visible = (jnp.arange(keys.shape[1]) <= position)[None]

        def remember(k: jax.Array, v: jax.Array, keys: jax.Array = keys, values: jax.Array = values) -> Any:
            return keys.at[:, position].set(k[:, 0]), values.at[:, position].set(v[:, 0])

        _, x, _, memory = layer(x, weights, visible, remember)
        updated.append((keys, values) if memory is None else memory)
    return updated, x[0]
