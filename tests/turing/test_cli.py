"""`rasp tm run` and `rasp tm verify` through `rasp_toolkit.cli.main`: exit codes and JSON output."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from rasp_toolkit import cli
from turing import Machine, load_machine, random_cases, simulate, trace_of
from turing.engines import ENGINES, Engine, ReferenceEngine, TraceDecoder

BB2 = "1RB1LB_1LA1RZ"

NAMED = {
    "states": ["walk", "turn", "stop"],
    "symbols": ["blank", "one", "two"],
    "blank": "blank",
    "start": "walk",
    "halting": ["stop"],
    "transitions": [
        ["walk", "one", "two", "R", "walk"],
        ["walk", "blank", "one", "L", "turn"],
        ["turn", "two", "one", "L", "turn"],
        ["turn", "blank", "two", "N", "stop"],
    ],
}


class _OffByOne(Engine):
    """An engine whose prediction of token 10 is `?`, a token of no machine."""

    name = "off-by-one"

    def decoder(self, machine: Machine, capacity: int | None = None) -> TraceDecoder:
        inner = ReferenceEngine().decoder(machine)
        fed = [0]

        class Decoding:
            def extend(self, tokens: Sequence[str]) -> str:
                fed[0] += len(tokens)
                token = inner.extend(tokens)
                return "?" if fed[0] == 10 else token

        return Decoding()


@pytest.fixture
def wrong_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ENGINES, "off-by-one", _OffByOne)


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:
    code = cli.main(list(argv))
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("engine", ["reference", "interpreter"])
def test_run_json_agrees_with_the_simulator(capsys, engine: str) -> None:
    code, result = run_json(capsys, "tm", "run", BB2, "--engine", engine, "--json")
    outcome = simulate(load_machine(BB2), (), record=False)
    assert code == 0
    assert result["engine"] == engine and result["matches_reference"] is True
    assert result["halted"] is outcome.halted is True
    assert result["steps"] == outcome.steps == 6
    assert result["state"] == outcome.state
    assert result["tape"] == " ".join(outcome.tape)
    assert result["head"] == outcome.head
    assert result["nonblank"] == outcome.nonblank
    assert result["trace_tokens"] == len(trace_of(load_machine(BB2)))


def test_run_json_file_with_named_symbols_input_and_budget(capsys, tmp_path) -> None:
    spec = tmp_path / "walker.json"
    spec.write_text(json.dumps(NAMED))
    code, result = run_json(
        capsys, "tm", "run", str(spec), "--input", "one one", "--engine", "interpreter", "--json", "--trace"
    )
    machine = load_machine(str(spec))
    outcome = simulate(machine, ("one", "one"), record=False)
    assert code == 0 and result["matches_reference"]
    assert (result["halted"], result["state"], result["tape"], result["head"]) == (
        outcome.halted, outcome.state, " ".join(outcome.tape), outcome.head
    )
    assert result["trace"] == " ".join(trace_of(machine, ("one", "one")))

    code, cut = run_json(capsys, "tm", "run", str(spec), "-i", "one one", "--max-steps", "2", "--json")
    assert code == 0 and cut["halted"] is False and cut["steps"] == 2


def test_single_character_tape(capsys) -> None:
    code, result = run_json(capsys, "tm", "run", "1RB0LA_1LA1RZ", "--input", "0110", "--json")
    outcome = simulate(load_machine("1RB0LA_1LA1RZ"), tuple("0110"), record=False)
    assert code == 0 and result["input"] == ["0", "1", "1", "0"] and result["steps"] == outcome.steps


def test_run_shows_the_trace(capsys) -> None:
    assert cli.main(["tm", "run", BB2, "--trace"]) == 0
    out = capsys.readouterr().out
    assert "6  Z      1 1 [1] 1" in out
    assert "halted after 6 steps" in out and "matches the reference" in out


def test_run_mismatch_exits_1_and_reports(capsys, wrong_engine) -> None:
    assert cli.main(["tm", "run", BB2, "--engine", "off-by-one"]) == 1
    assert "first divergence at position 10" in capsys.readouterr().out
    code, result = run_json(capsys, "tm", "run", BB2, "--engine", "off-by-one", "--json")
    assert code == 1 and result["matches_reference"] is False and result["divergence"] == 10


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["tm", "run", "1RB1LB_1LA1R"], "MachineSpecError"),
        (["tm", "run", BB2, "--input", "0102"], "TapeError"),
        (["tm", "run", BB2, "--engine", "gpu"], "unknown engine 'gpu'"),
        (["tm", "run", BB2, "--max-steps", "-1"], "--max-steps must be >= 0"),
        (["tm", "run", "missing-machine.json"], "cannot read machine file"),
        (["tm", "verify", "--random", "2", "--states", "30", "--symbols", "2", "--max-steps", "5"], "n_states"),
    ],
)
def test_user_errors_exit_2(capsys, argv: list[str], message: str) -> None:
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err


def test_missing_required_option_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(["tm", "verify", "--states", "2", "--symbols", "2", "--max-steps", "5"])
    assert caught.value.code == 2


def test_verify_json(capsys) -> None:
    argv = ["tm", "verify", "--random", "6", "--states", "3", "--symbols", "3", "--max-steps", "15", "--n-moves"]
    code, result = run_json(capsys, *argv, "--seed", "4", "--json")
    assert code == 0
    assert result["engine"] == "interpreter" and result["machines"] == 6 and result["mismatches"] == []
    assert result["halted"] + result["budget_exhausted"] == 6
    cases = list(random_cases(6, 3, 3, seed=4, n_moves=True))
    assert result["tokens"] == sum(len(trace_of(machine, tape, 15)) for machine, tape in cases)


def test_verify_table_and_mismatches(capsys, wrong_engine) -> None:
    argv = ["tm", "verify", "--random", "3", "--states", "2", "--symbols", "2", "--max-steps", "10"]
    assert cli.main([*argv, "--engine", "reference"]) == 0
    assert "mismatches" in capsys.readouterr().out
    assert cli.main([*argv, "--engine", "off-by-one"]) == 1
    out = capsys.readouterr().out
    assert out.count("mismatch: rasp tm run") == 3 and "first divergence at position 10" in out
    code, result = run_json(capsys, *argv, "--engine", "off-by-one", "--json")
    assert code == 1 and [m["divergence"] for m in result["mismatches"]] == [10, 10, 10]
