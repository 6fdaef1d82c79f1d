"""The compiled transformer's arithmetic, written once: attention, MLP, residual update.

A layer adds an attention sublayer and then an MLP sublayer to the residual stream; there is no
layer norm, and a layer without heads (or without hidden units) skips that sublayer.  `layer`
serves three callers: `forward` (every position of a batch of sequences), `step` (one new
position attending over a key/value cache, for the decoder) and the assembly's bookkeeping of
the beginning-of-sequence stream (numpy on the host, through `xp`).  The functions take their
array module as `xp` (jax.numpy or numpy; the PyTorch export passes torch), so they agree
operation for operation.

Attention is softmax over the logits (`window=None`, the default) or hard: the uniform average
over the keys whose logit is within `window` of the largest (`attention_weights`), which is
RASP's aggregate when the compiler has separated the selected keys' scores from the others by
more than twice the window (`compiler.margins.hard_separable`).  A model's spec says which
(`compiled_model.spec.Attention.window`).

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


def embed_positions(params: Params, positions: Any, xp: Any = jnp) -> Any:
    """The position embeddings (..., width) of `positions` (0 is the BOS, p >= 1 the token at
    index p - 1): rows of the table `params["pos_embed"]`, or, for a model that reads positions
    only as `indices` and `indices^2`, the polynomial `params["pos_poly"]` (3, width): the BOS
    row, the row per unit of index and the row per unit of index squared, so that the model's
    size does not grow with its length.  Every caller embeds positions through this one
    function, so the table and the polynomial give the same streams (bit for bit: the rows
    hold 0/1 entries at distinct dimensions)."""
    if "pos_poly" not in params:
        return params["pos_embed"][positions]
    poly = params["pos_poly"]
    bos = (positions == 0)[..., None]
    # the index as a float of the weights' type before squaring (an int32 square overflows)
    index = xp.where(positions > 0, positions - 1, 0)[..., None] * xp.ones_like(poly[0])
    return xp.where(bos, poly[0], index * poly[1] + (index * index) * poly[2])


def position_weights(params: Params) -> str:
    """The name of the array that holds a model's position embedding: `pos_poly` or `pos_embed`."""
    return "pos_poly" if "pos_poly" in params else "pos_embed"


def attention_weights(logits: Any, window: float | None, xp: Any = jnp) -> Any:
    """The attention pattern over the last axis of `logits` (masked keys at -inf): softmax, or
    with a `window` the keys within `window` of the largest logit, weighted alike."""
    if window is None:
        return softmax(logits, xp)
    chosen = (logits >= xp.amax(logits, axis=-1, keepdims=True) - window).astype(logits.dtype)
    return chosen / xp.sum(chosen, axis=-1, keepdims=True)


#: The codes of `weights["mode"]` (`compiled_model.spec.HEAD_MODES`): a head averages the keys
#: it chooses, sums them, or takes the latest of them.
AVERAGE, SUM, LATEST = 0, 1, 2


def moded_weights(queries: Any, keys: Any, logits: Any, mask: Any, weights: Params, window: float, xp: Any) -> Any:
    """The hard attention pattern of a layer whose heads have modes (`weights["mode"]`, one
    code per head, and `weights["integer"]`, per head 0 or the factor c that makes c * query
    an integer vector).  An integer head scores in int64, round(c q) . round(2 k), which is
    exact where float64 products of scores past 2^53 are not, and chooses the keys of the
    largest score; any other head the keys within `window` of its best logit.  Then an
    AVERAGE head weights its chosen keys alike (RASP's aggregate), a SUM head weights each
    1 (their sum: a count needs no division), a LATEST head puts weight 1 on the last of
    them (ties go to the latest key, the unique hard attention of B-RASP)."""
    heads = (slice(None), None, None)  # (heads,) against (..., heads, queries, keys)
    factor = weights["integer"][heads]
    whole_q = _as(xp.round(queries * factor), xp.int64)
    whole_k = _as(xp.round(2 * keys), xp.int64)
    exact = xp.einsum("...hqe,...hke->...hqk", whole_q, whole_k)
    lowest = xp.iinfo(xp.int64).min
    exact = xp.where(mask[..., None, :, :], exact, lowest)
    exact_chosen = exact == xp.amax(exact, axis=-1, keepdims=True)
    floating = xp.where(mask[..., None, :, :], logits, -xp.inf)
    float_chosen = floating >= xp.amax(floating, axis=-1, keepdims=True) - window
    chosen = xp.where(factor > 0, exact_chosen, float_chosen) & mask[..., None, :, :]
    count = xp.sum(chosen, axis=-1, keepdims=True)
    ones = _as(chosen, logits.dtype)
    positions = xp.arange(chosen.shape[-1])
    last = xp.amax(xp.where(chosen, positions, -1), axis=-1, keepdims=True)
    latest = _as(positions == last, logits.dtype)
    mode = weights["mode"][heads]
    return xp.where(mode == SUM, ones, xp.where(mode == LATEST, latest, ones / xp.clip(count, 1, None)))


def _as(array: Any, dtype: Any) -> Any:
    """`array` as `dtype` in numpy, JAX (astype) or torch (to)."""
    return array.astype(dtype) if hasattr(array, "astype") else array.to(dtype)


def attention(
    x: Any, weights: Params, keys: Any, values: Any, mask: Any, xp: Any = jnp, window: float | None = None
) -> tuple[Any, Any]:
    """What the attention sublayer adds to the streams x (..., queries, width), whose queries
    attend over keys and values (..., heads, positions, depth) where mask (..., queries,
    positions) holds; and the attention pattern (..., heads, queries, positions).  A layer
    with head modes (hard models only) takes its pattern from `moded_weights`."""
    queries = xp.einsum("...qd,hde->...hqe", x, weights["w_q"])
    logits = xp.einsum("...hqe,...hke->...hqk", queries, keys)
    if "mode" in weights:
        if window is None:
            raise ValueError("head modes (sum, latest) need hard attention")
        pattern = moded_weights(queries, keys, logits, mask, weights, window, xp)
    else:
        pattern = attention_weights(xp.where(mask[..., None, :, :], logits, -xp.inf), window, xp)
    mixed = xp.einsum("...hqk,...hke->...hqe", pattern, values)
    return xp.einsum("...hqe,hed->...qd", mixed, weights["w_o"]), pattern


def mlp(x: Any, weights: Params, xp: Any = jnp) -> Any:
    """What the MLP sublayer adds: one ReLU hidden layer (written with `where`, which numpy,
    jax.numpy and torch spell alike), over the streams as one matrix of rows (numpy multiplies
    a stack of matrices many times slower than the same rows as one matrix)."""
    rows = x.reshape(-1, x.shape[-1])
    if "reads" in weights:  # numpy weights cut to the dimensions they read and write (`sliced_mlps`)
        pre = rows[:, weights["reads"]] @ weights["w_in"] + weights["b_in"]
        update = xp.zeros_like(rows)
        update[:, weights["writes"]] = xp.where(pre > 0, pre, 0) @ weights["w_out"] + weights["b_out"]
        return update.reshape(x.shape)
    pre = rows @ weights["w_in"] + weights["b_in"]
    hidden = xp.where(pre > 0, pre, 0)
    return (hidden @ weights["w_out"] + weights["b_out"]).reshape(*x.shape[:-1], -1)


def sliced_mlps(params: Params) -> Params:
    """The weights (numpy) with every MLP cut to the residual dimensions it reads (rows of
    `w_in` not all zero) and writes (columns of `w_out` or entries of `b_out` not zero), which
    `mlp` then indexes: the same sums without their zero terms.  Compiled MLPs are wide and
    sparse (a Turing model: 10,449 hidden units, 2% of the weights nonzero), and numpy, unlike
    the fast passes, does not skip the zeros by itself."""
    layers = []
    for weights in params["layers"]:
        mlp_in = weights["mlp"]
        w_in, w_out, b_out = np.asarray(mlp_in["w_in"]), np.asarray(mlp_in["w_out"]), np.asarray(mlp_in["b_out"])
        reads = np.flatnonzero(np.any(w_in != 0, axis=1))
        writes = np.flatnonzero(np.any(w_out != 0, axis=0) | (b_out != 0))
        mlp_weights = {
            "w_in": w_in[reads], "b_in": mlp_in["b_in"], "w_out": w_out[:, writes], "b_out": b_out[writes],
            "reads": reads, "writes": writes,
        }
        layers.append({**weights, "mlp": mlp_weights})
    return {**params, "layers": layers}


KeysValues = tuple[Any, Any]
Attend = Callable[[Any, Params, Any, Any], tuple[Any, KeysValues]]
"""The decoder's attention: from the streams, the layer's attention weights and the new
position's keys and values, the sublayer's update and the cache with them written in."""


def layer(
    x: Any,
    weights: Params,
    mask: Any,
    attend: Attend | None = None,
    xp: Any = jnp,
    window: float | None = None,
) -> tuple[Any, Any, Any, KeysValues | None]:
    """One layer over the streams x (..., positions, width).  The queries attend over the keys
    and values of x itself where `mask` holds, or as `attend` says (the decoder, over its
    cache).  Returns the stream after the attention sublayer and after the MLP, the pattern
    (None from `attend`) and the keys and values kept (None for a layer without heads)."""
    attn, pattern, memory = weights["attn"], None, None
    if attn["w_q"].shape[0]:
        keys = xp.einsum("...td,hde->...hte", x, attn["w_k"])
        values = xp.einsum("...td,hde->...hte", x, attn["w_v"])
        if attend is None:
            update, pattern = attention(x, attn, keys, values, mask, xp, window)
            memory = (keys, values)
        else:
            update, memory = attend(x, attn, keys, values)
        x = x + update
    attended = x
    if weights["mlp"]["w_in"].shape[1]:
        x = x + mlp(x, weights["mlp"], xp)
    return attended, x, pattern, memory


def whole(
    params: Params,
    token_ids: Any,
    key_mask: Any,
    causal: bool,
    inspect: bool = False,
    window: float | None = None,
    xp: Any = jnp,
) -> Any:
    """token_ids (batch, T) with the BOS id 0 first; key_mask (batch, T) false on padding;
    `window` None for softmax attention, else hard attention's tie window.
    Returns the final residual stream (batch, T, width), and with `inspect` also the stream
    after the embedding and every sublayer and every layer's attention pattern.  `forward` is
    this function jitted; with xp=numpy it runs on the host without an XLA compilation (the
    compiler's self-check on a new model, `compiler.check`)."""
    t = token_ids.shape[1]
    x = params["token_embed"][token_ids] + embed_positions(params, xp.arange(t), xp)[None]
    mask = key_mask[:, None, :] & xp.ones((t, t), bool)[None]
    if causal:
        mask = mask & xp.tril(xp.ones((t, t), bool))[None]
    streams, patterns = [x], []
    for weights in params["layers"]:
        attended, x, pattern, _ = layer(x, weights, mask, xp=xp, window=window)
        streams += [attended, x]
        patterns.append(xp.zeros((x.shape[0], 0, t, t), x.dtype) if pattern is None else pattern)
    if inspect:
        return x, streams, patterns
    return x


forward = jax.jit(functools.partial(whole, xp=jnp), static_argnames=("causal", "inspect", "window"))
"""`whole` jitted: the whole-sequence forward pass of every JAX caller."""


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


#: The fewest cache rows a decoder step attends over (shorter spans would only add branches).
MIN_SPAN = 64


def spans(capacity: int) -> tuple[int, ...]:
    """The numbers of cache rows a step may attend over: powers of two from MIN_SPAN, and the
    capacity.  A step at position p takes the first one past p, so it costs O(p), not
    O(capacity): all of them are branches of one compiled step (`lax.switch`)."""
    rows = [MIN_SPAN]
    while rows[-1] < capacity:
        rows.append(rows[-1] * 2)
    return (*rows[:-1], capacity)


def over_cache(
    x: jax.Array,
    attn: Params,
    keys: jax.Array,
    values: jax.Array,
    position: jax.Array,
    window: float | None,
    choices: tuple[int, ...],
    reach: jax.Array | None = None,
) -> jax.Array:
    """The attention update of the query at `position` over the first rows of the cache: the
    fewest of `choices` that hold `reach` (default `position`, which it must not be below),
    one `lax.switch` branch per choice (only the chosen branch runs).  Models vmapped side by
    side pass one `reach` for all, their furthest position: a switch on a batched index would
    run every branch."""

    def over(rows: int) -> Callable[[tuple[jax.Array, jax.Array, jax.Array]], jax.Array]:
        def branch(operands: tuple[jax.Array, jax.Array, jax.Array]) -> jax.Array:
            x, keys, values = operands
            visible = (jnp.arange(rows) <= position)[None]
            return attention(x, attn, keys[:, :rows], values[:, :rows], visible, window=window)[0]

        return branch

    bound = position if reach is None else reach
    index = jnp.sum(jnp.asarray(bound) >= jnp.asarray(choices[:-1], jnp.int32))
    return jax.lax.switch(index, [over(rows) for rows in choices], (x, keys, values))


def step(
    params: Params,
    cache: Cache,
    token_id: jax.Array,
    position: jax.Array,
    window: float | None = None,
    spans_of: Callable[[int], tuple[int, ...]] = spans,
) -> tuple[Cache, jax.Array]:
    """One position of a causal model: the cache with this position's keys and values written
    in, and the residual stream (width,) at `position` after the last layer.  The query
    attends over the first rows of the cache, the fewest of `spans_of(capacity)` that hold
    `position`; a shorter span only drops keys that are masked anyway, so the result is the
    same whatever the span (bit for bit in float32 softmax, as tests/compiler check)."""
    x = (params["token_embed"][token_id] + embed_positions(params, jnp.asarray(position)))[None]
    updated = []
    for weights, (keys, values) in zip(params["layers"], cache):
        choices = spans_of(keys.shape[1])

        def attend(
            x: jax.Array,
            attn: Params,
            k: jax.Array,
            v: jax.Array,
            keys: jax.Array = keys,
            values: jax.Array = values,
            choices: tuple[int, ...] = choices,
        ) -> tuple[jax.Array, KeysValues]:
            keys, values = keys.at[:, position].set(k[:, 0]), values.at[:, position].set(v[:, 0])
            return over_cache(x, attn, keys, values, position, window, choices), (keys, values)

        _, x, _, memory = layer(x, weights, None, attend, window=window)
        updated.append((keys, values) if memory is None else memory)
    return updated, x[0]
