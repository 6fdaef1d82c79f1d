"""Differential fuzzing of the compiler: random well-typed RASP programs, compiled and compared
with the interpreter.

The compiler promises a model equal to the interpreter on every input, or a CompileError.
`generate(seed)` writes a random program as RASP source text (so a failing one can be printed,
saved as a regression file and compiled with `rasp compile`), over a string or an integer
vocabulary, with a random `max_seq_len` (2..10) and causality.  The program exercises every
construct of the language the compiler lowers: tokens, indices, length, constants, maps
(arithmetic with negative and fractional constants, comparisons, `round`, `indicator`,
`in`, dictionary lookups, `x if c else y`), maps of positions (and tokens) with fractional
and negative slopes written as sums, products and quotients, sequence maps of two s-ops,
selects with each comparison and with constant keys or queries, selector `and`/`or`/`not`,
numerical and categorical aggregates with and without defaults, `selector_width`, indexing,
and numerical s-ops (means, widths, maps of positions) as select keys and queries.  Each
program is checked on inputs of every length up to `max_seq_len`
(`compiler.check.sample_inputs`).  `classify(case)` compiles it and says what happened:
exact, refused, wrong, over budget or crash.  The test suite runs a few hundred seeds in
process; `benchmarks/fuzz_compiler.py` runs any number, each in a guarded subprocess.
"""

from __future__ import annotations

import random
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from compiled_model.shapes import LayerShape, ModelShape, pad, shape_of
from compiled_model.transformer import Transformer
from compiler.check import most_random_inputs, sample_inputs, verify
from compiler.compiling import compile as compile_program
from compiler.errors import CompileError
from rasp import ir
from rasp.errors import RaspError
from rasp.interpreter import evaluate
from rasp.session import Session

OUTCOMES = ("exact", "refused", "wrong", "over budget", "crash")
"""How a program can fare.  Only the first two keep the compiler's promise."""

COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
STRING_ALPHABET = ("a", "b", "c", "d")
INT_ALPHABET = (-2, -1, 0, 1, 2, 3)
CONSTANTS = (-2, -1, 0, 1, 2, 3, 0.5, -1.5, 2.5)
DIVISORS = (2, -1, 0.5, 3, -2.5)
SLOPES = (0.2, -0.8, 0.3, -1.5, 0.25, -0.1, 1.25)
"""Fractional and negative coefficients of positions: maps of positions whose values fall
between integers and rarely round to them (issue 20: `(1 - indices) + indices / 5`)."""
POSITION_DIVISORS = (5, 3, 7, -4, 2.5)
PREFIXES = {"num": "n", "str": "w", "bool": "b", "sel": "sel"}
"""Types of the generated expressions, and the prefix of the names bound to each."""
INPUTS = 24
"""Inputs compared per program (edge cases first: see `compiler.check.sample_inputs`)."""
REPRODUCTION_CHECK = 200
"""Random inputs the printed command to reproduce a case checks (fewer where the vocabulary and
length have fewer distinct inputs, which `rasp compile` would refuse)."""
SHARED_SHAPE_LIMIT = 1_000_000
"""Models of more parameters run at their own shape: padded to the next powers of two in
every layer, a 46M-parameter model (a 50,176-unit MLP) took 4.5 GB and was killed as over
budget, though it compiled within the budget and was exact (fuzz seed 801739)."""


@dataclass(frozen=True)
class Case:
    """One generated program and how to compile it; the output is the s-op `out` (the value
    of the last, expression, statement)."""

    seed: int
    source: str
    vocab: tuple[Any, ...]
    max_seq_len: int
    causal: bool

    def header(self) -> str:
        """Comment lines that say how to compile the program, for a saved .rasp file."""
        vocab = ",".join(str(token) for token in self.vocab)
        causal = " --causal" if self.causal else ""
        return f"# fuzz seed {self.seed}: rasp compile FILE --vocab {vocab} --max-len {self.max_seq_len}{causal}\n"

    def command(self, path: str) -> str:
        """The command that compiles the program saved at `path` and checks it."""
        vocab = ",".join(str(token) for token in self.vocab)
        causal = " --causal" if self.causal else ""
        count = min(REPRODUCTION_CHECK, most_random_inputs(len(self.vocab), self.max_seq_len))
        return f"rasp compile {path} --vocab={vocab} --max-len {self.max_seq_len}{causal} --check {count}"


@dataclass
class Outcome:
    """What compiling a case gave: one of OUTCOMES, a one-line reason and the details."""

    kind: str
    reason: str = ""
    detail: str = ""
    checked: int = 0
    summary: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------------ generating


class _ProgramAuthor:
    """Writes a program statement by statement.  Every expression is built from names bound
    earlier (more often recent ones, so that statements depend on each other) and from the
    built-ins, and has one of four types: "str" (categorical strings), "num" (ints and
    floats), "bool" and "sel" (selectors).  Types keep the program well-typed: no string is
    compared with a number, no bool or string is averaged, nothing is divided by an s-op."""

    def __init__(self, rng: random.Random, ints: bool, vocab: tuple[Any, ...]):
        self.rng = rng
        self.ints = ints
        self.vocab = vocab
        self.names: dict[str, list[str]] = {kind: [] for kind in PREFIXES}
        self.unused: set[str] = set()
        self.lines: list[str] = []

    # -------------------------------------------------------------------------- operands

    def leaf(self, kind: str) -> str:
        """A name of type `kind`: mostly one bound by the program, else a built-in."""
        bound = self.names[kind]
        unused = [name for name in bound if name in self.unused]
        if unused and self.rng.random() < 0.6:
            # names no statement has read yet come first, so statements chain into `out`
            name = self.rng.choice(unused)
            self.unused.discard(name)
            return name
        if bound and self.rng.random() < 0.6:
            # then recent names
            return bound[-1 - min(int(self.rng.expovariate(0.7)), len(bound) - 1)]
        if kind == "bool":
            return f"({self.leaf('num')} {self.rng.choice(['<', '==', '>='])} {self.number()})"
        builtins = {
            "str": ["tokens_str"] if self.ints else ["tokens"],
            "num": ["indices", "length", *(["tokens"] if self.ints else [])],
            "sel": ["full_s", "select(indices, indices, <=)", "select(indices, 0, ==)"],
        }[kind]
        return self.rng.choice(builtins)

    def number(self) -> str:
        return self.literal(self.rng.choice(CONSTANTS))

    def string(self) -> str:
        return f'"{self.rng.choice(["a", "b", "z", "ab"])}"'

    @staticmethod
    def literal(value: Any) -> str:
        return f'"{value}"' if isinstance(value, str) else str(value)

    def token_value(self) -> str:
        return self.literal(self.rng.choice(self.vocab))

    def expression(self, kind: str, depth: int) -> str:
        """A random expression of type `kind`, nested at most `depth` deep."""
        if depth <= 0:
            return self.leaf(kind)
        makers: list[Callable[[int], str]] = {
            "num": [self.arithmetic, self.two_numbers, self.number_of_bool, self.mean, self.width,
                    self.lookup("num"), self.indexed("num"), self.choice("num"), self.idiom,
                    self.of_positions, self.positional_width],
            "str": [self.suffixed, self.two_strings, self.copy, self.lookup("str"), self.indexed("str"),
                    self.choice("str")],
            "bool": [self.compare_number, self.compare_string, self.logic, self.membership, self.copy_bool],
            "sel": [self.select, self.select, self.select, self.combine],
        }[kind]
        return self.rng.choice(makers)(depth - 1)

    def operand(self, kind: str, depth: int) -> str:
        """A leaf or (less often) a nested expression, parenthesised."""
        if depth > 0 and self.rng.random() < 0.35:
            return f"({self.expression(kind, depth)})"
        return self.leaf(kind)

    # ----------------------------------------------------------------------- numbers

    def arithmetic(self, depth: int) -> str:
        x = self.operand("num", depth)
        c = self.number()
        divisor = self.literal(self.rng.choice(DIVISORS))
        return self.rng.choice(
            [f"{x} + {c}", f"{x} - {c}", f"{c} - {x}", f"{x} * {c}", f"-{x}", f"{x} / {divisor}",
             f"round({x})", f"round({x} / 2)", f"{x} % 3", f"{x} * {x}"]
        )

    def idiom(self, depth: int) -> str:
        """Counts as the RASP literature writes them: a mean times a length, and a selector
        width through a BOS-like first position (the original's sort and histograms)."""
        values = f"indicator({self.operand('bool', depth)})"
        selector = self.operand("sel", depth)
        return self.rng.choice(
            [f"round((indices + 1) * aggregate(select(indices, indices, <=), {values}))",
             f"length * aggregate({selector}, {values})",
             f"round(1 / aggregate({selector} or select(indices, 0, ==), indicator(indices == 0))) - 1"]
        )

    def of_positions(self, depth: int) -> str:
        """A map of positions (and of tokens, for integer tokens) with a fractional or negative
        slope, written in one of the forms programs use: a sum of two maps of the position,
        a product, a quotient (Tracr's sort keys `x + min_key * i / n`)."""
        slope, other = self.literal(self.rng.choice(SLOPES)), self.literal(self.rng.choice(SLOPES))
        divisor, c = self.literal(self.rng.choice(POSITION_DIVISORS)), self.number()
        forms = [f"({c} - indices) + indices / {divisor}", f"indices * {slope} + {c}",
                 f"{c} + indices / {divisor}", f"(indices + {c}) / {divisor} - indices",
                 f"(length - indices) / {divisor}", f"indices * {slope} - indices * {other}"]
        if self.ints:
            forms += [f"tokens + indices / {divisor}", f"tokens * {slope} - indices * {other}",
                      f"(tokens - indices) / {divisor}"]
        return self.rng.choice(forms)

    def positional_width(self, depth: int) -> str:
        """A selector width (or a mean) of a comparison of two maps of positions: the
        selection changes at every position, so a position the model loses shows."""
        keys, queries = self.of_positions(depth), self.rng.choice([self.of_positions(depth), "keys"])
        selector = f"select({keys}, {keys if queries == 'keys' else queries}, {self.rng.choice(COMPARISONS)})"
        if self.rng.random() < 0.7:
            return f"selector_width({selector})"
        return f"aggregate({selector}, {self.rng.choice(['indices', self.leaf('num')])}, 0)"

    def two_numbers(self, depth: int) -> str:
        x, y = self.operand("num", depth), self.operand("num", depth)
        return self.rng.choice([f"{x} + {y}", f"{x} - {y}", f"{x} * {y}"])

    def number_of_bool(self, depth: int) -> str:
        return f"indicator({self.operand('bool', depth)})"

    def mean(self, depth: int) -> str:
        selector = self.operand("sel", depth)
        values = self.operand("num", depth)
        default = self.rng.choice(["", f", {self.number()}"])
        return f"aggregate({selector}, {values}{default})"

    def width(self, depth: int) -> str:
        return f"selector_width({self.operand('sel', depth)})"

    def lookup(self, kind: str) -> Callable[[int], str]:
        """A dictionary from every token to a random constant, indexed by the tokens."""
        def make(depth: int) -> str:
            value = self.number if kind == "num" else self.string
            table = ", ".join(f"{self.literal(t)}: {value()}" for t in self.vocab)
            return f"{{{table}}}[tokens]"

        return make

    def indexed(self, kind: str) -> Callable[[int], str]:
        def make(depth: int) -> str:
            return f"{self.operand(kind, depth)}[{self.rng.choice([0, 1, 2, -1])}]"

        return make

    def choice(self, kind: str) -> Callable[[int], str]:
        def make(depth: int) -> str:
            condition = self.operand("bool", depth)
            other = self.rng.choice([self.operand(kind, depth), self.number() if kind == "num" else self.string()])
            return f"{self.operand(kind, depth)} if {condition} else {other}"

        return make

    # ----------------------------------------------------------------------- strings

    def suffixed(self, depth: int) -> str:
        return f"{self.operand('str', depth)} + {self.string()}"

    def two_strings(self, depth: int) -> str:
        return f"{self.operand('str', depth)} + {self.operand('str', depth)}"

    def unique_selector(self, depth: int) -> str:
        """A selector that selects at most one key (the keys are positions, all distinct),
        sometimes narrowed further; categorical aggregates need one to copy a value."""
        query = self.rng.choice(
            ["indices - 1", "indices + 1", "length - indices - 1", "0", self.operand("num", depth)]
        )
        selector = f"select(indices, {query}, ==)"
        if self.rng.random() < 0.25:
            selector += f" and {self.operand('sel', depth)}"
        return selector

    def copy(self, depth: int) -> str:
        selector = self.unique_selector(depth) if self.rng.random() < 0.8 else self.operand("sel", depth)
        return f"aggregate({selector}, {self.operand('str', depth)}, {self.string()})"

    # ------------------------------------------------------------------------- bools

    def compare_number(self, depth: int) -> str:
        x = self.operand("num", depth)
        y = self.rng.choice([self.number(), self.operand("num", depth)])
        return f"{x} {self.rng.choice(['==', '<', '<=', '>', '>='])} {y}"

    def compare_string(self, depth: int) -> str:
        x = self.operand("str", depth)
        y = self.rng.choice([self.string(), self.operand("str", depth), '"a"'])
        return f"{x} {self.rng.choice(['==', '==', '<'])} {y}"

    def logic(self, depth: int) -> str:
        x, y = self.operand("bool", depth), self.operand("bool", depth)
        return self.rng.choice([f"{x} and {y}", f"{x} or {y}", f"not {x}"])

    def membership(self, depth: int) -> str:
        if self.rng.random() < 0.5:
            return f"{self.token_value()} in tokens"
        chosen = sorted({self.token_value() for _ in range(2)})
        return f"tokens in [{', '.join(chosen)}]"

    def copy_bool(self, depth: int) -> str:
        return f"aggregate({self.unique_selector(depth)}, {self.operand('bool', depth)}, False)"

    # --------------------------------------------------------------------- selectors

    def select(self, depth: int) -> str:
        kind = self.rng.choice(["num", "num", "str", "bool"])
        comparison = self.rng.choice(COMPARISONS)
        if kind == "bool":
            return f"select({self.operand('bool', depth)}, {self.rng.choice(['True', 'False'])}, ==)"
        constant = self.number() if kind == "num" else self.string()
        keys, queries = self.operand(kind, depth), self.operand(kind, depth)
        if kind == "num" and self.rng.random() < 0.25:
            keys, queries = f"({self.of_positions(depth)})", self.rng.choice([keys, f"({self.of_positions(depth)})"])
        roll = self.rng.random()
        if roll < 0.2:
            keys = constant
        elif roll < 0.4:
            queries = constant
        return f"select({keys}, {queries}, {comparison})"

    def combine(self, depth: int) -> str:
        x, y = self.operand("sel", depth), self.operand("sel", depth)
        return self.rng.choice([f"{x} and {y}", f"{x} or {y}", f"not {x}"])

    # -------------------------------------------------------------------- statements

    def statement(self, kind: str) -> None:
        name = f"{PREFIXES[kind]}{len(self.lines)}"
        self.lines.append(f"{name} = {self.expression(kind, self.rng.choice([1, 1, 2]))};")
        self.names[kind].append(name)
        self.unused.add(name)


def _program(rng: random.Random, ints: bool, vocab: tuple[Any, ...]) -> str:
    author = _ProgramAuthor(rng, ints, vocab)
    for _ in range(rng.randint(1, 10)):
        author.statement(rng.choices(["num", "str", "bool", "sel"], weights=[4, 2, 2, 3])[0])
    final = rng.choices(["num", "str", "bool"], weights=[5, 3, 2])[0]
    last = f"{author.expression(final, rng.choice([1, 2]))};"
    example = ", ".join(author.literal(rng.choice(vocab)) for _ in range(4))
    head = [f"set example [{example}]", *(["tokens = tokens_int;"] if ints else [])]
    return "\n".join([*head, *author.lines, last]) + "\n"


def load(source: str, file: str | None = None) -> ir.SOp:
    """The s-op `out` of a generated program (a RaspError if the source fails to run)."""
    session = Session()
    session.run(source, file)
    sop = session["out"]
    if not isinstance(sop, ir.SOp):
        raise RaspError(f"the program's last statement is a {type(sop).__name__}, not an s-op")
    return sop


def _usable(sop: ir.SOp, vocab: tuple[Any, ...], max_seq_len: int, causal: bool, seed: int) -> bool:
    """Whether the interpreter evaluates the program on at least half of the inputs it will
    be checked on: a program it rejects everywhere proves nothing."""
    good = 0
    inputs = sample_inputs(vocab, max_seq_len, INPUTS, seed)
    for tokens in inputs:
        try:
            evaluate(sop, tokens, causal=causal)
        except RaspError:
            continue
        good += 1
    return 2 * good >= len(inputs)


def generate(seed: int) -> Case:
    """A random program (deterministic in `seed`) that runs and that the interpreter
    evaluates on at least half of its check inputs; drafts that fail are drawn again."""
    rng = random.Random(seed)
    while True:
        ints = rng.random() < 0.35
        alphabet = INT_ALPHABET if ints else STRING_ALPHABET
        vocab = tuple(rng.sample(alphabet, rng.randint(1, 4)))
        max_seq_len = rng.randint(2, 10)
        causal = rng.random() < 0.3
        source = _program(rng, ints, vocab)
        try:
            sop = load(source)
        except RaspError:
            continue
        if _usable(sop, vocab, max_seq_len, causal, seed):
            return Case(seed, source, vocab, max_seq_len, causal)


# ------------------------------------------------------------------------------ classifying


def _bucket(size: int, least: int) -> int:
    """The next power of two from `least` up: few distinct shapes, few XLA compilations."""
    bucket = least
    while bucket < size:
        bucket *= 2
    return bucket


class _SharedShape(Transformer):
    """A model padded by `bucketed`: it also pads every batch to all of its positions, so
    that the jitted forward pass sees one input shape whatever the inputs' lengths (padded
    positions are masked out of attention, as in any batch, and never decoded)."""

    def encode(self, batch: Sequence[Sequence[Any]]) -> tuple[np.ndarray, np.ndarray]:
        ids, mask = super().encode(batch)
        extra = ((0, 0), (0, self.params["pos_embed"].shape[0] - ids.shape[1]))
        return np.pad(ids, extra), np.pad(mask, extra)


def bucketed(model: Transformer) -> Transformer:
    """The model zero-padded (`compiled_model.shapes.pad`: the same computation) to a shape with
    power-of-two sizes, generous minima and the same size in every layer, so that the many
    small models of a fuzzing run share a handful of XLA compilations of the forward pass
    instead of compiling one each.  Positions past `max_seq_len` get zero embeddings and
    only ever hold padding."""
    shape = shape_of(model)
    widest = LayerShape(
        *(_bucket(max([getattr(layer, name) for layer in shape.layers], default=0), least)
          for name, least in (("heads", 8), ("key_depth", 32), ("value_depth", 32), ("hidden", 256))),
        moded=any(layer.moded for layer in shape.layers),
    )
    target = ModelShape(
        vocab=_bucket(shape.vocab, 8),
        positions=_bucket(shape.positions, 16),
        width=_bucket(shape.width, 128),
        outputs=_bucket(shape.outputs, 16),
        layers=(widest,) * _bucket(len(shape.layers), 8),
    )
    padded = pad(model, target)
    return _SharedShape(padded.params, padded.spec)


def _reason(error: CompileError) -> str:
    """The kind of refusal: the first words of the message after the s-op's name."""
    words = error.message.split(": ", 1)[-1].split()
    return " ".join(words[:6])


def classify(
    case: Case, share_shapes: bool = True, inputs: int = INPUTS, attention: str = "soft", length_free: bool = False
) -> Outcome:
    """Compiles `case` and compares the model with the interpreter on `inputs` inputs from
    `compiler.check.sample_inputs`.  A CompileError is a refusal (the parameter budget's among
    them: the compiler stopped before allocating); running out of memory is over budget; any
    other exception, in the compiler or the model, is a crash.  With
    `share_shapes` a model of up to SHARED_SHAPE_LIMIT parameters runs zero-padded to a common
    shape (`bucketed`); `attention` is the compiler's (soft or hard heads); `length_free`
    compiles the case causally, hard and length-free (docs/compiler.md)."""
    if length_free:
        case, attention = replace(case, causal=True), "hard"
    try:
        sop = load(case.source)
    except RaspError as error:
        return Outcome("crash", "the generated program does not run", str(error))
    try:
        # the fuzzer compares the model itself, on more inputs, so the self-check is off
        model = compile_program(
            sop, case.vocab, case.max_seq_len, causal=case.causal, attention=attention, check=0, length_free=length_free
        )
    except CompileError as error:
        return Outcome("refused", _reason(error), str(error))
    except MemoryError:
        return Outcome("over budget", "out of memory", traceback.format_exc())
    except Exception as error:  # noqa: BLE001 - any other exception is a compiler bug to report
        return Outcome("crash", f"{type(error).__name__} while compiling", traceback.format_exc())
    try:
        shared = share_shapes and model.summary()["params"] <= SHARED_SHAPE_LIMIT
        result = verify(bucketed(model) if shared else model, sop,
                        sample_inputs(case.vocab, case.max_seq_len, inputs, case.seed))
    except Exception as error:  # noqa: BLE001 - running a compiled model must not fail either
        return Outcome("crash", f"{type(error).__name__} while running the model", traceback.format_exc())
    problem = result.disagreement
    summary = model.summary()
    if problem is not None:
        return Outcome("wrong", problem.split(":")[0], problem, result.total, summary)
    return Outcome("exact", "", "", result.total, summary)
