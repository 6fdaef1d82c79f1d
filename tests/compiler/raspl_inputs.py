"""Valid inputs, and the outputs they should give, for the RASP-L programs of
tests/compiler/raspl_programs.rasp, computed in plain Python (never by the interpreter).

Every program there is a next-token predictor: output i is the token that should follow input
i.  A case is `(tokens, expected)`: `expected[i]` is the token that follows `tokens[i]` in a
correct trace, or None where the trace does not determine it (inside a prompt: the operands of
an addition, a count's start and end numbers, the tokens a copy will repeat).  The programs are
evaluated causally, so one evaluation on a trace gives every next-token prediction at once, as
an autoregressive run would, one token at a time, when each of them is right.

    from raspl_inputs import cases, vocab
    for tokens, expected in cases("add_reverse", n=20, count=50, seed=0): ...
    compiler.compile(sop, vocab("add_reverse", 20), 20, causal=True)

Token formats (those of apple/ml-np-rasp, examples/test_add.py and examples/count.py):

- addition: START_PROMPT, then each summand as `hint digit` pairs, most significant digit first,
  padded with zeros to `pad` digits, hints -100, -101, ... (the most significant digit's is
  -100), PLUS between the summands, EQUALS_SIGN after them, then the answer as `hint digit`
  pairs and END_RESPONSE.  Reverse order writes the sum's least significant digit first (its
  hint is -100 - (pad - 1)), forward order its most significant first.  test_add.py pads to
  one digit more than the longer summand, so that the sum fits and the top pair sums to 0;
  here the summands have at most pad - 1 digits (more zero padding is allowed).
- count: START a b a a+1 ... b END, repeated (the last segment may be cut off), optionally
  after some numbers that belong to no segment (as in count.py's own example).
- mode: any sequence of the vocabulary; output i is a most frequent token of tokens 0..i,
  and among several, the one whose count reached the top most recently.
- copy_unique: S t1 ... tk S t1 ... (distinct t's, S = -1): after the second S, each token is
  followed by what followed it the first time, and tk by S.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable

START_PROMPT, PLUS, EQUALS_SIGN, END_RESPONSE = -1, -2, -3, -5
COUNT_START, COUNT_END = -1, -2
COPY_SEPARATOR = -1
HINT = -100  # the most significant digit's index hint; the next digit's is -101, and so on

COUNT_NUMBERS = range(16)  # count.py's own example counts from 0 to 15
MODE_TOKENS = range(5)
COPY_TOKENS = range(1, 10)

Case = tuple[list[int], list[int | None]]


# ------------------------------------------------------------------------------- addition


def max_pad(n: int) -> int:
    """The most digits (pad) a whole addition trace (without its END_RESPONSE) of at most n
    tokens can have: 3 + 4 * pad prompt tokens and 2 * pad answer tokens."""
    return max(1, (n - 3) // 6)


def _with_hints(number: int, pad: int) -> list[int]:
    digits = [int(d) for d in str(number).rjust(pad, "0")]
    assert len(digits) == pad, (number, pad)
    return [token for position, digit in enumerate(digits) for token in (HINT - position, digit)]


def addition_trace(a: int, b: int, pad: int, reverse: bool) -> list[int]:
    """The whole trace of a + b with `pad` digits, END_RESPONSE included."""
    answer = _with_hints(a + b, pad)
    pairs = [answer[i : i + 2] for i in range(0, len(answer), 2)]
    if reverse:
        pairs.reverse()
    prompt = [START_PROMPT, *_with_hints(a, pad), PLUS, *_with_hints(b, pad), EQUALS_SIGN]
    return [*prompt, *(token for pair in pairs for token in pair), END_RESPONSE]


def _summands(rng: random.Random, pad: int) -> tuple[int, int]:
    """Two summands of at most pad - 1 digits; a third of the time their digit sums are all 9
    (no carry) or make one carry run through every digit (999 + 1), the cases where forward
    order must look ahead."""
    top = 10 ** (pad - 1)
    a = rng.randrange(top)
    kind = rng.randrange(3)
    if kind == 0 or top == 1:
        return a, rng.randrange(top)
    digits = rng.randint(1, pad - 1)
    a %= 10**digits
    b = 10**digits - 1 - a + (kind == 2)  # 9...9 - a, or 10...0 - a
    return (a, b) if b < top else (a, b - 1)


def addition_cases(n: int, count: int, seed: int, reverse: bool) -> list[Case]:
    """`count` traces of true additions of at most n tokens, each cut at a random point at or
    after EQUALS_SIGN (the whole trace without END_RESPONSE half the time)."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        pad = rng.randint(1, max_pad(n))
        a, b = _summands(rng, pad)
        trace = addition_trace(a, b, pad, reverse)
        equals = trace.index(EQUALS_SIGN)
        whole = len(trace) - 1
        length = whole if rng.random() < 0.5 else rng.randint(equals + 1, whole)
        expected = [trace[i + 1] if i >= equals else None for i in range(length)]
        out.append((trace[:length], expected))
    return out


def addition_result(tokens: list[int], reverse: bool) -> int:
    """The number an answer spells: the digits after EQUALS_SIGN (test_add.py's output2result)."""
    digits = [t for t in tokens[tokens.index(EQUALS_SIGN) + 1 :] if t >= 0]
    if reverse:
        digits.reverse()
    return int("".join(map(str, digits)))


# ---------------------------------------------------------------------------------- count


def count_cases(n: int, count: int, seed: int) -> list[Case]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        tokens: list[int] = []
        expected: list[int | None] = []
        if rng.random() < 0.25:  # numbers before the first START belong to no segment
            junk = [rng.choice(COUNT_NUMBERS) for _ in range(rng.randint(1, 3))]
            tokens += junk
            expected += [None] * len(junk)
        length = rng.randint(min(n, len(tokens) + 3), n)
        while len(tokens) < length:
            low = rng.choice(COUNT_NUMBERS)
            high = rng.randint(low, min(COUNT_NUMBERS[-1], low + max(0, n - 5)))
            run = list(range(low, high + 1))
            segment = [COUNT_START, low, high, *run, COUNT_END]
            follows = [None, None, low, *[v + 1 if v < high else COUNT_END for v in run], COUNT_START]
            tokens += segment
            expected += follows
        out.append((tokens[:length], expected[:length]))
    return out


# ----------------------------------------------------------------------------------- mode


def mode_expected(tokens: list[int]) -> list[int]:
    """Per prefix: the token whose count reached the prefix's highest count most recently."""
    counts: Counter[int] = Counter()
    reached: dict[int, int] = {}  # count -> the latest token that reached it
    out = []
    for token in tokens:
        counts[token] += 1
        reached[counts[token]] = token
        out.append(reached[max(counts.values())])
    return out


def mode_cases(n: int, count: int, seed: int) -> list[Case]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        width = rng.randint(1, len(MODE_TOKENS))
        tokens = [rng.choice(MODE_TOKENS[:width]) for _ in range(rng.randint(1, n))]
        out.append((tokens, mode_expected(tokens)))
    return out


# ----------------------------------------------------------------------------------- copy


def copy_cases(n: int, count: int, seed: int) -> list[Case]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        k = rng.randint(1, min(len(COPY_TOKENS), (n - 2) // 2))
        body = rng.sample(list(COPY_TOKENS), k)
        trace = [COPY_SEPARATOR, *body, COPY_SEPARATOR, *body, COPY_SEPARATOR]
        length = rng.randint(k + 2, len(trace) - 1)
        expected = [trace[i + 1] if i >= k + 1 else None for i in range(length)]
        out.append((trace[:length], expected))
    return out


# ------------------------------------------------------------------------------ by program

_CASES: dict[str, Callable[[int, int, int], list[Case]]] = {
    "add_reverse": lambda n, count, seed: addition_cases(n, count, seed, reverse=True),
    "add_forward": lambda n, count, seed: addition_cases(n, count, seed, reverse=False),
    "count_lib": count_cases,
    "mode": mode_cases,
    "copy_unique": copy_cases,
}

PROGRAMS = tuple(_CASES)


def cases(program: str, n: int, count: int = 50, seed: int = 0) -> list[Case]:
    """`count` valid inputs of at most n tokens for `program`, each with its expected outputs."""
    return _CASES[program](n, count, seed)


def vocab(program: str, n: int) -> list[int]:
    """Every token a valid input of at most n tokens of `program` can hold."""
    if program.startswith("add_"):
        return [*range(10), START_PROMPT, PLUS, EQUALS_SIGN, *(HINT - i for i in range(max_pad(n)))]
    if program == "count_lib":
        return [COUNT_START, COUNT_END, *COUNT_NUMBERS]
    if program == "mode":
        return list(MODE_TOKENS)
    if program == "copy_unique":
        return [COPY_SEPARATOR, *COPY_TOKENS]
    raise KeyError(program)
