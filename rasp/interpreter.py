"""The vectorised numpy interpreter: the specification every other engine must reproduce.

A selector evaluates to a boolean matrix (rows are queries, columns keys); comparisons are done
on integer codes of the values, so even string keys cost one numpy broadcast.  Aggregates count
each row's selection and average with a matrix product, a few hundred rows at a time so that
memory stays bounded at long lengths.

Evaluation works on a range of query rows `[start, n)`: a full evaluation is the range `[0, n)`,
and a causal program can be extended one token at a time (`IncrementalEvaluator`), computing only
the new row of every node, because in causal evaluation earlier positions never see later ones.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from rasp import ir
from rasp.errors import RaspError, RaspEvaluationError, RaspTypeError
from rasp.values import read_token, sequence_type, type_name

#: Rows averaged per matrix product: bounds temporary memory to ROW_CHUNK * length floats.
ROW_CHUNK = 512

Values = list[Any]
Matrix = np.ndarray


def normalise_input(tokens: Any) -> list[Any]:
    """A string is a sequence of one-character tokens; any other non-empty iterable (a list,
    or a dict's keys) is taken as is."""
    if isinstance(tokens, ir.Node):
        raise RaspTypeError(f"RASP sequences/selectors expect non-empty iterables, got the s-op {tokens.label}")
    try:
        token_list = list(tokens)
    except TypeError:
        token_list = []
    if not token_list:
        raise RaspTypeError(f"RASP sequences/selectors expect non-empty iterables, got: {tokens!r}")
    return token_list


def _fail(node: ir.Node, message: str) -> RaspEvaluationError:
    return RaspEvaluationError(f"{message} (in {node.label})", node.origin)


# ------------------------------------------------------------------------- selector comparisons


def _codes(values: list[Any], node: ir.Node, ordered: bool) -> tuple[np.ndarray, int]:
    """Integer codes that preserve equality (and order, when `ordered`) among `values`."""
    if ordered:
        try:
            distinct = sorted(set(values))
        except TypeError:
            kinds = sorted({type_name(v) for v in values})
            raise _fail(node, f"cannot order values of different types ({', '.join(kinds)})") from None
        code_of = {}
        rank = -1
        previous = object()
        for value in distinct:
            if not (rank >= 0 and value == previous):
                rank += 1
            code_of[value] = rank
            previous = value
    else:
        code_of = {}
        for value in values:
            code_of.setdefault(value, len(code_of))
    return np.fromiter((code_of[v] for v in values), dtype=np.int64, count=len(values)), len(code_of)


#: The numpy ufunc of each select comparison (applied as `keys OP queries`).
NUMPY_COMPARE = {
    "==": np.equal,
    "!=": np.not_equal,
    "<": np.less,
    ">": np.greater,
    "<=": np.less_equal,
    ">=": np.greater_equal,
}


def compare_matrix(node: ir.Select, keys: Values, queries: Values, key_array: np.ndarray | None = None) -> Matrix:
    """M[i, j] = keys[j] OP queries[i] for every query row i and key column j.

    Numbers are compared as float64 (exact for ints within 2**53); anything else through codes.
    `key_array`, when given, is `keys` already as float64 (incremental evaluation keeps it)."""
    if key_array is None:
        key_array = numeric_array(keys)
    query_array = numeric_array(queries) if key_array is not None else None
    if key_array is None or query_array is None:
        codes, _ = _codes(list(keys) + list(queries), node, ordered=node.op not in ("==", "!="))
        key_array, query_array = codes[: len(keys)], codes[len(keys) :]
    return NUMPY_COMPARE[node.op](key_array[None, :], query_array[:, None])


def numeric_array(values: Values) -> np.ndarray | None:
    """`values` as float64 when that is exact (numbers and bools, ints within 2**53), else None."""
    if all(isinstance(v, float) or (isinstance(v, int) and -(2**53) <= v <= 2**53) for v in values):
        return np.asarray(values, dtype=np.float64)
    return None


# --------------------------------------------------------------------------------- aggregation


def aggregate_rows(node: ir.Aggregate, selection: Matrix, values: Values) -> Values:
    """Apply the aggregate rules to every row of `selection` over `values`.

    As in the original, a row that selects several positions needs the whole value sequence
    to be numeric (ints, floats, or ints mixed with bools), and its mean is the position-order
    sum divided by the count, always a float."""
    counts = selection.sum(axis=1)
    result: Values = [node.default] * len(counts)
    single = np.flatnonzero(counts == 1)
    if len(single):
        chosen = selection[single].argmax(axis=1)
        for row, column in zip(single.tolist(), chosen.tolist()):
            result[row] = values[column]
    several = np.flatnonzero(counts >= 2)
    if len(several):
        kind = sequence_type(values)
        if kind not in ("ints", "floats"):
            shown = ", ".join(repr(v) for v in values[:12]) + (", ..." if len(values) > 12 else "")
            raise _fail(node, f"asked to average multiple values, but they are non-numbers: [{shown}]")
        try:
            means = _means(selection[several], values, kind)
        except OverflowError as error:
            raise _fail(node, f"the mean overflows: {error}") from None
        for row, mean in zip(several.tolist(), means):
            result[row] = mean
    return result


def _means(rows: Matrix, values: Values, kind: str) -> list[float]:
    """Row means with the original's arithmetic: exact integer sums for ints (a matrix product
    in int64 while no overflow is possible), else the sequential Python sum (so floats round
    the same way)."""
    if kind == "ints" and all(abs(v) < 2**40 for v in values):
        weights = np.asarray(values, dtype=np.int64)
        means: list[float] = []
        for begin in range(0, len(rows), ROW_CHUNK):
            block = rows[begin : begin + ROW_CHUNK]
            sums = block.astype(np.int64) @ weights
            means.extend(int(total) * 1.0 / int(count) for total, count in zip(sums, block.sum(axis=1)))
        return means
    return [sum(values[j] for j in np.flatnonzero(row).tolist()) * 1.0 / int(row.sum()) for row in rows]


# ---------------------------------------------------------------------------- the evaluator


class _Memory:
    """What a causal evaluation keeps between extensions: every s-op's values so far, and the
    numeric select keys as float64 arrays (so a new row costs numpy work, not Python work)."""

    def __init__(self) -> None:
        self.values: dict[int, Values] = {}
        self.keys: dict[int, np.ndarray | None] = {}

    def key_array(self, node: ir.SOp) -> np.ndarray | None:
        values = self.values[node.uid]
        array = self.keys.get(node.uid, np.empty(0))
        if array is not None and len(array) < len(values):
            tail = numeric_array(values[len(array) :])
            array = None if tail is None else np.concatenate([array, tail])
            self.keys[node.uid] = array
        return array


class _RowEvaluation:
    """Evaluates the nodes of a graph for query rows [start, n), given earlier rows' values."""

    def __init__(self, tokens: list[Any], start: int, causal: bool, memory: _Memory):
        self.tokens = tokens
        self.n = len(tokens)
        self.start = start
        self.causal = causal
        self.memory = memory  # every s-op's values at positions 0..n-1 once computed
        self.rows = self.n - start

    def full_values(self, node: ir.SOp) -> Values:
        """An input's values at every position 0..n-1 (remembered ones, then the new rows)."""
        return self.memory.values[node.uid]

    def causal_mask(self) -> Matrix:
        return np.arange(self.n)[None, :] <= np.arange(self.start, self.n)[:, None]

    def sop(self, node: ir.SOp, inputs: list[Any]) -> Values:
        if isinstance(node, ir.Tokens):
            try:
                return [read_token(t, node.kind) for t in self.tokens[self.start :]]
            except (TypeError, ValueError) as error:
                raise _fail(node, f"cannot read the input as tokens_{node.kind}: {error}") from None
        if isinstance(node, ir.Indices):
            return list(range(self.start, self.n))
        if isinstance(node, ir.Length):
            if self.causal:
                return list(range(self.start + 1, self.n + 1))
            return [self.n] * self.rows
        if isinstance(node, ir.Full):
            return [node.value] * self.rows
        if isinstance(node, ir.Map):
            return self._apply(node, node.fn, [inputs[0]])
        if isinstance(node, ir.SequenceMap):
            return self._apply(node, node.fn, inputs)
        if isinstance(node, ir.Aggregate):
            return aggregate_rows(node, inputs[0], self.full_values(node.sop))
        if isinstance(node, ir.SelectorWidth):
            return selection_counts(inputs[0])
        raise TypeError(f"unknown s-op node {type(node).__name__}")

    def selector(self, node: ir.Selector, inputs: list[Any]) -> Matrix:
        if isinstance(node, ir.Select):
            keys = self.full_values(node.keys)
            key_array = self.memory.key_array(node.keys) if self.start else None
            selection = compare_matrix(node, keys, inputs[1], key_array)
        elif isinstance(node, ir.SelectorAnd):
            selection = inputs[0] & inputs[1]
        elif isinstance(node, ir.SelectorOr):
            selection = inputs[0] | inputs[1]
        elif isinstance(node, ir.SelectorNot):
            selection = ~inputs[0]
        else:
            raise TypeError(f"unknown selector node {type(node).__name__}")
        if self.causal:
            selection = selection & self.causal_mask()
        return selection

    def _apply(self, node: ir.Node, fn: Any, columns: list[Values]) -> Values:
        try:
            return [fn(*args) for args in zip(*columns)]
        except RaspError as error:
            raise error.at(node.origin)
        except (TypeError, ValueError, ZeroDivisionError, KeyError, IndexError, OverflowError) as error:
            raise _fail(node, f"{getattr(node, 'description', 'map')} failed: {error}") from None


def selection_counts(selection: Matrix) -> Values:
    return selection.sum(axis=1).tolist()


def _run(
    root: ir.Node,
    tokens: list[Any],
    start: int,
    causal: bool,
    memory: _Memory,
    known: dict[int, Any] | None = None,
) -> dict[int, Any]:
    """Values of every node for rows [start, n); selector matrices are dropped after last use.
    `known` holds s-op values already computed on the same rows (memoised), which are reused."""
    known = known or {}
    order = list(ir.walk(root, stop=lambda node: node.uid in known))
    uses: dict[int, int] = {}
    for node in order:
        for child in () if node.uid in known else node.children:
            uses[child.uid] = uses.get(child.uid, 0) + 1
    run = _RowEvaluation(tokens, start, causal, memory)
    results: dict[int, Any] = {}
    for node in order:
        if node.uid in known:
            results[node.uid] = memory.values[node.uid] = known[node.uid]
            continue
        inputs = [results[child.uid] for child in node.children]
        if isinstance(node, ir.Selector):
            results[node.uid] = run.selector(node, inputs)
        else:
            new = run.sop(node, inputs)
            earlier = memory.values.setdefault(node.uid, [])
            _check_types(node, new, earlier)
            earlier.extend(new)
            results[node.uid] = new
        for child in node.children:
            uses[child.uid] -= 1
            if uses[child.uid] == 0 and isinstance(child, ir.Selector):
                del results[child.uid]
    return results


def _check_types(node: ir.Node, new: Values, earlier: Values | None) -> None:
    """Every s-op value must be a sequence of atoms of one kind (strings, or numbers and
    bools), as the original requires.  One earlier value stands for all of them: they were
    checked when they were computed."""
    try:
        sequence_type(new + earlier[:1] if earlier else new)
    except RaspError as error:
        error.message = f"{error.message} (in {node.label})"
        raise error.at(node.origin)


class Interpreter:
    """Evaluates nodes on inputs, remembering the s-op values of the last few inputs."""

    def __init__(self, memory: int = 16):
        self.memory = memory
        self._cache: OrderedDict[tuple[Any, ...], dict[int, Any]] = OrderedDict()

    def evaluate(self, node: ir.Node, tokens: Any, causal: bool = False) -> Any:
        """An s-op's values as a list, or a selector's matrix as a list of rows of bools."""
        token_list = normalise_input(tokens)
        key = (causal, *(_hashable(t) for t in token_list))
        cached = self._cache.get(key)
        if cached is not None and node.uid in cached:
            self._cache.move_to_end(key)
            return _export(node, cached[node.uid])
        store = self._cache.setdefault(key, {})
        results = _run(node, token_list, 0, causal, _Memory(), store)
        store.update({uid: value for uid, value in results.items() if isinstance(value, list)})
        self._cache.move_to_end(key)
        while len(self._cache) > self.memory:
            self._cache.popitem(last=False)
        return _export(node, results[node.uid])

    def evaluate_array(self, node: ir.Selector, tokens: Any, causal: bool = False) -> Matrix:
        """A selector's boolean matrix as a numpy array (for display and drawing)."""
        return _run(node, normalise_input(tokens), 0, causal, _Memory())[node.uid]


def _hashable(token: Any) -> Any:
    return (type(token).__name__, token) if not isinstance(token, list) else ("list", tuple(token))


def _export(node: ir.Node, value: Any) -> Any:
    if isinstance(node, ir.Selector):
        return value.tolist()
    return list(value)


_default = Interpreter()


def evaluate(node: ir.Node, tokens: Any, causal: bool = False) -> Any:
    """Evaluate `node` on `tokens` with the shared default interpreter."""
    return _default.evaluate(node, tokens, causal=causal)


ir.install_evaluator(evaluate)  # what calling a node runs (`sop("hello")`)


class IncrementalEvaluator:
    """Causal evaluation one token at a time: each appended token costs one new row per node.

    In causal evaluation the value at position i depends only on tokens 0..i, so the values
    already computed never change; `append` computes the new position of every s-op from the
    remembered columns (keys of selects, values of aggregates) and the new token."""

    def __init__(self, root: ir.SOp):
        self.root = root
        self.tokens: list[Any] = []
        self.memory = _Memory()

    def extend(self, tokens: Sequence[Any]) -> Values:
        """Append several tokens at once; returns the root's values at the new positions."""
        start = len(self.tokens)
        self.tokens.extend(tokens)
        return _run(self.root, self.tokens, start, True, self.memory)[self.root.uid]

    def append(self, token: Any) -> Any:
        """Append one token; returns the root's value at its position."""
        return self.extend([token])[0]

    @property
    def outputs(self) -> Values:
        return list(self.memory.values.get(self.root.uid, []))
