"""What every picture shares: matplotlib, imported only when a picture is asked for (it is the
optional `viz` extra), drawn on a bare Figure with the Agg canvas (no global pyplot state), and
saved with errors a user can act on."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rasp.errors import RaspError

#: Resolution of every picture, in pixels per inch.
DPI = 100

INSTALL_HINT = "pip install 'rasp-toolkit[viz]'"


def require_matplotlib() -> tuple[Any, Any]:
    """matplotlib's `Figure` class and its Agg canvas, or a RaspError saying how to install it."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise RaspError(f"pictures need matplotlib, which is not installed: {INSTALL_HINT}") from None
    return Figure, FigureCanvasAgg


def save_figure(figure: Any, path: str | os.PathLike[str]) -> Path:
    """Write `figure` to `path` (format from the suffix, PNG by default); errors become RaspError."""
    target = Path(path)
    try:
        figure.savefig(target, dpi=DPI)
    except (OSError, ValueError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise RaspError(f"cannot write the picture to {str(target)!r}: {reason}") from None
    return target
