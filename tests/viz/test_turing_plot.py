"""`turing.plot`: the space-time grid and its picture, attention pictures, `rasp tm plot`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rasp.errors import RaspError
from rasp_toolkit import cli
from rasp_toolkit.commands_turing import parse_tape
from turing import load_machine, random_machine, random_tape, simulate, trace_of
from turing import plot as tmplot
from turing.plot import (
    attention_layout,
    configuration_spans,
    plot_attention,
    plot_spacetime,
    spacetime,
    spacetime_layout,
)

BB2 = "1RB1LB_1LA1RZ"  # the docs' example: grows right in step 1, left in steps 3 and 4
LEFTWARD = "1LA1LB_0RZ---"  # writes 1s leftwards for ever: the tape grows at the left end every step

# Symbols of several characters and an N move.
FLIPPER = json.dumps(
    {
        "states": ["go", "back", "end"],
        "symbols": ["bl", "x", "y"],
        "blank": "bl",
        "start": "go",
        "halting": ["end"],
        "transitions": [
            ["go", "x", "y", "R", "go"],
            ["go", "y", "x", "R", "go"],
            ["go", "bl", "bl", "N", "back"],
            ["back", "bl", "bl", "L", "back"],
            ["back", "x", "x", "L", "back"],
            ["back", "y", "y", "L", "back"],
        ],
    }
)


# ------------------------------------------------------------------------------- the grid


def test_spacetime_of_the_design_example() -> None:
    grid = spacetime(load_machine(BB2), (), 100)
    assert grid.halted and grid.steps == 6 and grid.first == -2
    assert grid.states == ["A", "B", "A", "B", "A", "B", "Z"]
    assert grid.heads == [2, 3, 2, 1, 0, 1, 2]  # columns: absolute positions 0, 1, 0, -1, -2, -1, 0
    assert grid.cells == [
        [None, None, "0", None],
        [None, None, "1", "0"],
        [None, None, "1", "1"],
        [None, "0", "1", "1"],
        ["0", "1", "1", "1"],
        ["1", "1", "1", "1"],
        ["1", "1", "1", "1"],
    ]


def test_spacetime_tracks_left_growth() -> None:
    grid = spacetime(load_machine(LEFTWARD), (), 5)
    assert not grid.halted and grid.steps == 5 and grid.first == -5
    assert grid.heads == [5, 4, 3, 2, 1, 0]
    for step, row in enumerate(grid.cells):
        written = [c for c in row if c is not None]
        assert row[: 5 - step] == [None] * (5 - step)  # not yet reached
        assert written == ["0"] + ["1"] * step  # the new blank, then the 1s written so far, never shifted


@pytest.mark.parametrize("seed", range(6))
def test_spacetime_rows_are_the_configurations(seed: int) -> None:
    machine = random_machine(3, 3, seed, allow_n_moves=True)
    tape = random_tape(machine, 4, seed)
    run = simulate(machine, tape, 40, record=True)
    grid = spacetime(machine, tape, 40)
    assert grid.steps == run.steps and grid.halted == run.halted
    for step, (row, config) in enumerate(zip(grid.cells, run.configurations)):
        start = grid.heads[step] - len(config.left)
        assert row[start : start + len(config.left) + len(config.right)] == [*config.left, *config.right]
        assert row[grid.heads[step]] == config.right[0] and grid.states[step] == config.state
        # What was written stays where it was: a cell known in one step is known in the next.
        if step:
            assert all(cell is not None for cell, before in zip(row, grid.cells[step - 1]) if before is not None)


def test_parse_tape() -> None:
    machine = load_machine(FLIPPER)
    assert parse_tape("x y bl", machine) == ("x", "y", "bl")
    assert parse_tape("xyx", machine) == ("x", "y", "x")
    assert parse_tape("bl", machine) == ("bl",)
    assert parse_tape("101") == ("1", "0", "1") and parse_tape(None) == () and parse_tape("  ") == ()


# --------------------------------------------------------------------------- space-time picture


@pytest.mark.parametrize(("spec", "tape", "steps"), [(BB2, "", 100), (LEFTWARD, "", 12), (FLIPPER, ("x", "y"), 20)])
def test_plot_spacetime_png(spec, tape, steps, tmp_path, png_checks) -> None:
    machine = load_machine(spec)
    path = plot_spacetime(machine, tape, steps, tmp_path / "run.png")
    image = png_checks.assert_png(path, spacetime_layout(spacetime(machine, tape, steps)).pixels)
    assert png_checks.has_colour(image, tmplot._BLANK, count=20), "no blank cell drawn"


def test_long_runs_stay_a_bounded_picture(tmp_path, png_checks) -> None:
    machine = load_machine("1RB1LC_1RC1RB_1RD0LE_1LA1LD_1RZ0LA")  # the 5-state busy beaver champion
    grid = spacetime(machine, (), 600)
    layout = spacetime_layout(grid)
    assert grid.steps == 600 and layout.cell < 0.05
    assert layout.size[1] < 27 and layout.size[0] < 20
    png_checks.assert_png(plot_spacetime(machine, (), 600, tmp_path / "bb5.png"), layout.pixels)


def test_small_runs_get_readable_cells() -> None:
    assert spacetime_layout(spacetime(load_machine(BB2), (), 100)).cell >= 0.25


# ---------------------------------------------------------------------------- attention picture


def test_configuration_spans() -> None:
    trace = trace_of(load_machine(BB2))
    spans = configuration_spans(trace)
    assert len(spans) == 7
    assert [" ".join(trace[a:b]) for a, b in spans[:3]] == ["A 0", "1 B 0", "A 1 1"]
    assert configuration_spans("$ A 0 | 1 B") == [(1, 3), (4, 6)]  # a configuration being written


def test_plot_attention_png(tmp_path, png_checks) -> None:
    trace = trace_of(load_machine(BB2))
    spans = configuration_spans(trace)
    queries, keys = range(*spans[4]), range(*spans[3])
    rng = np.random.default_rng(0)
    heads = [(f"layer {i} head 0", rng.dirichlet(np.ones(len(keys)), size=len(queries))) for i in range(4)]
    heads.append(("copy", np.eye(len(queries), len(keys))))
    path = plot_attention(trace, heads, tmp_path / "attention.png", queries=queries, keys=keys)
    labels = [f"{p}:{trace[p]}" for p in [*queries, *keys]]
    layout = attention_layout(len(heads), len(queries), len(keys), max(map(len, labels)))
    assert layout.per_row == 3
    image = png_checks.assert_png(path, layout.pixels)
    assert png_checks.has_colour(image, (0.03, 0.19, 0.42), count=20, tolerance=0.03), "no full-weight cell drawn"


def test_plot_attention_all_keys_text_trace(tmp_path, png_checks) -> None:
    trace = "$ A 0 | 1 B 0 | A 1 1 |"
    tokens = trace.split()
    weights = np.zeros((3, len(tokens)))
    weights[[0, 1, 2], [4, 5, 6]] = 1.0
    path = plot_attention(trace, [("h", weights)], tmp_path / "a.png", queries=[8, 9, 10], title="one head")
    png_checks.assert_png(path, attention_layout(1, 3, len(tokens), 4).pixels)


def test_plot_attention_rejects_bad_weights(tmp_path) -> None:
    with pytest.raises(RaspError, match=r"shape \(2, 2\), expected \(3, 2\)"):
        plot_attention("$ A 0 | 1 B 0 |", [("h", np.ones((2, 2)))], tmp_path / "a.png", queries=[4, 5, 6], keys=[1, 2])
    with pytest.raises(RaspError, match="at least one"):
        plot_attention("$ A 0 |", [], tmp_path / "a.png")
    with pytest.raises(RaspError, match="outside the trace"):
        plot_attention("$ A 0 |", [("h", np.ones((1, 1)))], tmp_path / "a.png", queries=[9], keys=[0])
    assert not (tmp_path / "a.png").exists()


# ----------------------------------------------------------------------------------- `rasp tm plot`


@pytest.fixture
def rasp_main(capsys):
    """`rasp_toolkit.cli.main`, with what it printed."""

    def run(*argv: str) -> tuple[int, str, str]:
        code = cli.main(list(argv))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def test_cli_tm_plot(rasp_main, tmp_path, png_checks) -> None:
    out = tmp_path / "bb2.png"
    code, stdout, _ = rasp_main("tm", "plot", BB2, "-o", str(out))
    assert code == 0 and str(out) in stdout
    png_checks.assert_png(out, spacetime_layout(spacetime(load_machine(BB2), (), 100)).pixels)


def test_cli_tm_plot_json_file_with_input(rasp_main, tmp_path, png_checks) -> None:
    spec = tmp_path / "flipper.json"
    spec.write_text(FLIPPER)
    out = tmp_path / "flipper.png"
    code, _, _ = rasp_main("tm", "plot", str(spec), "--input", "x y x", "--max-steps", "7", "-o", str(out))
    assert code == 0
    grid = spacetime(load_machine(FLIPPER), ("x", "y", "x"), 7)
    assert grid.steps == 7
    png_checks.assert_png(out, spacetime_layout(grid).pixels)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["1RB1LB_1LA"], "group"),  # groups of different widths
        ([BB2, "--input", "2"], "not one of the machine's symbols"),
        ([BB2, "--max-steps", "-1"], "--max-steps"),
    ],
)
def test_cli_tm_plot_user_errors_exit_2(rasp_main, tmp_path, args, message) -> None:
    out = tmp_path / "x.png"
    code, _, stderr = rasp_main("tm", "plot", *args, "-o", str(out))
    assert code == 2 and message in stderr and not out.exists()
