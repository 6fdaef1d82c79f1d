"""Proof on the user's own program: the compiled model against the interpreter on edge inputs
and random ones.

`sample_inputs` is the one place that chooses test inputs, for the self-check every
`compile` runs (`check=DEFAULT_CHECK`), for `compile(..., check=K)`, for `rasp compile
--check K` and for the differential fuzzer (`rasp_toolkit.fuzz`).  Random inputs alone miss
the bugs found so far, so the edges come first: a constant input of every length (a compiled
model once dropped one position from a comparison and was right on every input shorter than
it), and the longest input of each token (every selector comparing tokens is full or empty
there, which stressed the BOS and the softmax leak).  No input is longer than
CHECK_MAX_LENGTH: the interpreter and the model spend time quadratic in the length on every
selector and head, and the self-check must stay a small part of a compile; longer inputs are
the user's to check (`compiler.verify`, `rasp run-model`).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from compiled_model.transformer import Transformer
from compiler.errors import CheckFailed
from compiler.verify import Verification, verify
from rasp import ir

DEFAULT_CHECK = 4
"""Random inputs that `compile`'s self-check adds to the edge inputs (`check=0` turns the whole
check off; a larger K adds more random inputs)."""
CHECK_MAX_LENGTH = 64
"""No checked input is longer than this: every length up to it is checked, and the cost stays
a fraction of a second for most programs (docs/compiler.md, The self-check)."""

MAX_CHECK = 100_000
"""The most random inputs a check takes: each runs through the interpreter and the model
(milliseconds apiece, so this is minutes already), and the list of inputs is built before the
first one runs, so a larger count is refused rather than allocated."""

TOKEN_EDGES = 16
"""At most this many tokens (the vocabulary's first) get an input of their own repeated to the
longest length: a vocabulary of thousands must not make the check thousands of inputs long."""


def check_lengths(max_seq_len: int) -> list[int]:
    """The lengths of the constant edge inputs: every length up to `max_seq_len` or
    CHECK_MAX_LENGTH, whichever is smaller."""
    return list(range(1, min(max_seq_len, CHECK_MAX_LENGTH) + 1))


def distinct_inputs(vocab_size: int, max_seq_len: int, enough: int) -> int:
    """How many distinct inputs the check's lengths (`check_lengths`) allow over `vocab_size`
    tokens, counted no further than past `enough` (the sum can have hundreds of digits)."""
    total = 0
    for length in check_lengths(max_seq_len):
        total += vocab_size**length
        if total > enough:
            break
    return total


def most_random_inputs(vocab_size: int, max_seq_len: int) -> int:
    """The largest number of random inputs a check takes over `vocab_size` tokens and inputs of
    up to `max_seq_len`: the number of distinct inputs (more draws of the same inputs prove
    nothing more), at most MAX_CHECK, and never fewer than the default, which every compile runs."""
    return max(DEFAULT_CHECK, min(MAX_CHECK, distinct_inputs(vocab_size, max_seq_len, MAX_CHECK)))


def check_count_problem(count: int, vocab_size: int, max_seq_len: int) -> tuple[str, str] | None:
    """Why `count` random inputs are too many to check (past `most_random_inputs`), and what to
    ask for instead; None when they are not."""
    most = most_random_inputs(vocab_size, max_seq_len)
    if count <= most:
        return None
    if count > MAX_CHECK:
        return f"is more than the {MAX_CHECK:,} random inputs a check takes", f"at most {MAX_CHECK:,}"
    plural = "s" if vocab_size != 1 else ""
    return (
        f"asks for more random inputs than the {most:,} distinct inputs of 1 to {check_lengths(max_seq_len)[-1]} "
        f"tokens over {vocab_size} token{plural}",
        f"at most {most:,}",
    )


def sample_inputs(
    vocab: Sequence[Any], max_seq_len: int, count: int, seed: int = 0, prefixes: bool = False
) -> list[list[Any]]:
    """The edge inputs, then `count` random ones: the first token repeated to every length of
    `check_lengths`, the next tokens (up to TOKEN_EDGES in all) repeated to the longest checked
    length, then random inputs of that length and of random lengths (alternately).
    Deterministic for a seed.  With `prefixes` (a causal model, whose output at position i is
    its output on the input's first i + 1 tokens, as the interpreter's causal evaluation is)
    the longest constant input stands for every shorter one."""
    rng = random.Random(seed)
    vocab = list(vocab)
    lengths = check_lengths(max_seq_len)
    longest = lengths[-1]
    if prefixes:
        lengths = [longest]
    inputs = [[vocab[0]] * length for length in lengths] + [[token] * longest for token in vocab[1:TOKEN_EDGES]]
    for i in range(count):
        length = longest if i % 2 == 0 else rng.randint(1, longest)
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


def check(model: Transformer, sop: ir.SOp, count: int = DEFAULT_CHECK, seed: int = 0) -> Verification:
    """Runs `model` (its weights in numpy, the arithmetic of the jitted pass without its XLA
    compilation) and the interpreter on the edge inputs and `count` random ones
    (`sample_inputs`), and raises a CheckFailed naming `sop` and the first differing input when
    they disagree anywhere.  Inputs the interpreter itself fails on are left out (verification
    lists them)."""
    inputs = sample_inputs(model.vocab, model.max_seq_len, count, seed, prefixes=model.causal)
    result = verify(model, sop, inputs, host=True)
    problem = describe(result)
    if problem is not None:
        raise CheckFailed(f"the compiled model of {sop.label} is wrong: {problem}", sop.origin)
    return result
