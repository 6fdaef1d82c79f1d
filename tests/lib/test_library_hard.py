"""The program library compiled with hard attention (`compile(..., attention="hard")`): every
`programs/lib` program's hard model, causal and not, against the interpreter on generated
inputs.  Models are small (max_seq_len 5) and every batch holds one input of max_seq_len tokens,
so that each model's forward pass is compiled once."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from references import PROGRAMS, name_of, output_of

import compiler
from compiler.check import verify
from rasp.programs import LibraryProgram

N = 5
BATCH = 4
_models: dict[tuple[str, bool], compiler.Transformer] = {}


def hard_model(program: LibraryProgram, causal: bool) -> compiler.Transformer:
    key = (program.name, causal)
    if key not in _models:
        _models[key] = compiler.compile(output_of(program.name), program.alphabet, N, causal=causal, attention="hard")
    return _models[key]


@pytest.fixture(scope="module", autouse=True)
def _release_models() -> Any:
    yield
    _models.clear()


def batches(alphabet: list[Any]) -> st.SearchStrategy[list[list[Any]]]:
    """BATCH inputs over `alphabet`, the first of N tokens (so every batch has one shape)."""
    token = st.sampled_from(alphabet)
    return st.tuples(
        st.lists(token, min_size=N, max_size=N),
        st.lists(st.lists(token, min_size=1, max_size=N), min_size=BATCH - 1, max_size=BATCH - 1),
    ).map(lambda pair: [pair[0], *pair[1]])


@pytest.mark.parametrize("causal", [False, pytest.param(True, marks=pytest.mark.slow)], ids=["whole", "causal"])
@pytest.mark.parametrize("program", PROGRAMS, ids=name_of)
def test_hard_model_equals_interpreter(program: LibraryProgram, causal: bool) -> None:
    model = hard_model(program, causal)
    assert model.summary()["attention"] == "hard"

    checked = []

    @settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(batch=batches(list(program.alphabet)))
    def agrees(batch: list[list[Any]]) -> None:
        result = verify(model, output_of(program.name), batch)
        assert result.disagreement is None, result.disagreement
        checked.append(result.total)

    agrees()
    assert sum(checked) > 0  # some inputs were compared, not all rejected by the interpreter
