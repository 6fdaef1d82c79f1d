"""`rasp tm verify --all` and its library (turing.exhaustive): every machine of a shape, checked
token by token; slices, shares of several processes (two real processes on this machine),
mismatches with the command that reproduces them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import turing.engines.universal
from rasp_toolkit.cli import main
from turing.engines.base import Engine, TraceDecoder
from turing.engines.reference import ReferenceEngine
from turing.enumeration import machine_at
from turing.exhaustive import verify_enumeration
from turing.machine import Machine
from turing.processes import Processes

ROOT = Path(__file__).resolve().parents[2]
ALL_1x2 = ["tm", "verify", "--all", "--states", "1", "--symbols", "2", "--max-steps", "6"]


@given(start=st.integers(0, 50), size=st.integers(0, 200), count=st.integers(1, 9))
def test_shares_partition_the_range(start: int, size: int, count: int) -> None:
    shares = [Processes(p, count, "localhost:1").share(start, start + size) for p in range(count)]
    assert [n for share in shares for n in share] == list(range(start, start + size))
    assert max(map(len, shares)) - min(map(len, shares)) <= 1


class _WrongOnSome(Engine):
    """The reference, except that it predicts `#` first for machines that write 1 in state A on a 0."""

    name = "wrong-on-some"

    def decoder(self, machine: Machine, capacity: int | None = None) -> TraceDecoder:
        right = ReferenceEngine().decoder(machine)
        entry = machine.transition("A", "0")
        if entry is None or entry.write != "1":
            return right

        class Wrong:
            def extend(self, tokens: Sequence[str]) -> str:
                right.extend(tokens)
                return "#"

        return Wrong()


def test_counts_and_mismatches_of_a_slice() -> None:
    result = verify_enumeration(_WrongOnSome(), 1, 2, 6, start=10, count=40, chunk=16)
    assert (result.start, result.stop, result.machines) == (10, 50, 40)
    wrong = [n for n in range(10, 50) if (e := machine_at(n, 1, 2).transition("A", "0")) and e.write == "1"]
    assert [m.index for m in result.mismatches] == wrong and wrong
    assert all(m.machine == machine_at(m.index, 1, 2).to_text() and m.report for m in result.mismatches)


@pytest.mark.slow  # a whole enumeration
def test_every_machine_of_one_state_through_the_universal_model(capsys) -> None:
    assert main([*ALL_1x2, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["machines"] == summary["machines_in_shape"] == 81 and summary["mismatches"] == []
    assert summary["share"] == [0, 81] and 0 < summary["halted"] < 81
    assert main([*ALL_1x2, "--start", "80", "--count", "5", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["machines"] == 1
    assert main([*ALL_1x2, "--start", "81"]) == 2


@pytest.mark.slow
def test_a_mismatch_exits_1_with_the_command_that_reproduces_it(monkeypatch, capsys) -> None:
    real = turing.engines.universal.teacher_forced

    def corrupted(model, inputs, *args):
        outputs = real(model, inputs, *args)
        return [[*predicted[:-2], "?", predicted[-1]] for predicted in outputs]  # wrong before the last token

    monkeypatch.setattr(turing.engines.universal, "teacher_forced", corrupted)
    assert main([*ALL_1x2, "--count", "3", "--program", "positional"]) == 1  # input_bound 70: 128 positions
    out = capsys.readouterr().out
    again = "rasp tm run --machine 0 --states 1 --symbols 2 --engine universal --max-len 128 --max-steps 6"
    assert f"mismatch: {again}" in out
    monkeypatch.undo()
    assert main(again.split()[1:]) == 0  # the model itself is right: generation does not diverge


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_two_processes_share_the_enumeration(model_cache: str, tmp_path: Path, capsys) -> None:
    """Two JAX processes (CPU, Gloo) split 600 machines of two states, each checks its share
    (in arrays, keeping its own checkpoint), and both report the counts of the whole range: those
    of one process checking it all."""
    argv = ["tm", "verify", "--all", "--states", "2", "--symbols", "2", "--max-steps", "6"]
    argv += ["--start", "1000", "--count", "600", "--json"]
    assert main(argv) == 0  # one process; the model, compiled once for all
    alone = json.loads(capsys.readouterr().out)
    coordinator = f"localhost:{_free_port()}"
    environment = dict(os.environ, JAX_PLATFORMS="cpu")
    command = [sys.executable, "-m", "rasp_toolkit.cli", *argv, "--num-processes", "2"]
    command += ["--checkpoint", str(tmp_path / "shares.json")]
    processes = [
        subprocess.Popen(
            [*command, "--process-id", str(p), "--coordinator", coordinator],
            cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for p in range(2)
    ]
    outputs = [process.communicate(timeout=240) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], [err[-2000:] for _, err in outputs]
    summaries = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    shares = [range(*summary["share"]) for summary in summaries]
    assert [n for share in shares for n in share] == list(range(1000, 1600)) and all(shares)
    counted = ("machines", "halted", "budget_exhausted", "tokens", "mismatches")
    for summary in summaries:
        assert summary["processes"] == 2 and summary["checked_in_arrays"]
        assert {key: summary[key] for key in counted} == {key: alone[key] for key in counted}
    assert sorted(path.name for path in tmp_path.iterdir()) == ["shares.0-of-2.json", "shares.1-of-2.json"]
