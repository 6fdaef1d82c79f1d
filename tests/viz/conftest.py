"""Shared checks for the pictures: a written file is a PNG of the size the layout asked for."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def read_png(path: Path) -> np.ndarray:
    """The image at `path` as an array [height, width, channels] after checking it is a PNG."""
    import matplotlib.image

    data = path.read_bytes()
    assert len(data) > 1000, f"{path} is (nearly) empty: {len(data)} bytes"
    assert data[:8] == PNG_MAGIC, f"{path} is not a PNG: starts with {data[:8]!r}"
    return matplotlib.image.imread(path)


def assert_png(path: Path, pixels: tuple[int, int]) -> np.ndarray:
    """`path` is a PNG of `pixels` = (width, height) with something drawn on it."""
    image = read_png(path)
    height, width = image.shape[:2]
    assert (width, height) == pixels
    assert (width, height) != (640, 480), "matplotlib's default size: the figure was not sized from its content"
    assert (image[..., :3] < 0.5).any(), "nothing dark was drawn (no text, no lines)"
    return image


def has_colour(image: np.ndarray, rgb: tuple[float, float, float], count: int = 50, tolerance: float = 0.02) -> bool:
    """Whether at least `count` pixels have the colour `rgb` (channels 0..1)."""
    close = np.all(np.abs(image[..., :3] - np.array(rgb)) <= tolerance, axis=-1)
    return int(close.sum()) >= count


@pytest.fixture
def png_checks():
    class Checks:
        read = staticmethod(read_png)
        assert_png = staticmethod(assert_png)
        has_colour = staticmethod(has_colour)

    return Checks
