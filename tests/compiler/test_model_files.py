"""Model files are untrusted (issue 23): a file whose metadata disagrees with its weights, or
that is damaged, is refused by name when loaded, never run to wrong outputs; and `run-model`
refuses an input where the model mixes values the interpreter would refuse to average."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import compiler
from compiled_model import safetensors_file
from compiled_model.serialization import DIGEST_KEY, SEAL_LENGTH
from rasp.errors import RaspError
from rasp.programs import library_program
from rasp_toolkit import cli

Change = Callable[[dict[str, Any], dict[str, np.ndarray]], None]


@pytest.fixture(scope="module")
def reverse() -> compiler.Transformer:
    return compiler.compile(library_program("reverse"), "abcde", 8)


def _extend_vocab(metadata: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    metadata["vocab"] += [{"str": "x"}, {"str": "y"}]


def _longer(metadata: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    metadata["max_seq_len"] = 1000


def _nan(metadata: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    for key in arrays:
        arrays[key] = np.full_like(arrays[key], np.nan)


def _narrow_head(metadata: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    arrays["layers/0/attn/w_q"] = arrays["layers/0/attn/w_q"][:, :3]


def _fewer_outputs(metadata: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    arrays["unembed"] = arrays["unembed"][:, :2]


def _untagged_token(metadata: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    metadata["vocab"].append("x")


def _no_residual(metadata: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    del metadata["residual"]


TAMPERINGS = {
    "two more tokens": (_extend_vocab, "token_embed is 6 x"),
    "a longer max_seq_len": (_longer, "pos_embed is 9 x"),
    "NaN weights": (_nan, "not finite"),
    "a head cut short": (_narrow_head, "layers/0/attn/w_q"),
    "fewer output columns": (_fewer_outputs, "unembed"),
    "an untagged token": (_untagged_token, "not a tagged value"),
    "no residual dimensions": (_no_residual, "lacks the field 'residual'"),
}


def _tampered(
    model: compiler.Transformer, folder: Path, file_format: str, change: Change, keep_digest: bool = False
) -> Path:
    """The model saved, then its metadata and arrays changed by `change`; the digest of the
    weights is dropped unless `keep_digest` (a tamperer who knows the format drops it, and the
    shape and finiteness checks must still hold the line)."""
    path = folder / f"model.{file_format}"
    model.save(path)
    if file_format == "npz":
        with np.load(path) as data:
            arrays = {key: data[key] for key in data.files}
        metadata = json.loads(arrays.pop("__metadata__").tobytes().decode("utf-8"))
        if not keep_digest:
            del metadata[DIGEST_KEY]
        change(metadata, arrays)
        np.savez(path, __metadata__=np.frombuffer(json.dumps(metadata).encode("utf-8"), np.uint8), **arrays)
    else:
        text, arrays = safetensors_file.read(path)
        metadata = json.loads(text)
        if not keep_digest:
            del metadata[DIGEST_KEY]
        change(metadata, arrays)
        safetensors_file.write(path, arrays, json.dumps(metadata))
    return path


@pytest.mark.parametrize("file_format", ["npz", "safetensors"])
@pytest.mark.parametrize("case", sorted(TAMPERINGS))
def test_a_file_that_disagrees_with_itself_is_refused(
    case: str, file_format: str, reverse: compiler.Transformer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    change, named = TAMPERINGS[case]
    path = _tampered(reverse, tmp_path, file_format, change)
    with pytest.raises(RaspError, match="damaged or altered") as caught:
        compiler.load(path)
    assert named in str(caught.value) and str(path) in str(caught.value)
    assert cli.main(["run-model", str(path), "--input", "abcde"]) == 2
    err = capsys.readouterr().err
    assert "damaged or altered" in err and "Traceback" not in err


def test_an_untouched_file_still_loads(reverse: compiler.Transformer, tmp_path: Path) -> None:
    for file_format in ("npz", "safetensors"):
        path = _tampered(reverse, tmp_path, file_format, lambda metadata, arrays: None)
        assert compiler.load(path)("abcde") == list("edcba")


@pytest.mark.parametrize("file_format", ["npz", "safetensors"])
def test_a_weight_changed_after_saving_breaks_the_digest(
    file_format: str, reverse: compiler.Transformer, tmp_path: Path
) -> None:
    """A flipped bit in a weight keeps every shape and can stay finite: only the digest saved
    with the weights tells (a safetensors file with one byte changed late once loaded)."""

    def nudge(metadata: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        arrays["unembed"] = arrays["unembed"] + 1e-3

    path = _tampered(reverse, tmp_path, file_format, nudge, keep_digest=True)
    with pytest.raises(RaspError, match="do not match the digest saved with them"):
        compiler.load(path)


@pytest.mark.parametrize("file_format", ["npz", "safetensors"])
@pytest.mark.parametrize("damage", ["truncated", "empty", "a byte flipped", "not a model"])
def test_a_damaged_file_is_one_clear_message(
    damage: str, file_format: str, reverse: compiler.Transformer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / f"model.{file_format}"
    reverse.save(path)
    data = path.read_bytes()
    middle = len(data) // 2
    path.write_bytes(
        {
            "truncated": data[:middle],
            "empty": b"",
            "a byte flipped": data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :],
            "not a model": b"hello world\n" * 10,
        }[damage]
    )
    assert cli.main(["run-model", str(path), "--input", "abc"]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "Traceback" not in err and "allow_pickle" not in err


def test_metadata_that_is_not_json_is_refused(reverse: compiler.Transformer, tmp_path: Path) -> None:
    path = tmp_path / "model.npz"
    reverse.save(path)
    with np.load(path) as data:
        arrays = {key: data[key] for key in data.files}
    arrays["__metadata__"] = np.frombuffer(b"{not json", np.uint8)
    np.savez(path, **arrays)
    with pytest.raises(RaspError, match="damaged or altered"):
        compiler.load(path)


def test_run_model_refuses_an_input_the_interpreter_refuses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Averaging several tokens is an error in the interpreter; the model's one-hot output
    there is a mixture, and printing its argmax (exit 0) was silently wrong."""
    program = tmp_path / "mix.rasp"
    program.write_text('set example "a"\ny = aggregate(select(indices, indices, <=), tokens, "z");\n')
    model = tmp_path / "mix.npz"
    assert cli.main(["compile", str(program), "y", "--vocab", "a,b", "--max-len", "4", "-o", str(model)]) == 0
    assert cli.main(["run", str(program), "y", "--input", "ab"]) == 2
    capsys.readouterr()
    assert cli.main(["run-model", str(model), "--input", "ab"]) == 2
    err = capsys.readouterr().err
    assert "input 'ab': at position 1" in err and "averages several" in err
    assert cli.main(["run-model", str(model), "--input", "a"]) == 0
    assert capsys.readouterr().out.splitlines() == ["a: a"]


@pytest.mark.parametrize("file_format", ["npz", "safetensors"])
def test_a_failed_write_leaves_the_old_file(
    file_format: str, reverse: compiler.Transformer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`-o EXISTING` once truncated the old model when the write failed (a full disk): now the
    file is written beside it and renamed, so the old one stays whole and nothing is left."""
    path = tmp_path / f"model.{file_format}"
    reverse.save(path)
    before = path.read_bytes()

    def full_disk(target: Any, *args: Any, **kwargs: Any) -> None:
        """Writes half a model to where the file goes (a handle or a path), then fails."""
        if hasattr(target, "write"):
            target.write(b"half a model")
        else:
            Path(target).write_bytes(b"half a model")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(*((np, "savez") if file_format == "npz" else (safetensors_file, "write")), full_disk)
    with pytest.raises(OSError, match="No space left"):
        reverse.save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_every_byte_of_an_npz_is_sealed(reverse: compiler.Transformer, tmp_path: Path) -> None:
    """A byte changed where neither numpy nor zipfile looks (a local header's time, its zip64
    field, the end record) is refused too: the archive's comment holds the digest of every
    byte before it."""
    path = tmp_path / "model.npz"
    reverse.save(path)
    data = path.read_bytes()
    assert b"rasp-toolkit sha256 " in data[-SEAL_LENGTH:]
    for position in (10, 50, len(data) - SEAL_LENGTH - 10, len(data) - 5):
        path.write_bytes(data[:position] + bytes([data[position] ^ 0xFF]) + data[position + 1 :])
        with pytest.raises(RaspError, match="damaged|cannot read"):
            compiler.load(path)
    path.write_bytes(data)
    assert compiler.load(path)(list("abc")) == reverse(list("abc"))
