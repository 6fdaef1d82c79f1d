"""The Turing Program in RASP: `programs/turing_machine.rasp` with a machine bound into it.

The program text is the same for every machine; the machine enters as plain RASP values bound
in a fresh session before the text runs (`machine_bindings` documents each name).  The result is
the s-op `next_token`, to be evaluated causally on a prefix of the machine's trace.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rasp import ir
from rasp.programs import program_path
from rasp.session import Session
from turing.compact import Step, machine_steps, step_tables, step_vocabulary
from turing.formats import COMPACT as COMPACT_FORMAT
from turing.formats import TAPE_COPY, TraceFormat
from turing.machine import Machine
from turing.tokens import END, RESERVED

PROGRAM = "turing_machine.rasp"
"""The shipped program's file name (see `rasp.programs.program_path`)."""

COMPACT_PROGRAM = "turing_compact.rasp"
"""The compact program's file name: one token per machine step (`turing.compact`)."""

OUTPUT = "next_token"
"""The s-op the program defines as its output."""


def rule_key(state: str, symbol: str) -> str:
    """How the program keys its tables: `state + " " + symbol` (names never contain spaces)."""
    return f"{state} {symbol}"


def machine_bindings(machine: Machine) -> dict[str, Any]:
    """The RASP values the program reads, by name.

    The transition dicts are total over every (state, symbol) pair: RASP evaluates a dict
    lookup at every position, and a compiler tabulates it over every value its input can take,
    so a missing key would be an error even where the result is unused.  Where the machine halts
    (a halting state, or an undefined entry) `tm_halts` says so and the other tables hold the
    step that changes nothing (same symbol, move N, same state).
    """
    write: dict[str, str] = {}
    move: dict[str, str] = {}
    next_state: dict[str, str] = {}
    halts: dict[str, bool] = {}
    for state in machine.states:
        for symbol in machine.symbols:
            key = rule_key(state, symbol)
            entry = machine.transition(state, symbol)
            halts[key] = entry is None  # halting states have no entries (Machine validates that)
            write[key], move[key], next_state[key] = entry or (symbol, "N", state)
    return {
        "tm_vocab": [*sorted(RESERVED), *machine.symbols, *machine.states],
        "tm_states": list(machine.states),
        "tm_symbols": list(machine.symbols),
        "tm_blank": machine.blank,
        "tm_start": machine.start,
        "tm_write": write,
        "tm_move": move,
        "tm_next": next_state,
        "tm_halts": halts,
    }


def compact_bindings(machine: Machine) -> dict[str, Any]:
    """The RASP values `programs/turing_compact.rasp` reads, by name (its header documents
    them).  `tm_step` is total over every (state, symbol) pair, "#" where the machine halts."""
    steps = step_vocabulary(machine_steps(machine))
    step_of: dict[str, str] = {}
    for state in machine.states:
        for symbol in machine.symbols:
            entry = machine.transition(state, symbol)
            step_of[rule_key(state, symbol)] = END if entry is None else Step(symbol, *entry).token
    return {
        "tm_vocab": [*sorted(RESERVED), *machine.symbols, *steps],
        "tm_symbols": list(machine.symbols),
        "tm_blank": machine.blank,
        "tm_start": machine.start,
        **step_tables(steps),
        "tm_step": step_of,
    }


def bound_session(bindings: Mapping[str, Any], program: str = PROGRAM) -> Session:
    """A session with `bindings` bound and the shipped program `program` run in it: the one
    way a Turing Program meets its values (a machine's, or the universal program's shape)."""
    # The running example ("hello") is no trace, so statements are not tried on it.
    session = Session(check_examples=False)
    for name, value in bindings.items():
        session.bind(name, value)
    path = program_path(program)
    session.run(path.read_text(encoding="utf-8"), str(path))
    return session


def output_sop(session: Session, program: str = PROGRAM) -> ir.SOp:
    """The s-op a Turing Program run in `session` defines as its output."""
    node = session[OUTPUT]
    assert isinstance(node, ir.SOp), f"{program} must bind {OUTPUT} to an s-op"
    return node


def program_session(machine: Machine, program: str = PROGRAM, extra: dict[str, Any] | None = None) -> Session:
    """A session with `machine` bound (and the `extra` bindings a program needs besides the
    machine's, such as the n-gram program's `tm_n`) and the Turing Program `program` run in it."""
    return bound_session({**machine_bindings(machine), **(extra or {})}, program)


def next_token_sop(machine: Machine, program: str = PROGRAM, extra: dict[str, Any] | None = None) -> ir.SOp:
    """The program's output s-op for `machine`: the next trace token at every position."""
    return output_sop(program_session(machine, program, extra), program)


@dataclass(frozen=True)
class TuringProgram:
    """Which Turing Program an engine runs: a shipped program file, how a machine is bound into
    it (`bind`: the RASP values by name), the bindings it needs besides the machine's (the
    n-gram program's `tm_n`), the trace format it writes and whether its hard models are
    compiled length-free (one size at every max_seq_len, float64 only).  Engines that run RASP take one,
    so that a new program needs no new engine."""

    file: str = PROGRAM
    extra: Mapping[str, Any] = field(default_factory=dict)
    bind: Callable[[Machine], dict[str, Any]] = machine_bindings
    trace_format: TraceFormat = TAPE_COPY
    length_free: bool = False  # compiled length-free (`compiler.compile`): hard attention only

    def bindings(self, machine: Machine) -> dict[str, Any]:
        """Every value the program reads, `machine`'s and the extra ones."""
        return {**self.bind(machine), **self.extra}

    def vocab(self, machine: Machine) -> list[str]:
        """Every token the program's trace for `machine` can hold."""
        return list(self.bind(machine)["tm_vocab"])

    def sop(self, machine: Machine) -> ir.SOp:
        """The program's output s-op bound to `machine`."""
        return output_sop(bound_session(self.bindings(machine), self.file), self.file)


POSITIONAL = TuringProgram()
"""`programs/turing_machine.rasp`, the default Turing Program."""

COMPACT = TuringProgram(COMPACT_PROGRAM, bind=compact_bindings, trace_format=COMPACT_FORMAT, length_free=True)
"""`programs/turing_compact.rasp`: one token per step (`turing.compact`); its hard models are
length-free (docs/turing.md, section 12)."""
