"""`compiler.compile(..., check=K)` and `rasp compile --check K`: proof on the user's own
program, against the interpreter, on inputs that start with the edge cases."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
from compiler_helpers import compiled

import compiler
from compiler.check import (
    CHECK_MAX_LENGTH,
    DEFAULT_CHECK,
    MAX_CHECK,
    CheckFailed,
    check,
    most_random_inputs,
    sample_inputs,
)
from compiler.fuzzing import Case
from rasp import ir
from rasp.programs import library_program
from rasp_toolkit.commands_compiler import register
from rasp_toolkit.commands_language import program_nodes


def test_sample_inputs_start_with_the_edges() -> None:
    inputs = sample_inputs("abc", 7, 12, seed=1)
    constant = [["a"] * length for length in range(1, 8)]
    assert inputs[:9] == [*constant, ["b"] * 7, ["c"] * 7]
    assert len(inputs) == 9 + 12 and all(1 <= len(x) <= 7 and set(x) <= set("abc") for x in inputs)
    assert inputs == sample_inputs("abc", 7, 12, seed=1)
    assert sample_inputs("ab", 3, 0) == [["a"], ["a", "a"], ["a", "a", "a"], ["b", "b", "b"]]


def test_checked_inputs_stop_at_the_length_limit() -> None:
    """Every length up to CHECK_MAX_LENGTH, none past it: the check's cost is bounded."""
    inputs = sample_inputs("ab", 1000, 10)
    assert sorted({len(x) for x in inputs[:CHECK_MAX_LENGTH]}) == list(range(1, CHECK_MAX_LENGTH + 1))
    assert max(len(x) for x in inputs) == CHECK_MAX_LENGTH


def test_check_passes_on_a_correct_program() -> None:
    program = library_program("reverse")
    model = compiler.compile(program, "abc", 6, check=40)
    assert model("abc") == ["c", "b", "a"]
    assert check(model, program, 40).total == len(sample_inputs("abc", 6, 40))


def _broken(model: compiler.Transformer) -> compiler.Transformer:
    """The same model with its unembedding scrambled by hand: outputs no longer decode right."""
    params = dict(model.params)
    params["unembed"] = np.roll(np.asarray(model.params["unembed"]), 1, axis=1)
    return compiler.Transformer(params, model.spec)


def test_check_raises_on_a_broken_model_naming_the_input() -> None:
    program = library_program("reverse")
    broken = _broken(compiled(program, tuple("abc"), 6))
    with pytest.raises(CheckFailed) as caught:
        check(broken, program, 10)
    message = str(caught.value)
    assert "reverse" in message and "on input ['a']" in message and "expected ['a'], got" in message
    # a wrong model is no refusal: code that skips what cannot be compiled must not skip it
    assert not isinstance(caught.value, compiler.CompileError)


def test_check_raises_on_perturbed_attention() -> None:
    """A small weight change inside the network (a head's query), not only in the decoding."""
    program = ir.aggregate(ir.select(ir.indices, ir.indices - 1, "=="), ir.tokens, "^")
    model = compiled(program, tuple("ab"), 5)
    check(model, program, 20)
    params = {**model.params, "layers": [dict(layer) for layer in model.params["layers"]]}
    first = params["layers"][0]
    first["attn"] = {**first["attn"], "w_q": np.asarray(first["attn"]["w_q"]) * 0.0}
    with pytest.raises(CheckFailed, match="differs from the interpreter at positions"):
        check(compiler.Transformer(params, model.spec), program, 20)


def _main(argv: list[str], tmp_path) -> int:
    path = tmp_path / "program.rasp"
    path.write_text('aggregate(select(indices, length - indices - 1, ==), tokens, "");\n')

    parser = argparse.ArgumentParser(prog="rasp")
    register(parser.add_subparsers(dest="command", required=True), lambda _: program_nodes(path))
    args = parser.parse_args(argv)
    return args.handler(args)


def test_cli_check_exits_0_when_the_model_agrees(tmp_path, capsys) -> None:
    assert _main(["compile", "program.rasp", "--vocab", "a,b", "--max-len", "4", "--check", "30"], tmp_path) == 0
    assert "residual_width" in capsys.readouterr().out


def test_cli_check_exits_1_when_the_model_differs(tmp_path, capsys, monkeypatch) -> None:
    """A compiler bug, simulated by scrambling the compiled model before the check runs."""
    from rasp_toolkit import commands_compiler

    def compile_broken(
        sop, vocab, max_seq_len, causal=False, budget=compiler.budget.DEFAULT_BUDGET, check=0, attention="soft",
        length_free=False,
    ):
        model = _broken(compiler.compile(sop, vocab, max_seq_len, causal=causal, attention=attention))
        compiler.check.check(model, sop, check)
        return model

    monkeypatch.setattr(commands_compiler, "compile_program", compile_broken)
    assert _main(["compile", "program.rasp", "--vocab", "a,b", "--max-len", "4", "--check", "30"], tmp_path) == 1
    err = capsys.readouterr().err
    assert "is wrong: on input" in err and "Traceback" not in err


def test_cli_check_rejects_a_negative_count(tmp_path, capsys) -> None:
    assert _main(["compile", "program.rasp", "--vocab", "a", "--max-len", "3", "--check", "-1"], tmp_path) == 2
    assert "--check" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("count", "reason"),
    [
        ("1000000000", "--check 1,000,000,000 is more than the 100,000 random inputs a check takes"),
        ("31", "--check 31 asks for more random inputs than the 30 distinct inputs of 1 to 4 tokens over 2 tokens"),
    ],
    ids=["a-billion", "past-the-inputs"],
)
def test_cli_check_refuses_more_inputs_than_make_sense_before_reading_the_program(capsys, count, reason) -> None:
    """Issue 23: `--check 10^9` built the list of a billion inputs.  Refused (exit 2, with the
    reason and the most that can be asked) before the program is even read."""

    def unread(_: str) -> dict:
        raise AssertionError("the program was read before --check was refused")

    parser = argparse.ArgumentParser(prog="rasp")
    register(parser.add_subparsers(dest="command", required=True), unread)
    args = parser.parse_args(["compile", "program.rasp", "--vocab", "a, b,a", "--max-len", "4", "--check", count])
    assert args.handler(args) == 2
    err = capsys.readouterr().err
    assert reason in err and "hint: pass --check at most" in err and "Traceback" not in err


def test_compile_refuses_a_check_larger_than_the_inputs_but_never_the_default() -> None:
    reverse = library_program("reverse")
    with pytest.raises(compiler.CompileError, match="more random inputs than the 6 distinct inputs"):
        compiler.compile(reverse, "ab", 2, check=7)
    with pytest.raises(compiler.CompileError, match="more than the 100,000 random inputs"):
        compiler.compile(reverse, "ab", 64, check=10**9)
    assert compiler.compile(reverse, "a", 2).max_seq_len == 2  # 2 distinct inputs, 4 random ones by default


@pytest.mark.parametrize("attention", ["soft", "hard"])
@pytest.mark.parametrize("name", ["reverse", "sort_by_frequency", "dyck2", "most_frequent"])
def test_the_checks_numpy_pass_equals_the_jitted_one(name: str, attention: str) -> None:
    """The self-check runs the weights in numpy, MLPs cut to the dimensions they touch
    (`transformer.sliced_mlps`): the streams are the jitted pass's, up to rounding order, in
    the dtype the model runs in, so what the check passed is what the model computes."""
    program = library_program(name)
    vocab = "()ab" if name.startswith("dyck") else "abc"
    model = compiler.compile(program, vocab, 12, attention=attention)
    batch = sample_inputs(vocab, 12, 6, seed=3)
    jitted, host = model.residual(batch), model.residual(batch, host=True)
    scale = max(1.0, float(np.abs(jitted).max()))
    tolerance = 1e-4 if model.dtype() == "float32" else 1e-9
    np.testing.assert_allclose(host, jitted, atol=tolerance * scale, rtol=0)
    assert model.run(batch, host=True)[0] == model.predict(batch)


def test_the_most_random_inputs_a_check_takes() -> None:
    """The distinct inputs of the checked lengths, at most MAX_CHECK, never below the default; the
    fuzzer's command to reproduce a case asks for no more, so `rasp compile` runs it."""
    assert [most_random_inputs(2, 4), most_random_inputs(1, 5), most_random_inputs(1, 2)] == [30, 5, DEFAULT_CHECK]
    assert most_random_inputs(10, 1000) == MAX_CHECK
    assert Case(0, "out = tokens;", ("a",), 5, False).command("p.rasp").endswith("--check 5")
    assert Case(0, "out = tokens;", ("a", "b"), 9, False).command("p.rasp").endswith("--check 200")


def test_a_causal_check_covers_every_length_by_prefixes() -> None:
    """A causal model's output at position i is its output on the first i + 1 tokens, so one
    constant input of the longest length stands for every shorter one (the self-check of a
    causal model is several times cheaper), and the outputs agree with the shorter inputs'."""
    inputs = sample_inputs("ab", 10, 2, prefixes=True)
    assert inputs[:2] == [["a"] * 10, ["b"] * 10] and len(inputs) == 4
    program = library_program("frac_prevs")
    model = compiler.compile(program, "ab(", 10, causal=True)
    longest = model(["a"] * 10)
    assert [model(["a"] * n)[-1] for n in range(1, 11)] == longest
