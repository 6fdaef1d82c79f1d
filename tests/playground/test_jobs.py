"""The playground's jobs, called directly (no server): the page's values are the interpreter's,
errors land on their lines, the compile view's check and outputs are right, the Turing views'
runs are the reference simulator's, and the famous machines do what the literature says."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.fuzzing import generate
from rasp import Session, ir
from rasp.errors import RaspError
from rasp.interpreter import evaluate
from rasp_toolkit.playground import jobs
from rasp_toolkit.playground.famous import FAMOUS
from turing.errors import TuringError
from turing.machine import load_machine
from turing.simulator import simulate

ROOT = Path(__file__).resolve().parents[2]
SORT = (ROOT / "programs" / "lib" / "sort.rasp").read_text(encoding="utf-8")
PROGRAM = """same = select(tokens, tokens, ==);
hist = selector_width(same);
flip = select(indices, length - indices - 1, ==);
reverse = aggregate(flip, tokens);
"""


def test_values_are_the_interpreters(tmp_path: Path) -> None:
    answer = jobs.evaluate_program(PROGRAM, "hello", False, tmp_path)
    assert answer["errors"] == []
    by_name = {entry["name"]: entry for entry in answer["values"]}
    assert by_name["hist"]["values"] == [1, 1, 2, 2, 1]  # the RASP paper's histogram of "hello"
    assert by_name["reverse"]["values"] == list("olleh")
    assert by_name["flip"]["kind"] == "selector"
    assert by_name["flip"]["matrix"][0] == [False, False, False, False, True]
    assert answer["sops"] == ["hist", "reverse"] and answer["default"] == "reverse"
    assert answer["input"] == list("hello")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 9), min_size=1, max_size=20))
def test_sort_values_match_a_fresh_session(tokens: list[int]) -> None:
    """The page's `sorted` is the interpreter's on the same input, and the plain sort."""
    answer = jobs.evaluate_program(SORT, json.dumps(tokens), False, ROOT)
    assert answer["errors"] == []
    shown = {entry["name"]: entry["values"] for entry in answer["values"] if entry["kind"] == "sop"}
    session = Session()
    session.run(SORT)
    assert shown["sorted"] == evaluate(session["sorted"], tokens) == sorted(tokens)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10**6), st.randoms(use_true_random=False))
def test_generated_programs_show_the_interpreters_values(seed: int, rng) -> None:
    """Programs we did not write (the compiler fuzzer's): every s-op and selector the page
    shows has the interpreter's value on the input, and each one the interpreter rejects on it
    is reported as an error instead of shown."""
    case = generate(seed)
    tokens = [rng.choice(case.vocab) for _ in range(rng.randint(1, case.max_seq_len))]
    answer = jobs.evaluate_program(case.source, json.dumps(tokens), case.causal, ROOT)
    session = Session(check_examples=False)
    session.run(case.source)
    shown = {entry["name"]: entry.get("values", entry.get("matrix")) for entry in answer["values"]}
    rejected = 0
    for name in session.user_names():
        node = session[name]
        if name.startswith("_") or not isinstance(node, ir.Node):
            continue
        try:
            expected = evaluate(node, tokens, causal=case.causal)
        except RaspError:
            rejected += 1
            assert name not in shown
            continue
        assert shown[name] == jobs.jsonable(expected), name
    assert len(answer["errors"]) >= rejected


def test_every_error_is_listed_at_its_line_and_the_rest_still_runs(tmp_path: Path) -> None:
    source = "a = tokens;\nb = (;\nc = a + 1;\nd = indices;\n"
    answer = jobs.evaluate_program(source, "abc", False, tmp_path)
    lines = [(error["line"], error["column"]) for error in answer["errors"]]
    assert lines[0] == (2, 6)  # the `;` where an expression was expected
    assert lines[1][0] == 3  # "a" + 1 fails on the input: reported where the statement is
    assert "d" in {entry["name"] for entry in answer["values"]}


def test_values_json_has_no_word_for_are_sent_as_text() -> None:
    values = jobs.jsonable([float("nan"), np.float32("-inf"), np.int64(3), (True, None), np.array([0.5])])
    assert values == ["nan", "-inf", 3, [True, None], [0.5]]
    assert json.loads(json.dumps(values, allow_nan=False)) == values


def test_an_input_longer_than_the_page_shows_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RaspError, match="at most 128"):
        jobs.evaluate_program("x = tokens;", "a" * 129, False, tmp_path)


def test_loads_stay_inside_the_served_folder(tmp_path: Path) -> None:
    served = tmp_path / "served"
    (served / "sub").mkdir(parents=True)
    (served / "sub" / "inside.rasp").write_text("inside = indices;\n")
    (tmp_path / "outside.rasp").write_text("outside = indices;\n")
    (served / "link.rasp").symlink_to(tmp_path / "outside.rasp")
    answer = jobs.evaluate_program('load "sub/inside";\nload "../outside";\nload "link";', "ab", False, served)
    messages = [(error["line"], error["message"]) for error in answer["errors"]]
    assert [line for line, _ in messages] == [2, 3]
    assert all("outside the folder" in message for _, message in messages)
    assert [entry["name"] for entry in answer["values"]] == ["inside"]


def test_the_drawing_is_svg_of_the_sop(tmp_path: Path) -> None:
    svg = jobs.draw(PROGRAM, "abc", False, "reverse", tmp_path)["svg"]
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "reverse" in svg


def test_drawing_a_name_the_program_does_not_bind_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RaspError, match="no s-op named 'nothing'"):
        jobs.draw(PROGRAM, "abc", False, "nothing", tmp_path)


def compile_request(**overrides: object) -> dict:
    return {"source": PROGRAM, "name": "reverse", "vocab": "a,b,c", "max_len": 5, "input": "abca",
            "attention": "soft", "check": 30, **overrides}


@pytest.mark.parametrize("attention", ["soft", "hard"])
def test_compile_checks_the_model_and_runs_it_on_the_input(tmp_path: Path, attention: str) -> None:
    answer = jobs.compile_sop(compile_request(attention=attention), tmp_path, tmp_path / "out")
    assert answer["check"]["passed"] and answer["check"]["inputs"] >= 30
    assert answer["outputs"]["model"] == answer["outputs"]["interpreter"] == list("acba")
    assert answer["summary"]["attention"] == attention
    reverse_heads = [head for head in answer["heads"] if head["sop"] == "reverse"]
    assert reverse_heads, answer["heads"]
    pattern = np.array(reverse_heads[0]["pattern"])[:, 1:]  # after the BOS column
    selector = np.array(reverse_heads[0]["selector"])
    assert selector.shape == (4, 4) and (pattern.argmax(axis=1) == selector.argmax(axis=1)).all()
    assert {row["block"] for row in answer["layout"]} <= {"head", "mlp"}
    import compiler

    for name in answer["files"]:
        assert compiler.load(tmp_path / "out" / name)(list("abca")) == list("acba")


def test_an_error_elsewhere_does_not_stop_the_compile_but_is_counted(tmp_path: Path) -> None:
    answer = jobs.compile_sop(compile_request(source=PROGRAM + "broken = (;\n"), tmp_path, tmp_path / "out")
    assert answer["program_errors"] == 1 and answer["check"]["passed"]
    assert answer["outputs"]["model"] == list("acba")


def test_compile_says_why_it_cannot_run_the_input(tmp_path: Path) -> None:
    answer = jobs.compile_sop(compile_request(input="abcz"), tmp_path, tmp_path / "out")
    assert answer["outputs"]["model"] is None and "outside the vocabulary" in answer["outputs"]["note"]
    assert answer["heads"] == []
    longer = jobs.compile_sop(compile_request(input="abcabc"), tmp_path, tmp_path / "out2")
    assert "1 to 5 tokens" in longer["outputs"]["note"]


@pytest.mark.parametrize(
    "overrides, message",
    [({"max_len": 0}, "maximum length"), ({"max_len": 10_000}, "maximum length"), ({"check": -1}, "check inputs"),
     ({"name": "same"}, "no s-op named 'same'"), ({"source": "x = (;"}, "line 1, column 6")],
)
def test_compile_refuses_bad_requests_by_name(tmp_path: Path, overrides: dict, message: str) -> None:
    with pytest.raises(RaspError, match=message):
        jobs.compile_sop(compile_request(**overrides), tmp_path, tmp_path / "out")


@pytest.mark.parametrize("machine", FAMOUS, ids=lambda m: m.name)
def test_the_famous_machines_do_what_the_literature_says(machine) -> None:
    if machine.steps > 10_000:  # BB(5): its halt is checked by tests/turing; here, its first steps
        run = simulate(load_machine(machine.spec), (), machine.max_steps)
        assert not run.halted and run.steps == machine.max_steps
        return
    run = simulate(load_machine(machine.spec), (), machine.steps + 1)
    assert run.halted and run.steps == machine.steps
    assert sum(cell == "1" for cell in run.tape) + 2 * sum(cell == "2" for cell in run.tape) >= machine.ones


def test_a_turing_run_is_the_reference_run() -> None:
    answer = jobs.run_turing({"spec": "1RB1LB_1LA1RZ", "tape": "", "max_steps": 10, "engine": "interpreter"})
    assert answer["halted"] and answer["steps"] == 6 and answer["matches"]
    grid = answer["spacetime"]
    assert len(grid["cells"]) == len(grid["states"]) == len(answer["trace"]) == 7
    final = [cell for cell in grid["cells"][-1] if cell is not None]
    assert final.count("1") == 4 and grid["states"][-1] == "Z"


@pytest.mark.parametrize("spec, message", [("1RB", "write symbol '1' is not one of 0"), ("/etc/passwd", "group 1"),
                                           ('{"states": 1}', "missing key 'symbols'")])
def test_a_machine_text_is_never_read_as_a_file(spec: str, message: str) -> None:
    with pytest.raises(TuringError, match=message):
        jobs.run_turing({"spec": spec, "max_steps": 5})


def test_a_tape_of_other_symbols_is_refused() -> None:
    with pytest.raises(RaspError, match="not symbols of the machine"):
        jobs.run_turing({"spec": "1RB1LB_1LA1RZ", "tape": "0 1 7", "max_steps": 5})


def test_verify_tells_its_progress_machine_by_machine() -> None:
    told: list[dict] = []
    answer = jobs.verify_turing({"states": 2, "symbols": 2, "count": 6, "max_steps": 12, "engine": "interpreter"},
                                told.append)
    assert [entry["progress"] for entry in told] == list(range(7))
    assert answer["machines"] == answer["matching"] == 6 and answer["mismatches"] == []
