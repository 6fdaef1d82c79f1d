"""`programs/turing_machine.rasp` against the reference simulator, token for token.

The program is evaluated causally on the whole reference trace at once ("teacher forcing") and
its prediction at every position from the first `|` on is compared with the trace's next token.
That is the same check as generating autoregressively, only faster: in causal evaluation the
output at a position depends on the tokens up to it alone, so as long as every earlier
prediction was right the context the program sees is the one generation would have built.
(tests/turing/test_harness.py generates autoregressively, on fewer machines.)
"""

from __future__ import annotations

import pytest
from turing_cases import ADDITION, COPIER, HAND_WRITTEN, INCREMENT

from rasp.interpreter import Interpreter
from turing import (
    END,
    SEP,
    Machine,
    describe_divergence,
    load_machine,
    random_machine,
    random_tape,
    simulate,
    trace_of,
)
from turing.program import machine_bindings, next_token_sop, rule_key


def predicted_trace(machine: Machine, trace: list[str]) -> list[str]:
    """The prompt `$ C0 |` of `trace` followed by the program's predictions at every position
    from there on, each made with the reference trace as context.  Equals `trace` exactly when
    every prediction is right; at the step budget (no `#`) the last prediction must not be `#`.
    """
    outputs = Interpreter(memory=1).evaluate(next_token_sop(machine), trace, causal=True)
    prompt = trace.index(SEP) + 1
    predicted = trace[:prompt] + outputs[prompt - 1 : len(trace) - 1]
    if trace[-1] != END and outputs[-1] == END:
        predicted.append(END)  # claims a halt the reference does not make: a divergence at the end
    return predicted


def assert_program_matches(machine: Machine, tape: tuple[str, ...], max_steps: int) -> list[str]:
    trace = trace_of(machine, tape, max_steps)
    predicted = predicted_trace(machine, trace)
    assert predicted == trace, (
        f"machine {machine.to_json()} on tape {list(tape)}:\n{describe_divergence(trace, predicted, machine)}"
    )
    return trace


# ------------------------------------------------------------------------ random machines

MACHINES_PER_KIND = 10


@pytest.mark.parametrize("n_moves", [False, True], ids=["LR", "LRN"])
@pytest.mark.parametrize("n_symbols", [2, 3, 4])
@pytest.mark.parametrize("n_states", [2, 3, 4, 5])
def test_random_machines(n_states: int, n_symbols: int, n_moves: bool) -> None:
    """24 kinds x 10 machines: 240 machines, tapes of 0 to 5 cells, budgets of 1 to 40 steps."""
    halted = 0
    for index in range(MACHINES_PER_KIND):
        seed = 1000 * n_states + 100 * n_symbols + 10 * index + n_moves
        machine = random_machine(n_states, n_symbols, seed, halt_share=0.15, allow_n_moves=n_moves)
        tape = random_tape(machine, seed % 6, seed)
        trace = assert_program_matches(machine, tape, max_steps=1 + seed % 40)
        halted += trace[-1] == END
    assert halted < MACHINES_PER_KIND  # the budget, not only halting, ends some runs


# ---------------------------------------------------------------------- hand-written machines
# (defined in turing_cases.py, shared with the compiled engine's tests)


@pytest.mark.parametrize(("spec", "tape", "max_steps"), [case[1:] for case in HAND_WRITTEN],
                         ids=[case[0] for case in HAND_WRITTEN])
def test_hand_written_machines(spec: str, tape: str, max_steps: int) -> None:
    assert_program_matches(load_machine(spec), tuple(tape.split()), max_steps)


def test_the_hand_written_cases_cover_what_they_claim() -> None:
    """Guards the list above: its machines really halt both ways, grow both ways, and run N moves."""
    increment, copier = load_machine(INCREMENT), load_machine(COPIER)
    carried = simulate(increment, "1 1 1".split())
    assert carried.halted and carried.tape == ("1", "0", "0", "0", "_") and carried.state == "done"
    copied = simulate(copier, "1 1 1".split())
    assert copied.halted and copied.state == "A" and "".join(copied.tape).strip("0") == "1110111"
    assert simulate(load_machine(ADDITION), "one plus one".split()).tape.count("one") == 2
    never = simulate(load_machine("1LA1LA"), ("1",), max_steps=30)
    assert not never.halted and never.head == 0 and len(never.tape) == 31


def test_the_design_example() -> None:
    machine = load_machine("1RB1LB_1LA1RZ")
    design = "$ A 0 | 1 B 0 | A 1 1 | B 0 1 1 | A 0 1 1 1 | 1 B 1 1 1 | 1 1 Z 1 1 | #".split()
    assert predicted_trace(machine, design) == design


# ------------------------------------------------------------------------------ bindings


def test_bindings_are_total_and_flag_every_halt() -> None:
    machine = load_machine(COPIER)
    bindings = machine_bindings(machine)
    keys = {rule_key(state, symbol) for state in machine.states for symbol in machine.symbols}
    for table in ("tm_write", "tm_move", "tm_next", "tm_halts"):
        assert set(bindings[table]) == keys
    assert bindings["tm_halts"][rule_key("A", "0")] is True  # the copier's undefined entry
    assert bindings["tm_halts"][rule_key("A", "1")] is False
    assert (bindings["tm_write"]["B 1"], bindings["tm_move"]["B 1"], bindings["tm_next"]["B 1"]) == ("1", "R", "B")
    assert set(bindings["tm_vocab"]) == {"$", "|", "#", *machine.symbols, *machine.states}


def test_a_halting_state_halts_whatever_it_reads() -> None:
    bindings = machine_bindings(load_machine(INCREMENT))
    assert all(bindings["tm_halts"][rule_key("done", symbol)] for symbol in ("_", "0", "1"))
