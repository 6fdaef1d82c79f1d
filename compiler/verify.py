"""Checking a compiled model against the interpreter, the specification."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from compiled_model.transformer import Transformer
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

    @property
    def ok(self) -> bool:
        return self.agreeing == self.total and not self.mixtures

    @property
    def agreement(self) -> float:
        return self.agreeing / self.total if self.total else 1.0


#: The most attention cells (inputs x positions^2) one batch of a verification runs at once:
#: short inputs go in one batch (one XLA compilation for a whole check), long ones a few at a
#: time, so that memory stays bounded whatever the lengths.
BATCH_CELLS = 1 << 22


def verify(
    model: Transformer, sop: ir.SOp, inputs: Iterable[Sequence[Any]], host: bool = False
) -> Verification:
    """Runs the model and the interpreter (causally for a causal model) on every input.
    Inputs on which the interpreter fails are listed, not counted.  Positions where a
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
        for position, node in mixed:
            result.mixtures.append({"input": tokens, "position": position, "node": node})
        try:
            expected = evaluate(sop, tokens, causal=model.causal)
        except RaspError as error:
            result.interpreter_errors.append({"input": tokens, "error": str(error)})
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
