"""The universal Turing Program compiled: one transformer per shape and length, kept on disk.

`universal_model(shape, max_seq_len, attention)` compiles `programs/universal_turing_machine.rasp`
bound to a `Shape`, with softmax or hard attention, or loads it from the model cache when it was
compiled before: unlike the per-machine models of `turing.engines.compiled`, every machine of the
shape shares these weights, so one compilation serves every later run.  The cache key is the
shape, the length, the attention mode and a digest of everything the weights depend on (the
program text and the source of the language and the compiler), so a changed compiler never
serves stale weights.  The float type is not part of the key: a model file holds the exact
weights, and the type is chosen when the model runs (a hard model's precision record says
float64 past short lengths).

`teacher_forced` runs a batch of inputs (table and reference trace) through a model in one
whole-sequence forward pass, split across devices, and returns the prediction at every position:
a hard model's pass is `compiler.fast_forward` (O(n) for the heads its fast-head descriptors
name), a softmax model's `compiler.transformer.forward`.
"""

from __future__ import annotations

import functools
import hashlib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np

import compiler
import rasp
from compiler.fast_forward import fast_forward, plan
from compiler.model import load
from compiler.transformer import forward, precision
from rasp.errors import RaspError
from rasp.programs import program_path
from turing.shape import Shape
from turing.universal import PROGRAM, universal_sop

CACHE_ENV = "RASP_TOOLKIT_CACHE"
"""Environment variable naming the cache directory (default `$XDG_CACHE_HOME/rasp-toolkit`, or
`~/.cache/rasp-toolkit`)."""


class PrecisionError(RaspError):
    """A float type was asked for that the model's precision record says is not exact."""


def cache_dir() -> Path:
    """Where compiled universal models are kept."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "rasp-toolkit"


@functools.lru_cache(maxsize=1)
def source_digest() -> str:
    """A digest of what compiled weights depend on: the program text and the source of the
    language and compiler packages (read once a process)."""
    digest = hashlib.sha256(program_path(PROGRAM).read_bytes())
    for package in (compiler, rasp):
        for path in sorted(Path(package.__file__).parent.rglob("*.py")):
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def keep_compilations() -> None:
    """Keep JAX's compiled XLA programs in the cache too (`cache_dir() / "xla"`), so that a later
    run of the same padded lengths loads them instead of compiling again: on a busy 2-core
    machine each compilation of a universal model's forward pass takes ten seconds or more."""
    jax.config.update("jax_compilation_cache_dir", str(cache_dir() / "xla"))


def cache_path(shape: Shape, max_seq_len: int, attention: str = "soft") -> Path:
    """The file of the universal model of `shape`, length `max_seq_len` and `attention` in the
    cache."""
    name = f"universal-{shape.states}x{shape.symbols}-n{max_seq_len}-{attention}-{source_digest()}.npz"
    return cache_dir() / name


@dataclass(frozen=True)
class UniversalModel:
    """A compiled universal program: the model, its shape, and where it came from (`cached`:
    loaded from `path` rather than compiled now; `seconds`: the time it took)."""

    model: compiler.Transformer
    shape: Shape
    cached: bool
    path: Path | None
    seconds: float

    def dtype(self, requested: str | None = None) -> str:
        """The float type to run in: the model's own choice (its precision record), or
        `requested`; float32 where the record says it is not exact is refused."""
        if requested == "float32" and not self.model.metadata["precision"]["float32_ok"]:
            raise PrecisionError(
                f"the universal model of {self.shape.states} states, {self.shape.symbols} symbols and length "
                f"{self.model.max_seq_len} is not exact in float32 (its precision record says so)",
                hint="leave out --dtype (the model then runs in float64) or pass --dtype float64",
            )
        return self.model.dtype(requested)


def compile_universal(shape: Shape, max_seq_len: int, attention: str = "soft") -> compiler.Transformer:
    """The universal program for `shape`, compiled for inputs (table and trace) of up to
    max_seq_len tokens, with softmax or hard attention (`compiler.compile`)."""
    return compiler.compile(universal_sop(shape), shape.vocab(), max_seq_len, causal=True, attention=attention)


def universal_model(
    shape: Shape, max_seq_len: int, attention: str = "soft", cache: bool = True
) -> UniversalModel:
    """The universal model of `shape`, `max_seq_len` and `attention`: loaded from the cache, or
    compiled and (with `cache`) saved there for the next run.  `Transformer.save` writes under a
    temporary name and renames, so that concurrent processes never read half a model."""
    start = time.perf_counter()
    path = cache_path(shape, max_seq_len, attention) if cache else None
    if path is not None and path.exists():
        return UniversalModel(load(path), shape, True, path, time.perf_counter() - start)
    model = compile_universal(shape, max_seq_len, attention)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        model.save(path)
    return UniversalModel(model, shape, False, path, time.perf_counter() - start)


def teacher_forced(
    model: compiler.Transformer,
    inputs: Sequence[Sequence[str]],
    length: int | None = None,
    dtype: str | None = None,
    devices: Sequence[jax.Device] | None = None,
    rows: int | None = None,
) -> list[list[str]]:
    """The model's prediction at every position of every input, in one forward pass over the
    batch (the model's own float type when `dtype` is None).  The inputs are padded (with
    masked positions) to `length`, by default the longest input: a fixed `length` keeps the XLA
    compilation of one call for the next, and so does a fixed number of `rows` (the batch is
    padded with empty inputs to at least that many).  The batch is split across `devices`
    (default: this process's devices), its rows padded to a multiple of their number."""
    ids, mask = model.encode([list(tokens) for tokens in inputs])
    width = ids.shape[1] if length is None else length + 1  # + 1: the BOS
    if width < ids.shape[1]:
        raise RaspError(f"an input has {ids.shape[1] - 1} tokens, more than the length {length} asked for")
    devices = list(devices or jax.local_devices())
    rows = -(-max(len(inputs), rows or 0) // len(devices)) * len(devices)
    ids = np.pad(ids, ((0, rows - ids.shape[0]), (0, width - ids.shape[1])))
    mask = np.pad(mask, ((0, rows - mask.shape[0]), (0, width - mask.shape[1])))
    mask[len(inputs) :, 0] = True  # padding rows see their BOS, so that no softmax is empty
    dtype = model.dtype(dtype)
    with precision(dtype):
        params = model.device_params(dtype)
        if len(devices) > 1:
            mesh = jax.sharding.Mesh(np.array(devices), ("batch",))
            params = jax.device_put(params, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec()))
            rows_sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("batch"))
            ids, mask = jax.device_put(ids, rows_sharding), jax.device_put(mask, rows_sharding)
        if model.window is None:
            streams = forward(params, ids, mask, model.causal)
        else:
            streams = fast_forward(params, ids, mask, _plan(model), model.window)
        streams = np.asarray(streams, np.float64)
    rows_out = [streams[row, 1 : 1 + len(tokens)] for row, tokens in enumerate(inputs)]
    return [[str(value) for value in model.decode(stream)] for stream in rows_out]


def _plan(model: compiler.Transformer) -> tuple:
    """The fast forward pass's plan of a hard model, made once per model (it reads the weights)."""
    if "fast_plan" not in model.__dict__:
        model.__dict__["fast_plan"] = plan(model.params, model.metadata)
    return model.__dict__["fast_plan"]
