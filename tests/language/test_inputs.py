"""`rasp.inputs.parse_input`, the one reader of every `--input`: hand-checked cases for each rule
and round trips of token lists through the text forms the rules promise to read back."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rasp.errors import UsageError
from rasp.inputs import parse_input


@pytest.mark.parametrize(
    ("text", "vocabulary", "tokens"),
    [
        ("hello", None, "hello"),  # one token a character, as a string the interpreter takes
        ("a b  c", None, ["a", "b", "c"]),
        ("[3, 1, 2]", None, [3, 1, 2]),
        (' ["ab", 1] ', None, ["ab", 1]),
        ("", None, ""),
        ("   ", None, ""),
        (None, None, ""),
        ("bl", ["bl", "x"], ["bl"]),  # one symbol of several characters
        ("xyx", ["bl", "x", "y"], "xyx"),
        ("x\ty bl", ["bl", "x", "y"], ["x", "y", "bl"]),
        ("[()]", ["[", "]", "(", ")"], "[()]"),  # `[` is a token: no JSON
        ("a b", [" ", "a", "b"], "a b"),  # a space is a token: no splitting
        ("$ A 0 |", ["$", "|", "#", "A", "0"], ["$", "A", "0", "|"]),
    ],
)
def test_each_rule(text, vocabulary, tokens) -> None:
    assert parse_input(text, vocabulary) == tokens


@pytest.mark.parametrize("text", ["[1, 2", "[1, 2] 3", "[hello]"])
def test_a_text_that_looks_like_json_but_is_not_is_a_user_error(text: str) -> None:
    with pytest.raises(UsageError, match="--input looks like a JSON list but is not one"):
        parse_input(text)


WORDS = st.lists(st.text(alphabet="abcxyz01$|#", min_size=1, max_size=4), max_size=8)


@given(WORDS)
def test_spaced_words_read_back(words: list[str]) -> None:
    """Two or more tokens joined by spaces are those tokens (one is a word or its characters)."""
    read = parse_input(" ".join(words), set(words))
    if len(words) >= 2:
        assert read == words
    else:
        assert list(read) == [token for word in words for token in ([word] if len(word) > 1 else word)]


@given(st.lists(st.one_of(st.integers(), st.text(max_size=3), st.booleans(), st.none()), max_size=6))
def test_json_lists_read_back(atoms: list) -> None:
    assert parse_input(json.dumps(atoms)) == atoms
