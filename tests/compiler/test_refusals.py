"""Inputs the interpreter refuses are refused by the compiled model too, by a mixture check
that names the reason (docs/compiler.md, Inputs the interpreter refuses).  Each case here was
answered with plain values before issue 23: a user of the model file took them for outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import compiler
from compiled_model import spec_json
from compiled_model.spec import REFUSALS, MixtureCheck
from compiler.check import Verification
from rasp import ir
from rasp_toolkit import cli

ATTENTIONS = ["soft", "hard"]


def one_or_z() -> ir.SOp:
    """1 at an `a`, "z" elsewhere: one kind on `aaa` and on `bbb`, both kinds on `ab`."""
    return ir.Map(fn=lambda token: 1 if token == "a" else "z", inner=ir.tokens, description="1 or z")


def refused(result: Verification, reason: str) -> dict[str, set[int]]:
    """The positions refused for `reason` per input (as text)."""
    found: dict[str, set[int]] = {}
    for mixture in result.mixtures:
        if mixture["reason"].endswith(REFUSALS[reason].split("}")[-1]):
            found.setdefault("".join(mixture["input"]), set()).add(mixture["position"])
    return found


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_equal_non_numbers_averaged_are_refused(attention: str) -> None:
    """`aa` averaged is no `a` to the interpreter; the one-hot mean is a clean `a`, so only
    the several-keys head tells.  One key (`a`, and `ab`'s first position) is a value."""
    program = ir.aggregate(ir.select(ir.indices, ir.indices, "<="), ir.tokens, default="z")
    model = compiler.compile(program, "ab", 4, attention=attention)
    result = compiler.verify(model, program, ["a", "b", "aa", "bb", "abb"])
    assert refused(result, "several") == {"aa": {1}, "bb": {1}, "abb": {1, 2}}
    assert result.total == 2 and result.agreeing == 2 and not result.unrefused and result.ok


def test_a_selector_that_selects_one_key_costs_no_check() -> None:
    """A lookup by position selects at most one key: no several-keys head is added."""
    shift = ir.aggregate(ir.select(ir.indices, ir.indices - 1, "=="), ir.tokens, default="z")
    averaged = ir.aggregate(ir.select(ir.indices, ir.indices, "<="), ir.tokens, default="z")
    assert [m.reason for m in compiler.compile(shift, "ab", 4).spec.mixtures] == ["mixture"]
    assert sorted(m.reason for m in compiler.compile(averaged, "ab", 4).spec.mixtures) == ["mixture", "several"]


def test_aggregates_of_one_selector_share_its_check() -> None:
    selector = ir.select(ir.indices, ir.indices, "<=")
    first = ir.aggregate(selector, ir.tokens, default="z")
    second = ir.aggregate(selector, ir.Map(fn=lambda t: t + t, inner=ir.tokens), default="z")
    program = ir.SequenceMap(fn=lambda x, y: x + y, inputs=(first, second))
    model = compiler.compile(program, "ab", 3)
    assert sorted(m.reason for m in model.spec.mixtures) == ["mixture", "mixture", "several"]
    assert refused(compiler.verify(model, program, ["aa"]), "several") == {"aa": {1}}


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_a_map_that_fails_is_refused_where_it_fails(attention: str) -> None:
    program = ir.Map(fn=lambda token: {"a": 1, "b": 2}[token], inner=ir.tokens)
    model = compiler.compile(program, "abc", 4, attention=attention)
    result = compiler.verify(model, program, ["ab", "cab", "bac"])
    assert refused(result, "undefined") == {"cab": {0}, "bac": {2}}
    assert result.total == 1 and result.ok


def test_a_sequence_map_that_fails_is_refused_where_it_fails() -> None:
    """12 // (i - t) fails where a position equals its token's number."""
    number = ir.Map(fn=lambda token: {"a": 0, "b": 1, "c": 2}[token], inner=ir.tokens)
    program = ir.SequenceMap(fn=lambda i, t: 12 // (i - t), inputs=(ir.indices, number))
    model = compiler.compile(program, "abc", 4)
    result = compiler.verify(model, program, ["ba", "bab", "aab", "cbc"])
    assert refused(result, "undefined") == {"aab": {0}, "cbc": {1, 2}}
    assert result.total == 2 and result.ok


def test_a_map_whose_failing_values_never_occur_costs_no_check() -> None:
    """The map fails on "c", which the inner map never yields: no flag is added."""
    inner = ir.Map(fn=lambda token: "a" if token == "c" else token, inner=ir.tokens)
    program = ir.Map(fn=lambda token: {"a": 1, "b": 2}[token], inner=inner)
    assert compiler.compile(program, "abc", 4).spec.mixtures == ()


@pytest.mark.parametrize("attention", ATTENTIONS)
@pytest.mark.parametrize("causal", [False, True])
def test_an_sop_holding_strings_and_numbers_is_refused(attention: str, causal: bool) -> None:
    program = ir.Map(fn=lambda value: value == 1, inner=one_or_z())
    model = compiler.compile(program, "ab", 5, causal=causal, attention=attention)
    result = compiler.verify(model, program, ["aa", "bbb", "ab", "bba", "abab"])
    assert result.ok and result.total == 2 and len(result.interpreter_errors) == 3
    # causally, from the first position whose prefix holds both kinds (the interpreter's
    # prefix there fails first); else everywhere
    expected = {"ab": {1}, "bba": {2}, "abab": {1, 2, 3}} if causal else {
        "ab": {0, 1}, "bba": {0, 1, 2}, "abab": {0, 1, 2, 3}
    }
    assert refused(result, "kinds") == expected


@pytest.mark.parametrize("causal", [False, True])
def test_a_select_ordering_strings_against_numbers_is_refused(causal: bool) -> None:
    """Keys of `1 or z` against the positions: numbers on `aaa`, strings on `bbb`."""
    program = ir.aggregate(ir.select(one_or_z(), ir.indices, "<"), ir.indices, default=0)
    model = compiler.compile(program, "ab", 4, causal=causal)
    result = compiler.verify(model, program, ["aaa", "a", "bbb", "b", "aab"])
    assert result.ok and result.total == 2
    assert set(refused(result, "kinds")) == {"bbb", "b", "aab"}


def test_an_output_holding_strings_and_numbers_is_refused_as_decoded() -> None:
    """The output s-op gets no head: its decoded values show their kinds."""
    program = one_or_z()
    for causal in (False, True):
        model = compiler.compile(program, "ab", 4, causal=causal)
        assert all(m.reason != "kinds" for m in model.spec.mixtures)
        result = compiler.verify(model, program, ["aa", "bb", "abb"])
        assert result.ok and refused(result, "kinds") == {"abb": {1, 2} if causal else {0, 1, 2}}


def test_an_input_the_model_cannot_refuse_fails_the_check() -> None:
    """An unrefused input is a disagreement: `ok` is false and the self-check names it."""
    result = Verification(total=1, agreeing=1)
    assert result.ok
    result.unrefused.append({"input": ["a"], "error": "a mean overflows", "got": [1]})
    assert not result.ok and "a mean overflows" in (result.disagreement or "")


def test_reasons_survive_a_model_file_and_older_files_read_as_mixtures(tmp_path: Path) -> None:
    program = ir.aggregate(ir.select(ir.indices, ir.indices, "<="), ir.tokens, default="z")
    model = compiler.compile(program, "ab", 4)
    path = tmp_path / "m.npz"
    model.save(path)
    assert compiler.load(path).spec.mixtures == model.spec.mixtures
    data = json.loads(json.dumps(spec_json.spec_to_data(model.spec)))  # as a model file holds it
    for mixture in data["mixtures"]:
        del mixture["reason"]
    assert {m.reason for m in spec_json.spec_from_data(data).mixtures} == {"mixture"}
    data["mixtures"][0]["reason"] = "because"
    with pytest.raises(ValueError, match="because"):
        spec_json.spec_from_data(data)
    with pytest.raises(ValueError, match="unknown mixture check reason"):
        MixtureCheck("x", (0,), "because")


def test_run_model_refuses_equal_strings_averaged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The issue's own case: compiled with a check, then `run-model --input aa` printed `a a`."""
    source = tmp_path / "mix.rasp"
    source.write_text('set example "a"\ny = aggregate(select(indices, indices, <=), tokens, "z");\n')
    model = tmp_path / "mix.npz"
    argv = ["compile", str(source), "y", "--vocab", "a,b", "--max-len", "4", "--check", "30", "-o", str(model)]
    assert cli.main(argv) == 0
    capsys.readouterr()
    assert cli.main(["run-model", str(model), "--input", "a", "--input", "b"]) == 0
    assert capsys.readouterr().out.split("\n")[:2] == ["a: a", "b: b"]
    for text in ("aa", "ab", "bab"):
        assert cli.main(["run-model", str(model), "--input", text]) == 2
        error = capsys.readouterr().err
        assert f"input {text!r}: at position 1" in error and "Traceback" not in error
