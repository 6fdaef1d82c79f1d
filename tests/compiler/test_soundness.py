"""Exact or refused: programs this project did not write, and the cases that once compiled
to silently wrong weights or ran out of memory.

The RASP paper's programs (tests/compiler/paper_programs.rasp) count with means times a
position and take selector widths through a BOS token; the compiler must give the
interpreter's outputs for them, or refuse with a reason, never differ."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest
from compiler_helpers import assert_agrees

import compiler
import rasp
from compiler import CompileError

PAPER = Path(__file__).with_name("paper_programs.rasp")


@pytest.fixture(scope="module")
def paper() -> rasp.Session:
    session = rasp.Session()
    session.run(PAPER.read_text())
    return session


def _library(name: str) -> rasp.ir.SOp:
    session = rasp.Session()
    session.run(f'load "programs/lib/{name}.rasp";')
    return session[name]


def _inputs(vocab: list[str], n: int, count: int = 12, seed: int = 0) -> list[list[str]]:
    rng = random.Random(seed)
    inputs = [[rng.choice(vocab) for _ in range(rng.randint(1, n))] for _ in range(count)]
    return [*inputs, [vocab[0]] * n, [vocab[-1]] * n, [vocab[0]]]


# ------------------------------------------------------------------ the four cases


@pytest.mark.parametrize("n", [6, 20, 50])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bos_query_attends_to_itself_only(n: int, dtype: str) -> None:
    """Nothing selected, so the default: the BOS row of `length` must not leak into it."""
    session = rasp.Session()
    session.run("leak = aggregate(select(tokens, tokens, !=), length, 1);")
    model = compiler.compile(session["leak"], "ab", n)
    same = ["a"] * n
    assert model(same, dtype=dtype) == [1] * n
    assert model(same, dtype=dtype) == session["leak"](same)


DYCK1_ROUNDED = """
n_opens = round((indices+1)*aggregate(select(indices,indices,<=), indicator(tokens=="(")));
n_closes = round((indices+1)*aggregate(select(indices,indices,<=), indicator(tokens==")")));
balance = n_opens - n_closes;
prev_imbalances = aggregate(select(indices,indices,<=), indicator(balance<0));
dyck1 = "F" if prev_imbalances>0 else ("T" if balance==0 else "P");
"""


@pytest.mark.slow
def test_paper_dyck1_counts_exact_at_50() -> None:
    session = rasp.Session()
    session.run(DYCK1_ROUNDED)
    model = compiler.compile(session["dyck1"], "()", 50)
    assert model(list("()))(")) == ["P", "T", "F", "F", "F"]
    assert_agrees(model, session["dyck1"], _inputs(list("()"), 50, seed=3))
    assert model.summary()["residual_width"] <= 2 * compiler.compile(_library("dyck1"), "()", 50).summary()[
        "residual_width"
    ]


@pytest.mark.slow
def test_budget_refuses_before_allocating() -> None:
    """A model over the budget is refused with the s-op and the figure, before any weight
    array exists (a subprocess measures the peak memory of the whole attempt)."""
    script = f"""
import resource, rasp, compiler
s = rasp.Session()
s.run('''{DYCK1_ROUNDED}''')
try:
    compiler.compile(s["dyck1"], "()", 50, budget=20_000)
except compiler.CompileError as error:
    print(error)
print(next(line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM')))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    message, peak_kb = result.stdout.strip().splitlines()
    assert "over the budget of 20,000" in message
    assert message.startswith("<input>:") and "cannot compile" in message
    assert int(peak_kb) < 4 * 1024 * 1024


@pytest.mark.slow
def test_unbudgeted_blow_up_is_refused_quickly() -> None:
    """A product of two noisy means, each with hundreds of values, would need an MLP over
    every pair: refused by the value sets or the budget, well within memory."""
    script = """
import resource, rasp, compiler
s = rasp.Session()
s.run('''a = aggregate(select(indices, indices, <=), indicator(tokens == "x"));
b = aggregate(select(tokens, tokens, ==) or select(indices, 0, ==), indices);
blown = a * b + a;''')
try:
    compiler.compile(s["blown"], "xy", 40)
    print("compiled")
except compiler.CompileError as error:
    print("refused", error)
print(next(line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM')))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    outcome, peak_kb = result.stdout.strip().splitlines()
    assert outcome.startswith("refused"), outcome
    assert int(peak_kb) < 4 * 1024 * 1024


def test_bos_selector_width_compiles_small(paper: rasp.Session) -> None:
    model = compiler.compile(paper["hist_bos"], "abc", 20)
    assert model.summary()["residual_width"] < 20
    assert_agrees(model, paper["hist_bos"], _inputs(list("abc"), 20))


# -------------------------------------------------------------- the paper's programs at 50


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "vocab", "library"),
    [("hist_bos", "abc", "histogram"), ("hist2_bos", "abc", "double_histogram"), ("dyck1_ptf", "()", "dyck1")],
)
def test_paper_program_exact_at_50(paper: rasp.Session, name: str, vocab: str, library: str) -> None:
    model = compiler.compile(paper[name], vocab, 50)
    assert_agrees(model, paper[name], _inputs(list(vocab), 50, seed=len(name)))
    ours = compiler.compile(_library(library), vocab, 50).summary()["residual_width"]
    assert model.summary()["residual_width"] <= 2 * ours


@pytest.mark.parametrize(
    ("name", "vocab"), [("sort_bos", "abc"), ("dyck2_ptf", "(){}"), ("dyck3_ptf", "(){}[]")]
)
def test_paper_program_exact_at_20(paper: rasp.Session, name: str, vocab: str) -> None:
    model = compiler.compile(paper[name], vocab, 20)
    assert_agrees(model, paper[name], _inputs(list(vocab), 20, seed=len(name)))


@pytest.mark.parametrize(("name", "vocab"), [("dyck2_ptf", "(){}"), ("dyck3_ptf", "(){}[]")])
def test_float_rounding_the_interpreter_sees_is_refused(paper: rasp.Session, name: str, vocab: str) -> None:
    """At n = 50 these programs compare depths such as -32.0 and -31.999999999999996 (a count
    computed as 49 * (s/49)) for equality: the interpreter tells them apart, a transformer
    cannot."""
    assert 49 * (1 / 49) != 1.0
    with pytest.raises(CompileError, match="float rounding") as caught:
        compiler.compile(paper[name], vocab, 50)
    assert caught.value.line is not None


def test_a_budget_refusal_names_the_line(paper: rasp.Session) -> None:
    """The paper's `sort_bos` at 50 positions (about 186,000 parameters: test_literature_compiled.py)
    under a budget of 100,000: refused, naming the line of the s-op over it."""
    with pytest.raises(CompileError, match="budget") as caught:
        compiler.compile(paper["sort_bos"], "abc", 50, budget=100_000)
    assert caught.value.line is not None


