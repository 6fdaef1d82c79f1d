"""Shared by the library and example tests: running the `rasp` command in-process, and the
library's specification (`references.py`) made importable."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from rasp_toolkit import cli

# The tests import `references` (the library's specification) from this folder.
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture
def rasp_cli() -> Callable[[list[str]], int]:
    """`rasp_cli(["run", FILE, ...])` runs the command and returns its exit status."""
    return cli.main
