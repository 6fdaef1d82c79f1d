"""The size budget: how many parameters a compiled model may have.

Compiling refuses, before allocating anything large, a program whose model would exceed the
budget, naming the s-op whose block pushed it over.  Lowering checks a lower bound of the
final count after every block (and before building a large MLP); assembly checks the exact
count before it allocates the weight arrays.  The default keeps the dense float64 weights
under about 400 MB, and every array the compiler and JAX make of them well under 4 GB.
"""

from __future__ import annotations

from collections.abc import Sequence

from compiler.blocks import Block, HeadBlock

#: Default largest number of parameters (dense weights, zeros included).
DEFAULT_BUDGET = 50_000_000

#: The memory one value of a value set takes while the compiler holds it (a Python number and
#: its slot in a set, about 80 bytes), in float64 parameters: the analysis holds at most
#: budget / VALUE_COST values in one set, so that its sets cost about as much memory as the
#: weights the budget allows, and a length of 10^7 is refused in a second, not by MemoryError.
VALUE_COST = 10

#: The memory one MLP hidden unit takes while lowering builds it (its pre-activation and output
#: as Python dictionaries, about 800 bytes), in float64 parameters: an MLP of more than
#: budget / UNIT_COST units is refused before its units are made (a table over 10^6 positions
#: would otherwise take a minute and 3 GB before the budget saw its parameters).
UNIT_COST = 100


def value_allowance(budget: int) -> int:
    """The most values one value set may hold under `budget` (see VALUE_COST)."""
    return budget // VALUE_COST


def unit_allowance(budget: int) -> int:
    """The most hidden units one MLP may have under `budget` (see UNIT_COST)."""
    return budget // UNIT_COST


def parameters(blocks: Sequence[Block], width: int, extra_units: int = 0) -> int:
    """A lower bound of the parameters of a model of these blocks over a residual stream of
    at least `width` dimensions (padding between heads of one layer not counted)."""
    total = 0
    for block in blocks:
        if isinstance(block, HeadBlock):
            total += (2 * (len(block.query) + 1) + 2 * len(block.values)) * width
        else:
            total += len(block.units) * (2 * width + 1)
    return total + extra_units * (2 * width + 1)
