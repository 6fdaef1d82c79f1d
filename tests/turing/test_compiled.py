"""The compiled engine: the Turing Program compiled into a causal transformer generates, with
its KV-cached decoder, the reference simulator's trace token for token.

Machines are run in batches (`turing.harness.run_machines` through `CompiledEngine.decoders`: one
XLA compilation per model length),
and every generated trace is compared with `trace_of`, the reference simulator's, which shares no
code with the compiler or the RASP program.
"""

from __future__ import annotations

import dataclasses
import json
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
from host_devices import run_on_two_devices
from turing_cases import HAND_WRITTEN

from compiled_model.spec import Precision
from rasp_toolkit import cli
from turing import END, load_machine, random_cases, simulate, trace_of
from turing.engines import compiled as compiled_module
from turing.engines.base import EngineError
from turing.engines.compiled import CompiledEngine, choose_attention, compile_machine, hard_dtype, model_length
from turing.harness import run_machine, run_machines

BB2 = "1RB1LB_1LA1RZ"
BB2_TRACE = "$ A 0 | 1 B 0 | A 1 1 | B 0 1 1 | A 0 1 1 1 | 1 B 1 1 1 | 1 1 Z 1 1 | #".split()


@pytest.fixture(scope="module")
def engine() -> CompiledEngine:
    return CompiledEngine()


@pytest.mark.slow
def test_random_machines_match_the_reference(engine: CompiledEngine) -> None:
    """6 random machines, 2 to 4 states and 2 to 3 symbols, budgets of up to 30 steps (each
    compiles a model of its own: one machine of each binary shape, two of each ternary one)."""
    cases = [
        case
        for n_states, n_symbols in ((2, 2), (2, 3), (3, 2), (4, 3))
        for case in random_cases(
            n_symbols - 1, n_states, n_symbols, seed=10 * n_states + n_symbols, n_moves=n_symbols == 3
        )
    ]
    budgets = [1 + 5 * index % 30 for index in range(len(cases))]
    runs = run_machines(engine, cases, budgets)
    for run, (machine, tape), steps in zip(runs, cases, budgets):
        assert run.matches, f"{machine.to_text()} on {tape}:\n{run.report()}"
        assert run.tokens == trace_of(machine, tape, steps)
    assert 0 < sum(run.halted for run in runs) < len(runs)


#: One hand-written case per feature (each compiles a model of its own, 4 to 13 s); the
#: interpreter's tests (test_program.py) run them all.
COMPILED_HAND_WRITTEN = [
    case
    for case in HAND_WRITTEN
    if case[0]
    in (
        "increment 111 (left growth)",  # multi-character states, an N move, growth on the left
        "addition 2+3",  # multi-character symbols, halting in a halting state
        "busy beaver 4",  # a long run of 1s, 1,149 tokens
        "never halts, stays put",  # N moves only, the budget ends the run
        "no transition at all",  # halting by a missing transition
    )
]


@pytest.mark.slow
def test_hand_written_machines_match_the_reference(engine: CompiledEngine) -> None:
    """Growth on both sides, halting by the halt state and by a missing transition, N moves,
    multi-character names, a busy beaver's long run of 1s (busy beaver 4 needs 1,149 tokens)."""
    cases = [(load_machine(spec), tuple(tape.split())) for _, spec, tape, _ in COMPILED_HAND_WRITTEN]
    budgets = [steps for *_, steps in COMPILED_HAND_WRITTEN]
    runs = run_machines(engine, cases, budgets)
    for run, (name, *_), (machine, tape), steps in zip(runs, COMPILED_HAND_WRITTEN, cases, budgets):
        assert run.matches, f"{name}:\n{run.report()}"
        assert run.tokens == trace_of(machine, tape, steps), name
    assert len(runs) == 5
    bb4 = runs[[name for name, *_ in COMPILED_HAND_WRITTEN].index("busy beaver 4")]
    assert bb4.halted and len(bb4.tokens) > 1000 and simulate(bb4.machine, ()).steps == 107


@pytest.mark.slow  # compiled Turing models: XLA compilations of their own
def test_the_kv_cached_decoder_generates_the_design_example(engine: CompiledEngine) -> None:
    run = run_machine(engine, load_machine(BB2), (), max_steps=100)
    assert run.tokens == BB2_TRACE and run.matches and run.halted


@pytest.mark.slow
def test_a_long_trace_from_the_decoder() -> None:
    """Over 1,500 tokens of a 4-state machine that never halts, in float64."""
    machine = load_machine("1RC0RC_1RD0LB_1RB0LC_1LA0LD")
    run = run_machine(CompiledEngine(dtype="float64"), machine, (), max_steps=10_000, max_tokens=1600)
    assert len(run.tokens) == 1600 and run.matches, run.report()
    assert run.tokens == trace_of(machine, (), 10_000)[:1600]


@pytest.mark.slow  # compiled Turing models: XLA compilations of their own
def test_residual_width_does_not_grow_with_the_length() -> None:
    machine = load_machine("1RB1LC_1RC1RB_1RD0LE_1LA1LD_1RZ0LA")  # 5 states
    short, long = (compile_machine(machine, n).summary() for n in (256, 2048))
    assert long["residual_width"] == short["residual_width"]
    assert long["mlp_hidden_total"] <= 8 * short["mlp_hidden_total"]  # at most linear in the length
    assert long["layers"] == short["layers"] and long["heads"] == short["heads"]


@pytest.mark.slow
def test_the_hard_model_has_one_size_at_every_length() -> None:
    """Under hard attention nothing grows with max_seq_len: not the MLPs, not the position
    embedding (benchmarks/turing_compiled.py shows the same sizes up to 2^20; 2^17 keeps this
    test to seconds, and is past float64's limit on the old quadratic gate bound)."""
    machine = load_machine("1RB1LC_1RC1RB_1RD0LE_1LA1LD_1RZ0LA")
    keys = ("layers", "heads", "residual_width", "mlp_hidden_total", "params")
    summaries = [compile_machine(machine, n, attention="hard").summary() for n in (2**10, 2**17)]
    short, long = ({k: summary[k] for k in keys} for summary in summaries)
    assert short == long


@pytest.mark.slow
def test_the_fast_decoder_generates_bb5_from_hard_weights() -> None:
    """The compiled engine's hard path (the fast decoder, generating the run ahead) equals the
    reference on a trace longer than the softmax models' float32 range."""
    machine = load_machine("1RB1LC_1RC1RB_1RD0LE_1LA1LD_1RZ0LA")
    run = run_machine(CompiledEngine(attention="hard"), machine, (), max_steps=10_000, max_tokens=3000)
    assert run.matches and run.tokens == trace_of(machine, (), 10_000)[:3000], run.report()


def test_models_are_sized_for_the_run() -> None:
    assert [model_length(tokens) for tokens in (1, 64, 65, 600, 2048, 2049)] == [64, 64, 128, 1024, 2048, 4096]


def test_attention_is_softmax_within_its_exact_length_and_hard_beyond() -> None:
    limit32, limit64 = compiled_module.SAFE_LENGTH["float32"], compiled_module.SAFE_LENGTH["float64"]
    assert limit32 < limit64
    assert choose_attention(limit64).mode == "soft" and choose_attention(limit32, dtype="float32").mode == "soft"
    assert choose_attention(64, "hard").mode == "hard" and choose_attention(limit64, "soft").mode == "soft"
    with pytest.warns(UserWarning, match=f"longer than the {limit32} .* in float32 .*: it runs with hard attention"):
        assert choose_attention(2 * limit32, dtype="float32").mode == "hard"
    with pytest.warns(UserWarning, match=f"longer than the {limit64} .* in float64"):
        assert choose_attention(2 * limit64).mode == "hard"
    with pytest.raises(EngineError, match=f"a model of {2 * limit64} positions, longer than the {limit64}") as refused:
        choose_attention(2 * limit64, "soft")
    assert "--attention hard" in str(refused.value.hint)


def test_hard_models_run_in_the_dtype_their_precision_record_allows() -> None:
    exact32, needs64 = (
        SimpleNamespace(spec=SimpleNamespace(precision=Precision(ok)), max_seq_len=4096) for ok in (True, False)
    )
    assert hard_dtype([exact32]) == "float32" and hard_dtype([exact32, needs64]) == "float64"
    assert hard_dtype([needs64], "float64") == "float64" and hard_dtype([exact32], "float64") == "float64"
    with pytest.raises(EngineError, match="4096 positions is not exact in float32"):
        hard_dtype([exact32, needs64], "float32")


def test_float32_is_refused_before_a_hard_run_starts_where_the_record_says_float64(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = compile_machine(load_machine(BB2), 64, attention="hard")
    model.spec = dataclasses.replace(model.spec, precision=Precision(float32_ok=False))
    monkeypatch.setattr(compiled_module, "compile_machine", lambda *_, **__: model)
    with pytest.raises(EngineError, match="not exact in float32"):
        run_machine(CompiledEngine(dtype="float32", attention="hard"), load_machine(BB2), (), max_steps=3)


@pytest.mark.slow  # compiled Turing models: XLA compilations of their own
def test_a_long_run_takes_hard_attention_and_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """SAFE_LENGTH lowered to 32, so that bb2's model of 64 positions counts as a long run."""
    monkeypatch.setitem(compiled_module.SAFE_LENGTH, "float64", 32)
    assert cli.main(["tm", "run", BB2, "--engine", "compiled", "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith("warning: this run needs a model of 64 positions")
    assert "it runs with hard attention" in captured.err
    summary = json.loads(captured.out)
    assert summary["matches_reference"] and summary["trace_tokens"] == len(BB2_TRACE)
    assert cli.main(["tm", "run", BB2, "--engine", "compiled", "--attention", "soft"]) == 2
    assert "longer than the 32 that softmax attention" in capsys.readouterr().err


@pytest.mark.slow  # compiled Turing models: XLA compilations of their own
def test_tm_verify_with_hard_attention(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["tm", "verify", "--engine", "compiled", "--attention", "hard", "--random", "3"]
    assert cli.main([*argv, "--states", "2", "--symbols", "2", "--max-steps", "6", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["machines"] == 3 and report["mismatches"] == []
    assert [batch["summary"]["attention"] for batch in report["batches"]] == ["hard"] * len(report["batches"])
    assert all(
        batch["dtype"] == ("float32" if batch["summary"]["float32_ok"] else "float64") for batch in report["batches"]
    )


def test_attention_is_an_option_of_the_compiled_and_universal_engines_only(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["tm", "run", BB2, "--attention", "hard"]) == 2
    assert "--attention applies to the compiled and universal engines only" in capsys.readouterr().err
    assert cli.main(["tm", "compile", BB2, "--max-len", "64", "--attention", "hard", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["attention"] == "hard"


@pytest.mark.slow
def test_tm_run_and_verify_with_the_compiled_engine(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["tm", "run", BB2, "--engine", "compiled", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["engine"] == "compiled" and summary["matches_reference"] and summary["steps"] == 6
    argv = ["tm", "verify", "--engine", "compiled", "--states", "2", "--symbols", "2", "--max-steps", "12"]
    assert cli.main([*argv, "--random", "5", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["machines"] == 5 and report["mismatches"] == [] and report["engine"] == "compiled"
    assert sum(batch["machines"] for batch in report["batches"]) == 5
    assert all(batch["summary"]["layers"] == 8 for batch in report["batches"])
    assert cli.main([*argv, "--random", "1"]) == 0
    out = capsys.readouterr().out
    assert "compiled engine vs reference" in out and "one XLA compilation per model length" in out


def test_dtype_is_for_the_compiled_engine_only(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["tm", "run", BB2, "--dtype", "float32"]) == 2
    assert "--dtype applies to the compiled and universal engines only" in capsys.readouterr().err


def test_tm_compile_saves_a_model_that_run_model_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bb2.npz"
    assert cli.main(["tm", "compile", BB2, "--max-len", "64", "-o", str(path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert set(summary) == set(compile_machine(load_machine(BB2), 64).summary())
    assert summary["residual_width"] > 0 and summary["layers"] >= 3
    prompt = " ".join(BB2_TRACE[:8])  # $ A 0 | 1 B 0 |
    assert cli.main(["run-model", str(path), "--input", prompt, "--json"]) == 0
    (predictions,) = json.loads(capsys.readouterr().out)
    assert predictions[3:8] == BB2_TRACE[4:9]  # from the first `|` on, the next tokens of the trace
    assert cli.main(["tm", "compile", BB2, "--max-len", "64"]) == 0
    assert "this_cell" in capsys.readouterr().out  # the per-layer table


@pytest.mark.slow  # compiled Turing models: XLA compilations of their own
def test_a_halt_is_predicted_by_the_model_not_the_harness(engine: CompiledEngine) -> None:
    """The `#` comes from the model: a machine without transitions halts at once."""
    run = run_machine(engine, load_machine("------"), ("1",), max_steps=5)
    assert run.tokens == ["$", "A", "1", "|", END] and run.matches


SHARDED = textwrap.dedent(
    """
    import jax
    from compiled_model import batch as decoder
    from turing import random_cases
    from turing.engines import CompiledEngine
    from turing.harness import run_machines

    assert len(jax.devices()) == 2
    placements = []
    generate = decoder._generate_models

    def spy(*arguments):
        placements.append(len(arguments[1].sharding.device_set))
        return generate(*arguments)

    decoder._generate_models = spy
    runs = run_machines(CompiledEngine(), random_cases(2, 2, 2, seed=4), 8)  # 2 machines on 2 devices
    assert len(runs) == 2 and all(run.matches for run in runs), [run.report() for run in runs]
    assert placements and all(devices == 2 for devices in placements), placements
    print("sharded", placements)
    """
)


@pytest.mark.slow
def test_batches_are_split_across_devices() -> None:
    """Two host devices stand in for two accelerators (tests/turing/host_devices.py)."""
    assert "sharded [2" in run_on_two_devices(SHARDED)
