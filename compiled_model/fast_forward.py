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

Models with head modes (`compiled_model.arithmetic.moded_weights`) add two kinds: a "sum" head
is a scan whose lanes give their keys' value sum, not the mean; a "keyed" head keeps a table
from a key value to the value last written at it (`keyed_cells`): each position first writes
(when its writer is 1) and then reads its target's cell, or the BOS's value where nothing was
written, so a key is visible to its own query.  The table has a fixed number of cells
(`table_rows`: by default enough for every cell a trace of the capacity reaches, capped so that
memory does not grow with long runs); a key or target outside it is never read or written but
reported (`faults`), and the passes raise a ModelError naming the size and how to enlarge it.
Scans of heads that score in integers compare their keys' int64 scores exactly, and the dense
heads of a moded layer attend in its modes.

The result equals `forward`'s (tests/compiler/test_fast_forward.py, test_fast_modes.py) when the
compiler's guarantee for a hard head holds (the selected keys' scores lie within the window of
one another and more than twice the window above every other key:
`compiler.margins.hard_separable`), and a categorical query that is not exactly one of its
scan's vectors raises `InexactQuery`, never a silent guess.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from compiled_model.arithmetic import Params, attention, over_cache, spans
from compiled_model.blocked_stream import Stream, WholeStream, times
from compiled_model.errors import InexactQuery, ModelError
from compiled_model.fast_plan import FastLayer, FastPlan, ScanGroup

State = list[dict[str, jax.Array]]
"""Per layer (`empty_state`): the scans' best logit, tie count and value sum per lane, the
lookups' value rows, the dense heads' keys and values, the keyed heads' tables."""

Tables = list[dict[str, dict[str, jax.Array]]]
"""Per layer, the folded weights of `compiled_model.fast_plan.tables_of` on the device."""

#: The most cells a keyed head's table gets by default: 2^17 rows of the value depth per head,
#: whatever the length of the run (a run whose cells leave the table raises).
MAX_TABLE_ROWS = 2**17

#: Bits of a block's `faults`: a keyed head's key or target fell outside its table; an exact
#: scan's integer score reached 2^53, past which float64 (the scan's state) cannot tell scores apart.
OUTSIDE_TABLE, LARGE_SCORE = 1, 2

#: An exact scan's scores are compared in float64, exact below this.
EXACT_LIMIT = 2**53


def table_rows(capacity: int, table_cells: int | None = None) -> int:
    """The cells of each keyed head's table: `table_cells`, or enough for every cell a trace of
    `capacity` positions reaches (2 capacity + 1: the compact Turing program's cells lie in
    [-t, t]), at most MAX_TABLE_ROWS."""
    if table_cells is not None:
        if table_cells < 1:
            raise ModelError(f"a keyed head's table needs at least one cell, not {table_cells}")
        return table_cells
    return min(2 * capacity + 1, MAX_TABLE_ROWS)


def empty_state(
    plan: FastPlan, capacity: int, dtype: jnp.dtype, cells: int | None = None, logged: bool = False
) -> State:
    """The state before any position, with rows for `capacity` positions: per scan lane (no
    key yet) the best logit -inf; the lookups' values side by side, one row per position
    (capacity, lookups x value depth), so that a position writes them at once; the dense
    heads' keys and values (heads, capacity, depth); per keyed head a table of `table_rows`
    cells of values, which of them were written, and the BOS's value.  Without lookup or
    dense heads the arrays of capacity rows have no columns: the memory does not grow with
    the trace.  `logged` keeps the keyed heads' positions instead of their tables
    (`keyed_matches`): their keys, whether they write, and their values, one row per position."""
    state = []
    rows = table_rows(capacity, cells)
    for layer in plan.layers:
        lanes, depth, dense, keyed = layer.lanes, layer.value_depth, len(layer.dense), len(layer.keyed)
        kept = {
            "best": jnp.full((lanes,), -jnp.inf, dtype),
            "count": jnp.zeros((lanes,), dtype),
            "total": jnp.zeros((lanes, depth), dtype),
            "rows": jnp.zeros((capacity, len(layer.lookups) * depth), dtype),
            "keys": jnp.zeros((dense, capacity, layer.key_depth), dtype),
            "values": jnp.zeros((dense, capacity, depth), dtype),
        }
        if logged:
            kept |= {
                "log_keys": jnp.zeros((capacity, keyed), dtype),
                "log_writes": jnp.zeros((capacity, keyed), bool),
                "log_values": jnp.zeros((capacity, keyed, depth), dtype),
            }
        else:
            kept |= {
                # one array per keyed head: XLA updates each in place, where one stacked array
                # of all the heads was copied whole at every position (100 tokens/s, not 10^5)
                "cells": tuple(jnp.zeros((rows, depth), dtype) for _ in range(keyed)),
                "filled": tuple(jnp.zeros((rows,), bool) for _ in range(keyed)),
                "bos": jnp.zeros((keyed, depth), dtype),
            }
        state.append(kept)
    return state


def raise_faults(off: float, faults: int, cells: int) -> None:
    """The error a pass raises for what its blocks reported: a checked query off its vector
    (`deviation`), a keyed head's cell outside its table, an exact score too large."""
    if off != 0.0:
        raise InexactQuery(f"a categorical query differs by {off:.3g} from the vector its scan assumed")
    if faults & OUTSIDE_TABLE:
        low = -(cells // 2)
        raise ModelError(
            f"a keyed head's key or target left its table of {cells} cells ({low} to {low + cells - 1}): "
            f"pass a larger table_cells to FastDecoder, batch_fast_generate or fast_forward"
        )
    if faults & LARGE_SCORE:
        raise ModelError(
            "an integer head's score reached 2^53, which the fast scan cannot compare exactly: "
            "run the model's dense pass (model(tokens)) instead"
        )


# ------------------------------------------------------------------ scans


Lanes = tuple[jax.Array, jax.Array, jax.Array]
"""Per scan lane: the best logit so far, the number of keys tied with it, the sum of their values."""


def admit(
    lanes: Lanes, key: tuple[jax.Array, jax.Array], window: float | np.ndarray, summed: np.ndarray | None = None
) -> tuple[Lanes, jax.Array]:
    """The lanes after one more key, whose logits (lanes,) and values (lanes, depth) are given,
    and every lane's mean (its sum where `summed` holds: a sum head): a logit more than the
    window above the best starts the sum afresh, one within the window joins it, a lower one
    (or -inf: a masked key) is left out.  `window` may be one per lane (0 for an exact lane,
    whose logits are integer scores: only equal ones tie)."""
    best, count, total = lanes
    logit, value = key
    fresh = logit > best + window
    joins = (logit >= best - window) & ~fresh & jnp.isfinite(logit)
    count = jnp.where(fresh, 1.0, count + joins)
    total = jnp.where(fresh[:, None], value, jnp.where(joins[:, None], total + value, total))
    mean = total / jnp.maximum(count, 1.0)[:, None]
    return (jnp.maximum(best, logit), count, total), mean if summed is None else jnp.where(summed[:, None], total, mean)


def scan_keys(
    memory: dict[str, jax.Array],
    logits: jax.Array,
    values: jax.Array,
    valid: jax.Array,
    window: float | np.ndarray,
    summed: np.ndarray | None = None,
) -> tuple[dict[str, jax.Array], jax.Array]:
    """The scan lanes after the block's keys, logits (t, lanes) and values (t, lanes, depth),
    the invalid ones (padding) left out; and the lanes' means (or sums, `admit`) after each
    key (t, lanes, depth): the result of a query at that position.  One `lax.scan` over the
    keys (XLA compiles it in a moment, where an associative scan of this length takes many
    seconds)."""
    logits = jnp.where(valid[:, None], logits, -jnp.inf)
    lanes = (memory["best"], memory["count"], memory["total"])
    if logits.shape[0] == 1:
        lanes, mean = admit(lanes, (logits[0], values[0]), window, summed)
        means = mean[None]
    else:
        lanes, means = jax.lax.scan(functools.partial(admit, window=window, summed=summed), lanes, (logits, values))
    return {**memory, "best": lanes[0], "count": lanes[1], "total": lanes[2]}, means


def exact_logits(
    logits: jax.Array, keys: jax.Array, integers: jax.Array, layer: FastLayer, valid: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """The lanes' logits (t, lanes) with the exact lanes' replaced by their int64 scores
    round(c q) . round(2 k) (`compiled_model.arithmetic.moded_weights`) of the keys (t, exact
    lanes x key depth) against each lane's rounded query `integers` (exact lanes, key depth);
    and LARGE_SCORE where a valid position's score reaches EXACT_LIMIT, past which float64
    would merge distinct scores."""
    whole_k = jnp.round(2 * keys.reshape(keys.shape[0], *integers.shape)).astype(jnp.int64)
    scores = jnp.sum(whole_k * integers.astype(jnp.int64), axis=-1)
    large = jnp.any(valid[:, None] & (jnp.abs(scores) >= EXACT_LIMIT))
    exact = np.flatnonzero(layer.lane_flags("exact"))
    return logits.at[:, exact].set(scores.astype(logits.dtype)), jnp.where(large, LARGE_SCORE, 0)


def case_of(indicators: jax.Array, group: ScanGroup) -> jax.Array:
    """Each position's case (t,): k + 1 where the group's indicator dims[k] is the largest and
    above one half in the streams' `indicators` (t, dims), else 0 (the `one` vector alone)."""
    if not group.dims:
        return jnp.zeros(indicators.shape[0], jnp.int32)
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


# ------------------------------------------------------------------ keyed heads


Cells = tuple[tuple[jax.Array, ...], tuple[jax.Array, ...], jax.Array]
"""The keyed heads' state: per head its table of values (cells, depth) and which cells were
written (cells,), and the BOS's values (heads, depth)."""


def _cell(value: jax.Array, cells: int) -> tuple[jax.Array, jax.Array]:
    """The row of a key or target value (rounded: the model's integers carry float error) in
    the table, and whether it is inside (decided before any cast: a huge value or NaN is outside)."""
    rounded, low = jnp.round(value), -(cells // 2)
    inside = (rounded >= low) & (rounded < low + cells)
    return jnp.where(inside, rounded - low, 0).astype(jnp.int32), inside


def _keyed_position(tables: Cells, inputs: tuple[jax.Array, ...]) -> tuple[Cells, tuple[jax.Array, jax.Array]]:
    """One position of the keyed heads: a writer (round(writer) == 1) stores its value at its
    key's cell, then the query reads its target's cell, or the BOS's value where none was
    written.  The BOS (position 0) only records its value; padding changes nothing.  Returns
    the tables, the values read (heads, depth) and whether a key or target left the table.
    One slice per head (XLA's CPU gather and scatter cost time in the table's size)."""
    cells, filled, bos = tables
    position, valid, value, key, writer, target = inputs
    live = valid & (position > 0)
    bos = jnp.where(valid & (position == 0), value, bos)
    picked, outside, new_cells, new_filled = [], jnp.zeros((), bool), [], []
    for head, (table, written) in enumerate(zip(cells, filled)):
        rows = table.shape[0]
        key_row, key_inside = _cell(key[head], rows)
        target_row, target_inside = _cell(target[head], rows)
        writes = live & (jnp.round(writer[head]) == 1)
        stores = writes & key_inside
        old = jax.lax.dynamic_slice(table, (key_row, jnp.int32(0)), (1, table.shape[1]))
        table = jax.lax.dynamic_update_slice(table, jnp.where(stores, value[head][None], old), (key_row, jnp.int32(0)))
        was = jax.lax.dynamic_slice(written, (key_row,), (1,))
        written = jax.lax.dynamic_update_slice(written, was | stores, (key_row,))
        found = jax.lax.dynamic_slice(written, (target_row,), (1,))[0] & target_inside
        stored = jax.lax.dynamic_slice(table, (target_row, jnp.int32(0)), (1, table.shape[1]))[0]
        picked.append(jnp.where(found, stored, bos[head]))
        outside = outside | (writes & ~key_inside) | (live & ~target_inside)
        new_cells.append(table)
        new_filled.append(written)
    return (tuple(new_cells), tuple(new_filled), bos), (jnp.stack(picked), outside)


def keyed_cells(
    memory: dict[str, jax.Array], values: jax.Array, fields: jax.Array, positions: jax.Array, valid: jax.Array
) -> tuple[dict[str, jax.Array], jax.Array, jax.Array]:
    """The keyed heads after the block's positions, in order (a later write replaces an
    earlier one, and each position's write precedes its own read): their values (t, heads x
    depth) and key, writer and target functions (t, 3 x heads, all keys first).  Returns the
    state, the values read (t, heads, depth) and OUTSIDE_TABLE where a key or target of a
    valid position left the table.  A block of one runs without a loop."""
    t, heads = values.shape[0], len(memory["bos"])
    tables = (memory["cells"], memory["filled"], memory["bos"])
    key, writer, target = jnp.moveaxis(fields.reshape(t, 3, heads), 1, 0)
    inputs = (positions, valid, values.reshape(t, heads, -1), key, writer, target)
    if t == 1:
        tables, (read, outside) = _keyed_position(tables, tuple(part[0] for part in inputs))
        picked = read[None]
    else:
        tables, (picked, outsides) = jax.lax.scan(_keyed_position, tables, inputs)
        outside = jnp.any(outsides)
    updated = {**memory, "cells": tables[0], "filled": tables[1], "bos": tables[2]}
    return updated, picked, jnp.where(outside, OUTSIDE_TABLE, 0)


def keyed_matches(
    memory: dict[str, jax.Array], values: jax.Array, fields: jax.Array, positions: jax.Array, valid: jax.Array
) -> tuple[dict[str, jax.Array], jax.Array, jax.Array]:
    """`keyed_cells` with a log of positions (`empty_state(logged=True)`) instead of tables:
    each query reads the latest position at or before it, among the log's (those before the
    block) and the block's own, that writes at its target's key, or the BOS's value; then the
    block is written into the log.  A query compares with every logged row: cheaper than a
    table per row for short sequences, bounded by no table, and a log written for a prefix
    serves every continuation of it (`after_prefixes`, which reads the log where it lies and
    drops the write).  LARGE_SCORE where a valid key or target is not finite or reaches
    EXACT_LIMIT, past which rounding could merge two keys."""
    t, heads = values.shape[0], memory["log_keys"].shape[1]
    key, writer, target = jnp.moveaxis(fields.reshape(t, 3, heads), 1, 0)  # each (t, heads)
    key, target, by_head = jnp.round(key), jnp.round(target), values.reshape(t, heads, -1)
    live = valid & (positions > 0)
    writes = live[:, None] & (jnp.round(writer) == 1)
    start, rows, block = positions[0], jnp.arange(memory["log_keys"].shape[0]), jnp.arange(t)
    logged = (
        (rows < start)[None, :, None] & memory["log_writes"][None] & (memory["log_keys"][None] == target[:, None])
    )  # (query, row, head)
    own = (block[None, :] <= block[:, None])[..., None] & writes[None] & (key[None] == target[:, None])
    in_log = jnp.max(jnp.where(logged, rows[None, :, None], -1), axis=1)  # (t, heads)
    in_block = jnp.max(jnp.where(own, block[None, :, None], -1), axis=1)
    bos = jnp.where(start == 0, by_head[0], memory["log_values"][0])
    from_log = jnp.take_along_axis(memory["log_values"], jnp.maximum(in_log, 0)[..., None], axis=0)
    from_block = jnp.take_along_axis(by_head, jnp.maximum(in_block, 0)[..., None], axis=0)
    picked = jnp.where(
        (in_block >= 0)[..., None], from_block, jnp.where((in_log >= 0)[..., None], from_log, bos[None])
    )
    at = (start, *(jnp.zeros_like(start),) * 2)
    written = {
        "log_keys": jax.lax.dynamic_update_slice(memory["log_keys"], key, at[:2]),
        "log_writes": jax.lax.dynamic_update_slice(memory["log_writes"], writes, at[:2]),
        "log_values": jax.lax.dynamic_update_slice(memory["log_values"], by_head, at),
    }
    large = (writes & ~(jnp.abs(key) < EXACT_LIMIT)) | (live[:, None] & ~(jnp.abs(target) < EXACT_LIMIT))
    return {**memory, **written}, picked, jnp.where(jnp.any(large), LARGE_SCORE, 0)


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
    attends over the span that holds `reach` (default its position: `over_cache`), in the
    layer's head modes when it has them."""
    t, start = x.shape[0], positions[0]
    at = (jnp.zeros_like(start), start, jnp.zeros_like(start))
    cached = [
        jax.lax.dynamic_update_slice(memory[name], new.reshape(t, len(memory[name]), -1).swapaxes(0, 1), at)
        for name, new in (("keys", keys), ("values", values))
    ]
    weights = {"w_q": table["dense_q"], "w_o": table["dense_o"]}
    if "dense_mode" in table:  # a moded layer: its dense heads sum or take the latest as they say
        weights |= {"mode": table["dense_mode"], "integer": table["dense_integer"]}
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
    x: Stream,
    table: dict[str, jax.Array],
    memory: dict[str, jax.Array],
    layer: FastLayer,
    positions: jax.Array,
    valid: jax.Array,
    window: float,
    reach: jax.Array | None,
    logged: bool = False,
) -> tuple[Stream, dict[str, jax.Array], jax.Array, jax.Array]:
    """The attention sublayer over the streams x (blocks of t positions) at `positions`: the
    streams after it, the state with the block in (`logged`: a state of `empty_state(logged=
    True)`, whose keyed heads keep a log, `keyed_matches`), the checked
    queries' largest deviation and the block's `faults` (OUTSIDE_TABLE, LARGE_SCORE).  One
    product (`table["pre"]`) gives every part the heads need from the dimensions they read;
    the scanned, lookup and keyed heads' results go out through one more (`table["out"]`)."""
    pre = x.product(layer.attn_reads, table["pre"])
    t = pre.shape[0]
    parts = dict(zip(layer.columns, jnp.split(pre, np.cumsum(list(layer.columns.values()))[:-1], axis=1)))
    mixed, updates, off, faults = [], [], jnp.zeros((), pre.dtype), jnp.zeros((), jnp.int32)
    if layer.scans:
        lane_values = parts["lane_values"].reshape(t, layer.lanes, -1)
        logits, windows, summed = parts["logits"], window, None
        if layer.moded:  # sums, and exact lanes whose ties must be equal scores
            summed, exact = layer.lane_flags("summed"), layer.lane_flags("exact")
            if exact.any():
                logits, large = exact_logits(logits, parts["lane_keys"], table["lane_integers"], layer, valid)
                faults, windows = faults | large, np.where(exact, 0.0, window)
        memory, means = scan_keys(memory, logits, lane_values, valid, windows, summed)
        cases = [case_of(x.read(group.dims), group) for group in layer.scans]
        mixed.append(scanned_heads(means, cases, layer))
        off = deviation(parts["queries"], table["vectors"], cases, layer, valid & (positions > 0))
    if layer.lookups:
        memory, picked = lookup_rows(memory, parts["targets"], table["clamp"], parts["lookup_values"], positions)
        mixed.append(picked)
    if layer.keyed:
        keyed = keyed_matches if logged else keyed_cells
        memory, picked, outside = keyed(memory, parts["keyed_values"], parts["keyed_fields"], positions, valid)
        mixed.append(picked)
        faults = faults | outside
    if mixed:
        updates.append(times(jnp.concatenate(mixed, axis=1).reshape(t, -1), table["out"]))
    if layer.dense:
        xr = x.read(layer.attn_reads)
        memory, update = dense_heads(memory, xr, parts["keys"], parts["values"], table, positions, valid, window, reach)
        updates.append(update)
    return x.add(layer.attn_writes, sum(updates)), memory, off, faults


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
    logged: bool = False,
) -> tuple[State, Stream, jax.Array, jax.Array]:
    """token_ids (t,) at positions start.. (0 is the BOS) after the positions before them,
    whose state is given; `valid` false on padding (which comes after every real token).
    Returns the state with the block in, the final residual streams (`Stream`: blocks of t
    positions, `compiled_model.blocked_stream`), the checked
    queries' largest deviation (`deviation`) and the block's `faults` bits (`raise_faults`).
    A layer adds its attention (`attend`) and then its MLP (`compiled_model.arithmetic.mlp` on
    the dimensions it reads and writes), as `compiled_model.arithmetic.layer` does; a sublayer
    that writes nothing is skipped."""
    positions = start + jnp.arange(token_ids.shape[0], dtype=jnp.int32)
    if token_ids.shape[0] == 1:  # a decoder's step: one array, as cheap to compile as to run
        x = WholeStream.embedded(params, token_ids, positions)
    else:
        x = Stream.embedded(params, token_ids, positions, plan.embedded)
    off, faults = jnp.zeros((), params["token_embed"].dtype), jnp.zeros((), jnp.int32)
    updated = []
    for table, memory, layer in zip(tables, state, plan.layers):
        if layer.attn_writes:
            x, memory, layer_off, flags = attend(
                x, table["attn"], memory, layer, positions, valid, window, reach, logged
            )
            off, faults = jnp.maximum(off, layer_off), faults | flags
        if layer.mlp_writes:
            weights = table["mlp"]
            pre = x.product(layer.mlp_reads, weights["w_in"]) + weights["b_in"]
            hidden = jnp.where(pre > 0, pre, 0)  # as compiled_model.arithmetic.mlp writes the ReLU
            x = x.add(layer.mlp_writes, times(hidden, weights["w_out"]) + weights["b_out"])
        updated.append(memory)
    return updated, x, off, faults


# ------------------------------------------------------------------ the whole sequence


def fast_forward(
    params: Params,
    tables: Tables,
    token_ids: jax.Array,
    key_mask: jax.Array,
    plan: FastPlan,
    window: float,
    dims: tuple[int, ...] | None = None,
    table_cells: int | None = None,
) -> jax.Array:
    """The final residual stream (batch, T, width) of a causal hard model, as
    `compiled_model.arithmetic.forward` gives it, for token_ids (batch, T) with the BOS id 0
    first and key_mask false on padding (which must come after every real token): one block
    per row from the empty state.  `tables`: `compiled_model.fast_plan.tables_of(model, plan)`
    on the device; `dims`: only these dimensions of the stream (batch, T, len(dims)), such as
    the unembedding's (`FastPlan.outputs`), so that the whole stream is never assembled.
    Keyed heads match over the whole sequence (`keyed_matches`: no table bounds their keys)
    up to LOGGED_LENGTH positions (their comparisons grow as T^2); longer sequences keep a
    table per keyed head (`keyed_cells`, of `table_cells` cells: `table_rows`), linear in T.
    InexactQuery when a categorical query was not one of its scan's vectors; a ModelError when
    a keyed head's key or target is too large to compare exactly, or left its table."""
    logged = token_ids.shape[1] <= LOGGED_LENGTH
    cells = 1 if logged else table_rows(token_ids.shape[1], table_cells)
    streams, off, faults = _fast_forward(params, tables, token_ids, key_mask, plan, window, dims, cells, logged)
    raise_faults(float(off), int(faults), cells)
    return streams


LOGGED_LENGTH = 128
"""The longest whole pass whose keyed heads match over a log of positions (T^2 comparisons per
head and row) rather than through tables, whose cost grows with T alone."""


@functools.partial(jax.jit, static_argnames=("plan", "window", "dims", "cells", "logged"))
def _fast_forward(
    params: Params,
    tables: Tables,
    token_ids: jax.Array,
    key_mask: jax.Array,
    plan: FastPlan,
    window: float,
    dims: tuple[int, ...] | None,
    cells: int,
    logged: bool,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """`fast_forward`'s streams, the largest deviation of a checked query and the faults."""
    state = empty_state(plan, token_ids.shape[1], params["token_embed"].dtype, cells, logged=logged)

    def row(ids: jax.Array, valid: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        _, x, off, faults = fast_block(params, tables, state, ids, 0, valid, plan, window, logged=logged)
        return x.whole(params["token_embed"].shape[1]) if dims is None else x.read(dims), off, faults

    streams, offs, faults = jax.vmap(row)(token_ids, key_mask)
    return streams, jnp.max(offs), jnp.bitwise_or.reduce(faults)


# ------------------------------------------------------------------ inputs that share beginnings


def shared_prefixes(
    params: Params, tables: Tables, token_ids: jax.Array, key_mask: jax.Array, plan: FastPlan, window: float,
    capacity: int,
) -> State:
    """The states after prefixes token_ids (groups, P) with the BOS id 0 first and key_mask
    false on padding (after every real token), each logged (`empty_state(logged=True)`) with
    room for `capacity` positions in all, so that `after_prefixes` continues every input that
    begins with one of them from its state: the prefix is computed once, not once per input
    (a causal model's streams at a prefix's positions do not depend on what follows).
    InexactQuery or ModelError as `fast_forward`."""
    states, off, faults = _shared_prefixes(params, tables, token_ids, key_mask, plan, window, capacity)
    raise_faults(float(off), int(faults), 1)
    return states


@functools.partial(jax.jit, static_argnames=("plan", "window", "capacity"))
def _shared_prefixes(
    params: Params, tables: Tables, token_ids: jax.Array, key_mask: jax.Array, plan: FastPlan, window: float,
    capacity: int,
) -> tuple[State, jax.Array, jax.Array]:
    empty = empty_state(plan, capacity, params["token_embed"].dtype, logged=True)

    def prefix(ids: jax.Array, valid: jax.Array) -> tuple[State, jax.Array, jax.Array]:
        state, _, off, faults = fast_block(params, tables, empty, ids, 0, valid, plan, window, logged=True)
        return state, off, faults

    states, offs, faults = jax.vmap(prefix)(token_ids, key_mask)
    return states, jnp.max(offs), jnp.bitwise_or.reduce(faults)


def after_prefixes(
    params: Params,
    tables: Tables,
    states: State,
    prefixes: jax.Array,
    starts: jax.Array,
    token_ids: jax.Array,
    key_mask: jax.Array,
    plan: FastPlan,
    window: float,
    dims: tuple[int, ...],
) -> jax.Array:
    """The final streams' `dims` (rows, T, len(dims)) at the positions of token_ids (rows, T),
    each row continuing prefix number prefixes[row] of `states` (`shared_prefixes`) from
    position starts[row], the prefix's real length; key_mask false on padding.  Equal to
    `fast_forward` over each whole input (tests/compiler/test_fast_teacher_forcing.py).
    InexactQuery or ModelError as `fast_forward`; a ModelError too when a row's positions,
    padding included, pass the states' capacity (a cache would be written out of place)."""
    capacity = states[0]["rows"].shape[1] if states else 0
    reach = int(np.max(starts)) + token_ids.shape[1] if len(starts) else 0
    if reach > capacity:
        raise ModelError(
            f"rows continuing a prefix reach position {reach}, past the {capacity} positions its states were "
            "made for: pass shared_prefixes a larger capacity"
        )
    streams, off, faults = _after_prefixes(
        params, tables, states, prefixes, starts, token_ids, key_mask, plan, window, dims
    )
    raise_faults(float(off), int(faults), 1)
    return streams


@functools.partial(jax.jit, static_argnames=("plan", "window", "dims"))
def _after_prefixes(
    params: Params,
    tables: Tables,
    states: State,
    prefixes: jax.Array,
    starts: jax.Array,
    token_ids: jax.Array,
    key_mask: jax.Array,
    plan: FastPlan,
    window: float,
    dims: tuple[int, ...],
) -> tuple[jax.Array, jax.Array, jax.Array]:
    def row(prefix: jax.Array, start: jax.Array, ids: jax.Array, valid: jax.Array) -> tuple[jax.Array, ...]:
        state = jax.tree_util.tree_map(lambda array: array[prefix], states)
        _, x, off, faults = fast_block(params, tables, state, ids, start, valid, plan, window, logged=True)
        return x.read(dims), off, faults

    streams, offs, faults = jax.vmap(row)(prefixes, starts, token_ids, key_mask)
    return streams, jnp.max(offs), jnp.bitwise_or.reduce(faults)
