"""`rasp compile` and `rasp run-model` through argparse, with an injected program loader."""

from __future__ import annotations

import argparse
import json

import pytest

from rasp import ir
from rasp.errors import RaspError
from rasp.programs import library_program
from rasp_toolkit.commands_compiler import register


def _loader(path: str) -> dict[str, ir.Node]:
    if path != "reverse.rasp":
        raise RaspError(f"cannot open {path}")
    return {"out": library_program("reverse"), "sel": ir.select(ir.tokens, ir.tokens, "==")}


def _main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="rasp")
    register(parser.add_subparsers(dest="command", required=True), _loader)
    args = parser.parse_args(argv)
    return args.handler(args)


def test_compile_prints_summary_and_layer_table_and_saves(tmp_path, capsys) -> None:
    out = tmp_path / "m.npz"
    assert _main(["compile", "reverse.rasp", "--vocab", "a,b,c", "--max-len", "5", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "residual_width" in text and "layer" in text and "reverse" in text
    assert _main(["run-model", str(out), "--input", "abc", "--input", "ba", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [list("cba"), list("ab")]


def test_compile_json(capsys) -> None:
    assert _main(["compile", "reverse.rasp", "out", "--vocab", "a,b", "--max-len", "3", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["summary"]["layers"] == len(report["layout"])


@pytest.mark.parametrize(
    "argv",
    [
        ["compile", "missing.rasp", "--vocab", "a", "--max-len", "3"],
        ["compile", "reverse.rasp", "sel", "--vocab", "a", "--max-len", "3"],
        ["compile", "reverse.rasp", "--vocab", "a", "--max-len", "0"],
        ["run-model", "nowhere.npz", "--input", "a"],
    ],
)
def test_user_errors_exit_2_without_traceback(argv, capsys) -> None:
    assert _main(argv) == 2
    err = capsys.readouterr().err
    assert err and "Traceback" not in err


def test_run_model_rejects_unknown_tokens(tmp_path, capsys) -> None:
    out = tmp_path / "m.npz"
    _main(["compile", "reverse.rasp", "--vocab", "a,b", "--max-len", "4", "-o", str(out)])
    capsys.readouterr()
    assert _main(["run-model", str(out), "--input", "xyz"]) == 2
    assert "not in the model's vocabulary" in capsys.readouterr().err
