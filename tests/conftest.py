"""What the whole test session shares (docs/architecture.md, "Running the tests"):

- one cache folder of the session's own, never the user's: compiled universal models
  (`turing.universal_model.CACHE_ENV` points there) and, in its `xla` folder, JAX's persistent
  cache of compiled XLA programs, so that a program compiled once is loaded by every later
  process: the other pytest-xdist worker, the notebook's kernel, the command line run in a
  subprocess.  The folder is made under pytest's temporary root, which the workers of one run
  share, and starts empty.  Both caches are safe for concurrent writers (a model file is written
  under a temporary name and renamed; JAX's cache takes a file lock once it has a size limit).
- the `slow` marker: `pytest -m "not slow"` is the quick tier (README.md, "Install and run the tests").
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import jax
import pytest

from turing.universal_model import CACHE_ENV

#: JAX's settings for the session's XLA cache, as environment variables (which subprocesses and
#: the notebook's kernel inherit) and as the `jax.config` names of this process.
XLA_CACHE_SETTINGS = {
    "jax_compilation_cache_dir": None,  # the session's folder, set below
    # every compilation worth a file: the models' forward passes and decoders take 0.1 s and more
    "jax_persistent_cache_min_compile_time_secs": 0.1,
    "jax_persistent_cache_min_entry_size_bytes": -1,
    # a size limit turns on JAX's file lock, so that two workers never read a half-written entry
    "jax_compilation_cache_max_size": 4 << 30,
}


def session_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`session-cache` under the temporary root of this run, shared by its xdist workers."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # each worker's basetemp is a folder of the run's root
    folder = root / "session-cache"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = str(session_folder(tmp_path_factory))
    settings = {**XLA_CACHE_SETTINGS, "jax_compilation_cache_dir": str(Path(folder) / "xla")}
    variables = {CACHE_ENV: folder, **{name.upper(): str(value) for name, value in settings.items()}}
    previous_environment = {name: os.environ.get(name) for name in variables}
    previous_config = {name: getattr(jax.config, name) for name in settings}
    os.environ.update(variables)
    for name, value in settings.items():
        jax.config.update(name, value)
    yield folder
    for name, value in previous_config.items():
        jax.config.update(name, value)
    for name, value in previous_environment.items():
        if value is None:
            del os.environ[name]
        else:
            os.environ[name] = value
