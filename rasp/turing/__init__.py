"""Turing machines for the Turing Program demonstration (DESIGN.md section 4).

Exported here, and independent of all RASP-language code: the machine model and its text forms,
the reference simulator that defines the truth, random machines for testing, and the trace
format that RASP programs are checked against.  The modules that run the RASP program
(`program`, `runner`, `compiled`, `cli`) build on these and are imported from their modules.
"""

from rasp.turing.machine import MOVES, Machine, MachineSpecError, Transition, load_machine
from rasp.turing.random_machines import random_machine, random_tape
from rasp.turing.simulator import (
    DEFAULT_MAX_STEPS,
    Configuration,
    Run,
    TapeError,
    initial_configuration,
    simulate,
    step,
)
from rasp.turing.tokens import END, SEP, START
from rasp.turing.trace import (
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
    "describe_divergence",
    "encode_trace",
    "first_divergence",
    "initial_configuration",
    "load_machine",
    "parse_trace",
    "random_machine",
    "random_tape",
    "render_trace",
    "simulate",
    "step",
    "trace_of",
]
