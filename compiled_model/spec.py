"""What a compiled model is, besides its weights: one frozen, typed `ModelSpec`.

The compiler builds a spec (`compiler.assemble` and `compiler.compile`), model files store it
as JSON beside the weights (`compiled_model.serialization`), and every part of the runtime reads
it by attribute.  Nothing at run time parses a residual label back from its text: each residual
dimension says what fills it (`ResidualDim`), each head what the fast passes may do with it
(`HeadDescriptor`), and the attention mode is one `Attention` value from the command line or the
`compile` call to the weights.

The JSON form carries `format`: FORMAT now.  Files of the first format (a plain dict without a
version, written before the spec existed) are converted when read (`compiled_model.legacy`);
a file of a later format is refused with a message naming both versions.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from compiled_model.errors import ModelError

FORMAT = 2
"""The model file format this code writes.  1: the untyped metadata dict (read, converted)."""

#: Hard attention's tie window: keys whose logits lie within it of the best are averaged.  The
#: compiler scales a hard head so that its selected keys lie twice as far above every other key
#: (`compiler.margins.HARD_GAP`).
TIE_WINDOW = 0.25

AttentionMode = Literal["soft", "hard"]
ATTENTION_MODES: tuple[AttentionMode, ...] = ("soft", "hard")


@dataclass(frozen=True)
class Attention:
    """How every head of a model turns logits into weights: softmax ("soft"), or the uniform
    average over the keys within `tie_window` of the best logit ("hard", RASP's aggregate)."""

    mode: AttentionMode = "soft"
    tie_window: float = TIE_WINDOW

    def __post_init__(self) -> None:
        if self.mode not in ATTENTION_MODES:
            raise ModelError(f"attention must be one of {', '.join(ATTENTION_MODES)}, not {self.mode!r}")
        if not (isinstance(self.tie_window, (int, float)) and math.isfinite(self.tie_window) and self.tie_window > 0):
            raise ModelError(f"the tie window must be a positive number, not {self.tie_window!r}")

    @classmethod
    def named(cls, mode: Attention | str) -> Attention:
        """The attention of a mode's name ("soft", "hard"), or `mode` itself when it is one."""
        return mode if isinstance(mode, Attention) else cls(mode)  # type: ignore[arg-type]

    @property
    def hard(self) -> bool:
        return self.mode == "hard"

    @property
    def window(self) -> float | None:
        """What the arithmetic takes (`compiled_model.arithmetic.attention_weights`): None for
        softmax, else the tie window."""
        return self.tie_window if self.hard else None

    def __str__(self) -> str:
        return self.mode


SOFTMAX = Attention("soft")
"""Softmax attention, the default."""

DimKind = Literal["one", "bos", "token", "indices", "indices^2", "index", "number", "indicator", "padding"]


@dataclass(frozen=True)
class ResidualDim:
    """One dimension of the residual stream.  `kind`: the constants `one` and `bos`, a token's
    one-hot ("token", `value` the token's text), the position features `indices` and
    `indices^2`, a position's one-hot ("index", `value` the position), a number an s-op's block
    writes ("number"), the indicator of one value of a categorical s-op ("indicator", `value`
    that value's repr: values need not be atoms a file can store) or zero padding
    (`compiled_model.shapes.pad`).  `sop` names the family a written
    dimension belongs to (an s-op's label, or a block's scratch name such as `x/raw`); indicators
    of one family are one categorical variable: at most one of them is 1 at a position.
    `label` is the name tables and plots show."""

    label: str
    kind: DimKind
    sop: str | None = None
    value: Any = None

    @property
    def holds(self) -> str | None:
        """The s-op this dimension holds, whole or as the indicator of one of its values:
        `tokens` for a token's one-hot, `indices` for the index, a written dimension's family
        (`sop`); None for the constants, the position one-hots, `indices^2` and padding."""
        return {"token": "tokens", "indices": "indices"}.get(self.kind, self.sop)

    @property
    def is_indicator(self) -> bool:
        """Whether this dimension is 1 at a position where its s-op has one value, else 0
        (the indicators of one s-op are one categorical variable)."""
        return self.kind in ("token", "indicator")


@dataclass(frozen=True)
class OutputDecoding:
    """How the unembedding's scores become output values: "categorical" (the column of the
    largest score; one column per value), "numerical" (the value nearest to the one score
    column) or "fraction" (a mean of integers: the nearest fraction whose denominator is at
    most max_seq_len) or "integer" (the integer nearest to the one score column, `values` its
    range (low, high): a length-free model's output of positions or counts)."""

    kind: Literal["categorical", "numerical", "fraction", "integer"]
    values: tuple[Any, ...]


@dataclass(frozen=True)
class BlockDescription:
    """A head or MLP block of the layer table: its name, what it reads and writes, the s-op
    it was made for (`sop`: "" in files written before it was recorded) and, for an MLP, its
    hidden units."""

    node: str
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    sop: str = ""
    units: int = 0


@dataclass(frozen=True)
class SopSize:
    """What a model spends on one s-op: the residual dimensions its blocks write, its heads,
    its MLP units, and the MLP weights those units take (each reads and writes the whole
    residual stream: 2 x width + 1 parameters)."""

    sop: str
    dims: int
    heads: int
    units: int
    mlp_params: int


@dataclass(frozen=True)
class LayerDescription:
    heads: tuple[BlockDescription, ...]
    mlps: tuple[BlockDescription, ...]


@dataclass(frozen=True)
class BlockPrecision:
    """Whether float32 and float64 rounding keep one block inside its margins, and the figures
    the judgement used (`units` counts an MLP block's hidden units; 0 for a head)."""

    node: str
    float32_ok: bool
    float64_ok: bool
    units: int = 0
    figures: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Precision:
    """The precision record: every block's, and whether the whole model is exact in float32."""

    float32_ok: bool
    heads: tuple[BlockPrecision, ...] = ()
    mlps: tuple[BlockPrecision, ...] = ()


#: Why a model has no value at a position, by the reason a MixtureCheck names: what each
#: check detects, in the words a refusal shows.
REFUSALS: dict[str, str] = {
    "mixture": "the categorical aggregate {node} averages several different values, whose mean its output cannot hold",
    "several": "the aggregate {node} selects several positions of non-numbers, which the interpreter does not average",
    "undefined": "the map {node} fails on its input's value there, as the interpreter does",
    "kinds": "{node} sets strings against numbers there, which the interpreter refuses",
}


@dataclass(frozen=True)
class MixtureCheck:
    """Residual indices of which at least one reaches
    `compiled_model.transformer.MIXTURE_THRESHOLD` wherever the model has a value; where none
    does, the model reports the position instead of a value.  `reason` (a key of REFUSALS)
    says what the dimensions are: a categorical aggregate's output indicators ("mixture"),
    an aggregate's several-keys detector ("several"), a map's defined-here flag
    ("undefined"), or a detector of strings meeting numbers ("kinds", `compiler.kind_checks`)."""

    node: str
    dims: tuple[int, ...]
    reason: str = "mixture"

    def __post_init__(self) -> None:
        if self.reason not in REFUSALS:
            raise ValueError(f"unknown mixture check reason {self.reason!r} (known: {', '.join(REFUSALS)})")

    def explain(self) -> str:
        """What the model could not compute, in words."""
        return REFUSALS[self.reason].format(node=self.node)


HeadKind = Literal["running", "lookup", "dense", "sum", "keyed"]
HEAD_KINDS: tuple[HeadKind, ...] = ("running", "lookup", "dense", "sum", "keyed")

Linear = tuple[tuple[int, float], ...]
"""A linear function of the residual stream: (residual index, coefficient) pairs."""


@dataclass(frozen=True)
class HeadDescriptor:
    """What the fast passes may do with a head of a hard model: "running" (every query scores
    the keys alike: its query reads only `one`), "lookup" (the key at token index
    q = round(sum of coefficient * stream[dim] over `target`), or, where q is out of range,
    the BOS key (`outside` "bos") or the key at q clamped into range ("clamp")), "sum" (a
    running head whose weights sum its keys' values instead of averaging them: mode SUM),
    "keyed" (mode LATEST: the value of the latest key j with round(`writer`(x_j)) = 1 and
    round(`key`(x_j)) = round(`target`(x_i)), or the BOS's when there is none: a table from
    the key to the latest value written at it), or "dense" (anything else; always exact)."""

    kind: HeadKind = "dense"
    target: Linear = ()
    outside: Literal["bos", "clamp"] = "bos"
    key: Linear = ()
    writer: Linear = ()


@dataclass(frozen=True)
class ModelSpec:
    """Everything about a compiled model but its weights.  `heads` holds one tuple of
    descriptors per layer (one per head of the weights); `cache_key` is free for a cache that
    stores the model (`turing.universal_model` writes its key there)."""

    program: str
    vocab: tuple[Any, ...]
    max_seq_len: int
    causal: bool
    attention: Attention
    residual: tuple[ResidualDim, ...]
    output: OutputDecoding
    layout: tuple[LayerDescription, ...] = ()
    precision: Precision = Precision(float32_ok=False)
    mixtures: tuple[MixtureCheck, ...] = ()
    heads: tuple[tuple[HeadDescriptor, ...], ...] = ()
    cache_key: str | None = None

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(dim.label for dim in self.residual)

    @property
    def width(self) -> int:
        return len(self.residual)

    def layer_table(self) -> list[tuple[str, str, str, str, str]]:
        """The layer table as text, one row per block: the layer, "head" or "mlp", the s-op,
        what it reads and what it writes (the CLI's report and the notebook show it)."""
        return [
            (str(number), kind, block.node, ", ".join(block.reads), ", ".join(block.writes))
            for number, layer in enumerate(self.layout)
            for kind, blocks in (("head", layer.heads), ("mlp", layer.mlps))
            for block in blocks
        ]

    def sizes(self) -> list[SopSize]:
        """Per s-op, what its blocks cost (`SopSize`), the costliest first: why a model is as
        big as it is (`rasp compile --sizes`).  Blocks of files that did not record their
        s-op count under their own names."""
        dims: Counter[str] = Counter()
        heads: Counter[str] = Counter()
        units: Counter[str] = Counter()
        for layer in self.layout:
            for block in (*layer.heads, *layer.mlps):
                dims[block.sop or block.node] += len(block.writes)
                units[block.sop or block.node] += block.units  # 0 for a head
            heads.update(block.sop or block.node for block in layer.heads)
        per_unit = 2 * self.width + 1
        rows = [SopSize(sop, dims[sop], heads[sop], units[sop], units[sop] * per_unit) for sop in dims]
        return sorted(rows, key=lambda row: (-row.mlp_params, -row.dims, -row.heads, row.sop))

    def index_of(self, kind: DimKind) -> int:
        """The residual index of the one dimension of `kind` ("one", "bos", "indices")."""
        for index, dim in enumerate(self.residual):
            if dim.kind == kind:
                return index
        raise ModelError(f"the model has no residual dimension of kind {kind!r}")
