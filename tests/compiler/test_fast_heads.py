"""Head descriptors for the fast decoder (`ModelSpec.heads`) and positions embedded as a
polynomial (`params["pos_poly"]`, in hard models): the descriptors say what the heads compute, the polynomial
gives the streams the table gives, and both survive saving."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from compiler_helpers import described_heads, lookup_targets

import compiler
import rasp
from compiled_model.arithmetic import embed_positions
from compiled_model.decoder import Decoder
from compiled_model.errors import ModelError
from compiled_model.fast_decoder import FastDecoder
from compiled_model.shapes import common_shape, pad
from rasp import ir
from rasp.programs import library_program


@pytest.mark.parametrize("attention", ["soft", "hard"])
def test_shift_is_a_lookup_of_the_previous_index(attention: str) -> None:
    model = compiler.compile(library_program("shift"), "abc", 7, causal=True, attention=attention)
    lookup = {"kind": "lookup", "target": {"indices": 1.0, "one": -1.0}, "outside": "bos"}
    assert described_heads(model) == [[lookup]]
    assert lookup_targets(model, 0, 0, list("abcab")) == [-1.0, 0.0, 1.0, 2.0, 3.0]


def test_the_standard_librarys_shift_is_a_lookup_of_an_earlier_index() -> None:
    """shift(seq, n, filler) selects with keys indices + n: the key at index i - n."""
    shifted = ir.aggregate(ir.select(ir.indices + 3, ir.indices, "=="), ir.tokens, "_")
    model = compiler.compile(shifted, "abc", 7, causal=True, attention="hard")
    lookup = {"kind": "lookup", "target": {"indices": 1.0, "one": -3.0}, "outside": "bos"}
    assert described_heads(model) == [[lookup]]
    assert lookup_targets(model, 0, 0, list("abcab")) == [-3.0, -2.0, -1.0, 0.0, 1.0]


def test_width_of_a_key_filter_is_running_and_an_order_select_is_dense() -> None:
    counted = ir.selector_width(ir.select(ir.tokens, "a", "=="))
    before = ir.selector_width(ir.select(ir.indices, ir.indices, "<"))
    for program, kind in ((counted, "running"), (before, "dense")):
        model = compiler.compile(program, "ab", 6, causal=True, attention="hard")
        assert [head["kind"] for layer in described_heads(model) for head in layer] == [kind]


def _with_table(model: compiler.Transformer) -> compiler.Transformer:
    params = {key: value for key, value in model.params.items() if key != "pos_poly"}
    params["pos_embed"] = embed_positions(model.params, np.arange(model.max_seq_len + 1), np)
    return compiler.Transformer(params, model.spec)


def test_polynomial_positions_equal_the_table() -> None:
    model = compiler.compile(library_program("shift"), "abc", 6, causal=True, attention="hard")
    assert model.params["pos_poly"].shape == (3, len(model.labels))
    table = _with_table(model)
    index = model.labels.index("indices")
    assert table.params["pos_embed"][:, index].tolist() == [0, *range(6)]  # hand-checked rows
    batch = [list("abcabc"), list("ba")]
    np.testing.assert_array_equal(model.residual(batch), table.residual(batch))
    assert Decoder(model).extend(list("abcab")) == Decoder(table).extend(list("abcab")) == model(list("abcab"))


def test_a_one_hot_position_or_soft_attention_keeps_the_table() -> None:
    for model in (
        compiler.compile(library_program("sort"), [1, 2, 3], 5, attention="hard"),
        compiler.compile(library_program("shift"), "abc", 5),
    ):
        assert "pos_poly" not in model.params and model.params["pos_embed"].shape[0] == 6


@pytest.mark.parametrize("suffix", ["npz", "safetensors"])
def test_descriptors_and_polynomial_survive_saving(suffix: str, tmp_path) -> None:
    model = compiler.compile(library_program("shift"), "abc", 6, causal=True, attention="hard")
    model.save(tmp_path / f"shift.{suffix}")
    loaded = compiler.load(tmp_path / f"shift.{suffix}")
    assert loaded.spec.heads == model.spec.heads
    np.testing.assert_array_equal(loaded.params["pos_poly"], model.params["pos_poly"])
    assert loaded(list("abcab")) == model(list("abcab")) == ["_", "a", "b", "c", "a"]


def test_padding_keeps_the_polynomial_and_describes_the_zero_heads() -> None:
    shift = compiler.compile(library_program("shift"), "ab|", 6, causal=True, attention="hard")
    session = rasp.Session()
    session.run("""bar = tokens == "|"; bars = selector_width(select(bar, True, ==));
    last = aggregate(select(bars, bars, ==) and select(bar, True, ==), indices, -1);
    mirrored = aggregate(select(indices, 2 * last - indices, ==), tokens, "_");""")
    deeper = compiler.compile(session["mirrored"], "ab|", 6, causal=True, attention="hard")
    padded = pad(shift, common_shape([shift, deeper]))
    heads = [len(layer) for layer in described_heads(padded)]
    assert "pos_poly" in padded.params and len(heads) == 2
    assert heads == [layer["attn"]["w_q"].shape[0] for layer in padded.params["layers"]]
    assert padded(list("ab|ab")) == shift(list("ab|ab"))
    table = compiler.compile(library_program("frac_prevs"), list("ab()"), 6, causal=True, attention="hard")
    tabled = pad(shift, common_shape([shift, table]))  # beside a model with a table: a table
    assert "pos_embed" in tabled.params and tabled(list("ab|ab")) == shift(list("ab|ab"))


def test_padding_a_model_without_descriptors_describes_no_head() -> None:
    """Padding once described every head of a model without descriptors as running (its own
    dense heads included), which the fast decoder would have followed to wrong outputs: the
    padded model stays without descriptors, and the fast decoder refuses it."""
    model = compiler.compile(library_program("sort"), [1, 2, 3], 6, causal=True, attention="hard")
    bare = compiler.Transformer(model.params, dataclasses.replace(model.spec, heads=()))
    padded = pad(bare, common_shape([bare, model]))
    assert padded.spec.heads == ()
    with pytest.raises(ModelError, match="descriptors"):
        FastDecoder(padded)
    assert [[h.kind for h in layer] for layer in pad(model, common_shape([model])).spec.heads] == [
        ["dense", "dense"], [], ["dense"],
    ]
