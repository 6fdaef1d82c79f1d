"""`rasp.draw`: layers, layout and the PNG of a program on one input; `rasp draw`; the REPL's `draw`."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from rasp import figures, ir
from rasp.draw import describe, draw_program, layers, program_layout
from rasp.errors import RaspError, RaspTypeError
from rasp.programs import program_path
from rasp.repl import Repl
from rasp.session import Session
from rasp_toolkit import cli


def program(relative: str, name: str) -> ir.SOp:
    session = Session()
    session.run_file(program_path(relative))
    return session[name]


def inline(source: str, name: str) -> ir.SOp:
    session = Session()
    session.run(source)
    return session[name]


PROGRAMS = {
    "reverse": (lambda: program("lib/reverse.rasp", "reverse"), "hello", 2),
    "sort": (lambda: program("lib/sort.rasp", "sorted"), [3, 1, 3, 0, 5, 2, 7, 1, 9, 4, 4, 0, 2, 8, 6, 5], 2),
    "histogram": (lambda: program("lib/histogram.rasp", "histogram"), "hello world", 1),
    "stdlib sort": (
        lambda: inline("set example [3, 1, 2]\ny = sort(tokens_int, tokens_int) + 1;", "y"),
        [3, 1, 3, 0],
        2,
    ),
}


@pytest.fixture(scope="module")
def built() -> dict[str, ir.SOp]:
    return {name: make() for name, (make, _, _) in PROGRAMS.items()}


# ------------------------------------------------------------------------------------ layers


@pytest.mark.parametrize("name", PROGRAMS)
def test_root_layer_counts_attention_steps(built: dict[str, ir.SOp], name: str) -> None:
    assert layers(built[name])[built[name]] == PROGRAMS[name][2]


def test_layers_of_each_kind_of_node() -> None:
    shifted = ir.tokens + "!"  # a map of the input: layer 0
    select = ir.select(ir.indices, ir.indices, "<")  # evaluated by layer 1's attention
    prefix = ir.selector_width(select)  # layer 1
    doubled = prefix * 2  # an MLP after layer 1's attention: layer 1
    moved = ir.aggregate(ir.select(doubled, ir.indices, "=="), shifted)  # layer 2
    late_value = ir.aggregate(select, moved)  # its value comes from layer 2: layer 3
    table = layers(late_value)
    assert [table[n] for n in (ir.tokens, ir.indices, shifted, select, prefix, doubled, moved, late_value)] == [
        0,
        0,
        0,
        1,
        1,
        1,
        2,
        3,
    ]
    with_length = ir.length - ir.indices
    assert layers(with_length)[ir.length] == 1 and layers(with_length)[with_length] == 1


def test_describe() -> None:
    keys = ir.tokens
    either = ir.select(keys, keys, "<") | (ir.select(keys, keys, "==") & ~ir.select(ir.indices, ir.indices, ">"))
    assert describe(either) == (
        "select(tokens_str, tokens_str, <) or (select(tokens_str, tokens_str, ==) and not select(indices, indices, >))"
    )
    assert describe(ir.aggregate(either.named("sel"), ir.indices, default=-1)) == "aggregate(sel, indices, default=-1)"
    assert describe(ir.indices + 1) == "indices + 1"


# ------------------------------------------------------------------------------------ layout


def test_layout_follows_layers(built: dict[str, ir.SOp]) -> None:
    layout = program_layout(built["reverse"], "hello")
    assert len(layout.columns) == 3  # inputs, layer 1, layer 2
    selectors = [p for column in layout.columns for p in column if p.kind == "selector"]
    assert len(selectors) == 1
    np.testing.assert_array_equal(selectors[0].matrix, np.fliplr(np.eye(5, dtype=bool)))
    assert selectors[0].key_values == [0, 1, 2, 3, 4] and selectors[0].query_values == [4, 3, 2, 1, 0]
    last = layout.columns[2][-1]
    assert last.node is built["reverse"] and last.values == list("olleh")
    in_layer_one = {p.node.label for p in layout.columns[1] if p.node is not None}
    assert {"length", "_mirror"} <= in_layer_one


def test_layout_grows_with_the_input(built: dict[str, ir.SOp]) -> None:
    small = program_layout(built["sort"], [3, 1, 0])
    large = program_layout(built["sort"], list(range(16)))
    assert large.pixels[0] > small.pixels[0] and large.pixels[1] > small.pixels[1]
    # Readable at 16 tokens: cells keep their size, so the picture stays within sane bounds.
    assert large.cell_w >= 0.25
    assert large.size[0] < 30 and large.size[1] < 20


def test_draw_expects_an_s_op() -> None:
    with pytest.raises(RaspTypeError, match="expects an s-op"):
        program_layout(ir.select(ir.tokens, ir.tokens, "=="), "ab")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------- pictures


@pytest.mark.parametrize("name", PROGRAMS)
def test_draw_program_writes_the_png_it_laid_out(built, name, tmp_path, png_checks) -> None:
    _, tokens, _ = PROGRAMS[name]
    causal = name == "stdlib sort"
    path = draw_program(built[name], tokens, tmp_path / f"{name}.png", causal=causal)
    assert path == tmp_path / f"{name}.png"
    image = png_checks.assert_png(path, program_layout(built[name], tokens, causal).pixels)
    assert png_checks.has_colour(image, figures.SELECTED), "no selected cell drawn"
    if causal:
        assert png_checks.has_colour(image, figures.MASKED), "causal picture without masked cells"


def test_missing_matplotlib_says_how_to_install(built, tmp_path, monkeypatch) -> None:
    for module in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(RaspError, match=r"pip install 'rasp-toolkit\[viz\]'"):
        draw_program(built["histogram"], "abc", tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_unwritable_path_is_a_rasp_error(built, tmp_path) -> None:
    with pytest.raises(RaspError, match="cannot write"):
        draw_program(built["histogram"], "abc", tmp_path / "no such folder" / "x.png")


def test_repl_draw_statement_writes_label_png(tmp_path, monkeypatch, png_checks) -> None:
    monkeypatch.chdir(tmp_path)
    repl = Repl()
    repl.execute("flipped = aggregate(select(indices, length - indices - 1, ==), tokens);")
    lines = repl.execute('draw(flipped, "abc");')
    assert len(lines) == 1 and "flipped.png" in lines[0], lines
    png_checks.read(tmp_path / "flipped.png")
    assert repl.execute("draw(flipped);") and (tmp_path / "flipped.png").exists()  # on the running example


# ---------------------------------------------------------------------------------------- CLI


@pytest.fixture
def rasp_main(capsys):
    """`rasp_toolkit.cli.main`, with what it printed."""

    def run(*argv: str) -> tuple[int, str, str]:
        code = cli.main(list(argv))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def test_cli_draw(rasp_main, tmp_path, png_checks) -> None:
    out = tmp_path / "reverse.png"
    code, stdout, _ = rasp_main(
        "draw", str(program_path("lib/reverse.rasp")), "reverse", "--input", "hello", "-o", str(out)
    )
    assert code == 0 and str(out) in stdout
    png_checks.assert_png(out, program_layout(program("lib/reverse.rasp", "reverse"), "hello").pixels)


def test_cli_draw_json_input_and_causal(rasp_main, tmp_path, png_checks) -> None:
    out = tmp_path / "sorted.png"
    code, _, _ = rasp_main(
        "draw", str(program_path("lib/sort.rasp")), "sorted", "-i", "[2, 0, 1]", "-o", str(out), "--causal"
    )
    assert code == 0
    png_checks.assert_png(out, program_layout(program("lib/sort.rasp", "sorted"), [2, 0, 1], causal=True).pixels)


def test_cli_draw_missing_name_exits_2(rasp_main, tmp_path) -> None:
    out = tmp_path / "x.png"
    code, _, stderr = rasp_main("draw", str(program_path("lib/reverse.rasp")), "nothing", "-o", str(out))
    assert code == 2 and "nothing" in stderr and not out.exists()


def test_cli_draw_selector_name_exits_2(rasp_main, tmp_path) -> None:
    source = tmp_path / "p.rasp"
    source.write_text("s = select(tokens, tokens, ==);\n")
    code, _, stderr = rasp_main("draw", str(source), "s", "-o", str(tmp_path / "x.png"))
    assert code == 2 and "not an s-op" in stderr


def test_cli_draw_without_name_is_a_usage_error(rasp_main) -> None:
    with pytest.raises(SystemExit) as exit_info:
        rasp_main("draw", str(program_path("lib/reverse.rasp")))
    assert exit_info.value.code == 2
