"""The reference simulator: plain Python, independent of all RASP code, and the truth.

Two implementations of one semantics (docs/architecture.md, docs/turing.md) live here on purpose.  `step` rewrites
a `Configuration` exactly as the design states the rules, token tuple by token tuple; it is slow
but can be read against the text.  The `record=False` path of `simulate` runs the same machine on
a mutable list tape so that millions of steps are cheap.  The tests hold the two against each
other, which is what makes the fast path trustworthy.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from turing.errors import TuringError
from turing.machine import Machine

DEFAULT_MAX_STEPS = 10_000
"""The step budget when none is given: enough for small demonstration machines."""

_DELTA = {"L": -1, "R": 1, "N": 0}


class TapeError(TuringError):
    """An input tape holds a cell that is not one of the machine's symbols."""


@dataclass(frozen=True)
class Configuration:
    """`u q v`: the tape written so far, with the state just before the scanned cell.

    `right` is never empty; `right[0]` is the scanned cell.
    """

    left: tuple[str, ...]
    state: str
    right: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.right:
            raise ValueError("a configuration needs a scanned cell: right must not be empty")

    def tokens(self) -> tuple[str, ...]:
        """The configuration as trace tokens: left cells, the state, right cells."""
        return (*self.left, self.state, *self.right)

    def __str__(self) -> str:
        return " ".join(self.tokens())


@dataclass(frozen=True)
class Run:
    """The outcome of `simulate`.

    `halted` is true when the final configuration halts (its state is a halting state or it has
    no transition), which may happen exactly at the budget; otherwise `steps` equals the budget.
    `tape` is the final configuration's cells and `head` indexes the scanned one.
    `configurations` holds C0..CT when the run was recorded, else None.
    """

    halted: bool
    steps: int
    state: str
    tape: tuple[str, ...]
    head: int
    nonblank: int
    configurations: list[Configuration] | None


def initial_configuration(machine: Machine, tape: Iterable[str] = ()) -> Configuration:
    """C0: the start state scanning the first input cell (a single blank for empty input).

    A `str` tape is read one character per cell, which suits single-character symbols.
    """
    cells = tuple(tape)
    for index, cell in enumerate(cells):
        if cell not in machine.symbols:
            raise TapeError(
                f"input cell {index} is {cell!r}, which is not one of the machine's symbols "
                f"{', '.join(machine.symbols)}"
            )
    return Configuration((), machine.start, cells or (machine.blank,))


def step(machine: Machine, config: Configuration) -> Configuration | None:
    """The successor configuration under the rules below, or None when `config` halts.

    For (q, a) -> (b, d, q') on `u q a v'`: R gives `u b q' v'` (a blank appended when v' is
    empty); L gives `u' q' c b v'` when u = u'c, and `q' blank b v'` when u is empty; N gives
    `u q' b v'`.
    """
    entry = machine.transition(config.state, config.right[0])
    if entry is None:
        return None
    rest = config.right[1:]
    if entry.move == "R":
        return Configuration((*config.left, entry.write), entry.next, rest or (machine.blank,))
    if entry.move == "L":
        if config.left:
            return Configuration(config.left[:-1], entry.next, (config.left[-1], entry.write, *rest))
        return Configuration((), entry.next, (machine.blank, entry.write, *rest))
    return Configuration(config.left, entry.next, (entry.write, *rest))


def simulate(
    machine: Machine,
    tape: Iterable[str] = (),
    max_steps: int = DEFAULT_MAX_STEPS,
    record: bool = True,
) -> Run:
    """Run `machine` on the input cells `tape` for at most `max_steps` transitions.

    A `str` tape is one cell per character; cells must be machine symbols (else TapeError).

    With `record=True` every configuration is kept (and built by `step`); with `record=False`
    only the outcome is, and the run takes constant work per step.
    """
    if max_steps < 0:
        raise ValueError(f"max_steps must be >= 0, got {max_steps}")
    if record:
        return _recorded(machine, list(configurations(machine, tape, max_steps)))
    return _simulate_fast(machine, initial_configuration(machine, tape), max_steps)


def configurations(
    machine: Machine, tape: Iterable[str] = (), max_steps: int = DEFAULT_MAX_STEPS
) -> Iterator[Configuration]:
    """C0, C1, ... of the run on `tape`, built by `step` one at a time, up to C`max_steps` or the
    one that halts: a caller that needs only a prefix (a trace cut to a token budget) stops
    early, whatever the step budget, and nothing else is kept."""
    if max_steps < 0:
        raise ValueError(f"max_steps must be >= 0, got {max_steps}")
    config: Configuration | None = initial_configuration(machine, tape)
    steps = 0
    while config is not None:
        yield config
        if steps == max_steps:
            return
        config, steps = step(machine, config), steps + 1


def _recorded(machine: Machine, recorded: list[Configuration]) -> Run:
    """The outcome of a run whose every configuration is `recorded`."""
    config = recorded[-1]
    cells = config.left + config.right
    return Run(
        halted=step(machine, config) is None,
        steps=len(recorded) - 1,
        state=config.state,
        tape=cells,
        head=len(config.left),
        nonblank=sum(cell != machine.blank for cell in cells),
        configurations=recorded,
    )


def _simulate_fast(machine: Machine, config: Configuration, max_steps: int) -> Run:
    # rows[state][read] -> (write, delta, next): two dict lookups per step and no tuple keys.
    rows: dict[str, dict[str, tuple[str, int, str]]] = {state: {} for state in machine.states}
    for (state, read), entry in machine.transitions.items():
        rows[state][read] = (entry.write, _DELTA[entry.move], entry.next)
    blank = machine.blank
    # The written tape is cells[lo:hi]; the list has spare blanks on both sides, doubled when
    # the head runs off either end, so growth is amortised constant time.
    cells = list(config.right)
    lo, hi, head = 0, len(cells), 0
    state = config.state
    steps = 0
    halted = False
    while True:
        entry = rows[state].get(cells[head])
        if entry is None:
            halted = True
            break
        if steps == max_steps:
            break
        cells[head], delta, state = entry
        head += delta
        steps += 1
        if head < lo:
            if head < 0:
                pad = len(cells)
                cells[:0] = [blank] * pad
                head, hi = head + pad, hi + pad
            lo = head
        elif head >= hi:
            if head == len(cells):
                cells.extend([blank] * len(cells))
            hi = head + 1
    written = tuple(cells[lo:hi])
    return Run(
        halted=halted,
        steps=steps,
        state=state,
        tape=written,
        head=head - lo,
        nonblank=sum(cell != blank for cell in written),
        configurations=None,
    )
