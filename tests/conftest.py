"""Every test run keeps compiled universal models in a cache of its own (a temporary folder),
never in the user's: `turing.universal_model.CACHE_ENV` points there for the whole session, so
the tests share each model they compile and start from an empty cache."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from turing.universal_model import CACHE_ENV


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = str(tmp_path_factory.mktemp("model-cache"))
    previous = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = folder
    yield folder
    if previous is None:
        del os.environ[CACHE_ENV]
    else:
        os.environ[CACHE_ENV] = previous
