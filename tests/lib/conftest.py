"""Shared by the library and example tests: running the `rasp` command in-process, the
library's specification (`references.py`) made importable, and the library's compiled softmax
models, compiled once a session for the modules that run them (test_library_compiled.py,
test_library_exported.py)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import compiler
from rasp.programs import LibraryProgram
from rasp_toolkit import cli

# The tests import `references` (the library's specification) from this folder.
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture
def rasp_cli() -> Callable[[list[str]], int]:
    """`rasp_cli(["run", FILE, ...])` runs the command and returns its exit status."""
    return cli.main


@pytest.fixture(scope="session")
def library_model() -> Iterator[Callable[[LibraryProgram, int, bool], compiler.Transformer]]:
    """`library_model(program, n, causal)`: the program's output s-op compiled over its test
    alphabet for max_seq_len n, once a session (models are not changed by the tests that share
    them)."""
    from references import output_of

    models: dict[tuple[str, int, bool], compiler.Transformer] = {}

    def model(program: LibraryProgram, n: int, causal: bool) -> compiler.Transformer:
        key = (program.name, n, causal)
        if key not in models:
            models[key] = compiler.compile(output_of(program.name), program.alphabet, n, causal=causal)
        return models[key]

    yield model
    models.clear()
