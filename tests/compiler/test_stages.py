"""The compiler's stages finish: each hands the next an immutable result, and what they hand
over is the whole story of the compiled model (its residual labels, its heads and MLPs)."""

from __future__ import annotations

import dataclasses

import pytest

import compiler
from compiler.assemble import residual_dims
from compiler.blocks import INDICES_SQUARED, ONE, HeadBlock, MLPBlock, index_dim, token_dim
from compiler.lowering import lower
from compiler.scheduling import schedule
from compiler.valuesets import analyse
from rasp import Session, ir

# the stable sort (an `or` of selectors, split into disjoint pieces over one-hots) and an `or`
# whose sides need the tuple of two s-ops (a joint s-op that lowering makes and analyses itself)
PROGRAMS = """
set example [3, 1, 2];
k = tokens_int + indices / 10;
before = select(k, k, <) or (select(k, k, ==) and select(indices, indices, <));
place = selector_width(before);
moved = aggregate(select(place, indices, ==), tokens_int, 0);
either = aggregate(select(tokens_int, tokens_int, <) or select(indices, indices, ==), tokens_int, 0);
"""


def _program(name: str) -> ir.SOp:
    session = Session()
    session.run(PROGRAMS)
    return session[name]


@pytest.mark.parametrize("name", ["moved", "either"])
def test_lowering_leaves_the_value_sets_as_analysed_and_lowers_alike_twice(name: str) -> None:
    sop = _program(name)
    sets = analyse(sop, (1, 2, 3), 6)
    analysed = dict(sets.values)
    first, second = lower(sop, sets), lower(sop, sets)
    assert dict(sets.values) == analysed  # the s-ops lowering made were analysed on its own copy
    assert first == second


def test_stage_results_are_read_only() -> None:
    sop = _program("moved")
    sets = analyse(sop, (1, 2, 3), 6)
    with pytest.raises(TypeError):
        sets.values[sop] = frozenset()  # type: ignore[index]
    program = lower(sop, sets)
    head = next(block for block in program.blocks if isinstance(block, HeadBlock))
    with pytest.raises(dataclasses.FrozenInstanceError):
        head.scale = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        head.query[0][ONE] = 1.0  # type: ignore[index]
    with pytest.raises(TypeError):
        program.output[0][ONE] = 1.0  # type: ignore[index]
    layers = schedule(program.blocks)
    with pytest.raises(dataclasses.FrozenInstanceError):
        layers[0].heads = ()  # type: ignore[misc]


@pytest.mark.parametrize("name", ["moved", "either"])
def test_the_stages_results_are_what_the_model_holds(name: str) -> None:
    sop = _program(name)
    vocab, n = (1, 2, 3), 6
    program = lower(sop, analyse(sop, vocab, n))
    layers = schedule(program.blocks)
    model = compiler.compile(sop, vocab, n)
    assert [str(dim) for dim in residual_dims(program, layers)] == model.labels
    summary = model.summary()
    assert summary["layers"] == len(layers)
    assert summary["heads"] == sum(isinstance(block, HeadBlock) for block in program.blocks)
    units = sum(len(block.units) for block in program.blocks if isinstance(block, MLPBlock))
    assert summary["mlp_hidden_total"] == units


def test_dimensions_render_as_the_labels_the_metadata_shows() -> None:
    assert [str(token_dim("a")), str(index_dim(3)), str(INDICES_SQUARED), str(ONE)] == [
        "tokens:a",
        "indices=3",
        "indices^2",
        "one",
    ]
    model = compiler.compile(_program("moved"), (1, 2, 3), 6)
    assert model.labels[:5] == ["one", "bos", "tokens:1", "tokens:2", "tokens:3"]
    assert any(label.startswith("place/bos") for label in model.labels)  # a selector width's BOS weight
