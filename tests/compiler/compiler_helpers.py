"""Helpers shared by the compiler tests: compiled models are cached per (program, vocab,
length, causal), since building the XLA computation is the slow part of every test."""

from __future__ import annotations

from typing import Any

import compiler
from rasp import ir

_models: dict[tuple[Any, ...], compiler.Transformer] = {}


def compiled(program: ir.SOp, vocab: Any, max_seq_len: int, causal: bool = False) -> compiler.Transformer:
    key = (program.uid, tuple(vocab), max_seq_len, causal)
    if key not in _models:
        _models[key] = compiler.compile(program, vocab, max_seq_len, causal=causal)
    return _models[key]


def assert_agrees(model: compiler.Transformer, program: ir.SOp, inputs: list[list[Any]]) -> None:
    """Every output equals the interpreter's (causal for a causal model), with no mixtures."""
    result = compiler.verify(model, program, inputs)
    assert not result.interpreter_errors, result.interpreter_errors[:1]
    assert result.mismatches == [], result.mismatches[:1]
    assert result.mixtures == [], result.mixtures[:1]
    assert result.total == len(inputs)


def lookup_targets(model: compiler.Transformer, layer: int, head: int, tokens: list[Any]) -> list[float]:
    """A lookup head's target (metadata["fast_heads"]) evaluated on the stream entering its
    layer, at every token position."""
    descriptor = model.metadata["fast_heads"][layer][head]
    stream = model.inspect(tokens)["residuals"][2 * layer]
    index = {label: i for i, label in enumerate(model.labels)}
    return [sum(c * row[index[label]] for label, c in descriptor["target"].items()) for row in stream[1:]]
