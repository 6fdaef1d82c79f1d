"""Keys that are maps of positions with fractional or negative slopes (issue 20).

Tracr's sort makes its keys unique as `x + min_key * i / max_seq_len`; with `x = 1 - indices`
that is `(1 - indices) + indices / 5`, whose selector width `select(k, k, <)` the compiler once
got wrong without a word: the one-hot of a map of positions was found by inverting its affine
form, `(v - 1) / -0.8`, which is 2.9999999999999996 for the interpreter's -1.4 at i = 3, so
position 3 fell out of every comparison.  Here: the issue's programs at the lengths it names,
both attention modes; the families around them (every comparison, causal or not, other slopes,
offsets and forms, keys mixing positions and tokens) on generated cases; and the self-check and
the fuzzer, each shown to catch the old inversion."""

from __future__ import annotations

import random
from typing import Any

import pytest
from compiler_helpers import assert_agrees
from hypothesis import given, settings
from hypothesis import strategies as st

import compiler
from compiler.blocks import INDICES, ONE, index_dim
from compiler.encodings import Encodings, positions_of_affine
from compiler.fuzzing import classify, generate
from rasp import Session

WIDTH = "k = (1 - indices) + indices / 5;\nt = selector_width(select(k, k, <));\n"
SORT = WIDTH + "sorted = aggregate(select(t, indices, ==), tokens);\n"


def _program(source: str, name: str) -> Any:
    session = Session()
    session.run(source)
    return session[name]


def _every_length(vocab: str, n: int, seed: int = 0) -> list[list[str]]:
    """A constant and a random input of every length up to n."""
    rng = random.Random(seed)
    return [[vocab[0]] * length for length in range(1, n + 1)] + [
        [rng.choice(vocab) for _ in range(length)] for length in range(1, n + 1)
    ]


def tracr_sort(n: int) -> str:
    """Tracr's `make_sort` with keys x = 1 - indices and min_key 1: unique keys
    x + min_key * i / max_seq_len, each query's count of smaller keys, and the value there."""
    return (
        f"k = (1 - indices) + 1 * indices / {n};\n"
        "smaller = select(k, k, <);\n"
        "target = selector_width(smaller);\n"
        "sorted = aggregate(select(target, indices, ==), tokens);\n"
    )


@pytest.mark.parametrize("attention", ["soft", "hard"])
@pytest.mark.parametrize("n", [5, pytest.param(20, marks=pytest.mark.slow), pytest.param(50, marks=pytest.mark.slow)])
def test_the_issues_programs_are_exact(n: int, attention: str) -> None:
    """The two programs of the report, by hand: `t` counts the keys after it (the keys fall
    with the position), so `sorted` reverses its input."""
    width, ordered = _program(WIDTH, "t"), _program(SORT, "sorted")
    width_model = compiler.compile(width, "abcd", n, attention=attention)
    sort_model = compiler.compile(ordered, "abcd", n, attention=attention)
    assert width_model("abcd") == [3, 2, 1, 0]
    assert sort_model("abcd") == list("dcba")
    assert sort_model("ab") == list("ba")
    inputs = _every_length("abcd", n)
    assert_agrees(width_model, width, inputs)
    assert_agrees(sort_model, ordered, inputs)


@pytest.mark.parametrize("attention", ["soft", "hard"])
@pytest.mark.parametrize("n", [5, 20, 50])
def test_tracrs_sort_is_exact(n: int, attention: str) -> None:
    program = _program(tracr_sort(n), "sorted")
    model = compiler.compile(program, "abcd", n, attention=attention)
    rng = random.Random(n)
    word = [rng.choice("abcd") for _ in range(n)]
    assert model(word) == word[::-1]
    assert_agrees(model, program, _every_length("abcd", n, seed=n))


# ------------------------------------------------------------------------------ families

FORMS = {
    "sum of two maps": "({b} - indices) + indices / {d}",
    "product": "indices * {a} + {b}",
    "quotient": "(indices + {b}) / {d} - indices",
    "difference of products": "indices * {a} - indices * {c}",
    "with the length": "(length - indices) / {d}",
    "with the tokens": "tokens * {a} + indices / {d}",
    "tokens minus positions": "(tokens - indices) / {d}",
}
SLOPES = st.sampled_from([0.2, -0.8, 0.3, -1.5, 0.25, -0.1, 1.25, 0.7, -2.0])
OFFSETS = st.sampled_from([0, 1, -2, 0.5, 3, -1.5])
DIVISORS = st.sampled_from([5, 3, 7, -4, 2.5, 20, 50])


@st.composite
def position_keys(draw: st.DrawFn) -> str:
    form = draw(st.sampled_from(sorted(FORMS)))
    return FORMS[form].format(a=draw(SLOPES), b=draw(OFFSETS), c=draw(SLOPES), d=draw(DIVISORS))


@settings(max_examples=60, deadline=None)
@given(
    keys=position_keys(),
    queries=st.one_of(st.just("keys"), position_keys()),
    op=st.sampled_from(["<", "<=", ">", ">=", "==", "!="]),
    use=st.sampled_from(["width", "mean", "sort"]),
    causal=st.booleans(),
    attention=st.sampled_from(["soft", "hard"]),
    n=st.integers(2, 12),
)
def test_comparisons_of_maps_of_positions_are_exact_or_refused(
    keys: str, queries: str, op: str, use: str, causal: bool, attention: str, n: int
) -> None:
    """Every comparison of two maps of positions (and tokens), each written in one of the
    forms programs use, as a selector width, a mean and a sort: exact on every length, or
    refused by name."""
    queries = "k" if queries == "keys" else f"({queries})"
    out = {
        "width": f"selector_width(select(k, {queries}, {op}))",
        "mean": f"aggregate(select(k, {queries}, {op}), indices, 0)",
        "sort": f"aggregate(select(selector_width(select(k, {queries}, {op})), indices, ==), tokens, 0)",
    }[use]
    program = _program(f"set example [0, 1, 2]\ntokens = tokens_int;\nk = {keys};\nresult = {out};\n", "result")
    try:
        model = compiler.compile(program, [0, 1, 2], n, causal=causal, attention=attention, check=0)
    except compiler.CompileError as error:
        assert "cannot compile" in str(error)
        return
    result = compiler.verify(model, program, _every_length([0, 1, 2], n), host=True)
    assert result.disagreement is None, result.disagreement
    assert result.total > n  # the interpreter takes these inputs: they were compared


# ------------------------------------------------------------- what catches the old bug


def _inverted_one_hot(self: Encodings, node: Any, rep: Any, known: frozenset) -> dict[Any, Any]:
    """The one-hot of a map of positions as the compiler made it before issue 20: each value
    mapped to the index its affine form inverts to, when that is an integer."""
    slope, offset = rep.number[INDICES], rep.number.get(ONE, 0.0)
    result = {}
    for value in known:
        index = (float(value) - offset) / slope
        in_range = float(index).is_integer() and 0 <= index < self.n
        result[value] = {index_dim(int(index)): 1.0} if in_range else {}
    return result


@pytest.fixture
def old_inversion(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Encodings, "_indicators_of_position", _inverted_one_hot)


def test_the_self_check_catches_the_old_inversion(old_inversion: None) -> None:
    """`compile` checks every model by default: with the old one-hot the report's program is
    refused as wrong (naming the input), and `check=0` hands out the wrong model."""
    program = _program(WIDTH, "t")
    with pytest.raises(compiler.CheckFailed, match=r"is wrong: on input \['a', 'a', 'a', 'a'\]"):
        compiler.compile(program, "abcd", 5)
    assert compiler.compile(program, "abcd", 5, check=0)("abcd") == [2, 1, 0, 0]


def test_rasp_compile_checks_by_default(old_inversion: None, tmp_path, capsys) -> None:
    from rasp_toolkit import cli

    path = tmp_path / "width.rasp"
    path.write_text(WIDTH)
    common = ["compile", str(path), "t", "--vocab", "a,b,c,d", "--max-len", "5"]
    assert cli.main(common) == 1
    assert "is wrong: on input" in capsys.readouterr().err
    assert cli.main([*common, "--check", "0"]) == 0


@pytest.mark.parametrize("seed", [700056, 700068, 700070])
def test_the_fuzzer_finds_the_old_inversion(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Generated programs the extended fuzzer found wrong on the commit before the fix:
    wrong again with the old one-hot, exact with the fix."""
    case = generate(seed)
    assert classify(case).kind == "exact"
    monkeypatch.setattr(Encodings, "_indicators_of_position", _inverted_one_hot)
    assert classify(case).kind == "wrong"


def test_long_maps_of_positions_find_their_positions_by_rounding() -> None:
    """Past the lengths whose positions are listed one by one, a value's position is its
    inverted affine form rounded: the interpreter's values of `(1 - i) + i / 5` all land on
    their own position (the exact inversion missed i = 3), values between positions land
    nowhere, and two values that round to one position are both kept, for the caller to
    refuse."""
    n = 300
    values = frozenset((1 - i) + i / 5 for i in range(n))
    rows = positions_of_affine(values | {0.6}, -0.8, 1.0, n)
    assert all(row == {(1 - i) + i / 5} for i, row in enumerate(rows))
    clashing = positions_of_affine(frozenset({-1.4, -1.4000000000000004}), -0.8, 1.0, 5)
    assert clashing[3] == {-1.4, -1.4000000000000004} and not any(clashing[:3])
