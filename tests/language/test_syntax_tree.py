"""The syntax tree (`rasp.ast`, built by `rasp.syntax`): every construct of the grammar becomes a
frozen node that knows its file, line and column, and errors raised while running a node point
at the node's position."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rasp
from rasp import ast
from rasp.errors import Location
from rasp.syntax import read

#: One text with every construct of the grammar (parsed only, never run).
EVERY_CONSTRUCT = """\
a, b = 1, 2.5;
s = "x";
l = [a, b] + [];
d = {"k": 1};
e = {};
lc = [x * 2 for x in [1, 2]];
dc = {k: v for k, v in [[1, 2]]};
sel = select(tokens, tokens, ==);
agg = aggregate(sel, indices, 0);
r = range(3);
z = zip([1], [2]);
n = len([1]);
u = -indices;
ro = round(indices / 2);
c = 1 if a > 0 else 2;
i = indices in [1, 2];
ix = l[0];
f = selector_width(sel);
def g(p) { q = p; return q; }
for w in [1] { h = w; }
g(1);
draw(indices, "ab");
load "lib/histogram.rasp";
set s-op example "ab"
show example
examples off
full seq display on
exit
"""


def nodes(value: Any) -> Iterator[ast.Syntax]:
    """Every syntax node in a value (a node, or tuples of nodes), parents first."""
    if isinstance(value, ast.Syntax):
        yield value
        for item in dataclasses.fields(value):
            yield from nodes(getattr(value, item.name))
    elif isinstance(value, tuple):
        for item in value:
            yield from nodes(item)


def concrete_node_classes() -> set[type]:
    return {
        cls
        for _, cls in inspect.getmembers(ast, inspect.isclass)
        if issubclass(cls, ast.Syntax) and cls not in (ast.Syntax, ast.Expr, ast.Statement)
    }


def test_every_construct_becomes_its_node() -> None:
    built = {type(node) for node in nodes(read(EVERY_CONSTRUCT, "every.rasp"))}
    assert built == concrete_node_classes()


def test_nodes_are_frozen_and_located() -> None:
    for node in nodes(read(EVERY_CONSTRUCT, "every.rasp")):
        assert node.at is not None and node.at.file == "every.rasp", node
        for field in dataclasses.fields(node):
            with pytest.raises(dataclasses.FrozenInstanceError):
                setattr(node, field.name, None)


def test_positions_by_hand() -> None:
    (statement,) = read("\n  y = f(1, [x])[0];", "p.rasp")
    assert isinstance(statement, ast.Assign) and statement.targets == ("y",)
    assert statement.at == Location("p.rasp", 2, 3)
    (index,) = statement.values
    assert isinstance(index, ast.Index) and index.at == Location("p.rasp", 2, 7)
    assert isinstance(index.target, ast.Call) and index.target.at == Location("p.rasp", 2, 7)
    one, listed = index.target.args
    assert one == ast.Constant(1, at=None) and one.at == Location("p.rasp", 2, 9)
    assert isinstance(listed, ast.ListDisplay) and listed.at == Location("p.rasp", 2, 12)
    assert listed.items[0].at == Location("p.rasp", 2, 13)


def test_literals_are_converted() -> None:
    (statement,) = read('v = [7, 0.5, "hi"];')
    assert isinstance(statement, ast.Assign)
    (listed,) = statement.values
    assert isinstance(listed, ast.ListDisplay)
    assert [item.value for item in listed.items if isinstance(item, ast.Constant)] == [7, 0.5, "hi"]
    assert [type(item.value) for item in listed.items if isinstance(item, ast.Constant)] == [int, float, str]


def test_a_function_body_error_points_into_the_body() -> None:
    session = rasp.Session()
    session.run("def f(a) {\n  b = a + missing;\n  return b;\n}", "defs.rasp")
    with pytest.raises(rasp.RaspNameError) as caught:
        session.run("f(1);", "use.rasp")
    assert caught.value.location == Location("defs.rasp", 2, 11)
    assert caught.value.called_from == ["use.rasp:1:1: f(1);"]


LAYOUT = settings(max_examples=40, derandomize=True, deadline=None)


@LAYOUT
@given(lines=st.integers(0, 6), indent=st.integers(0, 12), operator=st.sampled_from(["+", "*", "-"]))
def test_a_name_error_points_at_the_name(lines: int, indent: int, operator: str) -> None:
    source = "x = 1;\n" * lines + " " * indent + f"y = indices {operator} nowhere;\n"
    with pytest.raises(rasp.RaspNameError) as caught:
        rasp.Session().run(source, "names.rasp")
    assert (caught.value.line, caught.value.column) == (lines + 1, indent + 15)
    assert caught.value.source_line == " " * indent + f"y = indices {operator} nowhere;"
    assert str(caught.value).splitlines()[2] == "    " + " " * (indent + 14) + "^"


@LAYOUT
@given(lines=st.integers(0, 6), indent=st.integers(0, 12))
def test_a_syntax_error_points_at_the_token(lines: int, indent: int) -> None:
    source = "x = 1;\n" * lines + " " * indent + "y = (x + ;\n"
    with pytest.raises(rasp.RaspSyntaxError) as caught:
        rasp.Session().run(source, "syntax.rasp")
    assert (caught.value.line, caught.value.column) == (lines + 1, indent + 10)


@LAYOUT
@given(lines=st.integers(0, 6), indent=st.integers(0, 12))
def test_nodes_carry_the_position_of_their_first_character(lines: int, indent: int) -> None:
    source = "\n" * lines + " " * indent + "z = aggregate(select(indices, indices, ==), tokens);"
    (statement,) = read(source, "at.rasp")
    assert isinstance(statement, ast.Assign)
    (built,) = statement.values
    assert isinstance(built, ast.AggregateCall) and isinstance(built.selector, ast.SelectCall)
    assert statement.at == Location("at.rasp", lines + 1, indent + 1)
    assert built.at == Location("at.rasp", lines + 1, indent + 5)
    assert built.selector.at == Location("at.rasp", lines + 1, indent + 15)
    session = rasp.Session()
    session.run(source, "at.rasp")
    assert session["z"].origin == built.at
