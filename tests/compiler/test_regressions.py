"""Programs that broke the compiler's promise (exact or refused), kept as .rasp files under
regressions/: the cases of issue 9 and every failure the fuzzer found, minimised.  Each file's
header says how to compile it (`# vocab:`, `# max_seq_len:`, `# causal:`), what is expected
(`# expect: exact`, or `exact or refused`) and inputs to try besides the random ones
(`# input:`, one token per character)."""

from __future__ import annotations

from pathlib import Path

import pytest

import compiler
from compiler.check import sample_inputs
from compiler.fuzzing import load

FOLDER = Path(__file__).parent / "regressions"
INPUTS = 64


def _header(path: Path) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        key, colon, value = line.removeprefix("#").partition(":")
        if line.startswith("#") and colon and key.strip() in ("vocab", "max_seq_len", "causal", "expect", "input"):
            fields.setdefault(key.strip(), []).append(value.strip())
    return fields


def _token(text: str) -> object:
    return int(text) if text.lstrip("-").isdigit() else text


@pytest.mark.parametrize(
    "path",
    [  # quick tier: the programs compiled for up to 20 positions
        pytest.param(path, marks=[pytest.mark.slow] if path.stem.endswith("_n50") else [])
        for path in sorted(FOLDER.glob("*.rasp"))
    ],
    ids=lambda path: path.stem,
)
def test_regression_is_exact_or_refused(path: Path) -> None:
    fields = _header(path)
    vocab = [_token(token) for token in fields["vocab"][0].split(",")]
    max_seq_len = int(fields["max_seq_len"][0])
    causal = fields["causal"][0] == "true"
    sop = load(path.read_text(), str(path))
    try:
        model = compiler.compile(sop, vocab, max_seq_len, causal=causal)
    except compiler.CompileError as error:
        assert fields["expect"][0] == "exact or refused", f"refused: {error}"
        return
    inputs = sample_inputs(vocab, max_seq_len, INPUTS) + [
        [_token(token) for token in text] for text in fields.get("input", [])
    ]
    result = compiler.verify(model, sop, inputs)
    assert result.disagreement is None, result.disagreement
    assert result.total >= INPUTS // 2
