"""The universal Turing Program compiled: one transformer per shape and length, kept on disk.

`universal_model(shape, max_seq_len, attention)` compiles `programs/universal_turing_machine.rasp`
bound to a `Shape`, with softmax or hard attention, or loads it from the model cache when it was
compiled before: unlike the per-machine models of `turing.engines.compiled`, every machine of the
shape shares these weights, so one compilation serves every later run.  The cache key is the
shape, the length, the attention mode and a digest of everything the weights depend on
(`weight_sources`: the source of every project module the build can import, found by walking
the import graph from this module, the data files beside them, and the shipped RASP programs),
so an edited compiler, language or Turing Program never serves stale weights.  The float type
is not part of the key: a model file holds the exact weights, and the type is chosen when the
model runs (a hard model's precision record says float64 past short lengths).

The cache heals itself (docs/cli.md states it): an entry stores its key in its metadata, and an
entry that cannot be read or holds another key is reported once (a `CacheWarning` naming the
file), removed and compiled afresh; temporary files that an interrupted write left behind are
removed once stale; and a cache directory that cannot be used means a warning and a run
without the cache, never a failed run.

`teacher_forced` runs a batch of inputs (table and reference trace) through a model in one
whole-sequence forward pass, split across devices, and returns the prediction at every position:
a hard model's pass is `compiled_model.fast_forward` (O(n) for the heads its fast-head descriptors
name), a softmax model's `compiled_model.arithmetic.forward`.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import functools
import hashlib
import importlib.metadata
import importlib.util
import os
import time
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np

import compiler
from compiled_model import serialization
from compiled_model.arithmetic import forward, precision, to_device
from compiled_model.fast_forward import fast_forward
from compiled_model.fast_plan import FastPlan, plan_of, tables_of
from compiled_model.spec import Attention
from compiled_model.transformer import load
from rasp.errors import RaspError
from rasp.shipped import programs_dir
from turing.shape import Shape
from turing.universal import COMPACT_PROGRAM, PROGRAM, shape_bindings, universal_sop

CACHE_ENV = "RASP_TOOLKIT_CACHE"
"""Environment variable naming the cache directory (default `$XDG_CACHE_HOME/rasp-toolkit`, or
`~/.cache/rasp-toolkit`)."""


MAX_LENGTH = 2**18
"""The longest universal model built (262,144 positions): the hard model of two states and two
symbols compiles at this length in about 17 s and 1.4 GB (measured on the 2-core development
machine), and value-set analysis grows with the length from there, to minutes and gigabytes
before the parameter budget can refuse.  A longer model is refused before anything is built."""


class LengthError(RaspError):
    """A universal model longer than MAX_LENGTH was asked for."""


def check_length(max_seq_len: int, need: str | None = None, hint: str = "pass a shorter --max-len") -> None:
    """Refuse a universal model of `max_seq_len` positions past MAX_LENGTH, saying what `need`s
    it, before anything is simulated, analysed or allocated."""
    if max_seq_len > MAX_LENGTH:
        model = f"a universal model of {max_seq_len:,} positions"
        what = f"{model} is longer" if need is None else f"{need} needs {model}, longer"
        raise LengthError(f"{what} than the {MAX_LENGTH:,} that can be built", hint=hint)


class PrecisionError(RaspError):
    """A float type was asked for that the model's precision record says is not exact."""


def cache_dir() -> Path:
    """Where compiled universal models are kept."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "rasp-toolkit"


PROJECT_ROOT = Path(__file__).resolve().parents[1]
"""The folder holding the project's packages (the checkout, or site-packages for a wheel)."""

DISTRIBUTION = "rasp-toolkit"
"""This project's distribution: the top-level packages of any other are not its source."""

STALE_SECONDS = 600
"""A temporary file of an interrupted write older than this is removed: a model file is
written in seconds, and every write touches the file, so no live write is that old."""

LEFTOVER_PATTERNS = (".*.partial", "*.partial.npz")
"""The temporary files of interrupted writes: `compiled_model.serialization.written_atomically`'s,
and those of the cache's own earlier writer."""

UNREADABLE = (RaspError, OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile)
"""What loading a damaged or foreign file can raise: such an entry is rebuilt, not fatal."""


class CacheWarning(UserWarning):
    """The model cache could not be used as it is: an entry was damaged, or the folder unusable."""


def _warn(message: str) -> None:
    """A `CacheWarning`, attributed to the caller of `universal_model`."""
    warnings.warn(message, CacheWarning, stacklevel=4)


def _project_file(name: str, others: dict[str, list[str]]) -> Path | None:
    """The source file of module `name` when it is one of the project's, else None: a package
    beside this one (`PROJECT_ROOT`) that belongs to no other installed distribution (`others`
    maps top-level names to distributions, as `importlib.metadata.packages_distributions`)."""
    top = name.partition(".")[0]
    if any(dist != DISTRIBUTION for dist in others.get(top, [])) or not (PROJECT_ROOT / top).is_dir():
        return None
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return None
    path = Path(spec.origin).resolve()
    return path if path.is_relative_to(PROJECT_ROOT / top) else None


def _imported_names(path: Path, name: str) -> set[str]:
    """Every module `path` (module `name`) imports, at its top or inside functions, and the
    packages above each (their `__init__` runs first)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_bytes(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from package import module`
    return {".".join(parts[:end]) for parts in (n.split(".") for n in found) for end in range(1, len(parts) + 1)}


@functools.lru_cache(maxsize=1)
def weight_sources() -> tuple[Path, ...]:
    """Every file the weights of a universal model can depend on: the source of each project
    module reachable from this one through imports (those inside functions included, so the
    set holds whatever a build imports), the data files beside them (the grammar), and the
    shipped RASP programs (the Turing Program and the standard library every session loads).
    A walk rather than a list, so that a module added to the build is covered without a word
    here (tests/turing/test_hostile_input.py checks it against what a build loads)."""
    others = importlib.metadata.packages_distributions()
    seen: dict[str, Path] = {}
    pending = [__name__]
    while pending:
        name = pending.pop()
        path = _project_file(name, others)
        if name in seen or path is None:
            continue
        seen[name] = path
        pending.extend(_imported_names(path, name) - seen.keys())
    folders = {path.parent for path in seen.values()}
    data = {item for folder in folders for item in folder.iterdir() if item.is_file() and item.suffix != ".py"}
    return tuple(sorted({*seen.values(), *data, *programs_dir().rglob("*.rasp")}))


@functools.lru_cache(maxsize=1)
def source_digest() -> str:
    """A digest of every file in `weight_sources`, their paths included (read once a process)."""
    digest = hashlib.sha256()
    for path in weight_sources():
        where = path.relative_to(PROJECT_ROOT if path.is_relative_to(PROJECT_ROOT) else programs_dir())
        digest.update(f"{where}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def usable_cache_dir() -> Path | None:
    """The cache folder, created if need be and cleared of stale temporary files
    (`LEFTOVER_PATTERNS`, `STALE_SECONDS`); None, with a warning, when it cannot be used (it is
    a file, or it cannot be created), so that the run goes on without it.  A folder that can be
    read but not written still serves its models (a write there fails in `_stored`, which
    warns)."""
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        problem = "it is a file, not a folder" if isinstance(error, FileExistsError) else str(error)
        _warn(f"the model cache {folder} cannot be used ({problem}): running without it")
        return None
    now = time.time()
    for pattern in LEFTOVER_PATTERNS:
        for leftover in folder.glob(pattern):
            with contextlib.suppress(OSError):  # another process may have removed it first
                if now - leftover.stat().st_mtime > STALE_SECONDS:
                    leftover.unlink()
    return folder


def keep_compilations() -> None:
    """Keep JAX's compiled XLA programs in the cache too (`cache_dir() / "xla"`), so that a later
    run of the same padded lengths loads them instead of compiling again: on a busy 2-core
    machine each compilation of a universal model's forward pass takes ten seconds or more.
    Not where the folder cannot be made: JAX would then warn at every compilation (the model
    cache itself says once that it cannot be used)."""
    folder = cache_dir() / "xla"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return
    if os.access(folder, os.W_OK | os.X_OK):
        jax.config.update("jax_compilation_cache_dir", str(folder))


def cache_key(shape: Shape, max_seq_len: int, attention: Attention | str = "soft", program: str = PROGRAM) -> str:
    """The key of the universal model of `shape`, length `max_seq_len`, `attention` and
    `program` (the tape-copy one unless named): its file's name in the cache, and what the
    file's spec must say (`ModelSpec.cache_key`)."""
    kind = "universal-compact" if program == COMPACT_PROGRAM else "universal"
    return f"{kind}-{shape.states}x{shape.symbols}-n{max_seq_len}-{Attention.named(attention)}-{source_digest()}"


def cache_path(shape: Shape, max_seq_len: int, attention: Attention | str = "soft", program: str = PROGRAM) -> Path:
    """The file of that universal model in the cache (`cache_key`)."""
    return cache_dir() / f"{cache_key(shape, max_seq_len, attention, program)}.npz"


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
        if requested == "float32" and not self.model.spec.precision.float32_ok:
            raise PrecisionError(
                f"the universal model of {self.shape.states} states, {self.shape.symbols} symbols and length "
                f"{self.model.max_seq_len} is not exact in float32 (its precision record says so)",
                hint="leave out --dtype (the model then runs in float64) or pass --dtype float64",
            )
        return self.model.dtype(requested)


def length_free(program: str, attention: Attention | str) -> bool:
    """Whether the universal `program`'s models with `attention` are compiled length-free (one
    size at every length, no MAX_LENGTH: docs/compiler.md): the compact program's hard ones."""
    return program == COMPACT_PROGRAM and Attention.named(attention).hard


def compile_universal(
    shape: Shape, max_seq_len: int, attention: Attention | str = "soft", program: str = PROGRAM
) -> compiler.Transformer:
    """The universal `program` for `shape`, compiled for inputs (table and trace) of up to
    max_seq_len tokens, with softmax or hard attention (`compiler.compile`), length-free where
    `length_free` says."""
    vocab = shape_bindings(shape, program)["tm_vocab"]
    return compiler.compile(
        universal_sop(shape, program), vocab, max_seq_len, causal=True, attention=attention,
        length_free=length_free(program, attention),
    )


def universal_model(
    shape: Shape, max_seq_len: int, attention: Attention | str = "soft", cache: bool = True, program: str = PROGRAM
) -> UniversalModel:
    """The universal model of `shape`, `max_seq_len` and `attention`: loaded from the cache, or
    compiled and (with `cache`) saved there for the next run.  The file is written under a
    temporary name and renamed, so that concurrent processes never read half a model; `path`
    is None when the model could not be cached (`usable_cache_dir`, `_stored`).  A length past
    MAX_LENGTH is refused first, unless the model is length-free."""
    if not length_free(program, attention):
        check_length(max_seq_len)
    start = time.perf_counter()
    folder = usable_cache_dir() if cache else None
    key = cache_key(shape, max_seq_len, attention, program)
    path = None if folder is None else folder / f"{key}.npz"
    if path is not None:
        model = _entry(path, key)
        if model is not None:
            return UniversalModel(model, shape, True, path, time.perf_counter() - start)
    model = compile_universal(shape, max_seq_len, attention, program)
    if path is not None and not _stored(model, path, key):
        path = None
    return UniversalModel(model, shape, False, path, time.perf_counter() - start)


def _entry(path: Path, key: str) -> compiler.Transformer | None:
    """The model of the cache entry `path`, when there is one and it holds the model of `key`.
    An entry that cannot be read, or holds another model, is reported and removed: the next
    run finds the rebuilt one, not the same fault again."""
    if not path.exists():
        return None
    try:
        model = load(path)
    except UNREADABLE as error:
        problem = str(error)
    else:
        found = model.spec.cache_key
        if found == key:
            return model
        problem = f"it holds the model of {found}" if found else "it holds a model that this cache did not write"
    _warn(f"the model cache entry {path} is damaged ({problem}): removed, compiling afresh")
    with contextlib.suppress(OSError):  # not removable: `_stored` says why the new model is not cached
        path.unlink()
    return None


def _stored(model: compiler.Transformer, path: Path, key: str) -> bool:
    """Whether `model` was saved at `path` with its key; a write that fails (a full disk, a
    folder made read-only) is a warning, and the run goes on with the model in memory."""
    try:
        serialization.save(model.params, dataclasses.replace(model.spec, cache_key=key), path)
    except OSError as error:
        _warn(f"the model could not be cached in {path} ({error}): running without the cache")
        return False
    return True


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
        plan, tables = fast_pass(model, dtype) if model.window is not None else (None, [])
        if len(devices) > 1:
            mesh = jax.sharding.Mesh(np.array(devices), ("batch",))
            replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
            params, tables = jax.device_put((params, tables), replicated)
            rows_sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("batch"))
            ids, mask = jax.device_put(ids, rows_sharding), jax.device_put(mask, rows_sharding)
        if model.window is None:
            streams = forward(params, ids, mask, model.causal)
        else:
            streams = fast_forward(params, tables, ids, mask, plan, model.window)
        streams = np.asarray(streams, np.float64)
    rows_out = [streams[row, 1 : 1 + len(tokens)] for row, tokens in enumerate(inputs)]
    return [[str(value) for value in model.decode(stream)] for stream in rows_out]


def fast_pass(model: compiler.Transformer, dtype: str) -> tuple[FastPlan, list]:
    """The fast pass's plan of a hard model and its folded weights on the device, made once
    per model and float type (they read the weights); use them under `precision(dtype)`."""
    made = model.__dict__.setdefault("fast_pass", {})
    if dtype not in made:
        plan = plan_of([model])
        made[dtype] = plan, to_device(tables_of(model, plan), dtype)
    return made[dtype]
