"""Stage 3: place the blocks into layers (a tuple of frozen `Layer`s).

The blocks form a DAG (a block depends on the blocks that write the dimensions it reads).  A
layer is an attention sublayer followed by an MLP sublayer, so heads go to even slots and MLPs
to odd ones; every block goes to the earliest slot of its kind after all its inputs.  That is
the longest path through the DAG, hence the fewest layers; the heads sharing a slot run side by
side and the MLPs sharing a slot are merged into one MLP.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import networkx as nx

from compiler.blocks import Block, HeadBlock, MLPBlock


@dataclass(frozen=True)
class Layer:
    heads: tuple[HeadBlock, ...]
    mlps: tuple[MLPBlock, ...]


def dependency_graph(blocks: Sequence[Block]) -> nx.DiGraph:
    producer = {label: index for index, block in enumerate(blocks) for label in block.writes}
    graph = nx.DiGraph()
    graph.add_nodes_from(range(len(blocks)))
    for index, block in enumerate(blocks):
        for label in block.reads:
            if label in producer:
                graph.add_edge(producer[label], index)
    return graph


def schedule(blocks: Sequence[Block]) -> tuple[Layer, ...]:
    """Every block in the earliest layer its inputs allow (heads and MLPs in the order given)."""
    graph = dependency_graph(blocks)
    slot: dict[int, int] = {}
    for index in nx.topological_sort(graph):
        earliest = max((slot[p] + 1 for p in graph.predecessors(index)), default=0)
        parity = 0 if isinstance(blocks[index], HeadBlock) else 1
        slot[index] = earliest + ((earliest - parity) % 2)
    count = (max(slot.values(), default=-1) + 2) // 2
    heads: list[list[HeadBlock]] = [[] for _ in range(count)]
    mlps: list[list[MLPBlock]] = [[] for _ in range(count)]
    for index, block in enumerate(blocks):
        if isinstance(block, HeadBlock):
            heads[slot[index] // 2].append(block)
        else:
            mlps[slot[index] // 2].append(block)
    return tuple(Layer(tuple(h), tuple(m)) for h, m in zip(heads, mlps))
