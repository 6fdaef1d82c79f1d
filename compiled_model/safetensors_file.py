"""The safetensors file format for compiled models, beside `.npz`: the flattened weights
(`layers/0/attn/w_q`, float64) and the model's JSON metadata, kept in the file's string
metadata under `rasp-toolkit`.  Any safetensors reader gets the arrays; `compiler.load` the
model (`compiled_model.serialization` chooses the format).

Needs the `safetensors` package (the `interop` extra), imported only here and only when a
safetensors file is written or read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from compiled_model.errors import ModelError

METADATA_KEY = "rasp-toolkit"


def _numpy_backend() -> Any:
    try:
        import safetensors.numpy
    except ImportError:
        raise ModelError(
            "safetensors model files need the safetensors package: pip install 'rasp-toolkit[interop]'"
        ) from None
    return safetensors.numpy


def write(path: str | Path, arrays: dict[str, np.ndarray], metadata: str) -> None:
    """`arrays` and the JSON text `metadata` as one safetensors file.  A failed write (a full
    disk) is an OSError, as it is for every other file the toolkit writes: the safetensors
    library raises its own error type, which callers that catch OSError would let through."""
    backend = _numpy_backend()
    from safetensors import SafetensorError

    try:
        backend.save_file(arrays, str(path), metadata={METADATA_KEY: metadata})
    except SafetensorError as error:
        raise OSError(f"cannot write {path}: {error}") from None


def is_safetensors(path: str | Path) -> bool:
    """Whether the file starts like a safetensors file: an 8-byte header length, then JSON."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(9)
    except OSError:
        return False  # the caller's own read reports the problem
    return len(head) == 9 and head[8:9] == b"{"


def read(path: str | Path) -> tuple[str, dict[str, np.ndarray]]:
    """The JSON metadata text and the arrays of a file `write` wrote."""
    backend = _numpy_backend()
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="np") as handle:
            metadata = (handle.metadata() or {}).get(METADATA_KEY)
        arrays = backend.load_file(str(path))
    except (OSError, SafetensorError) as error:
        raise ModelError(f"cannot read the model file {path}: {error}") from None
    if metadata is None:
        raise ModelError(f"{path} is a safetensors file but not a compiled model (no {METADATA_KEY!r} metadata)")
    return metadata, arrays
