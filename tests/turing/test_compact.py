"""The compact trace (one token per step, `turing.compact`) and the programs that write it
(`programs/turing_compact.rasp`, `programs/universal_turing_compact.rasp`), through the
reference, interpreter, compiled and universal engines, each checked token by token against
the reference simulator on random machines."""

from __future__ import annotations

import io
import json
import re

import pytest

import compiler
from compiled_model.fast_decoder import FastDecoder, batch_fast_generate
from rasp_toolkit import cli
from rasp_toolkit.turing_display import GenerationProgress
from turing import Machine, load_machine, random_cases, simulate
from turing.compact import CompactTraceError, Step, compact_trace, every_step, replay, step_vocabulary
from turing.engines import (
    CompiledEngine,
    InterpreterEngine,
    ReferenceEngine,
    UniversalEngine,
    UniversalInterpreterEngine,
)
from turing.engines.compiled import compile_machine
from turing.enumeration import all_machines
from turing.errors import TuringError
from turing.formats import COMPACT, TAPE_COPY
from turing.harness import run_machine, run_machines
from turing.program import COMPACT as COMPACT_PROGRAM
from turing.shape import Shape, input_bound, table_tokens
from turing.simulator import TapeError

BB2 = load_machine("1RB1LB_1LA1RZ")
# BB(2) by hand: A reads 0 at cell 0, writes 1, moves right into B; B reads 0 at cell 1 ... it
# halts after six steps with four 1s, as the busy-beaver tables say.
BB2_COMPACT = "$ | 0/1RB 0/1LA 1/1LB 0/1LA 0/1RB 1/1RZ #".split()
SHAPES = [(2, 2, False), (3, 2, True), (2, 3, True), (4, 3, True)]


def cases(count: int, seed: int = 0) -> list[tuple[Machine, tuple[str, ...]]]:
    """Random machines of 2x2 to 4x3, N moves included, each with a random tape of 0 to 4 cells."""
    return [
        case
        for states, symbols, n_moves in SHAPES
        for case in random_cases(count, states, symbols, seed + states * 10 + symbols, n_moves)
    ]


def test_the_reference_writes_bb2_by_hand() -> None:
    assert compact_trace(BB2, (), 100) == BB2_COMPACT
    assert compact_trace(BB2, (), 3) == BB2_COMPACT[:5]  # cut by the step budget: no `#`
    assert compact_trace(BB2, (), 100, max_tokens=4) == BB2_COMPACT[:4]
    tape, halted = replay(BB2_COMPACT, BB2)
    assert halted and tape.steps == 6 and tape.state == "Z" and tape.written() == (("1", "1", "1", "1"), 2)


def test_replay_agrees_with_the_simulator_on_random_machines() -> None:
    for machine, tape in cases(25):
        run = simulate(machine, tape, 60, record=False)
        state, halted = replay(compact_trace(machine, tape, 60), machine)
        assert (halted, state.steps, state.state, state.nonblank()) == (run.halted, run.steps, run.state, run.nonblank)
        cells, head = state.written()
        assert cells[head] == run.tape[run.head]


def test_replay_names_the_first_wrong_token() -> None:
    wrong = [*BB2_COMPACT[:4], "0/1RB", *BB2_COMPACT[5:]]
    with pytest.raises(CompactTraceError, match="position 4: expected '1/1LB', got '0/1RB'"):
        replay(wrong, BB2)
    with pytest.raises(CompactTraceError, match="position 8"):
        replay([*BB2_COMPACT[:8], "0/1RB"], BB2)  # the machine halts there
    with pytest.raises(CompactTraceError, match="follow"):
        replay([*BB2_COMPACT, "#"], BB2)
    with pytest.raises(TapeError):
        compact_trace(BB2, ("2",))


def test_names_that_run_together_are_refused(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    """Write `1` then state `RA`, or write `1R` then state `A`: both spell `0/1RRA`.  A machine
    with both transitions has no compact trace: refused before any token is written (the
    reference once wrote the ambiguous trace and called it a match)."""
    with pytest.raises(TuringError, match="spells two transitions"):
        step_vocabulary(every_step(("A", "RA"), ("0", "1", "1R")))
    assert len(step_vocabulary(every_step(("A", "B", "Z"), ("0", "1")))) == 2 * 2 * 3 * 3
    clash = Machine.from_json(
        {"states": ["A", "RA"], "symbols": ["0", "1", "1R"], "blank": "0", "start": "A",
         "transitions": [["A", "0", "1", "R", "RA"], ["RA", "0", "1R", "R", "A"]]}
    )
    with pytest.raises(TuringError, match="'0/1RRA' spells two transitions"):
        compact_trace(clash)
    path = tmp_path / "clash.json"
    path.write_text(clash.to_json())
    for engine in ("reference", "interpreter"):
        assert cli.main(["tm", "run", str(path), "--program", "compact", "--engine", engine]) == 2
        assert "spells two transitions" in capsys.readouterr().err


@pytest.mark.parametrize(
    "engine", [ReferenceEngine(COMPACT), InterpreterEngine(COMPACT_PROGRAM)], ids=["reference", "interpreter"]
)
def test_engines_write_bb2(engine) -> None:
    run = run_machine(engine, BB2, (), 100)
    assert run.tokens == BB2_COMPACT and run.matches and run.steps == 6 and run.trace_format is COMPACT
    final = run.final()
    assert (final.state, final.cells, final.head, final.nonblank) == ("Z", ("1", "1", "1", "1"), 2, 4)


def test_the_compact_program_equals_the_reference_on_random_machines() -> None:
    runs = run_machines(InterpreterEngine(COMPACT_PROGRAM), cases(12), 40)
    assert len(runs) == 48 and all(run.matches for run in runs), [r.report() for r in runs if not r.matches]
    assert sum(run.halted for run in runs) >= 5 and sum(not run.halted for run in runs) >= 5


def test_the_universal_compact_program_equals_the_reference_on_random_machines() -> None:
    engine = UniversalInterpreterEngine(trace_format=COMPACT)
    assert engine.trace_format is COMPACT
    runs = run_machines(engine, cases(6, seed=1), 30)
    assert all(run.matches for run in runs), [r.report() for r in runs if not r.matches]


@pytest.mark.slow
@pytest.mark.parametrize("attention", ["soft", "hard"])
def test_compiled_compact_models_equal_the_reference(attention: str) -> None:
    """One machine a shape compiled soft (each its own dense model), three hard."""
    chosen = cases(1 if attention == "soft" else 3, seed=2)
    runs = run_machines(CompiledEngine(COMPACT_PROGRAM, attention=attention), chosen, 25)
    assert all(run.matches for run in runs), [r.report() for r in runs if not r.matches]


@pytest.mark.slow
def test_the_universal_compact_model_equals_the_reference() -> None:
    """One hard universal compact model of 64 positions for every 2x2 machine: teacher-forced
    checks of random machines and tapes (the universal engine's batches)."""
    engine = UniversalEngine(Shape(2, 2), max_len=64, attention="hard", trace_format=COMPACT)
    chosen = list(random_cases(12, 2, 2, seed=3, n_moves=True))
    runs = run_machines(engine, chosen, 20)
    assert all(run.matches for run in runs), [r.report() for r in runs if not r.matches]
    assert engine.batches and engine.batches[0].summary["attention"] == "hard"


def test_the_fast_decoder_equals_the_dense_pass_on_a_compact_model() -> None:
    """A hard model generates with the fast decoder; the dense pass, teacher-forced on what it
    generated, predicts the same tokens, and both are the reference's."""
    machine, tape = next(iter(random_cases(1, 3, 2, seed=5, n_moves=True)))
    model = compile_machine(machine, 64, COMPACT_PROGRAM, "hard")
    prompt = COMPACT.prompt(machine, tape)
    generated = batch_fast_generate([model], [prompt], [64 - len(prompt)], stop=["#"], dtype="float64")[0]
    assert generated == compact_trace(machine, tape, 64 - len(prompt))[: len(generated)]
    dense = model.predict([generated[:-1]], "float64")[0]
    assert dense[len(prompt) - 1 :] == generated[len(prompt) :]


def test_every_machine_fits_the_compact_input_bound() -> None:
    def needed(machine: Machine, steps: int) -> int:
        return len(table_tokens(machine)) + COMPACT.capacity(COMPACT.reference(machine, (), steps))

    assert max(needed(m, 12) for m in all_machines(2, 2, 0, 3000)) <= input_bound(Shape(2, 2), 12, COMPACT)
    right = Machine.from_text("0RA0RA")  # never halts: the whole budget, no `#`
    assert needed(right, 9) == input_bound(Shape(1, 2), 9, COMPACT) - 1
    assert input_bound(Shape(2, 2), 50, COMPACT) < input_bound(Shape(2, 2), 50, TAPE_COPY) / 10


def test_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    bb2 = "1RB1LB_1LA1RZ"
    for engine in ("reference", "interpreter", "universal-interpreter"):
        assert cli.main(["tm", "run", bb2, "--program", "compact", "--engine", engine, "--json"]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["trace_format"] == "compact" and summary["matches_reference"]
        assert (summary["steps"], summary["trace_tokens"], summary["tokens_per_step"]) == (6, 9, 1.5)
        assert (summary["tape"], summary["head"], summary["nonblank"]) == ("1 1 1 1", 2, 4)
    assert cli.main(["tm", "run", bb2, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["trace_format"] == "tape-copy"  # the default stays
    assert cli.main(["tm", "run", bb2, "--engine", "reference", "--program", "ngram", "--n", "3"]) == 2
    args = ["tm", "verify", "--random", "4", "--states", "2", "--symbols", "2", "--max-steps", "10", "--json"]
    assert cli.main([*args, "--program", "compact"]) == 0
    assert json.loads(capsys.readouterr().out)["machines"] == 4


def test_compile_and_universal_build_the_compact_programs(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    """`tm compile` and `tm universal` take --program compact; the models they build run the
    compact trace (the saved per-machine model predicts BB(2)'s steps)."""
    monkeypatch.setenv("RASP_TOOLKIT_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "bb2.npz"
    argv = ["tm", "compile", "1RB1LB_1LA1RZ", "--max-len", "32", "--program", "compact", "-o", str(out), "--json"]
    assert cli.main(argv) == 0
    capsys.readouterr()
    model = compiler.load(out)
    assert model.predict([BB2_COMPACT[:-1]])[0][1:] == BB2_COMPACT[2:]
    argv = ["tm", "universal", "--states", "2", "--symbols", "2", "--max-len", "64", "--program", "compact", "--json"]
    assert cli.main(argv) == 0
    assert json.loads(capsys.readouterr().out)["cache_file"].split("/")[-1].startswith("universal-compact-2x2-n64-")


def test_a_step_token_names_its_transition() -> None:
    assert Step("0", "1", "R", "B").token == "0/1RB"
    assert {step.token for step in every_step(("A",), ("0",))} == {"0/0LA", "0/0RA", "0/0NA"}


def test_length_free_compact_models_equal_the_reference_on_random_machines() -> None:
    """The compiled engine's hard compact models are length-free (sum and keyed heads only,
    docs/compiler.md): on random 2x2 to 4x3 machines with random tapes, every token is the
    reference's."""
    engine = CompiledEngine(COMPACT_PROGRAM, attention="hard")
    runs = run_machines(engine, cases(4, seed=7), 60)
    assert all(run.matches for run in runs), [r.report() for r in runs if not r.matches]
    assert sum(run.halted for run in runs) >= 2 and sum(not run.halted for run in runs) >= 2
    model = compile_machine(BB2, 64, COMPACT_PROGRAM, "hard")
    assert {head.kind for layer in model.spec.heads for head in layer} == {"sum", "keyed"}


def test_the_fast_decoder_equals_the_dense_pass_on_length_free_compact_models() -> None:
    """Models of 2^26 positions: the fast decoder's stream (a table per keyed head) generates
    the reference's trace, and the dense pass (int64 scores, every key), teacher-forced on it,
    predicts the same tokens."""
    for machine, tape in random_cases(3, 3, 2, seed=11, n_moves=True):
        model = compile_machine(machine, 2**26, COMPACT_PROGRAM, "hard")
        prompt = COMPACT.prompt(machine, tape)
        generated = FastDecoder(model).generate(prompt, 150, stop=["#"])
        assert generated == compact_trace(machine, tape, 150)[: len(generated)]
        dense = model.predict([generated[:-1]])[0]
        assert dense[len(prompt) - 1 :] == generated[len(prompt) :]


def test_the_compact_model_has_one_size_at_every_length() -> None:
    bb5 = load_machine("1RB1LC_1RC1RB_1RD0LE_1LA1LD_1RZ0LA")
    short, long = (compile_machine(bb5, 2**k, COMPACT_PROGRAM, "hard").summary() for k in (10, 26))
    assert short == long
    with pytest.raises(compiler.CompileError, match=r"turing_compact.rasp:\d+:\d+: .*cannot compile before: .*2\^53"):
        compile_machine(bb5, 2**27, COMPACT_PROGRAM, "hard")


def test_a_long_run_reports_its_progress() -> None:
    lines = io.StringIO()
    progress = GenerationProgress(every=0.0, stream=lines)
    progress(10, 200)  # the clock starts at the first report: the time before it is not generation
    lines.truncate(0)
    lines.seek(0)
    progress(50, 200)
    expected = r"generated 50 of at most 200 tokens \(25\.0%\), [\d,]+ tokens/s, at most .* left\n"
    assert re.fullmatch(expected, lines.getvalue())


def test_the_length_free_universal_compact_model_equals_the_reference() -> None:
    """Hard universal compact models are length-free: at 2^26 positions, one per shape (the
    smallest and the largest of `SHAPES`: sum and keyed heads only), they write the reference's
    trace for random machines and tapes (teacher-forced through the fast pass), and a model's
    size is the same at 64 positions."""
    engine = UniversalEngine(max_len=2**26, attention="hard", trace_format=COMPACT)
    every_shape = cases(2, seed=13)  # two machines of each shape, in the order of SHAPES
    chosen = every_shape[:2] + every_shape[-2:]
    runs = run_machines(engine, chosen, 40)
    assert len(runs) == 4 and all(run.matches for run in runs), [r.report() for r in runs if not r.matches]
    long = engine.model(Shape(2, 2), 2**26).model
    assert {head.kind for layer in long.spec.heads for head in layer} == {"sum", "keyed"}
    short = UniversalEngine(max_len=64, attention="hard", trace_format=COMPACT).model(Shape(2, 2), 64).model
    assert short.summary() == long.summary()


def test_the_universal_compact_model_streams_a_run_from_the_fast_decoder() -> None:
    """A single run through the universal engine generates with the fast decoder (the table in
    the prompt), token by token equal to the reference, and the dense pass teacher-forced on it
    predicts the same tokens."""
    machine = load_machine("1RB2LB1RZ_2LA2RB1LB")  # BB(2,3): 38 steps
    run = run_machine(UniversalEngine(attention="hard", trace_format=COMPACT), machine, (), 100)
    assert run.matches and run.halted and run.steps == 38
    model = UniversalEngine(attention="hard", trace_format=COMPACT).model(Shape(2, 3), 128).model
    table = table_tokens(machine)
    dense = model.predict([[*table, *run.tokens[:-1]]])[0]
    assert dense[len(table) + 1 :] == run.tokens[2:]
