"""Bad programs: each gets a RaspError of the right kind at the right line and column, and the
parser, fed random text, never lets anything but a RaspError out."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rasp

S, N, T, E = rasp.RaspSyntaxError, rasp.RaspNameError, rasp.RaspTypeError, rasp.RaspEvaluationError

# (program, error class, line, column, words the message must contain)
BAD_PROGRAMS = [
    ("x = 1", S, 1, 6, "end of input"),
    ("x = 1 +;", S, 1, 8, "unexpected ';'"),
    ("x = (1 + 2;", S, 1, 11, "unexpected ';'"),
    ("s = select(indices, indices, +);", S, 1, 30, "comparison"),
    ("x = 1 != 2;", S, 1, 7, "unexpected '!='"),
    ("x = 'a';", S, 1, 5, "unexpected character"),
    ("x = 1.;", S, 1, 6, "unexpected"),
    ("def f(a) {\n  x = a;\n}", S, 3, 1, "return"),
    ("def f(a) { return a; ", S, 1, 22, "end of input"),
    ("for x in [1] { }", S, 1, 16, "unexpected '}'"),
    ("if = 3;", N, 1, 1, "reserved name: if"),
    ("x = [1, 2;", S, 1, 10, "unexpected ';'"),
    ("x = {1: };", S, 1, 9, "unexpected '}'"),
    ("x = 1;\ny = = 2;", S, 2, 5, "unexpected '='"),
    ("x = 3 $ 4;", S, 1, 7, "unexpected character"),
    ("y = nowhere;", N, 1, 5, "Undefined variable: nowhere"),
    ("x = 1;\ny = x + z;", N, 2, 9, "Undefined variable: z"),
    ("indices = 3;", N, 1, 1, "reserved name: indices"),
    ("sort = 3;", N, 1, 1, "reserved name: sort"),
    ("def f(a, b) {\n  return a;\n}\nr = f(1);", T, 4, 5, "wrong number of args for f- expected: 2, got: 1."),
    ("m = aggregate(full_s, indices, indices);", T, 1, 5, "Expected atom, got: indices"),
    ("m = aggregate(indices, indices);", T, 1, 5, "Expected selector, got: indices"),
    ("i = indicator(3);", T, 1, 5, "indicator operator expects s-op, got: 3"),
    ("a, b = 1, 2, 3;", T, 1, 1, "expected 2 values, but got: 3"),
    ("s = select(indices, indices, ==) + 1;", T, 1, 5, "Cannot apply + to selector(s)"),
    ("s = select(indices, indices, ==) and indices;", T, 1, 5, "between selector and non-selector"),
    ("x = range(1, 2, 3, 4);", T, 1, 5, "wrong number of inputs to range"),
    ('x = range("a");', T, 1, 5, "range expects all integer inputs"),
    ("x = zip([1], 2);", T, 1, 5, "2 -th element is not list"),
    ("x = len(3);", T, 1, 5, "length of non-list"),
    ("x = [1, 2][5];", E, 1, 5, "index 5 out of range for list of length 2"),
    ('v = {"a": 1}["b"];', E, 1, 5, 'index [ "b" ] not in dict.'),
    ("x = indices in 3;", T, 1, 5, "expects X to be list of atoms"),
    ('x = "a" in 3;', T, 1, 5, "expects X to be list or s-op"),
    ("for i in 3 {\n  x = i;\n}", T, 1, 1, "for loop needs to iterate over a list or dict"),
    ("x = [i for i in 5];", T, 1, 5, "list comprehension should have got a list or dict"),
    ("x = {[1]: 2};", T, 1, 5, "dictionary keys can only be atoms"),
    ("x = 1 / 0;", T, 1, 5, "division by zero"),
    ('x = 1 + "a";', T, 1, 5, "unsupported operand"),
    ("x = 3(4);", T, 1, 5, "is not a function"),
    ("x = tokens_int;", E, 1, 5, "invalid literal for int()"),
    ("x = aggregate(full_s, tokens);", E, 1, 5, "non-numbers"),
    ('x = indices + "a";', E, 1, 5, "unsupported operand"),
    ("x = tokens < 1;", E, 1, 5, "not supported between"),
    ('set example 5', T, 1, 1, "example not iterable"),
    ("for a, b in [1] {\n  x = a;\n}", T, 1, 1, "single iterator value"),
    ("x = tokens[indices];", T, 1, 5, "index into sequence has to be integer"),
    ("x = 1;\ndef g() {\n  return 1 + nothing;\n}\ny = g();", N, 3, 14, "Undefined variable: nothing"),
]


@pytest.mark.parametrize(("source", "kind", "line", "column", "words"), BAD_PROGRAMS)
def test_bad_program(source: str, kind: type, line: int, column: int, words: str) -> None:
    with pytest.raises(rasp.RaspError) as caught:
        rasp.Session().run(source, "bad.rasp")
    error = caught.value
    assert isinstance(error, kind), f"{type(error).__name__}: {error}"
    assert (error.file, error.line, error.column) == ("bad.rasp", line, column), str(error)
    assert words in error.message


def test_syntax_error_shows_the_line_with_a_caret() -> None:
    with pytest.raises(rasp.RaspSyntaxError) as caught:
        rasp.Session().run("x = 1;\ny = (2 + ;\n", "prog.rasp")
    text = str(caught.value).splitlines()
    assert text[0].startswith("prog.rasp:2:10: RaspSyntaxError:")
    assert text[1] == "    y = (2 + ;"
    assert text[2] == "    " + " " * 9 + "^"


def test_errors_in_strictly_loaded_files_name_that_file(tmp_path) -> None:
    (tmp_path / "broken.rasp").write_text("a = 1;\nb = a +;\n")
    with pytest.raises(rasp.RaspSyntaxError) as caught:
        rasp.Session(strict_loads=True).run(f'load "{tmp_path / "broken"}";')
    assert caught.value.file == str(tmp_path / "broken.rasp") and caught.value.line == 2


RASP_WORDS = ["x", "=", ";", "(", ")", "[", "]", "{", "}", ",", ":", "+", "-", "*", "/", "%", "^", "==", "<",
              ">=", "!=", "and", "or", "not", "if", "else", "in", "for", "def", "return", "select(", "aggregate(",
              "range(", "zip(", "len(", "round", "indicator", "tokens", "indices", "length", "1", "2.5", '"a"',
              "load", "set", "example", "show", "examples", "on", "off", "full seq display", "exit", "s-op",
              "selector", "True", "#", "\n", "sort", "full_s", "draw"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(RASP_WORDS), max_size=25))
def test_token_soup_only_raises_rasp_errors(words: list[str]) -> None:
    try:
        rasp.Session().run(" ".join(words))
    except rasp.RaspError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_random_text_only_raises_rasp_errors(text: str) -> None:
    try:
        rasp.Session().run(text)
    except rasp.RaspError:
        pass


def test_endless_recursion_is_a_rasp_error() -> None:
    with pytest.raises(rasp.RaspEvaluationError, match="recursion"):
        rasp.Session().run("def f(n) {\n  return f(n);\n}\nx = f(1);")


def test_errors_inside_library_functions_name_the_calling_line() -> None:
    with pytest.raises(rasp.RaspEvaluationError, match="different types") as caught:
        rasp.Session().run("x = 1;\ny = shift(tokens, 1, 0);", "prog.rasp")
    assert caught.value.file == "stdlib.rasp"
    assert caught.value.called_from == ["prog.rasp:2:5: y = shift(tokens, 1, 0);"]
    assert "called from prog.rasp:2:5" in str(caught.value)
