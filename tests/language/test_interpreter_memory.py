"""The interpreter's memory (issue 23): selectors are evaluated in blocks of query rows, so a
long input costs O(n x block), not O(n^2); blocked evaluation equals whole-matrix evaluation;
and a whole selector matrix too large to hand out is refused before anything is computed."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from random_programs import inputs, programs

import rasp
from rasp import interpreter, ir
from rasp.errors import RaspError
from rasp.interpreter import MAX_MATRIX_CELLS, IncrementalEvaluator, Interpreter
from rasp_toolkit import cli

WHOLE = 10**9  # block cells that hold any test input's matrix in one block: the unblocked path
SORT = Path(__file__).resolve().parents[2] / "programs" / "lib" / "sort.rasp"


def outcome(interpreter: Interpreter, program: ir.Node, tokens: list[object], causal: bool) -> object:
    """The value, or the error's class and message (blocked evaluation must fail the same way)."""
    try:
        return interpreter.evaluate(program, tokens, causal=causal)
    except RaspError as error:
        return type(error), str(error)


@settings(max_examples=200, deadline=None)
@given(programs(), inputs, st.booleans(), st.integers(1, 20))
def test_blocked_equals_whole_matrix_evaluation(program: ir.SOp, tokens: list[int], causal: bool, cells: int) -> None:
    """Blocks of one row upwards (`cells` against up to 9 keys) give exactly the single-block
    result; the generated programs share sub-selectors, which each block computes once."""
    whole = outcome(Interpreter(block_cells=WHOLE), program, tokens, causal)
    assert outcome(Interpreter(block_cells=cells), program, tokens, causal) == whole


@settings(max_examples=100, deadline=None)
@given(programs(), inputs, st.integers(1, 12))
def test_blocked_incremental_equals_whole_causal(program: ir.SOp, tokens: list[int], cells: int) -> None:
    incremental = IncrementalEvaluator(program, block_cells=cells)
    half = len(tokens) // 2
    assert incremental.extend(tokens[:half]) + incremental.extend(tokens[half:]) == Interpreter(
        block_cells=WHOLE
    ).evaluate(program, tokens, causal=True)


@pytest.mark.parametrize("cells", [1, 5, WHOLE])
def test_blocked_selector_matrix_equals_whole(cells: int) -> None:
    """A selector asked for as a whole (display, drawing) is assembled from its blocks."""
    tokens = ir.Tokens(kind="str")
    selector = ~(ir.select(tokens, tokens, "<") | ir.select(ir.indices, ir.indices, "=="))
    expected = [[not (k < q or j == i) for j, k in enumerate("cabbage")] for i, q in enumerate("cabbage")]
    assert Interpreter(block_cells=cells).evaluate(selector, "cabbage") == expected
    assert Interpreter(block_cells=cells).evaluate_array(selector, "cabbage").tolist() == expected


def test_blocked_errors_name_the_same_node() -> None:
    """An aggregate averaging strings fails in whichever block first averages, with the same
    message as the whole-matrix evaluation."""
    tokens = ir.Tokens(kind="str")
    program = ir.aggregate(ir.select(ir.indices, ir.indices, "<="), tokens)
    messages = {outcome(Interpreter(block_cells=cells), program, list("abcd"), False) for cells in (1, 4, WHOLE)}
    assert len(messages) == 1
    (kind, message), *_ = messages
    assert kind is rasp.errors.RaspEvaluationError and "non-numbers" in message


def test_a_huge_selector_matrix_is_refused_before_it_is_computed(monkeypatch: pytest.MonkeyPatch) -> None:
    """10^5 tokens would be a 10^10-cell matrix (80 GB as lists): refused before any evaluation
    starts, naming the selector and the size (the s-ops that read it are computed in blocks)."""
    n = 100_000
    assert n * n > MAX_MATRIX_CELLS
    selector = ir.select(ir.indices, ir.indices, "<")

    def evaluated(*args: object, **kwargs: object) -> None:
        raise AssertionError("the selector was evaluated before the refusal")

    monkeypatch.setattr(interpreter, "_run", evaluated)
    for ask in (Interpreter().evaluate, Interpreter().evaluate_array):
        with pytest.raises(rasp.errors.RaspEvaluationError) as refused:
            ask(selector, [0] * n)
        assert "100,000 x 100,000" in str(refused.value) and selector.label in str(refused.value)


@pytest.mark.slow  # a subprocess under a memory limit
def test_a_long_sort_runs_in_bounded_memory(tmp_path: Path) -> None:
    """`rasp run sort.rasp sorted --input @big.json` on 10^5 integers under a 1 GiB address-space
    limit: the whole-matrix interpreter needed 9.3 GiB for one selector; blocks and the counting
    path (about 5 s, which the O(n^2) blocks alone take 22 s for) give Python's sorted list
    with a peak resident memory (VmHWM) under 512 MiB, about 260 MB measured."""
    data = [(i * 7919) % 100_003 for i in range(100_000)]
    big = tmp_path / "big.json"
    big.write_text(json.dumps(data))
    limit = 1 << 30
    script = (
        "import resource, sys\n"
        f"resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))\n"
        "from rasp_toolkit import cli\n"
        "code = cli.main(sys.argv[1:])\n"
        "sys.stdout.flush()\n"
        "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')), file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    command = [sys.executable, "-c", script, "run", str(SORT), "sorted", "--input", f"@{big}", "--json"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["outputs"]["sorted"] == sorted(data)
    assert int(result.stderr.split()[-1]) < 512 * 1024


def test_input_from_a_file_and_from_stdin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--input @FILE` and `--input -` read the same syntax as `--input TEXT`, for inputs longer
    than the shell's argument limit."""
    listed = tmp_path / "input.json"
    listed.write_text("[3, 1, 2]\n")
    assert cli.main(["run", str(SORT), "sorted", "--input", f"@{listed}", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["outputs"]["sorted"] == [1, 2, 3]
    monkeypatch.setattr(sys, "stdin", io.StringIO("5 4 6\n"))
    assert cli.main(["run", str(SORT), "sorted", "--input", "-", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["outputs"]["sorted"] == [4, 5, 6]


def test_an_unreadable_input_file_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", str(SORT), "sorted", "--input", f"@{tmp_path / 'missing.json'}"]) == 2
    error = capsys.readouterr().err
    assert "missing.json" in error and "Traceback" not in error


def test_run_model_reads_inputs_from_files_and_stdin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each `--input` of `run-model` may be `@FILE` or `-`; the output line names the argument."""
    program = tmp_path / "rev.rasp"
    program.write_text("rev = aggregate(select(indices, length - indices - 1, ==), tokens);\n")
    model = tmp_path / "rev.npz"
    assert cli.main(["compile", str(program), "rev", "--vocab", "a,b,c", "--max-len", "4", "-o", str(model)]) == 0
    (tmp_path / "input.txt").write_text("abc\n")
    monkeypatch.setattr(sys, "stdin", io.StringIO('["c", "a"]'))
    capsys.readouterr()
    assert cli.main(["run-model", str(model), "--input", f"@{tmp_path / 'input.txt'}", "--input", "-"]) == 0
    assert capsys.readouterr().out.splitlines() == [f"@{tmp_path / 'input.txt'}: c b a", "-: a c"]
