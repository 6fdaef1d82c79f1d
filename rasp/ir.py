"""The graph IR: immutable s-op and selector nodes that both the interpreter and the compiler read.

Every RASP value that depends on the input is a node of a DAG.  Nodes never change after they are
built; analyses (value sets, encodings, layers) are kept in tables keyed by node.  Nodes hash and
compare by identity, so they can be dictionary keys, and arithmetic operators on s-ops build new
nodes (Python code can write `indices + 1` as in RASP).

Node kinds:
- `Tokens(kind)`, `Indices()`, `Length()`: the primitives (`length` is kept as a primitive so
  that the compiler can lower it specially; it behaves like the library definition).
- `Full(value)`: a constant s-op (an atom used where an s-op is needed, e.g. `select(1, 1, ==)`).
- `Map(fn, inner)`, `SequenceMap(fn, inputs)`: elementwise functions of one or several s-ops.
- `Select(keys, queries, op)`, `SelectorAnd`, `SelectorOr`, `SelectorNot`: selectors.
- `Aggregate(selector, sop, default)`, `SelectorWidth(selector)`: the attention operations.

`binary` and `unary` build the nodes of RASP's operators from the atom-level functions of
`rasp.operators`; nodes are evaluated by `rasp.interpreter` (installed here when imported).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from rasp.errors import Location, RaspError, RaspTypeError
from rasp.notebook import selector_html, sop_html
from rasp.operators import BINARY, ELEMENTWISE_LOGIC, UNARY, affine, comparison
from rasp.values import format_value

#: Comparison operators of `select`, with the predicate `key OP query` they stand for.
COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda key, query: key == query,
    "!=": lambda key, query: key != query,
    "<": lambda key, query: key < query,
    ">": lambda key, query: key > query,
    "<=": lambda key, query: key <= query,
    ">=": lambda key, query: key >= query,
}

#: How the `tokens_*` variants read one input token.
TOKEN_KINDS = ("str", "int", "float", "bool", "asis")

_ids = itertools.count()


@dataclass(frozen=True, eq=False, repr=False)
class Node:
    """Base of every IR node.  `name` is the RASP variable it was bound to (if any), `origin` the
    source position of the expression that built it (for compile errors)."""

    name: str | None = field(default=None, kw_only=True)
    origin: Location | None = field(default=None, kw_only=True, repr=False)
    uid: int = field(default_factory=lambda: next(_ids), kw_only=True, repr=False)

    #: The fields that hold this node's input nodes, in the order of `children`.
    _child_fields: ClassVar[tuple[str, ...]] = ()

    @property
    def children(self) -> tuple[Node, ...]:
        return tuple(getattr(self, name) for name in self._child_fields)

    def __repr__(self) -> str:
        """Short on purpose: a node's graph can be exponentially large when written out."""
        return f"{type(self).__name__}({self.label})"

    @property
    def label(self) -> str:
        """A name unique within a graph: the bound name if any, else kind and id."""
        return self.name if self.name else f"{type(self).__name__.lower()}_{self.uid}"

    def named(self, name: str) -> Node:
        """A copy of this node bound to `name` (nodes are immutable, so naming copies).
        The copy gets a fresh uid, so the compiler and display see distinct labels."""
        return replace(self, name=name, uid=next(_ids))

    def with_origin(self, origin: Location | None) -> Node:
        return self if origin is None or self.origin is not None else replace(self, origin=origin)


def _operator_methods(op: str) -> tuple[Callable[[SOp, Any], SOp], Callable[[SOp, Any], SOp]]:
    """The methods of Python's operator for RASP's `op` on an s-op: `sop op other`, and the
    reflected `other op sop` Python tries when the left operand is an atom (`1 + indices`)."""
    return (lambda sop, other: binary(op, sop, other)), (lambda sop, other: binary(op, other, sop))


class SOp(Node):
    """A sequence operation: one value per input position."""

    def __call__(self, tokens: Any, causal: bool = False) -> list[Any]:
        return _evaluate(self, tokens, causal)

    def _repr_html_(self) -> str:
        """Jupyter's display: the values on the notebook example (rasp.notebook)."""
        return sop_html(self)

    # Python-side sugar so that programs can be built without the parser.
    __add__, __radd__ = _operator_methods("+")
    __sub__, __rsub__ = _operator_methods("-")
    __mul__, __rmul__ = _operator_methods("*")
    __truediv__, __rtruediv__ = _operator_methods("/")
    __mod__ = _operator_methods("%")[0]

    def __neg__(self) -> SOp:
        return unary("-", self)


class Selector(Node):
    """A selection pattern: one boolean per (query, key) pair."""

    def __call__(self, tokens: Any, causal: bool = False) -> list[list[bool]]:
        return _evaluate(self, tokens, causal)

    def _repr_html_(self) -> str:
        """Jupyter's display: the selector matrix on the notebook example (rasp.notebook)."""
        return selector_html(self)

    def __and__(self, other: Selector) -> Selector:
        return SelectorAnd(self, other)

    def __or__(self, other: Selector) -> Selector:
        return SelectorOr(self, other)

    def __invert__(self) -> Selector:
        return SelectorNot(self)


@dataclass(frozen=True, eq=False, repr=False)
class Tokens(SOp):
    """The input tokens, read according to `kind` (one of TOKEN_KINDS)."""

    kind: str = "str"

    @property
    def label(self) -> str:
        return self.name or f"tokens_{self.kind}"


class _InputShape(SOp):
    """An s-op read off the input's shape alone: one such node is as good as another, so its
    label is its kind (the class name in lower case) rather than kind and id."""

    @property
    def label(self) -> str:
        return self.name or type(self).__name__.lower()


class Indices(_InputShape):
    """The position of each token, from 0."""


class Length(_InputShape):
    """The number of tokens, at every position (in causal evaluation: the prefix length)."""


@dataclass(frozen=True, eq=False, repr=False)
class Full(SOp):
    """The same atom at every position."""

    value: Any


@dataclass(frozen=True, eq=False, repr=False)
class Map(SOp):
    """`fn` applied to each value of `inner`.

    `description` is a readable form of `fn` (`x + 1`).  `affine`, when set to (a, b), promises
    fn(x) == a * x + b for every numeric x: the compiler then needs no MLP for it.  `compare`,
    when set to (op, c), promises fn(x) == (x op c) for every numeric x (a comparison with a
    number, the s-op on the left), which a length-free compile lowers without a table."""

    fn: Callable[[Any], Any] = field(repr=False)
    inner: SOp
    description: str = "map"
    affine: tuple[float, float] | None = None
    compare: tuple[str, float] | None = None

    _child_fields = ("inner",)


@dataclass(frozen=True, eq=False, repr=False)
class SequenceMap(SOp):
    """`fn` applied position by position to the values of several s-ops.

    `linear`, when set to coefficients (c1, ..., ck), promises fn(x1..xk) == sum(ci * xi)
    on numbers.  `choice` promises that fn(c, a, b) is `a if c else b` (RASP's `if else` over
    s-ops): the compiler may then gate each branch instead of tabulating the three inputs."""

    fn: Callable[..., Any] = field(repr=False)
    inputs: tuple[SOp, ...]
    description: str = "sequence_map"
    linear: tuple[float, ...] | None = None
    choice: bool = False

    @property
    def children(self) -> tuple[Node, ...]:
        return self.inputs


@dataclass(frozen=True, eq=False, repr=False)
class Select(Selector):
    """Query position i selects key position j when `keys[j] op queries[i]`."""

    keys: SOp
    queries: SOp
    op: str

    _child_fields = ("keys", "queries")

    def __post_init__(self) -> None:
        if self.op not in COMPARISONS:
            raise ValueError(f"unknown comparison {self.op!r}; expected one of {', '.join(COMPARISONS)}")


@dataclass(frozen=True, eq=False, repr=False)
class _SelectorPair(Selector):
    """A selector combining two selectors position by position."""

    left: Selector
    right: Selector

    _child_fields = ("left", "right")


class SelectorAnd(_SelectorPair):
    """Selected where both are."""


class SelectorOr(_SelectorPair):
    """Selected where either is."""


@dataclass(frozen=True, eq=False, repr=False)
class SelectorNot(Selector):
    inner: Selector

    _child_fields = ("inner",)


@dataclass(frozen=True, eq=False, repr=False)
class Aggregate(SOp):
    """Per query row: no key selected gives `default`; one selected copies its value; several
    give their mean (then every selected value must be a number)."""

    selector: Selector
    sop: SOp
    default: Any = 0

    _child_fields = ("selector", "sop")


@dataclass(frozen=True, eq=False, repr=False)
class SelectorWidth(SOp):
    """The number of keys each query selects."""

    selector: Selector

    _child_fields = ("selector",)


def walk(root: Node, stop: Callable[[Node], bool] = lambda node: False) -> Iterator[Node]:
    """Every node reachable from `root`, each once, children before parents; the children of
    a node for which `stop` is true are not visited (unless reachable another way)."""
    seen: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            yield node
            continue
        if node.uid in seen:
            continue
        seen.add(node.uid)
        stack.append((node, True))
        if not stop(node):
            stack.extend((child, False) for child in reversed(node.children) if child.uid not in seen)


# ---------------------------------------------------------------- builders for the Python API

tokens = Tokens(kind="str")
indices = Indices()
length = Length()


def as_sop(value: Any) -> SOp:
    """An s-op for `value`: s-ops pass through, atoms become constant s-ops."""
    return value if isinstance(value, SOp) else Full(value=value)


def select(keys: Any, queries: Any, op: str) -> Select:
    return Select(keys=as_sop(keys), queries=as_sop(queries), op=op)


def aggregate(selector: Selector, sop: Any, default: Any = 0) -> Aggregate:
    return Aggregate(selector=selector, sop=as_sop(sop), default=default)


def selector_width(selector: Selector) -> SelectorWidth:
    return SelectorWidth(selector=selector)


def map_sop(fn: Callable[[Any], Any], sop: SOp, description: str = "map") -> Map:
    return Map(fn=fn, inner=sop, description=description)


def sequence_map(fn: Callable[..., Any], *sops: Any, description: str = "sequence_map") -> SequenceMap:
    return SequenceMap(fn=fn, inputs=tuple(as_sop(s) for s in sops), description=description)


def _operand_text(operand: Any) -> str:
    """An operand in a node's description: s-ops by label, atoms as written, containers by
    kind only (their items may be whole graphs, whose repr would be enormous)."""
    if isinstance(operand, Node):
        return operand.label
    if isinstance(operand, (list, dict)):
        return f"({type(operand).__name__})"
    return format_value(operand)


def binary(op: str, left: Any, right: Any) -> Any:
    """`left op right` with RASP's operator semantics: a plain value for two atoms, an s-op
    node when either side is an s-op, a selector node for `and`/`or` between selectors."""
    if isinstance(left, Selector) or isinstance(right, Selector):
        if op not in ("and", "or"):
            raise RaspTypeError(f"Cannot apply {op} to selector(s)", hint="selectors combine with and, or, not")
        if not (isinstance(left, Selector) and isinstance(right, Selector)):
            raise RaspTypeError("Cannot apply and/or between selector and non-selector")
        return SelectorAnd(left, right) if op == "and" else SelectorOr(left, right)
    on_sops = isinstance(left, SOp) or isinstance(right, SOp)
    fn = ELEMENTWISE_LOGIC[op] if on_sops and op in ELEMENTWISE_LOGIC else BINARY[op]
    if not on_sops:
        return fn(left, right)
    description = f"{_operand_text(left)} {op} {_operand_text(right)}"
    if isinstance(left, SOp) and isinstance(right, SOp):
        linear = {"+": (1, 1), "-": (1, -1)}.get(op)
        return SequenceMap(fn=fn, inputs=(left, right), description=description, linear=linear)
    if isinstance(left, SOp):
        return Map(
            fn=lambda x: fn(x, right), inner=left, description=description, affine=affine(op, True, right),
            compare=comparison(op, True, right),
        )
    return Map(
        fn=lambda x: fn(left, x), inner=right, description=description, affine=affine(op, False, left),
        compare=comparison(op, False, left),
    )


def unary(op: str, operand: Any) -> Any:
    """`op operand` for not, -, +, round and indicator: a plain value for an atom, an s-op node
    for an s-op, a selector node for `not` of a selector."""
    fn = UNARY[op]
    if isinstance(operand, Selector):
        if op != "not":
            raise RaspTypeError(f"'{op}' does not apply to the selector {operand.label}; only 'not' does")
        return SelectorNot(operand)
    if isinstance(operand, SOp):
        shift = {"-": (-1, 0), "+": (1, 0)}.get(op)
        return Map(fn=fn, inner=operand, description=f"{op} {operand.label}", affine=shift)
    return fn(operand)


# --------------------------------------------------------------------- evaluating nodes on inputs

#: What calling a node (`sop("hello")`) runs: the interpreter's `evaluate`, which
#: `rasp.interpreter` installs here when it is imported (it reads the IR, so the IR cannot import
#: it).  `import rasp` imports the interpreter, so every node is callable once the package is.
_evaluator: Callable[..., Any] | None = None


def install_evaluator(evaluate: Callable[..., Any]) -> None:
    global _evaluator
    _evaluator = evaluate


def _evaluate(node: Node, tokens: Any, causal: bool) -> Any:
    if _evaluator is None:
        raise RaspError("nodes are evaluated by rasp.interpreter, which has not been imported")
    return _evaluator(node, tokens, causal=causal)
