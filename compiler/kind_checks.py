"""Heads that let a model refuse inputs on which the interpreter meets strings and numbers.

The interpreter refuses an s-op whose values mix strings with numbers or bools, and a select
that orders (`<`, `<=`, `>`, `>=`) strings against numbers.  A value set may hold both kinds
while every input gives one kind only (a map whose branches return either), so the refusal
is a property of the input, not of the program, and the model must see it.  One head per
check does: its query reads whether the query side's value is a string, its key whether the
key side's is, and it selects the keys of the other kind.  The BOS scores 1/2 and carries 1,
the keys carry 0, so the head's output is about 1 where no key of the other kind exists and
about 0 where one does; the model checks it like a mixture (reason "kinds").  The output
s-op needs no head: its decoded values show their kinds (`Transformer.run`).

In causal evaluation a query sees the keys up to its own position only, which is enough: the
interpreter refuses the first prefix where a query and a key of different kinds meet, and
there either the last query and the last key differ in kind (each side holding one kind),
or one side holds both kinds, which that side's own check reports at the same position."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from compiled_model.transformer import MIXTURE_THRESHOLD
from compiler.blocks import Mixture
from compiler.encodings import Encodings
from compiler.margins import scale_for
from compiler.scores import ScoreBuilder
from rasp import ir

#: Heads.head: adds a head block and returns its index (passed in, as heads uses this module).
AddHead = Callable[..., int]

ORDERINGS = ("<", "<=", ">", ">=")


class KindChecks:
    """The checks of one lowering, each made once."""

    def __init__(self, encodings: Encodings, scores: ScoreBuilder, head: AddHead):
        self.enc = encodings
        self.ledger = encodings.ledger
        self.scores = scores
        self.head = head
        self._done: set[int] = set()

    def sop(self, node: ir.SOp) -> None:
        """Checks an s-op whose values may be strings on one input and numbers on another."""
        if mixes_kinds(self.ledger.sets.known(node)):
            self._check(node, node, node)

    def selector(self, selector: ir.Selector) -> None:
        """Checks every ordering select of `selector` whose two sides may hold different
        kinds (each select once, however many aggregates share it)."""
        known = self.ledger.sets.known
        for select in _selects(selector):
            if select.op not in ORDERINGS or select.uid in self._done:
                continue
            self._done.add(select.uid)
            if len(_kinds(known(select.keys)) | _kinds(known(select.queries))) == 2:
                self._check(select, select.queries, select.keys)

    def _check(self, node: ir.Node, queries: ir.SOp, keys: ir.SOp) -> None:
        query_kind = _is_string(queries)
        key_kind = query_kind if keys is queries else _is_string(keys)
        self.ledger.analyse(query_kind)
        self.ledger.analyse(key_kind)
        score = self.scores.score(ir.Select(keys=key_kind, queries=query_kind, op="!="), node)
        dim = self.ledger.fresh(f"{node.label}/kinds", node, 1.0)
        tolerance = 1 - MIXTURE_THRESHOLD
        scale = scale_for(self.ledger.n, 1.0, tolerance, 0.5, score.error)
        self.head(node, score, 0.5, [{}], [1.0], [dim], scale, 1.0, tolerance, 0.5)
        self.ledger.mixtures.append(Mixture(node.label, (dim,), "kinds"))


def mixes_kinds(values: Iterable[object]) -> bool:
    """Whether a value set holds strings and also non-strings (numbers or bools); an interval
    of integers (`compiler.valuesets.Interval`) never does."""
    if getattr(values, "integers_only", False):
        return False
    return len(_kinds(values)) == 2


def _kinds(values: Iterable[object]) -> set[bool]:
    """Whether each value is a string, judged by the set's types (one pass in C, and no
    union of sets: sets of positions hold millions of values)."""
    return {issubclass(kind, str) for kind in set(map(type, values))}


def _is_string(sop: ir.SOp) -> ir.SOp:
    return ir.Map(fn=lambda value: isinstance(value, str), inner=sop, description="is a string")


def _selects(selector: ir.Selector) -> Iterable[ir.Select]:
    if isinstance(selector, ir.Select):
        yield selector
    for child in selector.children:
        if isinstance(child, ir.Selector):
            yield from _selects(child)
