"""The n-gram Turing Program (programs/turing_ngram.rasp) against the reference simulator: exact
on every configuration whose tape has no repeated n-gram, and its failures reported."""

from __future__ import annotations

import json

import pytest
from turing_cases import HAND_WRITTEN

from rasp.errors import RaspError
from rasp.interpreter import evaluate
from rasp_toolkit import cli
from turing import Machine, load_machine, random_cases, trace_of
from turing.engines import CompiledEngine, InterpreterEngine
from turing.harness import run_machine, run_machines
from turing.ngram import (
    assumption_violations,
    configuration_at,
    ngram_program,
    ngram_sop,
    repeated_ngram,
)

BB2 = "1RB1LB_1LA1RZ"


def first_wrong_configuration(machine: Machine, tape: tuple[str, ...], steps: int, n: int) -> int | None:
    """The configuration written at the program's first wrong prediction on the reference trace
    (causal evaluation: the first wrong prediction is where generation would diverge)."""
    trace = trace_of(machine, tape, steps)
    predictions = evaluate(ngram_sop(machine, n), trace, causal=True)
    for position in range(trace.index("|"), len(trace) - 1):
        if str(predictions[position]) != trace[position + 1]:
            return configuration_at(trace, position + 1)
    return None


def test_repeated_ngram_by_hand() -> None:
    assert repeated_ngram(["0", "1", "1", "0", "1"], 2) == (0, 3)
    assert repeated_ngram(["0", "1", "1", "0"], 2) is None
    assert repeated_ngram(["1", "1", "1"], 3) is None
    assert repeated_ngram(["1", "1", "1", "1"], 3) == (0, 1)


def test_violations_of_busy_beaver_2() -> None:
    # $ A 0 | 1 B 0 | A 1 1 | B 0 1 1 | A 0 1 1 1 | 1 B 1 1 1 | 1 1 Z 1 1 | #: the tapes of C5 and
    # C6 are 1 1 1 1, which repeat 1 1 1 (C4's 0 1 1 1 does not).
    bb2 = load_machine(BB2)
    trace = trace_of(bb2, (), 100)
    found = assumption_violations(trace, bb2, 3)
    assert [(v.configuration, v.first, v.second) for v in found] == [(5, 0, 1), (6, 0, 1)]
    assert assumption_violations(trace, bb2, 5) == []
    assert [v.configuration for v in assumption_violations(trace, bb2, 1)] == [2, 3, 4, 5, 6]
    with pytest.raises(RaspError, match="n-gram length"):
        assumption_violations(trace, bb2, 0)


CASES = [
    (machine, tape, n)
    for n, (states, symbols, n_moves) in zip(
        (1, 2, 3, 4, 2, 3), ((2, 2, False), (3, 2, True), (3, 3, False), (4, 2, True), (2, 4, True), (5, 2, False))
    )
    for machine, tape in random_cases(6, states, symbols, seed=40 + n, n_moves=n_moves, max_tape=5)
]


@pytest.mark.parametrize(("machine", "tape", "n"), CASES)
def test_exact_wherever_the_assumption_holds(machine: Machine, tape: tuple[str, ...], n: int) -> None:
    trace = trace_of(machine, tape, 20)
    violated = {v.configuration for v in assumption_violations(trace, machine, n)}
    wrong = first_wrong_configuration(machine, tape, 20, n)
    assert wrong is None or wrong in violated, (machine.to_text(), tape, n, wrong, sorted(violated))


def test_cases_exercise_both_outcomes() -> None:
    """The random cases above include runs that keep the assumption and runs that break it."""
    kept = [case for case in CASES if not assumption_violations(trace_of(case[0], case[1], 20), *case[::2])]
    assert 5 <= len(kept) <= len(CASES) - 5


@pytest.mark.parametrize(("name", "spec", "tape", "steps"), HAND_WRITTEN, ids=[case[0] for case in HAND_WRITTEN])
def test_hand_written_machines_with_long_ngrams(name: str, spec: str, tape: str, steps: int) -> None:
    machine = load_machine(spec)
    cells = tuple(tape.split())
    violated = {v.configuration for v in assumption_violations(trace_of(machine, cells, min(steps, 40)), machine, 6)}
    wrong = first_wrong_configuration(machine, cells, min(steps, 40), 6)
    assert wrong is None or wrong in violated


def test_generation_reports_the_divergence_and_the_assumption() -> None:
    bb2 = load_machine(BB2)
    exact = run_machine(InterpreterEngine(ngram_program(5)), bb2, (), 100)
    assert exact.matches and exact.halted
    broken = run_machine(InterpreterEngine(ngram_program(3)), bb2, (), 100)
    # Writing C5 = 1 B 1 1 1 after "1 B 1 1" the window 1 1 1 occurs twice in C4's new reading
    # (followed by 1 and by the end): the lookup is ambiguous and the program writes `#`.
    assert broken.divergence == 27 and broken.tokens[27] == "#"
    assert configuration_at(broken.expected, 27) == 5


@pytest.mark.slow
def test_compiled_generation_equals_the_interpreter() -> None:
    """Differential: the compiled n-gram program generates what the interpreter generates,
    diverging runs included (one model length, so one XLA compilation)."""
    cases = [(load_machine(BB2), ()), *random_cases(2, 3, 2, seed=7, max_tape=3)]
    engine = CompiledEngine(ngram_program(1))
    compiled = run_machines(engine, cases, 4)
    assert [batch.max_seq_len for batch in engine.batches] == [64]
    for (machine, tape), run in zip(cases, compiled):
        interpreted = run_machine(InterpreterEngine(ngram_program(1)), machine, tape, 4)
        assert run.tokens == interpreted.tokens
        assert run.divergence == interpreted.divergence


def test_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["tm", "run", BB2, "--engine", "interpreter", "--program", "ngram", "--n", "3", "--json"]) == 1
    summary = json.loads(capsys.readouterr().out)
    assert summary["divergence"] == 27 and summary["assumption_violated_in"] == [5, 6]
    assert summary["assumption_violated_at_divergence"] is True
    assert cli.main(["tm", "run", BB2, "--engine", "interpreter", "--program", "ngram", "--n", "5"]) == 0
    assert "holds on every tape" in capsys.readouterr().out
    ngram = ["--program", "ngram"]
    for wrong in (ngram, ["--n", "3"], [*ngram, "--n", "0"], [*ngram, "--n", "2"]):
        engine = ["--engine", "reference"] if wrong[-1] == "2" else ["--engine", "interpreter"]
        assert cli.main(["tm", "run", BB2, *engine, *wrong]) == 2
    args = ["tm", "verify", "--random", "3", "--states", "2", "--symbols", "2", "--max-steps", "8"]
    assert cli.main([*args, "--program", "ngram", "--n", "1", "--json"]) == 1
    mismatches = json.loads(capsys.readouterr().out)["mismatches"]
    assert mismatches and all(m["assumption_violated_at_divergence"] for m in mismatches)
