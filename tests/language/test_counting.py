"""The interpreter's counting fast path (`rasp.counting`, issue 23): selector widths and
aggregates of numeric comparison selectors counted by sorting must give exactly what the row
blocks give (values, types, errors, causal masks, ties, floats, NaN).  (The sort of 10^5
tokens in bounded memory is in test_interpreter_memory.py.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import rasp
from rasp import ir
from rasp.counting import Counting, Pair
from rasp.errors import RaspError
from rasp.interpreter import Interpreter

SORT = Path(__file__).resolve().parents[2] / "programs" / "lib" / "sort.rasp"
OPS = ["==", "!=", "<", ">", "<=", ">="]
TOKENS = 6  # input tokens are 0..5, each column maps them to a value

#: Values of the columns: mostly small ints (ties), and every kind the comparisons and means
#: treat specially: floats, signed zeros, infinities, NaN, bools, ints past 2^53 (not exact in
#: float64) and past 2^40 (not averaged in int64), strings (neither compared nor averaged).
VALUES = st.one_of(
    st.integers(-2, 2),
    st.integers(-2, 2),
    st.sampled_from([0.5, -0.0, 0.0, 2.5, float("inf"), float("-inf"), float("nan"), True, False]),
    st.sampled_from([2**53 + 1, 2**41, "a", "b"]),
)


@st.composite
def columns(draw: st.DrawFn) -> ir.SOp:
    """An s-op whose value at each position is a drawn function of its token, or a position."""
    table = draw(st.lists(VALUES, min_size=TOKENS, max_size=TOKENS))
    column = ir.map_sop(table.__getitem__, ir.Tokens(kind="int"), description=repr(table))
    return draw(st.sampled_from([column, column, ir.indices, ir.length]))


@st.composite
def selectors(draw: st.DrawFn, depth: int = 2) -> ir.Selector:
    """A select of two columns, or an `and`, `or`, `not` of such selectors."""
    if depth == 0 or draw(st.booleans()):
        return ir.select(draw(columns()), draw(columns()), draw(st.sampled_from(OPS)))
    left = draw(selectors(depth - 1))
    return draw(st.sampled_from([left & draw(selectors(depth - 1)), left | draw(selectors(depth - 1)), ~left]))


@st.composite
def readers(draw: st.DrawFn) -> ir.SOp:
    """A selector width or an aggregate of a generated selector."""
    selector = draw(selectors())
    if draw(st.booleans()):
        return ir.selector_width(selector)
    return ir.aggregate(selector, draw(columns()), draw(st.sampled_from([0, -1, 0.5, "z"])))


def outcome(interpreter: Interpreter, program: ir.SOp, tokens: list[int], causal: bool) -> str:
    """The values as their repr (types and NaN compare), or the error's class and message."""
    try:
        return repr(interpreter.evaluate(program, tokens, causal=causal))
    except RaspError as error:
        return f"{type(error).__name__}: {error}"


@settings(max_examples=400, deadline=None)
@given(readers(), st.lists(st.integers(0, TOKENS - 1), min_size=2, max_size=12), st.booleans(), st.integers(1, 8))
def test_counting_equals_the_row_blocks(program: ir.SOp, tokens: list[int], causal: bool, cells: int) -> None:
    """Blocks of `cells` cells split every input of two tokens or more, so the counting path
    runs wherever the selector has its shape; the row blocks without it are the reference."""
    blocks = outcome(Interpreter(block_cells=cells, counting=False), program, tokens, causal)
    assert outcome(Interpreter(block_cells=cells), program, tokens, causal) == blocks


def test_the_library_sort_is_counted() -> None:
    """Both selectors of the library sort have the counted shape (two pairs; one pair), so a
    long sort never falls back to the O(n^2) blocks."""
    session = rasp.Session()
    session.run(SORT.read_text())
    values = {session["_keys"].uid: [3, 1, 3], ir.indices.uid: [0, 1, 2], session["_place"].uid: [2, 0, 1]}

    def of(node: ir.SOp) -> list[int]:
        return values[node.uid]

    goes_ahead = Counting.of(session["_goes_ahead"], of, of, None)
    assert goes_ahead is not None and len(goes_ahead.pairs) == 2
    assert goes_ahead.sums(np.ones((3, 1), np.int64))[:, 0].tolist() == [1, 0, 2]
    assert Counting.of(session["sorted"].selector, of, of, None) is not None
    causal = Pair(np.arange(3.0), np.arange(3.0))
    assert Counting.of(session["_goes_ahead"], of, of, causal) is None  # three pairs: the blocks


def test_the_counted_sort_equals_python_sorted() -> None:
    """2,000 tokens with many ties, in blocks of 4,096 cells: 1,000 blocks, all counted."""
    session = rasp.Session()
    session.run(SORT.read_text())
    data = [(i * 7919) % 97 for i in range(2_000)]
    assert Interpreter(block_cells=4_096).evaluate(session["sorted"], data) == sorted(data)
