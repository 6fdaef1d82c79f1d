"""The example programs (`programs/examples/`): each runs, in a session and through `rasp run`,
and gives the values worked out by hand for its running example."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rasp.session import Session

Cli = Callable[[list[str]], int]  # the `rasp_cli` fixture (conftest.py)
EXAMPLES = Path(__file__).resolve().parents[2] / "programs" / "examples"

# name -> (its running example, {s-op: values on it})
EXPECTED: dict[str, tuple[Any, dict[str, list[Any]]]] = {
    "hello": (
        "hello",
        {"histogram": [1, 1, 2, 2, 1], "reverse": ["o", "l", "l", "e", "h"]},
    ),
    "numbers": (
        [5, 2, 7, 2],
        {
            "tokens": [5, 2, 7, 2],
            "mean": [5, 3.5, 14 / 3, 4],
            "smaller": [2, 0, 3, 0],
            "ascending": [2, 2, 5, 7],
        },
    ),
    "brackets": (
        "(()))(",
        {
            "dyck1": ["P", "P", "P", "T", "F", "F"],
            "pair_balance": [1, 1, 1 / 3, 0, -0.2, 0],
            "depth": [1, 2, 1, 0, -1, 0],
        },
    ),
}


def test_every_example_is_tested() -> None:
    assert sorted(path.stem for path in EXAMPLES.glob("*.rasp")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_says_how_to_run_it(name: str) -> None:
    text = (EXAMPLES / f"{name}.rasp").read_text(encoding="utf-8")
    assert text.startswith(f"# {name}.rasp: ")
    assert f"rasp run programs/examples/{name}.rasp" in text


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_in_a_session(name: str) -> None:
    session = Session()
    session.run_file(EXAMPLES / f"{name}.rasp")
    example, values = EXPECTED[name]
    assert session.sop_example == example
    for sop, expected in values.items():
        assert session[sop](example) == pytest.approx(expected), sop


@pytest.mark.parametrize(
    ("name", "causal"), [(name, False) for name in sorted(EXPECTED)] + [("brackets", True)]
)  # brackets.rasp also promises the same values in causal evaluation
def test_example_through_the_cli(name: str, causal: bool, rasp_cli: Cli, capsys: pytest.CaptureFixture[str]) -> None:
    example, values = EXPECTED[name]
    argv = ["run", str(EXAMPLES / f"{name}.rasp"), *values, "--json"] + (["--causal"] if causal else [])
    assert rasp_cli(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["input"] == example
    assert list(printed["outputs"]) == list(values)
    for sop, expected in values.items():
        assert printed["outputs"][sop] == pytest.approx(expected), sop


def test_hello_on_another_input(rasp_cli: Cli, capsys: pytest.CaptureFixture[str]) -> None:
    assert rasp_cli(["run", str(EXAMPLES / "hello.rasp"), "--input", "abracadabra"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "histogram = [5, 2, 2, 5, 1, 5, 1, 5, 2, 2, 5] (ints)" in lines
    assert "reverse = [a, r, b, a, d, a, c, a, r, b, a] (strings)" in lines
