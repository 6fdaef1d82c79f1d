"""The compiler refuses before allocating (issue 23): an MLP's output table, whose size is
known from its outputs before the table exists, is admitted by the budget first; so are the
value sets over positions (`indices` alone holds max_seq_len values), an MLP's hidden units
and the position table.  Each big case compiles in a subprocess under an address-space limit
that the unguarded compiler runs into (it asked numpy for 7.16 GiB, filled 9.7 GB in
`maps._table`, or died with MemoryError in the value sets of 10^7 positions), and must end in
a `CompileError` naming the s-op, its line and the figure, with a small peak memory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import compiler
import rasp
from compiler import mlps
from compiler.errors import CompileError
from compiler.ledger import Ledger
from compiler.valuesets import analyse
from rasp import ir

PAPER = Path(__file__).with_name("paper_programs.rasp")
REVERSE = (Path(__file__).parents[2] / "programs" / "lib" / "reverse.rasp").read_text()
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


def compile_limited(
    source: str, name: str, vocab: str, max_seq_len: int, attention: str = "soft"
) -> tuple[str, int]:
    """Compile `name` of `source` (with `attention` heads) in a subprocess limited to LIMIT bytes of address space:
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
    compiler.compile(session[{name!r}], {vocab}, {max_seq_len}, attention={attention!r})
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
    """The paper's `sort_bos` with its first cell written `select(indices, 0, <=)`, which the
    compiler does not drop from the `or` (the paper's own `==` it does): the `or` needs a joint
    one-hot of token, position and count, refused by the budget before it is built."""
    source = PAPER.read_text().replace("bos_grab_self = select(indices,0,==)", "bos_grab_self = select(indices,0,<=)")
    assert source != PAPER.read_text()
    outcome, peak_kb = compile_limited(source, "sort_bos", "'abc'", 50)
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


@pytest.mark.slow  # a subprocess under a memory limit
@pytest.mark.parametrize("attention", ["soft", "hard"])
def test_ten_million_positions_are_refused_before_their_value_sets(attention: str) -> None:
    """`length - indices - 1` would hold 10^7 positions' values in Python sets (MemoryError
    after 25 s under this limit, 7.6 GB without): the analysis refuses `indices` first, naming
    the line that reads it."""
    outcome, peak_kb = compile_limited(REVERSE, "reverse", "'abc'", 10_000_000, attention)
    assert outcome.startswith("refused <input>:11:"), outcome
    assert "the value set of its input indices would hold 10,000,000 values at max_seq_len 10,000,000" in outcome
    assert "budget of 50,000,000 parameters" in outcome
    assert peak_kb < 1024 * 1024


@pytest.mark.slow  # a subprocess under a memory limit
def test_a_million_soft_positions_are_refused_before_the_units_of_their_clamp() -> None:
    """The soft reverse at 10^6 positions clamps `length - indices - 1` by an MLP of two units
    per position: 2,000,002 units took a minute and 3 GB before the budget saw them."""
    outcome, peak_kb = compile_limited(REVERSE, "reverse", "'abc'", 1_000_000)
    assert outcome.startswith("refused <input>:11:"), outcome
    assert "its MLP would have 2,000,002 hidden units, more than the 500,000" in outcome
    assert peak_kb < 1536 * 1024


def test_a_value_set_over_the_allowance_is_refused_before_it_exists() -> None:
    """`indices` at 1,000 positions under a budget of 5,000 parameters (500 values): refused,
    naming the s-op that reads it, since `indices` has no place in the source."""
    session = rasp.Session()
    session.run("later = indices + 1;")
    refusal = r"cannot compile later: the value set of its input indices would hold 1,000 values"
    with pytest.raises(CompileError, match=refusal):
        analyse(session["later"], "ab", 1_000, budget=5_000)
    assert analyse(session["later"], "ab", 500, budget=5_000).known(session["later"]) == frozenset(range(1, 501))


def test_an_mlp_is_admitted_before_its_units_are_made(ledger: Ledger) -> None:
    """A step between each two of 10,000 points asks for 19,998 units: over the 1,000 a budget of
    100,000 parameters lets the compiler build, refused before `discretise` makes one."""
    made = []

    def admit(units: int) -> None:
        made.append(units)
        ledger.check_units(ir.Tokens(kind="str"), units)

    points = np.arange(10_000.0)
    with pytest.raises(CompileError, match=r"its MLP would have 19,998 hidden units, more than the 1,000"):
        mlps.discretise({"x": 1.0}, points, (points % 2)[:, None], admit)
    assert made == [19_998]
    assert len(mlps.discretise({"x": 1.0}, points[:10], (points[:10] % 2)[:, None], admit).units) == 18


def test_the_position_table_counts_in_a_soft_model() -> None:
    """A soft model embeds its n + 1 positions by a table: reading the one-hot of 200 positions
    widens the residual by 200, and the table alone (201 x 204) is over a budget of 40,000."""
    ledger = Ledger(analyse(ir.Tokens(kind="str"), "ab", 200), budget=40_000)
    ledger.check_budget(ir.Tokens(kind="str"))  # 201 positions over a narrow residual: fine
    with pytest.raises(CompileError, match=r"at least \d[\d,]* parameters, over the budget of 40,000"):
        ledger.use_position_table(ir.Tokens(kind="str"), dims=200)
