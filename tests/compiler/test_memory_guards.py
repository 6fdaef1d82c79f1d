"""The compiler refuses before allocating (issue 23): an MLP's output table, whose size is
known from its outputs before the table exists, is admitted by the budget first.  Each big
case compiles in a subprocess under an address-space limit that the unguarded compiler runs
into (it asked numpy for 7.16 GiB, or filled 9.7 GB in `maps._table`), and must end in a
`CompileError` naming the s-op, its line and the figure, with a small peak memory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import compiler
import rasp
from compiler.errors import CompileError
from compiler.ledger import Ledger
from compiler.valuesets import analyse
from rasp import ir

PAPER = Path(__file__).with_name("paper_programs.rasp")
LIMIT = 3 << 30  # bytes of address space: the interpreter, numpy and JAX fit; the old tables did not

#: Nine lines from the issue: `i11`'s selector compares through a sequence map of 31,000
#: argument tuples, each its own value.
ISSUE_PROGRAM = """set example [1, 2, 3]
tokens = tokens_int;
i1 = aggregate((select(indices, indices, >=)), indices, 0);
i3 = tokens - 4;
s5 = select(i3, tokens, ==);
i6 = round(aggregate(s5, indices));
s7 = select(i1, i6, >);
s10 = s7 or select(tokens, tokens, >=);
i11 = aggregate(s10, tokens, 0);
"""


def compile_limited(source: str, name: str, vocab: str, max_seq_len: int) -> tuple[str, int]:
    """Compile `name` of `source` in a subprocess limited to LIMIT bytes of address space:
    what happened (`refused MESSAGE`, `compiled`, or the last line of a crash) and its peak
    resident memory in KiB (VmHWM: ru_maxrss would keep the forking pytest worker's peak across
    the exec, 2.7 GB in a CI run)."""
    script = f"""
import resource
resource.setrlimit(resource.RLIMIT_AS, ({LIMIT}, {LIMIT}))
import compiler, rasp
session = rasp.Session()
session.run({source!r})
try:
    compiler.compile(session[{name!r}], {vocab}, {max_seq_len})
    print("compiled")
except compiler.CompileError as error:
    print("refused", error)
print(next(line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM')))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    lines = result.stdout.strip().splitlines()
    if result.returncode or len(lines) != 2:
        return "crashed: " + (result.stderr.strip().splitlines() or ["no output"])[-1], 0
    return lines[0], int(lines[1])


@pytest.mark.slow  # a subprocess under a memory limit
def test_the_issue_program_is_refused_before_its_output_table() -> None:
    """Its sequence map's 31,000 outputs, all different, would make a 31,000 x 31,000 one-hot
    table; 30,999 units writing 30,999 new dimensions put the model over the budget first."""
    outcome, peak_kb = compile_limited(ISSUE_PROGRAM, "i11", "[0, 1, 2, 3, 4]", 8)
    assert outcome.startswith("refused <input>:9:"), outcome
    assert "cannot compile i11" in outcome and "over the budget of 50,000,000" in outcome
    assert peak_kb < 1024 * 1024


@pytest.mark.slow  # a subprocess under a memory limit
def test_the_papers_sort_bos_at_50_is_refused_before_its_output_table() -> None:
    outcome, peak_kb = compile_limited(PAPER.read_text(), "sort_bos", "'abc'", 50)
    assert outcome.startswith("refused <input>:21:"), outcome
    assert "cannot compile sort_bos" in outcome and "parameters, over the budget" in outcome
    assert peak_kb < 1024 * 1024


@pytest.fixture
def ledger() -> Ledger:
    return Ledger(analyse(ir.Tokens(kind="str"), "ab", 4), budget=100_000)


def test_a_categorical_table_counts_its_units_and_dimensions(ledger: Ledger) -> None:
    """1,000 output values need at least 999 units over 999 more dimensions: about 2 million
    parameters, over a budget of 100,000, although the table itself (2 x 1,000) is small."""
    node = ir.Tokens(kind="str")
    ledger.check_table(node, 2_000, 10)  # 9 units over 9 more dimensions: within the budget
    with pytest.raises(CompileError, match=r"at least 2,\d{3},\d{3} parameters, over the budget of 100,000"):
        ledger.check_table(node, 1_000, 1_000)


def test_a_table_larger_than_the_budget_is_refused(ledger: Ledger) -> None:
    """A numerical output has one column, so no dimensions to count: the table's own size is
    what the budget bounds."""
    with pytest.raises(CompileError, match=r"output table would be 200,000 x 1 floats \(0\.0 GiB\)"):
        ledger.check_table(ir.Tokens(kind="str"), 200_000, 1)


def test_small_programs_still_compile() -> None:
    """The guard changes nothing for a model within the budget (a categorical map's table)."""
    session = rasp.Session()
    session.run('shouted = tokens == "a";\nanswer = "yes" if shouted else "no";')
    model = compiler.compile(session["answer"], "ab", 4)
    outputs, _ = model.run([list("abba")])
    assert outputs == [["yes", "no", "no", "yes"]]
