"""The command line against input a hostile but realistic user gives it (issue 23, in part):
a file that starts with a byte-order mark, a vocabulary written with spaces, and output piped
into a reader that stops early.  Each ends with a documented exit code and no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rasp_toolkit import cli


def test_a_byte_order_mark_is_accepted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Editors on Windows start UTF-8 files with U+FEFF; the parser once rejected it."""
    path = tmp_path / "bom.rasp"
    path.write_bytes("\ufeffrev = aggregate(select(indices, length - indices - 1, ==), tokens);\n".encode())
    assert cli.main(["run", str(path), "rev", "--input", "abc"]) == 0
    assert "c, b, a" in capsys.readouterr().out.replace("'", "")


def test_a_vocabulary_with_spaces_names_the_tokens(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--vocab "a, b, c"` once kept " b" and " c": the model compiled but no input could name
    them, since inputs are split on spaces."""
    program = tmp_path / "rev.rasp"
    program.write_text("rev = aggregate(select(indices, length - indices - 1, ==), tokens);\n")
    model = tmp_path / "rev.npz"
    common = ["compile", str(program), "rev", "--max-len", "4", "-o", str(model)]
    assert cli.main([*common, "--vocab", "a, b, c"]) == 0
    capsys.readouterr()
    assert cli.main(["run-model", str(model), "--input", "a b c"]) == 0
    assert capsys.readouterr().out.strip() == "a b c: c b a"


def test_output_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """`rasp run ... | head`: the reader closes the pipe while output is pending; the command
    stops with 141 (128 + SIGPIPE, as Unix commands report it) and no traceback."""
    program = tmp_path / "copy.rasp"
    program.write_text("copy = tokens;\n")
    command = [sys.executable, "-m", "rasp_toolkit.cli", "run", str(program), "copy", "--input", "a" * 100_000]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.read(5)
    process.stdout.close()
    error = process.stderr.read().decode()
    assert process.wait(timeout=120) == cli.CLOSED_PIPE
    assert "Traceback" not in error and "BrokenPipe" not in error
