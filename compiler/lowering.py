"""Stage 2: lowering.  Every s-op the output needs gets a rep over typed residual dimensions
(`compiler.reps`), made on demand, children first; the operations that need computation
become blocks.  This module only dispatches: each concern has its own module.

- `compiler.encodings`: the reps of the embedded s-ops (tokens, constants, positions), the
  forms derived from a rep (one-hot, square, snapped, clamped, joints) and the error
  accounting that raises head scales until every consumer's margin holds;
- `compiler.heads` (with `compiler.scores` for selectors): length, aggregate, selector width;
- `compiler.maps` (with `compiler.mlp_blocks` and `compiler.mlps`): map and sequence map;
- `compiler.ledger`: the dimensions, blocks and head scales made so far, and the budget.

`lower` finishes: it also fixes how the output is read and makes the output's error small
enough for its decoder, and hands over a frozen `LoweredProgram`.
"""

from __future__ import annotations

from typing import Any

from compiled_model.spec import SOFTMAX, Attention
from compiler.blocks import Functional, LoweredProgram, frozen
from compiler.budget import DEFAULT_BUDGET
from compiler.encodings import Encodings, embedded
from compiler.errors import fail
from compiler.heads import Heads
from compiler.ledger import Ledger
from compiler.length_free import LengthFree
from compiler.maps import Maps, SharedLookups, shared_lookups
from compiler.margins import decode_tolerance
from compiler.reps import Rep
from compiler.scores import ScoreBuilder
from compiler.valuesets import Interval, Unenumerable, ValueSets, integer_means
from rasp import ir


class Lowering:
    """The concerns of lowering, wired together over one ledger."""

    def __init__(self, ledger: Ledger, shared: SharedLookups | None = None):
        self.ledger = ledger
        self.encodings = Encodings(ledger, self.lower_node)
        self.scores = ScoreBuilder(self.encodings)
        length_free = LengthFree(self.encodings)
        self.heads = Heads(self.encodings, self.scores, length_free)
        self.maps = Maps(self.encodings, length_free, shared or {})

    def lower_node(self, node: ir.SOp) -> Rep:
        """The rep of an s-op met for the first time (`Encodings.rep` memoises it).  A
        construction that would list an Interval's values (a table over positions in a
        length-free compile) is refused, naming the s-op."""
        try:
            return self._lower_node(node)
        except Unenumerable as error:
            raise fail(
                node,
                f"its lowering would tabulate {error}, and a length-free compile builds nothing that grows "
                "with max_seq_len",
            ) from None

    def _lower_node(self, node: ir.SOp) -> Rep:
        sets = self.ledger.sets
        rep = embedded(node, sets)
        if rep is not None:
            return rep
        if isinstance(node, ir.Aggregate):
            return self.heads.aggregate(node, sets[node])
        values = sets.known(node)
        if isinstance(node, ir.Length):
            return self.heads.length(node, values)
        if isinstance(node, ir.SelectorWidth):
            return self.heads.selector_width(node, values)
        if isinstance(node, ir.Map):
            return self.maps.map(node, values)
        if isinstance(node, ir.SequenceMap):
            return self.maps.sequence_map(node, values)
        raise TypeError(f"unknown s-op node {type(node).__name__}")


def lower(
    sop: ir.SOp, sets: ValueSets, budget: int = DEFAULT_BUDGET, attention: Attention = SOFTMAX
) -> LoweredProgram:
    """Stage 2's entry point: the blocks that compute `sop` from the embeddings, how its value
    is read from the residual stream, and a guarantee: at every non-BOS position, on every
    input the value sets cover, every block's input stays inside the margin that block
    tolerates, and the output inside its decoder's (a CompileError otherwise).  With
    `Attention("hard")` the heads are hard (see margins)."""
    ledger, lowering, rep = _lowered(sop, sets, budget, attention)
    shared = shared_lookups(lowering.maps.looked_up, sets.values)
    if shared:  # again, each group of maps of one s-op in one MLP (`Maps._lookups`)
        ledger, lowering, rep = _lowered(sop, sets, budget, attention, shared)
    encodings = lowering.encodings
    # the checks come after the s-ops they read; the output's kinds are checked as it is decoded
    for node in encodings.lowered():
        if node is not sop:
            lowering.heads.kinds.sop(node)
    kind, values, output = _output(rep, encodings.known_indicators(sop))
    if kind == "fraction" and not (isinstance(sop, ir.Aggregate) and integer_means(sop, ledger.sets)):
        raise fail(sop, "its values are means of non-integers, too many to enumerate: the output cannot be read")
    encodings.require(rep, decode_tolerance(kind, values, sets.max_seq_len), sop, "reading the output")
    return LoweredProgram(
        blocks=ledger.finish(),
        kind=kind,
        values=tuple(values),
        output=tuple(frozen(functional) for functional in output),
        mixtures=tuple(ledger.mixtures),
        vocab=sets.vocab,
        max_seq_len=sets.max_seq_len,
        causal=sets.causal,
        budget=budget,
        attention=attention,
    )


def _lowered(
    sop: ir.SOp, sets: ValueSets, budget: int, attention: Attention, shared: SharedLookups | None = None
) -> tuple[Ledger, Lowering, Rep]:
    """One lowering of `sop` on a ledger of its own.  Maps of one s-op share a lookup MLP only
    as `shared` groups them: the first lowering finds which maps take one, since a map some
    shortcut never asks for (a constant selector's keys) must not get columns in it."""
    ledger = Ledger(sets, budget, hard=attention.hard)
    ledger.check_budget(sop)  # the position table alone may be over it: refused before any block
    lowering = Lowering(ledger, shared)
    return ledger, lowering, lowering.encodings.rep(sop)


def _output(rep: Rep, indicators: Any) -> tuple[str, list[Any], list[Functional]]:
    """How the output is read: ('categorical', values, indicators), ('numerical', values, [f])
    or ('fraction', [], [f]) or ('integer', [low, high], [f])."""
    if indicators is not None:
        values = list(indicators)
        return "categorical", values, [indicators[v] for v in values]
    assert rep.number is not None
    if rep.values is None:  # means of integers: decoded as the nearest fraction of denominator <= n
        return "fraction", [], [rep.number]
    if isinstance(rep.values, Interval):  # a length-free model's positions or counts
        return "integer", [rep.values.low, rep.values.high], [rep.number]
    return "numerical", sorted(rep.values), [rep.number]
