"""Shared by the library and example tests: running the `rasp` command in-process."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

import pytest

from rasp import cli


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
