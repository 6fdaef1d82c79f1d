"""Hard-mode lowerings of the latest match and of position lookups (compiler/idioms.py): the
models equal the interpreter on random inputs (no `|` at all, lookups before position 0 or
past the query), their size does not depend on max_seq_len, their heads carry the descriptors
the fast decoder reads, and a lookup whose scores no float holds exactly is refused."""

from __future__ import annotations

import pytest
from compiler_helpers import assert_agrees, described_heads, lookup_targets
from hypothesis import given, settings
from hypothesis import strategies as st

import compiler
import rasp
from compiler import CompileError

#: The idioms: the position of the latest `|` (latest match), the token mirrored about it and
#: a number read there (position lookups with a computed address: negative when i > 2 b, and
#: -2 - i when no `|` came yet), and the token before the latest `|` (a latest match of a
#: categorical value).
PROGRAM = """
is_bar = tokens == "|";
bars = selector_width(select(is_bar, True, ==));
latest = select(bars, bars, ==) and select(is_bar, True, ==);
bar_at = aggregate(latest, indices, -1);
mirror = 2 * bar_at - indices;
mirrored = aggregate(select(indices, mirror, ==), tokens, "_");
far = aggregate(select(indices, mirror, ==), 3 * indices + 1, -5);
previous = aggregate(select(indices, indices - 1, ==), tokens, "^");
before_bar = aggregate(select(is_bar, True, ==) and select(bars, bars, ==), previous, "none");
"""
NAMES = ("mirrored", "far", "before_bar")
N = 9


def _session() -> rasp.Session:
    session = rasp.Session()
    session.run(PROGRAM)
    return session


SESSION = _session()
MODELS = {name: compiler.compile(SESSION[name], "ab|", N, causal=True, attention="hard") for name in NAMES}


@settings(max_examples=25, deadline=None, derandomize=True)
@given(st.lists(st.lists(st.sampled_from("ab|"), min_size=1, max_size=N), min_size=6, max_size=6))
def test_hard_idioms_equal_the_interpreter(batch: list[list[str]]) -> None:
    # with inputs without `|` and with lookups out of range; one batch shape, one XLA compilation
    batch = [*batch, list("ab" * N)[:N], list("|ab|aab|a")]
    for name, model in MODELS.items():
        assert_agrees(model, SESSION[name], batch)


def _outputs(name: str, tokens: list[str]) -> list:
    """The model's outputs, run in a batch of the hypothesis test's shape (no new compilation)."""
    return MODELS[name].predict([tokens, *[list("a" * N)] * 7])[0]


def test_hand_checked_outputs() -> None:
    tokens = list("ab|ba|aba")  # bars at 2 and 5; mirror 2 b - i: -2, -3, 2, 1, 0, 5, 4, 3, 2
    assert _outputs("mirrored", tokens) == ["_", "_", "|", "b", "a", "|", "a", "b", "|"]
    assert _outputs("far", tokens) == [-5, -5, 7, 4, 1, 16, 13, 10, 7]
    assert _outputs("before_bar", tokens) == ["none", "none", "b", "b", "b", "a", "a", "a", "a"]


def test_the_count_costs_nothing_and_the_heads_are_described() -> None:
    model = MODELS["mirrored"]
    assert not any("bars" in label for label in model.labels)  # no head, no decoder of the count
    running, lookup = [head for layer in described_heads(model) for head in layer]
    assert running == {"kind": "running"}
    assert lookup == {"kind": "lookup", "target": {"bar_at": 2.0, "indices": -1.0}, "outside": "clamp"}
    tokens = list("a|b|ab")
    layer = next(i for i, heads in enumerate(described_heads(model)) if heads[0]["kind"] == "lookup")
    assert lookup_targets(model, layer, 0, tokens) == SESSION["mirror"](tokens, causal=True)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mirrored", "far"])
def test_size_does_not_depend_on_the_length(name: str) -> None:
    """`far` gates a number of size ~3n: its gate's ramps reach ~n^2, under float64's exact
    integers at 2^20 (a bound of pre-activation times the largest weight, ~n^3, refused it)."""

    def size(n: int) -> dict:
        summary = compiler.compile(SESSION[name], "ab|", n, causal=True, attention="hard").summary()
        return {key: summary[key] for key in ("layers", "heads", "residual_width", "mlp_hidden_total", "params")}

    assert size(2**10) == size(2**20)


def test_soft_and_non_causal_keep_the_general_lowering() -> None:
    """The latest match selects one key only in causal evaluation, and soft heads are
    approximate: both keep the count's head and decoder."""
    for causal, attention in ((True, "soft"), (False, "hard")):
        model = compiler.compile(SESSION["bar_at"], "ab|", 6, causal=causal, attention=attention)
        assert any(label.startswith("bars") for label in model.labels)


def test_a_lookup_beyond_float64_is_refused() -> None:
    session = rasp.Session()
    session.run(PROGRAM + 'huge = aggregate(select(indices, bar_at * 70368744177664, ==), tokens, "_");')
    with pytest.raises(CompileError, match="huge.*cannot separate"):
        compiler.compile(session["huge"], "ab|", 64, causal=True, attention="hard")
