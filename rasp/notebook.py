"""Rich displays for notebooks: what Jupyter shows for s-ops, selectors, compiled models and
Turing runs (their `_repr_html_` / `_repr_png_` call these).

S-ops and selectors are shown on the notebook example, `EXAMPLE` (set it with `set_example`,
"hello" to begin with, as in the REPL): values in a row under the tokens, a selector as its
matrix.  Displays stay cheap: one interpreter run on a short input, and pictures only where a
picture is the point (a compiled model, a Turing run), drawn by matplotlib imported on demand.
A display never raises: an example the program cannot take shows the error's message instead.
"""

from __future__ import annotations

import base64
import html
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rasp.errors import RaspError

EXAMPLE: Any = "hello"


def set_example(tokens: Any) -> None:
    """The input that s-ops and selectors are shown on (a string or a list of tokens)."""
    global EXAMPLE
    EXAMPLE = tokens


def _cell(value: Any, tag: str = "td") -> str:
    return f"<{tag} style='text-align:center;padding:2px 6px'>{html.escape(str(value))}</{tag}>"


def _table(rows: list[str], caption: str) -> str:
    return (
        f"<table style='border-collapse:collapse;font-family:monospace'><caption style='text-align:left'>"
        f"{html.escape(caption)}</caption>{''.join(rows)}</table>"
    )


def _failure(caption: str, error: Exception) -> str:
    return f"<div style='font-family:monospace'>{html.escape(caption)}: {html.escape(str(error))}</div>"


def _shown(node: Any, caption: str, rows: Callable[[list[Any], Any], list[str]]) -> str:
    """`node` evaluated on EXAMPLE, its value laid out as table rows by `rows(tokens, value)`."""
    tokens = list(EXAMPLE)
    caption = caption.format(label=node.label, example=repr(EXAMPLE))
    try:
        value = node(tokens)
    except (RaspError, TypeError, ValueError, ZeroDivisionError) as error:
        return _failure(caption, error)
    return _table(rows(tokens, value), caption)


def _header(tokens: list[Any], corner: str = "") -> str:
    return "<tr>" + corner + "".join(_cell(t, "th") for t in tokens) + "</tr>"


def sop_html(sop: Any) -> str:
    """The s-op's values on EXAMPLE, under the example's tokens."""
    return _shown(
        sop,
        "s-op {label} on {example}",
        lambda tokens, values: [_header(tokens), "<tr>" + "".join(map(_cell, values)) + "</tr>"],
    )


def selector_html(selector: Any) -> str:
    """The selector's matrix on EXAMPLE: one row per query, one column per key, ■ where selected."""

    def rows(tokens: list[Any], matrix: list[list[bool]]) -> list[str]:
        body = [_cell(t, "th") + "".join(_cell("■" if v else "·") for v in row) for t, row in zip(tokens, matrix)]
        return [_header(tokens, "<th></th>")] + [f"<tr>{cells}</tr>" for cells in body]

    return _shown(selector, "selector {label} on {example} (rows: queries, columns: keys)", rows)


def png_bytes(draw: Callable[[Path], Any]) -> bytes:
    """A picture as PNG bytes: `draw(path)` writes it to a scratch file."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "picture.png"
        draw(path)
        return path.read_bytes()


def model_html(model: Any, picture: bytes | None) -> str:
    """A compiled model: its summary, its layer table (what each head and MLP reads and writes)
    and, when given, its read/write picture (PNG bytes)."""
    summary = "".join(f"<tr>{_cell(key, 'th')}{_cell(value)}</tr>" for key, value in model.summary().items())
    rows = ["<tr>" + "".join(_cell(h, "th") for h in ("layer", "block", "s-op", "reads", "writes")) + "</tr>"]
    rows += ["<tr>" + "".join(_cell(c) for c in cells) + "</tr>" for cells in model.spec.layer_table()]
    parts = [_table([summary], f"compiled {model.spec.program}"), _table(rows, "layers")]
    if picture is not None:
        parts.append(f"<img src='data:image/png;base64,{base64.b64encode(picture).decode('ascii')}'/>")
    return "<div>" + "".join(parts) + "</div>"
