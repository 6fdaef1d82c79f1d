"""Statements: assignment forms, functions and scope, loops, load, and the REPL commands."""

from __future__ import annotations

from pathlib import Path

import pytest

import rasp


def run(source: str) -> rasp.Session:
    session = rasp.Session()
    session.run(source)
    return session


def test_assignment_forms() -> None:
    s = run("a, b = 1, 2;\nc = 3, 4;\nd, e = [5, 6];\nf, g = \"xy\";\na, b = b, a;")
    assert (s["a"], s["b"]) == (2, 1)  # the right side is evaluated before any binding
    assert s["c"] == [3, 4]
    assert (s["d"], s["e"], s["f"], s["g"]) == (5, 6, "x", "y")


def test_multiple_return_values() -> None:
    s = run("def f(x) {\n  return x + 1, x - 1;\n}\nup, down = f(indices);\nboth = f(10);")
    assert s["up"]("abc") == [1, 2, 3]
    assert s["down"]("abc") == [-1, 0, 1]
    assert s["both"] == [11, 9]


def test_functions_have_lexical_scope_and_see_later_globals() -> None:
    s = run(
        """
        k = 1;
        def add_k(x) {
            return x + k;
        }
        k = 10;
        r = add_k(5);
        def outer(x) {
            k = 100;
            def inner(y) {
                return y + k;
            }
            return inner(x);
        }
        nested = outer(1);
        after = k;
        """
    )
    assert s["r"] == 15  # names resolve when the function runs
    assert s["nested"] == 101  # inner sees outer's local k
    assert s["after"] == 10  # the body's assignment stayed local


def test_recursion_stops_through_the_lazy_conditional() -> None:
    s = run("def fib(n) {\n  return n if n < 2 else fib(n - 1) + fib(n - 2);\n}\nx = fib(15);")
    assert s["x"] == 610


def test_recursive_sop_builder() -> None:
    s = run(
        """
        def shifted_sum(seq, n) {
            return seq if n == 0 else seq + shifted_sum(shift(seq, 1, 0), n - 1);
        }
        set example [1, 2, 3]
        tokens = tokens_int;
        window = shifted_sum(tokens, 2);
        """
    )
    # window[i] = t[i] + t[i-1] + t[i-2] (0 before the start)
    assert s["window"]([1, 2, 3, 4]) == [1, 3, 6, 9]


def test_for_loops_assign_into_the_enclosing_scope() -> None:
    s = run(
        """
        acc = 0;
        for i in range(4) {
            acc = acc + i;
        }
        pairs = 0;
        for a, b in zip([1, 2], [3, 4]) {
            pairs = pairs + a * b;
        }
        keys = "";
        for key in {"x": 1, "y": 2} {
            keys = keys + key;
        }
        """
    )
    assert (s["acc"], s["i"], s["pairs"], s["keys"]) == (6, 3, 11, "xy")


def test_for_loop_builds_sops() -> None:
    s = run("total = indices;\nfor k in [1, 2, 3] {\n  total = total + k;\n}")
    assert s["total"]("ab") == [6, 7]


def test_comprehension_iterators_stay_local() -> None:
    s = run("i = 7;\nsquares = [i * i for i in range(4)];")
    assert s["squares"] == [0, 1, 4, 9]
    assert s["i"] == 7


def test_load_is_relative_to_the_loading_file_and_keeps_private_names(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "helpers.rasp").write_text("_secret = 3;\ndef plus_secret(x) {\n  return x + _secret;\n}\n")
    (tmp_path / "main.rasp").write_text('load "sub/helpers";\nvalue = plus_secret(4);\nout_of = plus_secret;\n')
    session = rasp.Session()
    session.run_file(tmp_path / "main.rasp")
    assert session["value"] == 7
    assert "_secret" not in session  # private to the loaded file
    assert "plus_secret" in session


def test_loaded_file_does_not_see_the_callers_names(tmp_path: Path) -> None:
    (tmp_path / "lib.rasp").write_text("y = caller_name + 1;\n")
    session = rasp.Session(strict_loads=True)
    with pytest.raises(rasp.RaspNameError, match="caller_name") as caught:
        session.run(f'caller_name = 1;\nload "{tmp_path / "lib"}";')
    assert caught.value.file.endswith("lib.rasp") and caught.value.line == 1


def test_load_of_a_missing_file_names_it() -> None:
    with pytest.raises(rasp.RaspError, match="could not find file: nowhere.rasp"):
        rasp.Session().run('load "nowhere";')


def test_expression_statement_binds_out() -> None:
    session = rasp.Session()
    results = session.run("indices + 1;")
    assert results[0].name == "out"
    assert session["out"]("ab") == [1, 2]


def test_repl_commands_change_the_session() -> None:
    session = rasp.Session()
    session.run("set example [1, 2]\nset selector example \"ab\"\nexamples off\ns-op examples on\nfull seq display on")
    assert session.sop_example == [1, 2] and session.selector_example == "ab"
    assert session.show_sop_examples and not session.show_selector_examples
    assert session.full_display
    shown = session.run("show example")
    assert [(r.name, r.value) for r in shown] == [("s-op", [1, 2]), ("selector", "ab")]


def test_exit_skips_the_rest_of_the_source() -> None:
    session = rasp.Session()
    session.run("a = 1;\nexit\nb = 2;")
    assert session["a"] == 1 and "b" not in session and session.exit_requested


def test_reserved_names_are_refused_only_where_reserved() -> None:
    for name in ("indices", "True", "tokens_int", "out", "sort", "length"):
        with pytest.raises(rasp.RaspNameError, match=f"reserved name: {name}"):
            rasp.Session().run(f"{name} = 1;")
    s = run("def f(x) {\n  sort = x;\n  return sort;\n}\ny = f(2);\ntokens = tokens_str;")
    assert s["y"] == 2  # library names can be shadowed inside functions; tokens is ordinary


def test_names_of_assigned_sops() -> None:
    s = run("double = indices * 2;\nalias = double;")
    assert s["double"].label == "double" and s["alias"].label == "alias"
    assert s["alias"]("abc") == [0, 2, 4]


def test_names_of_function_results_stay_short() -> None:
    # A function's s-op or selector result is named after the call.  A list or dict argument is
    # spelled out only while short, and a name longer than 30 characters becomes plain `s-op`
    # (or `sel` for a selector), as in the original.
    s = run(
        "def pick(d) {\n  return d[\"b\"] + \"!\";\n}\n"
        "def first(l) {\n  return l[0] + 1;\n}\n"
        "def pair(k, q) {\n  return select(k, q, ==);\n}\n"
        "def a_function_with_a_long_name(x) {\n  return x + 1;\n}\n"
        "start_position = indices;\n"
        "held = [pick({\"a\": indices, \"b\": tokens_str}), first([indices]), pick({\"b\": \"?\"}),\n"
        "        pair(indices, indices), a_function_with_a_long_name(indices),\n"
        "        pair(a_function_with_a_long_name(indices), indices), pair(start_position, start_position)];"
    )
    labels = [value.label if isinstance(value, rasp.ir.Node) else value for value in s["held"]]
    assert labels == ["pick((dict))", "first([indices])", "?!", "pair(indices , indices)", "s-op",
                      "pair(s-op , indices)", "sel"]


def test_repeatedly_nested_function_results_do_not_blow_up() -> None:
    # Each round passes a dict of the previous round's results to a function; names that spelled
    # out their arguments in full doubled in length every round.
    s = run(
        "def either(d) {\n  return d[\"x\"] or d[\"y\"];\n}\n"
        "d = {\"x\": tokens == \"a\", \"y\": tokens == \"b\"};\n"
        "for i in range(40) {\n  d = {\"x\": either(d), \"y\": either(d)};\n}\n"
        "rounds = [] + [d];\n"
    )
    assert len(s["d"]["x"].label) <= 30
    assert s["d"]["x"]("abc") == [True, True, False]


def test_building_a_list_of_graphs_does_not_print_them(monkeypatch: pytest.MonkeyPatch) -> None:
    # `+` on two lists is plain list concatenation; it must not describe its operands (a node's
    # repr spells out its whole graph, exponentially long for a graph with shared parts).
    def refuse(node: object) -> str:
        raise AssertionError("a graph was turned into text")

    s = run("deep = indices;\nfor i in range(3) {\n  deep = deep + deep;\n}")
    for kind in (rasp.ir.Map, rasp.ir.SequenceMap, rasp.ir.Indices):
        monkeypatch.setattr(kind, "__repr__", refuse)
    s.run("stages = [];\nstages = stages + [{\"a\": deep}];\nmore = [deep] * 2;")
    assert len(s["stages"]) == 1 and len(s["more"]) == 2


def test_a_failing_strict_load_keeps_what_the_file_bound_before_the_error(tmp_path: Path) -> None:
    (tmp_path / "partial.rasp").write_text("a = 1;\nb = missing;\nc = 2;\n")
    session = rasp.Session(strict_loads=True)
    with pytest.raises(rasp.RaspNameError, match="missing"):
        session.run(f'load "{tmp_path / "partial"}";')
    assert session["a"] == 1 and "c" not in session


def test_sops_inside_lists_and_dicts_are_tried_on_the_running_example() -> None:
    for source in ("l = [indices, tokens_int];", 'd = {"a": tokens_int};', "n = [[tokens_int]];"):
        with pytest.raises(rasp.RaspEvaluationError, match="invalid literal"):
            rasp.Session().run(source)
    session = run("set example [1, 2]\nd = {\"a\": tokens_int};")
    assert session["d"]["a"]([3, 4]) == [3, 4]
