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
