"""What every picture shares: matplotlib, imported only when a picture is asked for (it is the
optional `viz` extra), drawn on a bare Figure with the Agg canvas (no global pyplot state), and
saved with errors a user can act on; a layout's size in inches; how a selector matrix is drawn."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from rasp.errors import RaspError

#: Resolution of every picture, in pixels per inch.
DPI = 100

INSTALL_HINT = "pip install 'rasp-toolkit[viz]'"

#: Colours of a selector matrix's cells: selected, not selected, masked (a key after its query).
SELECTED = (0.23, 0.43, 0.71)
UNSELECTED = (1.0, 1.0, 1.0)
MASKED = (0.88, 0.88, 0.88)


class PictureLayout:
    """Mixin of the layout dataclasses, each of which holds `pixels`, the (width, height) of the
    written image: gives that size in inches, the unit of matplotlib's figure and axes."""

    pixels: tuple[int, int]

    @property
    def size(self) -> tuple[float, float]:
        """(width, height) in inches."""
        return self.pixels[0] / DPI, self.pixels[1] / DPI


def require_matplotlib() -> tuple[Any, Any]:
    """matplotlib's `Figure` class and its Agg canvas, or a RaspError saying how to install it."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise RaspError(f"pictures need matplotlib, which is not installed: {INSTALL_HINT}") from None
    return Figure, FigureCanvasAgg


def selector_image(matrix: np.ndarray, causal: bool) -> np.ndarray:
    """The RGB image of a square boolean selector matrix (queries as rows, keys as columns), drawn
    the same way in the picture of a program and in that of a compiled model's heads."""
    n = len(matrix)
    image = np.empty((n, n, 3))
    image[:] = UNSELECTED
    if causal:
        image[np.triu(np.ones((n, n), dtype=bool), k=1)] = MASKED
    image[matrix] = SELECTED
    return image


def save_figure(figure: Any, path: str | os.PathLike[str]) -> Path:
    """Write `figure` to `path` (format from the suffix, PNG by default); errors become RaspError."""
    target = Path(path)
    try:
        figure.savefig(target, dpi=DPI)
    except (OSError, ValueError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise RaspError(f"cannot write the picture to {str(target)!r}: {reason}") from None
    return target
