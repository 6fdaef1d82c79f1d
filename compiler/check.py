"""Proof on the user's own program: the compiled model against the interpreter on random inputs.

`sample_inputs` is the one place that chooses test inputs, for `compile(..., check=K)`, for
`rasp compile --check K` and for the differential fuzzer (`rasp_toolkit.fuzz`).  Random inputs
alone miss the bugs found so far, so the edges come first: the shortest input (one token),
inputs of `max_seq_len` tokens all equal (every selector comparing tokens is full or empty
there, which stressed the BOS and the softmax leak), and inputs of `max_seq_len` tokens.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from compiler.errors import CompileError
from compiler.model import Transformer
from compiler.verify import Verification, verify
from rasp import ir


class CheckFailed(CompileError):
    """The compiled model differs from the interpreter on a checked input (a compiler bug:
    the CLI exits 1, as for any failed verification, not 2 as for a user's error)."""


def sample_inputs(vocab: Sequence[Any], max_seq_len: int, count: int, seed: int = 0) -> list[list[Any]]:
    """`count` inputs of 1..max_seq_len tokens from `vocab`, edge cases first: one token,
    `max_seq_len` copies of each token, then random inputs of `max_seq_len` tokens and of
    random lengths (half of the rest each).  Deterministic for a given seed."""
    rng = random.Random(seed)
    vocab = list(vocab)
    edges = [[vocab[0]]] + [[token] * max_seq_len for token in vocab]
    inputs = edges[:count]
    while len(inputs) < count:
        length = max_seq_len if len(inputs) % 2 == 0 else rng.randint(1, max_seq_len)
        inputs.append([rng.choice(vocab) for _ in range(length)])
    return inputs


def describe(result: Verification) -> str | None:
    """The first disagreement of a verification in words (None when there is none).  A
    mixture on an input the interpreter rejects is no disagreement: there is nothing to
    agree with."""
    if result.mismatches:
        first = result.mismatches[0]
        return (
            f"on input {first['input']!r} the model differs from the interpreter at positions "
            f"{first['positions']}: expected {first['expected']!r}, got {first['got']!r} "
            f"({len(result.mismatches)} of {result.total} inputs differ)"
        )
    rejected = [error["input"] for error in result.interpreter_errors]
    mixtures = [mixture for mixture in result.mixtures if mixture["input"] not in rejected]
    if mixtures:
        first = mixtures[0]
        return (
            f"on input {first['input']!r} the categorical aggregate {first['node']} mixes several "
            f"values at position {first['position']}"
        )
    return None


def check(model: Transformer, sop: ir.SOp, count: int, seed: int = 0) -> Verification:
    """Runs `model` and the interpreter on `count` inputs from `sample_inputs` and raises a
    CompileError naming `sop` and the first differing input when they disagree anywhere.
    Inputs the interpreter itself fails on are left out (verification lists them)."""
    result = verify(model, sop, sample_inputs(model.vocab, model.max_seq_len, count, seed))
    problem = describe(result)
    if problem is not None:
        raise CheckFailed(f"the compiled model of {sop.label} is wrong: {problem}", sop.origin)
    return result
