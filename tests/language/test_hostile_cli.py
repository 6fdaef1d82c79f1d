"""The command line against input a hostile but realistic user gives it (issue 23, in part):
a file that starts with a byte-order mark, a vocabulary written with spaces, output piped into
a reader that stops early, and programs nested deeper than Python's default recursion limit.
Each ends with a documented exit code and no traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import compiler
from rasp import Session
from rasp.errors import RaspEvaluationError, RaspSyntaxError
from rasp.repl import Repl
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


@pytest.mark.slow  # a 25,000-level program; a subprocess
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



@pytest.mark.slow  # a subprocess
def test_a_table_into_a_closed_pipe_is_no_failed_verification() -> None:
    """`rasp tm verify ... | head`: rich's console exits 1 on a closed pipe, the code of a failed
    verification; the tables' console raises BrokenPipeError instead, so the command ends 141."""
    command = [sys.executable, "-m", "rasp_toolkit.cli", "tm", "verify", "--all", "--states", "1", "--symbols", "2",
               "--max-steps", "4", "--engine", "reference"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # the reader is gone before the first table is written
    error = process.stderr.read().decode()
    assert process.wait(timeout=120) == cli.CLOSED_PIPE, error
    assert "Traceback" not in error


DEEP = {
    "600 chained +": "x = " + " + ".join(["indices"] * 600) + ";\n",
    "1,000 nested calls": "x = " + "round(" * 1000 + "indices" + ")" * 1000 + ";\n",
    "600 chained assignments": "x0 = indices;\n"
    + "".join(f"x{i} = x{i - 1} + 1;\n" for i in range(1, 601))
    + "x = x600;\n",
}


@pytest.mark.parametrize("case", sorted(DEEP))
def test_deep_but_plausible_programs_run_and_compile(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each once died with a RecursionError traceback (in the reader, or in the compiler)."""
    path = tmp_path / "deep.rasp"
    path.write_text(DEEP[case])
    assert cli.main(["run", str(path), "x", "--input", "ab"]) == 0
    assert cli.main(["compile", str(path), "x", "--vocab", "a,b", "--max-len", "4"]) == 0
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.slow  # a 25,000-level program; a subprocess
def test_a_program_deeper_than_the_limit_is_refused_at_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "deeper.rasp"
    path.write_text("a = 1;\nx = " + "round(" * 25_000 + "indices" + ")" * 25_000 + ";\n")
    assert cli.main(["run", str(path), "x", "--input", "ab"]) == 2
    err = capsys.readouterr().err
    assert f"{path}:2:1" in err and "nests 25003 levels deep" in err and "Traceback" not in err


def test_recursion_in_the_python_api_is_a_located_error() -> None:
    """Without the command's deep stack, the same programs end in located RaspErrors: the
    reader's (at the statement) and the compiler's (naming the s-op)."""
    session = Session()
    with pytest.raises(RaspSyntaxError, match="<input>:1:1: .*levels deep"):
        session.run(DEEP["1,000 nested calls"])
    session.run(DEEP["600 chained assignments"])
    with pytest.raises(compiler.CompileError, match="recursion limit"):
        compiler.compile(session["x"], "ab", 4)
    with pytest.raises(RaspEvaluationError, match=r"<input>:2:1: .*maximum recursion depth"):
        session.run("def down(n) { return down(n - 1); }\ny = down(3);\n")


@pytest.mark.parametrize(
    ("text", "said"),
    [('[{"a": 1}]', '{"a": 1}, which is no token'), ("[Infinity, 1]", "Infinity"), ("[NaN]", "NaN"),
     ("[[1], 2]", "[1], which is no token"), ("[1, 2", "looks like a JSON list but is not one")],
)
def test_inputs_that_are_no_tokens_are_refused(text: str, said: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A JSON object in the list once reached the interpreter's cache as a TypeError traceback,
    and Infinity ran as a token."""
    assert cli.main(["run", "programs/lib/reverse.rasp", "reverse", "--input", text]) == 2
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err


def test_a_vocabulary_token_the_program_cannot_read_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """`sort` reads its tokens as ints: `x` once ended in a ValueError traceback."""
    argv = ["compile", "programs/lib/sort.rasp", "sorted", "--vocab", "1,2,x", "--max-len", "4"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "the vocabulary token 'x' cannot be read as tokens_int" in err and "Traceback" not in err


def test_control_characters_are_escaped_in_messages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An escape sequence in a program once reached the terminal raw when an error quoted the
    line (recolouring it, or worse); the caret still points at the right character."""
    path = tmp_path / "escape.rasp"
    path.write_text('x = tokens + "\x1b[31mred\x07" + ;\n')
    assert cli.main(["run", str(path), "x", "--input", "ab"]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err
    quoted, caret = err.splitlines()[1:3]
    assert quoted == '    x = tokens + "\\x1b[31mred\\x07" + ;'
    assert caret.index("^") == quoted.index(";")


def test_repl_files_keep_their_good_statements(tmp_path: Path) -> None:
    """`rasp repl FILE` once dropped the whole file for one bad line, where `load` keeps the
    statements that work: now both read a file statement by statement."""
    path = tmp_path / "mixed.rasp"
    path.write_text("a = indices + 1;\nb = 1 +;\nc = a * 2;\nd = nothing;\ne = c + 1;\n")
    repl = Repl()
    shown = "\n".join(repl.load_files([str(path)]))
    assert f"{path}:2:8: RaspSyntaxError" in shown and f"{path}:4:5: RaspNameError" in shown
    assert repl.session["e"]([0, 0]) == [3, 5]


def test_loads_that_cannot_work_leave_the_session_alive(tmp_path: Path) -> None:
    """A `load` of a file that is not UTF-8, or of a file that loads itself (directly or not),
    once killed the REPL with a traceback and lost the session."""
    (tmp_path / "binary.rasp").write_bytes(b"\xff\xfe not text")
    (tmp_path / "one.rasp").write_text('x = 1;\nload "two.rasp";\n')
    (tmp_path / "two.rasp").write_text('load "one.rasp";\n')
    repl = Repl()
    repl.feed("kept = 41;")
    binary = "\n".join(repl.feed(f'load "{tmp_path / "binary.rasp"}";'))
    assert "is not UTF-8 text (byte 0)" in binary
    cycle = "\n".join(repl.feed(f'load "{tmp_path / "one.rasp"}";'))
    assert "load cycle" in cycle and "one.rasp -> two.rasp -> one.rasp" in cycle
    assert repl.session["kept"] == 41 and repl.session["x"] == 1


@pytest.mark.slow  # a subprocess that compiles the universal model
def test_tables_into_a_pipe_are_not_cut(tmp_path: Path) -> None:
    """rich assumes 80 columns when the output is no terminal, and the verification tables'
    headers and figures once read `machin…`, `mismat…` and `float…` in a pipe."""
    environment = {key: value for key, value in os.environ.items() if key != "COLUMNS"}
    command = [sys.executable, "-m", "rasp_toolkit.cli", "tm", "verify", "--all", "--states", "2",
               "--symbols", "2", "--max-steps", "3", "--count", "20"]
    result = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "mismatches" in result.stdout and "float64" in result.stdout and "…" not in result.stdout


@pytest.mark.slow  # subprocesses, seconds each
@pytest.mark.parametrize("after", [0.3, 1.0, 2.0, 4.0])
def test_ctrl_c_ends_a_run_cleanly(after: float, tmp_path: Path) -> None:
    """Ctrl-C during the universal model's compilation or its XLA compilation once ended in
    an abort ("terminate called ...") or a segfault in 5 of 9 tries, and during the imports it
    was lost (JAX's import swallows it) or a traceback: now "interrupted", exit 2, wherever it
    lands (the run is far longer than the latest of these times)."""
    environment = {**os.environ, "RASP_TOOLKIT_CACHE": str(tmp_path)}
    command = [sys.executable, "-m", "rasp_toolkit.cli", "tm", "verify", "--all", "--states", "2",
               "--symbols", "2", "--max-steps", "8"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=environment)
    time.sleep(after)
    process.send_signal(signal.SIGINT)
    _, error = process.communicate(timeout=120)
    text = error.decode()
    assert process.returncode == cli.USER_ERROR, text
    assert "interrupted" in text and "terminate called" not in text and "Traceback" not in text


SORT = Path(__file__).resolve().parents[2] / "programs" / "lib" / "sort.rasp"


def test_a_program_that_is_not_utf8_is_one_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`rasp run` of a binary file given by mistake once ended in a UnicodeDecodeError
    traceback (`load` of one already said so, found by the hostile corpus)."""
    path = tmp_path / "binary.rasp"
    path.write_bytes(b"rev = \xff\xfe tokens;\n")
    assert cli.main(["run", str(path)]) == cli.USER_ERROR
    error = capsys.readouterr().err
    assert f"cannot read {path}: it is not UTF-8 text (byte 6)" in error and "Traceback" not in error


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[1e999, 1]", "holds inf, which is no token: numbers must be finite"),
        ("[1" + "0" * 10_000 + "]", "holds a number that cannot be read"),
        ("[" * 100_000 + "]" * 100_000, "holds lists nested too deeply"),
    ],
    ids=["1e999", "10,000 digits", "nested 100,000 deep"],
)
def test_hostile_json_inputs_are_refused_with_the_reason(
    text: str, reason: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """JSON that Python reads as infinity (then `int(inf)` overflowed in `tokens_int`), an
    integer past Python's 4,300-digit limit, and lists nested past the recursion limit: each
    was a traceback, now exit 2 with the reason."""
    path = tmp_path / "input.json"
    path.write_text(text)
    assert cli.main(["run", str(SORT), "sorted", "--input", f"@{path}"]) == cli.USER_ERROR
    error = capsys.readouterr().err
    assert reason in error and "Traceback" not in error


def test_a_write_that_fails_in_a_tm_command_is_one_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`rasp tm compile -o` on a full disk: the OSError once left as a traceback (only the
    compiler's commands caught it); every command now reports it, exit 2."""

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(27, "File too large")

    monkeypatch.setattr(compiler.Transformer, "save", full)
    output = tmp_path / "bb2.npz"
    assert cli.main(["tm", "compile", "1RB1LB_1LA1RZ", "--max-len", "16", "-o", str(output)]) == cli.USER_ERROR
    assert capsys.readouterr().err.strip() == "error: [Errno 27] File too large"
