"""MLPs: the lowering of `map` and `sequence_map`.

A map of a categorical s-op is free (an indicator of f(x) is a sum of indicators of x), and so
is an affine map of a numerical one (a * x + b combines functionals); any other map of a
numerical s-op is a lookup MLP over its value set, shared by the maps of one s-op.  A linear
sequence map is free; one affine in one input for each of the few values of the other is a
gated product (`mlps.gated_affine`), and a numerical choice `a if c else b` two of them; one
of two integers that depends on their sum or difference only is a map of that
(`Maps._through_sum`); any other is a table: one unit per tuple of classes of input values
(`mlps.conjunctions`).  `g(length * mean of every key)` is g of a count where g cannot see
the rounding (`Maps._count_of_mean`).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from compiled_model.transformer import MIXTURE_THRESHOLD
from compiler.blocks import ONE, Functional, Mixture, MLPBlock, Unit, combine, constant, frozen
from compiler.encodings import Encodings
from compiler.errors import fail
from compiler.length_free import LengthFree
from compiler.mlps import conjunctions, gated_affine
from compiler.reps import Rep, categorical, numerical
from compiler.valuesets import MAX_VALUES, counted_mean, value_order
from rasp import ir
from rasp.values import all_integers, all_numbers

#: The maps of each numerical s-op that take a lookup MLP, when there are two or more: they
#: share one (`Maps._lookups`).
SharedLookups = dict[ir.Node, tuple[ir.Map, ...]]


def shared_lookups(looked_up: list[ir.Map], program: Mapping[ir.Node, Any]) -> SharedLookups:
    """The groups of `looked_up` maps (those one lowering gave a lookup MLP) of one input, among
    the `program`'s own nodes (a lowering makes nodes of its own, new in every lowering)."""
    groups: dict[ir.Node, list[ir.Map]] = {}
    for node in looked_up:
        if node in program:
            groups.setdefault(node.inner, []).append(node)
    return {inner: tuple(maps) for inner, maps in groups.items() if len(maps) > 1}


class Maps:
    def __init__(self, encodings: Encodings, length_free: LengthFree, shared: SharedLookups):
        self.enc = encodings
        self.length_free = length_free
        self.ledger = encodings.ledger
        self.n = self.ledger.n
        self.looked_up: list[ir.Map] = []  # the maps given a lookup MLP, in order
        self._groups = shared
        self._shared: dict[ir.Map, Rep] = {}  # maps lowered in a sibling's MLP, not yet asked for

    def map(self, node: ir.Map, values: frozenset) -> Rep:
        if node in self._shared:  # lowered with a sibling (`_lookups`)
            return self._shared.pop(node)
        compared = self.length_free.compare(node, values)
        if compared is not None:
            return compared
        counted = self._count_of_mean(node)
        if counted is not None:
            return _widened(self.enc.rep(counted), values)
        inner = self.enc.rep(node.inner)
        indicators = self.enc.known_indicators(node.inner)
        if indicators is not None:
            failed = False
            groups: dict[Any, list[Functional]] = {}
            for x, indicator in indicators.items():
                try:
                    groups.setdefault(node.fn(x), []).append(indicator)
                except Exception:
                    failed = True
                    continue
            if failed:
                self._flag_undefined(node)
            merged = {y: combine(*[(1.0, ind) for ind in inds]) for y, inds in groups.items()}
            return categorical(values, merged, inner.exact, inherits=((1.0, node.inner),))
        if node.affine is not None and all_numbers(values):  # its outputs are its value set
            return self._affine(node, values, inner, node.affine)
        points = sorted(self.ledger.sets.known(node.inner))
        kept, outputs = _defined(node.fn, points)
        if len(kept) < len(points):
            self._flag_undefined(node)
        affine = node.affine or _fit_affine(kept, outputs)
        if affine is not None and all_numbers(outputs):
            return self._affine(node, values, inner, affine)
        return self._lookups(node, values, inner, kept, outputs, share=len(kept) == len(points))

    def _lookups(
        self, node: ir.Map, values: frozenset, inner: Rep, points: list[Any], outputs: list[Any], share: bool
    ) -> Rep:
        """The lookup MLP of `node`, shared with the other maps of the same numerical s-op that
        took one in the first lowering (`SharedLookups`): one set of hidden units stepping where
        any of them changes, each map writing its own dimensions (`digit = s % 10` and `carry =
        s > 9` step at the same sums).  The siblings' reps wait in `_shared` until asked for.
        Not when `node` is undefined at some points of its input (`share` False): the MLP is
        then built without them, where a sibling needs its values."""
        self.looked_up.append(node)
        siblings = [(node, values, outputs)]
        for sibling in self._siblings(node) if share else ():
            found = self._sibling_outputs(sibling, points)
            if found is not None:
                siblings.append((sibling, self.ledger.sets.known(sibling), found))
        tables = [self.enc.mlp.table(member, member_outputs) for member, _, member_outputs in siblings]
        lookup = self.enc.mlp.build(node, inner, np.array(points, float), np.hstack([table for table, _ in tables]))
        groups = [(member.label, member, columns) for (member, _, _), (_, columns) in zip(siblings, tables)]
        for (member, member_values, _), functionals in zip(siblings, self.enc.mlp.add_shared(node, lookup, groups)):
            if None in functionals:
                rep = numerical(member_values, functionals[None], exact=inner.exact)
            else:
                rep = categorical(member_values, functionals, inner.exact)
            if member is node:
                result = rep
            else:
                self._shared[member] = rep
        return result

    def _siblings(self, node: ir.Map) -> list[ir.Map]:
        """The other maps of `node`'s group (`SharedLookups`), not lowered yet."""
        return [
            other
            for other in self._groups.get(node.inner, ())
            if other is not node and not self.enc.lowered_already(other) and other not in self._shared
        ]

    def _sibling_outputs(self, sibling: ir.Map, points: list[Any]) -> list[Any] | None:
        """The outputs of a sibling at `points`, when it is defined at every point; else None
        (it is lowered on its own when asked for)."""
        kept, outputs = _defined(sibling.fn, points)
        if len(kept) < len(points):
            return None
        return outputs

    def _count_of_mean(self, node: ir.Map) -> ir.Map | None:
        """`g(length * aggregate(every key, x))` with x in {0, 1}, where g cannot tell the
        product from a count (`valuesets.counted_mean`), as g of `selector_width(select(x, 1,
        ==))`: a selector width has an exact head, where the product would be tabulated over
        every pair of a length and a mean."""
        counted = counted_mean(node, self.ledger.sets.values, self.n)
        if counted is None:
            return None
        count = ir.SelectorWidth(ir.Select(counted, ir.Full(1), "=="))
        mapped = ir.Map(fn=node.fn, inner=count, description=f"{node.description} of the count")
        self.ledger.analyse(mapped)
        return mapped

    def _affine(self, node: ir.Map, values: frozenset, inner: Rep, affine: tuple[float, float]) -> Rep:
        """a * x + b: a functional, no block."""
        a, b = affine
        number = combine((a, inner.number), (b, {ONE: 1.0}))  # type: ignore[arg-type]
        return numerical(values, number, exact=inner.exact, inherits=((abs(a), node.inner),), affine=(a, b))

    def sequence_map(self, node: ir.SequenceMap, values: frozenset) -> Rep:
        chosen = self.length_free.choice(node, values)
        if chosen is not None:
            return chosen
        inputs = [self.enc.rep(child) for child in node.inputs]
        numeric = all(rep.numeric for rep in inputs) and all_numbers(values)
        if node.linear is not None and numeric:
            linear: tuple[float, ...] | None = (*node.linear, 0.0)
        else:
            linear = None
            domains = [value_order(self.ledger.sets.known(child)) for child in node.inputs]
            if numeric and math.prod(len(domain) for domain in domains) <= MAX_VALUES:
                grid = [list(args) for args in itertools.product(*domains)]
                linear = _fit_linear(grid, [_safe(node.fn, args) for args in grid])
        if linear is not None:
            number = combine(*[(c, rep.number) for c, rep in zip(linear, inputs)], (linear[-1], {ONE: 1.0}))  # type: ignore[misc]
            inherits = tuple((abs(c), child) for c, child in zip(linear, node.inputs) if c)
            return numerical(values, number, exact=all(rep.exact for rep in inputs), inherits=inherits)
        if numeric and len(inputs) == 2:
            gated = self._gated(node, values)
            if gated is not None:
                return gated
        if node.choice and all_numbers(values):
            chosen = self._gated_choice(node, values)
            if chosen is not None:
                return chosen
        if len(inputs) == 2 and all(rep.numeric for rep in inputs):
            factored = self._through_sum(node, values)
            if factored is not None:
                return factored
        return self._table(node, inputs, values)

    def _through_sum(self, node: ir.SequenceMap, values: frozenset) -> Rep | None:
        """fn(x, y) that depends on x + c y only (c = 1 or -1), for integers: a map of that sum
        or difference, which is free, where a table takes a unit per pair of classes of x and
        y.  A comparison `x < y` or `x == y` is a map of x - y; a digit `(a + b) % 10` and its
        carry `a + b > 9` are maps of a + b.  Only when the sum has fewer values than half the
        pairs, so that the map's steps are fewer than the table's units."""
        known = self.ledger.sets.known
        domains = [value_order(known(child)) for child in node.inputs]
        if not all(all_integers(domain) for domain in domains) or math.prod(map(len, domains)) > MAX_VALUES:
            return None
        results = [(x, y, _Hashable(_safe(node.fn, [x, y]))) for x, y in itertools.product(*domains)]
        if any(result.value is _FAILED for _, _, result in results):
            return None  # the table flags where fn fails
        for sign in (1, -1):
            through: dict[float, _Hashable] = {}
            for x, y, result in results:
                if through.setdefault(x + sign * y, result) != result:
                    break
            else:
                if 2 * len(through) > math.prod(map(len, domains)):
                    return None
                outer = {total: hashable.value for total, hashable in through.items()}
                inner = ir.SequenceMap(
                    fn=_plus if sign == 1 else _minus, inputs=node.inputs, description=node.description,
                    linear=(1.0, float(sign)), name=f"{node.label}/sum", origin=node.origin,
                )
                mapped = ir.Map(fn=outer.__getitem__, inner=inner, description=node.description, name=node.label,
                                origin=node.origin)
                self.ledger.analyse(mapped)
                return _widened(self.enc.rep(mapped), values)
        return None

    def _gated_choice(self, node: ir.SequenceMap, values: frozenset) -> Rep | None:
        """`a if c else b` over numbers, with c exact: `[c] a + [not c] b`, each product gated by
        the 0/1 flag of c (`_gated`: two units for a branch of many values), where a table takes
        a unit per combination of the values of c, a and b (RASP-L addition's `pairsums`, whose
        branches come from attention).  None when c passed through attention or a branch is
        not a number."""
        condition, *branches = node.inputs
        if not self.enc.rep(condition).exact or any(self.enc.rep(branch).number is None for branch in branches):
            return None
        flag = ir.Map(fn=_truth, inner=condition, description=f"[{condition.label}]", origin=node.origin)
        parts = tuple(
            ir.SequenceMap(
                fn=gate, inputs=(flag, branch), description=f"{flag.description} gates {branch.label}",
                name=f"{node.label}/{which}", origin=node.origin,
            )
            for gate, branch, which in zip((_when_true, _when_false), branches, ("if", "else"))
        )
        total = ir.SequenceMap(
            fn=_plus, inputs=parts, description=node.description, linear=(1.0, 1.0), name=node.label, origin=node.origin
        )
        self.ledger.analyse(total)
        return _widened(self.enc.rep(total), values)

    def _gated(self, node: ir.SequenceMap, values: frozenset) -> Rep | None:
        """fn(x, y) affine in y for each value of an exact input x with few values (at most
        2n): one gated pair of units per value of x plus an MLP of x alone (mlps.gated_affine),
        instead of a table over every pair.  None when no input fits."""
        known = self.ledger.sets.known
        for first in (0, 1):
            x_node, y_node = node.inputs[first], node.inputs[1 - first]
            x_rep, y_rep = self.enc.rep(x_node), self.enc.rep(y_node)
            if not x_rep.exact or x_rep.number is None or y_rep.number is None:
                continue
            xs = sorted(float(v) for v in known(x_node))
            ys = sorted(float(v) for v in known(y_node))
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
            admit = self.enc.mlp.admitter(node, 1)
            lookup = gated_affine(x_rep.number, np.array(xs), y_rep.number, low, high, slopes, admit)
            self.enc.require(y_rep, lookup.tolerance, node, "the gated MLP that multiplies its inputs")
            passed = np.cumsum([0.0, *(slopes * (high - low))])[:-1]  # sum of c_a over a < x
            offsets = [p * low + fit[1] - before for p, fit, before in zip(slopes, fits, passed)]  # type: ignore[index]
            offset = self.enc.mlp.lookup(f"{node.label}/offset", node, x_rep, np.array(xs), offsets)[None]
            product = self.enc.mlp.add(node.label, node, lookup, [None])[None]
            number = combine((1.0, product), (1.0, offset))
            gain = float(np.abs(slopes).max())
            return numerical(values, number, exact=False, inherits=((gain, y_node),) if gain else ())
        return None

    def _table(self, node: ir.SequenceMap, inputs: list[Rep], values: frozenset) -> Rep:
        """A non-linear sequence map: each input's values are grouped into classes on which fn
        behaves alike, each class gets an indicator (free for categorical inputs, an MLP for
        numerical ones), and one unit per tuple of classes computes the output."""
        domains = [value_order(self.ledger.sets.known(child)) for child in node.inputs]
        if math.prod(len(d) for d in domains) > MAX_VALUES:
            raise fail(node, f"the product of its input value sets exceeds {MAX_VALUES} values")
        # argument tuples whose result is outside the node's value set never occur together
        # (the value sets know which positions' values go together): leave them unconstrained
        results = {args: _safe(node.fn, list(args)) for args in itertools.product(*domains)}
        if any(result is _FAILED for result in results.values()):
            self._flag_undefined(node)
        table = {args: _within(result, values) for args, result in results.items()}
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
        self.ledger.check_units(node, math.prod(len(r) for r in representatives))
        outputs = [table[args] for args in itertools.product(*representatives)]
        tuples = [list(inds) for inds in itertools.product(*class_indicators)]
        valid = [i for i, y in enumerate(outputs) if y is not _FAILED]
        outputs = [outputs[i] for i in valid]
        tuples = [tuples[i] for i in valid]
        matrix, columns = self.enc.mlp.table(node, outputs)
        common = Counter(map(tuple, matrix)).most_common(1)[0][0] if len(matrix) else ()
        base = np.array(common, float) if len(matrix) else np.zeros(len(columns))
        lookup = conjunctions(tuples, matrix, base)
        exact = all(rep.exact for rep in inputs)
        # a unit's pre-activation is off by the sum of its inputs' indicator errors; every unit
        # whose tuple misses by one input may then leak that much into the output
        weight = float(sum(np.abs(out).max() for _, out in lookup.units)) if lookup.units else 0.0
        noisy = [
            child
            for child, rep in zip(node.inputs, inputs)
            if rep.indicators is not None and weight  # numbers get an exact MLP
        ]
        for child in noisy:
            self.enc.require(self.enc.rep(child), 0.25 / len(inputs), node, "the MLP over its inputs' values")
        inherits = tuple((weight, child) for child in noisy)
        functionals = self.enc.mlp.add(node.label, node, lookup, columns)
        if columns == [None]:
            return numerical(values, functionals[None], exact=exact, inherits=inherits)
        return categorical(values, functionals, exact, inherits=inherits)

    def _flag_undefined(self, node: ir.Map | ir.SequenceMap) -> None:
        """For a map whose fn fails on some values of its inputs (left out of its table: the
        interpreter fails on any input where they occur), one MLP unit writes the indicator
        that fn is defined at the position, and the model checks it like a mixture: such an
        input is refused by its position, not answered.  Nothing is added when the failing
        values never occur together (the value sets of the flag say so)."""
        defined = defined_flag(node)
        self.ledger.analyse(defined)
        if False not in self.ledger.sets.known(defined):
            return
        flag = self.enc.rep(defined)
        self.enc.require(flag, 1 - MIXTURE_THRESHOLD, node, "the flag that says where it is defined")
        indicator = self.enc.indicators(defined)[True]
        dim = self.ledger.fresh(f"{node.label}/defined", node, 1.0)
        unit = Unit(frozen(indicator), frozen({dim: 1.0}))
        self.ledger.add_block(MLPBlock(f"{node.label}/defined", (unit,), (dim,), max_preactivation=1.0), node)
        self.ledger.mixtures.append(Mixture(node.label, (dim,), "undefined"))

    def _class_indicators(self, node: ir.SOp, rep: Rep, classes: list[list[Any]]) -> list[Functional]:
        if len(classes) == 1:
            return [constant(1.0)]
        indicators = self.enc.known_indicators(node)
        if indicators is not None:
            return [
                combine(*[(1.0, indicators[v]) for v in members if v in indicators])
                for members in classes
            ]
        class_of = {v: c for c, members in enumerate(classes) for v in members}
        points = sorted(self.ledger.sets.known(node))
        outputs = [f"class{class_of[v]}" for v in points]
        converted = self.enc.mlp.lookup(f"{node.label}/class", node, rep, np.array(points, float), outputs)
        return [converted[f"class{c}"] for c in range(len(classes))]


def _truth(value: Any) -> int:
    return 1 if value else 0


def _when_true(flag: int, value: Any) -> Any:
    return value if flag else 0


def _when_false(flag: int, value: Any) -> Any:
    return 0 if flag else value


def _plus(left: Any, right: Any) -> Any:
    return left + right


def _minus(left: Any, right: Any) -> Any:
    return left - right


def _widened(rep: Rep, values: frozenset) -> Rep:
    """`rep` of an s-op computing the same values, as the rep of one whose value set is the
    superset `values` (the values it never takes have indicators that are always 0)."""
    if rep.indicators is None:
        return dataclasses.replace(rep, values=values)
    indicators = {v: rep.indicators.get(v, {}) for v in value_order(values)}
    return categorical(values, indicators, rep.exact, rep.source, rep.inherits)


class _Failed:
    """Marks an argument tuple on which fn raised."""


_FAILED = _Failed()


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


def defined_flag(node: ir.Map | ir.SequenceMap) -> ir.SOp:
    """The s-op that is True where `node`'s fn succeeds on its inputs' values and False where
    it fails."""

    def succeeds(*args: Any) -> bool:
        return _safe(node.fn, list(args)) is not _FAILED

    description = f"defined({node.description})"
    if isinstance(node, ir.Map):
        return ir.Map(fn=succeeds, inner=node.inner, description=description)
    return ir.SequenceMap(fn=succeeds, inputs=node.inputs, description=description)


def _defined(fn: Any, points: list[Any]) -> tuple[list[Any], list[Any]]:
    """The points where fn is defined and its values there.  One pass without a Python frame
    per point first (a value set of positions holds millions); where fn fails, point by point."""
    try:
        return points, list(map(fn, points))
    except Exception:  # redone point by point below, leaving those points out
        pass
    kept, outputs = [], []
    for x in points:
        try:
            outputs.append(fn(x))
            kept.append(x)
        except Exception:
            continue
    return kept, outputs


def _within(result: Any, values: frozenset) -> Any:
    try:
        return result if result is _FAILED or result in values else _FAILED
    except TypeError:  # unhashable: the value set analysis has refused it already
        return result


def _fit_linear(grid: list[list[float]] | np.ndarray, outputs: list[Any]) -> tuple[float, ...] | None:
    """Coefficients (c_1..c_k, c_0) with outputs == sum c_i x_i + c_0 on every grid point
    (within float rounding), or None.  The grid is one row of arguments per output."""
    if not outputs or not all_numbers(outputs):
        return None
    x = np.column_stack([np.asarray(grid, float).reshape(len(outputs), -1), np.ones(len(outputs))])
    y = np.array(outputs, float)
    coefficients, *_ = np.linalg.lstsq(x, y, rcond=None)
    coefficients = np.where(np.abs(coefficients) < 1e-12, 0.0, coefficients)
    rounded = np.round(coefficients, 9)
    for candidate in (rounded, coefficients):
        if np.all(np.abs(x @ candidate - y) <= 1e-9 * (1.0 + np.abs(y))):
            return tuple(float(c) for c in candidate)
    return None


def _fit_affine(points: list[Any], outputs: list[Any]) -> tuple[float, float] | None:
    """(a, b) with outputs == a * x + b at every point x (numbers), or None."""
    if not all_numbers(points):
        return None
    fit = _fit_linear(np.asarray(points, float)[:, None], outputs)
    return None if fit is None else (fit[0], fit[1])
