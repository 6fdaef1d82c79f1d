"""RASP-L's "no arithmetic on indices" (Zhou et al. 2023), checked on a program's graph.

RASP-L programs are meant to work at every length, so they may compare positions but not
compute with them.  Precisely, an s-op is *positional* when it is `indices`, `length`, a
`selector_width`, or an aggregate whose values are positional (a copied position).  A program
satisfies the rule when every positional s-op is used only

- as the keys or queries of a `select` (any comparison), or
- as the values of an aggregate whose selector is an equality lookup (`select(..., ==)`
  combined by `and` only), which copies a position rather than averaging positions,

with one exception, the constant offset of a shift: `indices + k` (or `k + indices`,
`indices - k`) for an integer k, used only as one side of an `==` select whose other side is
`indices` (the standard library's `shift`).  Anything else that consumes a positional s-op,
a map or sequence map (`indices + 1` elsewhere, `opened - 1`, `length - indices - 1`,
`b == 0`), an average of positions, or a positional output of the program itself when it is
then used in arithmetic, is an offending s-op.  The check says nothing of RASP-L's other
restrictions (small value ranges, causality), which the compiler or the author must ensure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rasp import ir


@dataclass(frozen=True)
class Offence:
    """An s-op that computes with positions: `node` and why."""

    node: ir.Node
    reason: str

    def __str__(self) -> str:
        where = f"{self.node.origin}: " if self.node.origin is not None else ""
        return f"{where}{self.node.label}: {self.reason}"


def is_positional_source(node: ir.Node) -> bool:
    return isinstance(node, (ir.Indices, ir.Length, ir.SelectorWidth))


def _is_equality_lookup(selector: ir.Selector) -> bool:
    if isinstance(selector, ir.Select):
        return selector.op == "=="
    if isinstance(selector, ir.SelectorAnd):
        return _is_equality_lookup(selector.left) and _is_equality_lookup(selector.right)
    return False


def _is_constant_offset(node: ir.Node) -> bool:
    """`indices + k` for an integer k (as the operators annotate it)."""
    return (
        isinstance(node, ir.Map)
        and isinstance(node.inner, ir.Indices)
        and node.affine is not None
        and node.affine[0] == 1
        and float(node.affine[1]).is_integer()
    )


def check_raspl(roots: Iterable[ir.Node]) -> list[Offence]:
    """The offending s-ops of the graphs under `roots`, each once, in definition order."""
    roots = list(roots)
    nodes: dict[int, ir.Node] = {}
    consumers: dict[int, list[ir.Node]] = {}
    for root in roots:
        for node in ir.walk(root):
            if node.uid not in nodes:
                nodes[node.uid] = node
                for child in node.children:
                    consumers.setdefault(child.uid, []).append(node)
    positional: set[int] = set()
    offences: list[Offence] = []
    for node in sorted(nodes.values(), key=lambda node: node.uid):
        if _is_constant_offset(node):
            if not all(_is_shift_select(user) for user in consumers.get(node.uid, [])) or not consumers.get(node.uid):
                reason = f"arithmetic on the positions indices ({node.description}) outside a shift"
                offences.append(Offence(node, reason))
            continue
        reason = _offence(node, positional)
        if reason is not None:
            offences.append(Offence(node, reason))
        if is_positional_source(node) or (isinstance(node, ir.Aggregate) and node.sop.uid in positional):
            positional.add(node.uid)
    return offences


def _is_shift_select(node: ir.Node) -> bool:
    """`select(indices + k, indices, ==)` or `select(indices, indices + k, ==)`."""
    if not isinstance(node, ir.Select) or node.op != "==":
        return False
    sides = (node.keys, node.queries)
    return any(_is_constant_offset(side) for side in sides) and any(isinstance(side, ir.Indices) for side in sides)


def _offence(node: ir.Node, positional: set[int]) -> str | None:
    """Why `node` computes with a positional input (its inputs are already classified)."""
    if isinstance(node, ir.Aggregate):
        if node.sop.uid in positional and not _is_equality_lookup(node.selector):
            return f"averages the positions {node.sop.label} (its selector is not an equality lookup)"
        return None
    if isinstance(node, (ir.Map, ir.SequenceMap)):
        used = [child.label for child in node.children if child.uid in positional]
        if used:
            return f"arithmetic on the positions {', '.join(used)} ({node.description})"
    return None
