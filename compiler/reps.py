"""How one s-op lives in the residual stream (`Rep`), as made when the s-op is lowered.

A rep never changes once made.  The forms an s-op may need later (its one-hot when it was
numerical, its square, its value snapped back onto its value set) are derived by
`compiler.encodings.Encodings`, which memoises each one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType
from typing import Any

from compiler.blocks import Functional, combine, frozen
from rasp import ir
from rasp.values import all_numbers


@dataclass(frozen=True)
class HeadSource:
    """The head an s-op is read from (its index among the blocks), with what its error bound
    depends on (see margins.head_error)."""

    head: int
    value_bound: float
    bos_gap: float
    score_error: float


@dataclass(frozen=True)
class Rep:
    """The encodings an s-op was lowered to.  `values`: its value set (None: a numerical
    aggregate whose many means are not enumerated); `indicators`: its categorical form, one
    functional per value; `number`: its numerical form; `square`: a functional equal to its
    square, when it came for free; `snapped`: its number read off an MLP that snaps it back
    onto the value set.  `exact` is False when the numerical form passed through attention
    (and so may carry a small softmax error); its error bound is `source`'s leak (when read
    from a head) plus sum(c * error of s) over `inherits`, the s-ops whose errors it carries
    (see `Encodings.error`).  `affine` is (a, b) for a map lowered as a * x + b."""

    values: frozenset | None
    indicators: Mapping[Any, Functional] | None = None
    number: Functional | None = None
    square: Functional | None = None
    exact: bool = True
    snapped: Functional | None = None
    source: HeadSource | None = None
    inherits: tuple[tuple[float, ir.SOp], ...] = ()
    affine: tuple[float, float] | None = None

    @cached_property
    def numeric(self) -> bool:
        """Whether its values are numbers (asked often, of sets of millions of positions)."""
        return self.values is None or all_numbers(self.values)


def numerical(values: frozenset | None, number: Functional, **fields: Any) -> Rep:
    """A numerical rep (its functionals read-only)."""
    for name in ("square", "snapped"):
        if fields.get(name) is not None:
            fields[name] = frozen(fields[name])
    return Rep(values, number=frozen(number), **fields)


def categorical(
    values: frozenset,
    indicators: Mapping[Any, Functional],
    exact: bool = True,
    source: HeadSource | None = None,
    inherits: tuple[tuple[float, ir.SOp], ...] = (),
) -> Rep:
    """A categorical rep; one with numeric values is numerical too, for free (the sum of
    value * indicator), and so is its square."""
    number = square = None
    if values is None or all_numbers(values):
        number = frozen(combine(*[(float(v), ind) for v, ind in indicators.items()]))
        square = frozen(combine(*[(float(v) ** 2, ind) for v, ind in indicators.items()]))
    one_hot = MappingProxyType({value: frozen(indicator) for value, indicator in indicators.items()})
    return Rep(values, one_hot, number, square, exact, source=source, inherits=inherits)
