"""The n-gram Turing Program (`programs/turing_ngram.rasp`) and the assumption it rests on.

Hou et al. (2024) copy the previous tape by n-gram matching, which is exact only while no tape
holds a repeated n-gram.  This module binds the program to a machine and an n, and decides
that assumption on a reference trace, so that a divergence of the program can be told apart:
one the theorem allows (the assumption failed) or a bug (it held).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rasp import ir
from rasp.errors import RaspError
from turing.machine import Machine
from turing.program import TuringProgram
from turing.tokens import END, SEP, START
from turing.trace import parse_trace

NGRAM_PROGRAM = "turing_ngram.rasp"
"""The n-gram program's file name (see `rasp.programs.program_path`)."""


def check_n(n: int) -> int:
    """`n` if it is a valid n-gram length (>= 1), else a user error."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise RaspError(f"the n-gram length n must be an integer >= 1, got {n!r}")
    return n


def ngram_program(n: int) -> TuringProgram:
    """The n-gram program for n-grams of length `n`, for any engine that runs RASP."""
    return TuringProgram(NGRAM_PROGRAM, {"tm_n": check_n(n)})


def ngram_sop(machine: Machine, n: int) -> ir.SOp:
    """The n-gram program's output s-op for `machine`: the next trace token at every position."""
    return ngram_program(n).sop(machine)


def repeated_ngram(cells: Sequence[str], n: int) -> tuple[int, int] | None:
    """The first pair of start offsets (earlier, later) of two equal runs of n cells, or None."""
    first_seen: dict[tuple[str, ...], int] = {}
    for start in range(len(cells) - n + 1):
        gram = tuple(cells[start : start + n])
        if gram in first_seen:
            return first_seen[gram], start
        first_seen[gram] = start
    return None


@dataclass(frozen=True)
class Violation:
    """Configuration `configuration` (its tape) repeats the n cells at offsets `first` and
    `second`; `position` is the trace position of the `|` that opens it."""

    configuration: int
    position: int
    first: int
    second: int


def assumption_violations(trace: Sequence[str], machine: Machine, n: int) -> list[Violation]:
    """Every configuration after the prompt whose tape has a repeated n-gram, in trace order.

    The program copies C(t+1) from Ct comparing windows of C(t+1)'s tape, so the assumption it
    needs is on the tapes it writes: C1, C2, ... (the prompt's C0 is given, not copied).  With
    none of them repeating an n-gram the program is exact (docs/turing.md section 9); `trace` is
    a well-formed trace (the reference's), possibly cut after any `|`.
    """
    check_n(n)
    closed = len(trace) - list(reversed(trace)).index(SEP) if SEP in trace else 0
    configurations, _ = parse_trace([*trace[:closed]] if closed else [START], machine)
    opens = [position for position, token in enumerate(trace[:closed]) if token in (START, SEP)]
    found = []
    for index, config in enumerate(configurations[1:], start=1):
        repeat = repeated_ngram(config.left + config.right, n)
        if repeat is not None:
            found.append(Violation(index, opens[index], *repeat))
    return found


def configuration_at(trace: Sequence[str], position: int) -> int:
    """The index of the configuration that trace position `position` belongs to (a `|` closes
    the configuration before it; `#` belongs to none and gives the last one's index + 1)."""
    opened = sum(1 for token in trace[: position + 1] if token in (START, SEP))
    return opened - 1 + (position < len(trace) and trace[position] in (SEP, END))


def assumption_note(trace: Sequence[str], machine: Machine, n: int, divergence: int | None) -> str:
    """One line on the assumption for a run whose generated trace first left `trace` (the
    reference) at `divergence` (None: it did not)."""
    violations = assumption_violations(trace, machine, n)
    if not violations:
        tail = "" if divergence is None else "; the divergence is a bug of the program"
        return f"the no-repeated-{n}-gram assumption holds on every tape of this run{tail}"
    first = violations[0]
    config = trace_config_text(trace, first.configuration)
    summary = (
        f"the no-repeated-{n}-gram assumption is first violated by C{first.configuration} "
        f"({config}: cells {first.first} and {first.second} start the same {n} cells)"
    )
    if divergence is None:
        return summary + "; the program still matched the reference"
    where = configuration_at(trace, divergence)
    violated_here = any(v.configuration == where for v in violations)
    verdict = "violated" if violated_here else "not violated"
    return summary + f"; at the divergence (writing C{where}) it is {verdict}"


def trace_config_text(trace: Sequence[str], index: int) -> str:
    """Configuration `index` of `trace` as text."""
    opens = [position for position, token in enumerate(trace) if token in (START, SEP)]
    end = opens[index + 1] if index + 1 < len(opens) else len(trace)
    return " ".join(trace[opens[index] + 1 : end])
