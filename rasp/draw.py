"""Pictures of RASP programs: selector matrices and s-op values, layer by layer (the way the RASP
paper draws them), written to an image file with matplotlib.

matplotlib is an optional extra (`pip install 'rasp-toolkit[viz]'`): it is imported only when a
picture is drawn, and the Agg backend is used directly (no pyplot, no global backend switch), so
drawing works without a display and leaves an interactive session's matplotlib state alone.

The picture of `draw_program(sop, tokens, path)`:

- One column per layer.  `layers` numbers the nodes on the dependency graph counting only the
  attention steps (`aggregate`, `selector_width`, and `length`, which a transformer computes with
  attention too): column 0 holds the input s-ops and what maps compute from them alone; column k
  holds the attention results of layer k (each under the selector it used) and then the maps
  (MLPs) computed from them.
- Each selector used by an aggregate or a selector_width is a heatmap: query positions as rows,
  key positions as columns, the input tokens as tick labels (left and bottom); for a plain
  `select`, the key values are written above and the query values to its right.  A filled cell
  is selected; in a causal picture the masked cells (key after query) are grey.
- Each s-op is a row of cells with its values written in them (strings, ints, floats to 2
  places, T/F), coloured by value: one colour per string (the same in every row, so a moved
  token keeps its colour), a light-to-dark scale for numbers, blue for true.
- Titles are the nodes' labels (`node.label`) with a short description of how each was built.

The figure is sized from its content (a fixed size per cell, about 0.3 inch), so programs of
around twenty nodes on inputs of up to about sixteen tokens stay readable; `program_layout`
computes the geometry without drawing, and its `pixels` are those of the written image.
"""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rasp import ir
from rasp.errors import RaspTypeError
from rasp.figures import DPI, PictureLayout, require_matplotlib, save_figure, selector_image
from rasp.interpreter import Interpreter, normalise_input
from rasp.values import is_number

_ATTENTION = (ir.Aggregate, ir.SelectorWidth, ir.Length)
_SELECTOR_OPS = {ir.SelectorAnd: "and", ir.SelectorOr: "or"}

# Geometry, in inches.
_CHAR = 0.07  # width of one character at the 8 pt font used for labels and values
_CELL_H = 0.26
_MIN_CELL_W = 0.28
_MAX_CELL_W = 0.9
_MAX_VALUE_CHARS = 10
_GAP = 0.14
_TITLE_1 = 0.22  # one title line
_TITLE_LINE = 0.16  # each further title line
_MAX_TITLE_LINES = 4
_HEADING = 0.22
_COLUMN_HEADER = 0.34
_COLUMN_GAP = 0.35
_MARGIN = 0.15
_FIGURE_HEADER = 0.55
_MAX_TITLE_W = 4.0
_MIN_FIGURE_W = 3.6

_TRUE = (0.62, 0.79, 0.88)
_FALSE = (1.0, 1.0, 1.0)
_NUMBER_LOW = np.array((1.0, 0.96, 0.92))
_NUMBER_HIGH = np.array((0.99, 0.68, 0.42))
_GRID = "#9a9a9a"


# ------------------------------------------------------------------------------------ layers


def layers(root: ir.Node) -> dict[ir.Node, int]:
    """The layer of every node reachable from `root`, counting attention steps only.

    - `tokens`, `indices` and constants are layer 0;
    - maps and sequence maps (MLPs) are in the layer of their latest input;
    - a selector is in the first layer whose attention can evaluate it, one after its latest
      key or query s-op (`and`/`or`/`not` take the latest of their parts);
    - `aggregate` is in the layer of its selector, or one after its value s-op if that is later;
      `selector_width` in the layer of its selector; `length` (computed by attention) in layer 1.

    So `layers(root)[root]` is the number of attention layers the program needs; chains of maps
    inside one layer are not counted separately.  Keys are the nodes themselves (nodes hash by
    identity).
    """
    table: dict[ir.Node, int] = {}
    for node in ir.walk(root):
        if isinstance(node, ir.Length):
            table[node] = 1
        elif isinstance(node, ir.Select):
            table[node] = max(table[node.keys], table[node.queries]) + 1
        elif isinstance(node, ir.Aggregate):
            table[node] = max(table[node.selector], table[node.sop] + 1)
        else:
            table[node] = max((table[child] for child in node.children), default=0)
    return table


def describe(node: ir.Node, depth: int = 0) -> str:
    """How `node` was built, in RASP-like words: `select(indices, _mirror, ==)`, `x + 1`, ...

    Unnamed parts of a selector are spelt out (`select(a, a, <) or select(b, b, ==)`); every
    other input is referred to by its label."""
    if isinstance(node, ir.Select):
        return f"select({node.keys.label}, {node.queries.label}, {node.op})"
    if isinstance(node, (ir.SelectorAnd, ir.SelectorOr, ir.SelectorNot)):

        def part(child: ir.Node) -> str:
            if child.name or depth >= 3:
                return child.label
            text = describe(child, depth + 1)
            return f"({text})" if isinstance(child, (ir.SelectorAnd, ir.SelectorOr)) else text

        if isinstance(node, ir.SelectorNot):
            return f"not {part(node.inner)}"
        return f"{part(node.left)} {_SELECTOR_OPS[type(node)]} {part(node.right)}"
    if isinstance(node, ir.Aggregate):
        default = "" if node.default == 0 else f", default={_format(node.default)}"
        return f"aggregate({node.selector.label}, {node.sop.label}{default})"
    if isinstance(node, ir.SelectorWidth):
        return f"selector_width({node.selector.label})"
    if isinstance(node, ir.Length):
        return "length"
    if isinstance(node, ir.Tokens):
        return f"tokens_{node.kind}"
    if isinstance(node, ir.Indices):
        return "indices"
    if isinstance(node, ir.Full):
        return _format(node.value)
    if isinstance(node, (ir.Map, ir.SequenceMap)):
        return node.description
    return type(node).__name__.lower()


def _format(value: Any) -> str:
    """A value as written in a cell: T/F, floats to 2 places, everything else as str."""
    if isinstance(value, bool):
        return "T" if value else "F"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _cell_text(value: Any) -> str:
    text = _format(value)
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 1] + "\u2026"


def _fit(text: str, width: float) -> str:
    """`text` cut to the characters that fit in `width` inches."""
    chars = max(4, int(width / _CHAR))
    return text if len(text) <= chars else text[: chars - 1] + "\u2026"


# ------------------------------------------------------------------------------------ layout


@dataclass
class _Panel:
    """One picture element of a column, `height` inches tall, top at `top` inches from the top."""

    kind: str  # "heading", "sop" or "selector"
    height: float
    text: str = ""
    node: ir.Node | None = None
    values: list[Any] = field(default_factory=list)
    matrix: np.ndarray | None = None
    key_values: list[Any] | None = None
    query_values: list[Any] | None = None
    top: float = 0.0


@dataclass
class ProgramLayout(PictureLayout):
    """The geometry of `draw_program`'s picture, computed (with all values) before drawing."""

    root: ir.SOp
    tokens: list[Any]
    causal: bool
    layer_of: dict[ir.Node, int]
    columns: list[list[_Panel]]
    column_widths: list[float]
    cell_w: float
    left: float  # room left of a grid (query token labels)
    right: float  # room right of a grid (query values)
    top_ticks: float  # room above a heatmap for key values
    bottom_ticks: float  # room below a heatmap for key tokens
    rotate: bool  # key labels written vertically
    pixels: tuple[int, int]  # (width, height) of the written image


def program_layout(sop: ir.SOp, tokens: Any, causal: bool = False) -> ProgramLayout:
    """Evaluate every node of `sop`'s graph on `tokens` and lay the picture out (no drawing)."""
    if not isinstance(sop, ir.SOp):
        kind = "selector" if isinstance(sop, ir.Selector) else type(sop).__name__
        raise RaspTypeError(f"draw expects an s-op, got a {kind}")
    token_list = normalise_input(tokens)
    interpreter = Interpreter()
    layer_of = layers(sop)
    values = {
        node: interpreter.evaluate(node, token_list, causal=causal) for node in ir.walk(sop) if isinstance(node, ir.SOp)
    }
    column_items = _column_items(*_by_layer(sop, layer_of))
    matrices = {
        item: np.asarray(interpreter.evaluate_array(item, token_list, causal=causal), dtype=bool)
        for items in column_items
        for kind, item in items
        if kind == "selector"
    }
    room = _grid_room(column_items, values, token_list)
    grid_width = room.left + len(token_list) * room.cell_w + room.right
    widths = [_column_width(items, sop, grid_width) for items in column_items]
    columns = [
        _stacked(_column_panels(layer, items, sop, values, matrices, _chars(width), room))
        for layer, (items, width) in enumerate(zip(column_items, widths))
    ]
    return ProgramLayout(
        sop, token_list, causal, layer_of, columns, widths, room.cell_w, room.left, room.right,
        room.top_ticks, room.bottom_ticks, room.rotate, _pixels(columns, widths),
    )


_Groups = dict[int, list[tuple[ir.Selector | None, list[ir.SOp]]]]


def _by_layer(root: ir.SOp, layer_of: dict[ir.Node, int]) -> tuple[_Groups, dict[int, list[ir.SOp]]]:
    """The s-ops to draw in each layer: attention results grouped by the selector they share
    (so that one heatmap serves them all; `length` has none), and maps.  Constants are left
    out unless they are the root: they are the same at every position and say nothing."""
    depth = max(layer_of.values())
    groups: _Groups = {k: [] for k in range(depth + 1)}
    mlps: dict[int, list[ir.SOp]] = {k: [] for k in range(depth + 1)}
    for node in ir.walk(root):
        if not isinstance(node, ir.SOp) or (isinstance(node, ir.Full) and node is not root):
            continue
        layer = layer_of[node]
        if not isinstance(node, _ATTENTION):
            mlps[layer].append(node)
            continue
        selector = node.selector if isinstance(node, (ir.Aggregate, ir.SelectorWidth)) else None
        for group_selector, members in groups[layer]:
            if selector is not None and group_selector is selector:
                members.append(node)
                break
        else:
            groups[layer].append((selector, [node]))
    return groups, mlps


def _column_items(groups: _Groups, mlps: dict[int, list[ir.SOp]]) -> list[list[tuple[str, Any]]]:
    """What each column shows, top to bottom, as (kind, item) pairs: an "attention" heading,
    each selector followed by the s-ops that use it, an "MLP" heading and the maps.  Column 0
    (the inputs) has no headings: nothing there is computed by a layer."""
    columns: list[list[tuple[str, Any]]] = []
    for layer in range(len(groups)):
        column: list[tuple[str, Any]] = []
        if layer > 0 and groups[layer]:
            column.append(("heading", "attention"))
        for selector, members in groups[layer]:
            if selector is not None:
                column.append(("selector", selector))
            column.extend(("sop", member) for member in members)
        if layer > 0 and mlps[layer]:
            column.append(("heading", "MLP"))
        column.extend(("sop", node) for node in mlps[layer])
        columns.append(column)
    return columns


@dataclass(frozen=True)
class _GridRoom:
    """The room of every grid of cells, in inches, sized from the longest text written in a
    cell or beside a grid, so that no value or label overlaps its neighbour."""

    cell_w: float
    left: float
    right: float
    top_ticks: float
    bottom_ticks: float
    rotate: bool


def _grid_room(
    column_items: list[list[tuple[str, Any]]], values: dict[ir.Node, list[Any]], tokens: list[Any]
) -> _GridRoom:
    """The cells' width from the longest value, the room for token labels left of a grid and
    below a heatmap, for key values above a plain select's heatmap and for query values right
    of it; key labels too long for a cell are written vertically."""
    selectors = [item for column in column_items for kind, item in column if kind == "selector"]
    plain = [s for s in selectors if isinstance(s, ir.Select)]
    cell_texts = [_cell_text(v) for vs in values.values() for v in vs] + [_cell_text(t) for t in tokens]
    key_texts = [_cell_text(v) for s in plain for v in values[s.keys]]
    query_texts = [_cell_text(v) for s in plain for v in values[s.queries]]
    token_texts = [_cell_text(t) for t in tokens]
    cell_w = min(_MAX_CELL_W, max(_MIN_CELL_W, _CHAR * max(map(len, cell_texts)) + 0.1))
    longest_key = max(map(len, token_texts + key_texts))
    rotate = _CHAR * longest_key + 0.04 > cell_w
    tick_room = (_CHAR * longest_key + 0.12) if rotate else 0.2
    return _GridRoom(
        cell_w=cell_w,
        left=_CHAR * max(map(len, token_texts)) + 0.15,
        right=(_CHAR * max(map(len, query_texts)) + 0.15) if query_texts else 0.1,
        top_ticks=tick_room if plain else 0.0,
        bottom_ticks=tick_room if selectors else 0.0,
        rotate=rotate,
    )


def _column_width(items: list[tuple[str, Any]], root: ir.SOp, grid_width: float) -> float:
    """A column is as wide as its grids, or as its longest title up to _MAX_TITLE_W (longer
    titles wrap)."""
    titles = [_sop_title(item, root) for kind, item in items if kind == "sop"]
    titles += [item.label for kind, item in items if kind == "selector"]
    longest = max((_CHAR * len(t) * (1.1 if "output" in t else 1.0) + 0.1 for t in titles), default=0.0)
    return max(grid_width, min(_MAX_TITLE_W, longest))


def _chars(width: float) -> int:
    """The characters of a title line that fit in `width` inches (at least 8)."""
    return max(8, int(width / _CHAR))


def _column_panels(
    layer: int,
    items: list[tuple[str, Any]],
    root: ir.SOp,
    values: dict[ir.Node, list[Any]],
    matrices: dict[ir.Node, np.ndarray],
    chars: int,
    room: _GridRoom,
) -> list[_Panel]:
    """One panel per item of a column, under the column's header ("inputs" or "layer k")."""
    panels = [_Panel("heading", _COLUMN_HEADER, text="inputs" if layer == 0 else f"layer {layer}")]
    for kind, item in items:
        if kind == "heading":
            panels.append(_Panel("heading", _HEADING, text=item))
        elif kind == "selector":
            panels.append(_selector_panel(item, matrices[item], values, chars, room))
        else:
            title = _sop_title(item, root)
            panels.append(_Panel("sop", _TITLE_1 + _CELL_H, text=title, node=item, values=values[item]))
    return panels


def _selector_panel(
    selector: ir.Selector, matrix: np.ndarray, values: dict[ir.Node, list[Any]], chars: int, room: _GridRoom
) -> _Panel:
    """A selector's heatmap under its title; a plain select also shows its keys' and queries'
    values (room above the heatmap for the keys)."""
    plain = isinstance(selector, ir.Select)
    lines = _title_lines(selector, chars)
    height = (
        _TITLE_1
        + _TITLE_LINE * (len(lines) - 1)
        + (room.top_ticks if plain else 0.0)
        + len(matrix) * _CELL_H
        + room.bottom_ticks
    )
    return _Panel(
        "selector",
        height,
        text="\n".join(lines),
        node=selector,
        matrix=matrix,
        key_values=values[selector.keys] if plain else None,
        query_values=values[selector.queries] if plain else None,
    )


def _title_lines(selector: ir.Selector, chars: int) -> list[str]:
    """A selector's label, then how it was built wrapped to `chars` a line, cut with an
    ellipsis after _MAX_TITLE_LINES lines so that a long combination does not push the
    heatmap down the page."""
    lines = [selector.label, *textwrap.wrap(describe(selector), chars)]
    if len(lines) > _MAX_TITLE_LINES:
        lines = lines[:_MAX_TITLE_LINES]
        lines[-1] = lines[-1][: chars - 1] + "\u2026"
    return lines


def _stacked(panels: list[_Panel]) -> list[_Panel]:
    """`panels` placed top to bottom, _GAP apart (each one's `top` set)."""
    top = 0.0
    for panel in panels:
        panel.top = top
        top += panel.height + _GAP
    return panels


def _pixels(columns: list[list[_Panel]], widths: list[float]) -> tuple[int, int]:
    """The written image's size: the columns side by side, the tallest setting the height,
    within the margins and at least _MIN_FIGURE_W wide."""
    content_w = sum(widths) + _COLUMN_GAP * (len(widths) - 1)
    width = max(_MIN_FIGURE_W, content_w + 2 * _MARGIN)
    tallest = max(sum(p.height + _GAP for p in panels) for panels in columns)
    height = _FIGURE_HEADER + tallest + _MARGIN
    return math.ceil(width * DPI), math.ceil(height * DPI)


def _sop_title(node: ir.SOp, root: ir.SOp) -> str:
    description = "length (by attention)" if isinstance(node, ir.Length) else describe(node)
    if description == node.label or description.startswith(node.label + " "):
        title = description
    else:
        title = f"{node.label} = {description}"
    return title + ("  \u25c0 output" if node is root else "")


# ----------------------------------------------------------------------------------- drawing


def draw_program(sop: ir.SOp, tokens: Any, path: str | os.PathLike[str], causal: bool = False) -> Path:
    """Draw the selectors and s-op values of `sop`'s program on the input `tokens`, layer by
    layer, into the image file `path` (PNG unless its suffix names another format matplotlib
    writes); returns the path.  See the module docstring for what the picture shows."""
    Figure, FigureCanvasAgg = require_matplotlib()
    layout = program_layout(sop, tokens, causal)
    width, height = layout.size
    figure = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(figure)
    palette = _string_palette(layout)

    heading = f"{sop.label} on {_input_text(layout.tokens)}" + ("  (causal)" if causal else "")
    figure.text(
        _MARGIN / width,
        1 - _MARGIN / height,
        _fit(heading, width - 2 * _MARGIN),
        ha="left",
        va="top",
        fontsize=11,
        fontweight="bold",
    )
    figure.text(
        _MARGIN / width,
        1 - (_MARGIN + 0.22) / height,
        _fit(
            "selectors: rows are queries, columns keys; blue = selected"
            + ("; grey = masked (key after query)" if causal else ""),
            width - 2 * _MARGIN,
        ),
        ha="left",
        va="top",
        fontsize=8,
        color="#444444",
    )

    x = _MARGIN
    for index, (panels, column_width) in enumerate(zip(layout.columns, layout.column_widths)):
        if index:
            separator = x - _COLUMN_GAP / 2
            figure.add_artist(_vline(figure, separator / width, 1 - _FIGURE_HEADER / height, _MARGIN / height))
        for panel in panels:
            top = _FIGURE_HEADER + panel.top
            if panel.kind == "heading":
                big = panel.height == _COLUMN_HEADER
                figure.text(
                    x / width,
                    1 - top / height,
                    panel.text,
                    ha="left",
                    va="top",
                    fontsize=10 if big else 8,
                    fontweight="bold" if big else "normal",
                    fontstyle="normal" if big else "italic",
                    color="#222222" if big else "#666666",
                )
            elif panel.kind == "sop":
                _draw_sop(figure, layout, panel, palette, x, top, column_width)
            else:
                _draw_selector(figure, layout, panel, x, top, column_width)
        x += column_width + _COLUMN_GAP
    return save_figure(figure, path)


def _vline(figure: Any, x: float, top: float, bottom: float) -> Any:
    from matplotlib.lines import Line2D

    return Line2D([x, x], [bottom, top], transform=figure.transFigure, color="#cccccc", linewidth=0.8)


def _input_text(tokens: Sequence[Any]) -> str:
    if all(isinstance(t, str) and len(t) == 1 for t in tokens):
        return repr("".join(tokens))
    return "[" + ", ".join(_format(t) for t in tokens) + "]"


def _axes(figure: Any, layout: ProgramLayout, x: float, top: float, rows: int) -> Any:
    """Axes covering a grid of `rows` x n cells whose top-left corner is at (x + left, top)."""
    width, height = layout.size
    n = len(layout.tokens)
    left = x + layout.left
    bottom = top + rows * _CELL_H
    axes = figure.add_axes((left / width, 1 - bottom / height, n * layout.cell_w / width, rows * _CELL_H / height))
    axes.set_xlim(0, n)
    axes.set_ylim(rows, 0)
    axes.set_xticks(np.arange(n + 1), minor=True)
    axes.set_yticks(np.arange(rows + 1), minor=True)
    axes.grid(which="minor", color=_GRID, linewidth=0.5)
    axes.tick_params(which="both", length=0, labelsize=8, pad=2)
    axes.set_xticks([])
    axes.set_yticks([])
    for spine in axes.spines.values():
        spine.set_color(_GRID)
        spine.set_linewidth(0.6)
    return axes


def _title(
    figure: Any, layout: ProgramLayout, text: str, x: float, top: float, column_width: float, bold: bool = False
) -> None:
    width, height = layout.size
    lines = text.split("\n")
    for number, line in enumerate(lines):
        figure.text(
            x / width,
            1 - (top + number * _TITLE_LINE) / height,
            _fit(line, column_width),
            ha="left",
            va="top",
            fontsize=8,
            fontweight="bold" if bold or (number == 0 and len(lines) > 1) else "normal",
            color="#000000" if number == 0 else "#444444",
        )


def _draw_sop(
    figure: Any,
    layout: ProgramLayout,
    panel: _Panel,
    palette: dict[str, Any],
    x: float,
    top: float,
    column_width: float,
) -> None:
    root = panel.node is layout.root
    _title(figure, layout, panel.text, x, top, column_width, bold=root)
    axes = _axes(figure, layout, x, top + _TITLE_1, 1)
    colours = _value_colours(panel.values, palette)
    axes.imshow(np.array([colours]), extent=(0, len(colours), 1, 0), aspect="auto", interpolation="nearest")
    for position, value in enumerate(panel.values):
        axes.text(position + 0.5, 0.5, _cell_text(value), ha="center", va="center", fontsize=8)


def _draw_selector(
    figure: Any, layout: ProgramLayout, panel: _Panel, x: float, top: float, column_width: float
) -> None:
    _title(figure, layout, panel.text, x, top, column_width)
    n = len(layout.tokens)
    plain = panel.key_values is not None
    lines = panel.text.count("\n") + 1
    grid_top = top + _TITLE_1 + _TITLE_LINE * (lines - 1) + (layout.top_ticks if plain else 0.0)
    axes = _axes(figure, layout, x, grid_top, n)
    assert panel.matrix is not None
    image = selector_image(panel.matrix, layout.causal)
    axes.imshow(image, extent=(0, n, n, 0), aspect="auto", interpolation="nearest")
    centres = np.arange(n) + 0.5
    token_labels = [_cell_text(t) for t in layout.tokens]
    rotation = 90 if layout.rotate else 0
    axes.set_xticks(centres, token_labels, rotation=rotation)
    axes.set_yticks(centres, token_labels)
    if plain:
        top_axis = axes.secondary_xaxis("top")
        top_axis.set_xticks(centres, [_cell_text(v) for v in panel.key_values or []], rotation=rotation)
        top_axis.tick_params(length=0, labelsize=7, pad=2, colors="#444444")
        right_axis = axes.secondary_yaxis("right")
        right_axis.set_yticks(centres, [_cell_text(v) for v in panel.query_values or []])
        right_axis.tick_params(length=0, labelsize=7, pad=2, colors="#444444")
        for side in (top_axis, right_axis):
            for spine in side.spines.values():
                spine.set_visible(False)


def _string_palette(layout: ProgramLayout) -> dict[str, Any]:
    """One colour per distinct string value in the picture, the same in every row."""
    from matplotlib import colormaps

    colours = [colormaps["Set3"](i)[:3] for i in range(12)] + [colormaps["Pastel1"](i)[:3] for i in range(9)]
    strings: set[str] = set()
    for panels in layout.columns:
        for panel in panels:
            strings.update(v for v in panel.values if isinstance(v, str))
    strings.update(t for t in layout.tokens if isinstance(t, str))
    return {value: colours[i % len(colours)] for i, value in enumerate(sorted(strings))}


def _value_colours(values: list[Any], palette: dict[str, Any]) -> list[Any]:
    numbers = [v for v in values if is_number(v) and math.isfinite(v)]
    low, high = (min(numbers), max(numbers)) if numbers else (0, 0)
    colours = []
    for value in values:
        if isinstance(value, bool):
            colours.append(_TRUE if value else _FALSE)
        elif is_number(value) and math.isfinite(value):
            share = (value - low) / (high - low) if high > low else 0.3
            colours.append(tuple(_NUMBER_LOW + share * (_NUMBER_HIGH - _NUMBER_LOW)))
        elif isinstance(value, str):
            colours.append(palette.get(value, (1.0, 1.0, 1.0)))
        else:
            colours.append((1.0, 1.0, 1.0))
    return colours
