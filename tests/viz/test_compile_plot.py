"""`compiler.plot`: the picture of a compiled model (what each block reads and writes, attention
beside the selectors), and `rasp compile --plot`."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

import compiler
from compiler import plot as compiler_plot
from compiler.plot import plot_layout, plot_model, residual_blocks
from rasp import figures
from rasp.errors import RaspError
from rasp.interpreter import Interpreter
from rasp.programs import library_program, program_path
from rasp_toolkit import cli


@pytest.fixture(scope="module")
def reverse() -> tuple:
    program = library_program("reverse")
    return program, compiler.compile(program, "ab", 8)


@pytest.fixture(scope="module")
def sort() -> tuple:
    program = library_program("sort")
    return program, compiler.compile(program, ["1", "2", "3"], 6)


def column(layout: compiler_plot.ModelLayout, kind: str, node: str) -> int:
    (index,) = [i for i, b in enumerate(layout.blocks) if b.kind == kind and b.node == node]
    return index


def row_of(layout: compiler_plot.ModelLayout, model: compiler.Transformer, label: str) -> int:
    (index,) = [r for r, s in enumerate(layout.subspaces) if model.labels.index(label) in s.dims]
    return index


# ------------------------------------------------------------------------------- the grid


def test_reverse_reads_and_writes(reverse) -> None:
    """reverse = aggregate(select(indices, length - indices - 1, ==), tokens): `length` (a head of
    layer 0) reads positions only; the copy (layer 1) reads tokens, positions and what the length
    head wrote, and writes one dimension per value, which the unembedding reads."""
    program, model = reverse
    layout = plot_layout(model, "abba", program)
    heads = [(b.layer, b.node) for b in layout.blocks if b.kind == "head"]
    assert heads == [(0, "length"), (1, "reverse")]
    assert (layout.blocks[0].kind, layout.blocks[-1].kind) == ("embed", "unembed")
    embed, length, copy, unembed = 0, column(layout, "head", "length"), column(layout, "head", "reverse"), -1
    tokens = row_of(layout, model, "tokens:a")
    assert row_of(layout, model, "tokens:b") == tokens
    assert [layout.mark(tokens, c) for c in (embed, length, copy, unembed)] == ["W", "", "R", ""]
    positions = row_of(layout, model, "indices")
    assert [layout.mark(positions, c) for c in (embed, length, copy, unembed)] == ["W", "R", "R", ""]
    output = row_of(layout, model, "reverse:'a'")
    assert [layout.mark(output, c) for c in (embed, length, copy, unembed)] == ["", "", "W", "R"]
    written_by_length = [r for r in range(len(layout.subspaces)) if layout.mark(r, length) == "W"]
    assert len(written_by_length) == 1
    # the copy's query (length - indices - 1) depends on the length, directly or through an MLP
    readers = [c for c in range(len(layout.blocks)) if layout.mark(written_by_length[0], c) == "R"]
    assert readers and all(0 < c <= copy for c in readers)


@pytest.mark.parametrize("name", ["reverse", "sort", "dyck2"])
def test_block_columns_agree_with_the_compiler_layout(name: str, reverse, sort) -> None:
    """Read off the weights, each head and MLP block writes exactly the dimensions the compiler's
    per-layer layout says it does, and every dimension belongs to one subspace."""
    model = {"reverse": reverse[1], "sort": sort[1]}.get(name) or compiler.compile(
        library_program(name), "(){}", 6, causal=True
    )
    subspaces, blocks = residual_blocks(model)
    described = [
        (kind, number, block)
        for number, layer in enumerate(model.spec.layout)
        for kind, blocks_of_kind in (("head", layer.heads), ("mlp", layer.mlps))
        for block in blocks_of_kind
    ]
    inner = [b for b in blocks if b.kind in ("head", "mlp")]
    assert [(b.kind, b.layer, b.node) for b in inner] == [(k, n, d.node) for k, n, d in described]
    for block, (_, _, entry) in zip(inner, described):
        assert {model.labels[d] for d in block.writes} == set(entry.writes), block.title
        assert block.reads, block.title
    dims = sorted(d for s in subspaces for d in s.dims)
    assert dims == list(range(len(model.labels)))


# -------------------------------------------------------------------------- the attention


def test_each_head_beside_the_selector_it_implements(reverse) -> None:
    program, model = reverse
    tokens = list("abbab")
    heads = plot_layout(model, tokens, program).heads
    assert [h.node for h in heads] == ["length", "reverse"]
    length, copy = heads
    assert length.selector is None and "length" in length.note
    expected = Interpreter().evaluate_array(program.selector, tokens)
    np.testing.assert_array_equal(copy.selector, expected)
    assert copy.pattern.shape == (5, 6)  # queries x (BOS + keys)
    np.testing.assert_allclose(copy.pattern[:, 1:], np.asarray(expected, float), atol=1e-3)


def test_pieces_of_a_split_selector_width_add_up_to_its_selector(sort) -> None:
    """sort's place is counted by two heads over disjoint pieces of one selector: each gives the
    BOS 1 / (width + 1), and the widths add up to the selector's row counts."""
    program, model = sort
    tokens = list("31321")
    heads = [h for h in plot_layout(model, tokens, program).heads if h.node == "_place"]
    assert len(heads) == 2 and all("piece" in h.note for h in heads)
    selector = heads[0].selector
    assert selector is not None and np.array_equal(selector, heads[1].selector)
    widths = sum(1.0 / h.pattern[:, 0] - 1.0 for h in heads)
    np.testing.assert_allclose(widths, np.asarray(selector).sum(axis=1), atol=0.05)
    assert np.asarray(selector).sum(axis=1).tolist() == [3, 0, 4, 2, 1]  # places of 3, 1, 3, 2, 1


def test_without_the_program_only_patterns_are_drawn(reverse) -> None:
    _, model = reverse
    heads = plot_layout(model, "ab").heads
    assert [h.selector for h in heads] == [None, None]


# ----------------------------------------------------------------------------------- pictures


def test_plot_model_writes_the_png_it_laid_out(reverse, tmp_path, png_checks) -> None:
    program, model = reverse
    path = plot_model(model, "abbab", tmp_path / "reverse.png", program=program)
    assert path == tmp_path / "reverse.png"
    image = png_checks.assert_png(path, plot_layout(model, "abbab", program).pixels)
    assert png_checks.has_colour(image, compiler_plot._READ), "no read mark"
    assert png_checks.has_colour(image, compiler_plot._WRITE), "no write mark"
    assert png_checks.has_colour(image, figures.SELECTED), "no selector drawn"


def test_causal_picture_greys_the_masked_cells(tmp_path, png_checks) -> None:
    program = library_program("dyck1")
    model = compiler.compile(program, "()", 6, causal=True)
    path = plot_model(model, "(()))", tmp_path / "dyck1.png", program=program)
    image = png_checks.assert_png(path, plot_layout(model, "(()))", program).pixels)
    assert png_checks.has_colour(image, figures.MASKED)


def test_picture_grows_with_the_model_and_the_input(reverse, sort) -> None:
    small = plot_layout(reverse[1], "ab", reverse[0])
    longer = plot_layout(reverse[1], "abbabbab", reverse[0])
    bigger = plot_layout(sort[1], "12", sort[0])
    assert longer.pixels[1] > small.pixels[1]
    assert bigger.pixels[1] > small.pixels[1]  # more subspaces and heads


def test_missing_matplotlib_says_how_to_install(reverse, tmp_path, monkeypatch) -> None:
    program, model = reverse
    for module in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(RaspError, match=r"pip install 'rasp-toolkit\[viz\]'"):
        plot_model(model, "ab", tmp_path / "x.png", program=program)
    assert not (tmp_path / "x.png").exists()


def test_bad_inputs_are_rasp_errors(reverse, tmp_path) -> None:
    program, model = reverse
    with pytest.raises(RaspError):
        plot_model(model, "", tmp_path / "x.png", program=program)
    with pytest.raises(RaspError, match="vocabulary"):
        plot_model(model, "abc", tmp_path / "x.png", program=program)
    with pytest.raises(RaspError, match="cannot write"):
        plot_model(model, "ab", tmp_path / "no such folder" / "x.png", program=program)


# ---------------------------------------------------------------------------------------- CLI


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_compile_plot(tmp_path, capsys, png_checks) -> None:
    out = tmp_path / "reverse.png"
    source = str(program_path("lib/reverse.rasp"))
    argv = ["compile", source, "reverse", "--vocab", "a,b,c", "--max-len", "8", "--plot", str(out)]
    code, stdout, _ = run(capsys, *argv)
    assert code == 0 and str(out) in stdout and "residual_width" in stdout
    program = library_program("reverse")
    model = compiler.compile(program, "abc", 8)
    png_checks.assert_png(out, plot_layout(model, "abcabcab", program).pixels)  # the default input


def test_cli_compile_plot_with_input_and_json(tmp_path, capsys, png_checks) -> None:
    out = tmp_path / "sort.png"
    source = str(program_path("lib/sort.rasp"))
    argv = ["compile", source, "sorted", "--vocab", "1,2,3", "--max-len", "6", "--json"]
    code, stdout, _ = run(capsys, *argv, "--plot", str(out), "--input", "3121")
    assert code == 0
    assert json.loads(stdout)["plot"] == str(out)
    program = library_program("sort")
    model = compiler.compile(program, ["1", "2", "3"], 6)
    png_checks.assert_png(out, plot_layout(model, list("3121"), program).pixels)


def test_cli_plot_input_outside_the_vocabulary_exits_2(tmp_path, capsys) -> None:
    out = tmp_path / "x.png"
    source = str(program_path("lib/reverse.rasp"))
    argv = ["compile", source, "reverse", "--vocab", "a,b", "--max-len", "4", "--plot", str(out), "--input", "abz"]
    code, _, stderr = run(capsys, *argv)
    assert code == 2 and "vocabulary" in stderr and "Traceback" not in stderr
    assert not out.exists()
