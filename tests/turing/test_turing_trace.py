"""The trace format: encoding, parsing (round trip and errors), rendering, divergence reports."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from turing import (
    END,
    SEP,
    START,
    Configuration,
    TraceError,
    describe_divergence,
    encode_trace,
    first_divergence,
    load_machine,
    parse_trace,
    random_machine,
    random_tape,
    render_trace,
    simulate,
    trace_of,
)
from turing.errors import TuringError

BB2 = load_machine("1RB1LB_1LA1RZ")
BB2_TRACE = "$ A 0 | 1 B 0 | A 1 1 | B 0 1 1 | A 0 1 1 1 | 1 B 1 1 1 | 1 1 Z 1 1 | #".split()


def test_reserved_tokens() -> None:
    assert (START, SEP, END) == ("$", "|", "#")


def test_encode_small_cases_by_hand() -> None:
    configs = [Configuration((), "A", ("0",)), Configuration(("1",), "B", ("0",))]
    assert encode_trace(configs, halted=False) == ["$", "A", "0", "|", "1", "B", "0", "|"]
    assert encode_trace(configs[:1], halted=True) == ["$", "A", "0", "|", "#"]


def test_budget_cut_trace_has_no_end_marker() -> None:
    assert trace_of(BB2, (), max_steps=2) == "$ A 0 | 1 B 0 | A 1 1 |".split()
    assert trace_of(BB2, (), max_steps=6) == BB2_TRACE


def test_parse_the_design_example() -> None:
    configurations, ended = parse_trace(" ".join(BB2_TRACE), BB2)
    assert ended
    assert configurations[3] == Configuration((), "B", ("0", "1", "1"))
    assert configurations[6] == Configuration(("1", "1"), "Z", ("1", "1"))
    assert len(configurations) == 7


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 4),
    st.integers(1, 3),
    st.integers(0, 10**9),
    st.integers(0, 6),
    st.integers(0, 40),
    st.booleans(),
)
def test_parse_inverts_encode(n_states, n_symbols, seed, length, budget, n_moves) -> None:
    machine = random_machine(n_states, n_symbols, seed, halt_share=0.2, allow_n_moves=n_moves)
    run = simulate(machine, random_tape(machine, length, seed), budget)
    tokens = encode_trace(run.configurations, run.halted)
    assert parse_trace(tokens, machine) == (run.configurations, run.halted)
    assert parse_trace(" ".join(tokens), machine) == (run.configurations, run.halted)
    assert tokens[0] == START and tokens.count(SEP) == run.steps + 1
    assert (tokens[-1] == END) == run.halted


BAD_TRACES = [
    # (trace text, position named, message fragment)
    ("A 0 |", 0, "starts with '$'"),
    ("", 0, "empty sequence"),
    ("$ A B 0 |", 2, "second state token 'B'"),
    ("$ 0 0 |", 3, "no state token"),
    ("$ A 7 |", 2, "'7' in configuration C0 is neither"),
    ("$ A 0 | # A", 5, "must be the last token"),
    ("$ A 0 #", 3, "inside configuration C0"),
    ("$ A 0 | 1 B", 6, "C1 (from position 4) is not closed"),
    ("$ 0 A |", 3, "state 'A' ends configuration C0"),
    ("$ A 0 | $ A 0 |", 4, "'$' may only open the trace"),
    ("$ A 0 | |", 4, "configuration C1 is empty"),
]


@pytest.mark.parametrize(("text", "position", "fragment"), BAD_TRACES)
def test_bad_traces_name_the_position(text: str, position: int, fragment: str) -> None:
    with pytest.raises(TraceError) as caught:
        parse_trace(text, BB2)
    assert isinstance(caught.value, TuringError)
    assert caught.value.position == position
    assert fragment in str(caught.value)
    assert f"position {position}" in str(caught.value)


def test_render_marks_the_head_and_state() -> None:
    lines = render_trace(BB2_TRACE, BB2).splitlines()
    assert lines[0].split() == ["step", "state", "tape"]
    assert lines[1].split() == ["0", "A", "[0]"]
    assert lines[4].split() == ["3", "B", "[0]", "1", "1"]
    assert lines[7].split() == ["6", "Z", "1", "1", "[1]", "1"]
    assert lines[8] == "halted (#)"
    assert len(lines) == 9


def test_render_shows_faulty_and_unfinished_output() -> None:
    lines = render_trace("$ A 0 | A B 1 | 1 B 0", BB2).splitlines()
    assert lines[2].split()[:2] == ["1", "?"] and "2 state tokens" in lines[2]
    assert lines[3].split()[:4] == ["2", "B", "1", "[0]"] and "unfinished" in lines[3]
    assert lines[-1].startswith("no end marker")


def test_first_divergence() -> None:
    assert first_divergence(BB2_TRACE, list(BB2_TRACE)) is None
    changed = list(BB2_TRACE)
    changed[9] = "0"
    assert first_divergence(BB2_TRACE, changed) == 9
    assert first_divergence(BB2_TRACE, BB2_TRACE[:20]) == 20
    assert first_divergence(BB2_TRACE[:20], BB2_TRACE) == 20
    assert first_divergence("$ A 0 |", "$ A 1 |") == 2


def _caret_target(report: str) -> tuple[int, str]:
    """(index, token) of the token the caret on the report's last line points at, in the
    configuration shown on the 'actual' line above it."""
    *_, actual, caret = report.splitlines()
    column = caret.index("^")
    assert actual[column] != " " and actual[column - 1] == " "
    shown = actual.index(": ") + 2
    return len(actual[shown:column].split()), actual[column:].split()[0]


def test_describe_a_wrong_token_inside_a_configuration() -> None:
    actual = list(BB2_TRACE)
    actual[14] = "0"  # C3 is "B 0 1 1" at positions 12..15; its third token becomes 0
    report = describe_divergence(BB2_TRACE, actual, BB2)
    first = report.splitlines()[0]
    assert "position 14" in first and "token 2 of configuration C3" in first
    assert "expected '1', got '0'" in first
    assert "previous C2: A 1 1" in report
    assert "(A, 1) -> (1, L, B)" in report
    assert "expected C3: B 0 1 1 |" in report
    assert _caret_target(report) == (2, "0")


def test_describe_a_missing_end_marker_and_an_early_stop() -> None:
    running_on = BB2_TRACE[:-1] + ["1", "1"]
    report = describe_divergence(BB2_TRACE, running_on, BB2)
    assert "after the last configuration C6" in report and "expected '#', got '1'" in report
    assert "(Z, 1) halts there: a halting state" in report
    assert _caret_target(report) == (0, "1")
    stopped = describe_divergence(BB2_TRACE, BB2_TRACE[:6], BB2)
    assert "position 6, token 2 of configuration C1: expected '0', got the end of the trace" in stopped


def test_describe_agreement_and_a_wrong_start() -> None:
    assert describe_divergence(BB2_TRACE, BB2_TRACE, BB2) == f"the traces agree ({len(BB2_TRACE)} tokens)"
    assert "the start token" in describe_divergence(BB2_TRACE, ["A"] + BB2_TRACE[1:], BB2)
