"""Compiled models as safetensors files, beside `.npz`: the same flattened weights
(`layers/0/attn/w_q`, float64) and the same JSON metadata, kept in the file's string metadata
under `rasp-toolkit`.  Any safetensors reader gets the arrays; `compiler.load` the model.

    model.save("sort.safetensors")           # or save_safetensors(model, path)
    compiler.load("sort.safetensors")

Needs the `safetensors` package (the `interop` extra), imported only here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from compiler.model import Transformer, from_arrays, metadata_to_json
from rasp.errors import RaspError

METADATA_KEY = "rasp-toolkit"


def _numpy_backend() -> Any:
    try:
        import safetensors.numpy
    except ImportError:
        raise RaspError(
            "safetensors model files need the safetensors package: pip install 'rasp-toolkit[interop]'"
        ) from None
    return safetensors.numpy


def save_safetensors(model: Transformer, path: str | Path) -> None:
    _numpy_backend().save_file(model.arrays(), str(path), metadata={METADATA_KEY: metadata_to_json(model)})


def is_safetensors(path: str | Path) -> bool:
    """Whether the file starts like a safetensors file: an 8-byte header length, then JSON."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(9)
    except OSError:
        return False  # the caller's own read reports the problem
    return len(head) == 9 and head[8:9] == b"{"


def load_safetensors(path: str | Path) -> Transformer:
    backend = _numpy_backend()
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="np") as handle:
            metadata = (handle.metadata() or {}).get(METADATA_KEY)
        arrays = backend.load_file(str(path))
    except (OSError, SafetensorError) as error:
        raise RaspError(f"cannot read the model file {path}: {error}") from None
    if metadata is None:
        raise RaspError(f"{path} is a safetensors file but not a compiled model (no {METADATA_KEY!r} metadata)")
    return from_arrays(metadata, arrays)
