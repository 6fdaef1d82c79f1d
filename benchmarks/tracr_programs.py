"""The programs of Tracr's library (tracr/compiler/lib.py), built with the Python API of `rasp.ir`.

Shared by the compiler tests and `benchmarks/compile.py`.  Each entry builds the program for a
given max_seq_len (sort needs it for its tie-breaks) and names its vocabulary.  Where Tracr
relies on its own semantics the programs follow RASP's: a mean is taken of numbers, not of
booleans (so 0/1 ints stand in for Tracr's numerical booleans), `select(1, 1, ==)` selects
every position (Tracr's Comparison.TRUE), and aggregate defaults have the type of the values
(a sequence has one type; Tracr's default None is not a RASP value).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rasp import ir


@dataclass(frozen=True)
class Example:
    name: str
    program: ir.SOp
    vocab: tuple[Any, ...]


def make_length() -> ir.SOp:
    return ir.length.named("length")


def make_reverse(sop: ir.SOp, default: Any = "") -> ir.SOp:
    opp_idx = (ir.length - ir.indices).named("opp_idx")
    opp_idx = (opp_idx - 1).named("opp_idx-1")
    reverse_selector = ir.select(ir.indices, opp_idx, "==").named("reverse_selector")
    return ir.aggregate(reverse_selector, sop, default=default).named("reverse")


def make_hist() -> ir.SOp:
    same_tok = ir.select(ir.tokens, ir.tokens, "==").named("same_tok")
    return ir.selector_width(same_tok).named("hist")


def make_sort_unique(vals: ir.SOp, keys: ir.SOp, default: Any = 0) -> ir.SOp:
    smaller = ir.select(keys, keys, "<").named("smaller")
    target_pos = ir.selector_width(smaller).named("target_pos")
    sel_new = ir.select(target_pos, ir.indices, "==")
    return ir.aggregate(sel_new, vals, default=default).named("sort")


def make_sort(vals: ir.SOp, keys: ir.SOp, max_seq_len: int, min_key: float, default: Any = 0) -> ir.SOp:
    """Stable sort: keys made unique by adding min_key * index / max_seq_len."""
    keys = ir.SequenceMap(
        fn=lambda x, i: x + min_key * i / max_seq_len, inputs=(keys, ir.indices), description="x + i/n"
    ).named("keys")
    return make_sort_unique(vals, keys, default)


def make_sort_freq(max_seq_len: int) -> ir.SOp:
    hist = (-1 * make_hist()).named("hist")
    return make_sort(ir.tokens, hist, max_seq_len=max_seq_len, min_key=1, default="").named("sort_freq")


def make_frac_prevs(bools: ir.SOp) -> ir.SOp:
    prevs = ir.select(ir.indices, ir.indices, "<=").named("prevs")
    return ir.aggregate(prevs, bools, default=0).named("frac_prevs")


def _indicator(sop: ir.SOp, token: str, name: str) -> ir.SOp:
    return ir.Map(fn=lambda x: 1 if x == token else 0, inner=sop, description=f"{token!r} ?").named(name)


def make_pair_balance(sop: ir.SOp, open_token: str, close_token: str) -> ir.SOp:
    opens = make_frac_prevs(_indicator(sop, open_token, "bools_open")).named("opens")
    closes = make_frac_prevs(_indicator(sop, close_token, "bools_close")).named("closes")
    return (opens - closes).named(f"balance_{open_token}{close_token}")


def _both(left: ir.SOp, right: ir.SOp, name: str) -> ir.SOp:
    return ir.SequenceMap(fn=lambda a, b: a and b, inputs=(left, right), description="and").named(name)


def _either(left: ir.SOp, right: ir.SOp, name: str) -> ir.SOp:
    return ir.SequenceMap(fn=lambda a, b: a or b, inputs=(left, right), description="or").named(name)


def make_shuffle_dyck(pairs: list[str]) -> ir.SOp:
    balances = [make_pair_balance(ir.tokens, pair[0], pair[1]) for pair in pairs]
    any_negative = ir.Map(fn=lambda x: x < 0, inner=balances[0], description="< 0")
    for balance in balances[1:]:
        below = ir.Map(fn=lambda x: x < 0, inner=balance, description="< 0")
        any_negative = _either(any_negative, below, "any_negative")
    any_negative = ir.Map(fn=lambda x: 1 if x else 0, inner=any_negative, description="0/1").named(
        "any_negative"
    )
    select_all = ir.select(1, 1, "==").named("select_all")
    has_neg = ir.aggregate(select_all, any_negative, default=0).named("has_neg")
    all_zero = ir.Map(fn=lambda x: x == 0, inner=balances[0], description="== 0")
    for balance in balances[1:]:
        zero = ir.Map(fn=lambda x: x == 0, inner=balance, description="== 0")
        all_zero = _both(all_zero, zero, "all_zero")
    select_last = ir.select(ir.indices, ir.length - 1, "==").named("select_last")
    last_zero = ir.aggregate(select_last, all_zero, default=False).named("last_zero")
    return ir.SequenceMap(
        fn=lambda h, z: (not h) and z, inputs=(has_neg, last_zero), description="not has_neg and last_zero"
    ).named("shuffle_dyck")


def shift_by(offset: int, sop: ir.SOp, default: Any = "") -> ir.SOp:
    """The value `offset` positions earlier (`default` for the first `offset` positions)."""
    select_off_by_offset = ir.select(ir.indices + offset, ir.indices, "==").named(f"shift_{offset}")
    return ir.aggregate(select_off_by_offset, sop, default=default).named(f"shift_by({offset})")


def detect_pattern(sop: ir.SOp, pattern: str) -> ir.SOp:
    detectors = []
    for i, element in enumerate(reversed(pattern)):
        detector = ir.Map(fn=lambda x, e=element: x == e, inner=sop, description=f"== {element!r}")
        if i != 0:
            detector = shift_by(i, detector, default=False)
        detectors.append(detector)
    detected = detectors.pop(0)
    while detectors:
        detected = _both(detected, detectors.pop(0), "detect")
    return detected.named(f"detect_pattern_{pattern}")


def make_count(sop: ir.SOp, token: str) -> ir.SOp:
    return ir.selector_width(ir.select(sop, token, "==")).named(f"count_{token}")


TOKENS_INT = ir.Tokens(kind="int")

LIBRARY: dict[str, Callable[[int], Example]] = {
    "length": lambda n: Example("length", make_length(), tuple("abc")),
    "reverse": lambda n: Example("reverse", make_reverse(ir.tokens), tuple("abc")),
    "hist": lambda n: Example("hist", make_hist(), tuple("abc")),
    "sort_unique": lambda n: Example(
        "sort_unique", make_sort_unique(TOKENS_INT, TOKENS_INT), (1, 2, 3, 4, 5)
    ),
    "sort": lambda n: Example("sort", make_sort(TOKENS_INT, TOKENS_INT, n, 1), (1, 2, 3, 4, 5)),
    "sort_freq": lambda n: Example("sort_freq", make_sort_freq(n), tuple("abc")),
    "frac_prevs": lambda n: Example(
        "frac_prevs", make_frac_prevs(_indicator(ir.tokens, "x", "is_x")), tuple("xyz")
    ),
    "pair_balance": lambda n: Example("pair_balance", make_pair_balance(ir.tokens, "(", ")"), tuple("()")),
    "shuffle_dyck1": lambda n: Example("shuffle_dyck1", make_shuffle_dyck(["()"]), tuple("()")),
    "shuffle_dyck2": lambda n: Example("shuffle_dyck2", make_shuffle_dyck(["()", "{}"]), tuple("(){}")),
    "shift": lambda n: Example("shift", shift_by(2, ir.tokens), tuple("abc")),
    "detect_pattern": lambda n: Example("detect_pattern", detect_pattern(ir.tokens, "abc"), tuple("abc")),
    "count": lambda n: Example("count", make_count(ir.tokens, "a"), tuple("abc")),
}


def example(name: str, max_seq_len: int) -> Example:
    return LIBRARY[name](max_seq_len)
