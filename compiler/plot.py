"""A picture of a compiled model: what every block reads and writes, and what its heads attend to.

`plot_model(model, tokens, path, program=program)` draws two parts into one image:

- **The residual layout**: a grid with one row per residual subspace (the embedding's `one`,
  `bos`, token one-hot and position features, then the dimensions each block writes) and one
  column per block (the embedding, every head and every MLP block layer by layer, the unembedding).
  A cell is marked R (blue) where the block reads the subspace, W (orange) where it writes it.
  Both are read off the weights themselves: a head reads the dimensions its query, key and value
  maps use and writes those its output map fills; an MLP block (the hidden units it contributes
  to its layer's merged MLP) reads the inputs of its units and writes their outputs.
- **The attention**: for every head, its attention pattern on `tokens` (queries as rows, the BOS
  and the input positions as columns; the weight a selector width gives the BOS encodes its
  count) beside the selector it implements, as the interpreter evaluates it
  (`Interpreter().evaluate_array(selector, tokens, causal)`); the selector needs `program`, the
  s-op the model was compiled from.  A selector width split into disjoint pieces has one head per
  piece, each beside the whole selector.

matplotlib is imported only when drawing (`rasp.figures`); `plot_layout` computes the geometry
without it, and its `pixels` are those of the written image.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from compiled_model import arithmetic as transformer
from compiled_model.transformer import Transformer
from rasp import ir
from rasp.errors import RaspError
from rasp.figures import DPI, require_matplotlib, save_figure, selector_image
from rasp.interpreter import Interpreter, normalise_input

# Geometry, in inches.
_CHAR = 0.065  # one character of the 7-8 pt labels
_ROW = 0.2  # a grid row
_COLUMN = 0.26  # a grid column
_MARGIN = 0.2
_TITLE = 0.45
_HEADING = 0.3
_GAP = 0.35
_MAX_LABEL = 32  # characters of a row or column label

_READ = (0.35, 0.55, 0.85)
_WRITE = (0.95, 0.6, 0.25)
_BOTH = (0.6, 0.4, 0.7)
_EMPTY = (1.0, 1.0, 1.0)


@dataclass(frozen=True)
class Subspace:
    """A row of the grid: residual dimensions written by one block (or one embedding feature)."""

    name: str
    dims: tuple[int, ...]


@dataclass(frozen=True)
class GridColumn:
    """A column of the grid.  `kind` is "embed", "head", "mlp" or "unembed"; `reads` and
    `writes` are residual dimension indices."""

    kind: str
    layer: int | None
    node: str
    reads: frozenset[int]
    writes: frozenset[int]
    head: int | None = None

    @property
    def title(self) -> str:
        if self.kind == "head":
            return f"L{self.layer} head {self.head}: {self.node}"
        if self.kind == "mlp":
            return f"L{self.layer} mlp: {self.node}"
        return self.kind


@dataclass(frozen=True)
class Head:
    """One attention head of the picture: its pattern (queries, BOS + keys) and, when the
    program is known, the selector it implements (queries, keys)."""

    layer: int
    head: int
    node: str
    pattern: np.ndarray
    selector: np.ndarray | None
    note: str


@dataclass(frozen=True)
class ModelLayout:
    """Everything `plot_model` draws, and where (inches)."""

    subspaces: list[Subspace]
    blocks: list[GridColumn]
    heads: list[Head]
    tokens: list[Any]
    causal: bool
    title: str
    label_w: float  # the grid's row labels
    header_h: float  # the grid's column titles
    cell: float  # an attention cell
    panel_w: float  # one attention panel (pattern or selector) with its labels
    panel_h: float
    per_row: int  # heads side by side
    size: tuple[float, float]

    def mark(self, row: int, column: int) -> str:
        """"R", "W", "RW" or "": how block `column` uses subspace `row`."""
        dims, block = set(self.subspaces[row].dims), self.blocks[column]
        return ("R" if dims & block.reads else "") + ("W" if dims & block.writes else "")

    @property
    def grid_top(self) -> float:
        return _MARGIN + _TITLE + _HEADING + self.header_h

    @property
    def attention_top(self) -> float:
        return self.grid_top + len(self.subspaces) * _ROW + _GAP + _HEADING

    @property
    def pixels(self) -> tuple[int, int]:
        return (math.ceil(self.size[0] * DPI - 1e-6), math.ceil(self.size[1] * DPI - 1e-6))


def _nonzero_rows(*matrices: np.ndarray) -> frozenset[int]:
    return frozenset(int(i) for m in matrices for i in np.flatnonzero(np.any(m != 0, axis=1)))


def residual_blocks(model: Transformer) -> tuple[list[Subspace], list[GridColumn]]:
    """The grid's rows and columns, read off the model's weights and layout."""
    params, labels, layout = model.params, model.labels, model.spec.layout
    embedded = _nonzero_rows(params["token_embed"].T, params[transformer.position_weights(params)].T)
    blocks = [GridColumn("embed", None, "embedding", frozenset(), embedded)]
    unit_counts = [record.units for record in model.spec.precision.mlps]
    for number, (weights, described) in enumerate(zip(params["layers"], layout)):
        attention, mlp = weights["attn"], weights["mlp"]
        for h, head in enumerate(described.heads):
            reads = _nonzero_rows(attention["w_q"][h], attention["w_k"][h], attention["w_v"][h])
            writes = _nonzero_rows(attention["w_o"][h].T)
            blocks.append(GridColumn("head", number, head.node, reads, writes, head=h))
        counts = unit_counts[: len(described.mlps)]
        unit_counts = unit_counts[len(described.mlps) :]
        if sum(counts) != mlp["w_in"].shape[1]:  # not one record per block: the merged MLP as one
            counts = [mlp["w_in"].shape[1]] if described.mlps else []
            names = [", ".join(block.node for block in described.mlps)]
        else:
            names = [block.node for block in described.mlps]
        start = 0
        for name, count in zip(names, counts):
            units = slice(start, start + count)
            start += count
            reads = _nonzero_rows(mlp["w_in"][:, units])
            writes = _nonzero_rows(mlp["w_out"][units].T)
            blocks.append(GridColumn("mlp", number, name, reads, writes))
    blocks.append(GridColumn("unembed", None, "output", _nonzero_rows(params["unembed"]), frozenset()))

    subspaces: list[Subspace] = []
    assigned: set[int] = set()
    embedding = {"one": [], "bos": [], "tokens": [], "positions": []}
    for dim in sorted(embedded):
        label = labels[dim]
        group = label if label in ("one", "bos") else "tokens" if label.startswith("tokens:") else "positions"
        embedding[group].append(dim)
    for name, dims in embedding.items():
        if dims:
            subspaces.append(Subspace(name, tuple(dims)))
            assigned |= set(dims)
    for block in blocks[1:]:
        dims = tuple(sorted(block.writes - assigned))
        if dims:
            subspaces.append(Subspace(_subspace_name([labels[d] for d in dims]), dims))
            assigned |= set(dims)
    rest = tuple(d for d in range(len(labels)) if d not in assigned)
    if rest:
        subspaces.append(Subspace("other", rest))
    return subspaces, blocks


def _subspace_name(labels: list[str]) -> str:
    """`reverse:*` for the value indicators of one s-op, the label itself for one dimension."""
    if len(labels) == 1:
        return _clip(labels[0])
    prefixes = {label.split(":", 1)[0] for label in labels}
    if len(prefixes) == 1 and all(":" in label for label in labels):
        return _clip(f"{prefixes.pop()}:*") + f" ({len(labels)})"
    return _clip(" ".join(labels)) + f" ({len(labels)})"


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_LABEL else text[: _MAX_LABEL - 1] + "…"


def _attention_nodes(program: ir.SOp | None) -> dict[str, ir.Node]:
    """Aggregates, selector widths and `length` of the program, by label (first one wins)."""
    found: dict[str, ir.Node] = {}
    if program is not None:
        for node in ir.walk(program):
            if isinstance(node, (ir.Aggregate, ir.SelectorWidth, ir.Length)):
                found.setdefault(node.label, node)
    return found


def attention_heads(model: Transformer, tokens: Sequence[Any], program: ir.SOp | None = None) -> list[Head]:
    """Every head's attention pattern on `tokens` and the selector it implements."""
    view = model.inspect(tokens)
    nodes = _attention_nodes(program)
    interpreter = Interpreter()
    selectors: dict[str, np.ndarray] = {}
    heads = []
    layout = model.spec.layout
    pieces: dict[str, int] = {}
    for layer in layout:
        for described in layer.heads:
            pieces[described.node] = pieces.get(described.node, 0) + 1
    seen: dict[str, int] = {}
    for number, layer in enumerate(layout):
        for h, described in enumerate(layer.heads):
            name = described.node
            seen[name] = seen.get(name, 0) + 1
            node = nodes.get(name)
            selector = None
            note = ""
            if isinstance(node, ir.Length):
                note = "length: uniform over the BOS and every position"
            elif node is not None:
                if name not in selectors:
                    selectors[name] = np.asarray(
                        interpreter.evaluate_array(node.selector, list(tokens), model.causal), dtype=bool  # type: ignore[attr-defined]
                    )
                selector = selectors[name]
            elif program is not None:
                note = "no s-op of this name in the program"
            if pieces[name] > 1:
                note = f"piece {seen[name]} of {pieces[name]} (disjoint; widths add up)"
            pattern = view["attention"][number][h][1:, :]
            heads.append(Head(number, h, name, pattern, selector, note))
    return heads


def plot_layout(model: Transformer, tokens: Any, program: ir.SOp | None = None) -> ModelLayout:
    """The geometry of `plot_model`'s picture, without drawing (no matplotlib needed)."""
    token_list = normalise_input(tokens)
    if not token_list:
        raise RaspError("plot_model needs at least one input token")
    subspaces, blocks = residual_blocks(model)
    heads = attention_heads(model, token_list, program)
    longest_row = max(len(s.name) for s in subspaces)
    longest_title = max(len(b.title) for b in blocks)
    label_w = _CHAR * min(longest_row, _MAX_LABEL + 6) + 0.15
    header_h = 0.056 * min(longest_title, _MAX_LABEL + 8) + 0.12
    grid_w = label_w + len(blocks) * _COLUMN
    n = len(token_list)
    longest_token = max(len(str(t)) for t in token_list)
    cell = max(0.1, min(0.22, 3.5 / (n + 1)))
    tick = _CHAR * max(3, min(longest_token, 8)) + 0.1
    panel_w = tick + (n + 1) * cell + 0.25
    panel_h = 0.5 + tick + n * cell + 0.2
    per_row = 2 if len(heads) > 1 else 1
    rows = math.ceil(len(heads) / per_row)
    attention_w = per_row * 2 * panel_w + (per_row - 1) * _GAP
    layers = len(model.params["layers"])
    title = f"{model.spec.program}: {layers} layers, {len(model.labels)} residual dimensions"
    width = 2 * _MARGIN + max(grid_w, attention_w, _CHAR * len(title) * 1.3, 4.0)
    height = (
        _MARGIN + _TITLE + _HEADING + header_h + len(subspaces) * _ROW + _GAP + _HEADING + rows * panel_h + _MARGIN
    )
    return ModelLayout(
        subspaces,
        blocks,
        heads,
        token_list,
        model.causal,
        title,
        label_w,
        header_h,
        cell,
        panel_w,
        panel_h,
        per_row,
        (width, height),
    )


def default_input(model: Transformer) -> list[Any]:
    """The input pictures of `model` use unless told otherwise: the vocabulary repeated, up to 8
    tokens."""
    return [model.vocab[i % len(model.vocab)] for i in range(min(model.max_seq_len, 8))]


def plot_model(
    model: Transformer, tokens: Any, path: str | os.PathLike[str], program: ir.SOp | None = None
) -> Path:
    """Draw `model` (see the module docstring) on the input `tokens` into the image `path`
    (PNG unless the suffix says otherwise); `program` is the s-op it was compiled from, for the
    selector matrices.  Returns the path."""
    layout = plot_layout(model, tokens, program)
    Figure, FigureCanvasAgg = require_matplotlib()
    width, height = layout.size
    # matplotlib truncates the size in pixels: a hundredth of a pixel more keeps it exact
    figure = Figure(figsize=tuple((p + 0.01) / DPI for p in layout.pixels), dpi=DPI)
    FigureCanvasAgg(figure)
    figure.text(_MARGIN / width, 1 - _MARGIN / height, layout.title, ha="left", va="top", fontsize=11, weight="bold")
    _draw_grid(figure, layout)
    _draw_attention(figure, layout)
    return save_figure(figure, path)


def _axes(figure: Any, layout: ModelLayout, left: float, top: float, w: float, h: float) -> Any:
    width, height = layout.size
    return figure.add_axes((left / width, 1 - (top + h) / height, w / width, h / height))


def _heading(figure: Any, layout: ModelLayout, top: float, text: str) -> None:
    """The heading of one part of the picture, `top` inches below its top edge."""
    width, height = layout.size
    figure.text(_MARGIN / width, 1 - top / height, text, ha="left", va="top", fontsize=9)


def _draw_grid(figure: Any, layout: ModelLayout) -> None:
    _heading(
        figure, layout, _MARGIN + _TITLE, "Residual subspaces (rows) read (R) and written (W) by each block (columns)"
    )
    rows, columns = len(layout.subspaces), len(layout.blocks)
    left = _MARGIN + layout.label_w
    axes = _axes(figure, layout, left, layout.grid_top, columns * _COLUMN, rows * _ROW)
    image = np.empty((rows, columns, 3))
    colours = {"R": _READ, "W": _WRITE, "RW": _BOTH, "": _EMPTY}
    for r in range(rows):
        for c in range(columns):
            mark = layout.mark(r, c)
            image[r, c] = colours[mark]
            if mark:
                axes.text(c + 0.5, r + 0.5, mark, ha="center", va="center", fontsize=6, color="white")
    axes.imshow(image, extent=(0, columns, rows, 0), aspect="auto", interpolation="nearest")
    axes.set_xticks(np.arange(columns) + 0.5, [_clip(b.title) for b in layout.blocks], rotation=90, fontsize=7)
    axes.xaxis.tick_top()
    axes.set_yticks(np.arange(rows) + 0.5, [s.name for s in layout.subspaces], fontsize=7)
    axes.tick_params(length=0, pad=2)
    axes.set_xticks(np.arange(columns + 1), minor=True)
    axes.set_yticks(np.arange(rows + 1), minor=True)
    axes.grid(which="minor", color="#cccccc", linewidth=0.5)
    axes.tick_params(which="minor", length=0)
    # Layer boundaries (columns L<k>): a darker line before each layer's first block.
    starts = {block.layer: c for c, block in reversed(list(enumerate(layout.blocks))) if block.layer is not None}
    for start in (*starts.values(), columns - 1):
        axes.axvline(start, color="#333333", linewidth=1.0)


def _draw_attention(figure: Any, layout: ModelLayout) -> None:
    _heading(
        figure,
        layout,
        layout.attention_top - _HEADING,
        "Attention on the input (queries × BOS + keys) beside the selector each head implements",
    )
    width, height = layout.size
    labels = [_clip(str(t))[:8] for t in layout.tokens]
    n = len(labels)
    tick = layout.panel_w - (n + 1) * layout.cell - 0.25
    for index, head in enumerate(layout.heads):
        row, column = divmod(index, layout.per_row)
        left = _MARGIN + column * (2 * layout.panel_w + _GAP)
        top = layout.attention_top + row * layout.panel_h
        title = f"layer {head.layer} head {head.head}: {_clip(head.node)}"
        figure.text(left / width, 1 - top / height, title, ha="left", va="top", fontsize=8, weight="bold")
        if head.note:
            figure.text(left / width, 1 - (top + 0.17) / height, head.note, ha="left", va="top", fontsize=6.5)
        grid_top = top + 0.5
        axes = _axes(figure, layout, left + tick, grid_top, (n + 1) * layout.cell, n * layout.cell)
        axes.imshow(head.pattern, cmap="Blues", vmin=0.0, vmax=1.0, extent=(0, n + 1, n, 0), aspect="auto")
        axes.axvline(1, color="#333333", linewidth=0.8)
        axes.set_xticks(np.arange(n + 1) + 0.5, ["BOS", *labels], rotation=90, fontsize=6)
        axes.set_yticks(np.arange(n) + 0.5, labels, fontsize=6)
        axes.tick_params(length=0, pad=1)
        axes.set_title("attention", fontsize=7, pad=2)
        if head.selector is None:
            continue
        matrix = _axes(figure, layout, left + layout.panel_w + tick, grid_top, n * layout.cell, n * layout.cell)
        image = selector_image(head.selector, layout.causal)
        matrix.imshow(image, extent=(0, n, n, 0), aspect="auto", interpolation="nearest")
        matrix.set_xticks(np.arange(n) + 0.5, labels, rotation=90, fontsize=6)
        matrix.set_yticks(np.arange(n) + 0.5, labels, fontsize=6)
        matrix.tick_params(length=0, pad=1)
        matrix.set_title("selector (interpreter)", fontsize=7, pad=2)
