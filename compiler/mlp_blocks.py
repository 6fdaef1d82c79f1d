"""MLP blocks from the constructions of `compiler.mlps`: a function of one numerical s-op on its
value set, written into new residual dimensions.  Every concern of lowering builds its MLPs
here (maps and tables, the decoders of selector widths, the one-hots and squares that
encodings derive).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from compiler.blocks import ONE, Dim, Functional, MLPBlock, Unit, combine, frozen
from compiler.errors import fail
from compiler.ledger import Ledger
from compiler.margins import rounding_apart
from compiler.mlps import Admit, LookupMLP, discretise, interpolate
from compiler.reps import Rep
from compiler.valuesets import value_order
from rasp import ir
from rasp.values import all_numbers

#: require(rep, tolerance, consumer, what): makes rep's error smaller than tolerance or refuses
#: `consumer` (`Encodings.require`).
Require = Callable[[Rep, float, ir.Node, str], None]


def output_columns(outputs: list[Any]) -> list[Any]:
    """The columns of an MLP's output table for `outputs`: one column of the numbers (column
    None), or one 0/1 column per value (one-hot) when some output is not a number."""
    return [None] if all_numbers(outputs) else value_order(frozenset(outputs))


def output_table(outputs: list[Any], columns: list[Any]) -> np.ndarray:
    """The rows an MLP must output for `outputs`, over `output_columns(outputs)`."""
    if columns == [None]:
        return np.array(outputs, float)[:, None]
    column_of = {v: c for c, v in enumerate(columns)}
    # the one column equal to y (every output is in the set; none for a value unequal to
    # itself, a NaN, which is then among the columns)
    if all(v == v for v in columns):
        found = map(column_of.__getitem__, outputs)
    else:
        found = (column_of[y] if y == y else -1 for y in outputs)
    hits = np.fromiter(found, int, count=len(outputs))
    matrix = np.zeros((len(outputs), len(columns)))
    rows = np.flatnonzero(hits >= 0)
    matrix[rows, hits[rows]] = 1.0
    return matrix


class MLPBuilder:
    def __init__(self, ledger: Ledger, require: Require):
        self.ledger = ledger
        self.require = require

    def lookup(
        self, label: str, node: ir.Node, inner: Rep, points: np.ndarray, outputs: list[Any]
    ) -> dict[Any, Functional]:
        """An MLP computing outputs[t] at points[t] of a numerical input.  Returns the output
        functionals: {None: f} for numbers, else one indicator per output value."""
        table, columns = self.table(node, outputs)
        return self.add(label, node, self.build(node, inner, points, table), columns)

    def table(self, node: ir.Node, outputs: list[Any]) -> tuple[np.ndarray, list[Any]]:
        """`output_table(outputs)` and its columns, once the ledger has admitted a table of that
        size for `node` (its size is known here, before the len(outputs) x columns floats exist)."""
        columns = output_columns(outputs)
        self.ledger.check_table(node, len(outputs), len(columns))
        return output_table(outputs, columns), columns

    def build(self, node: ir.Node, inner: Rep, points: np.ndarray, table: np.ndarray) -> LookupMLP:
        """The MLP of a function of a numerical input: interpolation when the input is exact,
        steps when it may be off a little, in which case the input must stay within the steps'
        tolerance (see margins)."""
        assert inner.number is not None
        admit = self.admitter(node, table.shape[1])
        if inner.exact:
            return interpolate(inner.number, points, table, admit)
        clashes = np.flatnonzero(rounding_apart(points[:-1], points[1:]) & np.any(table[:-1] != table[1:], axis=1))
        if len(clashes):
            t = int(clashes[0])
            raise fail(
                node,
                f"it maps {float(points[t])!r} and {float(points[t + 1])!r}, which differ only by float rounding, "
                "to different values: no transformer tells them apart (compute them exactly, "
                "for instance with round)",
            )
        lookup = discretise(inner.number, points, table, admit)
        if lookup.units:
            self.require(inner, lookup.tolerance, node, "the MLP that reads its input off the value set")
        return lookup

    def admitter(self, node: ir.Node, columns: int) -> Admit:
        """The admission of an MLP of `node` writing up to `columns` dimensions: its units
        are counted against the budget before they are made."""
        return lambda units: self.ledger.check_units(node, units, dims=columns)

    def add(
        self,
        name: str,
        node: ir.Node,
        lookup: LookupMLP,
        columns: list[Any],
        names: list[str] | None = None,
    ) -> dict[Any, Functional]:
        """Adds the MLP block of `lookup`, one dimension per output column that varies (the
        first varying column of a categorical output, whose columns sum to one everywhere, is
        one minus the others); returns each column's functional, base included.  Columns are
        categorical values unless `names` (the dimension names of numerical columns) is given."""
        return self.add_shared(node, lookup, [(name, node, columns)], names)[0]

    def add_shared(
        self,
        node: ir.Node,
        lookup: LookupMLP,
        groups: list[tuple[str, ir.Node, list[Any]]],
        names: list[str] | None = None,
    ) -> list[dict[Any, Functional]]:
        """`add` for a lookup whose columns are those of several s-ops side by side, each group
        (name, s-op, columns) with its own dimensions (and its own derived column): one block of
        shared units, written by `node`; the functionals of each group in order."""
        dims: dict[int, Dim] = {}
        spans = []
        start = 0
        for name, member, columns in groups:
            span = range(start, start + len(columns))
            start += len(columns)
            varying = [c for c in span if any(out[c] != 0 for _, out in lookup.units)]
            categorical = names is None and len(columns) > 1
            derived = varying[0] if categorical and varying else None
            for c in varying:
                if c != derived:
                    base, indicates = _column_name(name, columns[c - span.start], names, c)
                    dims[c] = self.ledger.fresh(base, member, float(lookup.deviation[c]), indicates)
            spans.append((span, columns, derived))
        units = tuple(
            Unit(frozen(pre), frozen({dims[c]: float(out[c]) for c in dims if out[c] != 0}))
            for pre, out in lookup.units
        )
        if dims:
            name = groups[0][0]
            block = MLPBlock(name, units, tuple(dims.values()), lookup.tolerance, lookup.max_preactivation)
            self.ledger.add_block(block, node)
        results = []
        for span, columns, derived in spans:
            result = {
                columns[c - span.start]: _column(dims.get(c), float(lookup.base[c])) for c in span if c != derived
            }
            if derived is not None:
                others = [(-1.0, functional) for functional in result.values()]
                result[columns[derived - span.start]] = combine((1.0, {ONE: 1.0}), *others)
            results.append(result)
        return results


def _column(dim: Dim | None, base: float) -> Functional:
    """A column's functional: its dimension (none where it never varies) plus its base."""
    return combine((1.0, {dim: 1.0} if dim is not None else {}), (base, {ONE: 1.0}))


def _column_name(name: str, value: Any, names: list[str] | None, column: int) -> tuple[str, tuple[Any, ...]]:
    """The family a column's dimension is made under, and the value it indicates: `names[column]`
    for a numerical column, else `name` and the column's categorical value (none for None)."""
    if names is not None:
        return names[column], ()
    return name, () if value is None else (value,)
