"""The fast arithmetic of a hard causal model, written once: a block of new positions run
against a per-layer state, the heads as `compiled_model.fast_plan` plans them.

`compiled_model.arithmetic.forward` scores every query against every key, O(n^2) per head; its
KV-cached step O(n) per position.  A planned scan or lookup head needs neither: a scan keeps per
query vector the best score so far and the count and sum of the values of the keys within the
tie window of it (`admit`, one key; a `lax.scan` of it over a block), a lookup keeps the values
and reads the one row its query names (`lookup_rows`); only dense heads attend over the keys
kept.  The whole-sequence pass (`fast_forward`, teacher forcing) is one block of every position
from the empty state, vmapped over the batch's rows; the fast decoder's step is a block of one
position (`compiled_model.fast_decoder`).  A block of one takes static branches where a single
position is cheaper: no scan loop, a slice rather than a gather, the dense heads over the span
of the cache that holds the position (`compiled_model.arithmetic.over_cache`).

The result equals `forward`'s (tests/compiler/test_fast_forward.py) when the compiler's
guarantee for a hard head holds (the selected keys' scores lie within the window of one another
and more than twice the window above every other key: `compiler.margins.hard_separable`), and
a categorical query that is not exactly one of its scan's vectors raises `InexactQuery`, never
a silent guess.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from compiled_model.arithmetic import Params, attention, embed_positions, mlp, over_cache, spans
from compiled_model.errors import InexactQuery
from compiled_model.fast_plan import FastLayer, FastPlan, ScanGroup

State = list[dict[str, jax.Array]]
"""Per layer (`empty_state`): the scans' best logit, tie count and value sum per lane, the
lookups' value rows, the dense heads' keys and values."""

Tables = list[dict[str, dict[str, jax.Array]]]
"""Per layer, the folded weights of `compiled_model.fast_plan.tables_of` on the device."""


def empty_state(plan: FastPlan, capacity: int, dtype: jnp.dtype) -> State:
    """The state before any position, with rows for `capacity` positions: per scan lane (no
    key yet) the best logit -inf; the lookups' values side by side, one row per position
    (capacity, lookups x value depth), so that a position writes them at once; the dense
    heads' keys and values (heads, capacity, depth)."""
    state = []
    for layer in plan.layers:
        lanes, depth, dense = layer.lanes, layer.value_depth, len(layer.dense)
        state.append(
            {
                "best": jnp.full((lanes,), -jnp.inf, dtype),
                "count": jnp.zeros((lanes,), dtype),
                "total": jnp.zeros((lanes, depth), dtype),
                "rows": jnp.zeros((capacity, len(layer.lookups) * depth), dtype),
                "keys": jnp.zeros((dense, capacity, layer.key_depth), dtype),
                "values": jnp.zeros((dense, capacity, depth), dtype),
            }
        )
    return state


# ------------------------------------------------------------------ scans


Lanes = tuple[jax.Array, jax.Array, jax.Array]
"""Per scan lane: the best logit so far, the number of keys tied with it, the sum of their values."""


def admit(lanes: Lanes, key: tuple[jax.Array, jax.Array], window: float) -> tuple[Lanes, jax.Array]:
    """The lanes after one more key, whose logits (lanes,) and values (lanes, depth) are given,
    and every lane's mean: a logit more than the window above the best starts the sum afresh,
    one within the window joins it, a lower one (or -inf: a masked key) is left out."""
    best, count, total = lanes
    logit, value = key
    fresh = logit > best + window
    joins = (logit >= best - window) & ~fresh & jnp.isfinite(logit)
    count = jnp.where(fresh, 1.0, count + joins)
    total = jnp.where(fresh[:, None], value, jnp.where(joins[:, None], total + value, total))
    return (jnp.maximum(best, logit), count, total), total / jnp.maximum(count, 1.0)[:, None]


def scan_keys(
    memory: dict[str, jax.Array], logits: jax.Array, values: jax.Array, valid: jax.Array, window: float
) -> tuple[dict[str, jax.Array], jax.Array]:
    """The scan lanes after the block's keys, logits (t, lanes) and values (t, lanes, depth),
    the invalid ones (padding) left out; and the lanes' means after each key (t, lanes, depth):
    the result of a query at that position.  One `lax.scan` over the keys (XLA compiles it in
    a moment, where an associative scan of this length takes many seconds)."""
    logits = jnp.where(valid[:, None], logits, -jnp.inf)
    lanes = (memory["best"], memory["count"], memory["total"])
    if logits.shape[0] == 1:
        lanes, mean = admit(lanes, (logits[0], values[0]), window)
        means = mean[None]
    else:
        lanes, means = jax.lax.scan(functools.partial(admit, window=window), lanes, (logits, values))
    return {**memory, "best": lanes[0], "count": lanes[1], "total": lanes[2]}, means


def case_of(x: jax.Array, group: ScanGroup) -> jax.Array:
    """Each position's case (t,): k + 1 where the group's indicator dims[k] is the largest and
    above one half in the stream x (t, width), else 0 (the `one` vector alone)."""
    if not group.dims:
        return jnp.zeros(x.shape[0], jnp.int32)
    indicators = x[:, np.array(group.dims)]
    return jnp.where(jnp.max(indicators, axis=1) > 0.5, jnp.argmax(indicators, axis=1) + 1, 0).astype(jnp.int32)


def scanned_heads(means: jax.Array, cases: list[jax.Array], layer: FastLayer) -> jax.Array:
    """Each scanned head's result (t, heads, depth): the mean of its lane for the query's case
    (lanes run group by group, vector-major within a group)."""
    if all(not group.dims for group in layer.scans):
        return means  # one vector per group: the lanes are the heads
    index, offset = [], 0
    for group, case in zip(layer.scans, cases):
        index.append(offset + case[:, None] * len(group.heads) + np.arange(len(group.heads)))
        offset += group.lanes
    return jnp.take_along_axis(means, jnp.concatenate(index, axis=1)[..., None], axis=1)


def deviation(
    queries: jax.Array, vectors: jax.Array, cases: list[jax.Array], layer: FastLayer, checks: jax.Array
) -> jax.Array:
    """The largest difference between a checked group's query (t, groups x depth) and the
    vector its case assumed, over the positions `checks` holds (zero in a hard model)."""
    chosen = [case for group, case in zip(layer.scans, cases) if group.checked]
    if not chosen:
        return jnp.zeros((), queries.dtype)
    offsets = np.cumsum([0, *(1 + len(group.dims) for group in layer.checked)])[:-1]
    expected = vectors[jnp.stack(chosen, axis=1) + offsets]  # (t, groups, depth)
    off = jnp.abs(queries.reshape(expected.shape) - expected).max(axis=(1, 2))
    return jnp.max(jnp.where(checks, off, 0.0))


# ------------------------------------------------------------------ lookups


def lookup_rows(
    memory: dict[str, jax.Array], targets: jax.Array, clamp: jax.Array, values: jax.Array, positions: jax.Array
) -> tuple[dict[str, jax.Array], jax.Array]:
    """The lookups after the block's values (t, heads x depth) are written in as rows, and the
    row each query picks (t, heads, depth), given the targets (t, heads) before rounding and
    where they clamp (1.0).  Token index q sits at row q + 1, the BOS at row 0; a head reads
    q when 0 <= q <= the query's own index, else the BOS row or, when it clamps, the row of
    clamp(q, 0, own index); at the BOS (own index -1) both read row 0."""
    rows = jax.lax.dynamic_update_slice(memory["rows"], values, (positions[0], jnp.zeros_like(positions[0])))
    own = (positions - 1).astype(targets.dtype)[:, None]  # the query's token index
    target = jnp.round(targets)
    inside = (target >= 0) & (target <= own)
    row = jnp.where(inside | (clamp > 0), jnp.minimum(jnp.maximum(target, 0), own) + 1, 0).astype(jnp.int32)
    heads = row.shape[1]
    if positions.shape[0] == 1:
        # one slice per head: XLA's CPU gather of a few entries costs time in the rows' number
        depth = rows.shape[1] // max(heads, 1)
        picked = [jax.lax.dynamic_slice(rows, (row[0, h], jnp.int32(h * depth)), (1, depth)) for h in range(heads)]
        return {**memory, "rows": rows}, jnp.stack(picked, axis=1)
    by_head = rows.reshape(rows.shape[0], heads, -1)
    return {**memory, "rows": rows}, jnp.take_along_axis(by_head, row[..., None], axis=0)


# ------------------------------------------------------------------ dense heads


def dense_heads(
    memory: dict[str, jax.Array],
    x: jax.Array,
    keys: jax.Array,
    values: jax.Array,
    table: dict[str, jax.Array],
    positions: jax.Array,
    valid: jax.Array,
    window: float,
    reach: jax.Array | None,
) -> tuple[dict[str, jax.Array], jax.Array]:
    """The dense heads after the block's keys and values (t, heads x depth) are written into
    the cache, and their update (t, writes) of the queries x (t, reads) over the cache: every
    key at or before the query's position but the invalid ones of the block.  A block of one
    attends over the span that holds `reach` (default its position: `over_cache`)."""
    t, start = x.shape[0], positions[0]
    at = (jnp.zeros_like(start), start, jnp.zeros_like(start))
    cached = [
        jax.lax.dynamic_update_slice(memory[name], new.reshape(t, len(memory[name]), -1).swapaxes(0, 1), at)
        for name, new in (("keys", keys), ("values", values))
    ]
    weights = {"w_q": table["dense_q"], "w_o": table["dense_o"]}
    rows = jnp.arange(cached[0].shape[1])
    if t == 1:
        update = over_cache(x, weights, *cached, start, window, spans(rows.shape[0]), reach)
    else:
        written = jax.lax.dynamic_update_slice(rows < start, valid, (start,))
        visible = (rows[None, :] <= positions[:, None]) & written[None, :]
        update = attention(x, weights, *cached, visible, window=window)[0]
    return {**memory, "keys": cached[0], "values": cached[1]}, update


# ------------------------------------------------------------------ the layer


def attend(
    x: jax.Array,
    table: dict[str, jax.Array],
    memory: dict[str, jax.Array],
    layer: FastLayer,
    positions: jax.Array,
    valid: jax.Array,
    window: float,
    reach: jax.Array | None,
) -> tuple[jax.Array, dict[str, jax.Array], jax.Array]:
    """The attention sublayer over the streams x (t, width) at `positions`: the streams after
    it, the state with the block in, and the checked queries' largest deviation.  One product
    (`table["pre"]`) gives every part the heads need from the dimensions they read; the scanned
    and lookup heads' results go out through one more (`table["out"]`)."""
    t, reads = x.shape[0], np.array(layer.attn_reads, int)
    xr = x[:, reads]
    parts = dict(zip(layer.columns, jnp.split(xr @ table["pre"], np.cumsum(list(layer.columns.values()))[:-1], axis=1)))
    mixed, updates, off = [], [], jnp.zeros((), x.dtype)
    if layer.scans:
        lane_values = parts["lane_values"].reshape(t, layer.lanes, -1)
        memory, means = scan_keys(memory, parts["logits"], lane_values, valid, window)
        cases = [case_of(x, group) for group in layer.scans]
        mixed.append(scanned_heads(means, cases, layer))
        off = deviation(parts["queries"], table["vectors"], cases, layer, valid & (positions > 0))
    if layer.lookups:
        memory, picked = lookup_rows(memory, parts["targets"], table["clamp"], parts["lookup_values"], positions)
        mixed.append(picked)
    if mixed:
        updates.append(jnp.concatenate(mixed, axis=1).reshape(t, -1) @ table["out"])
    if layer.dense:
        memory, update = dense_heads(memory, xr, parts["keys"], parts["values"], table, positions, valid, window, reach)
        updates.append(update)
    return x.at[:, np.array(layer.attn_writes, int)].add(sum(updates)), memory, off


def fast_block(
    params: Params,
    tables: Tables,
    state: State,
    token_ids: jax.Array,
    start: jax.Array | int,
    valid: jax.Array,
    plan: FastPlan,
    window: float,
    reach: jax.Array | None = None,
) -> tuple[State, jax.Array, jax.Array]:
    """token_ids (t,) at positions start.. (0 is the BOS) after the positions before them,
    whose state is given; `valid` false on padding (which comes after every real token).
    Returns the state with the block in, the final residual streams (t, width) and the
    checked queries' largest deviation (`deviation`).  A layer adds its attention (`attend`)
    and then its MLP (`compiled_model.arithmetic.mlp` on the dimensions it reads and writes),
    as `compiled_model.arithmetic.layer` does; a sublayer that writes nothing is skipped."""
    positions = start + jnp.arange(token_ids.shape[0], dtype=jnp.int32)
    x = params["token_embed"][token_ids] + embed_positions(params, positions)
    off = jnp.zeros((), x.dtype)
    updated = []
    for table, memory, layer in zip(tables, state, plan.layers):
        if layer.attn_writes:
            x, memory, layer_off = attend(x, table["attn"], memory, layer, positions, valid, window, reach)
            off = jnp.maximum(off, layer_off)
        if layer.mlp_writes:
            reads, writes = np.array(layer.mlp_reads, int), np.array(layer.mlp_writes, int)
            x = x.at[:, writes].add(mlp(x[:, reads], table["mlp"]))
        updated.append(memory)
    return updated, x, off


# ------------------------------------------------------------------ the whole sequence


def fast_forward(
    params: Params, tables: Tables, token_ids: jax.Array, key_mask: jax.Array, plan: FastPlan, window: float
) -> jax.Array:
    """The final residual stream (batch, T, width) of a causal hard model, as
    `compiled_model.arithmetic.forward` gives it, for token_ids (batch, T) with the BOS id 0
    first and key_mask false on padding (which must come after every real token): one block
    per row from the empty state.  `tables`: `compiled_model.fast_plan.tables_of(model, plan)`
    on the device.  InexactQuery when a categorical query was not one of its scan's vectors."""
    streams, off = _fast_forward(params, tables, token_ids, key_mask, plan, window)
    if float(off) != 0.0:
        raise InexactQuery(f"a categorical query differs by {float(off):.3g} from the vector its scan assumed")
    return streams


@functools.partial(jax.jit, static_argnames=("plan", "window"))
def _fast_forward(
    params: Params, tables: Tables, token_ids: jax.Array, key_mask: jax.Array, plan: FastPlan, window: float
) -> tuple[jax.Array, jax.Array]:
    """`fast_forward`'s streams and the largest deviation of a checked query."""
    state = empty_state(plan, token_ids.shape[1], params["token_embed"].dtype)

    def row(ids: jax.Array, valid: jax.Array) -> tuple[jax.Array, jax.Array]:
        _, x, off = fast_block(params, tables, state, ids, 0, valid, plan, window)
        return x, off

    streams, offs = jax.vmap(row)(token_ids, key_mask)
    return streams, jnp.max(offs)
