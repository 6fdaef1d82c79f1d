"""`ModelSpec.sizes` and `rasp compile --sizes`: what each s-op costs a model, so a user sees
why a program is big (issue 26, item 3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import compiler
from compiled_model import spec_json
from rasp.programs import library_program, program_path
from rasp_toolkit import cli


@pytest.fixture(scope="module")
def sort_model() -> compiler.Transformer:
    return compiler.compile(library_program("sort"), (0, 1, 2, 3), 16)


def test_the_sizes_add_up_to_the_model(sort_model: compiler.Transformer) -> None:
    summary, rows = sort_model.summary(), sort_model.spec.sizes()
    assert sum(row.units for row in rows) == summary["mlp_hidden_total"]
    assert sum(row.heads for row in rows) == summary["heads"]
    written = sum(row.dims for row in rows)
    embedding = [dim for dim in sort_model.spec.residual if dim.kind not in ("number", "indicator")]
    assert written + len(embedding) == summary["residual_width"]
    assert all(row.mlp_params == row.units * (2 * summary["residual_width"] + 1) for row in rows)


def test_the_costliest_s_op_comes_first(sort_model: compiler.Transformer) -> None:
    """The library's sort: `_place` (a count of smaller keys, decoded by an MLP) holds every
    MLP unit; `sorted`, one lookup head, none."""
    first, *rest = sort_model.spec.sizes()
    assert first.sop == "_place" and first.units == sort_model.summary()["mlp_hidden_total"] > 0
    assert [row.sop for row in rest] == ["sorted"] and rest[0].heads == 1 and rest[0].units == 0


def test_files_without_recorded_s_ops_still_report(sort_model: compiler.Transformer) -> None:
    data = json.loads(json.dumps(spec_json.spec_to_data(sort_model.spec)))
    for layer in data["layout"]:
        for block in (*layer["heads"], *layer["mlps"]):
            del block["sop"], block["units"]
    rows = spec_json.spec_from_data(data).sizes()
    blocks = [block for layer in sort_model.spec.layout for block in (*layer.heads, *layer.mlps)]
    assert {row.sop for row in rows} == {block.node for block in blocks}
    assert sum(row.units for row in rows) == 0


def test_the_command_line_prints_them(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    argv = ["compile", str(program_path("lib/sort.rasp")), "sorted", "--vocab", "0,1,2,3", "--max-len", "16"]
    assert cli.main([*argv, "--sizes"]) == 0
    text = capsys.readouterr().out
    header = next(line for line in text.splitlines() if line.startswith("s-op"))
    assert header.split() == ["s-op", "dims", "heads", "MLP", "units", "MLP", "params", "share", "of", "params"]
    assert cli.main([*argv, "--sizes", "--json"]) == 0
    sizes = json.loads(capsys.readouterr().out)["sizes"]
    assert sizes[0]["sop"] == "_place" and sizes[0]["units"] > 0
