"""The one plan of the fast passes: how each head of a hard causal model runs, decided once from
the compiler's head descriptors and the weights, and the weights folded for it.

`compiled_model.fast_forward.fast_block` runs the plan over a block of new positions: the whole
sequence (`fast_forward`, teacher forcing) is one block, a decoder step (`compiled_model.fast_decoder`)
a block of one.  A head is one of four kinds:

- a **scan** (`ScanGroup`): heads sharing one pattern whose query is one of a few vectors, the
  `one` row of w_q plus at most one row of the indicators of one categorical s-op.  Per vector
  the keys' scores do not depend on the query's position, so the chosen keys are the
  best-scoring ones so far: a state of the best score, the tie count and the value sum per
  vector, and a query takes its own vector's.  The compiler's "running" heads are scans of one
  vector (their query reads only `one`), its "sum" heads too, whose lanes give the value sum
  rather than the mean (`summed`); a head it calls "dense" is a scan when its query weights
  read no more than that (`checked`: every query is compared with its vector).  A scan of
  heads that score in integers (`compiled_model.arithmetic.moded_weights`) scores each key
  exactly as the dense pass does and keeps only the ties of the best (`exact`);
- a **lookup**: the key at the token index the query's stream names (descriptor's target);
- a **keyed** head (mode LATEST): a table from a key value to the value last written at it,
  which a query reads at the value its target names (`compiled_model.fast_forward.keyed_cells`);
- **dense**: keys and values kept per position and attended over, O(n) per query, in the
  layer's head modes (`moded`: sum and latest heads are never averaged).

A layer's head modes (`weights["attn"]["mode"]` and `["integer"]`, absent from models without
sum or latest heads) must agree with a head's descriptor for it to run fast: a "running" or
"lookup" head averages, a "sum" head sums, a "keyed" head takes the latest key; any other head
runs dense, which is exact in any mode.

The plan holds no weights, only indices and sizes: it is hashable (a static argument of the
jitted passes) and serves every model of one shape (`plan_of`).  The weights go into per-model
`tables_of`, cut to the residual dimensions each sublayer reads and writes (compiled weights
are sparse).  The plan reads the model's spec through `head_descriptors` and `residual_roles` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from compiled_model.arithmetic import AVERAGE, LATEST, SUM, position_weights
from compiled_model.errors import ModelError
from compiled_model.spec import HeadDescriptor
from compiled_model.transformer import Transformer

KINDS = ("running", "lookup", "dense", "sum", "keyed")
"""The kinds of the compiler's head descriptors."""

MODE_OF = {"running": AVERAGE, "lookup": AVERAGE, "sum": SUM, "keyed": LATEST}
"""The head mode each fast kind computes; a head whose weights say another runs dense."""

MAX_CASES = 256
"""The most indicator rows a scan's query may read (one state per vector)."""

# ------------------------------------------------------------------ what the plan reads of a model


@dataclass(frozen=True)
class ResidualRoles:
    """The residual dimensions the plan needs named: the constant `one`, the BOS flag, and per
    dimension the categorical s-op whose indicator it is (None for any other dimension)."""

    one: int
    bos: int
    categorical: tuple[str | None, ...]


def head_descriptors(model: Transformer) -> tuple[tuple[HeadDescriptor, ...], ...]:
    """Per layer, per head, the compiler's descriptor (the model's `ModelSpec.heads`)."""
    described = model.spec.heads
    unknown = {head.kind for layer in described for head in layer} - set(KINDS)
    if unknown:
        raise ModelError(f"unknown head kinds {sorted(unknown)} (expected one of {KINDS})")
    return described


def residual_roles(model: Transformer) -> ResidualRoles:
    """The roles of the residual dimensions, from the spec's typed `ResidualDim`s: no label is
    read back (a position's one-hot is no categorical s-op's indicator here: a query reading it
    runs dense, which is exact)."""
    spec = model.spec
    categorical = tuple(dim.holds if dim.is_indicator else None for dim in spec.residual)
    return ResidualRoles(spec.index_of("one"), spec.index_of("bos"), categorical)


# ------------------------------------------------------------------ the plan


@dataclass(frozen=True)
class ScanGroup:
    """Heads (indices along axis 0 of w_q) sharing one pattern, whose query is the `one` row of
    w_q plus at most one of its rows `dims`: one vector per case, none first.  A query takes
    case k + 1 when dims[k] is its largest indicator above one half, else case 0.  `checked`:
    the weights, not a descriptor, made it a scan, so every query (the BOS's and padding's
    aside) must equal its case's vector exactly (`compiled_model.errors.InexactQuery`).
    `summed`: the heads are in mode SUM, so a lane gives its keys' value sum, not their mean.
    `exact`: the heads score in integers (`integer` > 0 in every model), so a lane scores each
    key in int64 as `compiled_model.arithmetic.moded_weights` does and keeps the exact ties."""

    heads: tuple[int, ...]
    dims: tuple[int, ...] = ()
    checked: bool = False
    summed: bool = False
    exact: bool = False

    @property
    def lanes(self) -> int:
        """States kept: one per vector and head (vector-major)."""
        return (1 + len(self.dims)) * len(self.heads)


@dataclass(frozen=True)
class FastLayer:
    """How one layer runs: its scan groups, lookup heads and dense heads, the depths of its
    keys and values, and the residual dimensions its attention and its MLP read and write
    (rows and columns not all zero in some model's weights; a sublayer writing none is
    skipped).  The heads' results are ordered scans (group by group), lookups, keyed, dense.
    `moded`: some model's layer has head modes, which its dense heads then attend in.
    `gathered`: the folded matrices (`GATHERED`) kept as each column's few nonzero entries,
    with the most a column holds in any model (`_gathers`)."""

    scans: tuple[ScanGroup, ...]
    lookups: tuple[int, ...]
    dense: tuple[int, ...]
    key_depth: int
    value_depth: int
    attn_reads: tuple[int, ...] = ()
    attn_writes: tuple[int, ...] = ()
    mlp_reads: tuple[int, ...] = ()
    mlp_writes: tuple[int, ...] = ()
    keyed: tuple[int, ...] = ()
    moded: bool = False
    gathered: tuple[tuple[str, int], ...] = ()

    @property
    def lanes(self) -> int:
        return sum(group.lanes for group in self.scans)

    def lane_flags(self, flag: str) -> np.ndarray:
        """Per lane (group by group, as the lanes run), the group's `summed` or `exact`."""
        return np.array([getattr(group, flag) for group in self.scans for _ in range(group.lanes)], bool)

    @property
    def exact_lanes(self) -> int:
        return int(self.lane_flags("exact").sum())

    @property
    def scanned(self) -> tuple[int, ...]:
        """The scanned heads, in the order of their results."""
        return tuple(head for group in self.scans for head in group.heads)

    @property
    def checked(self) -> tuple[ScanGroup, ...]:
        return tuple(group for group in self.scans if group.checked)

    @property
    def columns(self) -> dict[str, int]:
        """The widths of the parts of the folded product `pre` (`tables_of`), in its order."""
        lookups, dense = len(self.lookups), len(self.dense)
        return {
            "lane_values": self.lanes * self.value_depth,
            "logits": self.lanes,
            "lookup_values": lookups * self.value_depth,
            "targets": lookups,
            "queries": len(self.checked) * self.key_depth,
            "keys": dense * self.key_depth,
            "values": dense * self.value_depth,
            "lane_keys": self.exact_lanes * self.key_depth,
            "keyed_values": len(self.keyed) * self.value_depth,
            "keyed_fields": 3 * len(self.keyed),
        }


@dataclass(frozen=True)
class FastPlan:
    """One FastLayer per layer: hashable, so that it is a static argument of the jitted passes.
    `embedded`: the residual dimensions the token and position embeddings write; `outputs`:
    those the unembedding reads (`compiled_model.blocked_stream`)."""

    layers: tuple[FastLayer, ...]
    embedded: tuple[int, ...] = ()
    outputs: tuple[int, ...] = ()


def plan_of(models: Sequence[Transformer]) -> FastPlan:
    """The plan that serves every model (of one shape): a head's descriptor kind where the
    models agree and their weights compute it (`MODE_OF`), "dense" where they do not; dense
    heads that share a pattern and a mode in every model and whose query is a scan's in every
    model (the same dims) become one checked scan, unless they take the latest key."""
    for model in models:
        _require_servable(model)
    described = [head_descriptors(model) for model in models]
    counts = [weights["attn"]["w_q"].shape[0] for weights in models[0].params["layers"]]
    if any([len(heads) for heads in layers_of] != counts for layers_of in described):
        raise ModelError(f"the head descriptors do not match the model's heads per layer {counts}")
    roles = [residual_roles(model) for model in models]
    layers, folds = [], []
    for index, count in enumerate(counts):
        attns = [_host(model.params["layers"][index]["attn"]) for model in models]
        modes = [_modes(attn, count) for attn in attns]
        kinds = [_served({of[index][head].kind for of in described}, head, modes) for head in range(count)]
        heads = {wanted: [head for head in range(count) if kinds[head] == wanted] for wanted in KINDS}
        scans, dense = [], list(heads["dense"])
        for group in _shared_patterns(heads["running"] + heads["sum"], attns, modes):
            mode = _group_mode(group, modes)
            if mode is None:  # the models score these heads differently: dense is exact for each
                dense.extend(group)
            else:
                scans.append(ScanGroup(group, summed=mode[0] == SUM, exact=mode[1]))
        for group in _shared_patterns(heads["dense"], attns, modes):
            dims = {_query_dims(attn["w_q"][group[0]], role) for attn, role in zip(attns, roles)}
            mode = _group_mode(group, modes)
            if len(dims) == 1 and None not in dims and mode is not None and mode[0] != LATEST:
                scans.append(ScanGroup(group, dims.pop(), checked=True, summed=mode[0] == SUM, exact=mode[1]))
                dense = [head for head in dense if head not in group]
        depths = attns[0]["w_k"].shape[2], attns[0]["w_v"].shape[2]
        layer = FastLayer(
            tuple(scans),
            tuple(heads["lookup"]),
            tuple(sorted(dense)),
            *depths,
            keyed=tuple(heads["keyed"]),
            moded=any("mode" in attn for attn in attns),
        )
        folded = [_folded(model, index, layer, of[index], role) for model, of, role in zip(models, described, roles)]
        layers.append(replace(layer, **_supports(folded)))
        folds.append(folded)
    embeddings = ("token_embed", *(position_weights(model.params) for model in models))
    embedded = _nonzero([model.params[name] for model in models for name in embeddings if name in model.params])
    ordered, order = _in_stream_order(layers, embedded)
    ordered = [replace(layer, gathered=_gathers(layer, folded)) for layer, folded in zip(ordered, folds)]
    unembedded = _nonzero([np.asarray(model.params["unembed"]).T for model in models])
    return FastPlan(tuple(ordered), embedded, tuple(sorted((d for d in unembedded if d in order), key=order.get)))


def _nonzero(arrays: list[Any]) -> tuple[int, ...]:
    """The columns not all zero in some array (..., width)."""
    columns = [np.any(np.asarray(array).reshape(-1, np.shape(array)[-1]) != 0, axis=0) for array in arrays]
    return tuple(int(d) for d in np.flatnonzero(np.any(columns, axis=0)))


def _in_stream_order(layers: list[FastLayer], embedded: tuple[int, ...]) -> tuple[list[FastLayer], dict[int, int]]:
    """The layers with each sublayer's reads cut to the dimensions written before it (the
    others are zero there: their rows would add nothing) and listed in the order of the
    blocked stream (`compiled_model.blocked_stream`: the embedding's dimensions, then each
    sublayer's new ones), so that a sublayer reads slices of blocks; and that order."""
    order = {dim: place for place, dim in enumerate(embedded)}

    def present(dims: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(sorted((dim for dim in dims if dim in order), key=order.__getitem__))

    def written(dims: tuple[int, ...]) -> None:
        for dim in dims:
            order.setdefault(dim, len(order))

    ordered = []
    for layer in layers:
        attn_reads = present(layer.attn_reads)
        written(layer.attn_writes)
        mlp_reads = present(layer.mlp_reads)
        written(layer.mlp_writes)
        ordered.append(replace(layer, attn_reads=attn_reads, mlp_reads=mlp_reads))
    return ordered, order


Modes = tuple[np.ndarray, np.ndarray]
"""A layer's head mode codes and integer factors (heads,); AVERAGE and 0 without modes."""


def _modes(attn: dict[str, np.ndarray], count: int) -> Modes:
    return attn.get("mode", np.full(count, float(AVERAGE))), attn.get("integer", np.zeros(count))


def _served(kinds: set[str], head: int, modes: list[Modes]) -> str:
    """The kind a head runs as: the models' agreed descriptor kind when every model's weights
    compute what that kind computes (a "sum" head that averages would be wrong), else dense."""
    kind = _agreed(kinds)
    if kind in MODE_OF and any(mode[head] != MODE_OF[kind] for mode, _ in modes):
        return "dense"
    return kind


def _group_mode(group: tuple[int, ...], modes: list[Modes]) -> tuple[int, bool] | None:
    """The heads' mode code and whether they score in integers, the same in every model (the
    heads of a group agree within each model: `_shared_patterns`); None where models differ."""
    seen = {(int(mode[group[0]]), bool(integer[group[0]] > 0)) for mode, integer in modes}
    return seen.pop() if len(seen) == 1 else None


def _require_servable(model: Transformer) -> None:
    if model.window is None:
        raise ModelError("the fast passes serve hard-attention models only (compile with attention='hard')")
    model.require_causal()


def _agreed(kinds: set[str]) -> str:
    return kinds.pop() if len(kinds) == 1 else "dense"


def _host(weights: dict[str, Any]) -> dict[str, np.ndarray]:
    return {name: np.asarray(array, np.float64) for name, array in weights.items()}


def _shared_patterns(heads: list[int], attns: list[dict[str, np.ndarray]], modes: list[Modes]) -> list[tuple[int, ...]]:
    """`heads` grouped by their query and key weights and their mode, equal in every model
    (one pattern, chosen and weighted alike)."""
    groups: dict[bytes, list[int]] = {}
    for head in heads:
        key = b"".join(
            attn["w_q"][head].tobytes() + attn["w_k"][head].tobytes() + mode[head].tobytes() + integer[head].tobytes()
            for attn, (mode, integer) in zip(attns, modes)
        )
        groups.setdefault(key, []).append(head)
    return [tuple(group) for group in groups.values()]


def _query_dims(w_q: np.ndarray, roles: ResidualRoles) -> tuple[int, ...] | None:
    """The indicator rows a query (width, depth) reads besides `one` and `bos`, when they are
    fewer than MAX_CASES of one categorical s-op; None when it reads anything else."""
    read = np.flatnonzero(np.any(w_q != 0, axis=1))
    dims = tuple(int(d) for d in read if d not in (roles.one, roles.bos))
    names = {roles.categorical[d] for d in dims}
    return dims if len(names) <= 1 and None not in names and len(dims) < MAX_CASES else None


# ------------------------------------------------------------------ the folded weights


def _folded(
    model: Transformer, index: int, layer: FastLayer, described: Sequence[HeadDescriptor], roles: ResidualRoles
) -> dict[str, np.ndarray]:
    """Layer `index`'s weights folded for `layer`, over the whole residual stream: `pre`
    (width, columns) gives with one product every part of `FastLayer.columns`: each scan
    lane's value (w_v) and its key's logit (w_k times the lane's vector, so that no query is
    formed), the lookups' values and targets, the checked groups' queries (w_q), the dense
    heads' keys and values, the exact lanes' keys (w_k: an integer score rounds the key before
    the product), and the keyed heads' values and their key, writer and target functions (all
    keys, then all writers, then all targets).  `out` stacks the scanned, lookup and keyed
    heads' w_o; `vectors` the checked groups' vectors; `clamp` is 1.0 where a lookup clamps;
    `dense_q` and `dense_o` the dense heads' w_q and w_o; in a moded layer `lane_integers`
    the exact lanes' rounded query round(c * vector), `dense_mode` and `dense_integer` the
    dense heads' modes.  The MLP's weights as they are."""
    attn, mlp = _host(model.params["layers"][index]["attn"]), _host(model.params["layers"][index]["mlp"])
    w_q, w_k, w_v, w_o = attn["w_q"], attn["w_k"], attn["w_v"], attn["w_o"]
    mode, integer = _modes(attn, w_q.shape[0])
    width = w_q.shape[1]
    vectors = {group: _vectors(w_q[group.heads[0]], group.dims, roles.one) for group in layer.scans}
    lanes = [(group, vector, head) for group in layer.scans for vector in vectors[group] for head in group.heads]
    exact = [(vector, head) for group, vector, head in lanes if group.exact]
    parts = [
        *(w_v[head] for _, _, head in lanes),
        np.array([w_k[head] @ vector for _, vector, head in lanes]).T.reshape(width, -1),
        *(w_v[head] for head in layer.lookups),
        _linear_columns([described[head].target for head in layer.lookups], width),
        *(w_q[group.heads[0]] for group in layer.checked),
        *(w_k[head] for head in layer.dense),
        *(w_v[head] for head in layer.dense),
        *(w_k[head] for _, head in exact),
        *(w_v[head] for head in layer.keyed),
        _linear_columns([described[head].key for head in layer.keyed], width),
        _linear_columns([described[head].writer for head in layer.keyed], width),
        _linear_columns([described[head].target for head in layer.keyed], width),
    ]
    fast = [*layer.scanned, *layer.lookups, *layer.keyed]
    dense = list(layer.dense)
    integers = [np.round(integer[head] * vector) for vector, head in exact]
    moded = {
        "lane_integers": np.array(integers) if integers else np.zeros((0, w_q.shape[2])),
        "dense_mode": mode[dense],
        "dense_integer": integer[dense],
    }
    return {
        "pre": np.concatenate(parts, axis=1),
        "out": np.concatenate([w_o[head] for head in fast]) if fast else np.zeros((0, width)),
        "vectors": np.concatenate([vectors[group] for group in layer.checked] or [np.zeros((0, w_q.shape[2]))]),
        "clamp": np.array([float(described[head].outside == "clamp") for head in layer.lookups]),
        "dense_q": w_q[dense],
        "dense_o": w_o[dense],
        **(moded if layer.moded else {}),
        **mlp,
    }


def _linear_columns(functions: list[tuple[tuple[int, float], ...]], width: int) -> np.ndarray:
    """Linear functions of the stream (descriptors' (index, coefficient) pairs) as the columns
    of a matrix (width, functions)."""
    columns = np.zeros((width, len(functions)))
    for column, function in enumerate(functions):
        for dim, coefficient in function:
            columns[dim, column] += coefficient
    return columns


def _vectors(w_q: np.ndarray, dims: tuple[int, ...], one: int) -> np.ndarray:
    """A scan's query vectors (cases, depth): the `one` row, then it plus each row of `dims`."""
    base = w_q[one]
    return np.concatenate([base[None], base[None] + w_q[list(dims)]])


_SUPPORTS = {
    "attn_reads": (("pre", 0), ("dense_q", 1)),
    "attn_writes": (("out", 1), ("dense_o", 2)),
    "mlp_reads": (("w_in", 0),),
    "mlp_writes": (("w_out", 1), ("b_out", 0)),
}
"""Per support of FastLayer, the arrays of `_folded` it is taken from and their residual axis."""


def _supports(folded: list[dict[str, np.ndarray]]) -> dict[str, tuple[int, ...]]:
    """The dimensions the models' folded attention and MLP read (non-zero rows of what
    multiplies the stream) and write (non-zero columns of what is added to it)."""

    def used(arrays: tuple[tuple[str, int], ...]) -> tuple[int, ...]:
        along = [np.moveaxis(weights[name], axis, 0) for name, axis in arrays for weights in folded]
        rows = sum(np.any(array.reshape(array.shape[0], -1) != 0, axis=1) for array in along)
        return tuple(int(d) for d in np.flatnonzero(rows))

    return {support: used(arrays) for support, arrays in _SUPPORTS.items()}


GATHERED = (("attn", "pre"), ("attn", "out"), ("mlp", "w_in"), ("mlp", "w_out"))
"""The folded matrices a layer may keep as gathers (`FastLayer.gathered`)."""

GATHER_GAIN = 4
"""A matrix is kept as gathers when its columns hold at most 1/GATHER_GAIN of its rows as
nonzero entries: a compiled MLP that tabulates reads two or three dimensions per unit, and a
product over all the rows it does not read costs more than a few gathers."""


def _cut(folded: dict[str, np.ndarray], layer: FastLayer) -> dict[str, dict[str, np.ndarray]]:
    """A layer's folded weights cut to the dimensions the plan says it reads and writes."""
    reads, writes = list(layer.attn_reads), list(layer.attn_writes)
    mlp_reads, mlp_writes = list(layer.mlp_reads), list(layer.mlp_writes)
    attn = {
        "pre": folded["pre"][reads],
        "out": folded["out"][:, writes],
        "vectors": folded["vectors"],
        "clamp": folded["clamp"],
        "dense_q": folded["dense_q"][:, reads],
        "dense_o": folded["dense_o"][..., writes],
        **{name: folded[name] for name in ("lane_integers", "dense_mode", "dense_integer") if layer.moded},
    }
    mlp = {
        "w_in": folded["w_in"][mlp_reads],
        "b_in": folded["b_in"],
        "w_out": folded["w_out"][:, mlp_writes],
        "b_out": folded["b_out"][mlp_writes],
    }
    return {"attn": attn, "mlp": mlp}


def _gathers(layer: FastLayer, folded: list[dict[str, np.ndarray]]) -> tuple[tuple[str, int], ...]:
    """The matrices of `GATHERED` worth keeping as gathers in every model (`GATHER_GAIN`), each
    with the most nonzero entries a column of it holds in any model."""
    cut = [_cut(weights, layer) for weights in folded]
    kept = []
    for part, name in GATHERED:
        matrices = [weights[part][name] for weights in cut]
        rows = matrices[0].shape[0]
        most = max(int(np.count_nonzero(matrix, axis=0).max(initial=0)) for matrix in matrices)
        if rows and most * GATHER_GAIN <= rows:
            kept.append((name, max(most, 1)))
    return tuple(kept)


def _as_gathers(matrix: np.ndarray, entries: int) -> dict[str, np.ndarray]:
    """A matrix (rows, columns) as each column's nonzero rows and values (columns, entries),
    padded with row 0 and value 0 (the indices are floats: `to_device` casts every array)."""
    index = np.zeros((matrix.shape[1], entries))
    weight = np.zeros((matrix.shape[1], entries))
    for column in range(matrix.shape[1]):
        rows = np.flatnonzero(matrix[:, column])
        index[column, : len(rows)] = rows
        weight[column, : len(rows)] = matrix[rows, column]
    return {"index": index, "weight": weight}


def tables_of(model: Transformer, plan: FastPlan) -> list[dict[str, dict[str, np.ndarray]]]:
    """Per layer, the model's weights folded for the plan (`_folded`) and cut to the
    dimensions the plan says the layer reads and writes, so that the passes multiply small
    dense matrices (exactly: the rows and columns left out hold zeros), the plan's `gathered`
    ones as gathers (`_as_gathers`).  Numpy, per model, so that a batch stacks them like the
    weights."""
    described, roles = head_descriptors(model), residual_roles(model)
    tables = []
    for index, layer in enumerate(plan.layers):
        cut = _cut(_folded(model, index, layer, described[index], roles), layer)
        gathered = dict(layer.gathered)
        for part, name in GATHERED:
            if name in gathered:
                cut[part][name] = _as_gathers(cut[part].pop(name), gathered[name])
        tables.append(cut)
    return tables
