"""Constructs that cannot be compiled exactly fail with a CompileError naming them."""

from __future__ import annotations

import pytest

import compiler
from rasp import ir
from rasp.errors import Location, RaspError


def test_map_over_an_unenumerable_value_set_names_that_set() -> None:
    where = Location("prog.rasp", 3, 7)
    frac = ir.Aggregate(
        selector=ir.select(ir.indices, ir.indices, "<="), sop=ir.Tokens(kind="int"), default=0, origin=where
    ).named("frac")
    squared = ir.Map(fn=lambda x: x * x, inner=frac).named("squared")
    with pytest.raises(compiler.CompileError) as caught:
        compiler.compile(squared, [1, 2, 7, 100], 70)  # the means of 1..100 over 70 positions
    error = caught.value
    assert isinstance(error, RaspError)
    assert "frac" in error.message and "value set" in error.message
    assert error.location == where


def test_error_names_the_failing_node_and_line() -> None:
    where = Location("prog.rasp", 5, 2)
    everything = ir.select(1, 1, "==")
    mean_of_strings = ir.Aggregate(selector=everything, sop=ir.tokens, default="", origin=where, name="avg")
    with pytest.raises(compiler.CompileError) as caught:
        compiler.compile(mean_of_strings, "ab", 4)
    assert "avg" in str(caught.value) and "prog.rasp:5:2" in str(caught.value)
    assert "averages non-numbers" in caught.value.message


def test_product_of_value_sets_too_large() -> None:
    wide = ir.Tokens(kind="int")
    product = ir.sequence_map(lambda a, b, c: (a * b * c) % 7, wide, ir.indices, ir.indices + 1)
    with pytest.raises(compiler.CompileError):
        compiler.compile(product, list(range(200)), 40)


@pytest.mark.parametrize(
    "args",
    [
        (ir.select(ir.tokens, ir.tokens, "=="), "ab", 4),  # a selector is not an s-op
        (ir.tokens, "ab", 0),
        (ir.tokens, "", 3),
        (ir.tokens, [1, "1"], 3),
    ],
)
def test_bad_arguments(args) -> None:
    with pytest.raises(compiler.CompileError):
        compiler.compile(*args)


def test_unhashable_values_are_refused() -> None:
    listy = ir.Map(fn=lambda x: [x], inner=ir.tokens, name="listy")
    with pytest.raises(compiler.CompileError, match="listy"):
        compiler.compile(listy, "ab", 3)
