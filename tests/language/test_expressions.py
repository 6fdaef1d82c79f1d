"""Every expression form and the original's precedence, checked on values worked out by hand."""

from __future__ import annotations

import pytest

import rasp


def value_of(source: str, name: str = "x") -> object:
    session = rasp.Session()
    session.run(source)
    return session[name]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("2 ^ 3 ^ 2", 64),  # ^ is left-associative
        ("-2 ^ 2", 4),  # unary minus binds tighter than ^
        ("10 - 4 - 3", 3),
        ("7 / 2", 3.5),
        ("4 / 2", 2.0),
        ("7 % 3 * 2", 1),  # % is looser than *: 7 % (3 * 2)
        ("2 * 7 % 4", 2),  # (2 * 7) % 4
        ("-7 % 3", 2),
        ("1 + 2 == 3", True),
        ("not 1 == 2", False),  # (not 1) == 2 -> False == 2
        ("1 < 2 < 3", True),  # (1 < 2) < 3 -> True < 3
        ("0 or 5 and 0", 0),  # (0 or 5) and 0
        ("0 and 5", 0),
        ('"" or "x"', "x"),
        ("1 if 0 else 2 if 1 else 3", 2),  # (1 if 0 else 2) if 1 else 3
        ("3 in [1, 2, 3]", True),
        ("1 + 1 in [2]", True),  # in is loosest
        ("round(2.5)", 2),
        ("round(3.5)", 4),
        ("--1", 1),
        ("+3", 3),
        ("1.5 * 2", 3.0),
        ('"ab" + "c"', "abc"),
        ("[1, 2][1]", 2),
        ("[1, 2][-1]", 2),
        ('{"a": 1, "b": 2}["b"]', 2),
        ("len([1, 2, 3])", 3),
        ("range(3)", [0, 1, 2]),
        ("range(1, 4)", [1, 2, 3]),
        ("range(9, 0, -3)", [9, 6, 3]),
        ('zip([1, 2], ["a", "b"])', [[1, "a"], [2, "b"]]),
        ("[i * 2 for i in range(3)]", [0, 2, 4]),
        ("[a + b for a, b in zip([1, 2], [10, 20])]", [11, 22]),
        ('{k: v for k, v in zip(["a"], [1])}', {"a": 1}),
        ("[k for k in {1: 2, 3: 4}]", [1, 3]),
        ("[]", []),
        ("{}", {}),
        ("(1 + 2) * 3", 9),
        ("True and False", False),
    ],
)
def test_atom_expressions(expression: str, expected: object) -> None:
    got = value_of(f"x = {expression};")
    assert got == expected
    assert type(got) is type(expected)


@pytest.mark.parametrize(
    ("expression", "example", "expected"),
    [
        ("indices + 1", "abc", [1, 2, 3]),
        ("1 - indices", "abc", [1, 0, -1]),
        ("indices * indices", "abcd", [0, 1, 4, 9]),
        ("indices / 2", "abc", [0.0, 0.5, 1.0]),
        ("2 ^ indices", "abc", [1, 2, 4]),
        ("indices % 2", "abcd", [0, 1, 0, 1]),
        ("-indices", "ab", [0, -1]),
        ("length - indices - 1", "abc", [2, 1, 0]),
        ('tokens == "l"', "hello", [False, False, True, True, False]),
        ("indices < 2", "abcd", [True, True, False, False]),
        ('tokens + "!"', "ab", ["a!", "b!"]),
        ("indices > 0 and indices < 3", "abcd", [False, True, True, False]),
        ("indices or 0", "abc", [False, True, True]),
        ("not (indices == 1)", "abc", [True, False, True]),
        ("round(indices / 2)", "abcd", [0, 0, 1, 2]),  # banker's rounding: round(0.5) = 0
        ("indicator(indices == 1)", "abc", [0, 1, 0]),
        ('"a" if indices == 0 else "b"', "abc", ["a", "b", "b"]),
        ('tokens in ["a", "c"]', "abcd", [True, False, True, False]),
        ('"c" in tokens', "abc", [True, True, True]),
        ('"z" in tokens', "abc", [False, False, False]),
        ('["x", "y", "z"][indices]', "abc", ["x", "y", "z"]),
        ('{"a": 1, "b": 2}[tokens]', "aba", [1, 2, 1]),
        ("tokens[1]", "abc", ["b", "b", "b"]),
        ("tokens[-1]", "abc", ["c", "c", "c"]),
        ("tokens[7]", "abc", [0, 0, 0]),
        ("length", "abcde", [5] * 5),
        ("indices", "abc", [0, 1, 2]),
    ],
)
def test_sop_expressions(expression: str, example: str, expected: list) -> None:
    assert value_of(f'set example "{example}"\nx = {expression};')(example) == expected


def test_token_kinds() -> None:
    session = rasp.Session()
    assert session["tokens_int"]("123") == [1, 2, 3]
    assert session["tokens_float"]([1, 2]) == [1.0, 2.0]
    assert session["tokens_bool"]([0, 1, "0"]) == [False, True, True]
    assert session["tokens_str"]([1, True]) == ["1", "True"]
    assert session["tokens_asis"]([1, 2]) == [1, 2]
    assert session["tokens"]("ab") == ["a", "b"]


def test_selector_algebra() -> None:
    session = rasp.Session()
    session.run(
        """
        before = select(indices, indices, <);
        same = select(tokens, tokens, ==);
        both = before and same;
        either = before or same;
        neither = not either;
        differs = select(tokens, tokens, !=);
        """
    )
    example = "aba"
    before = [[j < i for j in range(3)] for i in range(3)]
    same = [[example[j] == example[i] for j in range(3)] for i in range(3)]
    assert session["before"](example) == before
    assert session["both"](example) == [[b and s for b, s in zip(rb, rs)] for rb, rs in zip(before, same)]
    assert session["either"](example) == [[b or s for b, s in zip(rb, rs)] for rb, rs in zip(before, same)]
    assert session["neither"](example) == [[not (b or s) for b, s in zip(rb, rs)] for rb, rs in zip(before, same)]
    assert session["differs"](example) == [[not v for v in row] for row in same]


@pytest.mark.parametrize(
    ("op", "predicate"),
    [("==", lambda k, q: k == q), ("!=", lambda k, q: k != q), ("<", lambda k, q: k < q),
     (">", lambda k, q: k > q), ("<=", lambda k, q: k <= q), (">=", lambda k, q: k >= q)],
)
def test_select_compares_key_with_query(op: str, predicate) -> None:
    session = rasp.Session()
    session.run("set example [3, 1, 2]\ntokens = tokens_int;\n" + f"s = select(tokens, indices, {op});")
    keys, queries = [3, 1, 2], [0, 1, 2]
    assert session["s"]([3, 1, 2]) == [[predicate(keys[j], queries[i]) for j in range(3)] for i in range(3)]


def test_aggregate_edge_cases() -> None:
    session = rasp.Session()
    session.run(
        """
        set example [4, 2, 6]
        tokens = tokens_int;
        none = aggregate(select(indices, indices, >) and select(indices, indices, <), tokens);
        none_default = aggregate(select(indices, -1, ==), tokens, 9);
        single = aggregate(select(indices, 0, ==), tokens);
        mean_all = aggregate(full_s, tokens);
        prefix = aggregate(select(indices, indices, <=), tokens);
        words = aggregate(select(indices, 0, ==), tokens_str);
        """
    )
    assert session["none"]([4, 2, 6]) == [0, 0, 0]
    assert session["none_default"]([4, 2, 6]) == [9, 9, 9]
    assert session["single"]([4, 2, 6]) == [4, 4, 4]
    assert session["words"]([4, 2, 6]) == ["4", "4", "4"]
    mean = session["mean_all"]([4, 2, 6])
    assert mean == [4.0, 4.0, 4.0] and all(isinstance(v, float) for v in mean)
    prefix = session["prefix"]([4, 2, 6])
    assert prefix == [4, 3.0, 4.0]
    assert isinstance(prefix[0], int) and isinstance(prefix[1], float)  # a single copy keeps its type


def test_mean_of_non_numbers_fails_when_evaluated() -> None:
    session = rasp.Session(check_examples=False)
    session.run("one = aggregate(select(indices, 0, ==), tokens);\nmean = aggregate(full_s, tokens);")
    assert session["one"]("ab") == ["a", "a"]  # a single selected string is copied
    assert session["mean"]("a") == ["a"]  # one position: nothing to average
    with pytest.raises(rasp.RaspEvaluationError, match="non-numbers"):
        session["mean"]("ab")


def test_statement_fails_when_the_running_example_fails() -> None:
    with pytest.raises(rasp.RaspEvaluationError, match="non-numbers") as caught:
        rasp.Session().run("x = 1;\nbad = aggregate(full_s, tokens);")
    assert (caught.value.line, caught.value.column) == (2, 7)


def test_bools_cannot_be_averaged_but_ints_with_bools_can() -> None:
    session = rasp.Session(check_examples=False)
    session.run("b = aggregate(full_s, indices == 1);")
    with pytest.raises(rasp.RaspEvaluationError):
        session["b"]("ab")
    session.run("mixed = aggregate(full_s, indices if indices == 0 else True);")
    assert session["mixed"]("abc") == [2 / 3] * 3  # [0, True, True] -> (0 + 1 + 1) / 3


def test_causal_evaluation_masks_future_keys() -> None:
    session = rasp.Session()
    session.run("n = selector_width(full_s);\nfirst = aggregate(select(indices, 0, ==), tokens);")
    assert session["n"]("abcd") == [4, 4, 4, 4]
    assert rasp.evaluate(session["n"], "abcd", causal=True) == [1, 2, 3, 4]
    assert rasp.evaluate(rasp.length, "abc", causal=True) == [1, 2, 3]
    assert rasp.evaluate(session["first"], "abc", causal=True) == ["a", "a", "a"]
