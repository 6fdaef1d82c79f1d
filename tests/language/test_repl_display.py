"""The REPL's transcript format, which follows the original REPL character for character."""

from __future__ import annotations

import io

import pytest

from rasp.repl import Repl, run_repl
from rasp.values import format_sequence


@pytest.mark.parametrize(
    ("values", "shown"),
    [
        ([1, 2, 3], "[1, 2, 3] (ints)"),
        ([5, 5, 5], "[5]*3 (ints)"),
        ([5], "[5] (ints)"),
        ([1, 1.5, 2.0], "[1, 1.5, 2.0] (floats)"),
        ([1 / 3, 2 / 3], "[0.333, 0.667] (floats)"),
        ([True, False], "[T, F] (bools)"),
        ([True, True], "[T]*2 (bools)"),
        (["a", "b"], "[a, b] (strings)"),
        ([1, True], "[1]*2 (ints)"),  # compression uses Python equality, and True == 1
        ([1, True, 2], "[1, T, 2] (ints)"),
        ([1, 1.0], "[1]*2 (floats)"),
        ([-1, 2.5, 3], "[-1, 2.5, 3] (floats)"),
    ],
)
def test_sequence_format(values: list, shown: str) -> None:
    assert format_sequence(values) == shown


def feed_all(repl: Repl, text: str) -> list[str]:
    out: list[str] = []
    for line in text.splitlines():
        out.extend(repl.feed(line))
    return out


def test_sop_and_value_display() -> None:
    repl = Repl()
    out = feed_all(repl, 'x = indices + 1;\nn = 3;\nw = "hi";\nl = [1, 2];')
    assert out == [
        "     s-op: x",
        ' \t Example: x("hello") = [1, 2, 3, 4, 5] (ints)',
        "    value: n =  3",
        '    value: w =  "hi"',
        "     list: l = [1, 2]",
    ]


def test_selector_display_as_a_matrix() -> None:
    repl = Repl()
    out = feed_all(repl, 'set example "aba"\ns = select(tokens, tokens, ==);')
    assert out == [
        "     selector: s",
        " \t Example:",
        " \t\t\t     a b a",
        " \t\t\t a | 1   1",
        " \t\t\t b |   1  ",
        " \t\t\t a | 1   1",
    ]


def test_multi_line_statements_wait_for_the_end() -> None:
    repl = Repl()
    assert repl.feed("def f(x) {") == []
    assert repl.prompt == ".. "
    assert repl.feed("  return x + 1;") == []
    out = repl.feed("}")
    assert out == ["     stdlib function: f(x)".replace("stdlib", "console")]
    assert repl.prompt == ">> "
    assert feed_all(repl, "y = f(1);") == ["    value: y =  2"]


def test_application_and_examples_commands() -> None:
    repl = Repl()
    out = feed_all(repl, 'h = selector_width(select(tokens, tokens, ==));\nh("aab");\nshow example')
    assert out[-3:] == ["\t =  [2, 2, 1] (ints)", '\ts-op example: "hello"', '\tselector example: "hello"']
    out = feed_all(repl, "examples off\nz = indices;")
    assert out == ["     s-op: z"]


def test_identical_values_skip_the_full_display() -> None:
    repl = Repl()
    out = feed_all(repl, "full seq display on\nk = indices * 0;")
    assert out[-1] == ' \t Example: k("hello") = [0]*5 (ints) [skipped full display: identical values]'


def test_applied_sequences_in_the_full_display() -> None:
    repl = Repl()
    out = feed_all(repl, 'full seq display on\n(indices * 0)("abc");\n(indices * 2)("abc");')
    assert out == [
        "\t =   [0]*3 (ints) [skipped full display: identical values]",
        "\t = ",
        " \t\tinput:   a b c \t (strings)",
        " \t\toutput:  0 2 4 \t (ints)",
    ]


def test_applied_values_can_be_assigned() -> None:
    repl = Repl()
    assert feed_all(repl, 'x = indices("ab");') == ["    value: x =  [0, 1] (ints)"]


def test_names_starting_with_keywords_are_names() -> None:
    repl = Repl()
    assert feed_all(repl, "exitcode = 5;\nselector_count = 2;\nonly = 1;") == [
        "    value: exitcode =  5", "    value: selector_count =  2", "    value: only =  1"]


def test_full_sequence_display() -> None:
    repl = Repl()
    out = feed_all(repl, 'set example "abc"\nfull seq display on\nq = indices == 0;')
    assert out == [  # only the rarer bool value is shown
        "     s-op: q",
        " \t Example:",  # the original names the example only on the one-line (identical values) form
        " \t\tinput:   a b c \t (strings)",
        " \t\toutput:  T     \t (bools)",
    ]


def test_errors_are_reported_and_the_repl_goes_on() -> None:
    repl = Repl()
    out = feed_all(repl, "y = nothing;\nz = 2;")
    assert out[0].startswith("\t!! <console>:1:5: RaspNameError: Undefined variable: nothing")
    assert out[-1] == "    value: z =  2"


def test_run_repl_reads_until_exit() -> None:
    stdout = io.StringIO()
    assert run_repl(stdin=io.StringIO("a = 1;\nexit\nb = 2;\n"), stdout=stdout) == 0
    text = stdout.getvalue()
    assert "    value: a =  1" in text and "value: b" not in text


def test_library_functions_show_the_original_signatures() -> None:
    repl = Repl()
    assert feed_all(repl, "average;\nshift;") == [
        "     stdlib function: average(a)",
        "     stdlib function: shift(seq, n, filler)",
    ]
