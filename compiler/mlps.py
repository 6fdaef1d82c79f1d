"""MLP constructions: functions of a numerical input on a finite value set, and functions of
several categorical inputs.

Each construction returns hidden units whose outputs are vectors over m output channels plus a
constant vector `base` (added by the caller through the `one` dimension).  At a point of the
value set the result is exact; the constructions differ in what happens near a point:

- `interpolate`: the piecewise-linear function through the points, one unit per point where
  the slope changes.  With integer points and values every product and sum is an integer, so
  float32 computes it exactly (up to 2^24): used for inputs that are themselves exact
  (embeddings and MLP outputs, never attention outputs).
- `discretise`: a sum of steps, two units per point where the function changes, each step a
  ramp of width half the gap to the next point, so an input within a quarter gap of a point
  still gives the exact output: used for inputs that come from attention (softmax leaves a
  small error that must not be amplified).
- `conjunctions`: one unit per tuple of categorical values, relu(sum of indicators - (k-1)),
  which is 1 exactly when every input has its value of the tuple.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from compiler.blocks import ONE, Functional, combine


@dataclass
class LookupMLP:
    """An MLP that looks up a table of outputs: its hidden units (pre-activation functional,
    output vector) and the constant output."""

    units: list[tuple[Functional, np.ndarray]]
    base: np.ndarray
    tolerance: float
    max_preactivation: float
    deviation: np.ndarray  # per output, the largest |output - base| on the value set


#: admit(units): refuses a construction of that many hidden units before they are made (the
#: ledger's budget; a value set of positions may ask for millions, each a few Python objects).
Admit = Callable[[int], None]


def admit_any(units: int) -> None:
    """Admits every construction: for callers whose MLPs are small by design."""


def interpolate(inp: Functional, points: np.ndarray, table: np.ndarray, admit: Admit = admit_any) -> LookupMLP:
    """f(u) = table[0] + sum_t (slope_t - slope_{t-1}) relu(u - points[t]), for u >= points[0]."""
    span = float(points[-1] - points[0]) if len(points) > 1 else 0.0
    slopes = np.diff(table, axis=0) / np.diff(points)[:, None]
    changes = slopes.copy()
    changes[1:] -= slopes[:-1]
    steps = _changed(changes)
    admit(len(steps))
    units = [(combine((1.0, inp), (-float(points[t]), {ONE: 1.0})), changes[t]) for t in steps]
    deviation = np.abs(table - table[0]).max(axis=0)
    return LookupMLP(units, table[0].astype(float), 0.0, span, deviation)


def discretise(inp: Functional, points: np.ndarray, table: np.ndarray, admit: Admit = admit_any) -> LookupMLP:
    """f(u) = table[0] + sum_t (table[t+1] - table[t]) * ramp_t(u), each ramp rising from 0 to 1
    over the middle half of [points[t], points[t+1]].

    A ramp is a pair of units, relu(a + 1/2) - relu(a - 1/2) with a = (u - middle) * 2 / gap: both
    are exactly 0 on one side of the ramp and cancel on the other, where each grows with |a|.
    Steep ramps far from one end of the input's range (the decoder of a selector width, whose
    points 1/(w+1) crowd near 0) would cancel huge values there, losing the output to rounding,
    so each ramp is written as 1 - (its mirror image) when that puts the cancelling side on the
    shorter end: `max_preactivation` is then about the largest ramp width's worth of slope."""
    units: list[tuple[Functional, np.ndarray]] = []
    base = table[0].astype(float)
    tolerance = float("inf")
    largest = 0.0
    jumps = np.diff(table, axis=0)
    steps = _changed(jumps)
    admit(2 * len(steps))
    for t in steps:
        jump = jumps[t]
        gap = float(points[t + 1] - points[t])
        middle = (float(points[t]) + float(points[t + 1])) / 2
        slope = 2.0 / gap  # a = (u - middle) * slope runs from -1 to 1 between the two points
        tolerance = min(tolerance, gap / 4)
        below, above = middle - float(points[0]), float(points[-1]) - middle
        largest = max(largest, slope * min(below, above) + 0.5)
        if above <= below:  # zero below the ramp, cancelling above it
            for offset, sign in ((0.5, 1.0), (-0.5, -1.0)):
                units.append((combine((slope, inp), (offset - slope * middle, {ONE: 1.0})), sign * jump))
        else:  # jump * (1 - mirrored ramp): zero above the ramp, cancelling below it
            base = base + jump
            for offset, sign in ((0.5, -1.0), (-0.5, 1.0)):
                units.append((combine((-slope, inp), (offset + slope * middle, {ONE: 1.0})), sign * jump))
    deviation = np.abs(table - base).max(axis=0)
    return LookupMLP(units, base, tolerance, largest, deviation)


def _changed(rows: np.ndarray) -> list[int]:
    """The indices of the rows with a nonzero entry: the only steps that need units (value sets
    of positions hold millions of points, on which a function changes a few times)."""
    return np.flatnonzero(np.any(rows != 0, axis=1)).tolist()


def conjunctions(indicator_tuples: list[list[Functional]], outputs: np.ndarray, base: np.ndarray) -> LookupMLP:
    """One unit per tuple: relu(sum of its k indicators - (k - 1)) times (outputs[t] - base);
    tuples whose output equals `base` need no unit."""
    units = []
    for indicators, output in zip(indicator_tuples, outputs):
        if np.all(output == base):
            continue
        k = len(indicators)
        pre = combine(*[(1.0, ind) for ind in indicators], (-(k - 1.0), {ONE: 1.0}))
        units.append((pre, output - base))
    deviation = np.abs(outputs - base).max(axis=0) if len(outputs) else np.zeros_like(base)
    return LookupMLP(units, base.astype(float), 0.25, 1.0, deviation)


def gated_affine(
    x: Functional,
    x_points: np.ndarray,
    y: Functional,
    low: float,
    high: float,
    slopes: np.ndarray,
    admit: Admit = admit_any,
) -> LookupMLP:
    """sum over a < x of c_a, plus c_x * (y - low) / (high - low), where c_a = slopes[a] *
    (high - low): with the offset r(x) = p_x low + q_x - sum_{a < x} c_a added by the caller,
    this is p_x y + q_x, any function affine in y for each of the few exact values of x (the
    product `(indices + 1) * frac` of the RASP paper's counts).

    For each point a, relu(z) - relu(z - 1) with z = B (x - a) + (y - low) / (high - low) is 1
    when x > a (z >= 2), 0 when x < a (z <= -1) and the normalised y when x = a, for y within
    a quarter of the range (B = 2 / the smallest gap of x).  y may come from attention: its
    error passes through scaled by |p_x|, and nothing is amplified."""
    span = high - low
    gap = float(np.diff(x_points).min()) if len(x_points) > 1 else 1.0
    steep = 2.0 / gap
    admit(2 * int(np.count_nonzero(slopes)))
    units: list[tuple[Functional, np.ndarray]] = []
    for a, slope in zip(x_points.tolist(), slopes.tolist()):
        weight = np.array([slope * span])
        if weight[0] == 0:
            continue
        for offset, sign in ((0.0, 1.0), (-1.0, -1.0)):
            pre = combine((steep, x), (1.0 / span, y), (offset - steep * a - low / span, {ONE: 1.0}))
            units.append((pre, sign * weight))
    reach = steep * float(x_points[-1] - x_points[0]) + 1.5
    deviation = np.array([float(np.abs(slopes).sum() * span)])
    return LookupMLP(units, np.zeros(1), span / 4, reach, deviation)
