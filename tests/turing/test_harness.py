"""The harness: autoregressive generation through an engine, budgets, mismatch reports, and many
machines through the one engine interface."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from rasp.errors import RaspError, RaspEvaluationError
from turing import END, SEP, Machine, load_machine, random_cases, simulate, trace_of
from turing.engines import (
    ENGINES,
    CompiledEngine,
    Engine,
    EngineError,
    InterpreterEngine,
    ReferenceEngine,
    TraceDecoder,
    engine_named,
    engines_taking,
)
from turing.harness import run_machine, run_machines, verify_machines

BB2 = load_machine("1RB1LB_1LA1RZ")
BB2_TRACE = "$ A 0 | 1 B 0 | A 1 1 | B 0 1 1 | A 0 1 1 1 | 1 B 1 1 1 | 1 1 Z 1 1 | #".split()


@pytest.fixture(scope="module")
def interpreter() -> InterpreterEngine:
    return InterpreterEngine()


@pytest.mark.parametrize("engine", [ReferenceEngine(), InterpreterEngine(), InterpreterEngine(incremental=False)],
                         ids=["reference", "interpreter", "interpreter-full"])
def test_engines_generate_the_design_example(engine) -> None:
    run = run_machine(engine, BB2, (), max_steps=100)
    assert run.tokens == BB2_TRACE
    assert run.matches and run.halted and run.error is None and run.report() == ""
    final = run.final()
    assert (final.state, final.cells, final.head, final.nonblank) == ("Z", ("1", "1", "1", "1"), 2, 4)


@pytest.mark.slow
def test_interpreter_generates_random_machines_autoregressively(interpreter) -> None:
    checked = 0
    for n_states, n_symbols, n_moves in ((2, 2, False), (3, 3, True), (5, 4, True), (4, 2, False)):
        for machine, tape in random_cases(4, n_states, n_symbols, seed=n_states * 10 + n_symbols, n_moves=n_moves):
            run = run_machine(interpreter, machine, tape, max_steps=30)
            assert run.matches, f"{machine.to_text()} on {tape}:\n{run.report()}"
            assert run.tokens == trace_of(machine, tape, 30)
            outcome = simulate(machine, tape, 30, record=False)
            final = run.final()
            assert run.halted == outcome.halted
            assert (final.cells, final.head, final.state) == (outcome.tape, outcome.head, outcome.state)
            checked += 1
    assert checked == 16


def test_multi_character_names(interpreter) -> None:
    machine = load_machine(
        '{"states": ["go", "back", "halt"], "symbols": ["nil", "x", "yy"], "blank": "nil", "start": "go",'
        ' "halting": ["halt"], "transitions": [["go", "x", "yy", "R", "go"], ["go", "nil", "x", "L", "back"],'
        ' ["back", "yy", "yy", "L", "back"], ["back", "nil", "nil", "R", "halt"]]}'
    )
    run = run_machine(interpreter, machine, ("x", "x"), max_steps=50)
    assert run.matches and run.halted
    assert run.tokens[-8:] == "| nil halt yy yy x | #".split()  # grew on both sides


# ------------------------------------------------------------------------------- budgets


@pytest.mark.parametrize("max_steps", [0, 1, 2, 5, 6])
def test_step_budget_cuts_like_the_reference(interpreter, max_steps: int) -> None:
    run = run_machine(interpreter, BB2, (), max_steps=max_steps)
    assert run.tokens == trace_of(BB2, (), max_steps)
    assert run.matches
    assert run.halted == (max_steps == 6)
    assert run.tokens.count(SEP) == max_steps + 1


def test_token_budget_truncates_and_still_compares(interpreter) -> None:
    run = run_machine(interpreter, BB2, (), max_steps=100, max_tokens=10)
    assert run.tokens == BB2_TRACE[:10]
    assert run.matches and not run.halted


def test_halt_on_the_first_configuration() -> None:
    machine = load_machine("---1RB_1LA---")  # A reading the blank has no transition
    run = run_machine(InterpreterEngine(), machine, (), max_steps=10)
    assert run.tokens == ["$", "A", "0", SEP, END] and run.matches


# ------------------------------------------------------------------------- wrong engines


class _Wrong(Engine):
    """The reference engine, except that `corrupt(position, prediction)` rewrites its predictions."""

    def __init__(self, corrupt: Callable[[int, str], str]) -> None:
        self.name = "wrong"
        self.corrupt = corrupt

    def decoder(self, machine: Machine, capacity: int | None = None) -> TraceDecoder:
        inner = ReferenceEngine().decoder(machine)
        context: list[str] = []

        class Corrupted:
            def extend(_, tokens: Sequence[str]) -> str:
                context.extend(tokens)
                return self.corrupt(len(context), inner.extend(tokens))

        return Corrupted()


def test_mismatch_report_names_the_first_divergent_position() -> None:
    run = run_machine(_Wrong(lambda position, token: "B" if position == 20 else token), BB2, (), 100)
    assert BB2_TRACE[20] != "B"
    assert not run.matches and run.divergence == 20
    assert run.tokens[:20] == BB2_TRACE[:20]
    assert run.tokens[20:] == ["B", "1", SEP]  # generation finished the configuration, then stopped
    report = run.report()
    assert "first divergence at position 20" in report
    assert "configuration C4" in report
    assert "previous C3: B 0 1 1" in report  # the configuration around it
    assert "expected C4: A 0 1 1 1 |" in report


def test_a_premature_halt_is_a_mismatch() -> None:
    run = run_machine(_Wrong(lambda position, token: END if position == 8 else token), BB2, (), 100)
    assert run.divergence == 8 and run.tokens[-1] == END and run.halted
    assert "expected 'A', got '#'" in run.report()


def test_a_halt_past_the_budget_is_a_mismatch() -> None:
    """At the step budget the reference has no `#`; an engine that predicts one is wrong."""
    budget_end = len(trace_of(BB2, (), 3))
    run = run_machine(_Wrong(lambda position, token: END if position == budget_end else token), BB2, (), 3)
    assert run.divergence == budget_end and not run.matches


def test_an_engine_that_never_closes_a_configuration_stops() -> None:
    run = run_machine(_Wrong(lambda position, token: "1" if position >= 8 else token), BB2, (), 100)
    assert run.divergence == 8
    assert len(run.tokens) <= 8 + 4 + 4  # the expected configuration's length plus 4


def test_an_engine_failure_is_reported_as_a_mismatch() -> None:
    def fail(position: int, token: str) -> str:
        if position == 12:
            raise RaspEvaluationError("no value here")
        return token

    run = run_machine(_Wrong(fail), BB2, (), 100)
    assert run.error == "no value here"
    assert run.divergence == 12 and len(run.tokens) == 12
    assert "the wrong engine failed after 12 tokens: no value here" in run.report()
    assert "first divergence at position 12" in run.report()


def test_reference_engine_refuses_to_predict_inside_the_first_configuration() -> None:
    with pytest.raises(EngineError):
        ReferenceEngine().decoder(BB2).extend(["$", "A"])


def test_engines_by_name() -> None:
    assert engine_named("reference").name == "reference"
    assert engine_named("interpreter").name == "interpreter"
    with pytest.raises(EngineError, match="unknown engine 'gpu'"):
        engine_named("gpu")


def test_every_engine_is_registered_where_it_is_defined() -> None:
    """The compiled engine is known without the command line, and the options say which
    engines take a program and a float type."""
    assert list(ENGINES) == ["reference", "interpreter", "compiled", "universal-interpreter", "universal"]
    assert isinstance(engine_named("compiled", dtype="float64"), CompiledEngine)
    assert engines_taking("program") == ["interpreter", "compiled"]
    assert engines_taking("dtype") == ["compiled", "universal"]


def test_many_machines_through_the_interface_equal_one_at_a_time() -> None:
    """`run_machines` asks an engine for all its decoders at once; an engine that does not batch
    then generates exactly what `run_machine` generates, budgets per case included."""
    cases = list(random_cases(5, 3, 2, seed=3, n_moves=True))
    budgets = [3, 8, 1, 12, 6]
    seen = []
    runs = run_machines(ReferenceEngine(), cases, budgets, on_run=seen.append)
    singles = [run_machine(ReferenceEngine(), machine, tape, steps) for (machine, tape), steps in zip(cases, budgets)]
    assert [run.tokens for run in runs] == [run.tokens for run in singles] and seen == runs
    assert all(run.matches for run in runs)
    with pytest.raises(RaspError, match="2 step budgets for 5 machines"):
        run_machines(ReferenceEngine(), cases, [1, 2])


def test_verify_counts_what_the_runs_hold() -> None:
    cases = list(random_cases(4, 2, 2, seed=1))
    verification = verify_machines(_Wrong(lambda position, token: "?"), cases, 10)
    assert verification.engine == "wrong" and len(verification.runs) == 4 and verification.batches is None
    prompts = [run.expected.index(SEP) + 1 for run in verification.runs]  # `$ C0 |`: the first token generated
    assert [run.divergence for run in verification.mismatches] == prompts
    assert verification.tokens == sum(len(run.tokens) for run in verification.runs)
    assert verification.halted == sum(run.tokens[-1] == END for run in verification.runs)


def test_a_decoder_that_cannot_be_built_fails_its_run_only() -> None:
    class Unbuildable(Engine):
        name = "unbuildable"

        def decoder(self, machine: Machine, capacity: int | None = None) -> TraceDecoder:
            raise EngineError(f"no decoder for {machine.to_text()}")

    (run,) = run_machines(Unbuildable(), [(BB2, ())], 5)
    assert run.error == "no decoder for 1RB1LB_1LA1RZ" and run.divergence == 4 and not run.matches


def test_random_cases_are_reproducible() -> None:
    first = list(random_cases(5, 3, 2, seed=7, max_tape=6))
    assert first == list(random_cases(5, 3, 2, seed=7, max_tape=6))
    assert first != list(random_cases(5, 3, 2, seed=8, max_tape=6))
    assert all(len(tape) <= 6 for _, tape in first)
