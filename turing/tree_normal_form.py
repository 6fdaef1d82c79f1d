"""The tree-normal-form (TNF) class of machines of a shape, as brute-force machine numbers.

Most of the `(1 + 2*S*(Q+1)) ** (Q*S)` machines that `turing.enumeration` numbers are
redundant on the blank tape: renaming the states B, C, ... or the symbols 1, 2, ... gives a
machine that runs the same way, and a table entry that the run never reaches changes nothing.
The busy-beaver community therefore enumerates only the *tree normal form*, which this module
reproduces with our halting conventions (entering `Z` halts, and so does reaching an undefined
entry), so that an exhaustive check can cover every distinct behaviour with far fewer machines.

The tree, for `Q` states, `S` symbols and a step bound `T`:

* The root is the machine with every entry undefined.  Each node is run from the blank tape
  (start state A, head on a blank) for at most `T` steps.
* A node whose run needs an undefined entry `(q, s)` to make one of its first `T` steps (the
  entry is read in configuration `C_t` with `t < T`) branches there.  One child leaves the entry
  undefined: that machine halts there, and is a leaf.  The other children define it, one per
  triple that the normal form allows:

  - write any symbol from 0 up to `m + 1` capped at `S - 1`, where `m` is the largest symbol
    that a defined entry writes (0 when none does): symbols are numbered in order of first
    use, so a new symbol is always the next one;
  - move L or R;
  - go to any *used* state (A, and every state that a defined entry enters), to the first
    unused state in the order A, B, C, ... (when one is left), or to the halting state Z:
    states are numbered in order of first use.

  Each child then runs on from the branching configuration and is treated as a node in turn.
* A node whose run enters Z, or makes `T` steps without needing an undefined entry, is a leaf.
  Reading an undefined entry in `C_T` itself does not branch: the run is over, so the machine
  is a leaf that halts exactly at the bound, as `turing.simulator.simulate` says.

The class is the set of leaves.  Every defined entry of a leaf is used by its run within `T`
steps, and every entry the run never reaches stays undefined (digit 0), so a leaf is exactly a
brute-force machine that (i) has no entry its run does not use within `T` steps and (ii) uses
states and written symbols in order of first use.  No two leaves are the same machine, since
entries are only ever added.  Unlike some busy-beaver enumerations no left/right mirror
reduction is made: both first moves are kept (a mirrored machine runs on a mirrored tape, which
the token-level checks see as different traces), and a halting entry may write either symbol
and move either way.
"""

from __future__ import annotations

from array import array

import numpy as np

from rasp.errors import UsageError
from turing.random_machines import MAX_STATES, MAX_SYMBOLS

_INT64_MAX = 2**63 - 1

CLOSURE_AFTER = 8
"""Steps a node runs past its branching point before `_closed` is asked whether it can still
meet an undefined entry: most nodes branch again within a few steps, and asking each of them at
once costs more than it saves, while a node that runs on is often closed and would otherwise
be simulated to the bound."""

CLOSURE_MIN_LEFT = 32
"""Steps that must remain after that point for the question to be asked at all: it costs about
as much as a few dozen simulated steps, and is mostly answered no (measured on 4 states and 2
symbols: asking with under 32 steps left made the bound-30 class slower, not faster)."""


def tnf_numbers(n_states: int, n_symbols: int, max_steps: int) -> np.ndarray:
    """The brute-force numbers (`turing.enumeration.machine_at`) of the shape's TNF class at
    step bound `max_steps`, as a sorted int64 array with no repeats (see the module docstring).

    The tree is walked depth first with an explicit stack, each node carrying the run's
    configuration at its branching point so that a child resumes there instead of re-running
    the shared prefix.
    """
    _check(n_states, n_symbols, max_steps)
    q_count, s_count, bound = n_states, n_symbols, max_steps
    entries = q_count * s_count
    base = 1 + 2 * s_count * (q_count + 1)
    halt = q_count  # state index of Z
    # Digit d -> (write, head delta, next state index), in entry_choices order.
    writes = [0] * base
    deltas = [0] * base
    targets = [0] * base
    for write in range(s_count):
        for move, delta in enumerate((-1, 1)):
            for target in range(q_count + 1):
                digit = 1 + (write * 2 + move) * (q_count + 1) + target
                writes[digit], deltas[digit], targets[digit] = write, delta, target
    weights = [base ** (entries - 1 - entry) for entry in range(entries)]

    found = array("q")  # 8 bytes a machine: the 4-state class has about ten million
    # A node: (table of digits, number, tape, head, state, steps, largest written symbol,
    # states used).  The tape holds 2*bound + 1 cells with the head starting in the middle, so
    # that `bound` steps can never leave it.
    root_tape = bytearray(2 * bound + 1)
    stack = [([0] * entries, 0, root_tape, bound, 0, 0, 0, 1)]
    while stack:
        table, number, tape, head, state, steps, top_symbol, used = stack.pop()
        check_at = steps + CLOSURE_AFTER
        if bound - check_at < CLOSURE_MIN_LEFT:
            check_at = -1  # too few steps left for the check to pay
        while True:
            if state == halt or steps == bound:
                found.append(number)
                break
            if steps == check_at and _closed(table, state, top_symbol, s_count, targets, halt):
                found.append(number)  # no undefined entry can ever be read: a leaf now
                break
            entry = state * s_count + tape[head]
            digit = table[entry]
            if digit:
                tape[head] = writes[digit]
                head += deltas[digit]
                state = targets[digit]
                steps += 1
                continue
            # Branch: leave the entry undefined (a leaf) or define it in normal form.
            found.append(number)
            weight = weights[entry]
            last_write = min(top_symbol + 1, s_count - 1)
            last_target = min(used, q_count - 1)
            for write in range(last_write + 1):
                for move, delta in enumerate((-1, 1)):
                    for target in (*range(last_target + 1), halt):
                        digit = 1 + (write * 2 + move) * (q_count + 1) + target
                        child_number = number + digit * weight
                        if target == halt or steps + 1 == bound:
                            found.append(child_number)  # entering Z, or the bound: a leaf now
                            continue
                        child = table.copy()
                        child[entry] = digit
                        child_tape = tape.copy()
                        child_tape[head] = write
                        stack.append(
                            (
                                child,
                                child_number,
                                child_tape,
                                head + delta,
                                target,
                                steps + 1,
                                max(top_symbol, write),
                                max(used, target + 1),
                            )
                        )
            break
    numbers = np.frombuffer(found, dtype=np.int64).copy()
    numbers.sort()
    return numbers


def _closed(table: list[int], state: int, top_symbol: int, n_symbols: int, targets: list[int], halt: int) -> bool:
    """Whether a run in `state` can never read an undefined entry of `table`, whatever its tape.

    Every cell holds a symbol up to `top_symbol` (the largest that a defined entry writes, so
    no later write exceeds it either), and the run can only be in the states that the defined
    entries lead to from `state`; if none of those (state, symbol) entries is undefined, running
    on to the bound would find nothing to branch on, so the node is a leaf now.
    """
    reachable = [state]
    for current in reachable:  # grows while it is walked
        for symbol in range(top_symbol + 1):
            digit = table[current * n_symbols + symbol]
            if not digit:
                return False
            target = targets[digit]
            if target != halt and target not in reachable:
                reachable.append(target)
    return True


def _check(n_states: int, n_symbols: int, max_steps: int) -> None:
    """Refuse a shape or bound the enumeration cannot number, before any work."""
    if not 1 <= n_states <= MAX_STATES:
        raise UsageError(f"the number of states must be in 1..{MAX_STATES}, got {n_states}")
    if not 2 <= n_symbols <= MAX_SYMBOLS:
        raise UsageError(f"the number of symbols must be in 2..{MAX_SYMBOLS}, got {n_symbols}")
    if max_steps < 0:
        raise UsageError(f"max_steps must be at least 0, got {max_steps}")
    if (1 + 2 * n_symbols * (n_states + 1)) ** (n_states * n_symbols) - 1 > _INT64_MAX:
        raise UsageError(
            f"{n_states} states and {n_symbols} symbols have machine numbers beyond int64; "
            "the TNF class is returned as an int64 array"
        )
