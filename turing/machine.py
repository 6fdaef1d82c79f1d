"""The Turing machine model and its two text forms (docs/turing.md).

A machine has states, tape symbols (the blank among them), a start state, a set of halting states
and a *partial* transition table `(state, read) -> Transition(write, move, next)` with `move` one
of `L`, `R`, `N`.  A missing entry halts the machine where it stands, and so does reaching a
halting state; halting states therefore have no entries of their own.

Busy-beaver notation (`Machine.from_text`), as used by the busy beaver community::

    1RB1LB_1LA1RZ

One `_`-separated group per state; the groups name the states `A`, `B`, `C`, ... in order and the
first is the start state.  Each group holds one `write move next` triple per read symbol, the
symbols being the digits `0`..`S-1` (so every group has `3*S` characters); `0` is the blank.
`---` leaves an entry undefined.  A next-state letter that has no group (`Z`, `H`, ...) is a
halting state.  Moves are `L`, `R` or `N`.

JSON form (`Machine.from_json`), for machines with named states and symbols::

    {
      "states": ["q0", "q1", "qf"],          # every state, halting ones included
      "symbols": ["_", "0", "1"],            # every tape symbol, the blank included
      "blank": "_",
      "start": "q0",
      "halting": ["qf"],                     # optional, default []
      "transitions": [                       # [state, read, write, move, next]
        ["q0", "_", "_", "L", "q1"],
        ["q1", "1", "0", "L", "q1"]
      ]
    }

No other keys are accepted, so that a misspelt key is reported instead of silently ignored.

Names may have several characters but must be non-empty, contain no whitespace (a trace is
written as space-separated tokens), differ from the trace's reserved tokens `$ | #`, and no name
may be both a state and a symbol: every trace token must mean exactly one thing.
"""

from __future__ import annotations

import json
import os
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

from turing.errors import TuringError
from turing.tokens import RESERVED

MOVES = ("L", "R", "N")
"""The head moves: left, right, none."""

_JSON_KEYS = ("states", "symbols", "blank", "start", "halting", "transitions")
_JSON_REQUIRED = ("states", "symbols", "blank", "start", "transitions")
_MAX_BB_SYMBOLS = 10  # bb notation writes each symbol as one digit


class MachineSpecError(TuringError):
    """A machine specification is malformed; the message names the offending place."""


class Transition(NamedTuple):
    """One table entry: write `write`, move the head by `move`, go to state `next`."""

    write: str
    move: str
    next: str


@dataclass(frozen=True)
class Machine:
    """A deterministic Turing machine with a partial transition table.

    The constructor validates everything, so any `Machine` that exists is well-formed and the
    simulator and trace code never need to re-check it.  `transitions` is stored read-only.
    """

    states: tuple[str, ...]
    symbols: tuple[str, ...]
    blank: str
    start: str
    halting: frozenset[str]
    transitions: Mapping[tuple[str, str], Transition] = field(hash=False)

    def __post_init__(self) -> None:
        # Normalise containers so that equal machines compare equal whatever iterables built them.
        object.__setattr__(self, "states", tuple(self.states))
        object.__setattr__(self, "symbols", tuple(self.symbols))
        object.__setattr__(self, "halting", frozenset(self.halting))
        table = {key: Transition(*entry) for key, entry in dict(self.transitions).items()}
        object.__setattr__(self, "transitions", MappingProxyType(table))
        self._validate()

    def __reduce__(self) -> tuple[Any, ...]:
        # A mappingproxy cannot be pickled; machines must still cross process boundaries.
        return (
            Machine,
            (self.states, self.symbols, self.blank, self.start, self.halting, dict(self.transitions)),
        )

    def _validate(self) -> None:
        if not self.states:
            raise MachineSpecError("a machine needs at least one state")
        if not self.symbols:
            raise MachineSpecError("a machine needs at least one tape symbol (the blank)")
        _check_names(self.states, "states", "state")
        _check_names(self.symbols, "symbols", "symbol")
        for name in self.states:
            if name in self.symbols:
                raise MachineSpecError(
                    f"{name!r} is both a state and a symbol; trace tokens must be distinct"
                )
        if self.blank not in self.symbols:
            raise MachineSpecError(f"blank {self.blank!r} is not one of the symbols {_listing(self.symbols)}")
        if self.start not in self.states:
            raise MachineSpecError(
                f"start state {self.start!r} is not one of the states {_listing(self.states)}"
            )
        for name in sorted(self.halting):
            if name not in self.states:
                raise MachineSpecError(
                    f"halting state {name!r} is not one of the states {_listing(self.states)}"
                )
        for (state, read), entry in self.transitions.items():
            _check_entry(self, state, read, entry, f"transition ({state}, {read})")

    def transition(self, state: str, symbol: str) -> Transition | None:
        """The entry for `state` reading `symbol`, or None where the machine halts."""
        return self.transitions.get((state, symbol))

    # ----------------------------------------------------------------------------- readers

    @classmethod
    def from_text(cls, text: str) -> Machine:
        """Read busy-beaver notation, e.g. `1RB1LB_1LA1RZ` (see the module docstring)."""
        source = text.strip()
        if not source:
            raise MachineSpecError("empty machine text; expected busy-beaver notation such as 1RB1LB_1LA1RZ")
        groups = source.split("_")
        if len(groups) > len(string.ascii_uppercase):
            raise MachineSpecError(f"{len(groups)} groups, but bb notation names at most 26 states A..Z")
        letters = string.ascii_uppercase[: len(groups)]
        width = len(groups[0])
        offsets = [0]
        for group in groups[:-1]:
            offsets.append(offsets[-1] + len(group) + 1)

        def fail(message: str, group: int, column: int = 0) -> MachineSpecError:
            where = f"group {group + 1} (state {letters[group]})"
            return MachineSpecError(f"{where}: {message}", 1, offsets[group] + column + 1, source_line=source)

        if width == 0 or width % 3 or width // 3 > _MAX_BB_SYMBOLS:
            raise fail(
                f"has {width} characters; expected one 3-character triple per symbol, "
                f"for 1 to {_MAX_BB_SYMBOLS} symbols",
                0,
            )
        for index, group in enumerate(groups):
            if len(group) != width:
                raise fail(
                    f"has {len(group)} characters; expected {width} like group 1 "
                    f"({width // 3} triples of write, move, next)",
                    index,
                )
        symbols = tuple(str(digit) for digit in range(width // 3))
        transitions: dict[tuple[str, str], Transition] = {}
        halting: set[str] = set()
        for index, group in enumerate(groups):
            for read in symbols:
                column = 3 * int(read)
                triple = group[column : column + 3]
                if triple == "---":
                    continue
                write, move, target = triple
                checks = (
                    ("write symbol", write, write in symbols, _listing(symbols)),
                    ("move", move, move in MOVES, _listing(MOVES)),
                    ("next state", target, target in string.ascii_uppercase, "the letters A..Z"),
                )
                for offset, (part, found, known, allowed) in enumerate(checks):
                    if not known:
                        raise fail(
                            f"triple {int(read) + 1} (read {read}) {triple!r}: {part} {found!r} "
                            f"is not one of {allowed}",
                            index,
                            column + offset,
                        )
                if target not in letters:
                    halting.add(target)
                transitions[(letters[index], read)] = Transition(write, move, target)
        return cls(
            states=tuple(letters) + tuple(sorted(halting)),
            symbols=symbols,
            blank="0",
            start="A",
            halting=frozenset(halting),
            transitions=transitions,
        )

    @classmethod
    def from_json(cls, spec: str | Mapping[str, Any]) -> Machine:
        """Read the JSON form (see the module docstring) from a JSON string or a parsed object."""
        if isinstance(spec, str):
            try:
                spec = json.loads(spec)
            except json.JSONDecodeError as error:
                raise MachineSpecError(
                    f"not valid JSON: {error.msg}", error.lineno, error.colno
                ) from None
        if not isinstance(spec, Mapping):
            raise MachineSpecError(f"a JSON machine must be an object, got {type(spec).__name__}")
        unknown = [key for key in spec if key not in _JSON_KEYS]
        if unknown:
            raise MachineSpecError(f"unknown key {unknown[0]!r}; the keys are {_listing(_JSON_KEYS)}")
        missing = [key for key in _JSON_REQUIRED if key not in spec]
        if missing:
            raise MachineSpecError(
                f"missing key {missing[0]!r}; required keys are {_listing(_JSON_REQUIRED)}"
            )
        states = _string_list(spec["states"], "states")
        symbols = _string_list(spec["symbols"], "symbols")
        halting = _string_list(spec.get("halting", []), "halting")
        blank, start = spec["blank"], spec["start"]
        for key, value in (("blank", blank), ("start", start)):
            if not isinstance(value, str):
                raise MachineSpecError(f"{key} must be a string, got {value!r}")
        rows = spec["transitions"]
        if not isinstance(rows, list):
            raise MachineSpecError(
                f"transitions must be a list of [state, read, write, move, next], got {rows!r}"
            )
        # Build with no transitions first: that validates the names, which the rows are checked against.
        bare = cls(states, symbols, blank, start, frozenset(halting), {})
        transitions: dict[tuple[str, str], Transition] = {}
        first_row: dict[tuple[str, str], int] = {}
        for index, row in enumerate(rows):
            where = f"transitions[{index}]"
            if not (isinstance(row, list) and len(row) == 5 and all(isinstance(item, str) for item in row)):
                raise MachineSpecError(
                    f"{where} must be a list of 5 strings [state, read, write, move, next], got {row!r}"
                )
            state, read, write, move, target = row
            entry = Transition(write, move, target)
            _check_entry(bare, state, read, entry, where)
            if (state, read) in first_row:
                raise MachineSpecError(
                    f"{where} defines ({state}, {read}) again; "
                    f"transitions[{first_row[state, read]}] already did"
                )
            first_row[state, read] = index
            transitions[state, read] = entry
        return cls(states, symbols, blank, start, frozenset(halting), transitions)

    # ------------------------------------------------------------------------ text forms

    def to_text(self) -> str:
        """Busy-beaver notation; raises MachineSpecError when the machine has no such form.

        Representable means: symbols `0`..`S-1` in order with blank `0`, non-halting states
        `A`, `B`, ... with start `A`, and halting states that are single letters every one of
        which some transition enters (bb notation only knows a halting state by its use).
        """
        digits = tuple(str(digit) for digit in range(len(self.symbols)))
        working = [state for state in self.states if state not in self.halting]
        letters = string.ascii_uppercase[: len(working)]
        entered = {entry.next for entry in self.transitions.values()}
        reason = None
        if self.symbols != digits or self.blank != "0" or len(digits) > _MAX_BB_SYMBOLS:
            reason = f"the symbols must be 0..S-1 (S <= {_MAX_BB_SYMBOLS}) in order with blank 0"
        elif sorted(working) != list(letters) or self.start != "A":
            reason = "the non-halting states must be A, B, C, ... with start state A"
        elif any(len(name) != 1 or name not in string.ascii_uppercase for name in self.halting):
            reason = "halting states must be single letters A..Z"
        elif not self.halting <= entered:
            reason = f"halting state(s) {_listing(sorted(self.halting - entered))} are never entered"
        if reason:
            raise MachineSpecError(f"this machine has no busy-beaver notation: {reason}")
        groups = []
        for state in letters:
            triples = []
            for read in digits:
                entry = self.transition(state, read)
                triples.append("---" if entry is None else f"{entry.write}{entry.move}{entry.next}")
            groups.append("".join(triples))
        return "_".join(groups)

    def to_json(self) -> str:
        """The JSON form, with transitions in state-then-symbol order."""
        rows = [
            [state, read, *entry]
            for state in self.states
            for read in self.symbols
            if (entry := self.transition(state, read)) is not None
        ]
        return json.dumps(
            {
                "states": list(self.states),
                "symbols": list(self.symbols),
                "blank": self.blank,
                "start": self.start,
                "halting": sorted(self.halting),
                "transitions": rows,
            }
        )


def load_machine(spec: str | os.PathLike[str]) -> Machine:
    """Read a machine from busy-beaver notation, a JSON text, or a file holding either.

    One entry point lets command-line options take any form: a path-like object, a string ending
    in `.json` or naming an existing file is read as a file; text (given or read) that starts
    with `{` is JSON, anything else busy-beaver notation.  Errors from a file name the file.
    """
    text = os.fspath(spec)
    path = None
    if isinstance(spec, os.PathLike) or text.strip().endswith(".json") or os.path.isfile(text):
        path = text
        try:
            text = Path(path).read_text(encoding="utf-8-sig")
        except OSError as error:
            raise MachineSpecError(f"cannot read machine file {path!r}: {error.strerror}") from None
    try:
        return Machine.from_json(text) if text.lstrip().startswith("{") else Machine.from_text(text)
    except MachineSpecError as error:
        if path is None:
            raise
        raise error.in_file(path) from None


# --------------------------------------------------------------------------------- helpers


def _listing(names: Iterable[str]) -> str:
    return ", ".join(str(name) for name in names)


def _check_names(names: tuple[str, ...], key: str, kind: str) -> None:
    """Every name must be a usable, unique trace token; errors name the list position."""
    first: dict[str, int] = {}
    for index, name in enumerate(names):
        where = f"{key}[{index}]"
        if not isinstance(name, str):
            raise MachineSpecError(f"{where}: a {kind} name must be a string, got {name!r}")
        if not name:
            raise MachineSpecError(f"{where}: a {kind} name must not be empty")
        if any(char.isspace() for char in name):
            raise MachineSpecError(f"{where}: {kind} name {name!r} contains whitespace; trace tokens cannot")
        if name in RESERVED:
            raise MachineSpecError(
                f"{where}: {kind} name {name!r} is reserved by the trace format "
                f"({_listing(sorted(RESERVED))})"
            )
        if name in first:
            raise MachineSpecError(
                f"{where}: {kind} {name!r} is listed twice ({key}[{first[name]}] and {where})"
            )
        first[name] = index


def _check_entry(machine: Machine, state: str, read: str, entry: Transition, where: str) -> None:
    """One table entry must use known names and a known move, and not leave a halting state."""
    checks = (
        ("state", state, machine.states),
        ("read symbol", read, machine.symbols),
        ("write symbol", entry.write, machine.symbols),
        ("move", entry.move, MOVES),
        ("next state", entry.next, machine.states),
    )
    for part, found, allowed in checks:
        if found not in allowed:
            raise MachineSpecError(f"{where}: {part} {found!r} is not one of {_listing(allowed)}")
    if state in machine.halting:
        raise MachineSpecError(f"{where}: {state!r} is a halting state, which has no transitions")


def _string_list(value: Any, key: str) -> list[str]:
    if not isinstance(value, list):
        raise MachineSpecError(f"{key} must be a list of names, got {value!r}")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise MachineSpecError(f"{key}[{index}] must be a string, got {item!r}")
    return value
