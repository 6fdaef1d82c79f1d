"""Lowerings whose size does not depend on max_seq_len, for a length-free compile
(`compiler.compile(..., length_free=True)`: hard attention, causal).

There, positions, counts and their integer combinations have Intervals for value sets
(`compiler.valuesets.Interval`), and nothing may tabulate them.  These constructions replace
the ones that would:

- **Counts as sum heads.**  `selector_width(select(F, c, op))`, a key filter, is the sum over
  the keys at or before the query (the BOS's value 0) of the indicator that F passes: one head
  in mode "sum" (compiled_model.arithmetic.moded_weights), whose output is the exact integer,
  where the standard lowering decodes a BOS weight 1/(w+1) with an MLP of n units.
- **Choices by gates.**  `a if c else b` over numbers is c a + (1 - c) b: per branch two ReLU
  units, relu(v - B (1 - g)) - relu(-v - B (1 - g)), which give v where the gate g is 1 and 0
  where it is 0, for |v| <= B; over categorical values, one unit per value of each branch.
- **Comparisons with a constant.**  `x op c` for an integer x: ramps relu(x - t + 1) -
  relu(x - t), exactly [x >= t] for integers.
- **Squares by prefix sums.**  x = sum of the increments d_j at or before i (a combination of
  counts, d a function of the token) has x_i^2 = sum_j d_j (2 x_j - d_j): a gated product per
  value of d, then a sum head.  (x + e)^2 for a function e of the token adds 2 e x (gated per
  value of e) and e^2 (a function of the token).  A choice squares branch by branch, a position
  by its embedding.
- **The keyed latest match** (`compiler.valuesets.keyed_latest`): the latest passing key whose
  integer K equals the query's Q.  One head in mode "latest" scores a passing key 2QK - K^2
  = Q^2 - (K - Q)^2, at most Q^2 and equal to it exactly where K = Q; a key that does not
  pass scores 2QK - K^2 - 1 <= Q^2 - 1, and the BOS Q^2 - 1/2 (from the square of Q,
  `bos_query`): the latest key of the best score is the match, or the BOS (the default) when
  there is none.  Its scores reach ~3n^2, past float64's exact integers at n = 2^26, so the
  model scores it in int64; its descriptor lets the fast passes keep a table from K to
  the latest value (compiled_model.spec.HeadDescriptor "keyed").

Every value here is an integer computed by integer weights, exact while it stays below 2^53
(checked, with the figures, or refused naming the s-op).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from compiler.blocks import (
    ONE,
    Dim,
    Functional,
    HeadBlock,
    HeadPrecision,
    KeyedMatch,
    MLPBlock,
    Unit,
    combine,
    frozen,
    token_dim,
)
from compiler.encodings import Encodings
from compiler.errors import fail
from compiler.margins import integers_exact
from compiler.reps import Rep, categorical, numerical
from compiler.valuesets import Interval, keyed_latest, value_order
from rasp import ir
from rasp.values import all_integers, all_numbers, is_number

#: Exact integers of float64, which every value here must stay below.
EXACT = 2.0**53


@dataclass(frozen=True)
class Increments:
    """What a prefix sum adds at a position: a function of the token (`per_token`, (token,
    value) pairs), or c times the indicator of one flag that is not (`flag`: (c, the flag's
    indicator functional as (dimension, coefficient) pairs))."""

    per_token: tuple[tuple[Any, float], ...] | None = None
    flag: tuple[float, tuple[tuple[Dim, float], ...]] | None = None

    @property
    def zero(self) -> bool:
        return self.per_token is not None and not any(v for _, v in self.per_token)

    def scaled(self, a: float) -> Increments:
        if self.flag is not None:
            return Increments(flag=(a * self.flag[0], self.flag[1]))
        return Increments(per_token=tuple((t, a * v) for t, v in self.per_token or ()))

    def levels(self) -> list[tuple[float, Functional]]:
        """Each nonzero value d takes, with the indicator functional of taking it."""
        if self.flag is not None:
            return [(self.flag[0], dict(self.flag[1]))] if self.flag[0] else []
        values = dict(self.per_token or ())
        levels = sorted({v for v in values.values() if v})
        return [(a, _of_tokens({t: 1.0 for t, v in values.items() if v == a})) for a in levels]


def _summed(parts: list[tuple[float, Increments]]) -> Increments | None:
    """sum of c * d over the parts: per token when every part is, else the one flagged part
    when every other part adds nothing; None otherwise (its square would need products of flags)."""
    flagged = [(c, part) for c, part in parts if part.flag is not None and c]
    if not flagged:
        tokens = [t for t, _ in parts[0][1].per_token or ()]
        tables = [(c, dict(part.per_token or ())) for c, part in parts]
        return Increments(per_token=tuple((t, sum(c * table.get(t, 0.0) for c, table in tables)) for t in tokens))
    if len(flagged) == 1 and all(part.zero for c, part in parts if part.flag is None and c):
        c, part = flagged[0]
        return part.scaled(c)
    return None


class LengthFree:
    """The constructions of the module over one lowering (used only when its value sets are length-free)."""

    def __init__(self, encodings: Encodings):
        self.enc = encodings
        self.ledger = encodings.ledger
        self.n = encodings.n
        self._increments: dict[ir.Node, Increments] = {}  # what each sum-head count adds
        self._squares: dict[ir.Node, Functional] = {}
        self._prefix_squares: dict[tuple[frozenset, frozenset], Dim] = {}

    @property
    def active(self) -> bool:
        return self.ledger.sets.length_free

    # ------------------------------------------------------------------ counts

    def count(self, node: ir.SelectorWidth, values: Any) -> Rep | None:
        """A key filter's count as one sum head, or None for any other selector."""
        selector = node.selector
        if not (self.active and isinstance(selector, ir.Select) and isinstance(selector.queries, ir.Full)):
            return None
        passing = self._passing(selector)
        if (self.n + 1) >= EXACT:
            raise fail(node, f"a count of up to {self.n + 1:,} keys is past float64's exact integers")
        dim = self.ledger.fresh(node.label, node, float(self.n + 1))
        self._head(node, [], 0.0, [passing], [0.0], [dim], "sum", HeadPrecision(1.0, 1.0, 1.0, 0.25, True))
        local = self.ledger.sets.local.get(selector.keys)
        constant = selector.queries.value  # type: ignore[attr-defined]
        if local is not None and len(local) == len(self.ledger.vocab):
            per_token = tuple((t, float(_passes(selector.op, local[t], constant))) for t in self.ledger.vocab)
            self._increments[node] = Increments(per_token=per_token)
        elif self.enc.indicator_error(selector.keys) == 0.0:
            self._increments[node] = Increments(flag=(1.0, tuple(passing.items())))
        return numerical(values, {dim: 1.0}, exact=True)

    def _passing(self, selector: ir.Select) -> Functional:
        """The indicator functional of the keys a key filter passes."""
        indicators = self.enc.indicators(selector.keys)
        constant = selector.queries.value  # type: ignore[attr-defined]
        return combine(*[(1.0, indicators[v]) for v in value_order(indicators) if _passes(selector.op, v, constant)])

    # ------------------------------------------------------------------ comparisons

    def compare(self, node: ir.Map, values: Any) -> Rep | None:
        """`x op c` for an integer x whose values form an Interval: ramps at the thresholds,
        relu(x - t + 1) - relu(x - t) = [x >= t] exactly for integers x."""
        if not (self.active and node.compare is not None and isinstance(self.ledger.sets.known(node.inner), Interval)):
            return None
        rep = self.enc.rep(node.inner)
        if rep.number is None or not rep.exact:
            raise fail(node, f"it compares {node.inner.label}, which must be an exact integer in a length-free compile")
        op, c = node.compare
        x, bound = self.enc.number(node.inner), self._largest(node.inner) + abs(c) + 1
        if bound >= EXACT:
            raise fail(node, f"its comparison's ramps reach {bound:.3g}, past float64's exact integers")
        low, high = math.ceil(c), math.floor(c) + 1  # x >= c is x >= low; x > c is x >= high
        whole = float(c).is_integer()
        plan = {
            ">=": [(1.0, low)], ">": [(1.0, high)], "<": [(-1.0, low)], "<=": [(-1.0, high)],
            "==": [(1.0, low), (-1.0, low + 1)] if whole else [], "!=": [(-1.0, low), (1.0, low + 1)] if whole else [],
        }[op]
        base = {"<": 1.0, "<=": 1.0, "!=": 1.0}.get(op, 0.0)
        dim = self.ledger.fresh(f"{node.label}/steps", node, 1.0)
        units = []
        for sign, threshold in plan:
            units += [
                Unit(frozen(combine((1.0, x), (1.0 - threshold, {ONE: 1.0}))), frozen({dim: sign})),
                Unit(frozen(combine((1.0, x), (-float(threshold), {ONE: 1.0}))), frozen({dim: -sign})),
            ]
        if units:
            self.ledger.check_units(node, len(units), 1)
            self.ledger.add_block(MLPBlock(node.label, tuple(units), (dim,), 0.25, bound, True, bound), node)
        holds = combine((1.0, {dim: 1.0} if units else {}), (base, {ONE: 1.0}))
        fails = combine((1.0, {ONE: 1.0}), (-1.0, holds))
        indicators = {v: (holds if v else fails) for v in value_order(values)}
        return categorical(values, indicators, exact=True)

    # ------------------------------------------------------------------ choices

    def choice(self, node: ir.SequenceMap, values: Any) -> Rep | None:
        """`a if c else b`: over numbers whose values form an Interval, two gated branches; over
        categorical values, one unit per value of each branch (`_categorical_choice`)."""
        if not (self.active and node.choice):
            return None
        if not isinstance(values, Interval):
            return self._categorical_choice(node, values)
        condition, when_true, when_false = node.inputs
        flags = self._truth(condition)
        branches = [
            (flag, self.enc.number(branch), self._largest(branch)) for flag, branch in zip(flags, node.inputs[1:])
        ]
        for branch in (when_true, when_false):
            if not self.enc.rep(branch).exact:
                raise fail(node, f"its branch {branch.label} passed through averaging attention: a gate needs integers")
        return numerical(values, self._gates(node, node.label, branches), exact=True)

    def _categorical_choice(self, node: ir.SequenceMap, values: Any) -> Rep | None:
        """The one-hot of `a if c else b` for categorical a and b with exact one-hots: the
        indicator of a value v is [c] [a = v] + [not c] [b = v], each product one unit
        relu(g + i - 1) of two exact indicators, where a table over the three inputs takes a
        unit per combination (the universal compact program's next token: 12,542 units for
        5 states and 2 symbols, against 2 x its values here).  None for anything else."""
        condition, *branches = node.inputs
        if any(self.enc.rep(branch).numeric or self.enc.indicator_error(branch) != 0.0 for branch in branches):
            return None
        if self.enc.indicator_error(condition) != 0.0:
            return None
        flags = self._truth(condition)
        outputs = value_order(values)
        dims = {v: self.ledger.fresh(node.label, node, 1.0, (v,)) for v in outputs}
        units = []
        for flag, branch in zip(flags, branches):
            for value, indicator in self.enc.indicators(branch).items():
                target = next((dims[v] for v in outputs if v == value and type(v) is type(value)), dims.get(value))
                if target is None:
                    continue  # a value the interpreter never gives here (the value sets say so)
                pre = combine((1.0, flag), (1.0, indicator), (-1.0, {ONE: 1.0}))
                units.append(Unit(frozen(pre), frozen({target: 1.0})))
        self.ledger.check_units(node, len(units), len(dims))
        self.ledger.add_block(MLPBlock(node.label, tuple(units), tuple(dims.values()), 0.25, 2.0, True, 2.0), node)
        return categorical(values, {v: {dim: 1.0} for v, dim in dims.items()}, exact=True)

    def _truth(self, condition: ir.SOp) -> tuple[Functional, Functional]:
        """Where a condition holds and where it does not (Python's truth of its values)."""
        indicators = self.enc.indicators(condition)
        if not self.enc.rep(condition).exact:
            raise fail(condition, "a gate needs an exact condition, and this one passed through averaging attention")
        order = value_order(indicators)
        return (
            combine(*[(1.0, indicators[v]) for v in order if v]),
            combine(*[(1.0, indicators[v]) for v in order if not v]),
        )

    def _gates(self, node: ir.Node, label: str, branches: list[tuple[Functional, Functional, float]]) -> Functional:
        """sum of g v over (g, v, bound of |v|): a constant v costs nothing (g times it), any
        other two units writing one new dimension.  At g = 0 the units' inputs reach -2B and
        may round, but a rounded negative input stays negative, so the ReLU gives 0 exactly;
        at g = 1 they read v itself, exact below 2^53."""
        free: list[tuple[float, Functional]] = []
        gated = []
        for gate, value, bound in branches:
            if set(value) <= {ONE}:
                free.append((value.get(ONE, 0.0), gate))
            else:
                gated.append((gate, value, bound))
        if not gated:
            return combine(*free)
        largest = max(bound for _, _, bound in gated)
        if largest >= EXACT:
            raise fail(node, f"a gated value of up to {largest:.3g} is past float64's exact integers (2^53)")
        dim = self.ledger.fresh(label, node, largest)
        units = []
        for gate, value, bound in gated:
            off = combine((bound, gate), (-bound, {ONE: 1.0}))  # 0 where the gate is 1, -B where 0
            units += [
                Unit(frozen(combine((1.0, value), (1.0, off))), frozen({dim: 1.0})),
                Unit(frozen(combine((-1.0, value), (1.0, off))), frozen({dim: -1.0})),
            ]
        self.ledger.check_units(node, len(units), 1)
        block = MLPBlock(label, tuple(units), (dim,), 0.25, 2 * largest, True, largest)
        self.ledger.add_block(block, node)
        return combine((1.0, {dim: 1.0}), *free)

    def _largest(self, node: ir.SOp) -> float:
        """The largest |value| of a numerical s-op (its Interval's, or its set's)."""
        values = self.ledger.sets.known(node)
        if isinstance(values, Interval):
            return float(values.largest)
        return float(max(abs(float(v)) for v in values)) if values else 0.0

    # ------------------------------------------------------------------ squares

    def square(self, node: ir.SOp) -> Functional:
        """A functional equal to the square of an integer s-op (see the module)."""
        if node not in self._squares:
            self._squares[node] = self._square(node)
        return self._squares[node]

    def _square(self, node: ir.SOp) -> Functional:
        if self.enc.cheap_square(node):
            return self.enc.square(node)
        if isinstance(node, ir.SequenceMap) and node.choice:
            condition, when_true, when_false = node.inputs
            flags = self._truth(condition)
            branches = [
                (flag, self.square(branch), self._largest(branch) ** 2)
                for flag, branch in zip(flags, (when_true, when_false))
            ]
            return self._gates(node, f"{node.label}^2", branches)
        form = self._prefix_form(node)
        if form is None:
            raise fail(
                node,
                "an equality compares it, so its square is needed, and in a length-free compile only "
                "positions, prefix counts plus a function of the token, and choices between those have one",
            )
        increments, offsets = form
        x = {dim: c for dim, c in combine((1.0, self.enc.number(node)), (-1.0, _of_tokens(offsets))).items() if c}
        x_bound = self._largest(node) + max((abs(v) for v in offsets.values()), default=0.0)
        squared = self._prefix_square(node, increments, x, x_bound)
        # (x + e)^2 = x^2 + 2 e x + e^2
        cross = [
            (_of_tokens({t: 1.0 for t, v in offsets.items() if v == e}), combine((2 * e, x)), 2 * abs(e) * x_bound)
            for e in sorted({v for v in offsets.values() if v})
        ]
        parts: list[tuple[float, Functional]] = [
            (1.0, {squared: 1.0}),
            (1.0, _of_tokens({t: v * v for t, v in offsets.items()})),
        ]
        if cross:
            parts.append((1.0, self._gates(node, f"{node.label}^2/cross", cross)))
        return combine(*parts)

    def _prefix_square(self, node: ir.SOp, increments: Increments, x: Functional, x_bound: float) -> Dim:
        """The dimension that holds x^2 for the prefix sum x of the increments d:
        x_j^2 = sum over j' <= j of d (2 x - d), each term gated by the value of d, summed by a
        head.  One per prefix sum, shared by every s-op that squares it."""
        memo = (increments, frozenset(x.items()))
        if memo in self._prefix_squares:
            return self._prefix_squares[memo]
        levels = increments.levels()
        largest_step = max((abs(a) for a, _ in levels), default=0.0)
        terms = [
            (flag, combine((2 * a, x), (-a * a, {ONE: 1.0})), 2 * abs(a) * x_bound + a * a) for a, flag in levels
        ]
        total = largest_step**2 * (self.n + 1) * (self.n + 2)  # sum of |d (2x - d)| with |x_j| <= M (j + 1)
        if total >= EXACT:
            raise fail(
                node,
                f"the running sum of its square's increments may reach {total:.3g} at max_seq_len {self.n:,}, "
                "past float64's exact integers (2^53)",
            )
        increment = self._gates(node, f"{node.label}^2/step", terms)
        squared = self.ledger.fresh(f"{node.label}^2", node, x_bound**2)
        self._head(node, [], 0.0, [increment], [0.0], [squared], "sum", HeadPrecision(1.0, 1.0, total, 0.25, True))
        self._prefix_squares[memo] = squared
        return squared

    def _prefix_form(self, node: ir.SOp) -> tuple[Increments, dict[Any, float]] | None:
        """(d, e) when `node` is x + e with x the sum of the increments d over the positions at
        or before the query (a combination of sum-head counts) and e a function of the token
        (per token); else None."""
        vocab = self.ledger.vocab
        nothing = Increments(per_token=tuple((t, 0.0) for t in vocab))
        local = self.ledger.sets.local.get(node)
        if local is not None and len(local) == len(vocab) and all_numbers(local.values()):
            return nothing, {t: float(local[t]) for t in vocab}
        if isinstance(node, ir.SelectorWidth):
            self.enc.rep(node)
            if node in self._increments:
                return self._increments[node], {t: 0.0 for t in vocab}
            return None
        if isinstance(node, ir.Map) and node.affine is not None:
            inner = self._prefix_form(node.inner)
            if inner is None:
                return None
            a, b = node.affine
            return inner[0].scaled(a), {t: a * v + b for t, v in inner[1].items()}
        if isinstance(node, ir.SequenceMap) and node.linear is not None:
            forms = [self._prefix_form(child) for child in node.inputs]
            if any(form is None for form in forms):
                return None
            pairs = list(zip(node.linear, forms))
            increments = _summed([(c, form[0]) for c, form in pairs])  # type: ignore[index]
            if increments is None:
                return None
            return increments, {t: sum(c * form[1][t] for c, form in pairs) for t in vocab}  # type: ignore[index]
        return None

    # ------------------------------------------------------------------ the keyed latest match

    def keyed(self, node: ir.Aggregate, values: Any) -> Rep | None:
        """The keyed latest match's head (see the module), or None for any other aggregate."""
        found = keyed_latest(node.selector) if self.active else None
        if found is None:
            return None
        match, passing = found
        key_node, query_node = match.keys, match.queries
        (key, key_square, key_bound), (query, query_square, query_bound) = self._match_sides(node, key_node, query_node)
        writer = self._passing(passing)
        penalty = 1.0  # a non-writer scores 2QK - K^2 - 1 <= Q^2 - 1, under the BOS's Q^2 - 1/2
        terms = [
            (combine((2.0, query)), key),
            ({ONE: 1.0}, combine((-1.0, key_square), (penalty, writer), (-penalty, {ONE: 1.0}))),
        ]
        magnitude = 2 * query_bound * key_bound + key_bound**2 + 2 * penalty + query_bound**2
        entries = max(2 * query_bound, key_bound, key_bound**2 + 2 * penalty, query_bound**2 + 1)
        if not (entries < EXACT and integers_exact(4 * magnitude + 4, "int64")):
            raise fail(
                node,
                f"its match's scores reach {magnitude:.3g}, past the exact integers of int64 scores at "
                f"max_seq_len {self.n:,} (at most about 2^30 positions)",
            )
        bos_query = combine((1.0, query_square), (-0.5, {ONE: 1.0}))
        precision = HeadPrecision(0.5, magnitude, 1.0, 0.25, True, int64=True)
        matched = KeyedMatch(frozen(query), frozen(key), frozen(writer))
        sop_values = self.ledger.sets.known(node.sop)
        if is_number(node.default) and all_numbers(sop_values):
            number = self.enc.number(node.sop)
            bound = max(self._largest(node.sop), abs(float(node.default)))
            out = self.ledger.fresh(node.label, node, bound)
            default = [float(node.default)]
            self._head(node, terms, 0.0, [number], default, [out], "latest", precision, bos_query, matched)
            return numerical(values, {out: 1.0}, exact=True)
        indicators = self.enc.indicators(node.sop)
        outputs = value_order(values)
        dims = {v: self.ledger.fresh(node.label, node, 1.0, (v,)) for v in outputs}
        features = [indicators.get(v, {}) for v in outputs]
        defaults = [1.0 if v == node.default and type(v) is type(node.default) else 0.0 for v in outputs]
        self._head(node, terms, 0.0, features, defaults, list(dims.values()), "latest", precision, bos_query, matched)
        return categorical(values, {v: {dim: 1.0} for v, dim in dims.items()}, exact=True)

    def _match_sides(
        self, node: ir.Aggregate, key_node: ir.SOp, query_node: ir.SOp
    ) -> list[tuple[Functional, Functional, float]]:
        """For the key and the query of a keyed match: the integer compared, its square and the
        largest |value|.  Integer s-ops compare as they are; two categorical ones (exact
        one-hots) by a code per value of either, 1, 2, 3, ..., whose square is as free as the
        code (a sum of indicators)."""
        sides = (key_node, query_node)
        if all(self.enc.known_indicators(side) is not None and not self.enc.rep(side).numeric for side in sides):
            both = {*self.enc.indicators(key_node), *self.enc.indicators(query_node)}
            codes = {v: float(i + 1) for i, v in enumerate(value_order(both))}
            result = []
            for side in sides:
                if self.enc.indicator_error(side) != 0.0:
                    raise fail(node, f"its keyed latest match compares {side.label}, which must be exact")
                indicators = self.enc.indicators(side)
                number = combine(*[(codes[v], ind) for v, ind in indicators.items()])
                square = combine(*[(codes[v] ** 2, ind) for v, ind in indicators.items()])
                result.append((number, square, float(len(codes))))
            return result
        result = []
        for side in sides:
            rep = self.enc.rep(side)
            known = self.ledger.sets.known(side)
            if rep.number is None or not rep.exact or not (all_numbers(known) and all_integers(known)):
                raise fail(node, f"its keyed latest match compares {side.label}, which must be an exact integer")
            result.append((self.enc.number(side), self.square(side), self._largest(side)))
        return result

    # ------------------------------------------------------------------ heads

    def _head(
        self,
        node: ir.SOp,
        terms: list[tuple[Functional, Functional]],
        bos_score: float,
        values: list[Functional],
        bos_values: list[float],
        writes: list[Dim],
        mode: str,
        precision: HeadPrecision,
        bos_query: Functional | None = None,
        keyed: KeyedMatch | None = None,
    ) -> None:
        """A head of these constructions: integer scores at scale 1 (no tie window is needed:
        the chosen keys are exactly those of the best score)."""
        head = HeadBlock(
            node.label,
            tuple(frozen(q) for q, _ in terms),
            tuple(frozen(k) for _, k in terms),
            bos_score,
            1.0,
            tuple(frozen(v) for v in values),
            tuple(bos_values),
            tuple(writes),
            precision,
            None,
            mode,  # type: ignore[arg-type]
            None if bos_query is None else frozen(bos_query),
            keyed,
        )
        self.ledger.add_block(head, node)


def _passes(op: str, value: Any, constant: Any) -> bool:
    """The interpreter's comparison of a key value with a filter's constant (values of other
    types never pass)."""
    try:
        return bool(ir.COMPARISONS[op](value, constant))
    except TypeError:
        return False


def _of_tokens(values: Mapping[Any, float]) -> dict[Dim, float]:
    """A function of the token as a functional of the token one-hots (zero at the BOS)."""
    return combine(*[(float(v), {token_dim(t): 1.0}) for t, v in values.items()])

