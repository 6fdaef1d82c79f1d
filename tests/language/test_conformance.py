"""Ground truth: programs with the exact outputs the original RASP interpreter gave them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import rasp
from rasp.values import format_sequence

CASES = [
    json.loads(line)
    for line in (Path(__file__).parent.parent / "data" / "conformance_sample.jsonl").read_text().splitlines()
    if line.strip()
]


def _ids(case: dict) -> str:
    return case["name"]


@pytest.mark.parametrize("case", [c for c in CASES if not c["expect_error"]], ids=_ids)
def test_outputs_match_the_original(case: dict) -> None:
    session = rasp.Session()
    session.run(case["source"])
    for given, expected in zip(case["inputs"], case["expected"]):
        for target in case["targets"]:
            want = expected[target]
            got = session[target](given)
            if want["kind"] == "sop":
                assert got == want["values"]
                assert [type(v) for v in got] == [type(v) for v in want["values"]]
                assert format_sequence(got) == want["display"]
            else:
                assert got == [[bool(v) for v in row] for row in want["matrix"]]
    for name, want in case.get("expected_values", {}).items():
        assert session[name] == want["json"]


@pytest.mark.parametrize("case", [c for c in CASES if c["expect_error"]], ids=_ids)
def test_rejected_like_the_original(case: dict) -> None:
    session = rasp.Session()
    expected_class = rasp.RaspSyntaxError if case["error"]["phase"] == "parse" else rasp.RaspError
    with pytest.raises(expected_class) as caught:
        session.run(case["source"])
    statement_line = (
        case["source"]
        .splitlines()
        .index(
            next(
                line
                for line in case["source"].splitlines()[::-1]
                if line.strip() and not line.startswith(" ") and not line.startswith("}")
            )
        )
        + 1
    )
    assert caught.value.line == statement_line
