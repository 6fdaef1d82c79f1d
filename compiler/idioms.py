"""Hard-attention lowerings of two RASP idioms whose size does not grow with max_seq_len.

- **Latest match** (causal only).  With `c = selector_width(select(F, True, ==))`, the
  selector `select(c, c, ==) and select(F, True, ==)` (either order, the same F in both)
  selects, at query i, the latest key j <= i where F holds, or none: c_i counts the keys
  j <= i passing F, so among passing keys only the latest has the query's count.  One head
  scores key j as n * F_j + j with a query that reads only `one`: the passing keys score n and
  up, the others at most n - 1, the BOS n - 1/2 between them, so the head takes the latest
  passing key, or the BOS (the default) when none passed.  The count c needs no head of its
  own, and no MLP decoding a width, unless something else reads it.
- **Position lookup** `select(indices, Q, ==)` with an integer Q whose square is not cheap (an
  MLP would have to tabulate Q^2 over its value set, which grows with n).  The head scores key
  j as 2 j Q - j^2 = Q^2 - (j - Q)^2, which peaks at the key nearest Q: Q itself when
  0 <= Q <= i, else key 0 or key i (the nearest match; neighbours score at least 1 lower, the
  BOS -1/2 lies below key 0's score of 0).  The head also carries the chosen key's position
  j*, and an MLP of integer weights gates the value: the aggregate is the value when
  j* - Q = 0 and the default otherwise (`gate`).

Both heads have integer (or half-integer) scores: exact, not approximately so, while scores
of size ~2n (latest) or ~4n^2 (lookup) stay inside the float's exact integers, which the
precision record checks (float64 to n ~ 2^24, float32 to about n ~ 2^10 for lookups).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from compiler.blocks import (
    INDICES,
    INDICES_SQUARED,
    ONE,
    Dim,
    Functional,
    Mixture,
    MLPBlock,
    PositionLookup,
    Unit,
    combine,
    frozen,
)
from compiler.encodings import Encodings
from compiler.reps import Rep, categorical, numerical
from compiler.scores import Score
from compiler.valuesets import numeric_aggregate, same_selector, value_order
from rasp import ir
from rasp.values import all_integers, all_numbers

#: Heads.head: adds a head block and returns its index (passed in, not imported: heads uses this module).
AddHead = Callable[..., int]


def latest_filter(selector: ir.Selector, causal: bool) -> ir.Select | None:
    """The filter `select(F, True, ==)` of a latest-match selector (see the module), else None."""
    if not causal or not isinstance(selector, ir.SelectorAnd):
        return None
    for counted, passing in ((selector.left, selector.right), (selector.right, selector.left)):
        if not (isinstance(counted, ir.Select) and counted.op == "==" and counted.keys is counted.queries):
            continue
        count = counted.keys
        if isinstance(count, ir.SelectorWidth) and _filter(count.selector) and _filter(passing):
            if same_selector(count.selector, passing):
                return passing  # type: ignore[return-value]
    return None


def _filter(selector: ir.Selector) -> bool:
    """`select(F, True, ==)`: whether a key passes depends on F at that key alone."""
    return (
        isinstance(selector, ir.Select)
        and selector.op == "=="
        and isinstance(selector.queries, ir.Full)
        and selector.queries.value is True
    )


def _passes(value: Any) -> bool:
    """The interpreter's `value == True` of a select (values of other types never match)."""
    try:
        return bool(ir.COMPARISONS["=="](value, True))
    except TypeError:
        return False


def _largest(values: frozenset, centre: float = 0.0) -> float:
    """max |v - centre| over a set of numbers (of up to a few million values: in one array pass)."""
    return float(np.max(np.abs(np.fromiter(values, float, count=len(values)) - centre)))


class Idioms:
    """The two lowerings, over the heads of one lowering (hard attention only)."""

    def __init__(self, encodings: Encodings, head: AddHead):
        self.head = head
        self.enc = encodings
        self.ledger = encodings.ledger
        self.n = encodings.n

    def latest(self, node: ir.Aggregate) -> tuple[Score, float] | None:
        """The score and BOS score of a latest-match aggregate, else None."""
        passing = latest_filter(node.selector, self.ledger.causal) if self.ledger.hard else None
        if passing is None:
            return None
        flag_of = passing.keys
        indicators = self.enc.indicators(flag_of)
        flag = combine(*[(1.0, indicators[v]) for v in value_order(indicators) if _passes(v)])
        big = float(self.n)  # above every position: passing keys score n + j, the others j < n
        key = combine((big, flag), (1.0, {INDICES: 1.0}))
        error = big * self.enc.indicator_error(flag_of)
        return Score([({ONE: 1.0}, key)], exact01=False, magnitude=2 * big, error=error, integer=True), big - 0.5

    def lookup(self, node: ir.Aggregate, values: frozenset | None) -> Rep | None:
        """The nearest-match head and gate of a position lookup whose query square is not
        cheap, else None (see the module)."""
        selector = node.selector
        if not (
            self.ledger.hard
            and isinstance(selector, ir.Select)
            and selector.op == "=="
            and isinstance(selector.keys, ir.Indices)
            and values is not None
        ):
            return None
        query = selector.queries
        query_rep = self.enc.rep(query)
        if query_rep.number is None or self.enc.cheap_square(query):
            return None
        query_values = self.ledger.sets.known(query)
        if not (all_numbers(query_values) and all_integers(query_values)):
            return None
        target = self.enc.clean_number(query)
        reach = _largest(query_values)
        last = float(self.n - 1)
        score = Score(
            [(combine((2.0, target)), {INDICES: 1.0}), ({ONE: 1.0}, {INDICES_SQUARED: -1.0})],
            exact01=False,
            magnitude=2 * reach * last + last * last,
            error=2 * last * self.enc.error(query_rep),
            lookup=PositionLookup(frozen(target), "clamp"),
            integer=True,
        )
        at = self.ledger.fresh(f"{node.label}/at", node, last)
        sop_values = self.ledger.sets.known(node.sop)
        if numeric_aggregate(node, sop_values):
            return self._numeric(node, values, score, at, target, sop_values)
        return self._categorical(node, values, score, at, target)

    def _numeric(
        self, node: ir.Aggregate, values: frozenset, score: Score, at: Dim, target: Functional, sop_values: frozenset
    ) -> Rep:
        default = float(node.default)
        spread = _largest(sop_values, default)
        raw = self.ledger.fresh(f"{node.label}/raw", node, spread + abs(default))
        value = self.enc.number(node.sop)
        bound = max(self.n, spread + abs(default))
        self.head(
            node, score, -0.5, [value, {INDICES: 1.0}], [default, 0.0], [raw, at], 1.0, bound, 0.25, gap=0.5
        )
        out = self.ledger.fresh(node.label, node, spread + abs(default))
        # z = value - default + spread lies in [0, 2 spread]; the gate passes z when j* = Q
        z = combine((1.0, {raw: 1.0}), (spread - default, {ONE: 1.0}))
        mismatch = combine((1.0, {at: 1.0}), (-1.0, target))
        integer = all_integers((*sop_values, default))
        self.gate(node, mismatch, {out: z}, {out: 2 * spread}, {out: -spread}, {}, integer)
        return numerical(values, {out: 1.0, ONE: default}, exact=False)

    def _categorical(self, node: ir.Aggregate, values: frozenset, score: Score, at: Dim, target: Functional) -> Rep:
        indicators = self.enc.indicators(node.sop)
        outputs = value_order(values)
        raws = {v: self.ledger.fresh(f"{node.label}/raw", node, 1.0, (v,)) for v in outputs if v in indicators}
        features = [indicators[v] for v in raws]
        bos_values = [0.0] * len(raws)
        self.head(
            node, score, -0.5, [*features, {INDICES: 1.0}], [*bos_values, 0.0], [*raws.values(), at], 1.0,
            float(self.n), 0.25, gap=0.5,
        )
        dims = {v: self.ledger.fresh(node.label, node, 1.0, (v,)) for v in outputs}
        mismatch = combine((1.0, {at: 1.0}), (-1.0, target))
        passed = {dims[v]: {raw: 1.0} for v, raw in raws.items()}
        same = [v for v in outputs if v == node.default]
        default = next((v for v in same if type(v) is type(node.default)), same[0])
        reach = {dim: 1.0 for dim in passed}
        self.gate(node, mismatch, passed, reach, {dims[default]: -1.0}, {dims[default]: 1.0}, True)
        self.ledger.mixtures.append(Mixture(node.label, tuple(dims.values())))
        return categorical(values, {v: {dim: 1.0} for v, dim in dims.items()}, exact=False)

    def gate(
        self,
        node: ir.Aggregate,
        mismatch: Functional,
        passed: dict[Dim, Functional],
        reach: dict[Dim, float],
        matched: dict[Dim, float],
        constant: dict[Dim, float],
        integer: bool,
    ) -> None:
        """An MLP block that writes, for an integer `mismatch` d, to each dimension o the value
        of passed[o] (in [0, reach[o]]) when d = 0 and 0 otherwise, plus matched[o] * [d = 0]
        plus constant[o]:

            [d = 0] z = relu(z - K d) + relu(z + K d) - K relu(d) - K relu(-d) - relu(z)  (K >= z)
            [d = 0]   = relu(d + 1) - 2 relu(d) + relu(d - 1)

        (for d >= 1 the first ramp is off and the second cancels K d + z; likewise for d <= -1).
        Seven units for one output, three per output plus four shared for several."""
        units: list[Unit] = []
        for out, z in passed.items():
            k = reach[out]
            units += [
                Unit(frozen(combine((1.0, z), (-k, mismatch))), frozen({out: 1.0})),
                Unit(frozen(combine((1.0, z), (k, mismatch))), frozen({out: 1.0})),
                Unit(frozen(z), frozen({out: -1.0})),
            ]
        ramp = {out: -reach[out] for out in passed}
        units += [
            Unit(frozen(mismatch), frozen(combine((1.0, ramp), *[(-2.0, {o: m}) for o, m in matched.items()]))),
            Unit(frozen(combine((-1.0, mismatch))), frozen(ramp)),
            Unit(frozen(combine((1.0, mismatch), (1.0, {ONE: 1.0}))), frozen(matched)),
            Unit(frozen(combine((1.0, mismatch), (-1.0, {ONE: 1.0}))), frozen(matched)),
            Unit(frozen({ONE: 1.0}), frozen(constant)),
        ]
        units = [unit for unit in units if unit.out]
        bounds = [self.ledger.bound(unit.pre) for unit in units]
        largest = max(bounds, default=0.0)
        # the output sums: a ramp of size ~K d meets a weight of 1, a weight K meets a ramp of size d
        sums = sum(bound * max(abs(w) for w in unit.out.values()) for bound, unit in zip(bounds, units))
        writes = tuple(dict.fromkeys([*passed, *matched]))
        block = MLPBlock(node.label, tuple(units), writes, 0.25, largest, integer, max(largest, sums))
        self.ledger.add_block(block, node)
