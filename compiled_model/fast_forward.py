"""A whole-sequence forward pass of a hard-attention model that costs O(n) for most heads.

`compiled_model.arithmetic.forward` scores every query against every key: O(n^2) per head, and for
teacher forcing long inputs (the universal Turing model's exhaustive checks) that is nearly all
of the time.  A hard model's `metadata["fast_heads"]` says which heads need none of it:

- a "running" head scores every key alike at every query (its query reads only the constant
  `one`), so query i's result is the mean of the values of the keys 0..i whose score is within
  the tie window of the best: one pass along the keys (`_scan`) keeping the best score, and the
  sum and count of the values of the keys within the window of it;
- a "lookup" head takes the key at one position that the query's stream names: a gather.

The pass adds the tied keys exactly as the dense pattern does when the compiler's guarantee
for a hard head holds (the selected keys' scores lie within the window of one another and more
than twice the window above every other key: `compiler.margins.hard_separable`); every other
head ("dense") runs as in `forward`, and heads of one layer with the same query and key weights
share one attention pattern.  The result equals `forward`'s (tests/compiler/test_fast_forward.py).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from compiled_model.arithmetic import Params, attention_weights, embed_positions, mlp
from compiled_model.spec import ModelSpec

MAX_CASES = 256
"""The most query vectors a dense head may have to run as one scan per query vector."""


@dataclass(frozen=True)
class LayerPlan:
    """How one layer runs.  Heads: `running` and `lookups` (head, {residual index: coefficient},
    outside) as scans and gathers; `cases`: groups of heads sharing a pattern whose query is one
    of a few vectors (the constant `one` plus at most one of the indicator dimensions `cases[i][1]`:
    a categorical query), run as one scan per vector; `dense`: groups of heads sharing a pattern,
    run over every key.  `reads` and `writes`: the residual dimensions the attention and the MLP
    sublayers read and write (the others hold zero weights, so the sublayers skip them)."""

    running: tuple[int, ...]
    lookups: tuple[tuple[int, tuple[tuple[int, float], ...], str], ...]
    cases: tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]
    dense: tuple[tuple[int, ...], ...]
    attn_reads: tuple[int, ...]
    attn_writes: tuple[int, ...]
    mlp_reads: tuple[int, ...]
    mlp_writes: tuple[int, ...]


def _used(*matrices: np.ndarray) -> tuple[int, ...]:
    """The rows (residual dimensions) where any of `matrices` (width, ...) is not zero."""
    rows = np.zeros(matrices[0].shape[0], bool)
    for matrix in matrices:
        rows |= np.abs(matrix.reshape(matrix.shape[0], -1)).sum(axis=1) > 0
    return tuple(int(i) for i in np.nonzero(rows)[0])


def _indicators(w_q: np.ndarray, labels: list[str]) -> tuple[int, ...] | None:
    """The indicator dimensions of the one categorical s-op a query reads besides `one` and
    `bos`, or None when it reads anything else (or too many)."""
    read = [labels[i] for i in _used(w_q)]
    names = {label.split(":", 1)[0] for label in read if label not in ("one", "bos")}
    if len(names) != 1 or not all(":" in label for label in read if label not in ("one", "bos")):
        return None
    dims = tuple(i for i in _used(w_q) if labels[i] not in ("one", "bos"))
    return dims if len(dims) < MAX_CASES else None


@dataclass(frozen=True)
class Plan:
    """A model's plan: one LayerPlan per layer, and the residual index of the constant `one`."""

    layers: tuple[LayerPlan, ...]
    one: int


class InexactQuery(ValueError):
    """A categorical query was not exactly one of the vectors its scans assumed."""


def plan(params: Params, spec: ModelSpec) -> Plan:
    """The plan of every layer of a hard model, from its fast-head descriptors and weights
    (host arrays: heads share a pattern when their query and key weights are equal)."""
    if not (spec.attention.hard and spec.causal and spec.heads):
        raise ValueError("the fast forward pass runs causal hard-attention models with fast-head descriptors only")
    labels = list(spec.labels)
    index = {label: i for i, label in enumerate(labels)}
    layers = []
    for weights, heads in zip(params["layers"], spec.heads):
        attn, mlp_weights = {k: np.asarray(v) for k, v in weights["attn"].items()}, weights["mlp"]
        w_q, w_k = attn["w_q"], attn["w_k"]
        running, lookups, groups = [], [], []
        for head, descriptor in enumerate(heads):
            if descriptor.kind == "running":
                running.append(head)
            elif descriptor.kind == "lookup":
                lookups.append((head, descriptor.target, descriptor.outside))
            else:
                for group in groups:
                    if np.array_equal(w_q[group[0]], w_q[head]) and np.array_equal(w_k[group[0]], w_k[head]):
                        group.append(head)
                        break
                else:
                    groups.append([head])
        cases, dense = [], []
        for group in groups:
            dims = _indicators(w_q[group[0]], labels)
            if dims is None:
                dense.append(tuple(group))
            else:
                cases.append((tuple(group), dims))
        stacked = [attn[name].transpose(1, 0, 2) for name in ("w_q", "w_k", "w_v")]
        w_in, w_out = np.asarray(mlp_weights["w_in"]), np.asarray(mlp_weights["w_out"])
        layers.append(
            LayerPlan(
                tuple(running), tuple(lookups), tuple(cases), tuple(dense),
                _used(*stacked), _used(attn["w_o"].reshape(-1, attn["w_o"].shape[-1]).T),
                _used(w_in), _used(w_out.T, np.asarray(mlp_weights["b_out"])[:, None]),
            )
        )
    return Plan(tuple(layers), index["one"])


def _scan(logits: jax.Array, values: jax.Array, window: float) -> jax.Array:
    """The mean of `values` (..., t, depth) over the keys 0..i within `window` of the best of
    `logits` (..., t; -inf at masked keys), at every i: one pass along the keys (`lax.scan`;
    XLA compiles it in a moment, where an associative scan of this length takes many seconds)
    keeping the best score so far and the sum and count of the keys within the window of it.
    A key more than the window above the best starts the sum afresh; one within the window
    joins it; one below is left out."""

    def step(
        state: tuple[jax.Array, jax.Array, jax.Array], key: tuple[jax.Array, jax.Array]
    ) -> tuple[tuple[jax.Array, jax.Array, jax.Array], jax.Array]:
        best, total, count = state
        logit, value = key
        fresh = logit > best + window
        joins = (logit >= best - window) & jnp.isfinite(logit)
        keep = jnp.where(fresh, 0.0, 1.0).astype(total.dtype)
        add = jnp.where(fresh | joins, 1.0, 0.0).astype(total.dtype)
        total = keep[..., None] * total + add[..., None] * value
        count = keep * count + add
        best = jnp.maximum(best, logit)
        return (best, total, count), total / jnp.maximum(count, 1.0)[..., None]

    axis = logits.ndim - 1
    start = (
        jnp.full(logits.shape[:-1], -jnp.inf, logits.dtype),
        jnp.zeros((*values.shape[:-2], values.shape[-1]), values.dtype),
        jnp.zeros(logits.shape[:-1], values.dtype),
    )
    keys = (jnp.moveaxis(logits, axis, 0), jnp.moveaxis(values, axis, 0))
    _, means = jax.lax.scan(step, start, keys)
    return jnp.moveaxis(means, 0, axis)


def _lookup(x: jax.Array, values: jax.Array, target: tuple[tuple[int, float], ...], outside: str) -> jax.Array:
    """The value (batch, t, depth) of the key each query names: token index q = round(target(x))
    when 0 <= q <= the query's own index, else the BOS key ("bos") or the key at q clamped into
    that range ("clamp"); the BOS query takes its own key."""
    t = x.shape[1]
    q = jnp.round(sum(coefficient * x[..., dim] for dim, coefficient in target)).astype(jnp.int32)
    own = jnp.arange(t) - 1  # the query's token index; -1 at the BOS
    if outside == "bos":
        position = jnp.where((q >= 0) & (q <= own), q + 1, 0)
    else:
        position = jnp.clip(q, 0, jnp.maximum(own, 0)) + 1
    position = jnp.where(own < 0, 0, position)
    return jnp.take_along_axis(values, position[..., None], axis=1)


def _by_cases(
    x: jax.Array, w_q: jax.Array, keys: jax.Array, values: jax.Array, key_mask: jax.Array,
    dims: tuple[int, ...], one: int, window: float,
) -> tuple[jax.Array, jax.Array]:
    """A head whose query is w_q[one] plus at most one of w_q[dims] (x's indicators there): one
    scan per such vector, each query taking its own vector's scan.  Returns the result (batch,
    t, depth) and the largest difference between a token's query and the vector it took (zero
    when the indicators are exactly 0 or 1, as they are in a hard model)."""
    dims_array = np.array(dims, int)
    base = w_q[one]
    vectors = jnp.concatenate([base[None], base[None] + w_q[dims_array]])  # (cases, e): none, then each
    logits = jnp.einsum("ve,bte->bvt", vectors, keys)
    logits = jnp.where(key_mask[:, None, :], logits, -jnp.inf)
    scans = _scan(logits, jnp.broadcast_to(values[:, None], (*logits.shape, values.shape[-1])), window)
    indicators = x[..., dims_array]
    case = jnp.where(jnp.max(indicators, axis=-1) > 0.5, jnp.argmax(indicators, axis=-1) + 1, 0)  # (b, t)
    chosen = jnp.take_along_axis(scans, case[:, None, :, None], axis=1)[:, 0]
    chosen = chosen.at[:, 0].set(values[:, 0])  # the BOS query sees its own key only
    queries = jnp.einsum("btd,de->bte", x, w_q) - vectors[case]
    deviation = jnp.max(jnp.where(key_mask[..., None], jnp.abs(queries), 0.0)[:, 1:])
    return chosen, deviation


def fast_forward(params: Params, token_ids: jax.Array, key_mask: jax.Array, plan: Plan, window: float) -> jax.Array:
    """The final residual stream (batch, T, width) of a causal hard model, as
    `compiled_model.arithmetic.forward` gives it, for token_ids (batch, T) with the BOS id 0 first
    and key_mask false on padding (which must come after every real token).  InexactQuery when
    a categorical query was not one of the vectors its scans assumed: never a silent guess."""
    streams, deviation = _fast_forward(params, token_ids, key_mask, plan, window)
    if float(deviation) != 0.0:
        raise InexactQuery(f"a categorical query differs by {float(deviation):.3g} from the vector its scan assumed")
    return streams


@functools.partial(jax.jit, static_argnames=("plan", "window"))
def _fast_forward(
    params: Params, token_ids: jax.Array, key_mask: jax.Array, plan: Plan, window: float
) -> tuple[jax.Array, jax.Array]:
    """`fast_forward`'s streams, and the largest deviation of a categorical query from the
    vector its scan assumed (`_by_cases`)."""
    t = token_ids.shape[1]
    x = params["token_embed"][token_ids] + embed_positions(params, jnp.arange(t))[None]
    causal = key_mask[:, None, :] & jnp.tril(jnp.ones((t, t), bool))[None]
    deviation = jnp.zeros((), x.dtype)
    for weights, layer in zip(params["layers"], plan.layers):
        attn = weights["attn"]
        heads = attn["w_q"].shape[0]
        if heads:
            reads, writes = np.array(layer.attn_reads, int), np.array(layer.attn_writes, int)
            xr = x[..., reads]
            keys = jnp.einsum("btd,hde->bhte", xr, attn["w_k"][:, reads])
            values = jnp.einsum("btd,hde->bhte", xr, attn["w_v"][:, reads])
            mixed: list[Any] = [None] * heads
            for head in layer.running:
                # every token's query is alike (the BOS stream's may differ, but the BOS query
                # sees its own key only, whatever the scores)
                query = jnp.einsum("bd,de->be", x[:, min(1, t - 1)], attn["w_q"][head])
                logits = jnp.einsum("be,bte->bt", query, keys[:, head])
                mixed[head] = _scan(jnp.where(key_mask, logits, -jnp.inf), values[:, head], window)
            for head, target, outside in layer.lookups:
                mixed[head] = _lookup(x, values[:, head], target, outside)
            for group, dims in layer.cases:
                stacked = jnp.concatenate([values[:, head] for head in group], axis=-1)
                query, key = attn["w_q"][group[0]], keys[:, group[0]]
                result, off = _by_cases(x, query, key, stacked, key_mask, dims, plan.one, window)
                deviation = jnp.maximum(deviation, off)
                for k, head in enumerate(jnp.split(result, len(group), axis=-1)):
                    mixed[group[k]] = head
            for group in layer.dense:
                query = jnp.einsum("btd,de->bte", x, attn["w_q"][group[0]])
                logits = jnp.einsum("bqe,bke->bqk", query, keys[:, group[0]])
                pattern = attention_weights(jnp.where(causal, logits, -jnp.inf), window)
                for head in group:
                    mixed[head] = jnp.einsum("bqk,bke->bqe", pattern, values[:, head])
            update = jnp.einsum("hbqe,hed->bqd", jnp.stack(mixed), attn["w_o"][:, :, writes])
            x = x.at[..., writes].add(update)
        if weights["mlp"]["w_in"].shape[1]:
            mlp_weights = weights["mlp"]
            reads, writes = np.array(layer.mlp_reads, int), np.array(layer.mlp_writes, int)
            restricted = {
                "w_in": mlp_weights["w_in"][reads], "b_in": mlp_weights["b_in"],
                "w_out": mlp_weights["w_out"][:, writes], "b_out": mlp_weights["b_out"][writes],
            }
            x = x.at[..., writes].add(mlp(x[..., reads], restricted))
    return x, deviation
