"""Length-free compiles (compiler/length_free.py): counts as sum heads, numeric choices as
gates, squares of prefix counts by prefix sums and the keyed latest match as one int64 head.
The models equal the interpreter on generated inputs at short and at very long max_seq_len,
their size does not depend on max_seq_len, and what they cannot build is refused by name."""

from __future__ import annotations

import pytest
from compiler_helpers import assert_agrees
from hypothesis import given, settings
from hypothesis import strategies as st

import compiler
import rasp
from compiled_model.errors import ModelError
from compiler import CompileError
from compiler.valuesets import Interval, Unenumerable, hull

#: A cursor moved by `>` and `<`; `a` and `b` write themselves at the cursor (a cell written
#: before the cursor moves), `?` reads the cell under it: the latest write there, or "_".
#: `moved` is a choice between a position and a count; `keyed` the keyed latest match.
PROGRAM = """
right = selector_width(select(tokens, ">", ==));
left = selector_width(select(tokens, "<", ==));
cursor = right - left;
step = (1 if tokens == ">" else 0) - (1 if tokens == "<" else 0);
before = cursor - step;
writes = tokens == "a" or tokens == "b";
cell = (indices + 7) if tokens == "?" else before;
visits = selector_width(select(before, before, ==) and select(writes, True, ==));
seen = selector_width(select(before, cursor, ==) and select(writes, True, ==));
here = select(before, cursor, ==) and select(writes, True, ==);
read = aggregate(here and select(visits, seen, ==), tokens, "_");
number = aggregate(select(visits, seen, ==) and select(writes, True, ==) and select(before, cursor, ==),
                   2 * left - right, 99);
"""
VOCAB = "><ab?"
NAMES = ("cursor", "cell", "read", "number")


def _session() -> rasp.Session:
    session = rasp.Session()
    session.run(PROGRAM)
    return session


SESSION = _session()


def _model(name: str, n: int) -> compiler.Transformer:
    return compiler.compile(SESSION[name], VOCAB, n, causal=True, attention="hard", length_free=True)


SHORT = {name: _model(name, 24) for name in NAMES}
LONG = {name: _model(name, 2**26) for name in NAMES}


@settings(max_examples=10, deadline=None, derandomize=True)
@given(st.lists(st.lists(st.sampled_from(VOCAB), min_size=1, max_size=24), min_size=4, max_size=4))
def test_length_free_models_equal_the_interpreter(batch: list[list[str]]) -> None:
    for models in (SHORT, LONG):
        for name, model in models.items():
            assert_agrees(model, SESSION[name], batch)


def test_hand_checked_reads() -> None:
    # write a at 0, move right, write b at 1, move left: the cursor is back on a; b is then
    # overwritten at 1 by a, and cell 2 was never written
    tokens = list("a>b<?>a?>?")
    assert SHORT["read"](tokens)[4] == "a"  # the cell the cursor came back to
    assert SHORT["read"](tokens)[7] == "a"  # cell 1: a overwrote b
    assert SHORT["read"](tokens)[9] == "_"  # cell 2: never written
    assert SHORT["cursor"](tokens) == [0, 1, 1, 0, 0, 1, 1, 1, 2, 2]


def test_sizes_do_not_depend_on_the_length() -> None:
    for name in NAMES:
        short, long = SHORT[name].summary(), LONG[name].summary()
        assert (short["params"], short["heads"], short["residual_width"]) == (
            long["params"], long["heads"], long["residual_width"],
        )
    kinds = {head.kind for layer in LONG["read"].spec.heads for head in layer}
    assert kinds == {"sum", "keyed"}  # the counts, the squares and the match: nothing dense


def test_a_length_past_the_exact_range_is_refused() -> None:
    # the running sum of the cursor's squared increments passes 2^53 past about 2^26.5 positions
    with pytest.raises(CompileError, match=r"cannot compile before: the running sum .* past float64's exact"):
        _model("read", 2**27)


def test_a_table_over_positions_is_refused_by_name() -> None:
    session = rasp.Session()
    session.run("parity = indices % 2;")
    with pytest.raises(CompileError, match=r"cannot compile parity: .* \(a length-free compile holds positions"):
        compiler.compile(session["parity"], "ab", 1024, causal=True, attention="hard", length_free=True)


@pytest.mark.parametrize(("attention", "causal"), [("soft", True), ("hard", False)])
def test_length_free_needs_hard_causal_models(attention: str, causal: bool) -> None:
    with pytest.raises(CompileError, match="hard attention and causal"):
        compiler.compile(SESSION["cursor"], VOCAB, 16, causal=causal, attention=attention, length_free=True)


def test_models_with_head_modes_run_in_float64_only() -> None:
    with pytest.raises(ModelError, match="float64 only"):
        LONG["read"](list("a>b"), dtype="float32")


def test_intervals() -> None:
    interval = Interval(-3, 5)
    assert 4 in interval and 4.0 in interval and 6 not in interval and 0.5 not in interval and "a" not in interval
    assert len(interval) == 9 and list(interval) == list(range(-3, 6))
    assert hull(interval, {7, -1}) == Interval(-3, 7) and (interval | {9}) == Interval(-3, 9)
    with pytest.raises(Unenumerable):
        list(Interval(0, 10**9))
