"""The program library's specification: for every program of the catalogue (`rasp.programs`,
read from the `programs/lib/*.rasp` headers: output, alphabet, kind of inputs, causality), an
independent plain-Python reference, by the program's name.  Shared by the interpreted tests
(`test_library.py`) and the compiled ones (`test_library_compiled.py`), so that both hold the
programs to the same references."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest

from rasp import ir
from rasp.programs import LibraryProgram, library

FILLER = "_"


# --------------------------------------------------------------------------- reference versions


def ref_length(x: list[Any]) -> list[int]:
    return [len(x)] * len(x)


def ref_reverse(x: list[Any]) -> list[Any]:
    return [x[len(x) - 1 - i] for i in range(len(x))]


def ref_histogram(x: list[Any]) -> list[int]:
    return [sum(1 for other in x if other == token) for token in x]


def ref_double_histogram(x: list[Any]) -> list[int]:
    counts = Counter(x)
    return [len({t for t in counts if counts[t] == counts[token]}) for token in x]


def ref_sort(x: list[int]) -> list[int]:
    return sorted(x)


def ref_sort_by_frequency(x: list[Any]) -> list[Any]:
    counts = Counter(x)
    return [token for _, _, token in sorted((-counts[t], i, t) for i, t in enumerate(x))]


def ref_most_frequent(x: list[Any]) -> list[Any]:
    counts = Counter(x)
    first_seen = {}
    for i, token in enumerate(x):
        first_seen.setdefault(token, i)
    distinct = sorted(first_seen, key=lambda t: (-counts[t], first_seen[t]))
    return distinct + [FILLER] * (len(x) - len(distinct))


def _classify(prefix: list[str], pairs: dict[str, str]) -> str:
    """T/P/F for one prefix, with a stack: `pairs` maps each closing bracket to its opening one."""
    stack: list[str] = []
    for token in prefix:
        if token in pairs:
            if not stack or stack[-1] != pairs[token]:
                return "F"
            stack.pop()
        else:
            stack.append(token)
    return "P" if stack else "T"


def ref_dyck1(x: list[str]) -> list[str]:
    return [_classify(x[: i + 1], {")": "("}) for i in range(len(x))]


def ref_dyck2(x: list[str]) -> list[str]:
    return [_classify(x[: i + 1], {")": "(", "}": "{"}) for i in range(len(x))]


def _shuffle_balanced(x: list[str], pairs: str) -> bool:
    """Each kind of bracket balanced on its own (kinds may interleave: "({)}" is balanced)."""
    for opening, closing in zip(pairs[::2], pairs[1::2]):
        depth = 0
        for token in x:
            depth += (token == opening) - (token == closing)
            if depth < 0:
                return False
        if depth:
            return False
    return True


def ref_shuffle_dyck1(x: list[str]) -> list[bool]:
    return [_shuffle_balanced(x, "()")] * len(x)


def ref_shuffle_dyck2(x: list[str]) -> list[bool]:
    return [_shuffle_balanced(x, "(){}")] * len(x)


def ref_frac_prevs(x: list[str]) -> list[float]:
    return [x[: i + 1].count("x") / (i + 1) for i in range(len(x))]


def ref_pair_balance(x: list[str]) -> list[float]:
    return [(x[: i + 1].count("(") - x[: i + 1].count(")")) / (i + 1) for i in range(len(x))]


def ref_shift(x: list[Any]) -> list[Any]:
    return [FILLER] + x[:-1]


def ref_detect_pattern(x: list[str]) -> list[bool]:
    return [i >= 2 and x[i - 2 : i + 1] == ["a", "b", "c"] for i in range(len(x))]


def ref_count(x: list[str]) -> list[int]:
    return [x.count("a")] * len(x)


# ---------------------------------------------------------------------------- bracket inputs


def nested_prefix(moves: list[int], pairs: str) -> list[str]:
    """A prefix of a properly nested bracket sequence over `pairs` ("()" or "(){}"): move k
    below the number of kinds opens kind k, any other move closes the innermost open bracket
    (or opens one when none is open)."""
    kinds = len(pairs) // 2
    stack: list[int] = []
    out = []
    for move in moves:
        if move >= kinds and stack:
            out.append(pairs[2 * stack.pop() + 1])
        else:
            kind = move % kinds
            stack.append(kind)
            out.append(pairs[2 * kind])
    return out


def shuffled_prefix(moves: list[int], pairs: str) -> list[str]:
    """A bracket sequence in which no kind ever closes more than it opened, kinds interleaving
    freely ("({)}"): move k below the number of kinds opens kind k, move kinds + k closes kind k
    when one is open (else opens it)."""
    kinds = len(pairs) // 2
    depth = [0] * kinds
    out = []
    for move in moves:
        kind = move % kinds
        if move >= kinds and depth[kind]:
            depth[kind] -= 1
            out.append(pairs[2 * kind + 1])
        else:
            depth[kind] += 1
            out.append(pairs[2 * kind])
    return out


# ------------------------------------------------------------------------------ the programs

REFERENCES: dict[str, Callable[[list[Any]], list[Any]]] = {
    "length": ref_length,
    "reverse": ref_reverse,
    "histogram": ref_histogram,
    "double_histogram": ref_double_histogram,
    "sort_unique": ref_sort,
    "sort": ref_sort,
    "sort_by_frequency": ref_sort_by_frequency,
    "most_frequent": ref_most_frequent,
    "dyck1": ref_dyck1,
    "dyck2": ref_dyck2,
    "shuffle_dyck1": ref_shuffle_dyck1,
    "shuffle_dyck2": ref_shuffle_dyck2,
    "frac_prevs": ref_frac_prevs,
    "pair_balance": ref_pair_balance,
    "shift": ref_shift,
    "detect_pattern": ref_detect_pattern,
    "count": ref_count,
}

#: The catalogue's programs, by name (test ids are the names).
PROGRAMS = list(library().values())
BY_NAME = library()


def name_of(program: LibraryProgram) -> str:
    return program.name


@cache
def output_of(name: str) -> ir.SOp:
    """The output s-op of `programs/lib/<name>.rasp`."""
    return BY_NAME[name].load()


def check(program: LibraryProgram, tokens: list[Any], got: list[Any]) -> None:
    """`got` is the reference's output on `tokens`: equal values of the same types, or numbers
    within 1e-9 for programs whose outputs are fractions."""
    expected = REFERENCES[program.name](tokens)
    if program.numeric:
        assert got == pytest.approx(expected, abs=1e-9), tokens
    else:
        assert got == expected, tokens
        assert [type(v) for v in got] == [type(v) for v in expected], tokens
