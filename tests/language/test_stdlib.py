"""Each standard-library function against a plain Python definition of what it computes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

import rasp

SESSION = rasp.Session(check_examples=False)
SESSION.run(
    """
    tokens = tokens_int;
    w_length = length;
    w_width = selector_width(select(tokens, tokens, <));
    w_focus = has_focus(select(tokens, tokens, >));
    w_count = count(tokens, 2);
    w_contains = contains(tokens, 3);
    w_max = max(tokens, indices);
    w_min = min(tokens, indices);
    w_average = average(tokens);
    w_load = load_from_location(tokens, 1);
    w_shift = shift(tokens, 2, -1);
    w_first = mark_first_instance(tokens, 2);
    w_last = mark_last_instance(tokens, 2);
    w_from_first = aggregate(select_from_first(tokens, 2), indices, -1);
    w_from_last = aggregate(select_from_last(tokens, 2), indices, -1);
    w_sort = sort(tokens, tokens);
    w_sort_desc = sort(tokens, 0 - tokens);
    w_next = aggregate(select_next_identical(tokens), indices, -1);
    w_full = selector_width(full_s);
    """
)

sequences = st.lists(st.integers(0, 4), min_size=1, max_size=10)


def ev(name: str, xs: list[int]) -> list:
    return SESSION[name](xs)


@settings(max_examples=60, deadline=None)
@given(sequences)
def test_library_functions(xs: list[int]) -> None:
    n = len(xs)
    assert ev("w_length", xs) == [n] * n
    assert ev("w_full", xs) == [n] * n
    assert ev("w_width", xs) == [sum(k < q for k in xs) for q in xs]
    assert ev("w_focus", xs) == [any(k > q for k in xs) for q in xs]
    assert ev("w_count", xs) == [xs.count(2)] * n
    assert ev("w_contains", xs) == [3 in xs] * n
    assert ev("w_max", xs) == [max(x, i) if x != i else i for i, x in enumerate(xs)]
    assert ev("w_min", xs) == [x if x < i else i for i, x in enumerate(xs)]
    assert ev("w_average", xs) == ([sum(xs) / n] * n if n > 1 else xs)
    assert ev("w_load", xs) == [xs[1] if n > 1 else 0] * n
    assert ev("w_shift", xs) == [xs[i - 2] if i >= 2 else -1 for i in range(n)]
    first = xs.index(2) if 2 in xs else None
    last = n - 1 - xs[::-1].index(2) if 2 in xs else None
    assert ev("w_first", xs) == [i == first for i in range(n)]
    assert ev("w_last", xs) == [i == last for i in range(n)]
    assert ev("w_from_first", xs) == [first if first is not None else -1] * n
    assert ev("w_from_last", xs) == [last if last is not None else -1] * n
    assert ev("w_sort", xs) == sorted(xs)
    assert ev("w_sort_desc", xs) == sorted(xs, reverse=True)
    nxt = [next((j for j in range(i + 1, n) if xs[j] == xs[i]), -1) for i in range(n)]
    assert ev("w_next", xs) == nxt
