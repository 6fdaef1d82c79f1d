"""`load` as the original REPL does it: the names a load brings in are listed in the original's
format (one line each, without examples, at the last binding of each name), and a statement
that fails inside a loaded file is reported with the file's name and line and skipped.

The transcripts below are written for this project by hand from the original's display rules;
each file is loaded from a temporary working folder, as `load "name";` at the console reads it."""

from __future__ import annotations

from pathlib import Path

import pytest

import rasp
from rasp.repl import Repl
from rasp_toolkit import cli

EVERY_KIND = """\
depth = 3;
word = "abc";
letters = ["a", "b"];
table = {"x": 1, "y": 2};
_hidden = 5;
flip = select(indices, length - indices - 1, ==);
backwards = aggregate(flip, tokens);
pieces = {"rev": backwards, "same": flip};
def dyckk_ptf(paren_pairs) {
    return len(paren_pairs) + _hidden;
}
depth = depth + 1;
indices + 1;
backwards("ab");
"""


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def feed(repl: Repl, text: str) -> list[str]:
    return [line for entry in text.splitlines() for line in repl.feed(entry)]


def test_a_load_lists_every_kind_of_name_once_at_its_last_binding(folder: Path) -> None:
    (folder / "paper_examples.rasp").write_text(EVERY_KIND)
    repl = Repl()
    assert feed(repl, 'load "paper_examples";') == [
        '    value: word =  "abc"',
        "     list: letters = ['a', 'b']",
        "     dict: table = {'x': 1, 'y': 2}",
        "     selector: flip",
        "     s-op: backwards",
        "     dict: pieces =  {",
        '\t\t\t "rev" :     s-op: backwards',
        '\t\t\t "same" :     selector: flip',
        " " * 20 + "}",
        "     paper_examples function: dyckk_ptf(paren_pairs)",
        "    value: depth =  4",
    ]
    # examples were off only for the listing
    assert feed(repl, "n = dyckk_ptf([1, 2]);\nm = backwards;") == [
        "    value: n =  7",
        "     s-op: m",
        ' \t Example: m("hello") = [o, l, l, e, h] (strings)',
    ]
    assert "_hidden" not in repl.session and "out" not in repl.session.user_names()


def test_a_failing_statement_in_the_middle_is_reported_and_skipped(folder: Path) -> None:
    (folder / "middle.rasp").write_text("first = 1;\nsecond = missing + 1;\nthird = (2 + ;\nfourth = first + 3;\n")
    repl = Repl()
    out = feed(repl, 'load "middle";')
    heads = [line for line in out if not line.startswith("\t   ")]
    assert heads == [
        "    value: first =  1",
        "\t!! middle.rasp:2:10: RaspNameError: Undefined variable: missing",
        "\t!! middle.rasp:3:14: RaspSyntaxError: unexpected ';'; expected an expression "
        "(a name, number, string, list, or one of '(', '+', '-', '[', 'aggregate(', 'len(', ...)",
        "    value: fourth =  4",
    ]
    assert "\t       second = missing + 1;" in out  # the failing line itself, with a caret under it
    session = repl.session
    assert (session["first"], session["fourth"]) == (1, 4)
    assert "second" not in session and "third" not in session


def test_nested_loads_report_in_source_order_and_see_neither_loader(folder: Path) -> None:
    (folder / "outer.rasp").write_text(
        "m = n;\nm = 1;\nload \"inner\";\nk = j;\nl = _p;\n_q = 2;\nr = _q;\n"
    )
    (folder / "inner.rasp").write_text("i = n;\nj = 5;\n_p = 6;\n_s = m;\n")
    repl = Repl()
    out = feed(repl, 'n = 10;\nload "outer";')
    outer, inner = "outer.rasp", "inner.rasp"  # found from the console: relative to the working folder
    assert [line for line in out if not line.startswith("\t   ")] == [
        "    value: n =  10",
        f"\t!! {outer}:1:5: RaspNameError: Undefined variable: n",
        "    value: m =  1",
        f"\t!! {inner}:1:5: RaspNameError: Undefined variable: n",
        "    value: j =  5",
        f"\t!! {inner}:4:6: RaspNameError: Undefined variable: m",
        "    value: k =  5",
        f"\t!! {outer}:5:5: RaspNameError: Undefined variable: _p",
        "    value: r =  2",
    ]
    session = repl.session
    assert [session[name] for name in "mjkr"] == [1, 5, 5, 2]
    assert not any(name in session for name in ("i", "l", "_p", "_q", "_s"))


def test_results_of_a_load_in_the_python_api(folder: Path) -> None:
    (folder / "lib.rasp").write_text("a = 1;\nb = nothing;\nc = indices;\n")
    results = rasp.Session().run('load "lib";')
    assert [(r.kind, r.name) for r in results] == [("loaded", "a"), ("error", None), ("loaded", "c")]
    error = results[1].value
    assert isinstance(error, rasp.RaspNameError) and (error.file, error.line) == (str(folder / "lib.rasp"), 2)


def test_strict_loads_raise_the_first_error_after_exporting_what_came_before(folder: Path) -> None:
    (folder / "lib.rasp").write_text("a = 1;\nb = (;\nc = 2;\n")
    session = rasp.Session(strict_loads=True)
    with pytest.raises(rasp.RaspSyntaxError) as caught:
        session.run('load "lib";')
    assert caught.value.line == 2 and "c" not in session
    (folder / "lib.rasp").write_text("a = 1;\nb = nothing;\nc = 2;\n")
    with pytest.raises(rasp.RaspNameError):
        session.run('load "lib";')
    assert session["a"] == 1 and "c" not in session


def test_a_name_the_console_reserves_is_refused_at_its_line(folder: Path) -> None:
    (folder / "lib.rasp").write_text("ok = 2;\nsort = 1;\nlater = sort + ok;\n")
    out = feed(Repl(), 'load "lib";')
    assert out[0] == "    value: ok =  2"
    assert out[1] == "\t!! lib.rasp:2:1: RaspNameError: Cannot set reserved name: sort"
    assert out[-1] == "    value: later =  3"  # inside the file, its own `sort` shadows the library's
    with pytest.raises(rasp.RaspNameError, match="reserved name: sort"):
        rasp.Session(strict_loads=True).run('load "lib";')


def test_endless_recursion_in_a_loaded_file_is_one_skipped_statement(folder: Path) -> None:
    (folder / "lib.rasp").write_text("def f(n) {\n  return f(n + 1);\n}\nx = f(1);\ny = 2;\n")
    results = rasp.Session().run('load "lib";')
    assert [(r.kind, r.name) for r in results] == [("loaded", "f"), ("error", None), ("loaded", "y")]
    assert results[1].value.line == 4 and "recursion" in results[1].value.message


def test_rasp_run_lists_loads_only_when_asked(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (folder / "lib.rasp").write_text("shifted = indices + 1;\nbroken = nothing;\n")
    (folder / "main.rasp").write_text('load "lib";\nboth = shifted * 2;\n')
    assert cli.main(["run", "main.rasp", "--input", "ab"]) == 0
    quiet = capsys.readouterr()
    assert quiet.out == "input: 'ab'\nshifted = [1, 2] (ints)\nboth = [2, 4] (ints)\n"
    assert quiet.err.startswith("skipped: lib.rasp:2:10: RaspNameError: Undefined variable: nothing")
    assert cli.main(["run", "main.rasp", "both", "--input", "ab", "--show-loads"]) == 0
    assert capsys.readouterr().out == "     s-op: shifted\ninput: 'ab'\nboth = [2, 4] (ints)\n"
    assert cli.main(["run", "main.rasp", "--strict-loads"]) == cli.USER_ERROR
    assert "Undefined variable: nothing" in capsys.readouterr().err


def test_files_given_to_the_repl_still_report_what_their_loads_skipped(folder: Path) -> None:
    (folder / "lib.rasp").write_text("a = nothing;\nb = 1;\n")
    (folder / "main.rasp").write_text('load "lib.rasp";\nc = b + 1;\n')
    repl = Repl()
    out = repl.load_files(["main.rasp"])
    assert out[0] == "\t!! lib.rasp:1:5: RaspNameError: Undefined variable: nothing"
    assert not any("value:" in line for line in out)  # the file's own names stay quiet
    assert repl.session["c"] == 2
