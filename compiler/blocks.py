"""The vocabulary of lowering: typed residual dimensions, linear functionals over them, the two
kinds of block (attention head, MLP) that read and write them, and the lowered program.

A *functional* is a sparse linear map from the residual stream to a number, written as
`{dimension: coefficient}`.  Every s-op is represented by functionals: a numerical s-op by one
(`length - indices - 1` is `{length/2: 2, indices: -1, one: -1}`), a categorical one by one
functional per value, its indicator.  Affine maps, linear sequence maps and maps of categorical
s-ops only combine functionals, so they cost no block at all.

Two dimensions are always present: `one` is 1 at every position, `bos` is 1 at the
beginning-of-sequence position only.  Constants are multiples of `one`.

Everything here is immutable: a block, once made, is the block the model gets (lowering makes
a head's logit scale final with `dataclasses.replace` when it finishes).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from compiled_model.spec import SOFTMAX, Attention
from rasp import ir

DimKind = Literal["one", "bos", "token", "indices", "indices^2", "index", "written"]


@dataclass(frozen=True)
class Dim:
    """One residual dimension.  `kind` says what fills it: the constants `one` and `bos`, a
    token's one-hot (`value`: the token's text), the position features `indices` and
    `indices^2`, a position's one-hot (`value`: the position) or a block (`value`: its unique
    name; `writer`: the s-op whose block writes it; `family`: the name it was made under, the
    s-op's label or a scratch name such as `x/raw`; `indicates`: (v,) for the indicator of the
    family's value v, () for a number).  `str(dim)` is the label the model's spec shows: `one`,
    `bos`, `tokens:a`, `indices`, `indices^2`, `indices=3`, `sort:'a'`."""

    kind: DimKind
    value: Any = None
    writer: ir.Node | None = field(default=None, compare=False)
    family: str | None = field(default=None, compare=False)
    indicates: tuple[Any, ...] = field(default=(), compare=False)

    def __str__(self) -> str:
        if self.kind == "token":
            return f"tokens:{self.value}"
        if self.kind == "index":
            return f"indices={self.value}"
        if self.kind == "written":
            return str(self.value)
        return self.kind


ONE = Dim("one")
BOS = Dim("bos")
INDICES = Dim("indices")
INDICES_SQUARED = Dim("indices^2")


def token_dim(token: Any) -> Dim:
    """The one-hot dimension of a vocabulary token (tokens are distinct as text)."""
    return Dim("token", str(token))


def index_dim(index: int) -> Dim:
    """The one-hot dimension of a position (made only when an order comparison needs it)."""
    return Dim("index", index)


Functional = Mapping[Dim, float]


def combine(*terms: tuple[float, Functional]) -> dict[Dim, float]:
    """sum(coefficient * functional), dropping zero coefficients."""
    result: dict[Dim, float] = {}
    for coefficient, functional in terms:
        if coefficient == 0:
            continue
        for label, value in functional.items():
            result[label] = result.get(label, 0.0) + coefficient * value
    return {label: value for label, value in result.items() if value != 0}


def constant(value: float) -> dict[Dim, float]:
    return {ONE: float(value)} if value else {}


def frozen(functional: Functional) -> Functional:
    """A read-only copy, for the functionals that blocks and encodings hand over."""
    return MappingProxyType(dict(functional))


def support(functionals: Iterable[Functional]) -> set[Dim]:
    """Every dimension some functional reads."""
    return {label for functional in functionals for label in functional}


@dataclass(frozen=True)
class Unit:
    """One MLP hidden unit: relu(pre) is added to the residual with weights `out`."""

    pre: Functional
    out: Functional


@dataclass(frozen=True)
class MLPBlock:
    """Hidden units that read the residual through functionals and write `writes`.

    `tolerance` is how far (in input units) an input may stray from a point of its value set
    with the output still exact; `max_preactivation` bounds |pre| over the value sets (its
    float32 rounding error must stay far below 1).  An `integer` block reads integers through
    integer weights, so it computes without rounding while every sum stays inside the float's
    range of exact integers (`margins.integers_exact`): `largest_integer` bounds every
    pre-activation and every partial sum of its output (over units, |pre| times |weight|)."""

    label: str
    units: tuple[Unit, ...]
    writes: tuple[Dim, ...]
    tolerance: float = float("inf")
    max_preactivation: float = 0.0
    integer: bool = False
    largest_integer: float = 0.0

    @property
    def reads(self) -> set[Dim]:
        return support(unit.pre for unit in self.units) - {ONE}


@dataclass(frozen=True)
class HeadPrecision:
    """What assembly needs to judge a head's float rounding: the score gap between the selected
    keys and the BOS (`bos_gap`), a bound of the largest score (`magnitude`), the values'
    bound and the error the head's output tolerates."""

    bos_gap: float
    magnitude: float
    value_bound: float
    tolerance: float
    integer_scores: bool = False  # scores are integers or halves of one: exact while they fit
    int64: bool = False  # the model scores it in int64 (compiled_model.arithmetic.moded_weights)


@dataclass(frozen=True)
class PositionLookup:
    """A head that selects one key by its position, as the fast decoder needs to know it: at
    a query whose stream x gives q = round(target(x)), the key at token index q when 0 <= q <=
    the query's own index; otherwise the BOS key (`outside` "bos": a quadratic equality score)
    or the key at the index clamped into [0, own index] ("clamp": a nearest-match score)."""

    target: Functional
    outside: Literal["bos", "clamp"]


HeadMode = Literal["average", "sum", "latest"]


@dataclass(frozen=True)
class KeyedMatch:
    """A latest head that matches keys by an integer, as the fast passes need to know it: the
    latest key j whose `writer` is 1 and whose `key` equals the query's `target`, or the BOS
    (compiled_model.spec.HeadDescriptor "keyed")."""

    target: Functional
    key: Functional
    writer: Functional


@dataclass(frozen=True)
class HeadBlock:
    """An attention head.

    The score of query i for key j is sum_t query[t](x_i) * key[t](x_j): exactly 1 when j is
    selected, at most 0 when not.  The beginning-of-sequence key scores `bos_score` (1/2 for an
    aggregate: below any selected key, above any unselected one; 1 for a selector width).  The
    logits are the scores times `scale`.  values[t] is the t-th value feature, whose value at
    the BOS key is bos_values[t]; feature t is written to residual dimension writes[t].
    `lookup` says which key a head that selects by position takes (None for other heads).
    `mode` "sum" weights each chosen key 1 and "latest" only the last one
    (compiled_model.arithmetic.moded_weights); `bos_query`, when set, is added to the BOS
    key's score as a function of the query (a score the BOS must beat by a margin that
    depends on the query); `keyed` describes a latest head for the fast passes."""

    label: str
    query: tuple[Functional, ...]
    key: tuple[Functional, ...]
    bos_score: float
    scale: float
    values: tuple[Functional, ...]
    bos_values: tuple[float, ...]
    writes: tuple[Dim, ...]
    precision: HeadPrecision
    lookup: PositionLookup | None = None
    mode: HeadMode = "average"
    bos_query: Functional | None = None
    keyed: KeyedMatch | None = None

    @property
    def reads(self) -> set[Dim]:
        extra = [] if self.bos_query is None else [self.bos_query]
        return support([*self.query, *self.key, *self.values, *extra]) - {ONE}

    @property
    def moded(self) -> bool:
        """Whether the model needs head modes for it (a sum, a latest head, int64 scores)."""
        return self.mode != "average" or self.precision.int64


Block = HeadBlock | MLPBlock


@dataclass(frozen=True)
class Mixture:
    """Dimensions of which one reaches compiled_model.transformer.MIXTURE_THRESHOLD wherever
    the model has a value, and why (`reason`, a key of compiled_model.spec.REFUSALS): a
    categorical aggregate's output, its several-keys detector, a map's defined flag."""

    node: str
    dims: tuple[Dim, ...]
    reason: str = "mixture"


@dataclass(frozen=True)
class LoweredProgram:
    """What lowering hands over: the blocks in the order they were made (an order in which
    every block comes after the blocks writing what it reads), how to read the output (`kind`
    'categorical', 'numerical' or 'fraction'; `values`; one functional per output column),
    the categorical aggregates to check for mixtures, and the settings it was lowered for
(`attention`: softmax or hard heads, see margins)."""

    blocks: tuple[Block, ...]
    kind: str
    values: tuple[Any, ...]
    output: tuple[Functional, ...]
    mixtures: tuple[Mixture, ...]
    vocab: tuple[Any, ...]
    max_seq_len: int
    causal: bool
    budget: int
    attention: Attention = SOFTMAX
