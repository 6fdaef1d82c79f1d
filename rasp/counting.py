"""Counting a selector's keys without its matrix: the interpreter's fast path for long inputs.

A row-block evaluation of `selector_width(select(k, q, <))` compares every query with every
key, O(n^2) work: 29 minutes of CPU for a sort of 10^6 tokens.  But a `select` of two numeric
s-ops depends only on how each key compares with the query, less, equal or greater: in the
order of the keys, the keys of one relation form a prefix, a run or a suffix, so their count
(or the sum of any integer weights over them) is a `searchsorted` in the sorted keys, O(n log n).

Any `and`, `or` and `not` of such selects over at most two pairs of (keys, queries) s-ops is a
boolean function of the two relations, true on some of the 9 cells (relation to the first pair,
relation to the second); a cell is a conjunction of two prefix conditions, and counting those is
a two-dimensional dominance count, done here level by level of a Fenwick decomposition of the
prefixes, each level one sort and two `searchsorted`s: O(n log^2 n).  The library's sort,
`select(k, k, <) or (select(k, k, <=) and select(indices, indices, <))`, is such a selector.
Causal evaluation is one more pair, the key's position against the query's.

Everything is exact: relations are float64 comparisons, as the block path's (numbers are
float64 there too, exact for ints within 2^53), and sums are int64.  A selector of another
shape, non-numeric or NaN values, or more than two pairs gives `None`, and the interpreter
evaluates it in row blocks.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rasp import ir

#: How a key compares with a query, as bits: a select's comparison is the set of those it admits.
LT, EQ, GT = 1, 2, 4
OP_RELATIONS = {"<": LT, "<=": LT | EQ, "==": EQ, "!=": LT | GT, ">": GT, ">=": EQ | GT}

#: Each relation's indicator as a sum of prefix conditions: "<" (key < query), "<=" and "1".
#: eq = [<=] - [<] and gt = 1 - [<=], so every cell of relations is a sum of conjunctions of
#: prefix conditions, which `searchsorted` counts.
_PREFIXES = {LT: {"<": 1}, EQ: {"<=": 1, "<": -1}, GT: {"1": 1, "<=": -1}}

#: Most pairs of (keys, queries) arrays a selector may compare, causal positions included.
MAX_PAIRS = 2


@dataclass(frozen=True)
class Pair:
    """The keys (one per key position) and queries (one per query row) a select compares."""

    keys: np.ndarray
    queries: np.ndarray


#: A selector as a function of the relation of each pair (a tuple of LT, EQ or GT).
Formula = Callable[[tuple[int, ...]], bool]
#: An s-op's values, at every key position (`keys_of`) or at the query rows (`queries_of`).
ValuesOf = Callable[[ir.SOp], list]


class Counting:
    """A selector whose keys per query are counted (and weights summed) without its matrix."""

    def __init__(self, pairs: list[Pair], formula: Formula):
        self.pairs = pairs
        self.formula = formula
        self.keys = len(pairs[0].keys)
        self.rows = len(pairs[0].queries)
        # the coefficient of each conjunction of prefix conditions, one per pair, summed over
        # the cells where the selector is true
        terms: dict[tuple[str, ...], int] = {}
        for cell in itertools.product((LT, EQ, GT), repeat=len(pairs)):
            if not formula(cell):
                continue
            for parts in itertools.product(*(_PREFIXES[relation].items() for relation in cell)):
                term = tuple(condition for condition, _ in parts)
                terms[term] = terms.get(term, 0) + int(np.prod([sign for _, sign in parts]))
        self.terms = {term: coefficient for term, coefficient in terms.items() if coefficient}

    @classmethod
    def of(cls, selector: ir.Selector, keys_of: ValuesOf, queries_of: ValuesOf, causal: Pair | None) -> Counting | None:
        """The counting of `selector` (in causal evaluation, `causal` pairs the key positions
        with the query positions, which admit a key at or before the query), or None when it
        is not of a shape counted here."""
        pairs: dict[tuple[int, int], int] = {}
        arrays: list[Pair] = []
        formula = _formula(selector, pairs, arrays, keys_of, queries_of)
        if formula is None:
            return None
        if causal is not None:
            index = len(arrays)
            arrays.append(causal)
            selected = formula
            formula = lambda cell: bool(cell[index] & (LT | EQ)) and selected(cell)  # noqa: E731
        if not 1 <= len(arrays) <= MAX_PAIRS:
            return None
        return cls(arrays, formula)

    def sums(self, weights: np.ndarray) -> np.ndarray:
        """For every query row, the sum of `weights` (int64, one row per key position, one
        column per weight) over the keys the selector admits: with a column of ones, the
        selector width."""
        result = np.zeros((self.rows, weights.shape[1]), dtype=np.int64)
        for term, coefficient in self.terms.items():
            active = [(pair, condition == "<") for pair, condition in zip(self.pairs, term) if condition != "1"]
            if not active:
                part = np.broadcast_to(weights.sum(axis=0), result.shape)
            elif len(active) == 1:
                part = _prefix_sums(*active[0], weights)
            else:
                part = _dominance_sums(*active[0], *active[1], weights)
            result += coefficient * part
        return result


def _formula(
    node: ir.Selector, pairs: dict[tuple[int, int], int], arrays: list[Pair], keys_of: ValuesOf, queries_of: ValuesOf
) -> Formula | None:
    """`node` as a function of the relations of its pairs, registering each new pair; None for
    a selector that is not a boolean combination of selects of finite numbers."""
    if isinstance(node, ir.Select):
        key = (node.keys.uid, node.queries.uid)
        if key not in pairs:
            keys, queries = _finite(keys_of(node.keys)), _finite(queries_of(node.queries))
            if keys is None or queries is None:
                return None
            pairs[key] = len(arrays)
            arrays.append(Pair(keys, queries))
        index, admitted = pairs[key], OP_RELATIONS[node.op]
        return lambda cell: bool(cell[index] & admitted)
    if isinstance(node, ir.SelectorNot):
        inner = _formula(node.inner, pairs, arrays, keys_of, queries_of)
        return None if inner is None else lambda cell: not inner(cell)
    if isinstance(node, (ir.SelectorAnd, ir.SelectorOr)):
        left = _formula(node.left, pairs, arrays, keys_of, queries_of)
        right = _formula(node.right, pairs, arrays, keys_of, queries_of) if left is not None else None
        if left is None or right is None:
            return None
        if isinstance(node, ir.SelectorAnd):
            return lambda cell: left(cell) and right(cell)
        return lambda cell: left(cell) or right(cell)
    return None


def _finite(values: list) -> np.ndarray | None:
    """`values` as float64 when they are numbers that float64 holds exactly (as the block path
    compares them) and none is NaN, whose comparisons a sorted order cannot express."""
    if not all(isinstance(v, float) or (isinstance(v, int) and -(2**53) <= v <= 2**53) for v in values):
        return None
    array = np.asarray(values, dtype=np.float64)
    return None if np.isnan(array).any() else array


def _side(strict: bool) -> str:
    """The `searchsorted` side that counts the sorted keys below a query (strict) or at most it."""
    return "left" if strict else "right"


def _cumulative(weights: np.ndarray) -> np.ndarray:
    """Prefix sums of the rows of `weights`, from the empty prefix on."""
    result = np.zeros((len(weights) + 1, weights.shape[1]), dtype=np.int64)
    np.cumsum(weights, axis=0, out=result[1:])
    return result


def _prefix_sums(pair: Pair, strict: bool, weights: np.ndarray) -> np.ndarray:
    """Per query, the weights of the keys below it (`strict`) or at most it."""
    order = np.argsort(pair.keys, kind="stable")
    below = np.searchsorted(pair.keys[order], pair.queries, side=_side(strict))
    return _cumulative(weights[order])[below]


def _dominance_sums(
    first: Pair, first_strict: bool, second: Pair, second_strict: bool, weights: np.ndarray
) -> np.ndarray:
    """Per query, the weights of the keys below it on both pairs.  In the order of the first
    pair's keys, the keys below query i on it are a prefix of length P_i; the prefix is the
    union of one aligned block of 2^L keys for each bit L set in P_i, and in each block the
    keys below the query on the second pair are found by `searchsorted` over the keys sorted
    by (block, rank on the second pair)."""
    order = np.argsort(first.keys, kind="stable")
    prefix = np.searchsorted(first.keys[order], first.queries, side=_side(first_strict))
    distinct = np.unique(second.keys)
    ranks = np.searchsorted(distinct, second.keys[order])  # of each key, in the first order
    limits = np.searchsorted(distinct, second.queries, side=_side(second_strict))  # admits ranks below
    span = len(distinct) + 1
    weights = weights[order]
    positions = np.arange(len(order), dtype=np.int64)
    result = np.zeros((len(prefix), weights.shape[1]), dtype=np.int64)
    for level in range(int(prefix.max(initial=0)).bit_length()):
        hit = np.flatnonzero((prefix >> level) & 1)
        if not len(hit):
            continue
        composite = (positions >> level) * span + ranks
        sort = np.argsort(composite, kind="stable")
        cumulative = _cumulative(weights[sort])
        composite = composite[sort]
        block = ((prefix[hit] >> level) - 1) * span  # the block of 2^level keys this bit adds
        high = np.searchsorted(composite, block + limits[hit])
        low = np.searchsorted(composite, block)
        result[hit] += cumulative[high] - cumulative[low]
    return result
