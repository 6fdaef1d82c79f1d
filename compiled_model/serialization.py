"""Model files: a compiled model's weights and spec on disk, without pickle.

A model is two things, its weights (`params`, a tree of dicts and lists of numpy arrays) and
its spec (`compiled_model.spec.ModelSpec`, stored as JSON text by `compiled_model.spec_json`).
Files store the weights flattened by path (`layers/0/attn/w_q`) and the spec's text: in `.npz`
under `__metadata__` (UTF-8 bytes), or in safetensors (`compiled_model.safetensors_file`).  This
module knows nothing of the model class: it takes and returns (params, spec) pairs, which
`compiled_model.transformer` wraps.  A saved file carries the SHA-256 of its weights beside its
spec; what is loaded is checked first: the digest, then finite weights of the shapes the spec
says (`compiled_model.consistency`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from compiled_model import safetensors_file
from compiled_model.consistency import consistency_problem
from compiled_model.errors import ModelError
from compiled_model.spec import ModelSpec
from compiled_model.spec_json import UnknownFormat, spec_from_data, spec_to_data

Params = dict[str, Any]
FORMATS = ("npz", "safetensors")
DIGEST_KEY = "weights_sha256"
"""The entry of a saved file's JSON text that holds the digest of its weights (`weights_digest`)."""


def flatten(tree: Any, prefix: str = "") -> dict[str, np.ndarray]:
    """The weights keyed by their path (`layers/0/attn/w_q`), as model files store them."""
    if isinstance(tree, dict):
        return {k: v for key, sub in tree.items() for k, v in flatten(sub, f"{prefix}{key}/").items()}
    if isinstance(tree, list):
        return {k: v for i, sub in enumerate(tree) for k, v in flatten(sub, f"{prefix}{i}/").items()}
    return {prefix.rstrip("/"): np.asarray(tree)}


def unflatten(flat: dict[str, np.ndarray]) -> Params:
    """The weight tree of flattened weights; a model without layers stores no layer arrays."""
    root: dict[str, Any] = {}
    for path, array in flat.items():
        node = root
        parts = path.split("/")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = array

    def listify(node: Any) -> Any:
        if isinstance(node, dict):
            if node and all(key.isdigit() for key in node):
                return [listify(node[str(i)]) for i in range(len(node))]
            return {key: listify(value) for key, value in node.items()}
        return node

    params = listify(root)
    params.setdefault("layers", [])
    return params


def with_digest(spec: ModelSpec, arrays: dict[str, np.ndarray]) -> str:
    """The JSON text a file stores: the spec's, with the digest of the flattened weights."""
    return json.dumps({**spec_to_data(spec), DIGEST_KEY: weights_digest(arrays)})


def from_text(text: str, arrays: dict[str, np.ndarray]) -> tuple[Params, ModelSpec, str | None]:
    """Weights, spec and the saved digest (None in files written before it) from a file's JSON
    text and flattened weights, as any format stores them."""
    data = json.loads(text)
    digest = data.pop(DIGEST_KEY, None) if isinstance(data, dict) else None
    return unflatten(arrays), spec_from_data(data), digest if isinstance(digest, str) else None


def weights_digest(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 of the flattened weights: names, dtypes, shapes and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}:{array.dtype.str}:{array.shape}:".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _read(path: str | Path) -> tuple[Params, ModelSpec, str | None]:
    if safetensors_file.is_safetensors(path):
        return from_text(*safetensors_file.read(path))
    if Path(path).is_file() and Path(path).stat().st_size and not zipfile.is_zipfile(path):
        raise ModelError(f"{path} is not a model file: neither .npz (a zip archive) nor safetensors")
    try:
        with zipfile.ZipFile(path) as archive:  # numpy reads an array's bytes but never checks their CRC
            damaged = archive.testzip()
            comment = archive.comment
        _check_seal(path, comment)
        if damaged is not None:
            raise ModelError(f"{path} is damaged: its member {damaged} fails its checksum")
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ModelError(f"cannot read the model file {path}: {error}") from None
    if "__metadata__" not in arrays:
        raise ModelError(f"{path} is not a compiled model (no metadata)")
    return from_text(arrays.pop("__metadata__").tobytes().decode("utf-8"), arrays)


def checked(path: str | Path, params: Params, spec: ModelSpec, saved: str | None) -> tuple[Params, ModelSpec]:
    """The pair, once its weights match the digest `saved` with them (files written before the
    digest have none) and are finite and fit its spec (`compiled_model.consistency`); a file
    that disagrees with itself is refused by name, never run."""
    if saved is not None and saved != weights_digest(flatten(params)):
        raise ModelError(
            f"{path} is damaged or altered: its weights do not match the digest saved with them "
            "(the file changed after it was written)"
        )
    problem = consistency_problem(params, spec)
    if problem is not None:
        raise ModelError(f"{path} is damaged or altered: {problem}")
    return params, spec


@contextlib.contextmanager
def written_atomically(path: str | Path) -> Iterator[Path]:
    """A temporary path beside `path` to write to: renamed onto `path` when the block ends, and
    removed if it fails, so that a failed or interrupted write (a full disk, Ctrl-C) leaves the
    file that was there before untouched, and no reader ever sees half a file."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    os.close(handle)
    try:
        yield Path(temporary)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def save(params: Params, spec: ModelSpec, path: str | Path, file_format: str | None = None) -> None:
    """Weights and spec in one file of `file_format` (None: safetensors for a path ending in
    .safetensors, else .npz), written atomically."""
    file_format = file_format or ("safetensors" if str(path).endswith(".safetensors") else "npz")
    if file_format not in FORMATS:
        raise ModelError(f"unknown model file format {file_format!r}; formats: {', '.join(FORMATS)}")
    arrays = flatten(params)
    text = with_digest(spec, arrays)
    with written_atomically(path) as temporary:
        if file_format == "safetensors":
            safetensors_file.write(temporary, arrays, text)
            return
        blob = np.frombuffer(text.encode("utf-8"), np.uint8)
        with open(temporary, "wb") as handle:
            np.savez(handle, __metadata__=blob, **arrays)
        _seal(temporary)


#: The archive comment of a sealed .npz: this prefix and the SHA-256 (hex) of every byte before
#: the comment, so that a change anywhere in the file, the zip records numpy and zipfile never
#: check included, is found (`_check_seal`).
SEAL = b"rasp-toolkit sha256 "
SEAL_LENGTH = len(SEAL) + 64


def _file_digest(path: Path, length: int) -> str:
    """SHA-256 of the first `length` bytes of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        left = length
        while left > 0:
            chunk = handle.read(min(left, 1 << 20))
            if not chunk:
                break
            digest.update(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def _seal(path: Path) -> None:
    """Give the archive a comment of SEAL_LENGTH bytes (zipfile rewrites its end record for
    it), then fill it with the digest of every byte before it, in place."""
    with zipfile.ZipFile(path, "a") as archive:
        archive.comment = SEAL + b"0" * 64
    size = path.stat().st_size
    digest = _file_digest(path, size - SEAL_LENGTH)
    with open(path, "r+b") as handle:
        handle.seek(size - SEAL_LENGTH)
        handle.write(SEAL + digest.encode())


def _check_seal(path: str | Path, comment: bytes) -> None:
    """Refuse a sealed archive whose bytes do not match its seal (files written before the seal
    have none: their arrays are still checked against their CRCs and the weights' digest)."""
    if not comment.startswith(SEAL):
        return
    size = Path(path).stat().st_size
    if len(comment) != SEAL_LENGTH or _file_digest(Path(path), size - SEAL_LENGTH).encode() != comment[len(SEAL) :]:
        raise ModelError(f"{path} is damaged or altered: its bytes do not match the digest sealed into it")


def load(path: str | Path) -> tuple[Params, ModelSpec]:
    """Weights and spec of a file `save` wrote (.npz or safetensors, told apart by content),
    refused by name when its spec cannot be read or its weights do not fit it."""
    try:
        params, spec, saved = _read(path)
    except (ValueError, UnicodeDecodeError, RecursionError) as error:  # what a damaged file breaks
        raise ModelError(f"{path} is damaged or altered: {error}") from None
    except UnknownFormat as error:
        raise ModelError(f"{path}: {error}") from None
    return checked(path, params, spec, saved)
