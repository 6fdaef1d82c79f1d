"""Lowering's record of the model under construction: the residual dimensions made so far and
their bounds, the blocks in the order they were made, the heads' logit scales (which the
margin tightening may still raise), the categorical aggregates to check for mixtures, the
value sets (extended by the few s-ops lowering makes itself), the size budget and the
attention mode.

The only mutable state of the lowering stage besides its memo tables; `finish` hands the
blocks over, frozen, with their final scales.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from compiler.blocks import BOS, INDICES, INDICES_SQUARED, ONE, Block, Dim, Functional, HeadBlock, Mixture
from compiler.budget import DEFAULT_BUDGET, UNIT_COST, parameters, unit_allowance
from compiler.errors import fail
from compiler.valuesets import ValueSets
from rasp import ir


class Ledger:
    def __init__(self, sets: ValueSets, budget: int = DEFAULT_BUDGET, hard: bool = False):
        self.sets = sets
        self.causal = sets.causal
        self.budget = budget
        self.hard = hard  # hard attention: heads are exact, their scales fixed (see margins)
        # whether the positions are embedded by a table of n + 1 rows (assemble._uses_table): in
        # soft mode always, in hard mode once a block reads the one-hot of a position
        self.position_table = not hard
        self._index_dims = 0  # the one-hot dimensions of positions read so far (shared by all readers)
        self.n = sets.max_seq_len
        self.blocks: list[Block] = []
        self.mixtures: list[Mixture] = []
        self._names: set[str] = {str(ONE), str(BOS)}
        self._bounds: dict[Dim, float] = {ONE: 1.0, BOS: 1.0, INDICES: self.n, INDICES_SQUARED: self.n**2}
        self._scales: dict[int, float] = {}  # a head's index in `blocks` -> its logit scale

    @property
    def vocab(self) -> tuple[Any, ...]:
        return self.sets.vocab

    def analyse(self, node: ir.SOp) -> None:
        """Adds the value sets of an s-op that lowering made (and of everything below it)."""
        self.sets = self.sets.extended(node)

    def fresh(self, base: str, writer: ir.Node, bound: float, indicates: tuple[Any, ...] = ()) -> Dim:
        """A new dimension written by `writer`'s block, named `base` (or `base#2`, ... when
        taken), whose value never exceeds `bound` in absolute value; with `indicates` (v,),
        the indicator of the value v of the family `base`, named `base:v`."""
        name = f"{base}:{indicates[0]!r}" if indicates else base
        family = base
        base = name
        suffix = 1
        while name in self._names:
            suffix += 1
            name = f"{base}#{suffix}"
        self._names.add(name)
        dim = Dim("written", name, writer, family, indicates)
        self._bounds[dim] = bound
        return dim

    def bound(self, functional: Functional) -> float:
        """An upper bound of |functional| over every position (embedding dims default to 1)."""
        return sum(abs(c) * self._bounds.get(label, 1.0) for label, c in functional.items())

    def add_block(self, block: Block, node: ir.Node) -> int:
        """Records `block` (made for `node`) and returns its index."""
        self.blocks.append(block)
        if isinstance(block, HeadBlock):
            self._scales[len(self.blocks) - 1] = block.scale
        self.check_budget(node)
        return len(self.blocks) - 1

    def scale(self, head: int) -> float:
        return self._scales[head]

    def raise_scale(self, head: int, scale: float) -> None:
        self._scales[head] = max(self._scales[head], scale)

    def check_budget(self, node: ir.Node, units: int = 0, dims: int = 0) -> None:
        """Refuses `node` when the model built so far, plus `units` more MLP units and `dims` more
        residual dimensions, already has more parameters than the budget allows.  The residual
        width only grows, so this lower bound of the final count is safe to act on before
        anything is allocated.  It counts the position table too when there is one, which alone
        puts a soft model of 10^6 positions over the default budget before any block exists."""
        width = len(self._names) + len(self.vocab) + self._index_dims + dims
        estimate = parameters(self.blocks, width, extra_units=units)
        if self.position_table:
            estimate += (self.n + 1) * width
        if estimate > self.budget:
            raise fail(
                node,
                f"the model would have at least {estimate:,} parameters, over the budget of "
                f"{self.budget:,} (raise it with compile(..., budget=N) or --budget N)",
            )

    def check_units(self, node: ir.Node, units: int, dims: int = 0) -> None:
        """Refuses `node` before an MLP of `units` hidden units writing `dims` new dimensions
        exists: when the model would then be over the budget, or when building that many units
        would take more memory than the budget allows (UNIT_COST) although their parameters
        fit (two units per position of a one-dimensional table over 10^6 positions)."""
        allowance = unit_allowance(self.budget)
        if units > allowance:
            raise fail(
                node,
                f"its MLP would have {units:,} hidden units, more than the {allowance:,} the budget of "
                f"{self.budget:,} parameters lets the compiler build (a unit costs the memory of {UNIT_COST} "
                "parameters while it is built; raise it with compile(..., budget=N) or --budget N)",
            )
        self.check_budget(node, units=units, dims=dims)

    def use_position_table(self, node: ir.Node, dims: int) -> None:
        """Records that `node` reads the one-hot of positions, through `dims` residual dimensions
        (one per position, shared with every other reader), and refuses it, before they exist,
        when the table of n + 1 positions over the wider residual puts the model over the
        budget."""
        self.position_table = True
        self.check_budget(node, dims=max(0, dims - self._index_dims))
        self._index_dims = max(self._index_dims, dims)

    def check_table(self, node: ir.Node, rows: int, columns: int) -> None:
        """Refuses `node` before its MLP's output table of `rows` x `columns` floats exists, when
        the model it implies or the table itself is over the budget.  A categorical output of
        C values writes C - 1 dimensions and needs at least C - 1 units (its C one-hot rows are
        affinely independent, and each unit adds one direction to the outputs); and no table may
        hold more floats than the largest model the budget allows, which keeps every array the
        compiler makes as small as the weights it may build."""
        if columns > 1:
            self.check_budget(node, units=columns - 1, dims=columns - 1)
        if rows * columns > self.budget:
            raise fail(
                node,
                f"its MLP's output table would be {rows:,} x {columns:,} floats ({rows * columns * 8 / 2**30:.1f} "
                f"GiB), more than the budget of {self.budget:,} parameters (raise it with compile(..., budget=N) "
                "or --budget N)",
            )

    def finish(self) -> tuple[Block, ...]:
        """The blocks, each head with its final logit scale."""
        return tuple(
            dataclasses.replace(block, scale=self._scales[index]) if isinstance(block, HeadBlock) else block
            for index, block in enumerate(self.blocks)
        )
