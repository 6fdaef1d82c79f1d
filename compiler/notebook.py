"""Compiled models in Jupyter: the summary, the layer table and the read/write picture.

The picture code depends on the model (`compiler.plot` imports `compiled_model.transformer`), so the model
class cannot draw itself without an import cycle; instead `import compiler` registers this
display with IPython's HTML formatter for `Transformer`, when IPython is running.
"""

from __future__ import annotations

import sys
from typing import Any

from compiled_model.transformer import Transformer
from compiler.plot import default_input, plot_model
from rasp.errors import RaspError
from rasp.notebook import model_html, png_bytes


def transformer_html(model: Transformer) -> str:
    """The model's tables and, with matplotlib, its picture on the vocabulary repeated."""
    try:
        picture = png_bytes(lambda path: plot_model(model, default_input(model), path))
    except RaspError:  # no matplotlib: the tables alone
        picture = None
    return model_html(model, picture)


def register(shell: Any = None) -> None:
    """Shows compiled models as `transformer_html` in `shell` (default: the running IPython,
    if any; outside IPython nothing happens)."""
    if shell is None and "IPython" in sys.modules:
        shell = sys.modules["IPython"].get_ipython()
    if shell is not None:
        shell.display_formatter.formatters["text/html"].for_type(Transformer, transformer_html)
