"""The vectorised numpy interpreter: the specification every other engine must reproduce.

A selector evaluates to a boolean matrix (rows are queries, columns keys); comparisons are done
on integer codes of the values, so even string keys cost one numpy broadcast.  Aggregates count
each row's selection and average with a matrix product.

Memory is O(n x block), not O(n^2): a selector is a `_Selection`, which computes its matrix a
block of query rows at a time against all keys, and aggregates and selector widths consume it
block by block (`BLOCK_CELLS` cells per block).  When the whole matrix fits in one block (short
inputs, the common case) it is computed once and shared by all its consumers, as a plain matrix.
Past one block, an aggregate or selector width whose selector compares numbers (`rasp.counting`:
any `and`, `or`, `not` of selects over at most two pairs of s-ops) counts its keys by sorting
them instead, O(n log^2 n) rather than O(n^2) time, with the same values.

Evaluation works on a range of query rows `[start, n)`: a full evaluation is the range `[0, n)`,
and a causal program can be extended one token at a time (`IncrementalEvaluator`), computing only
the new row of every node, because in causal evaluation earlier positions never see later ones.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from rasp import ir
from rasp.counting import Counting, Pair
from rasp.errors import RaspError, RaspEvaluationError, RaspTypeError
from rasp.values import read_token, sequence_type, type_name

#: Cells (query rows x keys) of a selector computed at once.  Aggregates and selector widths
#: need a few bytes per cell (a bool, and int64 sums), so this bounds the working memory of any
#: evaluation to some megabytes per block, whatever the length.  Blocks of 2^22 cells made a
#: sort of 30,000 tokens spend more time in the kernel (page faults of the arrays allocated and
#: freed per block) than in numpy; at 2^20 the allocator reuses them.
BLOCK_CELLS = 1 << 20

#: The most cells of a whole selector matrix handed out (`Interpreter.evaluate` of a selector, as
#: lists of bools at 8 bytes a cell, or `evaluate_array`); a larger one is refused before any work.
MAX_MATRIX_CELLS = 1 << 26

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


def comparison_arrays(
    node: ir.Select, keys: Values, queries: Values, key_array: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """`keys` and `queries` as arrays that compare as the values do, so that a block of the
    selector is one numpy broadcast: float64 for numbers (exact for ints within 2**53), integer
    codes for anything else.  Values that cannot be ordered are refused here, before any
    matrix exists.  `key_array`, when given, is `keys` already as float64 (incremental
    evaluation keeps it)."""
    if key_array is None:
        key_array = numeric_array(keys)
    query_array = numeric_array(queries) if key_array is not None else None
    if key_array is None or query_array is None:
        codes, _ = _codes(list(keys) + list(queries), node, ordered=node.op not in ("==", "!="))
        return codes[: len(keys)], codes[len(keys) :]
    return key_array, query_array


def numeric_array(values: Values) -> np.ndarray | None:
    """`values` as float64 when that is exact (numbers and bools, ints within 2**53), else None."""
    if all(isinstance(v, float) or (isinstance(v, int) and -(2**53) <= v <= 2**53) for v in values):
        return np.asarray(values, dtype=np.float64)
    return None


# ----------------------------------------------------------------------------- block selections

#: One block's scratch space: the matrix of each selector already computed for that block.
BlockMemo = dict[int, Matrix]


#: Where a selector writes rows [begin, end): `out(begin, end)` is an array of their shape.
Out = Callable[[int, int], Matrix]
#: How a selector computes rows [begin, end), given the block's memo and where to write them.
Compute = Callable[[int, int, BlockMemo, Out], Matrix]


class _Selection:
    """A selector's matrix over the query rows of an evaluation, handed out a block at a time.

    `rows(begin, end, memo)` is the matrix of rows [begin, end) (counted from the evaluation's
    first row) against the keys `width(end)` (every key, or in causal evaluation every key up
    to the block's last query).  A consumer asks for each block with a fresh `memo`, so that
    within a block every selector of a shared sub-graph is computed once.  Each selection
    writes its blocks into one buffer of its own, freed with it: a fresh array per block was
    worse than it sounds, since the allocator handed each back to the kernel and the page
    faults of the next cost more than the comparisons."""

    def __init__(self, uid: int, size: int, width: Callable[[int], int], compute: Compute):
        self.uid = uid
        self.size = size  # query rows
        self._width = width
        self._compute = compute
        self._buffer = np.empty(0, dtype=bool)

    @classmethod
    def of_matrix(cls, uid: int, matrix: Matrix) -> _Selection:
        """A selection already computed in full (the single-block case)."""
        return cls(uid, len(matrix), lambda end: matrix.shape[1], lambda begin, end, memo, out: matrix[begin:end])

    def rows(self, begin: int, end: int, memo: BlockMemo) -> Matrix:
        matrix = memo.get(self.uid)
        if matrix is None:
            matrix = memo[self.uid] = self._compute(begin, end, memo, self._out)
        return matrix

    def _out(self, begin: int, end: int) -> Matrix:
        rows, width = end - begin, self._width(end)
        if self._buffer.size < rows * width:  # the first block is the tallest, the last the widest
            self._buffer = np.empty(rows * self._width(self.size), dtype=bool)
        return self._buffer[: rows * width].reshape(rows, width)

    def whole(self) -> Matrix:
        """Every row at once: n x n bools (`_refuse_large_matrix` bounds who may ask)."""
        return self.rows(0, self.size, {})


Blocks = list[tuple[int, int]]


def row_blocks(rows: int, keys: int, block_cells: int) -> Blocks:
    """[begin, end) ranges covering `rows` query rows, each at most `block_cells` cells against
    `keys` keys (and at least one row)."""
    step = max(1, block_cells // max(1, keys))
    return [(begin, min(begin + step, rows)) for begin in range(0, rows, step)]


# --------------------------------------------------------------------------------- aggregation


def aggregate_rows(node: ir.Aggregate, selection: _Selection, values: Values, blocks: Blocks) -> Values:
    """Apply the aggregate rules to every row of `selection` over `values`, block by block.

    As in the original, a row that selects several positions needs the whole value sequence
    to be numeric (ints, floats, or ints mixed with bools), and its mean is the position-order
    sum divided by the count, always a float."""
    result: Values = []
    means: _Means | None = None  # made at the first row that averages
    for begin, end in blocks:
        rows = selection.rows(begin, end, {})
        counts = np.count_nonzero(rows, axis=1)
        block: Values = [node.default] * len(counts)
        single = np.flatnonzero(counts == 1)
        if len(single):
            chosen = rows.argmax(axis=1)  # the first selected key of every row, without copying rows
            for row, column in zip(single.tolist(), chosen[single].tolist()):
                block[row] = values[column]
        several = np.flatnonzero(counts >= 2)
        if len(several):
            means = means or _Means(node, values)
            for row, mean in zip(several.tolist(), means(rows[several], counts[several])):
                block[row] = mean
        result.extend(block)
    return result


class _Means:
    """Row means of `values` with the original's arithmetic: exact integer sums for ints (a
    matrix product in int64 while no overflow is possible), else the sequential Python sum (so
    floats round the same way).  Made once per aggregate, since checking and converting the
    values costs O(n) and an aggregate may have many blocks."""

    def __init__(self, node: ir.Aggregate, values: Values):
        kind = sequence_type(values)
        if kind not in ("ints", "floats"):
            shown = ", ".join(repr(v) for v in values[:12]) + (", ..." if len(values) > 12 else "")
            raise _fail(node, f"asked to average multiple values, but they are non-numbers: [{shown}]")
        self.node = node
        self.values = values
        exact = kind == "ints" and all(abs(v) < 2**40 for v in values)
        self.weights = np.asarray(values, dtype=np.int64) if exact else None

    def __call__(self, rows: Matrix, counts: np.ndarray) -> list[float]:
        if self.weights is not None:
            sums = rows.astype(np.int64) @ self.weights[: rows.shape[1]]
            return [int(total) * 1.0 / int(count) for total, count in zip(sums, counts)]
        try:
            return [
                sum(self.values[j] for j in np.flatnonzero(row).tolist()) * 1.0 / int(count)
                for row, count in zip(rows, counts)
            ]
        except OverflowError as error:
            raise _fail(self.node, f"the mean overflows: {error}") from None


def aggregate_counted(node: ir.Aggregate, counting: Counting, values: Values) -> Values | None:
    """`aggregate_rows` by counting (`rasp.counting`): the same values, or the same error for
    non-numbers averaged, without a selector matrix.  A row that selects one key gets its
    value (the sum of the positions selected is that key's position); a row that averages gets
    the exact integer mean.  None when a row averages floats, whose position-order sum only the
    block path reproduces."""
    selected = counting.sums(np.stack([np.ones(len(values), np.int64), np.arange(len(values))], axis=1))
    counts, positions = selected[:, 0], selected[:, 1]
    result: Values = [node.default] * len(counts)
    single = np.flatnonzero(counts == 1)
    for row, position in zip(single.tolist(), positions[single].tolist()):
        result[row] = values[position]
    several = np.flatnonzero(counts >= 2)
    if len(several):
        weights = _Means(node, values).weights  # refuses non-numbers, as the block path does
        if weights is None:
            return None
        means = counting.sums(weights[:, None])[several, 0] / counts[several]  # int64 to float, as int() * 1.0
        for row, mean in zip(several.tolist(), means.tolist()):
            result[row] = mean
    return result


def selection_counts(selection: _Selection, blocks: Blocks) -> Values:
    """How many keys each query row selects, block by block."""
    counts: Values = []
    for begin, end in blocks:
        counts.extend(np.count_nonzero(selection.rows(begin, end, {}), axis=1).tolist())
    return counts


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

    def __init__(
        self, tokens: list[Any], start: int, causal: bool, memory: _Memory, block_cells: int, counting: bool = True
    ):
        self.tokens = tokens
        self.n = len(tokens)
        self.start = start
        self.causal = causal
        self.memory = memory  # every s-op's values at positions 0..n-1 once computed
        self.rows = self.n - start
        self.blocks = row_blocks(self.rows, self.n, block_cells)
        # count selections by sorting past one block (a single block is cheaper to compute whole)
        self.counting = counting and len(self.blocks) > 1

    def full_values(self, node: ir.SOp) -> Values:
        """An input's values at every position 0..n-1 (remembered ones, then the new rows)."""
        return self.memory.values[node.uid]

    def sop(self, node: ir.SOp, inputs: list[Any]) -> Values:
        if isinstance(node, ir.Tokens):
            try:
                return [read_token(t, node.kind) for t in self.tokens[self.start :]]
            except (TypeError, ValueError, OverflowError) as error:  # int(inf) overflows
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
            counting = self._counting(node.selector)
            values = self.full_values(node.sop)
            counted = aggregate_counted(node, counting, values) if counting is not None else None
            return counted if counted is not None else aggregate_rows(node, inputs[0], values, self.blocks)
        if isinstance(node, ir.SelectorWidth):
            counting = self._counting(node.selector)
            if counting is not None:
                return counting.sums(np.ones((self.n, 1), np.int64))[:, 0].tolist()
            return selection_counts(inputs[0], self.blocks)
        raise TypeError(f"unknown s-op node {type(node).__name__}")

    def _counting(self, selector: ir.Selector) -> Counting | None:
        """`selector` counted by sorting (`rasp.counting`), when that is on and it has the shape."""
        if not self.counting:
            return None
        causal = Pair(np.arange(self.n, dtype=np.float64), np.arange(self.start, self.n, dtype=np.float64))
        return Counting.of(
            selector,
            self.full_values,
            lambda node: self.full_values(node)[self.start :],
            causal if self.causal else None,
        )

    def selector(self, node: ir.Selector, inputs: list[Any]) -> _Selection:
        """The selector as a `_Selection`: computed now when its matrix is a single block (so its
        consumers share it, as the fast path for short inputs), else a block at a time."""
        compute = self._selector_rows(node, inputs)
        if len(self.blocks) <= 1:
            return _Selection.of_matrix(node.uid, compute(0, self.rows, {}, self._fresh))
        return _Selection(node.uid, self.rows, self.width, compute)

    def _fresh(self, begin: int, end: int) -> Matrix:
        """A new array for rows [begin, end) (`Out` of a selector computed in one block)."""
        return np.empty((end - begin, self.width(end)), dtype=bool)

    def _selector_rows(self, node: ir.Selector, inputs: list[Any]) -> Compute:
        """How to compute rows [begin, end) of `node` from its inputs' selections."""
        if isinstance(node, ir.Select):
            key_array = self.memory.key_array(node.keys) if self.start else None
            keys, queries = comparison_arrays(node, self.full_values(node.keys), inputs[1], key_array)
            compare = NUMPY_COMPARE[node.op]

            def select(begin: int, end: int, memo: BlockMemo, out: Out) -> Matrix:
                matrix = out(begin, end)
                return self._masked(
                    compare(keys[None, : matrix.shape[1]], queries[begin:end, None], out=matrix), begin, end
                )

            return select
        if isinstance(node, ir.SelectorNot):
            inner = inputs[0]
            return lambda begin, end, memo, out: self._masked(
                np.logical_not(inner.rows(begin, end, memo), out=out(begin, end)), begin, end
            )
        combine = {ir.SelectorAnd: np.logical_and, ir.SelectorOr: np.logical_or}.get(type(node))
        if combine is None:
            raise TypeError(f"unknown selector node {type(node).__name__}")
        left, right = inputs
        return lambda begin, end, memo, out: combine(
            left.rows(begin, end, memo), right.rows(begin, end, memo), out=out(begin, end)
        )

    def width(self, end: int) -> int:
        """The key columns of a block of rows ending at `end`: every key, or in causal evaluation
        only the keys up to the block's last query (no later key is ever selected, so a block
        leaves them out, and nobody compares or counts them)."""
        return self.start + end if self.causal else self.n

    def _masked(self, matrix: Matrix, begin: int, end: int) -> Matrix:
        """`matrix` (rows [begin, end), in the selector's buffer) with the keys after each query
        cleared in causal evaluation: past `width` there are none, so only the block's own
        positions, a triangle, need it.  Selects and negations apply it; `and` and `or` keep it."""
        if self.causal:
            band = matrix[:, self.start + begin :]
            band &= np.tri(end - begin, dtype=bool)
        return matrix

    def _apply(self, node: ir.Node, fn: Any, columns: list[Values]) -> Values:
        try:
            return [fn(*args) for args in zip(*columns)]
        except RaspError as error:
            raise error.at(node.origin)
        except (TypeError, ValueError, ZeroDivisionError, KeyError, IndexError, OverflowError) as error:
            raise _fail(node, f"{getattr(node, 'description', 'map')} failed: {error}") from None


def _run(
    root: ir.Node,
    tokens: list[Any],
    start: int,
    causal: bool,
    memory: _Memory,
    known: dict[int, Any] | None = None,
    block_cells: int = BLOCK_CELLS,
    counting: bool = True,
) -> dict[int, Any]:
    """Values of every node for rows [start, n); selections are dropped after last use.
    `known` holds s-op values already computed on the same rows (memoised), which are reused.
    `counting` allows the counting fast path (`rasp.counting`)."""
    known = known or {}
    order = list(ir.walk(root, stop=lambda node: node.uid in known))
    uses: dict[int, int] = {}
    for node in order:
        for child in () if node.uid in known else node.children:
            uses[child.uid] = uses.get(child.uid, 0) + 1
    run = _RowEvaluation(tokens, start, causal, memory, block_cells, counting)
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
    """Evaluates nodes on inputs, remembering the s-op values of the last few inputs.

    `block_cells` is the size of the selector blocks (`BLOCK_CELLS`; the tests make it tiny to
    check that blocked evaluation equals whole-matrix evaluation); `counting=False` turns the
    counting fast path off (the tests compare the two)."""

    def __init__(self, memory: int = 16, block_cells: int = BLOCK_CELLS, counting: bool = True):
        self.memory = memory
        self.block_cells = block_cells
        self.counting = counting
        self._cache: OrderedDict[tuple[Any, ...], dict[int, Any]] = OrderedDict()

    def evaluate(self, node: ir.Node, tokens: Any, causal: bool = False) -> Any:
        """An s-op's values as a list, or a selector's matrix as a list of rows of bools."""
        token_list = normalise_input(tokens)
        _refuse_large_matrix(node, len(token_list))
        key = (causal, *(_hashable(t) for t in token_list))
        cached = self._cache.get(key)
        if cached is not None and node.uid in cached:
            self._cache.move_to_end(key)
            return list(cached[node.uid])
        store = self._cache.setdefault(key, {})
        results = _run(node, token_list, 0, causal, _Memory(), store, self.block_cells, self.counting)
        store.update({uid: value for uid, value in results.items() if isinstance(value, list)})
        self._cache.move_to_end(key)
        while len(self._cache) > self.memory:
            self._cache.popitem(last=False)
        value = results[node.uid]
        return value.whole().tolist() if isinstance(node, ir.Selector) else list(value)

    def evaluate_array(self, node: ir.Selector, tokens: Any, causal: bool = False) -> Matrix:
        """A selector's boolean matrix as a numpy array (for display and drawing)."""
        token_list = normalise_input(tokens)
        _refuse_large_matrix(node, len(token_list))
        return _run(node, token_list, 0, causal, _Memory(), block_cells=self.block_cells)[node.uid].whole()


def _refuse_large_matrix(node: ir.Node, n: int) -> None:
    """A whole selector matrix is handed out as n x n bools (8 bytes each as Python lists): refuse
    one beyond `MAX_MATRIX_CELLS` before computing anything, naming the selector and the size."""
    if isinstance(node, ir.Selector) and n * n > MAX_MATRIX_CELLS:
        raise RaspEvaluationError(
            f"the selector {node.label} on {n:,} tokens is a {n:,} x {n:,} matrix ({n * n:,} cells, "
            f"{n * n * 8 / 2**30:.1f} GiB as lists), more than the {MAX_MATRIX_CELLS:,} cells shown at most; "
            "evaluate an s-op that reads it (aggregate, selector_width), which is computed in blocks",
            node.origin,
        )


def _hashable(token: Any) -> Any:
    return (type(token).__name__, token) if not isinstance(token, list) else ("list", tuple(token))


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

    def __init__(self, root: ir.SOp, block_cells: int = BLOCK_CELLS):
        self.root = root
        self.block_cells = block_cells
        self.tokens: list[Any] = []
        self.memory = _Memory()

    def extend(self, tokens: Sequence[Any]) -> Values:
        """Append several tokens at once; returns the root's values at the new positions."""
        start = len(self.tokens)
        self.tokens.extend(tokens)
        return _run(self.root, self.tokens, start, True, self.memory, block_cells=self.block_cells)[self.root.uid]

    def append(self, token: Any) -> Any:
        """Append one token; returns the root's value at its position."""
        return self.extend([token])[0]

    @property
    def outputs(self) -> Values:
        return list(self.memory.values.get(self.root.uid, []))
