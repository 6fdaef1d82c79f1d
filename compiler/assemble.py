"""Stage 4: residual layout and weights.

The residual stream has one named dimension per label: `one`, `bos`, the token one-hots, the
position features some block reads (`indices`, `indices^2`, `indices=k`), then the dimensions
each block writes, in layer order.  Every weight matrix is the functionals of a block written
out over that layout.

The beginning-of-sequence position.  Its residual stream does not depend on the input: its
query attends to itself only (in non-causal models through a dedicated `bos`-`bos` score term),
so after every sublayer it holds known constants, which `assemble` computes as it goes.  Heads
use them to make the BOS key and value exactly what the head needs, whatever the functionals
evaluate to there: each query and key feature f gets `-f(bos residual)` on the `bos` dimension
(so it is 0 at the BOS), the key gets its BOS score, and each value feature gets its BOS value
(the aggregate's default).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from compiled_model import arithmetic as transformer
from compiled_model.spec import (
    BlockDescription,
    BlockPrecision,
    HeadDescriptor,
    LayerDescription,
    MixtureCheck,
    Precision,
    ResidualDim,
)
from compiler.blocks import (
    BOS,
    INDICES,
    INDICES_SQUARED,
    ONE,
    Dim,
    Functional,
    HeadBlock,
    LoweredProgram,
    MLPBlock,
    combine,
    token_dim,
)
from compiler.errors import CompileError, fail
from compiler.margins import (
    BOS_SELF_LOGIT,
    hard_separable,
    hard_value_ok,
    integers_exact,
    logit_ok,
    mlp_ok,
)
from compiler.scheduling import Layer


@dataclass(frozen=True)
class Assembly:
    """Stage 4's result: the weight arrays and the parts of the model's spec that describe them
    (the residual dimensions, the per-layer table of blocks, the float precision record, the
    mixture checks and the heads' descriptors for the fast passes)."""

    params: dict[str, Any]
    residual: tuple[ResidualDim, ...]
    layout: tuple[LayerDescription, ...]
    precision: Precision
    mixtures: tuple[MixtureCheck, ...]
    heads: tuple[tuple[HeadDescriptor, ...], ...]

    @property
    def labels(self) -> list[str]:
        return [dim.label for dim in self.residual]


def residual_dims(program: LoweredProgram, layers: Sequence[Layer]) -> list[Dim]:
    """The residual layout: `one`, `bos`, the token one-hots, the position features some
    block or the output reads, then what each block writes, in layer order."""
    blocks = [block for layer in layers for block in (*layer.heads, *layer.mlps)]
    read: set[Dim] = set()
    for block in blocks:
        read |= block.reads
    for functional in program.output:
        read |= set(functional)
    positions = [dim for dim in (INDICES, INDICES_SQUARED) if dim in read]
    positions += sorted((dim for dim in read if dim.kind == "index"), key=lambda dim: dim.value)
    written = [dim for block in blocks for dim in block.writes]
    return [ONE, BOS, *[token_dim(t) for t in program.vocab], *positions, *written]


class _ResidualBasis:
    """Functionals as weight vectors over the residual layout."""

    def __init__(self, labels: list[Dim]):
        self.index = {label: i for i, label in enumerate(labels)}
        self.width = len(labels)

    def vector(self, functional: Functional) -> np.ndarray:
        result = np.zeros(self.width)
        for label, coefficient in functional.items():
            result[self.index[label]] += coefficient
        return result

    def evaluate(self, functional: Functional, residual: np.ndarray) -> float:
        return float(sum(c * residual[self.index[label]] for label, c in functional.items()))


def _head_weights(
    head: HeadBlock, basis: _ResidualBasis, bos: np.ndarray, causal: bool
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray], list[int]]:
    """Query, key and value columns (BOS-corrected) and the output dimensions of one head."""
    query, key = [], []
    for q, k in zip(head.query, head.key):
        query.append(basis.vector(combine((1.0, q), (-basis.evaluate(q, bos), {BOS: 1.0}))))
        key.append(basis.vector(combine((1.0, k), (-basis.evaluate(k, bos), {BOS: 1.0}))))
    query.append(basis.vector({ONE: 1.0}))
    key.append(basis.vector({BOS: head.bos_score}))
    if head.bos_query is not None:
        q = head.bos_query
        query.append(basis.vector(combine((1.0, q), (-basis.evaluate(q, bos), {BOS: 1.0}))))
        key.append(basis.vector({BOS: 1.0}))
    if not causal:  # the BOS query must see only the BOS key, so that its stream stays constant
        query.append(basis.vector({BOS: 1.0}))
        key.append(basis.vector({BOS: max(BOS_SELF_LOGIT / head.scale, 1.0)}))
    values = [
        basis.vector(combine((1.0, v), (target - basis.evaluate(v, bos), {BOS: 1.0})))
        for v, target in zip(head.values, head.bos_values)
    ]
    query = [column * head.scale for column in query]
    return query, key, values, [basis.index[label] for label in head.writes]


def _stack(columns: list[list[np.ndarray]], width: int, depth: int) -> np.ndarray:
    """Per-head column lists as an array (heads, width, depth), zero-padded."""
    result = np.zeros((len(columns), width, depth))
    for h, head_columns in enumerate(columns):
        for t, column in enumerate(head_columns):
            result[h, :, t] = column
    return result


def _attention(layer: Layer, basis: _ResidualBasis, bos: np.ndarray, causal: bool) -> dict[str, np.ndarray]:
    built = [_head_weights(head, basis, bos, causal) for head in layer.heads]
    d = basis.width
    key_depth = max((len(q) for q, _, _, _ in built), default=0)
    value_depth = max((len(v) for _, _, v, _ in built), default=0)
    w_o = np.zeros((len(built), value_depth, d))
    for h, (_, _, _, outputs) in enumerate(built):
        for t, dim in enumerate(outputs):
            w_o[h, t, dim] = 1.0
    weights = {
        "w_q": _stack([q for q, _, _, _ in built], d, key_depth),
        "w_k": _stack([k for _, k, _, _ in built], d, key_depth),
        "w_v": _stack([v for _, _, v, _ in built], d, value_depth),
        "w_o": w_o,
    }
    if any(head.moded for head in layer.heads):
        weights["mode"] = np.array([float(_MODE_CODES[head.mode]) for head in layer.heads])
        # c with c * query integer: the query columns are the score's halves times the scale
        weights["integer"] = np.array([2.0 / head.scale if head.precision.int64 else 0.0 for head in layer.heads])
    return weights


_MODE_CODES = {"average": transformer.AVERAGE, "sum": transformer.SUM, "latest": transformer.LATEST}


def _mlp(blocks: list[MLPBlock], basis: _ResidualBasis) -> dict[str, np.ndarray]:
    units = [unit for block in blocks for unit in block.units]
    d = basis.width
    w_in, b_in = np.zeros((d, len(units))), np.zeros(len(units))
    w_out = np.zeros((len(units), d))
    for u, unit in enumerate(units):
        w_in[:, u] = basis.vector({k: v for k, v in unit.pre.items() if k != ONE})
        b_in[u] = unit.pre.get(ONE, 0.0)
        w_out[u] = basis.vector(unit.out)
    return {"w_in": w_in, "b_in": b_in, "w_out": w_out, "b_out": np.zeros(d)}


def _describe(block: HeadBlock | MLPBlock) -> BlockDescription:
    """Which s-ops a block reads and writes (for the per-layer table)."""

    def source(dim: Dim) -> str:
        if dim.writer is not None:
            return dim.writer.label
        return "tokens" if dim.kind == "token" else "indices"

    reads = tuple(sorted({source(dim) for dim in block.reads if dim != BOS}))
    writers = {dim.writer.label for dim in block.writes if dim.writer is not None}
    sop = writers.pop() if len(writers) == 1 else block.label  # a block's dims share their writer
    units = len(block.units) if isinstance(block, MLPBlock) else 0
    return BlockDescription(block.label, reads, tuple(str(dim) for dim in block.writes), sop, units)


def _residual_dim(dim: Dim) -> ResidualDim:
    """How the model's spec describes a residual dimension (compiled_model.spec.ResidualDim)."""
    if dim.kind == "written":
        kind = "indicator" if dim.indicates else "number"
        return ResidualDim(str(dim), kind, dim.family, repr(dim.indicates[0]) if dim.indicates else None)
    return ResidualDim(str(dim), dim.kind, None, dim.value)


def _head_precision(head: HeadBlock, n: int, hard: bool) -> BlockPrecision:
    """Whether float32 and float64 rounding keep one head inside its margins (see margins)."""
    figures = {
        "bos_gap": head.precision.bos_gap,
        "magnitude": head.precision.magnitude,
        "value_bound": head.precision.value_bound,
        "tolerance": head.precision.tolerance,
        "scale": head.scale,
        "max_logit": head.scale * (head.precision.magnitude + 1.0),
    }
    if head.moded:  # float64 only (Transformer.dtype): the int64 scores or the sums judged at lowering
        exact = integers_exact(4 * head.precision.magnitude + 4, "int64") if head.precision.int64 else True
        return BlockPrecision(head.label, False, bool(exact), figures=figures)
    verdicts = []
    for dtype in ("float32", "float64"):
        if hard:  # the score error is zero: every input of a hard model is exact
            ok = hard_separable(head.precision.bos_gap, 0.0, head.precision.magnitude, dtype) or (
                head.precision.integer_scores and integers_exact(2 * head.precision.magnitude + 2, dtype)
            )
            ok = ok and hard_value_ok(n, figures["value_bound"], figures["tolerance"], dtype)
        else:
            # the score margin in logits: the BOS gap, or for a selector width (whose selected
            # keys and BOS must score alike) the spread its BOS weight tolerates, 1/(8n)
            margin = head.scale * figures["bos_gap"] if head.bos_score < 1 else 1 / (2 * n)
            ok = logit_ok(figures["max_logit"], margin, figures["value_bound"], figures["tolerance"], dtype)
        verdicts.append(bool(ok))
    return BlockPrecision(head.label, *verdicts, figures=figures)


def _mlp_precision(block: MLPBlock) -> BlockPrecision:
    """Whether float32 and float64 rounding keep one MLP block inside its tolerance: each ramp
    pair cancels two values of up to max_preactivation, each weighted by up to the largest
    output weight (a square's steps are as large as its input's range)."""
    largest = max((abs(w) for unit in block.units for w in unit.out.values()), default=0.0)
    verdicts = [
        integers_exact(block.largest_integer, dtype)
        if block.integer
        else mlp_ok(block.max_preactivation, largest, len(block.units), block.tolerance, dtype)
        for dtype in ("float32", "float64")
    ]
    figures = {"tolerance": block.tolerance, "max_preactivation": block.max_preactivation}
    return BlockPrecision(block.label, *map(bool, verdicts), units=len(block.units), figures=figures)


def _precision(layers: Sequence[Layer], n: int, hard: bool) -> Precision:
    """Per head and MLP, whether float32 and float64 rounding stay inside its margins (see
    margins); a block that float64 cannot run exactly is refused."""
    heads = tuple(_head_precision(head, n, hard) for layer in layers for head in layer.heads)
    mlps = tuple(_mlp_precision(block) for layer in layers for block in layer.mlps)
    for record in (*heads, *mlps):
        if not record.float64_ok:
            raise CompileError(
                f"cannot compile {record.node}: even float64 rounding would exceed its margins "
                f"(largest logit or pre-activation too large for the precision it needs)"
            )
    return Precision(all(record.float32_ok for record in (*heads, *mlps)), heads, mlps)


def _uses_table(program: LoweredProgram, dims: Sequence[Dim]) -> bool:
    """Whether positions are embedded by a table: in soft mode (whose models stay as they
    were), or when some block reads a position's one-hot `indices=k`."""
    return not program.attention.hard or any(dim.kind == "index" for dim in dims)


def _positions(basis: _ResidualBasis, n: int, table: bool) -> dict[str, np.ndarray]:
    """The position embedding (see transformer.embed_positions): the table `pos_embed` of the
    n + 1 positions, or `pos_poly`, the rows of the BOS, of one unit of index and of one unit
    of index squared, whose size does not grow with n."""
    poly = np.zeros((3, basis.width))
    for row, label in ((1, INDICES), (2, INDICES_SQUARED)):
        if label in basis.index:
            poly[row, basis.index[label]] = 1.0
    if not table:
        return {"pos_poly": poly}
    rows = transformer.embed_positions({"pos_poly": poly}, np.arange(n + 1), np)
    for label in basis.index:
        if label.kind == "index":
            rows[label.value + 1, basis.index[label]] = 1.0
    return {"pos_embed": rows}


def fast_head(head: HeadBlock, basis: _ResidualBasis) -> HeadDescriptor:
    """What the fast passes need to know of a head (see blocks.PositionLookup): "running" when every
    query scores the keys alike (its query reads only the constant `one`), "lookup" with the
    target as (residual index, coefficient) pairs for a head that selects by position, else
    "dense"."""
    if head.keyed is not None:
        target, key, writer = (
            _linear(functional, basis) for functional in (head.keyed.target, head.keyed.key, head.keyed.writer)
        )
        return HeadDescriptor("keyed", target, key=key, writer=writer)
    if all(set(query) <= {ONE} for query in head.query):
        return HeadDescriptor("sum" if head.mode == "sum" else "running")
    if head.lookup is not None:
        return HeadDescriptor("lookup", _linear(head.lookup.target, basis), head.lookup.outside)
    return HeadDescriptor("dense")


def _linear(functional: Functional, basis: _ResidualBasis) -> tuple[tuple[int, float], ...]:
    """A functional as (residual index, coefficient) pairs; the constant `one` is a dimension too."""
    return tuple(sorted((basis.index[dim], float(c)) for dim, c in functional.items()))


def _check_size(program: LoweredProgram, layers: Sequence[Layer], width: int, table: bool) -> None:
    """The exact parameter count of the arrays `assemble` is about to allocate, against the
    budget; over it, the error names the s-op whose block has the most parameters."""
    n, causal = program.max_seq_len, program.causal
    positions = n + 1 if table else 3
    total = (len(program.vocab) + 1 + positions + len(program.output)) * width
    largest: tuple[int, int] = (0, 0)
    blocks: list[HeadBlock | MLPBlock] = []
    for layer in layers:
        if layer.heads:
            depth = max(len(head.query) + (1 if causal else 2) + (head.bos_query is not None) for head in layer.heads)
            value_depth = max(len(head.values) for head in layer.heads)
            per_head = width * (2 * depth + 2 * value_depth)
            total += per_head * len(layer.heads)
            for head in layer.heads:
                largest = max(largest, (per_head, len(blocks)))
                blocks.append(head)
        total += sum(len(block.units) for block in layer.mlps) * (2 * width + 1) + width
        for block in layer.mlps:
            largest = max(largest, (len(block.units) * (2 * width + 1), len(blocks)))
            blocks.append(block)
    if total > program.budget:
        node = blocks[largest[1]].writes[0].writer
        assert node is not None
        raise fail(
            node,
            f"the model would have {total:,} parameters, over the budget of {program.budget:,} "
            "(raise it with compile(..., budget=N) or --budget N)",
        )


def assemble(program: LoweredProgram, layers: Sequence[Layer]) -> Assembly:
    """Stage 4: the weights of `layers` over the residual layout, and their description."""
    vocab, causal, output = program.vocab, program.causal, program.output
    dims = residual_dims(program, layers)
    basis = _ResidualBasis(dims)
    d, n = basis.width, program.max_seq_len
    table = _uses_table(program, dims)
    _check_size(program, layers, d, table)
    token_embed = np.zeros((len(vocab) + 1, d))
    token_embed[:, basis.index[ONE]] = 1.0
    token_embed[0, basis.index[BOS]] = 1.0
    for row, token in enumerate(vocab, start=1):
        token_embed[row, basis.index[token_dim(token)]] = 1.0
    positions = _positions(basis, n, table)
    bos = token_embed[0] + transformer.embed_positions(positions, np.array(0), np)
    window = program.attention.window
    layer_params, layout = [], []
    for layer in layers:
        weights = {"attn": _attention(layer, basis, bos, causal), "mlp": _mlp(layer.mlps, basis)}
        # the BOS query sees only the BOS key: the layer run on that one position, on the host
        bos = transformer.layer(bos[None], weights, np.ones((1, 1), bool), xp=np, window=window)[1][0]
        layer_params.append(weights)
        layout.append(
            LayerDescription(tuple(_describe(head) for head in layer.heads), tuple(map(_describe, layer.mlps)))
        )
    unembed = np.stack([basis.vector(f) for f in output], axis=1)
    params = {"token_embed": token_embed, **positions, "layers": layer_params, "unembed": unembed}
    mixtures = tuple(
        MixtureCheck(mixture.node, tuple(basis.index[dim] for dim in mixture.dims), mixture.reason)
        for mixture in program.mixtures
    )
    heads = tuple(tuple(fast_head(head, basis) for head in layer.heads) for layer in layers)
    precision = _precision(layers, n, program.attention.hard)
    return Assembly(params, tuple(map(_residual_dim, dims)), tuple(layout), precision, mixtures, heads)
