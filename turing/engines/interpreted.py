"""The `interpreter` engine: a Turing Program evaluated causally by the RASP interpreter, the
specification every compiled model is held to."""

from __future__ import annotations

from collections.abc import Sequence

from rasp import ir
from rasp.interpreter import IncrementalEvaluator, Interpreter
from turing.engines.base import Engine, TraceDecoder, register
from turing.machine import Machine
from turing.program import POSITIONAL, TuringProgram


@register
class InterpreterEngine(Engine):
    """`program` (default `programs/turing_machine.rasp`) evaluated causally by the interpreter.

    Incremental (the default): values at earlier positions are kept, so a new token costs one
    new row per node, work proportional to the context.  With `incremental=False` the whole
    context is evaluated again for every token, which costs its square; only for comparison."""

    name = "interpreter"
    options = frozenset({"program"})

    def __init__(self, program: TuringProgram = POSITIONAL, incremental: bool = True) -> None:
        self.program = program
        self.incremental = incremental

    def decoder(self, machine: Machine, capacity: int | None = None) -> TraceDecoder:
        sop = self.program.sop(machine)
        return _IncrementalDecoder(sop) if self.incremental else _FullDecoder(sop)


class _IncrementalDecoder:
    def __init__(self, sop: ir.SOp) -> None:
        self.evaluator = IncrementalEvaluator(sop)

    def extend(self, tokens: Sequence[str]) -> str:
        # str(): on a context that is no trace (after a divergence) the output may be a number.
        return str(self.evaluator.extend(tokens)[-1])


class _FullDecoder:
    def __init__(self, sop: ir.SOp) -> None:
        self.sop = sop
        self.context: list[str] = []
        self.interpreter = Interpreter(memory=1)

    def extend(self, tokens: Sequence[str]) -> str:
        self.context.extend(tokens)
        return str(self.interpreter.evaluate(self.sop, self.context, causal=True)[-1])
