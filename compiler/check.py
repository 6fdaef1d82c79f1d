"""Checking a compiled model against the interpreter, the specification: on the user's own
inputs (`verify`), and on edge inputs and random ones, as every `compile` does (`check`).

Both give one report, a `Verification`: the inputs on which model and interpreter agree, those
on which they differ, and the positions where a categorical aggregate mixed several values.

`sample_inputs` is the one place that chooses test inputs, for the self-check every
`compile` runs (`check=DEFAULT_CHECK`), for `compile(..., check=K)`, for `rasp compile
--check K` and for the differential fuzzer (`compiler.fuzzing`).  Random inputs alone miss
the bugs found so far, so the edges come first: a constant input of every length (a compiled
model once dropped one position from a comparison and was right on every input shorter than
it), and the longest input of each token (every selector comparing tokens is full or empty
there, which stressed the BOS and the softmax leak).  No input is longer than
CHECK_MAX_LENGTH: the interpreter and the model spend time quadratic in the length on every
selector and head, and the self-check must stay a small part of a compile; longer inputs are
the user's to check (`verify`, `rasp run-model`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from compiled_model.transformer import Transformer
from compiler.errors import CheckFailed
from rasp import ir
from rasp.errors import RaspError
from rasp.interpreter import evaluate
from rasp.values import is_number


def same_value(expected: Any, got: Any) -> bool:
    """Equal values; floats (means) agree to 1e-6 relative, since the interpreter's float
    rounding depends on the order of its operations."""
    if is_number(expected) and is_number(got) and (isinstance(expected, float) or isinstance(got, float)):
        return math.isclose(expected, got, rel_tol=1e-6, abs_tol=1e-9)
    return type(expected) is type(got) and expected == got or (is_number(expected) and expected == got)


@dataclass
class Verification:
    """Agreement between model and interpreter over a set of inputs."""

    total: int = 0
    agreeing: int = 0
    mismatches: list[dict[str, Any]] = field(default_factory=list)
    mixtures: list[dict[str, Any]] = field(default_factory=list)
    interpreter_errors: list[dict[str, Any]] = field(default_factory=list)
    unrefused: list[dict[str, Any]] = field(default_factory=list)
    """Inputs the interpreter refuses where the model gives values and reports no mixture: a
    user of the model would take them for an answer."""

    @property
    def ok(self) -> bool:
        """The model gives the interpreter's values on every input the interpreter accepts
        and refuses by a mixture check every input it refuses."""
        return self.disagreement is None

    @property
    def agreement(self) -> float:
        return self.agreeing / self.total if self.total else 1.0

    @property
    def disagreement(self) -> str | None:
        """The first disagreement in words (None when there is none).  A mixture on an input
        the interpreter rejects is no disagreement: there is nothing to agree with."""
        if self.mismatches:
            first = self.mismatches[0]
            return (
                f"on input {first['input']!r} the model differs from the interpreter at positions "
                f"{first['positions']}: expected {first['expected']!r}, got {first['got']!r} "
                f"({len(self.mismatches)} of {self.total} inputs differ)"
            )
        if self.unrefused:
            first = self.unrefused[0]
            return (
                f"on input {first['input']!r}, which the interpreter refuses ({first['error']}), the model "
                f"reports no mixture and gives {first['got']!r} ({len(self.unrefused)} such inputs)"
            )
        rejected = [error["input"] for error in self.interpreter_errors]
        mixtures = [mixture for mixture in self.mixtures if mixture["input"] not in rejected]
        if mixtures:
            first = mixtures[0]
            return f"on input {first['input']!r} at position {first['position']} {first['reason']}"
        return None


#: The most attention cells (inputs x positions^2) one batch of a verification runs at once:
#: short inputs go in one batch (one XLA compilation for a whole check), long ones a few at a
#: time, so that memory stays bounded whatever the lengths.
BATCH_CELLS = 1 << 22


def verify(
    model: Transformer, sop: ir.SOp, inputs: Iterable[Sequence[Any]], host: bool = False
) -> Verification:
    """Runs the model and the interpreter (causally for a causal model) on every input.
    Inputs on which the interpreter fails are listed, not counted, and the model must refuse
    them too: one where it reports no mixture is `unrefused`, a disagreement.  Positions where a
    categorical aggregate averaged several values are reported as mixtures: there the model's
    output is not a value and must not be trusted.  With `host` the model runs in numpy
    (`Transformer.residual`), which spares a new model its XLA compilation."""
    result = Verification()
    pending = [list(tokens) for tokens in inputs]
    runs: dict[int, tuple[list[Any], list[tuple[int, str]]]] = {}
    for batch in _batches(pending, same_length=host):
        outputs, mixtures = model.run([pending[i] for i in batch], host=host)
        runs.update(zip(batch, zip(outputs, mixtures)))
    for i, tokens in enumerate(pending):
        got, mixed = runs[i]
        for position, mixture in mixed:
            result.mixtures.append(
                {"input": tokens, "position": position, "node": mixture.node, "reason": mixture.explain()}
            )
        try:
            expected = evaluate(sop, tokens, causal=model.causal)
        except RaspError as error:
            result.interpreter_errors.append({"input": tokens, "error": str(error)})
            if not mixed:
                result.unrefused.append({"input": tokens, "error": str(error), "got": got})
            continue
        result.total += 1
        wrong = [i for i, (e, g) in enumerate(zip(expected, got)) if not same_value(e, g)]
        if wrong:
            result.mismatches.append({"input": tokens, "positions": wrong, "expected": expected, "got": got})
        else:
            result.agreeing += 1
    return result


def _batches(inputs: list[list[Any]], same_length: bool = False) -> list[list[int]]:
    """The inputs' indices in batches of BATCH_CELLS attention cells at most, shortest first;
    with `same_length`, each batch of one length (no padding: numpy runs, which compile
    nothing, cost what they compute)."""
    batches: list[list[int]] = []
    for i in sorted(range(len(inputs)), key=lambda i: len(inputs[i])):
        positions = len(inputs[i]) + 1
        fits = batches and (len(batches[-1]) + 1) * positions * positions <= BATCH_CELLS
        if fits and (not same_length or len(inputs[batches[-1][0]]) == len(inputs[i])):
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


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


def check(model: Transformer, sop: ir.SOp, count: int = DEFAULT_CHECK, seed: int = 0) -> Verification:
    """Runs `model` (its weights in numpy, the arithmetic of the jitted pass without its XLA
    compilation) and the interpreter on the edge inputs and `count` random ones
    (`sample_inputs`), and raises a CheckFailed naming `sop` and the first differing input when
    they disagree anywhere.  Inputs the interpreter refuses are outside what the model is
    specified on: the report lists those the model answers without a mixture (`unrefused`),
    and nothing is raised for them (docs/compiler.md, The self-check)."""
    inputs = sample_inputs(model.vocab, model.max_seq_len, count, seed, prefixes=model.causal)
    result = verify(model, sop, inputs, host=True)
    problem = result.disagreement
    if problem is not None:
        raise CheckFailed(f"the compiled model of {sop.label} is wrong: {problem}", sop.origin)
    return result
