"""The program library (`programs/lib/`): each program against an independent Python reference.

Every program is checked on generated inputs (lengths 1..12 over its vocabulary), on a few cases
worked out by hand, through the `rasp run` command, and for the size its header claims: the
layers and heads are recomputed here from the program's dependency graph, with the counting
rules of `programs/lib/README.md`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from references import (
    BY_NAME,
    PROGRAMS,
    REFERENCES,
    check,
    name_of,
    nested_prefix,
    output_of,
    shuffled_prefix,
)

from rasp import ir
from rasp.errors import RaspError
from rasp.interpreter import IncrementalEvaluator, evaluate
from rasp.programs import LibraryProgram, library, read_program

Cli = Callable[[list[str]], int]  # the `rasp_cli` fixture (conftest.py)
MAX_LEN = 12

SETTINGS = settings(max_examples=30, derandomize=True, deadline=None)


# ------------------------------------------------------------------------------- input spaces


def inputs(program: LibraryProgram) -> st.SearchStrategy[list[Any]]:
    """Inputs of lengths 1..MAX_LEN of the kind the program is meant for (rasp.programs.LibraryProgram).
    Bracket inputs are half arbitrary words (most fail early), half built prefixes."""
    tokens = st.sampled_from(program.alphabet)
    if program.inputs == "distinct":
        return st.lists(tokens, min_size=1, max_size=MAX_LEN, unique=True)
    words = st.lists(tokens, min_size=1, max_size=MAX_LEN)
    if program.inputs == "words":
        return words
    build = {"nested": nested_prefix, "shuffled": shuffled_prefix}[program.inputs]
    pairs = "".join(program.alphabet)
    moves = st.lists(st.integers(0, len(pairs) - 1), min_size=1, max_size=MAX_LEN)
    return st.one_of(words, moves.map(lambda m: build(m, pairs)))


# ------------------------------------------------------------------------ generated inputs


def test_every_program_has_a_reference_and_every_reference_a_program() -> None:
    assert sorted(REFERENCES) == sorted(library())
    assert sorted(path.stem for path in (BY_NAME["sort"].path.parent).glob("*.rasp")) == sorted(library())


@pytest.mark.parametrize("program", PROGRAMS, ids=name_of)
def test_against_reference(program: LibraryProgram) -> None:
    node = output_of(program.name)

    @SETTINGS
    @given(inputs(program))
    def agrees(tokens: list[Any]) -> None:
        check(program, tokens, evaluate(node, tokens))

    agrees()


CAUSAL = [program for program in PROGRAMS if program.causal]


@pytest.mark.parametrize("program", CAUSAL, ids=name_of)
def test_causal_evaluation_agrees(program: LibraryProgram) -> None:
    """Prefix programs give the same values under the causal mask, and token by token."""
    node = output_of(program.name)

    @SETTINGS
    @given(inputs(program))
    def agrees(tokens: list[Any]) -> None:
        check(program, tokens, evaluate(node, tokens, causal=True))
        incremental = IncrementalEvaluator(node)
        check(program, tokens, [incremental.append(token) for token in tokens])

    agrees()


def test_causal_length_is_the_prefix_length() -> None:
    assert evaluate(output_of("length"), "hello", causal=True) == [1, 2, 3, 4, 5]


# --------------------------------------------------------------------------- worked by hand

HAND_CASES = [
    ("length", "abcd", [4, 4, 4, 4]),
    ("reverse", "hello", ["o", "l", "l", "e", "h"]),
    ("histogram", "hello", [1, 1, 2, 2, 1]),
    ("histogram", "abac", [2, 1, 2, 1]),
    ("double_histogram", "aaabbccdef", [1, 1, 1, 2, 2, 2, 2, 3, 3, 3]),
    ("double_histogram", "hello", [3, 3, 1, 1, 3]),
    ("sort_unique", [3, 1, 2], [1, 2, 3]),
    ("sort_unique", "9402", [0, 2, 4, 9]),
    ("sort", [3, 1, 3, 0], [0, 1, 3, 3]),
    ("sort", "5151", [1, 1, 5, 5]),
    ("sort_by_frequency", "2421", ["2", "2", "4", "1"]),
    ("sort_by_frequency", "abbccc", ["c", "c", "c", "b", "b", "a"]),
    ("sort_by_frequency", "hello", ["l", "l", "h", "e", "o"]),
    ("sort_by_frequency", "abab", ["a", "b", "a", "b"]),
    ("most_frequent", "hello", ["l", "h", "e", "o", "_"]),
    ("most_frequent", "abbccc", ["c", "b", "a", "_", "_", "_"]),
    ("most_frequent", "baab", ["b", "a", "_", "_"]),
    ("dyck1", "(()", ["P", "P", "P"]),
    ("dyck1", "())(", ["P", "T", "F", "F"]),
    ("dyck1", "(())()", ["P", "P", "P", "T", "P", "T"]),
    ("dyck1", ")(", ["F", "F"]),
    ("dyck2", "({})", ["P", "P", "P", "T"]),
    ("dyck2", "({)}", ["P", "P", "F", "F"]),
    ("dyck2", "(){", ["P", "T", "P"]),
    ("dyck2", "}", ["F"]),
    ("dyck2", "{()}{}", ["P", "P", "P", "T", "P", "T"]),
    ("dyck2", "(()}", ["P", "P", "P", "F"]),
    ("dyck2", "({}{)", ["P", "P", "P", "P", "F"]),
    ("frac_prevs", "xaxb", [1, 0.5, 2 / 3, 0.5]),
    ("pair_balance", "(()", [1, 1, 1 / 3]),
    ("pair_balance", "())", [1, 0, -1 / 3]),
    ("shift", "hello", ["_", "h", "e", "l", "l"]),
    ("detect_pattern", "abcabc", [False, False, True, False, False, True]),
    ("detect_pattern", "aabcc", [False, False, False, True, False]),
    ("detect_pattern", "bc", [False, False]),
    ("count", "banana", [3, 3, 3, 3, 3, 3]),
    ("count", "xyz", [0, 0, 0]),
    ("shuffle_dyck1", "(())", [True] * 4),
    ("shuffle_dyck1", "())(", [False] * 4),
    ("shuffle_dyck1", "((", [False] * 2),
    ("shuffle_dyck1", "()()", [True] * 4),
    ("shuffle_dyck2", "({)}", [True] * 4),
    ("shuffle_dyck2", "(}{)", [False] * 4),
    ("shuffle_dyck2", "{()}(", [False] * 5),
    ("shuffle_dyck2", "{{}()}", [True] * 6),
]


@pytest.mark.parametrize(("file", "tokens", "expected"), HAND_CASES)
def test_hand_checked(file: str, tokens: Any, expected: list[Any]) -> None:
    got = evaluate(output_of(file), tokens)
    assert got == pytest.approx(expected) if BY_NAME[file].numeric else got == expected


# ------------------------------------------------------------------------------------ headers


@pytest.mark.parametrize("program", PROGRAMS, ids=name_of)
def test_header_describes_the_program(program: LibraryProgram) -> None:
    """The catalogue's record of each header: the title names the file, the output is bound by
    the file and has the stated type on the hand-checked examples."""
    assert program.path.read_text(encoding="utf-8").startswith(f"# {program.name}: {program.title}")
    assert program.task and program.vocabulary
    assert program.output_type in ("ints", "bools", "strings", "numbers", "same type as the tokens")
    assert len(program.alphabet) >= 2 and program.inputs in ("words", "distinct", "nested", "shuffled")
    cases = [tokens for name, tokens, _ in HAND_CASES if name == program.name]
    assert cases, program.name
    kinds = {"ints": int, "bools": bool, "strings": str, "numbers": (int, float)}
    for tokens in cases:
        values = evaluate(output_of(program.name), tokens)
        expected = kinds.get(program.output_type) or type(list(tokens)[0])  # "same type as the tokens"
        assert all(isinstance(value, expected) for value in values), (tokens, values)


def test_a_header_without_a_field_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "half.rasp"
    path.write_text("# half: no size.\n#\n# Task:       x.\n# Vocabulary: any tokens.\nx = tokens;\n")
    with pytest.raises(RaspError, match=r"half.rasp: its header lacks the field\(s\) Output, Size, Inputs, Causal"):
        read_program(path)


def test_an_unreadable_inputs_field_is_refused(tmp_path: Path) -> None:
    text = BY_NAME["histogram"].path.read_text(encoding="utf-8").replace("words over", "any of")
    path = tmp_path / "histogram.rasp"
    path.write_text(text)
    with pytest.raises(RaspError, match="KIND over TOKENS"):
        read_program(path)


def graph_size(root: ir.Node) -> tuple[int, int]:
    """(layers, heads) by the rules of programs/lib/README.md.  Sublayers are numbered from 1:
    odd ones are attention, even ones MLPs, 0 is the embedding; a node's number is where its
    value is first available."""
    where: dict[int, int] = {}
    heads = 0

    def next_attention(after: int) -> int:
        return after + 1 if after % 2 == 0 else after + 2

    for node in ir.walk(root):
        after = max((where[child.uid] for child in node.children), default=0)
        if isinstance(node, (ir.Tokens, ir.Indices, ir.Full)):
            spot = 0
        elif isinstance(node, ir.Length):
            heads += 1
            spot = 2
        elif isinstance(node, ir.Selector):
            spot = after
        elif isinstance(node, ir.Aggregate):
            heads += 1
            spot = next_attention(after)
        elif isinstance(node, ir.SelectorWidth):
            heads += 1
            spot = next_attention(after) + 1
        elif (isinstance(node, ir.Map) and node.affine is not None) or (
            isinstance(node, ir.SequenceMap) and node.linear is not None
        ):
            spot = after
        elif isinstance(node, (ir.Map, ir.SequenceMap)):
            spot = max(2, after + after % 2)
        else:
            raise TypeError(f"unexpected node {node!r}")
        where[node.uid] = spot
    return (where[root.uid] + 1) // 2, heads


def test_graph_size_counts_by_the_rules() -> None:
    """The counter itself, on graphs whose size is plain."""
    same = ir.select(ir.tokens, ir.tokens, "==")
    assert graph_size(ir.selector_width(same)) == (1, 1)
    is_x = ir.binary("==", ir.tokens, "x")
    assert graph_size(is_x) == (1, 0)
    to_number = ir.map_sop(lambda v: 1 if v else 0, is_x)
    assert graph_size(ir.aggregate(same, to_number)) == (2, 1)
    flipped = ir.aggregate(ir.select(ir.indices, ir.length - ir.indices - 1, "=="), ir.tokens)
    assert graph_size(flipped) == (2, 2)
    moved = ir.aggregate(ir.select(ir.indices, ir.indices + 1, "=="), ir.tokens)
    assert graph_size(moved) == (1, 1)
    assert graph_size(ir.aggregate(ir.select(moved, moved, "=="), ir.indices)) == (2, 2)


@pytest.mark.parametrize("program", PROGRAMS, ids=name_of)
def test_size_in_header_matches_the_graph(program: LibraryProgram) -> None:
    assert graph_size(output_of(program.name)) == (program.layers, program.heads)


# ----------------------------------------------------------------------------- the command line


CLI_INPUTS = {
    "sort_unique": ("[12, 3, 7]", [12, 3, 7]),
    "sort": ("[4, 1, 4, 0, 1]", [4, 1, 4, 0, 1]),
    "dyck1": ("(()))(", list("(()))(")),
    "dyck2": ("{(})", list("{(})")),
    "frac_prevs": ("xxax", list("xxax")),
    "pair_balance": ("(a))", list("(a))")),
    "detect_pattern": ("xabcab", list("xabcab")),
    "shuffle_dyck1": ("(()())", list("(()())")),
    "shuffle_dyck2": ("{(})", list("{(})")),
}


@pytest.mark.parametrize("program", PROGRAMS, ids=name_of)
def test_cli_run(program: LibraryProgram, rasp_cli: Cli, capsys: pytest.CaptureFixture[str]) -> None:
    text, tokens = CLI_INPUTS.get(program.name, ("abracadabra", list("abracadabra")))
    code = rasp_cli(["run", str(program.path), program.output, "--input", text, "--json"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert list(printed["outputs"]) == [program.output]
    check(program, tokens, printed["outputs"][program.output])


def test_cli_run_prints_the_output(rasp_cli: Cli, capsys: pytest.CaptureFixture[str]) -> None:
    assert rasp_cli(["run", str(BY_NAME["reverse"].path), "--input", "hello"]) == 0
    printed = capsys.readouterr().out
    assert "input: 'hello'" in printed.splitlines()
    assert "reverse = [o, l, l, e, h] (strings)" in printed.splitlines()


def test_cli_run_causal(rasp_cli: Cli, capsys: pytest.CaptureFixture[str]) -> None:
    assert rasp_cli(["run", str(BY_NAME["length"].path), "seq_length", "--input", "abc", "--causal", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["outputs"] == {"seq_length": [1, 2, 3]}
