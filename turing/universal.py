"""The universal Turing Program: `programs/universal_turing_machine.rasp` bound to a shape only.

The per-machine program (`turing.program`) binds a machine's table as RASP values, so each
machine gets its own program and, compiled, its own weights.  The universal program binds only a
`turing.shape.Shape` (the vocabulary); the machine's table comes first in the input.  The
binding is `turing.program`'s, with the shape's values instead of a machine's.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rasp import ir
from rasp.interpreter import Interpreter
from turing.formats import COMPACT, TAPE_COPY, TraceFormat
from turing.machine import Machine
from turing.program import TuringProgram, bound_session, output_sop
from turing.shape import Shape

PROGRAM = "universal_turing_machine.rasp"
"""The shipped program's file name (see `rasp.programs.program_path`)."""

COMPACT_PROGRAM = "universal_turing_compact.rasp"
"""The universal compact program's file name: one token per step (`turing.compact`)."""


def shape_bindings(shape: Shape, program: str = PROGRAM) -> dict[str, Any]:
    """The values the universal `program` reads for `shape` (the compact one reads the step
    tokens too)."""
    return shape.compact_bindings() if program == COMPACT_PROGRAM else shape.bindings()


@functools.lru_cache(maxsize=16)
def universal_sop(shape: Shape, program: str = PROGRAM) -> ir.SOp:
    """The program bound to `shape`: its output s-op, the next token at every position.  Cached:
    a shape's program is the same for every machine, which is the point."""
    return output_sop(bound_session(shape_bindings(shape, program), program), program)


def interpreter_predictions(shape: Shape, tokens: Sequence[str], program: str = PROGRAM) -> list[str]:
    """The interpreter's prediction at every position of `tokens` (causal evaluation of the whole
    input at once: teacher forcing)."""
    values = Interpreter(memory=1).evaluate(universal_sop(shape, program), list(tokens), causal=True)
    return [str(value) for value in values]


@dataclass(frozen=True)
class UniversalProgram(TuringProgram):
    """The universal program as a `TuringProgram`: `sop(machine)` is the program bound to `shape`
    (None: the smallest shape the machine fits), the same s-op for every machine of the shape.
    Its input must start with the machine's table (`turing.shape.table_tokens`)."""

    file: str = PROGRAM
    shape: Shape | None = None

    def shape_for(self, machine: Machine) -> Shape:
        """The shape `machine` runs with; ShapeError when it does not fit."""
        shape = self.shape or Shape.of(machine)
        shape.check(machine)
        return shape

    def sop(self, machine: Machine) -> ir.SOp:
        return universal_sop(self.shape_for(machine), self.file)

    def vocab(self, machine: Machine) -> list[str]:
        return list(shape_bindings(self.shape_for(machine), self.file)["tm_vocab"])


def universal_program(shape: Shape | None = None, trace_format: TraceFormat = TAPE_COPY) -> UniversalProgram:
    """The universal program that writes `trace_format`, for `shape` (None: each machine's own)."""
    if trace_format is COMPACT:
        return UniversalProgram(COMPACT_PROGRAM, shape=shape, trace_format=COMPACT)
    return UniversalProgram(PROGRAM, shape=shape)
