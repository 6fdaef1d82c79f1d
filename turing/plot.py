"""Pictures of Turing machine runs: the space-time diagram, and what attention heads read.

matplotlib is an optional extra (`pip install 'rasp-toolkit[viz]'`), imported only when a picture
is drawn; the Agg backend is used directly (no pyplot), so nothing needs a display.  It uses no
RASP-language code, only the shared figure helpers of `rasp.figures`.

- `plot_spacetime(machine, tape, max_steps, path)`: tape cells across (by absolute tape position,
  so a tape that grows to the left stays aligned), steps downwards, one colour per symbol, the
  head's cell outlined with the state written in it.  `spacetime` computes the grid alone.
- `plot_attention(tokens, attention, path, ...)`: for one generated configuration of a trace, one
  heatmap per attention head: which key tokens (e.g. of the previous configuration) each query
  token attended to, and how strongly.  `configuration_spans` finds the configurations' positions
  in a trace, to choose the queries and keys.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rasp.errors import RaspError
from rasp.figures import DPI, PictureLayout, require_matplotlib, save_figure
from turing.machine import Machine, MachineSpecError
from turing.simulator import simulate
from turing.tokens import END, SEP, START

#: Steps drawn by `rasp tm plot` when --max-steps is not given.
DEFAULT_PLOT_STEPS = 100


_DELTA = {"L": -1, "R": 1, "N": 0}

# Geometry, in inches.
_CELL = 0.28  # a cell when the run is small enough
_MIN_CELL = 0.01
_MAX_GRID_W = 16.0
_MAX_GRID_H = 24.0
_TEXT_CELL = 0.16  # smallest cell that still gets the state written in the head's cell
_CHAR = 0.07

_UNWRITTEN = (1.0, 1.0, 1.0)
_BLANK = (0.92, 0.92, 0.92)
_SELECTED = "#c0392b"


def _figure(width_px: int, height_px: int) -> Any:
    Figure, FigureCanvasAgg = require_matplotlib()
    figure = Figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


# ---------------------------------------------------------------------------- space-time grid


@dataclass(frozen=True)
class SpaceTime:
    """A run laid out on absolute tape positions.

    `cells[t][x]` is the symbol in column x after t steps, or None where the tape had not been
    written (visited) yet; column x is tape position `first + x`, position 0 being the first
    input cell.  `heads[t]` is the head's column and `states[t]` the state after t steps.
    """

    machine: Machine
    cells: list[list[str | None]]
    heads: list[int]
    states: list[str]
    first: int
    halted: bool

    @property
    def steps(self) -> int:
        return len(self.states) - 1

    @property
    def width(self) -> int:
        return len(self.cells[0]) if self.cells else 0


def spacetime(machine: Machine, tape: Iterable[str] = (), max_steps: int = DEFAULT_PLOT_STEPS) -> SpaceTime:
    """Simulate `machine` on `tape` for at most `max_steps` steps and align every configuration
    by absolute tape position.

    The head's absolute position follows the moves of the transitions taken (+1 for R, -1 for L);
    a configuration's first cell is then at `head - len(left)`, which drops below 0 exactly when
    the tape grew at the left end.
    """
    run = simulate(machine, tape, max_steps, record=True)
    configurations = run.configurations
    assert configurations is not None  # record=True keeps them
    head = 0
    origins: list[int] = []
    heads: list[int] = []
    for index, config in enumerate(configurations):
        if index:
            previous = configurations[index - 1]
            entry = machine.transition(previous.state, previous.right[0])
            assert entry is not None  # a recorded successor exists only where a transition does
            head += _DELTA[entry.move]
        heads.append(head)
        origins.append(head - len(config.left))
    first = min(origins)
    last = max(origin + len(c.left) + len(c.right) - 1 for origin, c in zip(origins, configurations))
    cells: list[list[str | None]] = []
    for origin, config in zip(origins, configurations):
        row: list[str | None] = [None] * (last - first + 1)
        for offset, symbol in enumerate((*config.left, *config.right)):
            row[origin - first + offset] = symbol
        cells.append(row)
    return SpaceTime(
        machine=machine,
        cells=cells,
        heads=[h - first for h in heads],
        states=[c.state for c in configurations],
        first=first,
        halted=run.halted,
    )


@dataclass(frozen=True)
class SpaceTimeLayout(PictureLayout):
    """Geometry of `plot_spacetime`'s picture (inches, except `pixels`)."""

    cell: float
    left: float
    top: float
    bottom: float
    legend: float
    pixels: tuple[int, int]


def spacetime_layout(grid: SpaceTime) -> SpaceTimeLayout:
    """The size of the picture of `grid`: fixed-size cells while the run is small, shrunk to fit
    16 x 24 inches otherwise (then the head is drawn as a line, without state names)."""
    rows, columns = grid.steps + 1, grid.width
    cell = max(_MIN_CELL, min(_CELL, _MAX_GRID_W / columns, _MAX_GRID_H / rows))
    names = [f"{s} (blank)" if s == grid.machine.blank else s for s in grid.machine.symbols]
    legend = 0.75 + _CHAR * max(len(name) for name in [*names, "not yet written", "head (state)"])
    left = 0.55 + _CHAR * len(str(grid.steps))
    top, bottom = 1.05, 0.25
    width = max(4.5, left + columns * cell + 0.2 + legend)
    height = max(2.2, top + rows * cell + bottom)
    return SpaceTimeLayout(cell, left, top, bottom, legend, (math.ceil(width * DPI), math.ceil(height * DPI)))


def _symbol_colours(machine: Machine) -> dict[str, tuple[float, float, float]]:
    from matplotlib import colormaps

    palette = [colormaps["Set2"](i)[:3] for i in range(8)] + [colormaps["Pastel1"](i)[:3] for i in range(9)]
    others = [s for s in machine.symbols if s != machine.blank]
    colours = {machine.blank: _BLANK}
    colours.update({symbol: palette[i % len(palette)] for i, symbol in enumerate(others)})
    return colours


def _machine_name(machine: Machine) -> str:
    try:
        return machine.to_text()
    except MachineSpecError:
        return f"machine with states {', '.join(machine.states)}"


def plot_spacetime(machine: Machine, tape: Iterable[str], max_steps: int, path: str | os.PathLike[str]) -> Path:
    """Draw the space-time diagram of `machine` run on `tape` for at most `max_steps` steps into
    the image file `path` (PNG unless its suffix names another format); returns the path.

    Columns are absolute tape positions (0 = the first input cell; the axis says which), rows are
    steps from the top; a cell's colour is its symbol (see the legend), white where the tape has
    not been written yet.  The head's cell is outlined and holds the state's name.
    """
    require_matplotlib()
    tape = tuple(tape)
    grid = spacetime(machine, tape, max_steps)
    layout = spacetime_layout(grid)
    figure = _figure(*layout.pixels)
    colours = _symbol_colours(machine)
    axes = _tape_axes(figure, grid, layout, colours)
    _draw_head(axes, grid, layout)
    _symbol_legend(figure, machine, colours, layout)
    _heading(figure, _machine_name(machine), _run_outcome(tape, grid))
    return save_figure(figure, path)


def _tape_axes(figure: Any, grid: SpaceTime, layout: SpaceTimeLayout, colours: dict[str, Any]) -> Any:
    """The axes of the grid, placed by `layout`, with every cell painted its symbol's colour;
    tape positions are numbered along the top (absolute: the first input cell is 0) and steps
    down the side, and cells large enough to tell apart are separated by white lines."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    width, height = layout.size
    rows, columns = grid.steps + 1, grid.width
    image = np.array([[colours[c] if c is not None else _UNWRITTEN for c in row] for row in grid.cells])
    axes = figure.add_axes(
        (layout.left / width, layout.bottom / height, columns * layout.cell / width, rows * layout.cell / height)
    )
    axes.imshow(image, extent=(-0.5, columns - 0.5, rows - 0.5, -0.5), aspect="auto", interpolation="nearest")
    axes.set_xlim(-0.5, columns - 0.5)
    axes.set_ylim(rows - 0.5, -0.5)
    axes.xaxis.set_major_locator(
        MaxNLocator(nbins=max(2, min(columns, int(columns * layout.cell / 0.27))), integer=True)
    )
    axes.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{int(round(x)) + grid.first}"))
    axes.yaxis.set_major_locator(MaxNLocator(nbins=max(2, min(rows, int(rows * layout.cell / 0.27))), integer=True))
    axes.xaxis.tick_top()
    axes.xaxis.set_label_position("top")
    axes.tick_params(labelsize=8, length=2)
    axes.set_xlabel("tape position", fontsize=8)
    axes.set_ylabel("step", fontsize=8)
    if layout.cell >= 0.08:
        axes.set_xticks(np.arange(columns + 1) - 0.5, minor=True)
        axes.set_yticks(np.arange(rows + 1) - 0.5, minor=True)
        axes.grid(which="minor", color="white", linewidth=0.6)
        axes.tick_params(which="minor", length=0)
    return axes


def _draw_head(axes: Any, grid: SpaceTime, layout: SpaceTimeLayout) -> None:
    """The head at every step: its cell outlined with the state written in it while cells are
    large enough for text (_TEXT_CELL), else a line through the head's cells."""
    from matplotlib.patches import Rectangle

    if layout.cell < _TEXT_CELL:
        line = max(0.3, min(1.2, layout.cell * 72 * 0.3))
        axes.plot(grid.heads, range(grid.steps + 1), color="black", linewidth=line)
        return
    size = min(9.0, layout.cell * 72 * 0.8 / max(1.0, 0.62 * max(len(s) for s in grid.states)))
    for step, (column, state) in enumerate(zip(grid.heads, grid.states)):
        axes.add_patch(Rectangle((column - 0.5, step - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=1.6))
        axes.text(column, step, state, ha="center", va="center", fontsize=size, fontweight="bold")


def _symbol_legend(figure: Any, machine: Machine, colours: dict[str, Any], layout: SpaceTimeLayout) -> None:
    """The legend right of the grid: each symbol's colour (the blank's marked), unwritten cells
    and the head's outline."""
    from matplotlib.patches import Patch

    width, height = layout.size
    handles = [
        Patch(facecolor=colours[s], edgecolor="#888888", label=f"{s} (blank)" if s == machine.blank else s)
        for s in machine.symbols
    ]
    handles.append(Patch(facecolor=_UNWRITTEN, edgecolor="#888888", label="not yet written"))
    handles.append(Patch(facecolor="none", edgecolor="black", linewidth=1.6, label="head (state)"))
    figure.legend(
        handles=handles,
        loc="upper left",
        fontsize=8,
        frameon=False,
        title="symbols",
        title_fontsize=8,
        bbox_to_anchor=((width - layout.legend) / width, 1 - layout.top / height),
    )


def _run_outcome(tape: tuple[str, ...], grid: SpaceTime) -> str:
    """The subtitle: the input tape (its symbols run together when each is one character) and
    whether the machine halted or ran out of steps."""
    outcome = f"halted after {grid.steps} steps" if grid.halted else f"stopped after {grid.steps} steps (the budget)"
    shown = "".join(tape) if all(len(c) == 1 for c in tape) else " ".join(tape)
    return (f"on {shown!r}: " if tape else "on an empty tape: ") + outcome


def _heading(figure: Any, title: str, *subtitles: str) -> None:
    """A bold title and smaller lines under it, cut to the figure's width."""
    width, height = figure.get_size_inches()

    def fit(text: str, char: float) -> str:
        chars = max(10, int((width - 0.3) / char))
        return text if len(text) <= chars else text[: chars - 1] + "\u2026"

    figure.text(0.12 / width, 1 - 0.1 / height, fit(title, 0.1), ha="left", va="top", fontsize=10, fontweight="bold")
    for line, subtitle in enumerate(subtitles):
        figure.text(
            0.12 / width,
            1 - (0.3 + 0.16 * line) / height,
            fit(subtitle, 0.072),
            ha="left",
            va="top",
            fontsize=8,
            color="#444444",
        )


# ---------------------------------------------------------------------------------- attention


def configuration_spans(tokens: Sequence[str] | str) -> list[tuple[int, int]]:
    """The positions `[start, end)` of every configuration's tokens in a trace (`$ C0 | C1 | ...`),
    separators and the closing `#` excluded.  A configuration being generated (no `|` after it yet) is included."""
    token_list = tokens.split() if isinstance(tokens, str) else list(tokens)
    spans: list[tuple[int, int]] = []
    start = 1 if token_list[:1] == [START] else 0
    end = token_list.index(END) if END in token_list else len(token_list)
    for position in range(start, end + 1):
        if position == end or token_list[position] == SEP:
            if position > start:
                spans.append((start, position))
            start = position + 1
    return spans


@dataclass(frozen=True)
class AttentionLayout(PictureLayout):
    """Geometry of `plot_attention`'s picture."""

    cell: float
    per_row: int
    panel_w: float
    panel_h: float
    left: float
    bottom: float
    pixels: tuple[int, int]


def attention_layout(heads: int, queries: int, keys: int, longest_label: int) -> AttentionLayout:
    """The size of `plot_attention`'s picture: heads side by side (at most 3 to a row)."""
    cell = max(0.08, min(0.3, 9.0 / max(keys, 1), 12.0 / max(queries, 1)))
    label = _CHAR * longest_label + 0.2
    per_row = min(heads, 3)
    panel_w = label + keys * cell + 0.3
    panel_h = 0.45 + queries * cell + label
    rows = math.ceil(heads / per_row)
    width = max(5.4, per_row * panel_w + 0.2)
    height = 0.8 + rows * panel_h
    return AttentionLayout(
        cell, per_row, panel_w, panel_h, label, label, (math.ceil(width * DPI), math.ceil(height * DPI))
    )


def plot_attention(
    tokens: Sequence[str] | str,
    attention: Sequence[tuple[str, Any]],
    path: str | os.PathLike[str],
    *,
    queries: Sequence[int] | None = None,
    keys: Sequence[int] | None = None,
    title: str | None = None,
) -> Path:
    """Draw what attention heads read while writing (part of) a trace, into the image `path`.

    `tokens` is the trace (a list or space-separated text); `attention` is a list of
    `(head_name, weights)` pairs, `weights` an array `[query, key]` of attention weights.
    `queries` are the trace positions of the rows (say the tokens of one generated configuration,
    `range(*configuration_spans(tokens)[t])`) and `keys` those of the columns (say the previous
    configuration); both default to every position.  Rows and columns are labelled
    `position:token`; key columns of the configuration just before the first query's are marked
    in bold red, and each row's strongest key gets a dot.  Returns the path.
    """
    token_list = tokens.split() if isinstance(tokens, str) else [str(t) for t in tokens]
    query_positions = list(range(len(token_list))) if queries is None else [int(q) for q in queries]
    key_positions = list(range(len(token_list))) if keys is None else [int(k) for k in keys]
    matrices = _attention_matrices(attention, len(token_list), query_positions, key_positions)
    require_matplotlib()
    query_labels = [f"{p}:{token_list[p]}" for p in query_positions]
    key_labels = [f"{p}:{token_list[p]}" for p in key_positions]
    layout = attention_layout(
        len(matrices), len(query_positions), len(key_positions), max(map(len, query_labels + key_labels))
    )
    figure = _figure(*layout.pixels)
    previous = _previous_configuration(token_list, query_positions)
    vmax = max(1.0, max(float(m.max()) if m.size else 0.0 for _, m in matrices))
    for index, (name, matrix) in enumerate(matrices):
        axes = _head_axes(figure, layout, index, matrix.shape)
        _draw_weights(axes, matrix, vmax, layout.cell)
        _label_positions(axes, query_labels, key_labels, [p in previous for p in key_positions], layout.cell)
        axes.set_title(name, fontsize=9, loc="left", pad=4)
    configuration = token_list[: min(query_positions)].count(SEP) if query_positions else 0
    _heading(
        figure,
        title or f"attention while writing configuration {configuration}",
        "rows: tokens written (queries); columns: tokens read (keys)",
        "red labels: the previous configuration; dots: each row's strongest key",
    )
    return save_figure(figure, path)


def _attention_matrices(
    attention: Sequence[tuple[str, Any]], length: int, queries: list[int], keys: list[int]
) -> list[tuple[str, np.ndarray]]:
    """Each head's name and weights as a float array, once every position is checked to be in
    the trace of `length` tokens and every array to be (queries, keys): a RaspError names the
    first that is not, before anything is drawn."""
    if not attention:
        raise RaspError("plot_attention needs at least one (head name, weights) pair")
    for position in (*queries, *keys):
        if not 0 <= position < length:
            raise RaspError(f"position {position} is outside the trace of {length} tokens")
    matrices = []
    for name, weights in attention:
        matrix = np.asarray(weights, dtype=float)
        if matrix.shape != (len(queries), len(keys)):
            raise RaspError(
                f"head {name!r}: weights have shape {matrix.shape}, expected "
                f"({len(queries)}, {len(keys)}) = (queries, keys)"
            )
        matrices.append((str(name), matrix))
    return matrices


def _head_axes(figure: Any, layout: AttentionLayout, index: int, shape: tuple[int, ...]) -> Any:
    """The axes of head number `index`: heads fill rows of `layout.per_row` panels, each a grid
    of (queries, keys) cells under its title."""
    width, height = layout.size
    row, column = divmod(index, layout.per_row)
    x = 0.1 + column * layout.panel_w + layout.left
    top = 0.8 + row * layout.panel_h + 0.3
    w, h = shape[1] * layout.cell, shape[0] * layout.cell
    return figure.add_axes((x / width, 1 - (top + h) / height, w / width, h / height))


def _draw_weights(axes: Any, matrix: np.ndarray, vmax: float, cell: float) -> None:
    """A head's weights as a heatmap (one scale, 0 to `vmax`, for every head, so that heads can
    be compared) and a dot on each row's strongest key, where the row attends anywhere."""
    queries, keys = matrix.shape
    axes.imshow(
        matrix,
        cmap="Blues",
        vmin=0.0,
        vmax=vmax,
        aspect="auto",
        interpolation="nearest",
        extent=(-0.5, keys - 0.5, queries - 0.5, -0.5),
    )
    if matrix.size:
        strongest = matrix.argmax(axis=1)
        rows = [r for r in range(queries) if matrix[r].max() > 0]
        axes.scatter(
            strongest[rows], rows, s=max(2.0, (cell * 72 * 0.25) ** 2), color=_SELECTED, zorder=3, linewidths=0
        )


def _label_positions(
    axes: Any, query_labels: list[str], key_labels: list[str], marked: list[bool], cell: float
) -> None:
    """Rows and columns labelled `position:token` at a font size that fits the cells, the
    `marked` key columns (the previous configuration) in bold red, and thin lines between
    cells."""
    fontsize = max(4.0, min(8.0, cell * 72 * 0.75))
    axes.set_xticks(range(len(key_labels)), key_labels, rotation=90, fontsize=fontsize)
    axes.set_yticks(range(len(query_labels)), query_labels, fontsize=fontsize)
    axes.tick_params(length=0, pad=1)
    for label, mark in zip(axes.get_xticklabels(), marked):
        if mark:
            label.set_color(_SELECTED)
            label.set_fontweight("bold")
    axes.set_xticks(np.arange(len(key_labels) + 1) - 0.5, minor=True)
    axes.set_yticks(np.arange(len(query_labels) + 1) - 0.5, minor=True)
    axes.grid(which="minor", color="#dddddd", linewidth=0.4)
    axes.tick_params(which="minor", length=0)


def _previous_configuration(tokens: list[str], queries: list[int]) -> set[int]:
    """The positions of the configuration before the one the first query belongs to (configuration
    i is the one after i separators)."""
    if not queries:
        return set()
    index = tokens[: min(queries)].count(SEP)
    spans = configuration_spans(tokens)
    return set(range(*spans[index - 1])) if 0 < index <= len(spans) else set()
