"""The reference simulator against hand-worked runs and the rewriting rules of docs/turing.md."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from turing_cases import COPIER, INCREMENT  # binary increment; the copier 1^n -> 1^n 0 1^n

from turing import (
    Configuration,
    Machine,
    TapeError,
    initial_configuration,
    load_machine,
    random_machine,
    random_tape,
    simulate,
    step,
    trace_of,
)
from turing.errors import TuringError

# The docs' example (docs/turing.md), token for token.
BB2_TRACE = "$ A 0 | 1 B 0 | A 1 1 | B 0 1 1 | A 0 1 1 1 | 1 B 1 1 1 | 1 1 Z 1 1 | #"


# Unary addition 1^a + 1^b: turn '+' into 1, run to the end, erase the last 1.
ADDITION = """{
  "states": ["scan", "scan2", "erase", "done"], "symbols": ["_", "1", "+"], "blank": "_",
  "start": "scan", "halting": ["done"],
  "transitions": [
    ["scan", "1", "1", "R", "scan"], ["scan", "+", "1", "R", "scan2"],
    ["scan2", "1", "1", "R", "scan2"], ["scan2", "_", "_", "L", "erase"],
    ["erase", "1", "_", "N", "done"]
  ]
}"""



def tokens_of(configurations: list[Configuration]) -> list[str]:
    return [" ".join(config.tokens()) for config in configurations]


def test_design_example_trace_and_step_count() -> None:
    machine = load_machine("1RB1LB_1LA1RZ")
    assert " ".join(trace_of(machine, ())) == BB2_TRACE
    run = simulate(machine)
    assert (run.halted, run.steps, run.state) == (True, 6, "Z")
    assert run.tape == ("1", "1", "1", "1")
    assert run.head == 2
    assert run.nonblank == 4


def test_binary_increment_1011() -> None:
    run = simulate(load_machine(INCREMENT), "1011")
    assert tokens_of(run.configurations) == [
        "right 1 0 1 1",
        "1 right 0 1 1",
        "1 0 right 1 1",
        "1 0 1 right 1",
        "1 0 1 1 right _",
        "1 0 1 carry 1 _",
        "1 0 carry 1 0 _",
        "1 carry 0 0 0 _",
        "1 done 1 0 0 _",
    ]
    assert (run.halted, run.steps, run.head, run.nonblank) == (True, 8, 1, 4)
    assert run.tape == ("1", "1", "0", "0", "_")


def test_binary_increment_grows_the_tape_on_the_left() -> None:
    run = simulate(load_machine(INCREMENT), "111")
    assert run.configurations[-2:] == [
        Configuration((), "carry", ("_", "0", "0", "0", "_")),
        Configuration((), "done", ("1", "0", "0", "0", "_")),
    ]
    assert (run.steps, run.head) == (8, 0)


@given(st.integers(1, 2**12))
def test_binary_increment_adds_one(number: int) -> None:
    run = simulate(load_machine(INCREMENT), bin(number)[2:], record=False)
    assert run.halted and run.state == "done"
    assert "".join(run.tape).strip("_") == bin(number + 1)[2:]


def test_unary_addition_3_plus_2() -> None:
    run = simulate(load_machine(ADDITION), "111+11")
    assert tokens_of(run.configurations)[-3:] == [
        "1 1 1 1 1 1 scan2 _",
        "1 1 1 1 1 erase 1 _",
        "1 1 1 1 1 done _ _",
    ]
    assert (run.halted, run.steps, run.head, run.nonblank) == (True, 8, 5, 5)
    assert run.tape == tuple("11111__")


@given(st.integers(0, 20), st.integers(0, 20), st.booleans())
def test_unary_addition_in_general(a: int, b: int, record: bool) -> None:
    run = simulate(load_machine(ADDITION), "1" * a + "+" + "1" * b, record=record)
    # a moves over the first block, one over '+', b over the second, one back, one erase.
    assert (run.halted, run.steps, run.state) == (True, a + b + 3, "done")
    assert run.tape == ("1",) * (a + b) + ("_", "_")
    assert run.head == a + b


def test_copier_on_two_ones_step_by_step() -> None:
    run = simulate(load_machine(COPIER), "11")
    assert tokens_of(run.configurations) == [
        "A 1 1",
        "0 B 1",
        "0 1 B 0",
        "0 1 0 C 0",
        "0 1 D 0 1",
        "0 E 1 0 1",
        "E 0 1 0 1",
        "1 A 1 0 1",
        "1 0 B 0 1",
        "1 0 0 C 1",
        "1 0 0 1 C 0",
        "1 0 0 D 1 1",
        "1 0 D 0 1 1",
        "1 E 0 0 1 1",
        "1 1 A 0 1 1",
    ]
    assert (run.halted, run.steps, run.state) == (True, 14, "A")


@given(st.integers(0, 12))
def test_copier_copies_any_block(n: int) -> None:
    run = simulate(load_machine(COPIER), "1" * n, record=False)
    assert run.halted and run.state == "A"
    assert run.tape == ("1",) * n + ("0",) + ("1",) * n
    assert run.head == n


@pytest.mark.parametrize(("text", "tape_length", "head"), [("0RA", 100_001, 100_000), ("0LA", 100_001, 0)])
@pytest.mark.parametrize("record", [False, True])
def test_machine_that_never_halts_uses_the_whole_budget(text, tape_length, head, record) -> None:
    budget = 100_000 if not record else 300
    run = simulate(load_machine(text), max_steps=budget, record=record)
    assert not run.halted
    assert run.steps == budget
    if not record:
        assert (len(run.tape), run.head) == (tape_length, head)
    else:
        assert len(run.configurations) == budget + 1
        assert len(run.tape) == budget + 1


def test_machine_looping_in_place_with_n_moves() -> None:
    run = simulate(load_machine("0NA"), max_steps=1000, record=False)
    assert (run.halted, run.steps, run.tape, run.head) == (False, 1000, ("0",), 0)


def test_machine_with_n_moves_that_halts() -> None:
    run = simulate(load_machine("1NB1RZ_---1NA"))
    assert tokens_of(run.configurations) == ["A 0", "B 1", "A 1", "1 Z 0"]
    assert (run.halted, run.steps, run.state) == (True, 3, "Z")


def test_missing_transition_halts_where_it_stands() -> None:
    run = simulate(load_machine("1RB---_1LA---"))
    assert tokens_of(run.configurations) == ["A 0", "1 B 0", "A 1 1"]
    assert (run.halted, run.steps, run.state, run.head) == (True, 2, "A", 0)


def test_start_in_a_halting_state_takes_no_step() -> None:
    machine = Machine.from_json(
        '{"states": ["h", "q"], "symbols": ["_", "x"], "blank": "_", "start": "h",'
        ' "halting": ["h"], "transitions": [["q", "_", "x", "R", "h"]]}'
    )
    run = simulate(machine, ["x", "x"])
    assert (run.halted, run.steps, run.tape) == (True, 0, ("x", "x"))


def test_halting_exactly_at_the_budget_counts_as_halted() -> None:
    machine = load_machine("1RB1LB_1LA1RZ")
    for record in (True, False):
        assert simulate(machine, max_steps=6, record=record).halted
        short = simulate(machine, max_steps=5, record=record)
        assert (short.halted, short.steps, short.state) == (False, 5, "B")


def test_zero_budget_gives_the_initial_configuration() -> None:
    run = simulate(load_machine("1RB1LB_1LA1RZ"), max_steps=0)
    assert run.configurations == [Configuration((), "A", ("0",))]
    assert not run.halted


def test_busy_beaver_4_champion() -> None:
    # Known from the literature: BB(4) halts after 107 steps leaving 13 ones.
    run = simulate(load_machine("1RB1LB_1LA0LC_1RZ1LD_1RD0RA"), record=False)
    assert (run.halted, run.steps, run.nonblank) == (True, 107, 13)


def test_step_rules_of_the_design() -> None:
    machine = load_machine("1RA0LA0NA")  # 3 symbols: read 0 -> R, read 1 -> L, read 2 -> N
    blank_right = step(machine, Configuration(("2",), "A", ("0",)))
    assert blank_right == Configuration(("2", "1"), "A", ("0",))  # R at the end appends a blank
    assert step(machine, Configuration((), "A", ("0", "2"))) == Configuration(("1",), "A", ("2",))
    assert step(machine, Configuration(("2", "1"), "A", ("1",))) == Configuration(("2",), "A", ("1", "0"))
    assert step(machine, Configuration((), "A", ("1", "2"))) == Configuration((), "A", ("0", "0", "2"))
    assert step(machine, Configuration(("1",), "A", ("2", "1"))) == Configuration(("1",), "A", ("0", "1"))


def test_bad_input_cells_are_named() -> None:
    with pytest.raises(TapeError, match=r"input cell 2 is '7'.*0, 1") as caught:
        simulate(load_machine("1RB1LB_1LA1RZ"), ["1", "0", "7"])
    assert isinstance(caught.value, TuringError)


def test_initial_configuration_of_empty_and_given_tapes() -> None:
    machine = load_machine("1RB1LB_1LA1RZ")
    assert initial_configuration(machine).tokens() == ("A", "0")
    assert initial_configuration(machine, ["1", "0"]).tokens() == ("A", "1", "0")


def test_configuration_needs_a_scanned_cell() -> None:
    with pytest.raises(ValueError):
        Configuration(("0",), "A", ())


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 5),
    st.integers(1, 4),
    st.integers(0, 10**9),
    st.integers(0, 8),
    st.integers(0, 200),
    st.booleans(),
)
def test_fast_and_recorded_runs_agree(n_states, n_symbols, seed, length, budget, n_moves) -> None:
    machine = random_machine(n_states, n_symbols, seed, allow_n_moves=n_moves)
    tape = random_tape(machine, length, seed)
    fast = simulate(machine, tape, budget, record=False)
    slow = simulate(machine, tape, budget, record=True)
    assert fast.configurations is None
    assert (fast.halted, fast.steps, fast.state, fast.tape, fast.head, fast.nonblank) == (
        slow.halted,
        slow.steps,
        slow.state,
        slow.tape,
        slow.head,
        slow.nonblank,
    )
    final = slow.configurations[-1]
    assert final == Configuration(slow.tape[: slow.head], slow.state, slow.tape[slow.head :])
    assert len(slow.configurations) == slow.steps + 1
    assert slow.halted or slow.steps == budget
    # The written tape never shrinks and grows by at most one cell a step.
    sizes = [len(config.left) + len(config.right) for config in slow.configurations]
    assert all(0 <= after - before <= 1 for before, after in zip(sizes, sizes[1:], strict=False))
