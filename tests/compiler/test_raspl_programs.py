"""The RASP-L programs of Zhou et al. (2023), translated from apple/ml-np-rasp into
tests/compiler/raspl_programs.rasp, give the right next token on valid inputs: the interpreter
(causal) against plain-Python references (tests/compiler/raspl_inputs.py), addition against
true addition."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from raspl_inputs import (
    END_RESPONSE,
    EQUALS_SIGN,
    PROGRAMS,
    START_PROMPT,
    addition_result,
    addition_trace,
    cases,
    mode_expected,
)

import rasp

RASPL = Path(__file__).with_name("raspl_programs.rasp")


@pytest.fixture(scope="module")
def raspl() -> rasp.Session:
    session = rasp.Session()
    session.run(RASPL.read_text(), str(RASPL))
    return session


def _wrong(session: rasp.Session, program: str, n: int, count: int, seed: int) -> list[tuple]:
    wrong = []
    for tokens, expected in cases(program, n, count, seed):
        got = session[program](tokens, causal=True)
        if any(e is not None and e != g for e, g in zip(expected, got)):
            wrong.append((tokens, expected, got))
    return wrong


@pytest.mark.parametrize("program", PROGRAMS)
def test_next_tokens_up_to_20(raspl: rasp.Session, program: str) -> None:
    assert _wrong(raspl, program, 20, 50, seed=20) == []


@pytest.mark.parametrize("program", ["add_reverse", "add_forward"])
def test_addition_carry_chains_up_to_50(raspl: rasp.Session, program: str) -> None:
    """Up to 20 tokens a trace holds one-digit summands; 50 hold six digits and carry runs."""
    assert _wrong(raspl, program, 50, 30, seed=50) == []


@pytest.mark.parametrize("reverse", [True, False])
def test_autoregressive_addition(raspl: rasp.Session, reverse: bool) -> None:
    """Generated token by token from the prompt, as examples/test_add.py does, the answer
    spells the sum."""
    program = raspl["add_reverse" if reverse else "add_forward"]
    rng = random.Random(7)
    for a, b in [(88, 842), (999, 1), (0, 0), *((rng.randrange(10**5), rng.randrange(10**5)) for _ in range(4))]:
        pad = max(len(str(a)), len(str(b))) + 1
        trace = addition_trace(a, b, pad, reverse)
        tokens = trace[: trace.index(EQUALS_SIGN) + 1]
        while tokens[-1] != END_RESPONSE and len(tokens) < len(trace) + 2:
            tokens.append(program(tokens, causal=True)[-1])
        assert tokens == trace
        assert addition_result(tokens, reverse) == a + b


def test_references() -> None:
    """The references on the sources' own examples: count.py's input and the mode tie-break."""
    assert addition_result(addition_trace(88, 842, 4, reverse=True), reverse=True) == 930
    assert addition_trace(7, 5, 2, reverse=False)[-6:] == [EQUALS_SIGN, -100, 1, -101, 2, END_RESPONSE]
    assert addition_trace(7, 5, 2, reverse=True)[0] == START_PROMPT
    assert mode_expected([0, 0, 1, 1, 1, 2]) == [0, 0, 0, 1, 1, 1]
    assert mode_expected([3, 4, 4, 3]) == [3, 4, 4, 3]


def test_count_on_the_source_example(raspl: rasp.Session) -> None:
    """count.py's own input: after its segment's END, START; inside, the successor."""
    tokens = [5, 6, -1, 0, 4, 0, 1, 2, 3, 4, -2, -1, 5, 8, 5, 6, 7, 8]
    got = raspl["count_lib"](tokens, causal=True)
    determined = {4: 0, 5: 1, 9: -2, 10: -1, 13: 5, 14: 6, 17: -2}  # not START and the number after it
    assert {i: got[i] for i in determined} == determined
