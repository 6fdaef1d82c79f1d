"""The compiled model's one error: a model asked to do what it cannot (run past its length,
decode without being causal, batch models of different shapes, read a damaged file).

It is not `compiler.errors.CompileError`: that error says a program cannot be compiled, and
code that treats it as "refused by the compiler" must never take a runtime condition ("the
decoder is full") for one.  Both are `rasp.errors.RaspError`s, so the command line reports
either as a user's error (exit 2) with its message and no traceback."""

from __future__ import annotations

from rasp.errors import RaspError


class ModelError(RaspError):
    """A compiled model cannot do what it was asked; the message says what and why."""


class InexactQuery(ModelError):
    """A fast pass met a categorical query that was not exactly one of the vectors its scans
    assumed (`compiled_model.fast_plan.ScanGroup`): the pass refuses rather than guess."""
