"""Shared by the library and example tests: running the `rasp` command in-process, and the
library's specification (`references.py`) made importable."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from rasp import cli

# The tests import `references` (the library's specification) from this folder.
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))


def _extensions_available() -> bool:
    """`rasp.cli.main` imports the compiler's and the Turing machines' subcommands."""
    try:
        return all(importlib.util.find_spec(name) is not None for name in ("compiler.cli", "rasp.turing.cli"))
    except ModuleNotFoundError:
        return False


def _run(argv: list[str]) -> int:
    if _extensions_available():
        return cli.main(argv)
    # Until those exist, the language's own subcommands are reached through the parser.
    args = cli.build_parser().parse_args(argv)
    return args.handler(args)


@pytest.fixture
def rasp_cli() -> Callable[[list[str]], int]:
    """`rasp_cli(["run", FILE, ...])` runs the command and returns its exit status."""
    return _run
