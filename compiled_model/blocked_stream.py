"""The residual stream of the fast passes, kept as the blocks its writers wrote.

A compiled model's residual stream is wide (hundreds of dimensions) and each sublayer reads a few
dozen of them and writes a few: the universal Turing model of three states reads 1,036 and
writes 300 dimensions in all across its 13 sublayers, of a stream 299 wide.  Kept as one array,
every sublayer gathers its columns out of the whole stream and scatters its update back into it,
and those copies of the whole stream were nearly all the time of a teacher-forced pass (145 KB
moved per position for 76 KFLOP of arithmetic).  Here the stream is a list of blocks instead:
the embedding's dimensions, then one block per sublayer holding the dimensions it is the first
to write, so that a sublayer's update becomes a new block without a scatter, and a sublayer
whose reads the plan lists in block order (`compiled_model.fast_plan`) reads a few slices.

The blocks hold the same numbers the whole stream would (a dimension nobody wrote is zero, and
a sum over the dimensions a sublayer reads leaves out only zero terms), so the passes' results
are those of the whole-stream arithmetic up to the order of float additions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from compiled_model.arithmetic import Params, embed_positions, position_weights


def _columns(array: jax.Array, columns: Sequence[int]) -> jax.Array:
    """`array[:, columns]` for static columns: the array itself or a slice where they run
    contiguously (no gather), else a gather of a few columns."""
    columns = list(columns)
    if columns == list(range(array.shape[1])):
        return array
    if columns == list(range(columns[0], columns[0] + len(columns))):
        return array[:, columns[0] : columns[0] + len(columns)]
    return array[:, np.array(columns, int)]


Weights = jax.Array | dict[str, jax.Array]
"""A matrix, or one kept as gathers (`compiled_model.fast_plan.GATHERED`): per column, the rows
of its few nonzero entries and their values (`index`, `weight`: columns x entries)."""


def times(x: jax.Array, weights: Weights) -> jax.Array:
    """x (t, rows) @ weights: a product, or for gathers the sum of each column's few entries
    (two gathered columns per unit cost less than a product over the hundred rows it skips)."""
    if not isinstance(weights, dict):
        return x @ weights
    index, weight = weights["index"].astype(jnp.int32), weights["weight"]
    return sum(x[:, index[:, entry]] * weight[:, entry] for entry in range(index.shape[1]))


@dataclass(frozen=True)
class Stream:
    """The residual streams (t positions) as blocks (t, k) and the dimensions each holds, in
    its column order; a dimension in no block is zero."""

    blocks: tuple[jax.Array, ...]
    dims: tuple[tuple[int, ...], ...]

    @classmethod
    def embedded(cls, params: Params, token_ids: jax.Array, positions: jax.Array, dims: Sequence[int]) -> Stream:
        """The embedding of token_ids (t,) at `positions`, kept on `dims`, the dimensions the
        token and position embeddings write (`FastPlan.embedded`).  A block of one cuts the
        embedded row; a longer block cuts the tables first, so that no position is embedded
        at the whole width."""
        index = np.array(dims, int)
        if token_ids.shape[0] == 1:
            block = params["token_embed"][token_ids][:, index] + embed_positions(params, positions)[:, index]
        else:
            name = position_weights(params)
            cut = {name: params[name][..., index]}
            block = params["token_embed"][:, index][token_ids] + embed_positions(cut, positions)
        return cls((block,), (tuple(dims),))

    def _where(self) -> dict[int, tuple[int, int]]:
        """Each dimension's block and column."""
        return {dim: (block, column) for block, dims in enumerate(self.dims) for column, dim in enumerate(dims)}

    def add(self, dims: Sequence[int], update: jax.Array) -> Stream:
        """The stream with `update` (t, len(dims)) added at `dims`: the dimensions no block
        holds yet become one new block, the others are added into their blocks."""
        where = self._where()
        blocks, held = list(self.blocks), list(self.dims)
        into: dict[int, list[tuple[int, int]]] = {}
        for source, dim in enumerate(dims):
            if dim in where:
                block, column = where[dim]
                into.setdefault(block, []).append((column, source))
        for block, pairs in into.items():
            columns, sources = zip(*pairs)
            blocks[block] = blocks[block].at[:, np.array(columns, int)].add(_columns(update, sources))
        fresh = [source for source, dim in enumerate(dims) if dim not in where]
        if fresh:
            blocks.append(_columns(update, fresh))
            held.append(tuple(dims[source] for source in fresh))
        return Stream(tuple(blocks), tuple(held))

    def _runs(self, dims: Sequence[int]) -> list[tuple[int | None, list[int], list[int]]]:
        """`dims` as runs of dimensions that lie side by side in one block, in order: (the
        block, or None for dimensions no block holds, which are zero; its columns; the runs'
        places in `dims`)."""
        where = self._where()
        runs: list[tuple[int | None, list[int], list[int]]] = []
        for place, dim in enumerate(dims):
            block, column = where.get(dim, (None, 0))
            if runs and runs[-1][0] == block and (block is None or runs[-1][1][-1] < column):
                runs[-1][1].append(column)
                runs[-1][2].append(place)
            else:
                runs.append((block, [column], [place]))
        return runs

    def read(self, dims: Sequence[int]) -> jax.Array:
        """The columns (t, len(dims)) of `dims`, in that order: one slice per run of
        dimensions that lie side by side in one block (a whole block where a sublayer reads
        all of it), zeros for a dimension no block holds."""
        first = self.blocks[0]
        pieces = [
            jnp.zeros((first.shape[0], len(columns)), first.dtype) if block is None
            else _columns(self.blocks[block], columns)
            for block, columns, _ in self._runs(dims)
        ]
        if not pieces:
            return jnp.zeros((first.shape[0], 0), first.dtype)
        return pieces[0] if len(pieces) == 1 else jnp.concatenate(pieces, axis=1)

    def product(self, dims: Sequence[int], weights: Weights) -> jax.Array:
        """`read(dims) @ weights` (weights: one row per dimension of `dims`), as a sum of
        products of each run's slice with its rows, so that the columns are never copied
        side by side; dimensions no block holds add nothing.  Gathers (`times`) read first."""
        if isinstance(weights, dict):
            return times(self.read(dims), weights)
        total = None
        for block, columns, places in self._runs(dims):
            if block is None:
                continue
            part = _columns(self.blocks[block], columns) @ weights[places[0] : places[-1] + 1]
            total = part if total is None else total + part
        if total is None:
            return jnp.zeros((self.blocks[0].shape[0], weights.shape[1]), weights.dtype)
        return total

    def whole(self, width: int) -> jax.Array:
        """The stream as one array (t, width)."""
        joined = jnp.concatenate([*self.blocks, jnp.zeros((self.blocks[0].shape[0], 1), self.blocks[0].dtype)], axis=1)
        column = dict(zip((dim for dims in self.dims for dim in dims), range(joined.shape[1] - 1)))
        return joined[:, np.array([column.get(dim, joined.shape[1] - 1) for dim in range(width)], int)]


@dataclass(frozen=True)
class WholeStream:
    """The residual streams as one array (t, width), behind `Stream`'s methods: what a block of
    one position (a decoder's step) keeps, where the blocks would save no copying and would
    cost compilation time (a third more for a Turing model's step)."""

    x: jax.Array

    @classmethod
    def embedded(cls, params: Params, token_ids: jax.Array, positions: jax.Array) -> WholeStream:
        return cls(params["token_embed"][token_ids] + embed_positions(params, positions))

    def add(self, dims: Sequence[int], update: jax.Array) -> WholeStream:
        return WholeStream(self.x.at[:, np.array(dims, int)].add(update))

    def read(self, dims: Sequence[int]) -> jax.Array:
        return self.x[:, np.array(dims, int)]

    def product(self, dims: Sequence[int], weights: Weights) -> jax.Array:
        return times(self.read(dims), weights)

    def whole(self, width: int) -> jax.Array:
        return self.x
