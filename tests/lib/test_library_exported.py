"""The program library, exported: every `programs/lib` program's compiled model as a torch module,
as a TransformerLens bridge and through a safetensors file gives the JAX model's outputs, which
are the plain-Python reference's and the interpreter's (`references.py`), on the inputs of
test_library_compiled.py.  One model per program (max_seq_len 8; prefix programs also causal), the
one test_library_compiled.py runs (the `library_model` fixture of conftest.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from references import PROGRAMS, check, output_of
from test_library_compiled import inputs

import compiler
from compiled_model import export
from rasp.programs import LibraryProgram

N = 8
CASES = [(program, causal) for program in PROGRAMS for causal in ((False, True) if program.causal else (False,))]
CASES = [pytest.param(case, marks=[pytest.mark.slow] if case[1] else []) for case in CASES]  # quick tier: whole


def case_id(case: tuple[LibraryProgram, bool]) -> str:
    return case[0].name + ("-causal" if case[1] else "")


def valid_rows(batch: list[list[Any]]) -> np.ndarray:
    """(batch, 1 + longest) true at the BOS and the real tokens, false on padding."""
    mask = np.zeros((len(batch), 1 + max(map(len, batch))), bool)
    for i, tokens in enumerate(batch):
        mask[i, : 1 + len(tokens)] = True
    return mask


@pytest.mark.parametrize("case", CASES, ids=[case_id(case.values[0]) for case in CASES])
def test_exports_match_the_model_and_the_interpreter(
    case: tuple[LibraryProgram, bool], tmp_path: Path, library_model
) -> None:
    program, causal = case
    sop = output_of(program.name)
    model = library_model(program, N, causal)  # test_library_compiled.py's model of length N
    batch = inputs(program, N)
    expected = model.predict(batch)
    for tokens, got in zip(batch, expected):
        check(program, tokens, got)
        if not causal:  # a causal model computes the prefix-wise value, which the reference checks
            assert got == pytest.approx(sop(tokens), abs=1e-9), tokens

    torch_model = export.to_torch(model)
    bridge = export.to_transformer_lens(model)
    assert export.predict(torch_model, batch) == expected
    assert export.predict(bridge, batch) == expected

    # the streams agree too, not only their decodings (float32 rounding apart)
    ids, mask = export.encode(bridge, batch)
    residual = model.residual(batch)
    _, cache = bridge.run_with_cache(ids, attention_mask=mask)
    final = f"blocks.{bridge.cfg.n_layers - 1}.hook_resid_post"
    rows = valid_rows(batch)
    scale = 1 + np.abs(residual[rows]).max()
    assert np.abs(cache[final].double().numpy()[rows] - residual[rows]).max() < 1e-4 * scale
    assert np.abs(torch_model.run(ids, mask)[0].detach().double().numpy()[rows] - residual[rows]).max() < 1e-4 * scale

    path = tmp_path / "model.safetensors"
    model.save(path)
    loaded = compiler.load(path)
    assert loaded.spec == model.spec
    assert all(np.array_equal(loaded.arrays()[key], value) for key, value in model.arrays().items())
    assert loaded.predict(batch) == expected
