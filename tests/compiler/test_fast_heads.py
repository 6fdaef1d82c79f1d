"""Head descriptors for the fast decoder (`metadata["fast_heads"]`) and positions embedded as a
polynomial (`params["pos_poly"]`): the descriptors say what the heads compute, the polynomial
gives the streams the table gives, and both survive saving."""

from __future__ import annotations

import numpy as np
import pytest

import compiler
from compiler.transformer import embed_positions
from rasp import ir
from rasp.programs import library_program


def _target_values(model: compiler.Transformer, layer: int, head: int, tokens: str) -> list[float]:
    """The lookup target of a head evaluated on the stream entering its layer, per position."""
    descriptor = model.metadata["fast_heads"][layer][head]
    stream = model.inspect(list(tokens))["residuals"][2 * layer]
    index = {label: i for i, label in enumerate(model.labels)}
    return [sum(c * row[index[label]] for label, c in descriptor["target"].items()) for row in stream[1:]]


@pytest.mark.parametrize("attention", ["soft", "hard"])
def test_shift_is_a_lookup_of_the_previous_index(attention: str) -> None:
    model = compiler.compile(library_program("shift"), "abc", 7, causal=True, attention=attention)
    lookup = {"kind": "lookup", "target": {"indices": 1.0, "one": -1.0}, "outside": "bos"}
    assert model.metadata["fast_heads"] == [[lookup]]
    assert _target_values(model, 0, 0, "abcab") == [-1.0, 0.0, 1.0, 2.0, 3.0]


def test_the_standard_librarys_shift_is_a_lookup_of_an_earlier_index() -> None:
    """shift(seq, n, filler) selects with keys indices + n: the key at index i - n."""
    shifted = ir.aggregate(ir.select(ir.indices + 3, ir.indices, "=="), ir.tokens, "_")
    model = compiler.compile(shifted, "abc", 7, causal=True, attention="hard")
    lookup = {"kind": "lookup", "target": {"indices": 1.0, "one": -3.0}, "outside": "bos"}
    assert model.metadata["fast_heads"] == [[lookup]]
    assert _target_values(model, 0, 0, "abcab") == [-3.0, -2.0, -1.0, 0.0, 1.0]


def test_width_of_a_key_filter_is_running_and_an_order_select_is_dense() -> None:
    counted = ir.selector_width(ir.select(ir.tokens, "a", "=="))
    before = ir.selector_width(ir.select(ir.indices, ir.indices, "<"))
    for program, kind in ((counted, "running"), (before, "dense")):
        model = compiler.compile(program, "ab", 6, causal=True, attention="hard")
        assert [head["kind"] for layer in model.metadata["fast_heads"] for head in layer] == [kind]


def _with_table(model: compiler.Transformer) -> compiler.Transformer:
    params = {key: value for key, value in model.params.items() if key != "pos_poly"}
    params["pos_embed"] = embed_positions(model.params, np.arange(model.max_seq_len + 1), np)
    return compiler.Transformer(params, model.metadata)


def test_polynomial_positions_equal_the_table() -> None:
    model = compiler.compile(library_program("shift"), "abc", 9, causal=True)
    assert model.params["pos_poly"].shape == (3, len(model.labels))
    table = _with_table(model)
    index = model.labels.index("indices")
    assert table.params["pos_embed"][:, index].tolist() == [0, *range(9)]  # hand-checked rows
    batch = [list("abcabcabc"), list("ba"), list("c")]
    for dtype in ("float32", "float64"):
        np.testing.assert_array_equal(model.residual(batch, dtype), table.residual(batch, dtype))
    decoder, table_decoder = model.decoder(), table.decoder()
    assert decoder.extend(list("abcab")) == table_decoder.extend(list("abcab")) == model(list("abcab"))


def test_a_one_hot_position_keeps_the_table() -> None:
    model = compiler.compile(library_program("sort"), [1, 2, 3], 5)
    assert "pos_poly" not in model.params and model.params["pos_embed"].shape[0] == 6


@pytest.mark.parametrize("suffix", ["npz", "safetensors"])
def test_descriptors_and_polynomial_survive_saving(suffix: str, tmp_path) -> None:
    model = compiler.compile(library_program("shift"), "abc", 6, causal=True, attention="hard")
    model.save(tmp_path / f"shift.{suffix}")
    loaded = compiler.load(tmp_path / f"shift.{suffix}")
    assert loaded.metadata["fast_heads"] == model.metadata["fast_heads"]
    np.testing.assert_array_equal(loaded.params["pos_poly"], model.params["pos_poly"])
    assert loaded(list("abcab")) == model(list("abcab")) == ["_", "a", "b", "c", "a"]
