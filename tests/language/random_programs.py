"""Random RASP programs and inputs for the interpreter's property tests (the differential test
against the naive evaluator, and blocked against whole-matrix evaluation)."""

from __future__ import annotations

from hypothesis import strategies as st

from rasp import ir

OPS = ["==", "!=", "<", ">", "<=", ">="]


@st.composite
def programs(draw: st.DrawFn) -> ir.SOp:
    """Random graphs over int tokens: maps, sequence maps, selects, aggregates, widths."""
    sops: list[ir.SOp] = [ir.Tokens(kind="int"), ir.indices, ir.length]
    selectors: list[ir.Selector] = []
    for _ in range(draw(st.integers(1, 6))):
        choice = draw(st.integers(0, 5))
        pick = st.sampled_from(sops)
        if choice == 0:
            sops.append(draw(pick) + draw(st.integers(-2, 2)))
        elif choice == 1:
            sops.append(ir.binary(draw(st.sampled_from(["+", "-", "*"])), draw(pick), draw(pick)))
        elif choice == 2 or not selectors:
            selectors.append(ir.select(draw(pick), draw(pick), draw(st.sampled_from(OPS))))
        elif choice == 3:
            a, b = draw(st.sampled_from(selectors)), draw(st.sampled_from(selectors))
            selectors.append(draw(st.sampled_from([a & b, a | b, ~a])))
        elif choice == 4:
            sops.append(ir.aggregate(draw(st.sampled_from(selectors)), draw(pick), draw(st.integers(-1, 1))))
        else:
            sops.append(ir.selector_width(draw(st.sampled_from(selectors))))
    return sops[-1]


inputs = st.lists(st.integers(0, 5), min_size=1, max_size=9)
