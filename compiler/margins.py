"""Every numeric margin the compiled model relies on, in one place.

A compiled model is exact because every approximation it makes stays inside a margin that the
next block tolerates.  Errors are bounds, in real arithmetic, on how far a represented value
may be from the true one at any non-BOS position (for a categorical s-op: the sum over its
values of the indicators' errors); float rounding is checked separately (`float_ok`).

- **Softmax leak.**  An attention head whose selected keys score `1 ± d`, whose BOS key scores
  `bos_gap` below that and whose unselected keys at most `d`, with logits scaled by `scale`,
  leaves at most `(n + 1) exp(-scale (bos_gap - d))` of its weight off the selected keys, and
  the selected keys' weights differ by a factor of at most `exp(2 scale d)` (`head_error`).
- **Steps.**  A discretising MLP is exact while its input stays within a quarter of the gap
  between neighbouring points of its value set (`mlps.discretise`); a selector width's decoder
  reads the BOS weight `1/(w + 1)`, whose neighbours differ by at least `1/(n (n + 1))`.
- **Decoding.**  A numerical output is snapped to the nearest value of its set: its error must
  stay under half the smallest gap; a fraction (a mean whose set was not enumerated) is read as
  the nearest fraction with denominator at most n, so its error must stay under `1/(2 n^2)`.
- **The BOS position.**  In a non-causal model the BOS query must attend to the BOS key only,
  so that its residual stream is the constant the assembly computes.  Its own logit is raised
  to `BOS_SELF_LOGIT` (at least), against 0 for every other key: `exp(-120)` is below the
  smallest float32 and negligible next to float64's rounding.
- **Float rounding.**  A logit of size L is off by about `L eps`; that must stay well inside
  both the score gap and the spread the head's output tolerates; an MLP cancels ramps of size
  `max_preactivation`, whose rounding must stay far below its output steps.
- **Hard attention.**  A hard head weights alike the keys whose score is within the tie window
  of the largest and ignores the rest.  If the selected keys score g above the best other key
  (the BOS for an aggregate, g = 1/2; an unselected key for a selector width, whose BOS ties
  with the selected keys, g = 1) and every score is off by at most e (noisy inputs plus
  rounding), a window of g/2 takes exactly the selected keys (and the BOS where it ties) when
  2e < g/2: the selected keys then lie within 2e of each other, the others more than
  g - 2e > g/2 below.  Its output is then the exact mean (no leak), off by float rounding only:
  a sum of at most n + 1 terms, each under the values' bound (`hard_value_ok`).  Scores are
  scaled by `HARD_GAP / g` (a power of two, exact) so that one window serves every head.
- **Integer scores.**  The latest-match and position-lookup heads of `compiler.idioms` score
  keys by integers (the BOS by a half), and their gate MLPs compute on integers: no rounding
  at all while every score and partial sum (doubled, for the halves) stays below the float's
  exact integers, 2^24 in float32 and 2^53 in float64 (`integers_exact`).
"""

from __future__ import annotations

import math

import numpy as np

from compiled_model.spec import TIE_WINDOW

#: The logit of the BOS key for the BOS query of a non-causal head (every other key scores 0).
BOS_SELF_LOGIT = 120.0

#: Relative rounding of one float operation, with room for sums: float32 keeps 24 bits,
#: float64 53.
EPSILON = {"float32": 2.0**-22, "float64": 2.0**-50}

#: Share of an output's smallest gap a numerical aggregate's leak may take (the rest is left
#: for the errors of its inputs and for rounding).
AGGREGATE_TOLERANCE = 1e-3

#: The largest logit scale the compiler will use when tightening a head.
MAX_SCALE = 400.0

#: The error that the heads behind a score's categorical inputs are tightened to, so that the
#: scores built on them are exact to that much.
SCORE_INPUT_ERROR = 1e-12


#: Hard attention: each head's scores are scaled so that its selected keys lie this far above
#: every other key: twice the tie window the model attends with (see above).
HARD_GAP = 2 * TIE_WINDOW


def hard_scale(gap: float) -> float:
    """The factor that puts a head's score gap `gap` (1/2 or 1) at HARD_GAP."""
    return HARD_GAP / gap


def hard_separable(gap: float, score_error: float, magnitude: float, dtype: str) -> bool:
    """Whether a hard head whose scores (at most `magnitude` in size) are off by `score_error`
    from noisy inputs, plus their rounding in `dtype`, tells its selected keys from the others
    with a window of gap/2: 2e < g/2."""
    error = score_error + (magnitude + 1.0) * EPSILON[dtype]
    return 2 * error < gap / 2


def hard_value_ok(n: int, value_bound: float, tolerance: float, dtype: str) -> bool:
    """Whether the rounding of a hard head's mean, a sum of at most n + 1 values up to
    value_bound weighted 1/count, stays under the tolerance of its output."""
    return (n + 1) * max(value_bound, 1.0) * EPSILON[dtype] < tolerance


def scale_for(n: int, value_bound: float, tolerance: float, bos_gap: float, score_error: float = 0.0) -> float:
    """The logit scale whose softmax leak, on up to n keys and the BOS with values up to
    value_bound, stays under `tolerance` (half for the leak itself, half for the spread)."""
    margin = bos_gap - score_error
    if margin <= 0:
        return math.inf
    return math.log(4.0 * (n + 1) * max(value_bound, 1.0) / tolerance) / margin


def head_error(n: int, value_bound: float, scale: float, bos_gap: float, score_error: float = 0.0) -> float:
    """A bound on |output - mean of the selected values| for an aggregate head (see above)."""
    margin = bos_gap - score_error
    if margin <= 0:
        return math.inf
    off = (n + 1) * math.exp(-scale * margin)
    spread = math.expm1(2 * scale * score_error)
    return 2 * max(value_bound, 1.0) * (off + spread)


def width_tolerance(n: int) -> float:
    """How far a selector width's BOS weight may be off: a quarter of the smallest gap
    between 1/(w + 1) and 1/(w + 2), w < n."""
    return 1.0 / (4.0 * n * (n + 1))


def decode_tolerance(kind: str, values: list[float] | None, n: int) -> float:
    """How far an output may be off for the decoder to read the right value: a quarter for
    indicators (read by argmax), half the smallest gap for numbers, for fractions half the
    smallest gap between fractions of denominator at most n."""
    if kind == "categorical":
        return 0.25
    if kind == "fraction":
        return 1.0 / (2.0 * n * n)
    if kind == "integer":
        return 0.5
    if not values or len(values) < 2:
        return math.inf
    points = sorted(values)
    return min(b - a for a, b in zip(points, points[1:])) / 2


def logit_ok(max_logit: float, margin: float, value_bound: float, tolerance: float, dtype: str) -> bool:
    """Whether rounding a logit of size max_logit keeps the head inside its margins in `dtype`:
    the error stays under a quarter of the score margin and, in float32, the spread it causes
    among the selected keys' weights moves the output by less than its tolerance.  (In
    float64 that spread is about 2^-29 of float32's; the bound on it, which assumes every
    term of a score at its largest at once, would refuse programs that are exact, such as the
    library's sort at n = 1000, so float64 is judged by the score margin alone.)"""
    error = max_logit * EPSILON[dtype]
    spread_ok = dtype == "float64" or 4 * max(value_bound, 1.0) * error < tolerance
    return error < margin / 4 and spread_ok


def mlp_ok(max_preactivation: float, largest_output: float, units: int, tolerance: float, dtype: str) -> bool:
    """Whether an MLP's ramps, cancelling values of up to max_preactivation weighted by up to
    largest_output, keep their rounding well below one output step."""
    if tolerance == math.inf:  # interpolation on exact integer points: no cancellation
        return True
    return max_preactivation * largest_output * EPSILON[dtype] * math.sqrt(max(units, 1)) < 0.02


#: The integers a float format holds exactly: up to 2^24 in float32, 2^53 in float64.
EXACT_INTEGERS = {"float32": 2.0**24, "float64": 2.0**53, "int64": 2.0**62}


def integers_exact(magnitude: float, dtype: str) -> bool:
    """Whether sums and products of integers up to `magnitude` (every partial result included)
    are computed without rounding in `dtype`: hard heads' integer scores and the integer MLPs
    of position lookups are exact, not approximately so, while this holds."""
    return magnitude < EXACT_INTEGERS[dtype]


def rounding_apart(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Whether a[t] and b[t] are two distinct values so close that they can only differ by
    float rounding (the interpreter's `49 * (1/49)` is 0.9999999999999999, not 1.0).  Whole
    arrays at once: the neighbours of a value set of positions are millions of pairs."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return (a != b) & (np.abs(a - b) <= 1e-9 * np.maximum(1.0, np.maximum(np.abs(a), np.abs(b))))
