"""Stage 3: place the blocks into layers.

The blocks form a DAG (a block depends on the blocks that write the dimensions it reads).  A
layer is an attention sublayer followed by an MLP sublayer, so heads go to even slots and MLPs
to odd ones; every block goes to the earliest slot of its kind after all its inputs.  That is
the longest path through the DAG, hence the fewest layers; the heads sharing a slot run side by
side and the MLPs sharing a slot are merged into one MLP.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from compiler.blocks import Block, HeadBlock, MLPBlock


@dataclass
class Layer:
    heads: list[HeadBlock]
    mlps: list[MLPBlock]


def dependency_graph(blocks: list[Block]) -> nx.DiGraph:
    writer = {label: index for index, block in enumerate(blocks) for label in block.writes}
    graph = nx.DiGraph()
    graph.add_nodes_from(range(len(blocks)))
    for index, block in enumerate(blocks):
        for label in block.reads:
            if label in writer:
                graph.add_edge(writer[label], index)
    return graph


def schedule(blocks: list[Block]) -> list[Layer]:
    graph = dependency_graph(blocks)
    slot: dict[int, int] = {}
    for index in nx.topological_sort(graph):
        earliest = max((slot[p] + 1 for p in graph.predecessors(index)), default=0)
        parity = 0 if isinstance(blocks[index], HeadBlock) else 1
        slot[index] = earliest + ((earliest - parity) % 2)
    count = (max(slot.values(), default=-1) + 2) // 2
    layers = [Layer([], []) for _ in range(count)]
    for index, block in enumerate(blocks):
        if isinstance(block, HeadBlock):
            layers[slot[index] // 2].heads.append(block)
        else:
            layers[slot[index] // 2].mlps.append(block)
    return layers
