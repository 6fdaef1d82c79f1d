"""The vocabulary of lowering: linear functionals over named residual dimensions, and the two
kinds of block (attention head, MLP) that read and write them.

A *functional* is a sparse linear map from the residual stream to a number, written as
`{dimension label: coefficient}`.  Every s-op is represented by functionals: a numerical s-op by
one (`length - indices - 1` is `{"length": 1, "indices": -1, "one": -1}`), a categorical one by
one functional per value, its indicator.  Affine maps, linear sequence maps and maps of
categorical s-ops only combine functionals, so they cost no block at all.

Two dimensions are always present: `one` is 1 at every position, `bos` is 1 at the
beginning-of-sequence position only.  Constants are multiples of `one`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

ONE = "one"
BOS = "bos"

Functional = dict[str, float]


def combine(*terms: tuple[float, Functional]) -> Functional:
    """sum(coefficient * functional), dropping zero coefficients."""
    result: Functional = {}
    for coefficient, functional in terms:
        if coefficient == 0:
            continue
        for label, value in functional.items():
            result[label] = result.get(label, 0.0) + coefficient * value
    return {label: value for label, value in result.items() if value != 0}


def constant(value: float) -> Functional:
    return {ONE: float(value)} if value else {}


def support(functionals: Iterable[Functional]) -> set[str]:
    """Every dimension some functional reads."""
    return {label for functional in functionals for label in functional}


@dataclass
class Unit:
    """One MLP hidden unit: relu(pre) is added to the residual with weights `out`."""

    pre: Functional
    out: dict[str, float]


@dataclass
class MLPBlock:
    """Hidden units that read the residual through functionals and write `writes`.

    `tolerance` is how far (in input units) an input may stray from a point of its value set
    with the output still exact; `max_preactivation` bounds |pre| over the value sets (its
    float32 rounding error must stay far below 1)."""

    label: str
    units: list[Unit]
    writes: list[str]
    tolerance: float = float("inf")
    max_preactivation: float = 0.0

    @property
    def reads(self) -> set[str]:
        return support(unit.pre for unit in self.units) - {ONE}


@dataclass
class HeadBlock:
    """An attention head.

    The score of query i for key j is sum_t query[t](x_i) * key[t](x_j): exactly 1 when j is
    selected, at most 0 when not.  The beginning-of-sequence key scores `bos_score` (1/2 for an
    aggregate: below any selected key, above any unselected one; 1 for a selector width).  The
    logits are the scores times `scale`.  values[t] is the t-th value feature, whose value at
    the BOS key is bos_values[t]; feature t is written to residual dimension writes[t]."""

    label: str
    query: list[Functional]
    key: list[Functional]
    bos_score: float
    scale: float
    values: list[Functional]
    bos_values: list[float]
    writes: list[str]
    precision: dict[str, float] = field(default_factory=dict)

    @property
    def reads(self) -> set[str]:
        return support([*self.query, *self.key, *self.values]) - {ONE}


Block = HeadBlock | MLPBlock
