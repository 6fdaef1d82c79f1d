"""Encodings: the rep of every s-op, lowered on demand, and the forms derived from it.

- categorical: one indicator functional per value.  Tokens, constants, maps of categorical
  s-ops (free: an indicator of f(x) is a sum of indicators of x), categorical MLP outputs and
  aggregates of non-numbers.
- numerical: one functional.  Indices and length (positions never take one dimension per value
  unless an order comparison needs it), selector widths, numerical aggregates, affine maps and
  linear sequence maps (free), numerical MLP outputs.  A categorical s-op with numeric values is
  also numerical for free (sum of value * indicator).

Derived forms, each made once and memoised: the one-hot of a numerical s-op (positions read
their one-hot embedding, other s-ops an MLP), its square and its value snapped onto its value
set (for equality scores), its value clamped into a range, the joint of several s-ops.  The
error accounting that keeps every approximation inside its margin lives here too: how far a
rep may be off (`error`), and raising the scales of the heads behind it (`require`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from compiler.blocks import INDICES, INDICES_SQUARED, ONE, Dim, Functional, combine, constant, index_dim, token_dim
from compiler.errors import fail
from compiler.ledger import Ledger
from compiler.margins import MAX_SCALE, head_error, scale_for
from compiler.mlp_blocks import MLPBuilder
from compiler.reps import HeadSource, Rep, categorical, numerical
from compiler.valuesets import ValueSets
from rasp import ir

Clamp = tuple[ir.Node, tuple[float, float], float]  # (node, range, centre)


@dataclass(frozen=True)
class _Category:
    """A categorical output that stands for a numerical value (so 1 and 1.0 stay one value)."""

    value: Any


class Encodings:
    """The reps of the s-ops lowered so far and their derived forms.  `lower` makes the rep of
    an s-op not met before (the orchestrator's dispatch over constructs)."""

    def __init__(self, ledger: Ledger, lower: Callable[[ir.SOp], Rep]):
        self.ledger = ledger
        self.n = ledger.n
        self.mlp = MLPBuilder(ledger, self.require)
        self._lower = lower
        self._reps: dict[ir.Node, Rep] = {}
        self._converted: dict[ir.Node, Mapping[Any, Functional]] = {}  # one-hots made by an MLP
        self._squares: dict[ir.Node, Functional] = {}
        self._snapped: dict[ir.Node, Functional] = {}
        self._clamps: dict[Clamp, tuple[Functional, Functional]] = {}  # value and square minus the centre
        self._matches: dict[tuple[ir.Node, frozenset, float, float], tuple[Functional, Functional]] = {}
        self._joints: dict[tuple[int, ...], ir.SOp] = {}

    # ------------------------------------------------------------------------- the reps

    def rep(self, node: ir.SOp) -> Rep:
        if node not in self._reps:
            self._reps[node] = self._lower(node)
        return self._reps[node]

    def lowered_already(self, node: ir.SOp) -> bool:
        return node in self._reps

    def lowered(self) -> list[ir.SOp]:
        """The s-ops lowered so far, each after the s-ops it reads (in the order lowering ended)."""
        return list(self._reps)

    def number(self, node: ir.SOp) -> Functional:
        rep = self.rep(node)
        if rep.number is None:
            raise fail(node, "its values are not all numbers, so it has no numerical encoding")
        return rep.number

    # ----------------------------------------------------------------- one-hot forms

    def indicators(self, node: ir.SOp) -> Mapping[Any, Functional]:
        """The categorical form, converting a numerical s-op with an MLP when needed."""
        known = self.known_indicators(node)
        if known is not None:
            return known
        self._converted[node] = self._indicators_of_number(node, self.rep(node))
        return self._converted[node]

    def known_indicators(self, node: ir.SOp) -> Mapping[Any, Functional] | None:
        """The categorical form if one exists already (lowered so, or converted before)."""
        rep = self.rep(node)
        return rep.indicators if rep.indicators is not None else self._converted.get(node)

    def converted(self, node: ir.SOp) -> bool:
        """Whether the categorical form of `node` was made from its number by an MLP."""
        return node in self._converted

    def indicator_error(self, node: ir.SOp) -> float:
        """The error bound of the categorical form of `node` (0 when an MLP made it)."""
        return 0.0 if self.converted(node) else self.error(self.rep(node))

    def _indicators_of_number(self, node: ir.SOp, rep: Rep) -> dict[Any, Functional]:
        assert rep.number is not None
        known = self.ledger.sets.known(node)
        if set(rep.number) <= {INDICES, ONE} and rep.number.get(INDICES):
            return self._indicators_of_position(node, rep, known)
        points = sorted(known)
        categories = [_Category(v) for v in points]
        converted = self.mlp.lookup(node.label, node, rep, np.array(points, float), categories)
        return {v: converted[category] for v, category in zip(points, categories)}

    def _indicators_of_position(self, node: ir.SOp, rep: Rep, known: frozenset) -> dict[Any, Functional]:
        """The one-hot of an s-op whose number is affine in the position (`a * i + b`): the
        indicator of a value is the sum of the index dimensions of the positions where the
        interpreter gives that value.  Positions are matched to values through the value sets
        per position, which hold the interpreter's own values, never by inverting the affine
        form: `(1 - i) + i / 5` is -1.4 at i = 3, and (-1.4 - 1) / -0.8 is 2.9999999999999996,
        not an index, which once dropped position 3 from every comparison (issue 20)."""
        self.ledger.use_position_table(node, dims=self.n)
        rows = self.ledger.sets.positional.get(node)
        if rows is None:  # too many positions to list per position: invert, but only unambiguously
            rows = positions_of_affine(known, rep.number[INDICES], rep.number.get(ONE, 0.0), self.n)
        result: dict[Any, dict[Dim, float]] = {value: {} for value in known}
        for position, row in enumerate(rows[: self.n]):
            if len(row) != 1:
                raise fail(
                    node,
                    f"it is a function of the position, yet {len(row)} values are possible at position "
                    f"{position} ({', '.join(map(repr, sorted(row, key=repr)[:3]))}); its one-hot form "
                    "cannot tell which one the interpreter gives",
                )
            (value,) = row
            result.setdefault(value, {})[index_dim(position)] = 1.0
        return result

    # ---------------------------------------------------------------- error bounds

    def source_error(self, source: HeadSource) -> float:
        if self.ledger.hard:  # Heads.head refused any hard head that could miss its keys
            return 0.0
        return head_error(
            self.n, source.value_bound, self.ledger.scale(source.head), source.bos_gap, source.score_error
        )

    def error(self, rep: Rep, known: dict[int, float] | None = None) -> float:
        """How far `rep` may be from the true value at a non-BOS position, in real arithmetic
        (`known`: the errors of the reps met so far, so that shared inputs count once per walk)."""
        known = {} if known is None else known
        if id(rep) not in known:
            own = self.source_error(rep.source) if rep.source is not None else 0.0
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
                f"{error:.3g} (softmax leak that no logit scale up to {MAX_SCALE:g} removes)",
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
        if source is not None and self.source_error(source) >= share:
            scale = scale_for(self.n, source.value_bound, share, source.bos_gap, source.score_error)
            if self.ledger.scale(source.head) < scale <= MAX_SCALE:
                self.ledger.raise_scale(source.head, scale)

    # ------------------------------------------------------- squares, snapped and clamped

    def square(self, node: ir.SOp) -> Functional:
        """A functional equal to the square of a numerical s-op (for equality scores)."""
        rep = self.rep(node)
        if rep.square is not None:
            return rep.square
        if node not in self._squares:
            self._squares[node] = self._square(node, rep)
        return self._squares[node]

    def snapped(self, node: ir.SOp) -> Functional | None:
        """The number of `node` snapped back onto its value set, when an MLP made one."""
        rep = self.rep(node)
        return rep.snapped if rep.snapped is not None else self._snapped.get(node)

    def clean_number(self, node: ir.SOp) -> Functional:
        """The numerical form with the least error: snapped onto the value set when the
        s-op passed through attention and has been squared."""
        snapped = self.snapped(node)
        return snapped if snapped is not None else self.number(node)

    def _square(self, node: ir.SOp, rep: Rep) -> Functional:
        assert rep.number is not None
        if set(rep.number) <= {INDICES, ONE}:
            a, b = rep.number.get(INDICES, 0.0), rep.number.get(ONE, 0.0)
            return combine((a * a, {INDICES_SQUARED: 1.0}), (2 * a * b, {INDICES: 1.0}), (b * b, {ONE: 1.0}))
        indicators = self.known_indicators(node)
        if indicators is not None:
            return combine(*[(float(v) ** 2, ind) for v, ind in indicators.items()])
        if rep.affine is not None:  # (a x + b)^2 from the square of x, and a x + b snapped with x
            a, b = rep.affine
            inner = node.inner  # type: ignore[attr-defined]
            square, clean = self.square(inner), self.clean_number(inner)
            if self.snapped(inner) is not None:
                self._snapped[node] = combine((a, clean), (b, {ONE: 1.0}))
            return combine((a * a, square), (2 * a * b, clean), (b * b, {ONE: 1.0}))
        points = np.array(sorted(float(v) for v in self.ledger.sets.known(node)))
        if rep.exact:
            return self.mlp.lookup(f"{node.label}^2", node, rep, points, (points**2).tolist())[None]
        # A noisy input (it passed through attention): the same units also give the value
        # snapped back onto its value set, which the equality score uses instead, since its
        # error is multiplied by the distance between key and query there.
        lookup = self.mlp.build(node, rep, points, np.stack([points, points**2], axis=1))
        columns = self.mlp.add(node.label, node, lookup, ["snapped", "square"], [f"{node.label}~", f"{node.label}^2"])
        self._snapped[node] = columns["snapped"]
        return columns["square"]

    def cheap_square(self, node: ir.SOp) -> bool:
        """Whether the square of a numerical s-op needs no MLP of its own."""
        rep = self.rep(node)
        if rep.square is not None or node in self._squares or self.known_indicators(node) is not None:
            return True
        if rep.number is not None and set(rep.number) <= {INDICES, ONE}:
            return True
        return rep.affine is not None and self.cheap_square(node.inner)  # type: ignore[attr-defined]

    def clamped(self, node: ir.SOp, bounds: tuple[float, float], centre: float) -> tuple[Functional, Functional]:
        """v - centre and (v - centre)^2, where v is the value of `node` clamped into `bounds`
        or a little wider (and snapped onto its value set when it passed through attention).

        An equality score reads its queries this way when their values reach beyond the keys'
        range widened by one gap: no value out there matches a key, so clamping into any range
        that holds that one selects the same keys, while the MLP steps only inside it and the
        squares stay as small as the keys' range (their rounding limits float32).  The MLP
        clamps one gap wider than asked, so that reads at q and q - 1 share it; `a x + b` is
        clamped through x."""
        affine = self.rep(node).affine
        if affine is not None:
            a, b = affine
            low, high = sorted(((bounds[0] - b) / a, (bounds[1] - b) / a))
            value, square = self.clamped(node.inner, (low, high), (centre - b) / a)  # type: ignore[attr-defined]
            return combine((a, value)), combine((a * a, square))
        key = next(
            (k for k in self._clamps if k[0] is node and k[1][0] <= bounds[0] and k[1][1] >= bounds[1]),
            None,
        )
        key = key or self._clamp(node, bounds)
        value, square = self._clamps[key]
        offset = key[2] - centre  # from the MLP's centre to the one asked for
        return (
            combine((1.0, value), (offset, {ONE: 1.0})),
            combine((1.0, square), (2 * offset, value), (offset * offset, {ONE: 1.0})),
        )

    def _clamp(self, node: ir.SOp, bounds: tuple[float, float]) -> Clamp:
        """The MLP of `clamped`, one gap wider than `bounds`; returns its key in the memo."""
        points = np.array(sorted(float(v) for v in self.ledger.sets.known(node)))
        gap = float(np.diff(points).min()) if len(points) > 1 else 1.0
        wide = (bounds[0] - gap, bounds[1] + gap)
        middle = (wide[0] + wide[1]) / 2
        middle = float(math.floor(middle)) if gap == 1 else middle
        shifted = np.clip(points, *wide) - middle
        rep = self.rep(node)
        assert rep.number is not None
        lookup = self.mlp.build(node, rep, points, np.stack([shifted, shifted**2], axis=1))
        columns = self.mlp.add(node.label, node, lookup, ["value", "square"], [f"{node.label}~", f"{node.label}^2"])
        key = (node, wide, middle)
        self._clamps[key] = (columns["value"], columns["square"])
        return key

    def matched(
        self, node: ir.SOp, keys: frozenset[float], outside: float, centre: float
    ) -> tuple[Functional, Functional]:
        """v - centre and (v - centre)^2, where v is the value of `node` where a key has it,
        and `outside` (a value no key has) where none does.

        An equality score reads its queries this way when many of their values lie between
        the keys' values and equal none (a mean of positions against positions): such a query
        selects no key wherever it lies, so sending them all to one value selects the same
        keys, while the MLP steps only around the values that match, and the score's gap is
        the keys' gap, not the least distance from a query value to a key."""
        memo = (node, keys, outside, centre)
        if memo not in self._matches:
            points = np.array(sorted(float(v) for v in self.ledger.sets.known(node)))
            snapped = np.array([p if p in keys else outside for p in points.tolist()]) - centre
            lookup = self.mlp.build(node, self.rep(node), points, np.stack([snapped, snapped**2], axis=1))
            names = [f"{node.label}~", f"{node.label}^2"]
            columns = self.mlp.add(node.label, node, lookup, ["value", "square"], names)
            self._matches[memo] = (columns["value"], columns["square"])
        return self._matches[memo]

    # -------------------------------------------------------------------------- joints

    def joint(self, nodes: list[ir.SOp]) -> ir.SOp:
        """A categorical s-op whose value is the tuple of the values of `nodes`."""
        key = tuple(node.uid for node in nodes)
        if key not in self._joints:
            joint = ir.SequenceMap(
                fn=lambda *xs: tuple(xs),
                inputs=tuple(nodes),
                name="(" + ", ".join(n.label for n in nodes) + ")",
            )
            self.ledger.analyse(joint)
            self._joints[key] = joint
        return self._joints[key]


def embedded(node: ir.SOp, sets: ValueSets) -> Rep | None:
    """The rep of an s-op the embeddings hold (tokens, constants, positions), else None."""
    if isinstance(node, ir.Tokens):
        groups: dict[Any, dict[Dim, float]] = {}
        for token, value in sets.local[node].items():  # type: ignore[union-attr]
            groups.setdefault(value, {})[token_dim(token)] = 1.0
        return categorical(sets.known(node), groups)
    if isinstance(node, ir.Full):
        return categorical(sets.known(node), {node.value: constant(1.0)})
    if isinstance(node, ir.Indices):
        return numerical(sets.known(node), {INDICES: 1.0}, square={INDICES_SQUARED: 1.0})
    return None


def positions_of_affine(known: frozenset, slope: float, offset: float, n: int) -> list[frozenset]:
    """For each position i < n, the values of `known` that `slope * i + offset` stands for: a
    value v is at the index nearest (v - offset) / slope when it lies within a millionth of the
    spacing `slope` of it (float rounding in the interpreter's form of the same map moves a
    value by far less; two values of a map of positions are `slope` apart or more)."""
    rows: list[set] = [set() for _ in range(n)]
    for value in known:
        index = (float(value) - offset) / slope
        nearest = round(index)
        if abs(index - nearest) <= 1e-6 and 0 <= nearest < n:
            rows[nearest].add(value)
    return [frozenset(row) for row in rows]
