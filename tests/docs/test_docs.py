"""Every code example in README.md and docs/*.md runs, so the documentation cannot drift.

Conventions for fenced blocks:
- ```python: run in order, one namespace per document; `assert`s in them check results.
- ```rasp: run in order in one `rasp.Session()` per document (REPL commands allowed).
- ```bash: every line starting with `rasp ` is run through `rasp_toolkit.cli.main` from the repository
  root and must exit 0 (lines ending in `# exits 1` / `# exits 2` must exit with that code).
  Other lines (pip, python -m venv, ...) are set-up and not run here.
- ```text and others: transcripts and illustrations, not run.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest

import rasp

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
SCRATCH_FILES = (".npz", ".png", ".pt", ".safetensors")
FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```", re.S | re.M)


def blocks(path: Path, language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(path.read_text(encoding="utf-8")) if lang == language]


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
def test_python_examples_run(path: Path) -> None:
    namespace: dict = {"__name__": f"doc_{path.stem}"}
    for code in blocks(path, "python"):
        exec(compile(code, str(path), "exec"), namespace)


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
def test_rasp_examples_run(path: Path) -> None:
    session = rasp.Session()
    for code in blocks(path, "rasp"):
        session.run(code, str(path))


def shell_commands(path: Path) -> list[tuple[list[str], int]]:
    commands = []
    for block in blocks(path, "bash"):
        for line in block.splitlines():
            for part in line.split("&&"):
                part = part.strip()
                if part.startswith("rasp "):
                    match = re.search(r"#\s*exits\s+(\d)", part)
                    expected = int(match.group(1)) if match else 0
                    commands.append((shlex.split(part, comments=True)[1:], expected))
    return commands


#: Documents whose commands compile and run Turing machines by the thousand token (the README's
#: 1,000 machines, cli.md's and turing.md's verifications): the `slow` tier (tests/conftest.py).
HEAVY = ("README.md", "cli.md", "turing.md")


@pytest.mark.parametrize(
    "path",
    [pytest.param(p, marks=[pytest.mark.slow] if p.name in HEAVY else []) for p in DOCUMENTS if shell_commands(p)],
    ids=lambda p: p.name,
)
def test_cli_examples_run(path: Path, tmp_path: Path, capsys) -> None:
    """The document's commands run in order, sharing one scratch folder for the files they
    write and read (`.npz`, `.png`, `.pt`, `.safetensors`), from the repository root."""
    from rasp_toolkit.cli import main

    previous = Path.cwd()
    os.chdir(ROOT)
    try:
        for argv, code in shell_commands(path):
            argv = [str(tmp_path / Path(a).name) if a.endswith(SCRATCH_FILES) else a for a in argv]
            assert main(argv) == code, (argv, capsys.readouterr())
    finally:
        os.chdir(previous)
