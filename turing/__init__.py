"""Turing machines as the RASP toolkit runs them: the machine model and its text forms, the
reference simulator that defines the truth, random machines for testing, and the trace format
that engines are checked against.

Everything exported here is pure (numpy and the standard library; no `rasp`, no `compiler`, no
JAX).  Above it: `turing.program` and `turing.ngram` bind the RASP Turing Programs to a machine,
`turing.engines` runs them (the compiled engine through `compiler`), `turing.harness` runs and
verifies machines through any engine, and `turing.plot` draws runs (docs/architecture.md).
"""

from turing.errors import TuringError
from turing.machine import MOVES, Machine, MachineSpecError, Transition, load_machine
from turing.random_machines import random_cases, random_machine, random_tape
from turing.simulator import (
    DEFAULT_MAX_STEPS,
    Configuration,
    Run,
    TapeError,
    initial_configuration,
    simulate,
    step,
)
from turing.tokens import END, SEP, START
from turing.trace import (
    TraceError,
    describe_divergence,
    encode_trace,
    first_divergence,
    parse_trace,
    render_trace,
    trace_of,
)

__all__ = [
    "DEFAULT_MAX_STEPS",
    "END",
    "MOVES",
    "SEP",
    "START",
    "Configuration",
    "Machine",
    "MachineSpecError",
    "Run",
    "TapeError",
    "TraceError",
    "Transition",
    "TuringError",
    "describe_divergence",
    "encode_trace",
    "first_divergence",
    "initial_configuration",
    "load_machine",
    "parse_trace",
    "random_cases",
    "random_machine",
    "random_tape",
    "render_trace",
    "simulate",
    "step",
    "trace_of",
]
