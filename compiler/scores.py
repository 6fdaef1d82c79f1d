"""Selectors as attention scores.

A selector becomes a bilinear score s(i, j) = sum_t q_t(x_i) * k_t(x_j) over functionals of the
query and key positions, normalised so that a selected pair scores exactly 1 and an unselected
pair at most 0.  Scores that are exactly 0 or 1 (`exact01`) can be negated.

- categorical keys and queries, any comparison: the predicate matrix between their indicators
  (one term per distinct row or column of the matrix, whichever is fewer);
- numerical equality: 1 - (k - q)^2 / g^2, expanded over k, k^2, q, q^2 (g: the smallest gap
  between distinct key and query values; values are centred first to keep the squares small);
- numerical order comparisons and `!=`: the s-ops are made categorical first (positions by
  their one-hot embedding, other s-ops by an MLP), since a step in k cannot be bilinear in a
  few features of k;
- `and`: s_a + s_b - 1 (1 when both are 1, at most 0 otherwise);
- `not`: 1 - s for an exact 0/1 score;
- `or`, and `not` of a non-0/1 score: the whole selector as one predicate matrix between the
  tuples of its query s-ops and of its key s-ops (a categorical joint s-op when there are
  several, built by an MLP).
A selector whose value set analysis shows it constant (select(1, 1, ==)) gets a constant score.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from compiler.blocks import INDICES, ONE, Functional, PositionLookup, combine
from compiler.encodings import Encodings
from compiler.errors import CompileError, fail
from compiler.maps import defined_flag
from compiler.margins import SCORE_INPUT_ERROR, rounding_apart
from compiler.valuesets import MAX_VALUES, conjuncts_of
from compiler.valuesets import value_order as _value_order
from rasp import ir
from rasp.interpreter import NUMPY_COMPARE
from rasp.values import all_integers, is_number


@dataclass(frozen=True)
class Score:
    """`magnitude`, when known, bounds sum_t |q_t * k_t| (each predicate-matrix term is 0 or 1,
    which the bounds of its functionals would overestimate)."""

    terms: list[tuple[Functional, Functional]]
    exact01: bool
    constant: bool | None = None
    magnitude: float | None = None
    error: float = 0.0  # how far the score may be from its ideal value (noisy inputs)
    lookup: PositionLookup | None = None  # a score that selects the key at one position (see blocks)
    integer: bool = False  # its values are integers (the BOS's a half): exact in floats that hold them


def constant_score(value: bool) -> Score:
    return Score([({ONE: 1.0}, {ONE: 1.0} if value else {})], exact01=True, constant=value, magnitude=1.0)


def _merge(score: Score) -> Score:
    """Terms with the same query functional share one feature (their keys add up)."""
    merged: dict[frozenset, tuple[Functional, Functional]] = {}
    for query, key in score.terms:
        identity = frozenset(query.items())
        if identity in merged:
            merged[identity] = (query, combine((1.0, merged[identity][1]), (1.0, key)))
        else:
            merged[identity] = (query, key)
    terms = [(q, k) for q, k in merged.values() if q and k]
    return Score(
        terms or [({ONE: 1.0}, {})], score.exact01, score.constant, score.magnitude, score.error, score.lookup
    )


def _conjunction(left: Score, right: Score) -> Score:
    """s_a + s_b - 1: exactly 1 when both are 1, at most 0 otherwise."""
    magnitude = (
        None if left.magnitude is None or right.magnitude is None else left.magnitude + right.magnitude + 1
    )
    return Score(
        [*left.terms, *right.terms, ({ONE: 1.0}, {ONE: -1.0})],
        exact01=False,
        magnitude=magnitude,
        error=left.error + right.error,
    )


def _with_constant(left: Score, right: Score, absorbing: bool) -> Score | None:
    """`left and right` (`absorbing` False) or `left or right` (True) when a side is constant:
    that side if it is the absorbing value, else the other side; None when neither is constant."""
    for side, other in ((left, right), (right, left)):
        if side.constant is not None:
            return side if side.constant == absorbing else other
    return None


@contextmanager
def _naming(consumer: ir.Node) -> Iterator[None]:
    """Refusals raised while scoring a selector name the aggregate or width that uses it."""
    try:
        yield
    except CompileError as error:
        if error.location is not None:
            raise
        reason = error.message.removeprefix("cannot compile ")
        if reason != error.message:  # about an s-op the selector needs (a joint of its keys)
            reason = f"its selector needs {reason}"
        raise fail(consumer, reason) from None


def _hashable_key(value: Any) -> tuple[str, Any]:
    return (type(value).__name__, value)


def _holds(selector: ir.Selector, queries: dict[int, Any], keys: dict[int, Any]) -> bool:
    """The selector's predicate for given values of its query and key s-ops (by uid)."""
    if isinstance(selector, ir.Select):
        try:
            return bool(ir.COMPARISONS[selector.op](keys[selector.keys.uid], queries[selector.queries.uid]))
        except TypeError:
            return False
    if isinstance(selector, ir.SelectorAnd):
        return _holds(selector.left, queries, keys) and _holds(selector.right, queries, keys)
    if isinstance(selector, ir.SelectorOr):
        return _holds(selector.left, queries, keys) or _holds(selector.right, queries, keys)
    if isinstance(selector, ir.SelectorNot):
        return not _holds(selector.inner, queries, keys)
    raise TypeError(f"unknown selector node {type(selector).__name__}")


def _only_at_origin(selector: ir.Selector) -> bool:
    """Whether `selector` selects nothing but key 0 for query 0: a conjunction holding
    `select(indices, 0, ==)` (key 0) and `select(indices, indices, ==)` (the query itself),
    the RASP paper's `bos_grab_self`."""
    conjuncts = list(conjuncts_of(selector))
    first_key = any(
        isinstance(c, ir.Select)
        and c.op == "=="
        and isinstance(c.keys, ir.Indices)
        and isinstance(c.queries, ir.Full)
        and c.queries.value == 0
        and not isinstance(c.queries.value, bool)
        for c in conjuncts
    )
    itself = any(
        isinstance(c, ir.Select)
        and c.op == "=="
        and isinstance(c.keys, ir.Indices)
        and isinstance(c.queries, ir.Indices)
        for c in conjuncts
    )
    return first_key and itself


#: Most disjoint pieces (one head and one decoder each) a selector width's selector is split into.
MAX_PIECES = 4

Literal = tuple[ir.Select, bool]  # a select, or its negation when the flag is False
Piece = tuple[Literal, ...]  # the conjunction of its literals


def _disjoint_form(selector: ir.Selector) -> list[Piece] | None:
    """Pairwise disjoint conjunctions of literals whose union is `selector` (None past
    MAX_PIECES): `a or b` is `a` plus `b and not a`, `not (l1 and l2)` is `not l1` plus
    `l1 and not l2`."""
    if isinstance(selector, ir.Select):
        return [((selector, True),)]
    if isinstance(selector, ir.SelectorNot):
        inner = _disjoint_form(selector.inner)
        return None if inner is None else _complement(inner)
    if not isinstance(selector, (ir.SelectorAnd, ir.SelectorOr)):
        raise TypeError(f"unknown selector node {type(selector).__name__}")
    left, right = _disjoint_form(selector.left), _disjoint_form(selector.right)
    if left is None or right is None:
        return None
    if isinstance(selector, ir.SelectorAnd):
        return _intersect(left, right)
    rest = _complement(left)
    rest = None if rest is None else _intersect(right, rest)
    return None if rest is None or len(left) + len(rest) > MAX_PIECES else left + rest


def _intersect(first: list[Piece], second: list[Piece]) -> list[Piece] | None:
    """The pairwise conjunctions, without contradictory ones (a literal and its negation)."""
    pieces = []
    for a in first:
        for b in second:
            literals = list(dict.fromkeys((select.uid, positive) for select, positive in a + b))
            if len({uid for uid, _ in literals}) == len(literals):
                nodes = {select.uid: select for select, _ in a + b}
                pieces.append(tuple((nodes[uid], positive) for uid, positive in literals))
    return pieces if len(pieces) <= MAX_PIECES else None


def _complement(pieces: list[Piece]) -> list[Piece] | None:
    result: list[Piece] | None = [()]
    for piece in pieces:
        negated = [piece[:j] + ((piece[j][0], not piece[j][1]),) for j in range(len(piece))]
        result = _intersect(result, negated)
        if result is None:
            return None
    return result


class ScoreBuilder:
    def __init__(self, encodings: Encodings):
        self.enc = encodings
        self._flags: dict[tuple[Any, ...], ir.SOp] = {}
        self._constants: dict[Any, ir.SOp] = {}
        self._failing: dict[ir.Node, bool] = {}

    def score(self, selector: ir.Selector, consumer: ir.Node) -> Score:
        """The score of `selector`; a refusal names `consumer`, the aggregate or width."""
        with _naming(consumer):
            return _merge(self._score(selector))

    def _score(self, selector: ir.Selector) -> Score:
        if isinstance(selector, ir.Select):
            return self._select(selector)
        if isinstance(selector, ir.SelectorOr):
            for kept, extra in ((selector.left, selector.right), (selector.right, selector.left)):
                if _only_at_origin(extra) and self._always_at_origin(kept):
                    return self._score(kept)
        if isinstance(selector, (ir.SelectorAnd, ir.SelectorOr)):
            left, right = self._score(selector.left), self._score(selector.right)
            conjunction = isinstance(selector, ir.SelectorAnd)
            known = _with_constant(left, right, absorbing=not conjunction)
            if known is not None:
                return known
            return _conjunction(left, right) if conjunction else self._joint_predicate(selector)
        if isinstance(selector, ir.SelectorNot):
            inner = self._score(selector.inner)
            if inner.constant is not None:
                return constant_score(not inner.constant)
            if inner.exact01:
                negated = [(q, combine((-1.0, k))) for q, k in inner.terms]
                magnitude = None if inner.magnitude is None else inner.magnitude + 1
                return Score(
                    [({ONE: 1.0}, {ONE: 1.0}), *negated], exact01=True, magnitude=magnitude, error=inner.error
                )
            return self._joint_predicate(selector)
        raise TypeError(f"unknown selector node {type(selector).__name__}")

    def _keep_refusals(self, select: ir.Select) -> None:
        """A constant score reads neither side of `select`, but a side whose map fails on some
        inputs (the interpreter refuses them) is still lowered, so that its flag makes the model
        refuse them too (`Maps._flag_undefined`) instead of answering."""
        for side in (select.keys, select.queries):
            if any(self._fails_somewhere(node) for node in ir.walk(side) if isinstance(node, (ir.Map, ir.SequenceMap))):
                self.enc.rep(side)

    def _fails_somewhere(self, node: ir.Map | ir.SequenceMap) -> bool:
        """Whether `node`'s fn fails on some values its inputs can take together (memoised:
        each question extends the value sets by one flag)."""
        if node not in self._failing:
            defined = defined_flag(node)
            self.enc.ledger.analyse(defined)
            self._failing[node] = False in self.enc.ledger.sets.known(defined)
        return self._failing[node]

    def _always_at_origin(self, selector: ir.Selector) -> bool:
        """Whether `selector` selects key 0 for query 0 on every input, as the value sets at
        position 0 say (`A or B` is A when B selects nothing else: `_only_at_origin`)."""
        if isinstance(selector, ir.SelectorAnd):
            return self._always_at_origin(selector.left) and self._always_at_origin(selector.right)
        if isinstance(selector, ir.SelectorOr):
            return self._always_at_origin(selector.left) or self._always_at_origin(selector.right)
        if not isinstance(selector, ir.Select):
            return False
        keys, queries = self._at_origin(selector.keys), self._at_origin(selector.queries)
        if keys is None or queries is None:
            return False
        compare = ir.COMPARISONS[selector.op]
        try:
            return all(bool(compare(k, q)) for k in keys for q in queries)
        except TypeError:
            return False

    def _at_origin(self, sop: ir.SOp) -> frozenset | None:
        """The values `sop` can take at position 0, or None when unknown."""
        if isinstance(sop, ir.Full):
            return frozenset([sop.value])
        by_position = self.enc.ledger.sets.positional.get(sop)
        return None if by_position is None else by_position[0]

    def _select(self, select: ir.Select, negated: bool = False) -> Score:
        """The score of `select`, or of `not select` when `negated` (always a 0/1 matrix)."""
        enc = self.enc
        key_values = enc.ledger.sets.known(select.keys)
        query_values = enc.ledger.sets.known(select.queries)
        compare = ir.COMPARISONS[select.op]

        def predicate(query: Any, key: Any) -> bool:
            try:
                return bool(compare(key, query)) != negated
            except TypeError:
                return negated

        if len(key_values) * len(query_values) <= MAX_VALUES:
            outcomes = {predicate(q, k) for q in query_values for k in key_values}
            if len(outcomes) == 1:
                self._keep_refusals(select)
                return constant_score(outcomes.pop())
        keys, queries = enc.rep(select.keys), enc.rep(select.queries)
        if select.op == "==" and keys.numeric and queries.numeric and not negated:
            one_hot = enc.known_indicators(select.keys) is not None and enc.known_indicators(select.queries) is not None
            if not one_hot and not self._rounding_apart(select):
                return self._quadratic(select)
        return self._matrix(
            self._clean_indicators(select.queries), self._clean_indicators(select.keys), predicate,
            self.enc.indicator_error(select.queries), self.enc.indicator_error(select.keys),
        )

    def _clean_indicators(self, node: ir.SOp) -> dict[Any, Functional]:
        """The categorical form of `node` for a score, its heads tightened so that it is off by
        at most SCORE_INPUT_ERROR where a logit scale can do it."""
        indicators = self.enc.indicators(node)
        self.enc.tighten(self.enc.rep(node), SCORE_INPUT_ERROR)
        return indicators

    def _matrix(
        self,
        queries: dict[Any, Functional],
        keys: dict[Any, Functional],
        predicate: Callable[[Any, Any], bool],
        query_error: float = 0.0,
        key_error: float = 0.0,
    ) -> Score:
        """One term per distinct row (or column) of the predicate matrix.  Each query value is
        in one row group and each key term sums 0/1 indicators, so indicator errors (L1) of
        e_q and e_k move the score by at most e_q + e_k + 2 e_q e_k."""
        query_values, key_values = list(queries), list(keys)
        if len(query_values) * len(key_values) > MAX_VALUES * 10:
            raise CompileError(
                f"its selector compares {len(query_values)} query values with {len(key_values)} key values: "
                "too many for a predicate matrix"
            )
        matrix = [[predicate(q, k) for k in key_values] for q in query_values]
        rows: dict[tuple[bool, ...], list[int]] = {}
        for i, row in enumerate(matrix):
            if any(row):
                rows.setdefault(tuple(row), []).append(i)
        columns: dict[tuple[bool, ...], list[int]] = {}
        for j in range(len(key_values)):
            column = tuple(matrix[i][j] for i in range(len(query_values)))
            if any(column):
                columns.setdefault(column, []).append(j)
        terms = []
        if len(rows) <= len(columns):
            for row, members in rows.items():
                query = combine(*[(1.0, queries[query_values[i]]) for i in members])
                key = combine(*[(1.0, keys[key_values[j]]) for j, hit in enumerate(row) if hit])
                terms.append((query, key))
        else:
            for column, members in columns.items():
                key = combine(*[(1.0, keys[key_values[j]]) for j in members])
                query = combine(*[(1.0, queries[query_values[i]]) for i, hit in enumerate(column) if hit])
                terms.append((query, key))
        error = query_error + key_error + 2 * query_error * key_error
        # each query value is in one row group and each column sums 0/1 indicators of distinct
        # values, so at most one term is non-zero at a time, and it is at most 1
        return Score(terms, exact01=True, magnitude=1.0 + error, error=error)

    def _quadratic(self, select: ir.Select) -> Score:
        """1 - (k - q)^2 / g^2.  A query whose square needs an MLP anyway is clamped into the
        keys' range widened by g (`Encodings.clamped`), which selects the same keys; when many
        of its values lie between the keys' values and equal none (a mean of positions against
        positions), every value that equals no key is sent to one value below the keys
        (`Encodings.matched`), and g is the keys' own gap."""
        enc = self.enc
        key_values = sorted(float(v) for v in enc.ledger.sets.known(select.keys))
        query_values = sorted(float(v) for v in enc.ledger.sets.known(select.queries))
        keys_set = frozenset(key_values)
        matching = sum(v in keys_set for v in query_values)
        between = sum(key_values[0] < v < key_values[-1] and v not in keys_set for v in query_values)
        # worth it when the steps around the matching values (4 units each) are fewer than the
        # steps at every value (2 each): the jumps to `outside` are as large as the keys' gap
        matched = between > 2 * matching + 2 and not enc.cheap_square(select.queries)
        if matched:
            key_gap = min((b - a for a, b in zip(key_values, key_values[1:])), default=1.0)
            outside = key_values[0] - key_gap  # as far from every key as the keys are from each other
            query_values = sorted({outside, *(v for v in query_values if v in keys_set)})
        values = sorted({*key_values, *query_values})
        gap = min((b - a for a, b in zip(values, values[1:])), default=1.0)
        bounds = (key_values[0] - gap, key_values[-1] + gap)
        outlying = values[0] < bounds[0] or values[-1] > bounds[1]
        clamp = not matched and not enc.cheap_square(select.queries) and outlying
        if clamp:
            values = [v for v in values if bounds[0] <= v <= bounds[1]]
        centre = (values[0] + values[-1]) / 2
        if all(v.is_integer() for v in values):
            centre = float(math.floor(centre))

        def centred(node: ir.SOp) -> tuple[Functional, Functional]:
            square = enc.square(node)
            number = enc.clean_number(node)
            shifted = combine((1.0, number), (-centre, {ONE: 1.0}))
            shifted_square = combine((1.0, square), (-2 * centre, number), (centre * centre, {ONE: 1.0}))
            return shifted, shifted_square

        for node in (select.keys, select.queries):
            if self._feature_error(node):
                enc.tighten(enc.rep(node), SCORE_INPUT_ERROR * gap * gap)
        key, key_square = centred(select.keys)
        if matched:
            query, query_square = enc.matched(select.queries, keys_set, outside, centre)
        elif clamp:
            query, query_square = enc.clamped(select.queries, bounds, centre)
        else:
            query, query_square = centred(select.queries)
        inverse = 1.0 / (gap * gap)
        # a feature read from noisy indicators is off by up to R e (value) and R^2 e (square),
        # R the largest centred value; the score is off by (|d k^2| + |d q^2| + 2|d(k q)|) / g^2
        reach = max(abs(v - centre) for v in values) if values else 0.0
        noise = self._feature_error(select.keys) + self._feature_error(select.queries)
        error = (3 * reach * reach * noise + 2 * reach * reach * noise * noise) * inverse
        return Score(
            [
                ({ONE: 1.0}, combine((1.0, {ONE: 1.0}), (-inverse, key_square))),
                (query, combine((2 * inverse, key))),
                (query_square, {ONE: -inverse}),
            ],
            exact01=False,
            error=error,
            lookup=self._lookup(select, combine((1.0, query), (centre, {ONE: 1.0})), query_values),
        )

    def _lookup(self, select: ir.Select, target: Functional, query_values: list[float]) -> PositionLookup | None:
        """A quadratic score of `select(indices + c, Q, ==)` (c an integer constant, 0 or the
        offset of a `shift`) with integer Q selects the key at token index Q - c, or none (then
        the BOS key wins): `target` is Q (clamped or matched or not), `query_values` its values."""
        offset = self._index_offset(select.keys)
        if offset is None or not all_integers(query_values):
            return None
        return PositionLookup(combine((1.0, target), (-offset, {ONE: 1.0})) if offset else target, "bos")

    def _index_offset(self, keys: ir.SOp) -> float | None:
        """c when `keys` is exactly indices + c for an integer c, else None."""
        if isinstance(keys, ir.Indices):
            return 0.0
        rep = self.enc.rep(keys)
        number = rep.number
        if not rep.exact or number is None or set(number) - {INDICES, ONE} or number.get(INDICES) != 1.0:
            return None
        offset = float(number.get(ONE, 0.0))
        return offset if offset.is_integer() else None

    def _rounding_apart(self, select: ir.Select) -> bool:
        """Whether a key and a query value differ only by float rounding (`1/(1/49) - 1` is
        48.00000000000001, not 48): the interpreter tells them apart, a distance cannot, so
        the select takes a predicate matrix over each side's one-hot form instead (each side's
        own values are far apart, or its MLP refuses)."""
        known = self.enc.ledger.sets.known
        values = np.unique(np.fromiter((*known(select.keys), *known(select.queries)), float))
        return bool(np.any(rounding_apart(values[:-1], values[1:])))

    def _feature_error(self, node: ir.SOp) -> float:
        """The error of the number and square an equality score reads for `node`: none when
        they are exact or snapped back onto the value set by an MLP."""
        rep = self.enc.rep(node)
        if rep.exact or self.enc.snapped(node) is not None or self.enc.known_indicators(node) is None:
            return 0.0
        return self.enc.error(rep)

    def split(self, selector: ir.Selector, consumer: ir.Node) -> list[Score] | None:
        with _naming(consumer):
            return self._split(selector)

    def _split(self, selector: ir.Selector) -> list[Score] | None:
        """A selector width's selector as disjoint pieces whose widths add up, when that is
        cheaper than one head; else None.

        For select(f(a_k, b_k), g(a_q, b_q), op), where f and g are sequence maps whose input a
        has few values: for each pair of values (a_q, a_k) the selection is a predicate T on
        (b_q, b_k) alone.  Pairs with the same T form one piece, selected when (a_q, a_k) is
        one of its pairs and T(b_q, b_k) holds: the sum of two 0/1 scores, minus 1.  A stable
        sort's keys x + i/n compare as x_k < x_q (any i) or x_k = x_q and i_k < i_q: two pieces
        over the token and position one-hots instead of one over the n * |vocab| keys."""
        enc = self.enc
        if not isinstance(selector, ir.Select):
            return self._disjoint_conjunctions(selector)
        if selector.op == "==":
            return None
        keys, queries = selector.keys, selector.queries
        if not all(isinstance(s, ir.SequenceMap) and len(s.inputs) == 2 for s in (keys, queries)):
            return None
        direct = {node.uid: self._indicator_cost(node) for node in (keys, queries)}
        key_a, key_b = self._split_inputs(keys)  # type: ignore[arg-type]
        query_a, query_b = self._split_inputs(queries)  # type: ignore[arg-type]
        parts = {node.uid: self._indicator_cost(node) for node in (key_a, key_b, query_a, query_b)}
        if sum(parts.values()) >= sum(direct.values()):
            return None
        key_table = self._evaluate(keys, key_a)  # type: ignore[arg-type]
        query_table = self._evaluate(queries, query_a)  # type: ignore[arg-type]
        if key_table is None or query_table is None:
            return None
        compare = NUMPY_COMPARE[selector.op]
        groups: dict[bytes, tuple[np.ndarray, set[tuple[Any, Any]]]] = {}
        for a_q, q_values in query_table.items():
            for a_k, k_values in key_table.items():
                table = np.asarray(compare(k_values[None, :], q_values[:, None]), bool)
                if table.any():
                    groups.setdefault(table.tobytes(), (table, set()))[1].add((a_q, a_k))
        b_queries = {v: i for i, v in enumerate(_value_order(enc.ledger.sets.known(query_b)))}
        b_keys = {v: i for i, v in enumerate(_value_order(enc.ledger.sets.known(key_b)))}
        pieces = []
        for table, pairs in groups.values():
            piece = self._matrix(
                self._clean_indicators(query_a),
                self._clean_indicators(key_a),
                lambda q, k, p=pairs: (q, k) in p,
                enc.indicator_error(query_a),
                enc.indicator_error(key_a),
            )
            if not table.all():
                positions = self._matrix(
                    self._clean_indicators(query_b),
                    self._clean_indicators(key_b),
                    lambda q, k, t=table: bool(t[b_queries[q], b_keys[k]]),
                    enc.indicator_error(query_b),
                    enc.indicator_error(key_b),
                )
                piece = _conjunction(piece, positions)
            pieces.append(_merge(piece))
        return pieces

    def _indicator_cost(self, node: ir.SOp) -> int:
        """Residual dimensions a one-hot form of `node` would add."""
        return 0 if self.enc.known_indicators(node) is not None else len(self.enc.ledger.sets.known(node))

    def _split_inputs(self, node: ir.SequenceMap) -> tuple[ir.SOp, ir.SOp]:
        """(a, b): the input with fewer values first."""
        first, second = node.inputs
        known = self.enc.ledger.sets.known
        return (first, second) if len(known(first)) <= len(known(second)) else (second, first)

    def _evaluate(self, node: ir.SequenceMap, a: ir.SOp) -> dict[Any, np.ndarray] | None:
        """For each value of input a, fn over the values of the other input (in value order)."""
        known = self.enc.ledger.sets.known
        b = node.inputs[1] if node.inputs[0] is a else node.inputs[0]
        b_values = _value_order(known(b))
        result = {}
        for a_value in known(a):
            row = []
            for b_value in b_values:
                args = (a_value, b_value) if node.inputs[0] is a else (b_value, a_value)
                try:
                    row.append(node.fn(*args))
                except Exception:
                    return None
            result[a_value] = np.array(row, dtype=float if all(is_number(v) for v in row) else object)
        return result

    def _joint_predicate(self, selector: ir.Selector) -> Score:
        """The whole selector as one predicate matrix between the tuple of its query s-ops and
        the tuple of its key s-ops.  S-ops with a single value (constants) are left out of the
        tuples: `select(tokens, "(", ==) or select(tokens, "{", ==)` compares the tokens alone."""
        enc = self.enc
        flagged = self._filters_as_flags(selector)
        if self._joint_size(flagged) < self._joint_size(selector):
            selector = flagged
        fixed, query_nodes, key_nodes = self._sides(selector)
        for nodes in (query_nodes, key_nodes):
            for node in nodes:
                if not all(is_number(v) or isinstance(v, (str, bool)) for v in enc.ledger.sets.known(node)):
                    raise fail(node, "a combined selector needs its s-ops to take atomic values")

        def side(nodes: list[ir.SOp]) -> dict[Any, Functional]:
            if not nodes:
                return {(): {ONE: 1.0}}
            return self._clean_indicators(nodes[0] if len(nodes) == 1 else enc.joint(nodes))

        def error(nodes: list[ir.SOp]) -> float:
            return enc.indicator_error(nodes[0] if len(nodes) == 1 else enc.joint(nodes)) if nodes else 0.0

        def assignment(nodes: list[ir.SOp], value: Any) -> dict[int, Any]:
            if len(nodes) == 1:
                return {**fixed, nodes[0].uid: value}
            return {**fixed, **{node.uid: v for node, v in zip(nodes, value)}}

        def predicate(q: Any, k: Any) -> bool:
            return _holds(selector, assignment(query_nodes, q), assignment(key_nodes, k))

        return self._matrix(
            side(query_nodes), side(key_nodes), predicate, error(query_nodes), error(key_nodes)
        )

    def _filters_as_flags(self, selector: ir.Selector) -> ir.Selector:
        """The selector with each filter `select(k, c, op)` (c a constant) written as
        `select(k op c, True, ==)`: a filter depends on the key only through that flag, so the
        joint of the key s-ops has two values for it instead of every value of k (the RASP
        paper's `s or select(indices, 0, ==)` pairs the keys of s with a bool, not with every
        position).  Filters on the query side likewise."""
        if isinstance(selector, ir.Select):
            known = self.enc.ledger.sets.known
            for side, other in (("keys", "queries"), ("queries", "keys")):
                node, constant = getattr(selector, side), getattr(selector, other)
                if len(known(constant)) == 1 and len(known(node)) > 2:
                    (value,) = known(constant)
                    flag = self._flag(node, selector.op, value, keys_side=side == "keys")
                    true = self._constant(True)
                    return ir.Select(keys=flag, queries=true, op="==") if side == "keys" else ir.Select(
                        keys=true, queries=flag, op="=="
                    )
            return selector
        if isinstance(selector, ir.SelectorNot):
            return ir.SelectorNot(self._filters_as_flags(selector.inner))
        if isinstance(selector, (ir.SelectorAnd, ir.SelectorOr)):
            return type(selector)(self._filters_as_flags(selector.left), self._filters_as_flags(selector.right))
        raise TypeError(f"unknown selector node {type(selector).__name__}")

    def _joint_size(self, selector: ir.Selector) -> int:
        """How many values the joints of the selector's query and key s-ops may take."""
        known = self.enc.ledger.sets.known
        _, queries, keys = self._sides(selector)
        return math.prod(len(known(node)) for node in queries) + math.prod(len(known(node)) for node in keys)

    def _flag(self, node: ir.SOp, op: str, value: Any, keys_side: bool) -> ir.SOp:
        """The bool s-op `node op value` (keys side) or `value op node` (queries side), with
        the selector's rule that values of different types never match."""
        key = (node.uid, op, _hashable_key(value), keys_side)
        if key not in self._flags:
            compare = ir.COMPARISONS[op]

            def fn(x: Any) -> bool:
                try:
                    return bool(compare(x, value) if keys_side else compare(value, x))
                except TypeError:
                    return False

            flag = ir.Map(fn=fn, inner=node, description=f"{node.label} {op} {value!r}")
            self.enc.ledger.analyse(flag)
            self._flags[key] = flag
        return self._flags[key]

    def _constant(self, value: Any) -> ir.SOp:
        if value not in self._constants:
            node = ir.Full(value)
            self.enc.ledger.analyse(node)
            self._constants[value] = node
        return self._constants[value]

    def _sides(self, selector: ir.Selector) -> tuple[dict[int, Any], list[ir.SOp], list[ir.SOp]]:
        """The value of each single-valued s-op of the selector's selects (by uid), and its other
        query and key s-ops."""
        known = self.enc.ledger.sets.known
        leaves = [node for node in ir.walk(selector) if isinstance(node, ir.Select)]
        nodes = [node for leaf in leaves for node in (leaf.queries, leaf.keys)]
        fixed = {node.uid: next(iter(known(node))) for node in nodes if len(known(node)) == 1}
        queries = {leaf.queries.uid: leaf.queries for leaf in leaves if leaf.queries.uid not in fixed}
        keys = {leaf.keys.uid: leaf.keys for leaf in leaves if leaf.keys.uid not in fixed}
        return fixed, list(queries.values()), list(keys.values())

    def _disjoint_conjunctions(self, selector: ir.Selector) -> list[Score] | None:
        """A combined selector as disjoint conjunctions of selects and negated selects (whose
        widths add up), when one of its `or`s (or `not`s of a combination) would otherwise be a
        predicate matrix over a joint s-op, which costs an MLP and one dimension per tuple of
        values.  A stable sort's `select(k, k, <) or (select(k, k, <=) and select(indices,
        indices, <))` becomes `k_k < k_q` plus `k_k <= k_q and i_k < i_q and not k_k < k_q`:
        two heads over the one-hots of k and of the positions instead of one head over the
        one-hot of (k, indices).  None when no joint s-op is needed or past MAX_PIECES pieces."""
        combined = [
            node
            for node in ir.walk(selector)
            if isinstance(node, ir.SelectorOr)
            or (isinstance(node, ir.SelectorNot) and not isinstance(node.inner, ir.Select))
        ]
        if not any(len(self._sides(node)[1]) > 1 or len(self._sides(node)[2]) > 1 for node in combined):
            return None
        pieces = _disjoint_form(selector)
        if pieces is None:
            return None
        scores = []
        for piece in pieces:
            literals = [self._select(select, negated=not positive) for select, positive in piece]
            if any(score.constant is False for score in literals):
                continue
            literals = [score for score in literals if score.constant is None]
            score = literals[0] if literals else constant_score(True)
            for other in literals[1:]:
                score = _conjunction(score, other)
            scores.append(_merge(score))
        return scores or [constant_score(False)]
