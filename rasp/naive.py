"""A literal, loop-by-loop evaluator of the IR: one Python comparison per (query, key) pair.

It spells out each operation's meaning directly (select compares every key with every query,
aggregate averages the selected values row by row; docs/language.md states the semantics) and
shares nothing with the vectorised interpreter but the node classes, which makes it the oracle of
the interpreter's differential tests and the same-run baseline of `benchmarks/interpreter.py`
(it evaluates the way the original RASP implementation does, pair by pair).
"""

from __future__ import annotations

from typing import Any

from rasp import ir
from rasp.errors import RaspEvaluationError
from rasp.values import is_number, read_token


def naive_evaluate(node: ir.Node, tokens: Any, causal: bool = False) -> Any:
    """An s-op's values, or a selector's rows of bools, computed position by position."""
    sequence = list(tokens) if not isinstance(tokens, str) else list(tokens)
    memo: dict[int, Any] = {}
    return _value(node, sequence, causal, memo)


def _value(node: ir.Node, tokens: list[Any], causal: bool, memo: dict[int, Any]) -> Any:
    if node.uid not in memo:
        memo[node.uid] = _compute(node, tokens, causal, memo)
    return memo[node.uid]


def _compute(node: ir.Node, tokens: list[Any], causal: bool, memo: dict[int, Any]) -> Any:
    n = len(tokens)

    def of(child: ir.Node) -> Any:
        return _value(child, tokens, causal, memo)

    if isinstance(node, ir.Tokens):
        return [read_token(t, node.kind) for t in tokens]
    if isinstance(node, ir.Indices):
        return list(range(n))
    if isinstance(node, ir.Length):
        return [i + 1 for i in range(n)] if causal else [n] * n
    if isinstance(node, ir.Full):
        return [node.value] * n
    if isinstance(node, ir.Map):
        return [node.fn(v) for v in of(node.inner)]
    if isinstance(node, ir.SequenceMap):
        return [node.fn(*vs) for vs in zip(*(of(s) for s in node.inputs))]
    if isinstance(node, ir.Select):
        keys, queries = of(node.keys), of(node.queries)
        compare = ir.COMPARISONS[node.op]
        return [[compare(keys[j], queries[i]) and (not causal or j <= i) for j in range(n)] for i in range(n)]
    if isinstance(node, ir.SelectorAnd):
        left, right = of(node.left), of(node.right)
        return [[a and b for a, b in zip(ra, rb)] for ra, rb in zip(left, right)]
    if isinstance(node, ir.SelectorOr):
        left, right = of(node.left), of(node.right)
        return [
            [(a or b) and (not causal or j <= i) for j, (a, b) in enumerate(zip(ra, rb))]
            for i, (ra, rb) in enumerate(zip(left, right))
        ]
    if isinstance(node, ir.SelectorNot):
        inner = of(node.inner)
        return [[(not a) and (not causal or j <= i) for j, a in enumerate(row)] for i, row in enumerate(inner)]
    if isinstance(node, ir.SelectorWidth):
        return [sum(row) for row in of(node.selector)]
    if isinstance(node, ir.Aggregate):
        values = of(node.sop)
        result = []
        for row in of(node.selector):
            chosen = [values[j] for j, selected in enumerate(row) if selected]
            if not chosen:
                result.append(node.default)
            elif len(chosen) == 1:
                result.append(chosen[0])
            elif all(is_number(v) for v in chosen):
                result.append(sum(chosen) / len(chosen))
            else:
                raise RaspEvaluationError(f"aggregate averages non-numbers in {node.label}")
        return result
    raise TypeError(f"unknown node {type(node).__name__}")
