"""Stage 2: encodings and lowering.  Every s-op gets a representation over named residual
dimensions (`Rep`), created on demand; the operations that need computation become blocks.

Encodings (see docs/compiler.md):
- categorical: one indicator functional per value.  Tokens, constants, maps of categorical
  s-ops (free: an indicator of f(x) is a sum of indicators of x), categorical MLP outputs and
  aggregates of non-numbers.
- numerical: one functional.  Indices and length (positions never take one dimension per value
  unless an order comparison needs it), selector widths, numerical aggregates, affine maps and
  linear sequence maps (free), numerical MLP outputs.  A categorical s-op with numeric values is
  also numerical for free (sum of value * indicator).

Blocks: `aggregate` and `selector_width` become attention heads (selectors become bilinear
scores, see `scores.py`), non-linear maps and sequence maps become MLPs.  `length` is a head
that averages positions (the mean of 0..n is n/2) and needs no MLP; in causal mode it is
`indices + 1` and needs nothing.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from compiler import budget, margins, mlps
from compiler.blocks import BOS, ONE, Block, Functional, HeadBlock, MLPBlock, Unit, combine, constant
from compiler.errors import fail
from compiler.margins import AGGREGATE_TOLERANCE, MIXTURE_THRESHOLD
from compiler.scores import Score, ScoreBuilder
from compiler.valuesets import MAX_VALUES, ValueSets, numeric_aggregate
from compiler.valuesets import value_order as _value_order
from rasp import ir
from rasp.values import is_number

INDICES = "indices"
INDICES_SQUARED = "indices^2"

@dataclass
class HeadSource:
    """The head an s-op is read from, with what its error bound depends on (see margins)."""

    head: HeadBlock
    value_bound: float
    bos_gap: float
    score_error: float

    def error(self, n: int) -> float:
        return margins.head_error(n, self.value_bound, self.head.scale, self.bos_gap, self.score_error)


@dataclass
class Rep:
    """How one s-op lives in the residual stream.  `exact` is False when the numerical form
    passed through attention (and so may carry a small softmax error); its error bound is
    `source`'s leak (when read from a head) plus sum(c * error of s) over `inherits`, the
    s-ops whose errors it carries (see `Lowering.error`)."""

    values: frozenset | None  # None: a numerical aggregate whose many means are not enumerated
    indicators: dict[Any, Functional] | None = None
    number: Functional | None = None
    square: Functional | None = None
    exact: bool = True
    snapped: Functional | None = None
    source: HeadSource | None = None
    inherits: tuple[tuple[float, ir.SOp], ...] = ()
    converted: bool = False  # the indicators were made from the number by an MLP (exactly)

    @property
    def numeric(self) -> bool:
        return self.values is None or all(is_number(v) for v in self.values)


def token_dim(token: Any) -> str:
    return f"tokens:{token}"


def index_dim(index: int) -> str:
    return f"indices={index}"


def _numeric_points(values: frozenset) -> np.ndarray:
    return np.array(sorted(float(v) for v in values))


class Lowering:
    """Builds the representation of every s-op and the blocks that compute them."""

    def __init__(self, sets: ValueSets, causal: bool, budget: int = budget.DEFAULT_BUDGET):
        self.sets = sets
        self.budget = budget
        self.causal = causal
        self.n = sets.max_seq_len
        self.reps: dict[ir.Node, Rep] = {}
        self.blocks: list[Block] = []
        self.labels: set[str] = {ONE, BOS}
        self.bounds: dict[str, float] = {ONE: 1.0, BOS: 1.0, INDICES: self.n, INDICES_SQUARED: self.n**2}
        self.writer: dict[str, ir.Node] = {}
        self.mixtures: list[tuple[str, list[str]]] = []
        self.joints: dict[tuple[int, ...], ir.SOp] = {}
        self.scores = ScoreBuilder(self)
        self.squared = _compared_by_equality(sets)
        self.affine: dict[ir.Node, tuple[float, float]] = {}  # maps lowered as a * x + b
        # (node, range, centre) -> its clamped value and square, both minus the centre
        self.clamps: dict[tuple[ir.Node, tuple[float, float], float], tuple[Functional, Functional]] = {}

    # ------------------------------------------------------------------------ bookkeeping

    def fresh(self, base: str) -> str:
        label = base
        suffix = 1
        while label in self.labels:
            suffix += 1
            label = f"{base}#{suffix}"
        self.labels.add(label)
        return label

    def bound(self, functional: Functional) -> float:
        """An upper bound of |functional| over every position (embedding dims default to 1)."""
        return sum(abs(c) * self.bounds.get(label, 1.0) for label, c in functional.items())

    def add_block(self, block: Block, node: ir.Node) -> None:
        self.blocks.append(block)
        for label in block.writes:
            self.writer[label] = node
        self.check_budget(node)

    def check_budget(self, node: ir.Node, units: int = 0) -> None:
        """Refuses `node` when the model built so far, plus `units` more MLP units, already has
        more parameters than the budget allows.  The residual width only grows, so this lower
        bound of the final count is safe to act on before anything is allocated."""
        width = len(self.labels) + len(self.sets.vocab)
        estimate = budget.parameters(self.blocks, width, extra_units=units)
        if estimate > self.budget:
            raise fail(
                node,
                f"the model would have at least {estimate:,} parameters, over the budget of "
                f"{self.budget:,} (raise it with compile(..., budget=N) or --budget N)",
            )

    # ----------------------------------------------------------------------- public forms

    def rep(self, node: ir.SOp) -> Rep:
        if node not in self.reps:
            self.reps[node] = self._lower(node)
        return self.reps[node]

    def number(self, node: ir.SOp) -> Functional:
        rep = self.rep(node)
        if rep.number is None:
            raise fail(node, "its values are not all numbers, so it has no numerical encoding")
        return rep.number

    def indicators(self, node: ir.SOp) -> dict[Any, Functional]:
        """The categorical form, converting a numerical s-op with an MLP when needed."""
        rep = self.rep(node)
        if rep.indicators is None:
            rep.indicators = self._indicators_of_number(node, rep)
            rep.converted = True
        return rep.indicators

    def indicator_error(self, node: ir.SOp) -> float:
        """The error bound of the categorical form of `node` (0 when an MLP made it)."""
        rep = self.rep(node)
        return 0.0 if rep.converted else self.error(rep)

    # ---------------------------------------------------------------------- error bounds

    def error(self, rep: Rep, known: dict[int, float] | None = None) -> float:
        """How far `rep` may be from the true value at a non-BOS position, in real arithmetic
        (`known`: the errors of the reps met so far, so that shared inputs count once per walk)."""
        known = {} if known is None else known
        if id(rep) not in known:
            own = rep.source.error(self.n) if rep.source is not None else 0.0
            known[id(rep)] = own + sum(c * self.error(self.rep(node), known) for c, node in rep.inherits)
        return known[id(rep)]

    def require(self, rep: Rep, tolerance: float, consumer: ir.Node, what: str) -> None:
        """Makes `rep`'s error smaller than `tolerance`, raising the logit scales of the heads it
        comes from if needed, or refuses to compile `consumer`."""
        if self.error(rep) < tolerance:
            return
        self.tighten(rep, tolerance / 2)
        error = self.error(rep)
        if error >= tolerance:
            raise fail(
                consumer,
                f"{what} tolerates an input error of {tolerance:.3g}, but its input may be off by "
                f"{error:.3g} (softmax leak that no logit scale up to {margins.MAX_SCALE:g} removes)",
            )

    def tighten(self, rep: Rep, target: float, reached: dict[int, float] | None = None) -> None:
        """Raises the scales of the heads behind `rep` so that its error falls below `target`
        where a scale up to margins.MAX_SCALE can do it (the caller checks the result).
        `reached` keeps the smallest target each rep was tightened to in this walk, so that an
        input shared by many paths is visited once per smaller target, not once per path."""
        reached = {} if reached is None else reached
        if reached.get(id(rep), float("inf")) <= target or self.error(rep) < target:
            return
        reached[id(rep)] = target
        parts = len(rep.inherits) + (rep.source is not None)
        share = target / max(parts, 1)
        for coefficient, node in rep.inherits:
            if coefficient > 0:
                self.tighten(self.rep(node), share / coefficient, reached)
        source = rep.source
        if source is not None and source.error(self.n) >= share:
            scale = margins.scale_for(
                self.n, source.value_bound, share, source.bos_gap, source.score_error
            )
            if source.head.scale < scale <= margins.MAX_SCALE:
                source.head.scale = scale

    def square(self, node: ir.SOp) -> Functional:
        """A functional equal to the square of a numerical s-op (for equality scores)."""
        rep = self.rep(node)
        if rep.square is None:
            rep.square = self._square(node, rep)
        return rep.square

    # --------------------------------------------------------------------------- lowering

    def _lower(self, node: ir.SOp) -> Rep:
        values = self.sets[node] if isinstance(node, ir.Aggregate) else self.sets.known(node)
        if isinstance(node, ir.Tokens):
            groups: dict[Any, Functional] = {}
            for token, value in self.sets.local[node].items():
                groups.setdefault(value, {})[token_dim(token)] = 1.0
            return self._categorical(values, groups)
        if isinstance(node, ir.Full):
            return self._categorical(values, {node.value: constant(1.0)})
        if isinstance(node, ir.Indices):
            return Rep(values, number={INDICES: 1.0}, square={INDICES_SQUARED: 1.0})
        if isinstance(node, ir.Length):
            return self._length(node, values)
        if isinstance(node, ir.Map):
            return self._map(node, values)
        if isinstance(node, ir.SequenceMap):
            return self._sequence_map(node, values)
        if isinstance(node, ir.Aggregate):
            return self._aggregate(node, values)
        if isinstance(node, ir.SelectorWidth):
            return self._selector_width(node, values)
        raise TypeError(f"unknown s-op node {type(node).__name__}")

    def _categorical(
        self,
        values: frozenset,
        indicators: dict[Any, Functional],
        exact: bool = True,
        source: HeadSource | None = None,
        inherits: tuple[tuple[float, ir.SOp], ...] = (),
    ) -> Rep:
        rep = Rep(values, indicators=indicators, exact=exact, source=source, inherits=inherits)
        if rep.numeric:
            rep.number = combine(*[(float(v), ind) for v, ind in indicators.items()])
            rep.square = combine(*[(float(v) ** 2, ind) for v, ind in indicators.items()])
        return rep

    def _length(self, node: ir.Length, values: frozenset) -> Rep:
        if self.causal:  # the prefix length at position i is i + 1
            return Rep(values, number={INDICES: 1.0, ONE: 1.0})
        # Uniform attention over the BOS (value 0) and positions 1..n (value p) averages to n/2.
        label = self.fresh(f"{node.label}/2")
        self.bounds[label] = self.n / 2
        uniform = Score([], exact01=True)
        scale = margins.scale_for(self.n, self.n, 1.0, 1.0)
        self._head(node, uniform, 0.0, [{INDICES: 1.0, ONE: 1.0}], [0.0], [label], scale)
        return Rep(values, number={label: 2.0}, exact=False)

    def _map(self, node: ir.Map, values: frozenset) -> Rep:
        inner = self.rep(node.inner)
        if inner.indicators is not None:
            groups: dict[Any, list[Functional]] = {}
            for x, indicator in inner.indicators.items():
                try:
                    groups.setdefault(node.fn(x), []).append(indicator)
                except Exception:
                    continue
            merged = {y: combine(*[(1.0, ind) for ind in inds]) for y, inds in groups.items()}
            return self._categorical(values, merged, inner.exact, inherits=((1.0, node.inner),))
        points = sorted(self.sets.known(node.inner))
        outputs = []
        kept = []
        for x in points:
            try:
                outputs.append(node.fn(x))
                kept.append(x)
            except Exception:
                continue
        affine = node.affine or _fit_affine([[x] for x in kept], outputs)
        if affine is not None and all(is_number(y) for y in outputs):
            a, b = affine
            self.affine[node] = (a, b)
            number = combine((a, inner.number), (b, {ONE: 1.0}))
            return Rep(values, number=number, exact=inner.exact, inherits=((abs(a), node.inner),))
        return self._lookup_rep(node, inner, np.array(kept, float), outputs, values)

    def _lookup(
        self, label: str, node: ir.Node, inner: Rep, points: np.ndarray, outputs: list[Any]
    ) -> dict[Any, Functional]:
        """An MLP computing outputs[t] at points[t] of a numerical input.  Returns the output
        functionals: {None: f} for numbers, else one indicator per output value."""
        assert inner.number is not None
        if all(is_number(y) for y in outputs):
            table = np.array(outputs, float)[:, None]
            columns: list[Any] = [None]
        else:
            columns = _value_order(frozenset(outputs))
            table = np.array([[float(y == v) for v in columns] for y in outputs])
        return self._mlp(label, node, self._build(node, inner, points, table), columns)

    def _build(self, node: ir.Node, inner: Rep, points: np.ndarray, table: np.ndarray) -> mlps.Lookup:
        """The MLP of a function of a numerical input: interpolation when the input is exact,
        steps when it may be off a little, in which case the input must stay within the steps'
        tolerance (see margins)."""
        assert inner.number is not None
        if inner.exact:
            return mlps.interpolate(inner.number, points, table)
        for t in range(len(points) - 1):
            if margins.rounding_apart(points[t], points[t + 1]) and np.any(table[t] != table[t + 1]):
                raise fail(
                    node,
                    f"it maps {float(points[t])!r} and {float(points[t + 1])!r}, which differ only by float rounding, "
                    "to different values: no transformer tells them apart (compute them exactly, "
                    "for instance with round)",
                )
        lookup = mlps.discretise(inner.number, points, table)
        if lookup.units:
            self.require(inner, lookup.tolerance, node, "the MLP that reads its input off the value set")
        return lookup

    def _lookup_rep(
        self, node: ir.SOp, inner: Rep, points: np.ndarray, outputs: list[Any], values: frozenset
    ) -> Rep:
        functionals = self._lookup(node.label, node, inner, points, outputs)
        if None in functionals:
            return Rep(values, number=functionals[None], exact=inner.exact)
        return self._categorical(values, functionals, inner.exact)

    def _mlp(
        self,
        name: str,
        node: ir.Node,
        lookup: mlps.Lookup,
        columns: list[Any],
        names: list[str] | None = None,
    ) -> dict[Any, Functional]:
        """Adds the MLP block of `lookup`, one dimension per output column that varies (the
        first varying column of a categorical output, whose columns sum to one everywhere, is
        one minus the others); returns each column's functional, base included.  Columns are
        categorical values unless `names` (the dimension names of numerical columns) is given."""
        varying = [c for c in range(len(columns)) if any(out[c] != 0 for _, out in lookup.units)]
        categorical = names is None and len(columns) > 1
        derived = varying[0] if categorical and varying else None
        if names is None:
            names = [name if value is None else f"{name}:{value!r}" for value in columns]
        labels = {c: self.fresh(names[c]) for c in varying if c != derived}
        units = [
            Unit(pre, {labels[c]: float(out[c]) for c in labels if out[c] != 0}) for pre, out in lookup.units
        ]
        for column, label in labels.items():
            self.bounds[label] = float(lookup.deviation[column])
        if labels:
            block = MLPBlock(name, units, list(labels.values()), lookup.tolerance, lookup.max_preactivation)
            self.add_block(block, node)
        result = {
            value: combine(
                (1.0, {labels[c]: 1.0} if c in labels else {}), (float(lookup.base[c]), {ONE: 1.0})
            )
            for c, value in enumerate(columns)
            if c != derived
        }
        if derived is not None:
            others = [(-1.0, functional) for functional in result.values()]
            result[columns[derived]] = combine((1.0, {ONE: 1.0}), *others)
        return result

    def _sequence_map(self, node: ir.SequenceMap, values: frozenset) -> Rep:
        inputs = [self.rep(child) for child in node.inputs]
        numeric = all(rep.numeric for rep in inputs) and all(is_number(v) for v in values)
        if node.linear is not None and numeric:
            linear: tuple[float, ...] | None = (*node.linear, 0.0)
        else:
            linear = None
            domains = [_value_order(self.sets.known(child)) for child in node.inputs]
            if numeric and math.prod(len(domain) for domain in domains) <= MAX_VALUES:
                grid = [list(args) for args in itertools.product(*domains)]
                linear = _fit_linear(grid, [_safe(node.fn, args) for args in grid])
        if linear is not None:
            number = combine(*[(c, rep.number) for c, rep in zip(linear, inputs)], (linear[-1], {ONE: 1.0}))  # type: ignore[misc]
            inherits = tuple((abs(c), child) for c, child in zip(linear, node.inputs) if c)
            return Rep(values, number=number, exact=all(rep.exact for rep in inputs), inherits=inherits)
        if numeric and len(inputs) == 2:
            gated = self._gated(node, values)
            if gated is not None:
                return gated
        return self._table(node, inputs, values)

    def _gated(self, node: ir.SequenceMap, values: frozenset) -> Rep | None:
        """fn(x, y) affine in y for each value of an exact input x with few values (at most
        2n): one gated pair of units per value of x plus an MLP of x alone (mlps.gated_affine),
        instead of a table over every pair.  None when no input fits."""
        for first in (0, 1):
            x_node, y_node = node.inputs[first], node.inputs[1 - first]
            x_rep, y_rep = self.rep(x_node), self.rep(y_node)
            if not x_rep.exact or x_rep.number is None or y_rep.number is None:
                continue
            xs = sorted(float(v) for v in self.sets.known(x_node))
            ys = sorted(float(v) for v in self.sets.known(y_node))
            if len(xs) < 2 or len(xs) > 2 * self.n or len(ys) < 2:
                continue
            fits = []
            for a in xs:
                args = [[a, y] if first == 0 else [y, a] for y in ys]
                fits.append(_fit_linear([[y] for y in ys], [_safe(node.fn, pair) for pair in args]))
            if any(fit is None for fit in fits):
                continue
            slopes = np.array([fit[0] for fit in fits])  # type: ignore[index]
            low, high = ys[0], ys[-1]
            lookup = mlps.gated_affine(x_rep.number, np.array(xs), y_rep.number, low, high, slopes)
            self.require(y_rep, lookup.tolerance, node, "the gated MLP that multiplies its inputs")
            passed = np.cumsum([0.0, *(slopes * (high - low))])[:-1]  # sum of c_a over a < x
            offsets = [p * low + fit[1] - before for p, fit, before in zip(slopes, fits, passed)]  # type: ignore[index]
            offset = self._lookup(f"{node.label}/offset", node, x_rep, np.array(xs), offsets)[None]
            product = self._mlp(node.label, node, lookup, [None])[None]
            number = combine((1.0, product), (1.0, offset))
            gain = float(np.abs(slopes).max())
            return Rep(values, number=number, exact=False, inherits=((gain, y_node),) if gain else ())
        return None

    def _table(self, node: ir.SequenceMap, inputs: list[Rep], values: frozenset) -> Rep:
        """A non-linear sequence map: each input's values are grouped into classes on which fn
        behaves alike, each class gets an indicator (free for categorical inputs, an MLP for
        numerical ones), and one unit per tuple of classes computes the output."""
        domains = [_value_order(self.sets.known(child)) for child in node.inputs]
        if math.prod(len(d) for d in domains) > MAX_VALUES:
            raise fail(node, f"the product of its input value sets exceeds {MAX_VALUES} values")
        # argument tuples whose result is outside the node's value set never occur together
        # (the value sets know which positions' values go together): leave them unconstrained
        table = {
            args: _within(_safe(node.fn, list(args)), values) for args in itertools.product(*domains)
        }
        # the slice of a value: fn's results with the other inputs running over their values
        slices: list[dict[Any, list[_Hashable]]] = [{value: [] for value in domain} for domain in domains]
        for args, result in table.items():
            for position, value in enumerate(args):
                slices[position][value].append(_Hashable(result))
        class_indicators = []
        representatives = []
        for position, (child, rep) in enumerate(zip(node.inputs, inputs)):
            groups: dict[tuple[_Hashable, ...], list[Any]] = {}
            for value, results in slices[position].items():
                groups.setdefault(tuple(results), []).append(value)
            classes = list(groups.values())
            representatives.append([members[0] for members in classes])
            class_indicators.append(self._class_indicators(child, rep, classes))
        self.check_budget(node, units=math.prod(len(r) for r in representatives))
        outputs = [table[args] for args in itertools.product(*representatives)]
        tuples = [list(inds) for inds in itertools.product(*class_indicators)]
        valid = [i for i, y in enumerate(outputs) if y is not _FAILED]
        outputs = [outputs[i] for i in valid]
        tuples = [tuples[i] for i in valid]
        if all(is_number(y) for y in outputs):
            matrix = np.array(outputs, float)[:, None]
            columns: list[Any] = [None]
        else:
            columns = _value_order(frozenset(outputs))
            matrix = np.array([[float(y == v) for v in columns] for y in outputs])
        common = Counter(map(tuple, matrix)).most_common(1)[0][0] if len(matrix) else ()
        base = np.array(common, float) if len(matrix) else np.zeros(len(columns))
        lookup = mlps.conjunctions(tuples, matrix, base)
        exact = all(rep.exact for rep in inputs)
        # a unit's pre-activation is off by the sum of its inputs' indicator errors; every unit
        # whose tuple misses by one input may then leak that much into the output
        weight = float(sum(np.abs(out).max() for _, out in lookup.units)) if lookup.units else 0.0
        noisy = [
            child
            for child, rep in zip(node.inputs, inputs)
            if rep.indicators is not None and not rep.converted and weight  # numbers get an exact MLP
        ]
        for child in noisy:
            self.require(self.rep(child), 0.25 / len(inputs), node, "the MLP over its inputs' values")
        inherits = tuple((weight, child) for child in noisy)
        functionals = self._mlp(node.label, node, lookup, columns)
        if columns == [None]:
            return Rep(values, number=functionals[None], exact=exact, inherits=inherits)
        return self._categorical(values, functionals, exact, inherits=inherits)

    def _class_indicators(self, node: ir.SOp, rep: Rep, classes: list[list[Any]]) -> list[Functional]:
        if len(classes) == 1:
            return [constant(1.0)]
        if rep.indicators is not None:
            return [
                combine(*[(1.0, rep.indicators[v]) for v in members if v in rep.indicators])
                for members in classes
            ]
        class_of = {v: c for c, members in enumerate(classes) for v in members}
        points = sorted(self.sets.known(node))
        outputs = [f"class{class_of[v]}" for v in points]
        converted = self._lookup(f"{node.label}/class", node, rep, np.array(points, float), outputs)
        return [converted[f"class{c}"] for c in range(len(classes))]

    def _indicators_of_number(self, node: ir.SOp, rep: Rep) -> dict[Any, Functional]:
        assert rep.number is not None
        if set(rep.number) <= {INDICES, ONE} and rep.number.get(INDICES):
            a, b = rep.number[INDICES], rep.number.get(ONE, 0.0)
            result = {}
            for v in self.sets.known(node):
                index = (float(v) - b) / a
                in_range = float(index).is_integer() and 0 <= index < self.n
                result[v] = {index_dim(int(index)): 1.0} if in_range else {}
            return result
        points = sorted(self.sets.known(node))
        categories = [_Category(v) for v in points]
        converted = self._lookup(node.label, node, rep, np.array(points, float), categories)
        return {v: converted[category] for v, category in zip(points, categories)}

    def _square(self, node: ir.SOp, rep: Rep) -> Functional:
        assert rep.number is not None
        if set(rep.number) <= {INDICES, ONE}:
            a, b = rep.number.get(INDICES, 0.0), rep.number.get(ONE, 0.0)
            return combine((a * a, {INDICES_SQUARED: 1.0}), (2 * a * b, {INDICES: 1.0}), (b * b, {ONE: 1.0}))
        if rep.indicators is not None:
            return combine(*[(float(v) ** 2, ind) for v, ind in rep.indicators.items()])
        if node in self.affine:  # (a x + b)^2 from the square of x, and a x + b snapped with x
            a, b = self.affine[node]
            inner = node.inner  # type: ignore[attr-defined]
            square, clean = self.square(inner), self.clean_number(inner)
            if self.rep(inner).snapped is not None:
                rep.snapped = combine((a, clean), (b, {ONE: 1.0}))
            return combine((a * a, square), (2 * a * b, clean), (b * b, {ONE: 1.0}))
        points = np.array(sorted(float(v) for v in self.sets.known(node)))
        if rep.exact:
            return self._lookup(f"{node.label}^2", node, rep, points, (points**2).tolist())[None]
        # A noisy input (it passed through attention): the same units also give the value
        # snapped back onto its value set, which the equality score uses instead, since its
        # error is multiplied by the distance between key and query there.
        lookup = self._build(node, rep, points, np.stack([points, points**2], axis=1))
        columns = self._mlp(
            node.label, node, lookup, ["snapped", "square"], [f"{node.label}~", f"{node.label}^2"]
        )
        rep.snapped = columns["snapped"]
        return columns["square"]

    def cheap_square(self, node: ir.SOp) -> bool:
        """Whether the square of a numerical s-op needs no MLP of its own."""
        rep = self.rep(node)
        if rep.square is not None or rep.indicators is not None:
            return True
        if rep.number is not None and set(rep.number) <= {INDICES, ONE}:
            return True
        return node in self.affine and self.cheap_square(node.inner)  # type: ignore[attr-defined]

    def clamped(
        self, node: ir.SOp, bounds: tuple[float, float], centre: float
    ) -> tuple[Functional, Functional]:
        """v - centre and (v - centre)^2, where v is the value of `node` clamped into `bounds`
        or a little wider (and snapped onto its value set when it passed through attention).

        An equality score reads its queries this way when their values reach beyond the keys'
        range widened by one gap: no value out there matches a key, so clamping into any range
        that holds that one selects the same keys, while the MLP steps only inside it and the
        squares stay as small as the keys' range (their rounding limits float32).  The MLP
        clamps one gap wider than asked, so that reads at q and q - 1 share it; `a x + b` is
        clamped through x."""
        if node in self.affine:
            a, b = self.affine[node]
            low, high = sorted(((bounds[0] - b) / a, (bounds[1] - b) / a))
            value, square = self.clamped(node.inner, (low, high), (centre - b) / a)  # type: ignore[attr-defined]
            return combine((a, value)), combine((a * a, square))
        key = next(
            (k for k in self.clamps if k[0] is node and k[1][0] <= bounds[0] and k[1][1] >= bounds[1]),
            None,
        )
        key = key or self._clamp(node, bounds)
        value, square = self.clamps[key]
        offset = key[2] - centre  # from the MLP's centre to the one asked for
        return (
            combine((1.0, value), (offset, {ONE: 1.0})),
            combine((1.0, square), (2 * offset, value), (offset * offset, {ONE: 1.0})),
        )

    def _clamp(
        self, node: ir.SOp, bounds: tuple[float, float]
    ) -> tuple[ir.Node, tuple[float, float], float]:
        """The MLP of `clamped`, one gap wider than `bounds`; returns its key in `self.clamps`."""
        points = np.array(sorted(float(v) for v in self.sets.known(node)))
        gap = float(np.diff(points).min()) if len(points) > 1 else 1.0
        wide = (bounds[0] - gap, bounds[1] + gap)
        middle = (wide[0] + wide[1]) / 2
        middle = float(math.floor(middle)) if gap == 1 else middle
        shifted = np.clip(points, *wide) - middle
        rep = self.rep(node)
        assert rep.number is not None
        lookup = self._build(node, rep, points, np.stack([shifted, shifted**2], axis=1))
        columns = self._mlp(
            node.label, node, lookup, ["value", "square"], [f"{node.label}~", f"{node.label}^2"]
        )
        key = (node, wide, middle)
        self.clamps[key] = (columns["value"], columns["square"])
        return key

    def clean_number(self, node: ir.SOp) -> Functional:
        """The numerical form with the least error: snapped onto the value set when the
        s-op passed through attention and has been squared."""
        rep = self.rep(node)
        return rep.snapped if rep.snapped is not None else self.number(node)

    # --------------------------------------------------------------------- attention heads

    def _head(
        self,
        node: ir.SOp,
        score: Score,
        bos_score: float,
        values: list[Functional],
        bos_values: list[float],
        writes: list[str],
        scale: float,
        value_bound: float = 1.0,
        tolerance: float = 1.0,
    ) -> HeadBlock:
        """The head of `node`.  Its precision record keeps what assembly needs to judge float
        rounding: the score gap, the largest score, the values' bound and the error the
        output tolerates (the logit scale may still be raised by `tighten`)."""
        if not math.isfinite(scale) or scale > margins.MAX_SCALE:
            raise fail(
                node,
                f"its selector's scores may be off by {score.error:.3g} (noisy inputs), too much to "
                "separate selected keys from the others",
            )
        query = [q for q, _ in score.terms]
        key = [k for _, k in score.terms]
        head = HeadBlock(node.label, query, key, bos_score, scale, values, bos_values, writes)
        magnitude = score.magnitude
        if magnitude is None:
            magnitude = sum(self.bound(q) * self.bound(k) for q, k in score.terms)
        head.precision = {
            "bos_gap": 0.5 if bos_score == 0.5 else 1.0,
            "magnitude": magnitude,
            "value_bound": value_bound,
            "tolerance": tolerance,
        }
        self.add_block(head, node)
        return head

    def _aggregate(self, node: ir.Aggregate, values: frozenset | None) -> Rep:
        counted = self._count_through_position(node)
        if counted is not None:
            return Rep(values, number=self.number(counted), exact=False, inherits=((1.0, counted),))
        score = self.scores.score(node.selector, node)
        sop_values = self.sets.known(node.sop)
        if numeric_aggregate(node, sop_values):
            label = self.fresh(node.label)
            value = self.number(node.sop)
            magnitude = max(abs(float(v)) for v in (*sop_values, node.default))
            self.bounds[label] = magnitude
            gap = _min_gap(values) if values is not None else 1.0 / self.n**2
            tolerance = AGGREGATE_TOLERANCE * min(gap, 1.0)
            scale = margins.scale_for(self.n, magnitude, tolerance, 0.5, score.error)
            # rounding may take what the consumers leave: a quarter of the gap (see margins)
            head = self._head(
                node, score, 0.5, [value], [float(node.default)], [label], scale, magnitude, min(gap, 1.0) / 4
            )
            inner = self.rep(node.sop)
            coefficient = magnitude if inner.indicators is not None and not inner.converted else 1.0
            return Rep(
                values,
                number={label: 1.0},
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
        outputs = _value_order(values)
        source = self.indicators(node.sop)
        features = [source.get(v, {}) for v in outputs]
        labels = [self.fresh(f"{node.label}:{v!r}") for v in outputs]
        for label in labels:
            self.bounds[label] = 1.0
        bos_values = [float(v == node.default and type(v) is type(node.default)) for v in outputs]
        if sum(bos_values) != 1:  # default equal (==) to a value of another type: use that slot
            bos_values = [float(v == node.default) for v in outputs]
        scale = margins.scale_for(self.n, 1.0, AGGREGATE_TOLERANCE, 0.5, score.error)
        head = self._head(node, score, 0.5, features, bos_values, labels, scale, 1.0, 1 - MIXTURE_THRESHOLD)
        self.mixtures.append((node.label, labels))
        return self._categorical(
            values,
            {v: {label: 1.0} for v, label in zip(outputs, labels)},
            exact=False,
            source=HeadSource(head, 1.0, 0.5, score.error),
            inherits=((1.0, node.sop),),
        )

    def _count_through_position(self, node: ir.Aggregate) -> ir.SOp | None:
        """`aggregate(s or select(indices, 0, ==), x)` where x is v at position 0 and 0
        elsewhere (the RASP paper's selector width through a BOS) is v / (1 + the width of
        `s and not select(indices, 0, ==)`): every query selects position 0, which every input
        has, so the mean is v over the number of selected keys.  A selector width has an exact
        head, where an `or` of a query-dependent selector would need a joint s-op of its keys."""
        by_position = self.sets.positional.get(node.sop)
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
                self.sets.add(mean)
                return mean
        return None

    def _selector_width(self, node: ir.SelectorWidth, values: frozenset) -> Rep:
        """BOS and the selected keys score alike, so the BOS gets weight 1/(w+1); an MLP
        turns 1/(w+1) back into w.  A selector split into disjoint pieces (see
        ScoreBuilder.split) gets one head and one decoder per piece; the widths add up."""
        pieces = self.scores.split(node.selector, node) or [self.scores.score(node.selector, node)]
        widths = np.arange(self.n + 1)
        points = 1.0 / (widths[::-1] + 1.0)
        # the decoder needs the BOS weight to within a quarter of the smallest gap 1/(n(n+1))
        tolerance = margins.width_tolerance(self.n)
        total: list[tuple[float, Functional]] = []
        for piece in pieces:
            raw = self.fresh(f"{node.label}/bos")
            self.bounds[raw] = 1.0
            scale = margins.scale_for(self.n, 1.0, tolerance / 2, 1.0, piece.error)
            # its BOS weight's rounding error is relative: the score margin of 1/(2n) covers it
            head = self._head(node, piece, 1.0, [{}], [1.0], [raw], scale, 1.0, 1 / (2 * self.n))
            weight = Rep(frozenset(), number={raw: 1.0}, exact=False, source=HeadSource(head, 1.0, 1.0, piece.error))
            if len(pieces) == 1 and node in self.squared:
                return self._width_and_square(node, values, weight, points, widths[::-1])
            total.append((1.0, self._lookup(node.label, node, weight, points, widths[::-1].tolist())[None]))
        return Rep(values, number=combine(*total), exact=False)

    def _width_and_square(
        self, node: ir.SOp, values: frozenset, weight: Rep, points: np.ndarray, widths: np.ndarray
    ) -> Rep:
        """A width that an equality score compares: its decoder's units, which step at every
        width, also give its square; the output is snapped onto the integers."""
        lookup = self._build(node, weight, points, np.stack([widths, widths**2], axis=1).astype(float))
        columns = self._mlp(node.label, node, lookup, ["w", "square"], [node.label, f"{node.label}^2"])
        number = columns["w"]
        return Rep(values, number=number, square=columns["square"], exact=False, snapped=number)

    # -------------------------------------------------------------------------- joint s-ops

    def joint(self, nodes: list[ir.SOp]) -> ir.SOp:
        """A categorical s-op whose value is the tuple of the values of `nodes`."""
        key = tuple(node.uid for node in nodes)
        if key not in self.joints:
            joint = ir.SequenceMap(
                fn=lambda *xs: tuple(xs),
                inputs=tuple(nodes),
                name="(" + ", ".join(n.label for n in nodes) + ")",
            )
            self.sets.add(joint)
            self.joints[key] = joint
        return self.joints[key]


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


class _Failed:
    """Marks an argument tuple on which fn raised."""


_FAILED = _Failed()


@dataclass(frozen=True)
class _Category:
    """A categorical output that stands for a numerical value (so 1 and 1.0 stay one value)."""

    value: Any


@dataclass(frozen=True)
class _Hashable:
    """Wraps a value so that slices containing unhashable or failing results still compare."""

    value: Any

    def __hash__(self) -> int:
        try:
            return hash((type(self.value).__name__, self.value))
        except TypeError:
            return hash(repr(self.value))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, _Hashable)
            and type(self.value) is type(other.value)
            and self.value == other.value
        )


def _safe(fn: Any, args: list[Any]) -> Any:
    try:
        return fn(*args)
    except Exception:
        return _FAILED


def _within(result: Any, values: frozenset) -> Any:
    try:
        return result if result is _FAILED or result in values else _FAILED
    except TypeError:  # unhashable: the value set analysis has refused it already
        return result


def _min_gap(values: frozenset) -> float:
    points = _numeric_points(values)
    gaps = np.diff(points)
    return float(gaps.min()) if len(gaps) else 1.0


def _fit_linear(grid: list[list[float]], outputs: list[Any]) -> tuple[float, ...] | None:
    """Coefficients (c_1..c_k, c_0) with outputs == sum c_i x_i + c_0 on every grid point
    (within float rounding), or None."""
    pairs = [(args, y) for args, y in zip(grid, outputs) if is_number(y)]
    if len(pairs) != len(outputs) or not pairs:
        return None
    x = np.array([[*args, 1.0] for args, _ in pairs], float)
    y = np.array([y for _, y in pairs], float)
    coefficients, *_ = np.linalg.lstsq(x, y, rcond=None)
    coefficients = np.where(np.abs(coefficients) < 1e-12, 0.0, coefficients)
    rounded = np.round(coefficients, 9)
    for candidate in (rounded, coefficients):
        if np.all(np.abs(x @ candidate - y) <= 1e-9 * (1.0 + np.abs(y))):
            return tuple(float(c) for c in candidate)
    return None


def _fit_affine(grid: list[list[Any]], outputs: list[Any]) -> tuple[float, float] | None:
    if not all(is_number(x[0]) for x in grid):
        return None
    fit = _fit_linear(grid, outputs)
    return None if fit is None else (fit[0], fit[1])
