"""Helpers shared by the compiler tests: compiled models are cached per (program, vocab,
length, causal), since building the XLA computation is the slow part of every test."""

from __future__ import annotations

import dataclasses
from typing import Any

import compiler
from compiled_model.spec import HeadDescriptor
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
    """A lookup head's target (its descriptor in the model's spec) evaluated on the stream
    entering its layer, at every token position."""
    descriptor = model.spec.heads[layer][head]
    stream = model.inspect(tokens)["residuals"][2 * layer]
    return [sum(c * row[dim] for dim, c in descriptor.target) for row in stream[1:]]


def with_heads(model: compiler.Transformer, heads: list[list[HeadDescriptor]]) -> compiler.Transformer:
    """The same weights with other head descriptors (what a test makes the fast passes follow)."""
    spec = dataclasses.replace(model.spec, heads=tuple(tuple(layer) for layer in heads))
    return compiler.Transformer(model.params, spec)


def lookup(model: compiler.Transformer, offset: float) -> HeadDescriptor:
    """The descriptor of a head that reads token index `indices + offset`."""
    return HeadDescriptor("lookup", ((model.spec.index_of("one"), offset), (model.spec.index_of("indices"), 1.0)))


def described_heads(model: compiler.Transformer) -> list[list[dict[str, Any]]]:
    """The model's head descriptors with residual indices shown as labels, for hand-checked
    assertions: {"kind": "running"}, or a lookup's {"kind", "target": {label: coefficient},
    "outside"}."""
    return [
        [
            {"kind": head.kind}
            if head.kind != "lookup"
            else {"kind": "lookup", "target": {model.labels[d]: c for d, c in head.target}, "outside": head.outside}
            for head in layer
        ]
        for layer in model.spec.heads
    ]
