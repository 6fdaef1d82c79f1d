"""Hostile and damaged input to the `tm` commands (issue 23): sizes known up front are refused
or bounded before anything is allocated.  Each case runs the command line and checks the exit
code, the message and that no traceback reached the user."""

from __future__ import annotations

import json

from rasp_toolkit.cli import main
from turing import simulator


def test_the_reference_trace_stops_at_max_tokens(monkeypatch, capsys) -> None:
    """A machine that never halts, a step budget of 10^12 and 100 tokens: the reference trace is
    simulated to about 100 tokens, not to the step budget (a simulator that counts its steps
    stops the test where it would have gone on)."""
    steps = [0]
    step = simulator.step

    def counted(machine, config):
        steps[0] += 1
        if steps[0] > 10_000:
            raise AssertionError("the simulator ran far past the token budget")
        return step(machine, config)

    monkeypatch.setattr(simulator, "step", counted)
    command = ["tm", "run", "0RA0RA", "--max-steps", str(10**12), "--max-tokens", "100", "--json"]
    assert main(command) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["trace_tokens"] == 100 and summary["matches_reference"] and not summary["halted"]
    assert steps[0] < 100
