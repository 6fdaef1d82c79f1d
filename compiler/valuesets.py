"""Stage 1: the set of values every s-op can take, from the vocabulary and `max_seq_len`.

The sets may over-approximate (a value that never occurs only costs a hidden unit or a residual
dimension) but must never miss a value, since the compiled blocks are exact only on these sets.
A set is `None` when it is unbounded or too large to enumerate; blocks that need it then fail
with a CompileError naming the node.

Besides the value sets, the analysis keeps a table of *token-local* s-ops: those that are a
function of the token at the same position only (`tokens == "("`, `1 if x else 0`).  A linear
combination of aggregates over one selector whose values are token-local is the aggregate of a
token-local combination, whose means are few (`frac_open - frac_close` takes the values s/n),
where the product of the two mean sets would be huge.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from compiler.budget import DEFAULT_BUDGET, VALUE_COST, value_allowance
from compiler.errors import fail
from rasp import ir
from rasp.values import all_integers, all_numbers, is_number, read_token

#: Largest value set (or product of input value sets) the analysis enumerates.
MAX_VALUES = 200_000

#: Values per position a linear combination of positions may take past MAX_VALUES
#: (`2 * b - indices` ranges over about 3n values).
POSITION_VALUES = 4



class Unenumerable(Exception):
    """An Interval was asked for its values one by one (a table over it): lowering refuses the
    s-op that asked, by name (`compiler.lowering`)."""

    def __init__(self, interval: Interval):
        super().__init__(f"every integer from {interval.low:,} to {interval.high:,}")
        self.interval = interval


@dataclass(frozen=True)
class Interval:
    """Every integer from `low` to `high`: the value set of a position, a count or a sum of
    them in a length-free compile (`analyse(..., length_free=True)`), held as its two ends so
    that compiling at 2^26 positions costs what 2^10 does.  It answers membership, size and
    its ends at once; listing its values (what a table over them would need) is refused past
    MAX_VALUES with `Unenumerable`, which lowering turns into a refusal naming the s-op."""

    low: int
    high: int
    integers_only = True  # what rasp.values.all_numbers and all_integers read instead of walking it

    def __contains__(self, value: object) -> bool:
        return is_number(value) and float(value).is_integer() and self.low <= value <= self.high  # type: ignore[operator]

    def __len__(self) -> int:
        return max(0, self.high - self.low + 1)

    def __iter__(self) -> Iterator[int]:
        if len(self) > MAX_VALUES:
            raise Unenumerable(self)
        return iter(range(self.low, self.high + 1))

    def __or__(self, other: Iterable[Any]) -> Interval:
        """The smallest interval holding both (a superset: value sets may over-approximate)."""
        return hull(self, other)

    __ror__ = __or__

    @property
    def largest(self) -> int:
        """The largest absolute value."""
        return max(abs(self.low), abs(self.high))


def hull(*sets: Iterable[Any]) -> Interval:
    """The smallest Interval holding every set (Intervals or sets of integers)."""
    lows, highs = [], []
    for values in sets:
        if isinstance(values, Interval):
            lows.append(values.low)
            highs.append(values.high)
        else:
            numbers = list(values)
            if not (all_numbers(numbers) and all_integers(numbers)):
                raise TypeError("only integers join an interval")
            lows.append(int(min(numbers)))
            highs.append(int(max(numbers)))
    return Interval(min(lows), max(highs))


ValueSet = frozenset | Interval | None
Positional = tuple[frozenset, ...] | None  # the value set at each position, or None


@dataclass(frozen=True)
class ValueSets:
    """Stage 1's result: the value set of every s-op node reachable from the root, the
    token-local tables and the per-position sets, all read-only.  Lowering, which makes a few
    s-ops of its own (joints of keys, flags of filters), gets their sets from `extended`."""

    vocab: tuple[Any, ...]
    max_seq_len: int
    causal: bool
    values: Mapping[ir.Node, ValueSet]
    local: Mapping[ir.Node, Mapping[Any, Any] | None]
    positional: Mapping[ir.Node, Positional]
    budget: int = DEFAULT_BUDGET  # which bounds every set the analysis holds (value_allowance)
    length_free: bool = False  # positions and counts as Intervals (`analyse`)

    def __getitem__(self, node: ir.Node) -> ValueSet:
        return self.values[node]

    def known(self, node: ir.Node) -> frozenset:
        """The value set of `node`, or a CompileError when it is unbounded."""
        values = self[node]
        if values is None:
            # name the first node (inputs first) whose set is unknown: the origin of the problem
            culprit = next(
                n for n in ir.walk(node) if not isinstance(n, ir.Selector) and self.values[n] is None
            )
            what = "its value set" if culprit is node else f"the value set of its input {culprit.label}"
            why = f"is unbounded or larger than {MAX_VALUES} values"
            if self.length_free:
                why += (
                    " (a length-free compile holds positions and counts as intervals, and keeps only what "
                    "integer sums, shifts and choices make of them: docs/compiler.md, Length-free compiles)"
                )
            error = fail(node, f"{what} {why}")
            raise error.at(culprit.origin)
        return values

    def extended(self, root: ir.Node) -> ValueSets:
        """These value sets and those of every node below `root` (a new object)."""
        analysis = _Analysis(
            self.vocab,
            self.max_seq_len,
            self.causal,
            dict(self.values),
            dict(self.local),
            dict(self.positional),
            self.budget,
            length_free=self.length_free,
        )
        analysis.add(root)
        return analysis.finish()


@dataclass
class _Analysis:
    """The analysis at work: tables filled in children before parents."""

    vocab: tuple[Any, ...]
    max_seq_len: int
    causal: bool = False
    values: dict[ir.Node, ValueSet] = field(default_factory=dict)
    local: dict[ir.Node, dict[Any, Any] | None] = field(default_factory=dict)
    positional: dict[ir.Node, Positional] = field(default_factory=dict)
    budget: int = DEFAULT_BUDGET
    root: ir.Node | None = None  # of the walk under way, whose nodes a refusal may name
    length_free: bool = False

    def finish(self) -> ValueSets:
        return ValueSets(
            self.vocab,
            self.max_seq_len,
            self.causal,
            MappingProxyType(self.values),
            MappingProxyType(self.local),
            MappingProxyType(self.positional),
            self.budget,
            self.length_free,
        )

    def add(self, root: ir.Node) -> None:
        """Analyse `root` and everything below it (nodes already analysed are kept)."""
        self.root = root
        for node in ir.walk(root, stop=lambda n: n in self.values):
            if node in self.values or isinstance(node, ir.Selector):
                continue
            self.local[node] = self._local(node)
            self.positional[node] = self._positional(node)
            values = self._values(node)
            by_position = self.positional[node]
            if by_position is not None:  # two supersets of the true set: keep what both allow
                union = frozenset().union(*by_position)
                values = union if values is None else values & union
            self.values[node] = values

    # ------------------------------------------------------------------ token-local tables

    def _local(self, node: ir.Node) -> dict[Any, Any] | None:
        if isinstance(node, ir.Tokens):
            return {token: _read_vocabulary_token(node, token) for token in self.vocab}
        if isinstance(node, ir.Full):
            return {token: node.value for token in self.vocab}
        if isinstance(node, (ir.Map, ir.SequenceMap)):
            tables = [self.local.get(child) for child in node.children]
            if any(table is None for table in tables):
                return None
            result = {}
            for token in self.vocab:
                try:
                    result[token] = _call(node, [table[token] for table in tables])
                except Exception:  # the interpreter fails on this token: it never yields a value
                    continue
            return result
        return None

    # --------------------------------------------------------------- per-position value sets

    def _positional(self, node: ir.Node) -> Positional:
        """The values `node` can take at each position i < max_seq_len, when that is narrower
        than one set for all positions: positions themselves, causal counts (at most i + 1),
        what is computed from them, and prefix means, whose denominator is the position plus
        one.  `(indices + 1) * frac`,
        the RASP paper's count, is then an integer at every position, not any product of a
        position and a fraction.  Past MAX_VALUES values in all (long lengths) there are
        none: every s-op computed from them would exceed that bound too."""
        n = self.max_seq_len
        if self.length_free:
            return None
        if isinstance(node, (ir.Indices, ir.Length)):
            total = n if self.causal or isinstance(node, ir.Indices) else n * (n + 1) // 2
            if total > MAX_VALUES:
                return None
        if isinstance(node, ir.Indices):
            return tuple(frozenset([i]) for i in range(n))
        if isinstance(node, ir.SelectorWidth) and self.causal:  # the query at i sees keys 0..i
            if n * (n + 3) // 2 > MAX_VALUES:
                return None
            return tuple(frozenset(range(i + 2)) for i in range(n))
        if isinstance(node, ir.Length):  # the input reaches past position i
            return tuple(frozenset([i + 1] if self.causal else range(i + 1, n + 1)) for i in range(n))
        if isinstance(node, ir.Map) and self.positional.get(node.inner) is not None:
            return _per_position(node, [[values] for values in self.positional[node.inner]])
        if isinstance(node, ir.SequenceMap):
            inputs = [self.positional.get(child) for child in node.inputs]
            if all(p is None for p in inputs) or any(
                p is None and self.values[child] is None for p, child in zip(inputs, node.inputs)
            ):
                return None
            rows = [
                [p[i] if p is not None else self.values[child] for p, child in zip(inputs, node.inputs)]
                for i in range(n)
            ]
            return _per_position(node, rows)
        if isinstance(node, ir.Aggregate):
            return self._prefix_means(node)
        return None

    def _prefix_means(self, node: ir.Aggregate) -> Positional:
        """Means over select(indices, indices, <=) (or <) of integers: the query at i selects
        exactly the keys 0..i (0..i-1), so its mean is s/(i+1) (s/i) for an integer sum s."""
        selector = node.selector
        if not (
            isinstance(selector, ir.Select)
            and selector.op in ("<=", "<")
            and isinstance(selector.keys, ir.Indices)
            and isinstance(selector.queries, ir.Indices)
        ):
            return None
        values = self.values[node.sop]
        if values is None or not numeric_aggregate(node, values) or len(values) == 1:
            return None
        if not all(float(v).is_integer() for v in values):
            return None
        low, high = int(min(values)), int(max(values))
        strict = selector.op == "<"
        if sum(width * (high - low) + 1 for width in range(1, self.max_seq_len + 1)) > MAX_VALUES:
            return None
        result = []
        for i in range(self.max_seq_len):
            width = i if strict else i + 1
            if width == 0:
                result.append(frozenset([node.default]))
                continue
            means = {total * 1.0 / width for total in range(width * low, width * high + 1)}
            if width == 1:  # one key: the aggregate copies the value itself
                means |= set(values)
            result.append(frozenset(means))
        return tuple(result)

    # -------------------------------------------------------------------------- value sets

    def _values(self, node: ir.Node) -> ValueSet:
        n = self.max_seq_len
        local = self.local.get(node)
        if local is not None:
            try:
                return frozenset(local.values())
            except TypeError:
                raise fail(
                    node, "it produces unhashable values (lists or dicts), which have no encoding"
                ) from None
        if self.length_free:
            interval = self._interval(node)
            if interval is not None:
                return interval
            if isinstance(node, ir.Map) and node.compare is not None and isinstance(self.values[node.inner], Interval):
                return frozenset({True, False})
            if any(isinstance(self.values[child], Interval) for child in _sop_inputs(node)):
                return None  # no enumerable superset: a consumer that needs one refuses
        if isinstance(node, ir.Indices):
            self._admit(node, n)
            return frozenset(range(n))
        if isinstance(node, ir.Length):
            self._admit(node, n)
            return frozenset(range(1, n + 1))
        if isinstance(node, ir.SelectorWidth):
            self._admit(node, n + 1)
            return frozenset(range(n + 1))
        if isinstance(node, ir.Map):
            if counted_mean(node, self.values, n) is not None:  # g of a count 0..n
                return _image(node, [range(n + 1)])
            inner = self.values[node.inner]
            if inner is None:
                return None
            if node.affine is not None:  # of positions: one value per value of its input
                try:
                    image = frozenset(map(node.fn, inner))
                except Exception:  # fn fails on some value: leave those out, one by one
                    return _image(node, [inner], self._position_limit())
                return image if len(image) <= self._position_limit() else None
            return _image(node, [inner])
        if isinstance(node, ir.SequenceMap):
            return self._sequence_map(node)
        if isinstance(node, ir.Aggregate):
            values = self.values[node.sop]
            if values is None:
                return None
            if numeric_aggregate(node, values) and not selects_at_most_one(node.selector, self.causal):
                single = self._one_hot_means(node)
                return single if single is not None else _with(means(values, n), node.default)
            return _with(values, node.default)
        raise TypeError(f"unknown s-op node {type(node).__name__}")

    def _interval(self, node: ir.Node) -> Interval | None:
        """A length-free compile's Interval for `node`: positions, lengths and counts, and
        what integer coefficients, integer shifts and choices make of Intervals and of small
        sets of integers (a hull: a superset of the true values).  None where the node takes
        no Interval: its set is enumerated as usual, or, where an input is an Interval,
        unknown."""
        n = self.max_seq_len
        if isinstance(node, ir.Indices):
            return Interval(0, n - 1)
        if isinstance(node, ir.Length):
            return Interval(1, n)
        if isinstance(node, ir.SelectorWidth):
            return Interval(0, n)
        inputs = [self.values[child] for child in _sop_inputs(node)]
        if not any(isinstance(values, Interval) for values in inputs) or any(values is None for values in inputs):
            return None
        if isinstance(node, ir.Map) and node.affine is not None:
            slope, offset = node.affine
            if float(slope).is_integer() and float(offset).is_integer():
                ends = (slope * inputs[0].low + offset, slope * inputs[0].high + offset)  # type: ignore[union-attr]
                return Interval(int(min(ends)), int(max(ends)))
            return None
        try:
            if isinstance(node, ir.SequenceMap) and node.linear is not None:
                if all(float(c).is_integer() for c in node.linear):
                    parts = [hull(values) for values in inputs]
                    lows = [min(c * part.low, c * part.high) for c, part in zip(node.linear, parts)]
                    highs = [max(c * part.low, c * part.high) for c, part in zip(node.linear, parts)]
                    return Interval(int(sum(lows)), int(sum(highs)))
            if isinstance(node, ir.SequenceMap) and node.choice:
                return hull(inputs[1], inputs[2])
            if isinstance(node, ir.Aggregate) and selects_at_most_one(node.selector, self.causal):
                return hull(inputs[0], [node.default])
        except TypeError:  # values that are not integers
            return None
        return None

    def _admit(self, node: ir.Node, count: int) -> None:
        """Refuses `node` before its value set of `count` values exists, when the budget does
        not allow the compiler to hold that many (value_allowance).  Sets over positions are the
        ones that grow so, with the length: `indices` alone holds max_seq_len values.  The
        refusal names the node, or, for `indices` and `length`, which have no place in the
        source, the first s-op of the program that reads it."""
        allowance = value_allowance(self.budget)
        if count <= allowance:
            return
        reader = node
        if node.origin is None and self.root is not None:
            readers = (n for n in ir.walk(self.root) if n.origin is not None and node in n.children)
            reader = next(readers, node)
        what = "its value set" if reader is node else f"the value set of its input {node.label}"
        raise fail(
            reader,
            f"{what} would hold {count:,} values at max_seq_len {self.max_seq_len:,}, more than the "
            f"{allowance:,} the budget of {self.budget:,} parameters lets the compiler hold (a value costs "
            f"the memory of {VALUE_COST} parameters): compile for a shorter length, or raise the budget "
            "with compile(..., budget=N) or --budget N",
        )

    def _position_limit(self) -> int:
        """The most values a linear combination of positions may take (past MAX_VALUES at
        long lengths: a few per position)."""
        return max(MAX_VALUES, POSITION_VALUES * (self.max_seq_len + 1))

    def _one_hot_means(self, node: ir.Aggregate) -> ValueSet:
        """Means of an s-op that is nonzero at one position p only (`indicator(indices == 0)`):
        v/w for a width w <= n, or 0, or the default.  `1/aggregate(s or select(indices, 0,
        ==), indicator(indices == 0))`, the RASP paper's selector width through a BOS, is then
        a reciprocal of a count."""
        by_position = self.positional.get(node.sop)
        if by_position is None:
            return None
        nonzero = [values for values in by_position if values != {0}]
        if len(nonzero) != 1 or len(nonzero[0]) != 1:
            return None
        (value,) = nonzero[0]
        if not is_number(value) or not is_number(node.default):
            return None
        widths = range(1, self.max_seq_len + 1)
        self._admit(node, len(widths) + 3)
        return frozenset({value * 1.0 / w for w in widths} | {value, 0, node.default})

    def _sequence_map(self, node: ir.SequenceMap) -> ValueSet:
        fused = self._fused_aggregates(node)
        if fused is not None:
            return fused
        inputs = [self.values[child] for child in node.inputs]
        if any(values is None for values in inputs):
            return None
        if int(np.prod([len(values) for values in inputs], dtype=float)) <= MAX_VALUES:
            return _image(node, inputs)
        if node.linear is not None and all(all_numbers(values) for values in inputs):
            limit = self._position_limit()
            total = np.zeros(1)
            for coefficient, values in zip(node.linear, inputs):
                total = _sums(total, coefficient * np.array(sorted(values), float), limit)
                if total is None or total.size > limit:
                    return None
            self._admit(node, total.size)
            return frozenset(total.tolist())
        return None

    def _fused_aggregates(self, node: ir.SequenceMap) -> ValueSet:
        """Values of sum(c_k * aggregate(S, v_k)) when every aggregate shares S and every v_k is
        token-local: the means of the token-local values sum(c_k * v_k)."""
        if node.linear is None or not all(isinstance(child, ir.Aggregate) for child in node.inputs):
            return None
        aggregates: list[ir.Aggregate] = list(node.inputs)  # type: ignore[arg-type]
        tables = [self.local.get(agg.sop) for agg in aggregates]
        if not all(same_selector(aggregates[0].selector, agg.selector) for agg in aggregates):
            return None
        if any(t is None for t in tables):
            return None
        if not all(is_number(agg.default) for agg in aggregates):
            return None
        try:
            combined = {
                sum(c * table[token] for c, table in zip(node.linear, tables))
                for token in self.vocab
                if all(token in table for table in tables)
            }
        except TypeError:  # values that do not add (strings): no mean to fuse
            return None
        if not all(is_number(v) for v in combined):
            return None
        default = sum(c * agg.default for c, agg in zip(node.linear, aggregates))
        return _with(means(frozenset(combined), self.max_seq_len), default)


def counted_mean(node: ir.Map, values: Mapping[ir.Node, ValueSet], max_seq_len: int) -> ir.SOp | None:
    """x when `node` is `g(length * aggregate(every key, x))` with x in {0, 1} and g cannot tell
    the product from the count of the keys where x is 1, else None.

    Every key selected means `length` keys, so at a length l the mean is s / l for a count s
    and the product is s up to float rounding (49 * (1/49) is 0.9999999999999999): the RASP
    paper's `round(length * frac)`.  g(product(l, s / l)) == g(s) is checked for every l up to
    max_seq_len and every s from 0 to l, so `round` passes and `== 1` does not.  The lowering
    then reads g of a selector width (`compiler.maps`), and the value set is g of 0..n, where
    the product's own set (every length times every mean) grows past MAX_VALUES by n = 100."""
    product = node.inner
    if not (isinstance(product, ir.SequenceMap) and len(product.inputs) == 2):
        return None
    if max_seq_len * (max_seq_len + 3) // 2 > MAX_VALUES:
        return None
    for position, (length, mean) in enumerate((product.inputs, product.inputs[::-1])):
        if not (
            isinstance(length, ir.Length)
            and isinstance(mean, ir.Aggregate)
            and _selects_every_key(mean.selector)
            and is_number(mean.default)
        ):
            continue
        counted = values.get(mean.sop)
        if counted is None or not all_numbers(counted) or not set(counted) <= {0, 1}:
            continue
        if all(
            _same_result(node.fn, product.fn, (size, count / size)[:: 1 if position == 0 else -1], count)
            for size in range(1, max_seq_len + 1)
            for count in range(size + 1)
        ):
            return mean.sop
    return None


def _selects_every_key(selector: ir.Selector) -> bool:
    """`select(a, b, op)` of two constants that op relates (`select(1, 1, ==)`): every key."""
    if not (isinstance(selector, ir.Select) and isinstance(selector.keys, ir.Full)):
        return False
    if not isinstance(selector.queries, ir.Full):
        return False
    try:
        return bool(ir.COMPARISONS[selector.op](selector.keys.value, selector.queries.value))
    except Exception:
        return False


def _same_result(fn: Any, product: Any, arguments: tuple[Any, Any], count: int) -> bool:
    """Whether fn(product(*arguments)) and fn(count) are equal and of one type, or both fail."""
    results = []
    for compute in (lambda: fn(product(*arguments)), lambda: fn(count)):
        try:
            results.append(compute())
        except Exception:
            results.append(_FAILS)
    left, right = results
    return left is right if _FAILS in (left, right) else type(left) is type(right) and left == right


_FAILS = object()  # fn raised


def same_selector(left: ir.Node, right: ir.Node) -> bool:
    """Two selectors built alike from the same s-ops (two `select(indices, indices, <=)` calls
    give two nodes that select the same positions)."""
    if left.uid == right.uid:
        return True
    if isinstance(left, ir.Full) and isinstance(right, ir.Full):  # each `select(x, 1, ==)` has its own 1
        return type(left.value) is type(right.value) and left.value == right.value
    if type(left) is not type(right) or not isinstance(left, ir.Selector):
        return False
    if isinstance(left, ir.Select) and left.op != right.op:  # type: ignore[attr-defined]
        return False
    return all(same_selector(a, b) for a, b in zip(left.children, right.children))


def selects_at_most_one(selector: ir.Selector, causal: bool) -> bool:
    """Whether `selector` selects at most one key for every query, on every input: then an
    aggregate copies a value (or gives its default) and never averages, so its value set is
    its input's, not every mean of it.  Three sufficient reasons:

    - a conjunct `select(k, q, ==)` whose keys differ at every position: `indices`, or an
      affine map of it (`shift`'s `indices + n`);
    - a conjunct `select(K, q, ==)` beside a filter that passes only the first (or the last)
      key of each value of K (`first_of_value`): the RASP-L library's `firsts`;
    - in causal evaluation, a conjunct `select(c, q, ==)` whose keys are counts that differ
      between any two keys the selector can select together (`distinct_counts`): the RASP-L
      library's `lasts`, `keyed_latest`, the Turing program's `at_b`.
    """
    conjuncts = list(conjuncts_of(selector))
    for conjunct in conjuncts:
        if not (isinstance(conjunct, ir.Select) and conjunct.op == "=="):
            continue
        if _injective_in_position(conjunct.keys):
            return True
        if causal and distinct_counts(conjunct.keys, conjuncts):
            return True
        if any(first_of_value(other, conjunct.keys, causal) for other in conjuncts):
            return True
    return False


def distinct_counts(counts: ir.SOp, conjuncts: list[ir.Selector]) -> bool:
    """Whether `counts` is `selector_width(C)` (in causal evaluation) where every conjunct of C
    is either a key filter that is also one of `conjuncts`, or `select(K, K, ==)` for a K that
    one of `conjuncts` matches by equality (`select(K, Q, ==)`).

    Then any two keys j < j' that the conjunction selects for one query pass C's filters and
    share each such K (both equal the query's Q), so C at j' counts j' and every key C counts
    at j: the counts differ, and `select(counts, w, ==)` keeps at most one of them.  With no K,
    `select(c, w, ==) and f` for `c = selector_width(f)` (the Turing program's `at_b`); with K
    and no filter, the latest key of a value (`select(K, Q, ==) and select(c, seen, ==)`)."""
    if not isinstance(counts, ir.SelectorWidth):
        return False
    matched = [c.keys for c in conjuncts if isinstance(c, ir.Select) and c.op == "=="]
    for part in conjuncts_of(counts.selector):
        if _key_filter(part) and any(same_selector(part, c) for c in conjuncts):
            continue
        if (
            isinstance(part, ir.Select)
            and part.op == "=="
            and same_selector(part.keys, part.queries)
            and any(same_selector(keys, part.keys) for keys in matched)
        ):
            continue
        return False
    return True


def first_of_value(filter_: ir.Selector, value: ir.SOp, causal: bool) -> bool:
    """Whether `filter_` passes only keys that no earlier key (or no later key) equals in
    `value`: `select(flag, T, ==)` with `flag = g(aggregate(S, 1, 0))`, S the conjunction of
    `select(value, value, ==)` and `select(indices, indices, <)` (or `>`), and g(1) != T.  The
    aggregate is 1 where an earlier (later) key has the same value and 0 where none has, so
    the passing keys are the first (last) of their value: one per value.  (`not
    has_focus(...)`, the RASP-L library's `firsts`.)  In causal evaluation only `<`: a
    position sees no later key there, so `>` makes the aggregate 0 everywhere."""
    if not (_key_filter(filter_) and filter_.op == "=="):  # type: ignore[attr-defined]
        return False
    wanted = filter_.queries.value  # type: ignore[attr-defined]
    flag, chain = filter_.keys, []  # type: ignore[attr-defined]
    while isinstance(flag, ir.Map):
        chain.append(flag.fn)
        flag = flag.inner
    if not (
        isinstance(flag, ir.Aggregate)
        and isinstance(flag.sop, ir.Full)
        and _same_number(flag.sop.value, 1)
        and _same_number(flag.default, 0)
    ):
        return False
    parts = list(conjuncts_of(flag.selector))
    same = [
        p
        for p in parts
        if isinstance(p, ir.Select)
        and p.op == "=="
        and same_selector(p.keys, value)
        and same_selector(p.queries, value)
    ]
    order = [
        p
        for p in parts
        if isinstance(p, ir.Select)
        and p.op in (("<",) if causal else ("<", ">"))
        and isinstance(p.keys, ir.Indices)
        and isinstance(p.queries, ir.Indices)
    ]
    if not (len(parts) == 2 and same and order):
        return False
    try:
        seen = [_apply(chain, one) for one in (1, 1.0)]
    except Exception:  # g fails on the aggregate's values: no claim
        return False
    plain = (bool, int, float)  # values whose == is the interpreter's select's
    return isinstance(wanted, plain) and all(isinstance(v, plain) and v != wanted for v in seen)


def _apply(chain: list[Any], value: Any) -> Any:
    """The maps of `chain` (outermost first) applied to `value`."""
    for fn in reversed(chain):
        value = fn(value)
    return value


def _same_number(value: Any, number: int) -> bool:
    return is_number(value) and value == number


def keyed_latest(selector: ir.Selector) -> tuple[ir.Select, ir.Select] | None:
    """(`select(K, Q, ==)`, `f`) when `selector` is the keyed latest match

        select(K, Q, ==) and f and select(v, w, ==)
        with v = selector_width(select(K, K, ==) and f), w = selector_width(select(K, Q, ==) and f)

    (conjuncts in any order) and `f` filters keys alone.  In causal evaluation v at a passing
    key counts the passing keys at or before it with the same K, so the passing keys of one K
    carry the counts 1, 2, 3, ... in order, and w at the query counts those whose K is the
    query's Q: the one passing key with K = Q whose count is w is the latest of them.  It
    selects that key, or none.  (`programs/turing_compact.rasp` reads the tape so.)"""
    conjuncts = list(conjuncts_of(selector))
    counts = [c for c in conjuncts if isinstance(c, ir.Select) and c.op == "=="]
    for count in counts:
        visits, seen = count.keys, count.queries
        if not (isinstance(visits, ir.SelectorWidth) and isinstance(seen, ir.SelectorWidth)):
            continue
        rest = [c for c in conjuncts if c is not count]
        if len(rest) != 2:
            continue
        for match, passing in (rest, rest[::-1]):
            if not (isinstance(match, ir.Select) and match.op == "==" and _key_filter(passing)):
                continue
            own = ir.SelectorAnd(ir.Select(match.keys, match.keys, "=="), passing)
            if _same_conjuncts(visits.selector, own) and _same_conjuncts(seen.selector, ir.SelectorAnd(match, passing)):
                return match, passing  # type: ignore[return-value]
    return None


def _same_conjuncts(left: ir.Selector, right: ir.Selector) -> bool:
    """Two conjunctions of the same selectors, in any order."""
    mine, theirs = list(conjuncts_of(left)), list(conjuncts_of(right))
    return len(mine) == len(theirs) and all(any(same_selector(a, b) for b in theirs) for a in mine)


def conjuncts_of(selector: ir.Selector) -> Iterable[ir.Selector]:
    if isinstance(selector, ir.SelectorAnd):
        yield from conjuncts_of(selector.left)
        yield from conjuncts_of(selector.right)
    else:
        yield selector


def _key_filter(selector: ir.Selector) -> bool:
    """A select whose query side is a constant: whether a key passes depends on the key alone."""
    return isinstance(selector, ir.Select) and isinstance(selector.queries, ir.Full)


def _injective_in_position(sop: ir.SOp) -> bool:
    """Values that differ at every two positions: indices and its affine maps a*i + b, a != 0."""
    while isinstance(sop, ir.Map) and sop.affine is not None and sop.affine[0] != 0:
        sop = sop.inner
    return isinstance(sop, ir.Indices)


def value_order(values: Iterable[Any]) -> list[Any]:
    """A deterministic order of a value set of any types (numbers in numeric order)."""
    return sorted(
        values, key=lambda v: (type(v).__name__ if not is_number(v) else "", v if is_number(v) else repr(v))
    )


def numeric_aggregate(node: ir.Aggregate, values: Iterable[Any]) -> bool:
    """An aggregate is numerical (it averages) when its values and its default are numbers."""
    return is_number(node.default) and all_numbers(values)


def means(values: frozenset, max_seq_len: int) -> ValueSet:
    """Every mean of 1..max_seq_len values drawn from `values` (with repetition), when the set
    is a set of integers of small range; None otherwise (a single value is its own mean)."""
    if len(values) == 1:
        return values
    if not all_integers(values):
        step = _common_step(values)
        if step is None:
            return None
        scaled = means(frozenset(round(v / step) for v in values), max_seq_len)
        return None if scaled is None else frozenset(v * step for v in scaled) | values
    low, high = int(min(values)), int(max(values))
    if sum(k * (high - low) + 1 for k in range(1, max_seq_len + 1)) > MAX_VALUES:
        return None
    result = set(values)
    for count in range(2, max_seq_len + 1):
        result.update(total / count for total in range(count * low, count * high + 1))
    return frozenset(result)


def _common_step(values: frozenset) -> float | None:
    """1/d for the smallest d <= 1000 that makes every value an integer (0.5 for {2.5, 0}),
    or None: means of such values are means of integers, divided by d."""
    for denominator in range(2, 1001):
        if all(abs(v * denominator - round(v * denominator)) < 1e-9 for v in values):
            return 1.0 / denominator
    return None


def integer_means(node: ir.Aggregate, sets: ValueSets) -> bool:
    """Whether a mean whose values were not enumerated is one of integers (and so a fraction
    with denominator at most n, which is how the model's output is read)."""
    values = sets[node.sop]
    return values is not None and all_integers((*values, node.default))


def _sums(left: np.ndarray, right: np.ndarray, limit: int = MAX_VALUES * 10) -> np.ndarray | None:
    """Every x + y with x from `left` and y from `right`, sorted and distinct, without forming
    all |left| * |right| pairs when both are integers: positions meet in sums and differences
    (`b - pb - 1`), whose sets are integer ranges of up to 2n values.  None (unknown) where
    the pairs or the integer range would take more than MAX_VALUES * 10 (or `limit`) numbers
    of memory.  Integer sets meet in a convolution of their indicators, by FFT: O(R log R) for
    a range of R, where `2 * x - indices` has sets of up to 2n values at every length."""
    left, right = np.unique(left), np.unique(right)
    if not (np.all(np.mod(left, 1) == 0) and np.all(np.mod(right, 1) == 0)):
        if len(left) * len(right) > MAX_VALUES * 10:
            return None
        return np.unique(np.add.outer(left, right))
    low = left[0] + right[0]
    if len(left) == 1 or len(right) == 1:
        return left + right
    if len(left) == left[-1] - left[0] + 1 and len(right) == right[-1] - right[0] + 1:  # two ranges
        return np.arange(low, left[-1] + right[-1] + 1)
    if max(left[-1] - left[0], right[-1] - right[0]) > max(MAX_VALUES * 10, limit):
        return None
    for values, interval in ((left, right), (right, left)):
        if len(interval) == interval[-1] - interval[0] + 1:  # a set plus a range: a union of ranges
            return _plus_range(values, interval[0], interval[-1])
    first, second = _indicator(left), _indicator(right)
    size = len(first) + len(second) - 1
    length = 1 << (size - 1).bit_length()
    # counts of each sum, from `low` up: integers, which the FFT's rounding (far below 1/2 for
    # counts of a few million) cannot move across the threshold
    hits = np.fft.irfft(np.fft.rfft(first, length) * np.fft.rfft(second, length), length)[:size]
    return low + np.flatnonzero(hits > 0.5).astype(float)


def _plus_range(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """The integers v + r, v from `values` (sorted integers), low <= r <= high: the ranges
    [v + low, v + high] marked in one array of the span."""
    base = values[0] + low
    starts = (values + low - base).astype(np.int64)
    marks = np.bincount(starts, minlength=int(values[-1] - values[0] + high - low) + 2)
    marks[: len(marks) - 1] -= np.bincount(starts + int(high - low) + 1, minlength=len(marks))[: len(marks) - 1]
    return base + np.flatnonzero(np.cumsum(marks)[:-1] > 0).astype(float)


def _indicator(values: np.ndarray) -> np.ndarray:
    result = np.zeros(int(values[-1] - values[0]) + 1)
    result[(values - values[0]).astype(int)] = 1.0
    return result


def _per_position(node: ir.Node, rows: list[list[frozenset]]) -> Positional:
    """fn over the product of the input sets at each position, or None past MAX_VALUES in all."""
    if sum(math.prod(len(values) for values in row) for row in rows) > MAX_VALUES:
        return None
    result = [_image(node, row) for row in rows]
    return None if any(values is None for values in result) else tuple(result)  # type: ignore[misc]


def _read_vocabulary_token(node: ir.Tokens, token: Any) -> Any:
    """A vocabulary token as `tokens_<kind>` reads it; a token it cannot read is refused, since
    every input holding it would fail (`--vocab 1,2,x` for a program of `tokens_int`)."""
    try:
        return read_token(token, node.kind)
    except (TypeError, ValueError, OverflowError):  # int(inf) overflows
        raise fail(
            node, f"the vocabulary token {token!r} cannot be read as tokens_{node.kind}: leave it out of the vocabulary"
        ) from None


def _sop_inputs(node: ir.Node) -> list[ir.Node]:
    """The s-ops a node reads directly (an aggregate's selector is not one)."""
    return [child for child in node.children if not isinstance(child, ir.Selector)]


def _with(values: ValueSet, extra: Any) -> ValueSet:
    return None if values is None else values | {extra}


def _call(node: ir.Node, args: list[Any]) -> Any:
    return node.fn(*args)  # type: ignore[attr-defined]


def _image(node: ir.Node, inputs: list[Iterable[Any]], limit: int = MAX_VALUES) -> ValueSet:
    """fn over every argument tuple of the product of the input sets; tuples on which fn fails
    are left out (the interpreter fails on an input where they occur, so the model's output
    there is unconstrained).  One pass without a Python frame per tuple first (sets of
    positions hold millions of values); if fn fails somewhere or a value is unhashable, tuple
    by tuple, which leaves those tuples out or names the value."""
    try:
        fn = node.fn  # type: ignore[attr-defined]
        image = set(map(fn, inputs[0]) if len(inputs) == 1 else itertools.starmap(fn, itertools.product(*inputs)))
    except Exception:  # redone tuple by tuple below
        pass
    else:
        return frozenset(image) if len(image) <= limit else None
    result = set()
    for args in itertools.product(*inputs):
        try:
            value = _call(node, list(args))
        except Exception:
            continue
        try:
            result.add(value)
        except TypeError:
            raise fail(node, f"it produces the unhashable value {value!r}, which has no encoding") from None
        if len(result) > limit:
            return None
    return frozenset(result)


def analyse(
    root: ir.Node,
    vocab: Iterable[Any],
    max_seq_len: int,
    causal: bool = False,
    budget: int = DEFAULT_BUDGET,
    length_free: bool = False,
) -> ValueSets:
    """Stage 1: the value sets of every s-op below `root` (for causal evaluation when `causal`,
    which some selectors need to be known to select at most one key), computed up front.  A
    set larger than `budget` allows (value_allowance) is refused before it exists.  With
    `length_free`, positions, counts and their integer combinations are Intervals, whatever
    max_seq_len is."""
    analysis = _Analysis(
        vocab=tuple(vocab), max_seq_len=max_seq_len, causal=causal, budget=budget, length_free=length_free
    )
    analysis.add(root)
    return analysis.finish()
