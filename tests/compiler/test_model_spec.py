"""The model's typed spec (issue 22): one frozen value from the compiler to the file and back,
the attention mode as one `Attention` from the command line to the weights, files of the first
format still loading, files of a later format refused with both versions named."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import compiler
from compiled_model import safetensors_file
from compiled_model.errors import ModelError
from compiled_model.spec import FORMAT, TIE_WINDOW, Attention, ModelSpec, ResidualDim
from compiled_model.spec_json import spec_from_json, spec_to_json
from rasp.interpreter import evaluate
from rasp.programs import library_program
from rasp_toolkit import cli

ROOT = Path(__file__).resolve().parents[2]
FIRST_FORMAT = ROOT / "tests" / "data" / "models"
"""Models written by the code before the spec (commit "tests: two model files of the first file
format"): the reverse (softmax, .npz) and the shift (hard, causal, a lookup head, .safetensors)."""


@pytest.fixture(scope="module")
def shift() -> compiler.Transformer:
    return compiler.compile(library_program("shift"), "abx", 12, causal=True, attention="hard")


def test_the_spec_is_frozen_and_typed(shift: compiler.Transformer) -> None:
    spec = shift.spec
    assert isinstance(spec, ModelSpec) and spec.attention == Attention("hard")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.max_seq_len = 99  # type: ignore[misc]
    # hand-checked layout: one, bos, the three token one-hots, the index (read by the lookup)
    assert [(dim.kind, dim.holds) for dim in spec.residual[:6]] == [
        ("one", None), ("bos", None), ("token", "tokens"), ("token", "tokens"), ("token", "tokens"),
        ("indices", "indices"),
    ]
    (head,) = spec.heads[0]
    assert head.kind == "lookup" and {spec.labels[dim]: c for dim, c in head.target} == {"one": -1.0, "indices": 1.0}


def test_indicator_dimensions_name_their_s_op() -> None:
    """A categorical aggregate's output dimensions are indicators of one family: what the fast
    passes group, without reading a label."""
    model = compiler.compile(library_program("reverse"), "abc", 6)
    indicators = [dim for dim in model.spec.residual if dim.kind == "indicator" and dim.sop == "reverse"]
    assert {repr(token) for token in "abc"} <= {dim.value for dim in indicators}  # and the default's
    assert all(dim.is_indicator and dim.holds == "reverse" for dim in indicators)


@pytest.mark.parametrize("suffix", ["npz", "safetensors"])
def test_the_spec_survives_a_file(suffix: str, shift: compiler.Transformer, tmp_path: Path) -> None:
    path = tmp_path / f"shift.{suffix}"
    shift.save(path)
    loaded = compiler.load(path)
    assert loaded.spec == shift.spec and spec_from_json(spec_to_json(shift.spec)) == shift.spec
    assert loaded(list("abxa")) == shift(list("abxa")) == ["_", "a", "b", "x"]


@pytest.mark.parametrize(
    ("name", "program", "causal", "vocab"),
    [("reverse-format1.npz", "reverse", False, "abcde"), ("shift-hard-format1.safetensors", "shift", True, "abx")],
)
def test_a_file_of_the_first_format_loads_and_runs(name: str, program: str, causal: bool, vocab: str) -> None:
    model = compiler.load(FIRST_FORMAT / name)
    sop = library_program(program)
    for length in range(1, model.max_seq_len + 1):
        tokens = [vocab[(3 * i + length) % len(vocab)] for i in range(length)]
        assert model(tokens) == evaluate(sop, tokens, causal=causal), tokens
    assert [dim.kind for dim in model.spec.residual[:2]] == ["one", "bos"]


def test_the_first_formats_lookup_targets_become_residual_indices() -> None:
    model = compiler.load(FIRST_FORMAT / "shift-hard-format1.safetensors")
    (head,) = model.spec.heads[0]
    assert model.spec.attention == Attention("hard", TIE_WINDOW)
    assert {model.labels[dim]: c for dim, c in head.target} == {"indices": 1.0, "one": -1.0}


def test_a_file_of_a_later_format_is_refused_naming_both_versions(
    shift: compiler.Transformer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "later.safetensors"
    shift.save(path)
    text, arrays = safetensors_file.read(path)
    data = json.loads(text)
    data["format"] = FORMAT + 1
    safetensors_file.write(path, arrays, json.dumps(data))
    with pytest.raises(ModelError, match=f"format {FORMAT + 1}; this rasp-toolkit reads formats 1 and {FORMAT}"):
        compiler.load(path)
    assert cli.main(["run-model", str(path), "--input", "ab"]) == 2
    assert f"format {FORMAT + 1}" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("residual", [{"label": "one", "kind": "sideways", "sop": None, "value": {"none": None}}], "sideways"),
        ("heads", [[{"kind": "teleport", "target": [], "outside": "bos"}]], "teleport"),
        ("attention", {"mode": "hard", "tie_window": -1}, "tie window"),
        ("max_seq_len", "twelve", "max_seq_len"),
    ],
)
def test_a_malformed_spec_is_refused_by_field(
    field: str, value: object, named: str, shift: compiler.Transformer
) -> None:
    data = json.loads(spec_to_json(shift.spec))
    data[field] = value
    with pytest.raises((ValueError, ModelError), match=named):
        spec_from_json(json.dumps(data))


def test_attention_is_one_value_from_the_call_to_the_weights(shift: compiler.Transformer) -> None:
    by_value = compiler.compile(library_program("shift"), "abx", 12, causal=True, attention=Attention("hard"))
    assert by_value.spec == shift.spec and by_value.window == TIE_WINDOW
    assert all(np.array_equal(a, b) for a, b in zip(by_value.arrays().values(), shift.arrays().values()))
    with pytest.raises(compiler.CompileError, match="tie window 0.25 only"):
        compiler.compile(library_program("shift"), "abx", 12, causal=True, attention=Attention("hard", 0.5))
    with pytest.raises(compiler.CompileError, match="attention must be one of soft, hard"):
        compiler.compile(library_program("shift"), "abx", 12, attention="medium")
    with pytest.raises(ModelError, match="attention must be one of"):
        Attention("medium")  # type: ignore[arg-type]


def test_the_command_line_gives_the_compiler_an_attention(tmp_path: Path) -> None:
    path = tmp_path / "shift.npz"
    source = ROOT / "programs" / "lib" / "shift.rasp"
    assert cli.main(["compile", str(source), "--vocab", "a,b", "--max-len", "6", "--causal", "--attention", "hard",
                     "-o", str(path)]) == 0
    assert compiler.load(path).spec.attention == Attention("hard")


def test_a_padding_dimension_is_typed() -> None:
    assert ResidualDim("pad", "padding").holds is None and not ResidualDim("pad", "padding").is_indicator


def test_a_saved_model_runs_without_the_compiler(shift: compiler.Transformer, tmp_path: Path) -> None:
    """The ladder's promise: the model package runs a file with no compile stage imported."""
    path = tmp_path / "shift.npz"
    shift.save(path)
    code = (
        "import sys, compiled_model; m = compiled_model.load(sys.argv[1]); print(m(list('abxa'))); "
        "loaded = sorted(n for n in sys.modules if n == 'compiler' or n.startswith('compiler.')); "
        "assert not loaded, loaded"
    )
    command = [sys.executable, "-c", code, str(path)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['_', 'a', 'b', 'x']"
