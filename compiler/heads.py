"""Attention heads: the lowering of `length`, `aggregate` and `selector_width`.

Selectors become bilinear scores (`compiler.scores`).  An aggregate is one head that averages
its input's numerical form (a numerical aggregate) or its one-hot (a categorical one, whose
output dimensions are checked for mixtures).  A selector width is a head whose BOS key scores
like a selected key, so that the BOS gets weight 1/(w+1), plus an MLP that decodes w.
`length` is a head that averages positions (the mean of 0..n is n/2) and needs no MLP; in
causal mode it is `indices + 1` and needs nothing.
"""

from __future__ import annotations

import math

import numpy as np

from compiled_model.transformer import MIXTURE_THRESHOLD
from compiler.blocks import INDICES, ONE, Dim, Functional, HeadBlock, HeadPrecision, Mixture, combine, frozen
from compiler.encodings import Encodings
from compiler.errors import fail
from compiler.idioms import Idioms
from compiler.kind_checks import KindChecks
from compiler.length_free import LengthFree
from compiler.margins import (
    AGGREGATE_TOLERANCE,
    MAX_SCALE,
    hard_scale,
    hard_separable,
    hard_value_ok,
    integers_exact,
    scale_for,
    width_tolerance,
)
from compiler.reps import HeadSource, Rep, categorical, numerical
from compiler.scores import Score, ScoreBuilder
from compiler.valuesets import ValueSets, numeric_aggregate, same_selector, selects_at_most_one, value_order
from rasp import ir
from rasp.values import all_numbers, is_number

#: The BOS value of a several-keys check (`Heads._several_keys_check`): its output is 2.4 for
#: no key, 1.2 for one and at most 0.8 for two or more, so the mixture test (a value below
#: MIXTURE_THRESHOLD = 0.99) flags exactly the rows that select several keys.
SEVERAL_KEYS = 2.4
#: How far that output may be off: under the distance from 1.2 and from 0.8 to the threshold.
SEVERAL_KEYS_TOLERANCE = 0.15


class Heads:
    def __init__(self, encodings: Encodings, scores: ScoreBuilder, length_free: LengthFree):
        self.enc = encodings
        self.length_free = length_free
        self.ledger = encodings.ledger
        self.scores = scores
        self.n = self.ledger.n
        self.idioms = Idioms(encodings, self.head)
        self.kinds = KindChecks(encodings, scores, self.head)
        self._several_checked: list[ir.Selector] = []  # one several-keys check serves a selector's aggregates
        self.squared = _compared_by_equality(self.ledger.sets)

    def head(
        self,
        node: ir.SOp,
        score: Score,
        bos_score: float,
        values: list[Functional],
        bos_values: list[float],
        writes: list[Dim],
        scale: float,
        value_bound: float = 1.0,
        tolerance: float = 1.0,
        gap: float | None = None,
    ) -> int:
        """Adds the head of `node` and returns its index.  Its precision record keeps what
        assembly needs to judge float rounding (the logit scale may still be raised by
        `Encodings.tighten`; a hard head's scale is `margins.hard_scale` of its gap, which is by
        default 1/2 for an aggregate's BOS score of 1/2, else 1)."""
        magnitude = score.magnitude
        if magnitude is None:
            magnitude = sum(self.ledger.bound(q) * self.ledger.bound(k) for q, k in score.terms)
        if gap is None:  # from the selected keys to the best other key
            gap = 0.5 if bos_score == 0.5 else 1.0
        if self.ledger.hard:
            self._require_hard(node, score, magnitude, gap, value_bound, tolerance)
            scale = hard_scale(gap)
        elif not math.isfinite(scale) or scale > MAX_SCALE:
            raise fail(
                node,
                f"its selector's scores may be off by {score.error:.3g} (noisy inputs), too much to "
                "separate selected keys from the others",
            )
        head = HeadBlock(
            node.label,
            tuple(frozen(q) for q, _ in score.terms),
            tuple(frozen(k) for _, k in score.terms),
            bos_score,
            scale,
            tuple(frozen(v) for v in values),
            tuple(bos_values),
            tuple(writes),
            HeadPrecision(gap, magnitude, value_bound, tolerance, score.integer),
            score.lookup if bos_score != 1.0 else None,  # a width's BOS ties with its key
        )
        return self.ledger.add_block(head, node)

    def _require_hard(
        self, node: ir.SOp, score: Score, magnitude: float, gap: float, value_bound: float, tolerance: float
    ) -> None:
        """Refuses a hard head that even float64 cannot run exactly: scores whose error (noisy
        inputs plus rounding) may reach a quarter of the gap, or a mean whose rounding may
        reach the tolerance of the head's output (see margins)."""
        exact = score.integer and score.error == 0 and integers_exact(2 * magnitude + 2, "float64")
        if not (exact or hard_separable(gap, score.error, magnitude, "float64")):
            raise fail(
                node,
                f"hard attention cannot separate its selected keys: their scores lie {gap:g} above "
                f"the others, but scores of size {magnitude:.3g} may be off by {score.error:.3g} "
                "(noisy inputs) plus their float64 rounding, and that must stay under a quarter of the gap",
            )
        if not hard_value_ok(self.n, value_bound, tolerance, "float64"):
            raise fail(
                node,
                f"hard attention's mean of up to {self.n + 1} values of size {value_bound:.3g} may be "
                f"off by more than its output tolerates ({tolerance:.3g}) in float64 rounding",
            )

    def length(self, node: ir.Length, values: frozenset) -> Rep:
        if self.ledger.causal:  # the prefix length at position i is i + 1
            return numerical(values, {INDICES: 1.0, ONE: 1.0})
        # Uniform attention over the BOS (value 0) and positions 1..n (value p) averages to n/2.
        dim = self.ledger.fresh(f"{node.label}/2", node, self.n / 2)
        uniform = Score([], exact01=True)
        scale = scale_for(self.n, self.n, 1.0, 1.0)
        self.head(node, uniform, 0.0, [{INDICES: 1.0, ONE: 1.0}], [0.0], [dim], scale)
        return numerical(values, {dim: 2.0}, exact=False)

    def aggregate(self, node: ir.Aggregate, values: frozenset | None) -> Rep:
        self.kinds.selector(node.selector)
        keyed = self.length_free.keyed(node, values)
        if keyed is not None:
            return keyed
        counted = self._count_through_position(node)
        if counted is not None:
            return numerical(values, self.enc.number(counted), exact=False, inherits=((1.0, counted),))
        looked_up = self.idioms.lookup(node, values)
        if looked_up is not None:
            return looked_up
        score, bos_score = self.idioms.latest(node) or (self.scores.score(node.selector, node), 0.5)
        sop_values = self.ledger.sets.known(node.sop)
        if numeric_aggregate(node, sop_values):
            magnitude = float(np.max(np.abs(np.fromiter((*sop_values, node.default), float))))
            dim = self.ledger.fresh(node.label, node, magnitude)
            value = self.enc.number(node.sop)
            gap = _min_gap(values) if values is not None else 1.0 / self.n**2
            tolerance = AGGREGATE_TOLERANCE * min(gap, 1.0)
            scale = scale_for(self.n, magnitude, tolerance, 0.5, score.error)
            # rounding may take what the consumers leave: a quarter of the gap (see margins)
            head = self.head(
                node, score, bos_score, [value], [float(node.default)], [dim], scale, magnitude, min(gap, 1.0) / 4, 0.5
            )
            inner = self.enc.rep(node.sop)
            coefficient = magnitude if inner.indicators is not None else 1.0
            return numerical(
                values,
                {dim: 1.0},
                exact=False,
                source=HeadSource(head, magnitude, 0.5, score.error),
                inherits=((coefficient, node.sop),),
            )
        if score.constant and self.n > 1:
            raise fail(
                node,
                "it averages non-numbers: its selector selects every position, so with two or more "
                "tokens the mean of several values is needed",
            )
        outputs = value_order(values)
        source = self.enc.indicators(node.sop)
        features = [source.get(v, {}) for v in outputs]
        dims = [self.ledger.fresh(node.label, node, 1.0, (v,)) for v in outputs]
        bos_values = [float(v == node.default and type(v) is type(node.default)) for v in outputs]
        if sum(bos_values) != 1:  # default equal (==) to a value of another type: use that slot
            bos_values = [float(v == node.default) for v in outputs]
        scale = scale_for(self.n, 1.0, AGGREGATE_TOLERANCE, 0.5, score.error)
        head = self.head(node, score, bos_score, features, bos_values, dims, scale, 1.0, 1 - MIXTURE_THRESHOLD, 0.5)
        self.ledger.mixtures.append(Mixture(node.label, tuple(dims)))
        # the interpreter averages numbers only (bools alone are none): a row that selects
        # several keys of any other values is refused, however alike they are
        if not all_numbers(sop_values) and not selects_at_most_one(node.selector, self.ledger.causal):
            self._several_keys_check(node, score)
        return categorical(
            values,
            {v: {dim: 1.0} for v, dim in zip(outputs, dims)},
            exact=False,
            source=HeadSource(head, 1.0, 0.5, score.error),
            inherits=((1.0, node.sop),),
        )

    def _several_keys_check(self, node: ir.Aggregate, score: Score) -> None:
        """A second head on the aggregate's selector, whose BOS scores like a selected key and
        carries SEVERAL_KEYS while the keys carry 0: its output is SEVERAL_KEYS / (w + 1) for w
        selected keys.  The interpreter refuses a row that averages two or more non-numbers
        even when they are equal (`aa` averaged is no `a`), where the one-hot mean is a clean
        value; this output, checked like a mixture, is what tells the two apart."""
        if any(same_selector(node.selector, checked) for checked in self._several_checked):
            return
        self._several_checked.append(node.selector)
        dim = self.ledger.fresh(f"{node.label}/keys", node, SEVERAL_KEYS)
        scale = scale_for(self.n, SEVERAL_KEYS, SEVERAL_KEYS_TOLERANCE, 1.0, score.error)
        self.head(node, score, 1.0, [{}], [SEVERAL_KEYS], [dim], scale, SEVERAL_KEYS, SEVERAL_KEYS_TOLERANCE)
        self.ledger.mixtures.append(Mixture(node.label, (dim,), "several"))

    def _count_through_position(self, node: ir.Aggregate) -> ir.SOp | None:
        """`aggregate(s or select(indices, 0, ==), x)` where x is v at position 0 and 0
        elsewhere (the RASP paper's selector width through a BOS) is v / (1 + the width of
        `s and not select(indices, 0, ==)`): every query selects position 0, which every input
        has, so the mean is v over the number of selected keys.  A selector width has an exact
        head, where an `or` of a query-dependent selector would need a joint s-op of its keys."""
        by_position = self.ledger.sets.positional.get(node.sop)
        selector = node.selector
        if by_position is None or not isinstance(selector, ir.SelectorOr):
            return None
        nonzero = [(p, values) for p, values in enumerate(by_position) if values != {0}]
        # position 0 is the only one every input has: a later key may be missing, and then
        # the mean is over s alone
        if len(nonzero) != 1 or nonzero[0][0] != 0 or len(nonzero[0][1]) != 1:
            return None
        (position, (value,)) = nonzero[0]
        for at, rest in ((selector.left, selector.right), (selector.right, selector.left)):
            if (
                isinstance(at, ir.Select)
                and at.op == "=="
                and isinstance(at.keys, ir.Indices)
                and isinstance(at.queries, ir.Full)
                and at.queries.value == position
                and is_number(value)
            ):
                width = ir.SelectorWidth(ir.SelectorAnd(rest, ir.SelectorNot(at)))
                mean = ir.Map(fn=lambda w, v=value: v * 1.0 / (1 + w), inner=width, description=f"{value}/(1+w)")
                self.ledger.analyse(mean)
                return mean
        return None

    def selector_width(self, node: ir.SelectorWidth, values: frozenset) -> Rep:
        """BOS and the selected keys score alike, so the BOS gets weight 1/(w+1); an MLP
        turns 1/(w+1) back into w.  A selector split into disjoint pieces (see
        ScoreBuilder.split) gets one head and one decoder per piece; the widths add up."""
        self.kinds.selector(node.selector)
        counted = self.length_free.count(node, values)
        if counted is not None:
            return counted
        pieces = self.scores.split(node.selector, node) or [self.scores.score(node.selector, node)]
        widths = np.arange(self.n + 1)
        points = 1.0 / (widths[::-1] + 1.0)
        # the decoder needs the BOS weight to within a quarter of the smallest gap 1/(n(n+1))
        tolerance = width_tolerance(self.n)
        total: list[tuple[float, Functional]] = []
        for piece in pieces:
            raw = self.ledger.fresh(f"{node.label}/bos", node, 1.0)
            scale = scale_for(self.n, 1.0, tolerance / 2, 1.0, piece.error)
            # its BOS weight's rounding error is relative: the score margin of 1/(2n) covers it
            head = self.head(node, piece, 1.0, [{}], [1.0], [raw], scale, 1.0, 1 / (2 * self.n))
            weight = numerical(frozenset(), {raw: 1.0}, exact=False, source=HeadSource(head, 1.0, 1.0, piece.error))
            if len(pieces) == 1 and node in self.squared:
                return self._width_and_square(node, values, weight, points, widths[::-1])
            total.append((1.0, self.enc.mlp.lookup(node.label, node, weight, points, widths[::-1].tolist())[None]))
        return numerical(values, combine(*total), exact=False)

    def _width_and_square(
        self, node: ir.SOp, values: frozenset, weight: Rep, points: np.ndarray, widths: np.ndarray
    ) -> Rep:
        """A width that an equality score compares: its decoder's units, which step at every
        width, also give its square; the output is snapped onto the integers."""
        lookup = self.enc.mlp.build(node, weight, points, np.stack([widths, widths**2], axis=1).astype(float))
        columns = self.enc.mlp.add(node.label, node, lookup, ["w", "square"], [node.label, f"{node.label}^2"])
        number = columns["w"]
        return numerical(values, number, square=columns["square"], exact=False, snapped=number)


def _compared_by_equality(sets: ValueSets) -> set[ir.Node]:
    """The s-ops on either side of an `==` select, and the inputs of the affine maps among them
    (annotated `x + c`, `x - c`, ...): those a numerical equality score may need squared."""
    compared: set[ir.Node] = set()
    for node in list(sets.values):
        if isinstance(node, (ir.Aggregate, ir.SelectorWidth)):
            for leaf in ir.walk(node.selector):
                if isinstance(leaf, ir.Select) and leaf.op == "==":
                    compared.update((leaf.keys, leaf.queries))
    for node in list(compared):
        while isinstance(node, ir.Map) and node.affine is not None:
            node = node.inner
            compared.add(node)
    return compared


def _min_gap(values: frozenset) -> float:
    gaps = np.diff(np.sort(np.fromiter(values, float, count=len(values))))
    return float(gaps.min()) if len(gaps) else 1.0
