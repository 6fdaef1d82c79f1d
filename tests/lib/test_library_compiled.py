"""The program library, compiled: every `programs/lib` program's transformer against the same
plain-Python references as the interpreted tests (`references.py`).

Each program is compiled for max_seq_len 8 and 16 over its test alphabet (prefix programs, marked
causal in references.py, also compiled causally) and run on generated inputs of the kind it is
meant for, including inputs of length 1 and of length max_seq_len.  Models are compiled once per
session (the `library_model` fixture of conftest.py, which test_library_exported.py shares); each
test runs one batch, so that XLA compiles each model's forward pass once.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from references import PROGRAMS, REFERENCES, check, name_of, nested_prefix, shuffled_prefix

from compiled_model.decoder import Decoder
from rasp.programs import LibraryProgram

LENGTHS = (8, 16)
CASES = [
    pytest.param(program, n, causal, marks=[pytest.mark.slow] if n != LENGTHS[0] else [])  # quick tier: length 8
    for program in PROGRAMS
    for n in LENGTHS
    for causal in ((False, True) if program.causal else (False,))
]


def case_id(case: tuple[LibraryProgram, int, bool]) -> str:
    program, n, causal = case
    return f"{program.name}-{n}" + ("-causal" if causal else "")


def sample(program: LibraryProgram, rng: random.Random, length: int) -> list[Any]:
    """One input of `length` tokens of the kind the program is meant for."""
    if program.inputs == "distinct":
        return rng.sample(program.alphabet, length)
    if program.inputs == "words" or rng.random() < 0.4:
        return [rng.choice(program.alphabet) for _ in range(length)]
    pairs = "".join(program.alphabet)
    build = nested_prefix if program.inputs == "nested" else shuffled_prefix
    return build([rng.randrange(len(pairs)) for _ in range(length)], pairs)


def balanced(program: LibraryProgram, length: int, rng: random.Random) -> list[str]:
    """A balanced bracket input of even `length`: opening brackets, then their closing ones, in
    reverse order for nested programs and in a shuffled order for shuffled ones."""
    pairs = "".join(program.alphabet)
    kinds = len(pairs) // 2
    opens = [rng.randrange(kinds) for _ in range(length // 2)]
    if program.inputs == "nested":
        return nested_prefix(opens + [kinds] * len(opens), pairs)
    closes = [kinds + kind for kind in rng.sample(opens, len(opens))]
    return shuffled_prefix(opens + closes, pairs)


def inputs(program: LibraryProgram, n: int, seed: int = 0) -> list[list[Any]]:
    """Two inputs of length 1, two of length n, eight of lengths in between; for bracket
    programs also a balanced input of length n (or n - 1)."""
    rng = random.Random(f"{program.name}-{n}-{seed}")
    lengths = [1, 1, n, n, *(rng.randint(2, n - 1) for _ in range(8))]
    batch = [sample(program, rng, length) for length in lengths]
    if program.inputs in ("nested", "shuffled"):
        batch.append(balanced(program, n - n % 2, rng))
    return batch


@pytest.mark.parametrize(("program", "n", "causal"), CASES, ids=[case_id(case.values) for case in CASES])
def test_compiled_program_matches_reference(program: LibraryProgram, n: int, causal: bool, library_model) -> None:
    model = library_model(program, n, causal)
    batch = inputs(program, n)
    assert {len(tokens) for tokens in batch} >= {1, n}
    for tokens, got in zip(batch, model.predict(batch)):
        check(program, tokens, got)
    assert model.mixtures(batch) == [[] for _ in batch]  # no categorical aggregate averaged values


@pytest.mark.parametrize("program", [p for p in PROGRAMS if p.causal], ids=name_of)
def test_incremental_decoding_matches_reference(program: LibraryProgram, library_model) -> None:
    """The causal model, decoded one token at a time with its key/value cache."""
    decoder = Decoder(library_model(program, LENGTHS[0], True))
    for tokens in inputs(program, LENGTHS[0], seed=1)[:4]:
        decoder.reset()
        check(program, tokens, decoder.extend(tokens))


@pytest.mark.parametrize("program", [p for p in PROGRAMS if p.inputs in ("nested", "shuffled")], ids=name_of)
def test_bracket_inputs_reach_every_verdict(program: LibraryProgram) -> None:
    """Guards the inputs above: they are not all rejected (a model that always says "F" or
    false would otherwise pass)."""
    for n in LENGTHS:
        verdicts = {value for tokens in inputs(program, n) for value in REFERENCES[program.name](tokens)}
        assert verdicts == ({"T", "P", "F"} if program.inputs == "nested" else {True, False}), n
