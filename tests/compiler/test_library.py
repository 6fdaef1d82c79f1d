"""Differential tests: Tracr's library programs, as written in RASP under programs/lib/ (the
catalogue's comparison with Tracr, `rasp.programs.tracr_programs`, which `benchmarks/compile.py`
also reads), compiled and run against the interpreter on inputs over their vocabularies.
`tests/lib/test_library_compiled.py` checks every library program against plain Python
references as well."""

from __future__ import annotations

from functools import cache

import pytest
from compiler_helpers import assert_agrees, compiled

from rasp import ir
from rasp.programs import library_program, tracr_programs

LENGTHS = (1, 5, 12)
LIBRARY = tracr_programs()


@cache
def program_of(name: str) -> ir.SOp:
    """The output s-op of the programs/lib file doing Tracr's program `name`."""
    return library_program(LIBRARY[name].program.name)


@pytest.mark.parametrize(
    "max_seq_len", [pytest.param(n, marks=[pytest.mark.slow] if n == LENGTHS[-1] else []) for n in LENGTHS]
)
@pytest.mark.parametrize("name", sorted(LIBRARY))
def test_library_program_matches_interpreter(name: str, max_seq_len: int) -> None:
    entry = LIBRARY[name]
    model = compiled(program_of(name), entry.vocab(max_seq_len), max_seq_len)
    inputs = entry.sample(max_seq_len, 14, seed=max_seq_len)
    if entry.program.inputs != "distinct":
        inputs.append([entry.vocab(max_seq_len)[0]] * max_seq_len)  # the longest input, all tokens equal
    assert_agrees(model, program_of(name), inputs)


def test_shuffle_dyck_recognises_balanced_and_unbalanced_inputs() -> None:
    entry = LIBRARY["shuffle_dyck2"]
    model = compiled(program_of("shuffle_dyck2"), entry.vocab(8), 8)
    assert model("({)}") == [True] * 4
    assert model("(}{)") == [False] * 4
    assert model(")(") == [False] * 2
    assert model("{(") == [False] * 2


def test_or_of_a_stable_sort_is_split_into_disjoint_heads() -> None:
    """programs/lib/sort.rasp's `select(k, k, <) or (select(k, k, <=) and select(indices, indices,
    <))` needs no joint (key, index) s-op: its width is counted by one head per disjoint piece,
    over the token and position one-hots."""
    entry = LIBRARY["sort"]
    model = compiled(program_of("sort"), entry.vocab(12), 12)
    assert not [label for label in model.labels if label.startswith("(")]  # no joint s-op's dimensions
    assert model.summary()["heads"] == 3  # two pieces of the place, and the move
    assert model.summary()["residual_width"] < 12 * len(entry.vocab(12))
