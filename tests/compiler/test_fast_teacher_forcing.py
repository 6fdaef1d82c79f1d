"""The teacher-forced fast pass's parts against plain arithmetic: the blocked residual stream
(`compiled_model.blocked_stream.Stream`) against one dense array, matrices kept as gathers
(`compiled_model.fast_plan._as_gathers`, `times`) against products, the plan's choice of which
matrices to gather (`GATHER_GAIN`) against a count of their nonzero entries, and the passes that
use them against the dense forward pass: `fast_forward` on models whose MLPs are gathered,
`after_prefixes` continuing shared prefixes against `fast_forward` on the whole inputs (the
compact universal Turing model, of keyed heads and summing scans, and the hand-made model of
test_fast_modes, whose heads read positions and keep keys per position), and `keyed_matches`
reading keys far outside any keyed table.  The models run in float64; the dense pass is
`compiled_model.arithmetic.whole` in numpy (no XLA compilation)."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_fast_modes import (  # the hand-made model of keyed and sum heads and its Python reference
    INDEX,
    KEYED_A,
    KEYED_B,
    LATEST_A,
    MODEL,
    READ_A,
    READ_B,
    SUM_FLOAT,
    SUMMED_C,
    TOKENS,
    TOKENS_ONE,
    VOCAB,
    _keyed_reference,
    _model,
    _reads,
)

from compiled_model import Transformer
from compiled_model.arithmetic import precision, to_device, whole
from compiled_model.blocked_stream import Stream, times
from compiled_model.errors import ModelError
from compiled_model.fast_forward import after_prefixes, fast_forward, shared_prefixes
from compiled_model.fast_plan import GATHER_GAIN, _as_gathers, plan_of, tables_of
from turing.formats import COMPACT
from turing.random_machines import random_machine
from turing.shape import Shape, first_wrong_prediction, table_tokens
from turing.universal import COMPACT_PROGRAM
from turing.universal_model import universal_model

GROUPS, ROWS = 4, 6  # prefixes and rows per call of the passes (one XLA shape for every example)

# ------------------------------------------------------------------ the blocked stream


def _sparse(rng: np.random.Generator, rows: int, columns: int, density: float) -> np.ndarray:
    """A random matrix whose entries are nonzero with probability `density`."""
    return rng.normal(size=(rows, columns)) * (rng.random((rows, columns)) < density)


def _gathers(matrix: np.ndarray, extra: int = 0) -> dict[str, jnp.ndarray]:
    """`_as_gathers` of `matrix` with `extra` entries of padding per column, on the device."""
    most = int(np.count_nonzero(matrix, axis=0).max(initial=0))
    return {name: jnp.asarray(array) for name, array in _as_gathers(matrix, max(most, 1) + extra).items()}


#: Positions of the streams in the checks of the blocked stream and the gathers: any number
#: does, and one keeps the shapes few (JAX compiles each operation once per shape).
T = 2


@st.composite
def _stream_runs(draw: st.DrawFn) -> tuple[int, list[int], list[list[int]], list[list[int]], int]:
    """A width, the first block's dimensions, the dimensions of a run of `add`s (any order,
    overlapping earlier blocks or not), dimensions to read (any order, repeats, unwritten ones)
    and a seed for the values."""
    width = draw(st.integers(1, 8))
    dim = st.integers(0, width - 1)
    first = draw(st.lists(dim, unique=True, max_size=width))
    adds = draw(st.lists(st.lists(dim, unique=True, max_size=width), max_size=6))
    reads = draw(st.lists(st.lists(dim, max_size=2 * width), min_size=1, max_size=4))
    return width, first, adds, reads, draw(st.integers(0, 2**32 - 1))


@settings(max_examples=20, deadline=None)
@given(_stream_runs())
def test_the_blocked_stream_holds_what_one_dense_array_does(run: tuple) -> None:
    """After every `add`, `whole` is the dense stream that adds the same updates at the same
    columns; `read` of any dimensions is those columns (zeros where nothing was written), and
    `product` with a matrix, dense or as gathers, is the dense columns times it."""
    width, first, adds, reads, seed = run
    rng = np.random.default_rng(seed)
    with precision("float64"):
        block = rng.normal(size=(T, len(first)))
        stream = Stream((jnp.asarray(block),), (tuple(first),))
        dense = np.zeros((T, width))
        dense[:, first] = block
        for dims in adds:
            update = rng.normal(size=(T, len(dims)))
            stream = stream.add(dims, jnp.asarray(update))
            dense[:, dims] += update
            np.testing.assert_allclose(np.asarray(stream.whole(width)), dense, rtol=0, atol=1e-12)
        assert sorted(dim for held in stream.dims for dim in held) == sorted(set(first).union(*adds))
        for dims in reads:
            np.testing.assert_allclose(np.asarray(stream.read(dims)), dense[:, dims], rtol=0, atol=1e-12)
            for matrix in (rng.normal(size=(len(dims), 2)), _sparse(rng, len(dims), 2, 0.3)):
                expected = dense[:, dims] @ matrix
                np.testing.assert_allclose(
                    np.asarray(stream.product(dims, jnp.asarray(matrix))), expected, rtol=0, atol=1e-12
                )
                if dims:  # gathers of a matrix of no rows are never made (`_gathers` needs rows)
                    gathered = stream.product(dims, _gathers(matrix, int(rng.integers(0, 2))))
                    np.testing.assert_allclose(np.asarray(gathered), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("positions", [[0], [3], [0, 1, 2, 5], [4, 5]], ids=["bos", "one", "block", "later"])
@pytest.mark.parametrize("table", ["pos_embed", "pos_poly"])
def test_the_embedded_stream_is_the_embedding_on_its_dimensions(positions: list[int], table: str) -> None:
    """`Stream.embedded` on `dims` is the token plus position embedding on those dimensions and
    zero on the others (the embedding's other columns are never read: `FastPlan.embedded`
    lists every column it writes), for a block of one and a longer block."""
    rng = np.random.default_rng(len(positions) + len(table))
    width, dims = 9, [6, 1, 2, 4]
    params: dict[str, Any] = {"token_embed": rng.normal(size=(5, width))}
    if table == "pos_embed":
        params[table] = rng.normal(size=(8, width))
        embedded = params[table][positions]
    else:
        params[table] = rng.normal(size=(3, width))
        index = np.maximum(np.array(positions) - 1, 0)[:, None]
        poly = index * params[table][1] + index**2 * params[table][2]
        embedded = np.where(np.array(positions)[:, None] == 0, params[table][0], poly)
    ids = rng.integers(0, 5, len(positions))
    expected = np.zeros((len(positions), width))
    expected[:, dims] = (params["token_embed"][ids] + embedded)[:, dims]
    with precision("float64"):
        device = to_device(params, "float64")
        stream = Stream.embedded(device, jnp.asarray(ids), jnp.asarray(positions, jnp.int32), dims)
        np.testing.assert_allclose(np.asarray(stream.whole(width)), expected, rtol=0, atol=1e-12)


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 8), st.integers(0, 4), st.floats(0.0, 1.0), st.integers(0, 1), st.integers(0, 2**32 - 1))
def test_gathers_multiply_as_the_matrix_does(rows: int, columns: int, density: float, extra: int, seed: int) -> None:
    """`_as_gathers` keeps each column's nonzero entries (rows and values, padded with value 0)
    and `times` with them is the product with the matrix."""
    rng = np.random.default_rng(seed)
    matrix = _sparse(rng, rows, columns, density)
    most = int(np.count_nonzero(matrix, axis=0).max(initial=0))
    kept = _as_gathers(matrix, max(most, 1) + extra)
    assert kept["index"].shape == kept["weight"].shape == (columns, max(most, 1) + extra)
    for column in range(columns):
        entries = {(int(row), value) for row, value in zip(kept["index"][column], kept["weight"][column]) if value}
        assert entries == {(int(row), matrix[row, column]) for row in np.flatnonzero(matrix[:, column])}
    x = rng.normal(size=(T, rows))
    with precision("float64"):
        product = times(jnp.asarray(x), {name: jnp.asarray(array) for name, array in kept.items()})
        np.testing.assert_allclose(np.asarray(product), x @ matrix, rtol=0, atol=1e-12)
        np.testing.assert_allclose(np.asarray(times(jnp.asarray(x), jnp.asarray(matrix))), x @ matrix, atol=1e-12)


# ------------------------------------------------------------------ which matrices the plan gathers

#: What the MLP grafted onto the hand-made model reads (token indicators and the index from the
#: embedding, a sum and a keyed head's result from the attention) and writes (into dimensions
#: the attention wrote and the unembedding reads).
MLP_READS = (TOKENS, TOKENS + 1, TOKENS + 2, TOKENS + 3, TOKENS + 4, INDEX, SUM_FLOAT, READ_A)
MLP_WRITES = (SUMMED_C, LATEST_A, READ_B, READ_B + 1, READ_B + 2, READ_B + 3, READ_B + 4, READ_A + 2)
HIDDEN = 8


def _band(rows: int, columns: int, per_column: int, rng: np.random.Generator) -> np.ndarray:
    """A matrix whose column j is nonzero at rows j, j + 1, .. (mod rows): `per_column` entries
    in every column, every row used."""
    matrix = np.zeros((rows, columns))
    for column in range(columns):
        for entry in range(per_column):
            matrix[(column + entry) % rows, column] = rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 2.0)
    return matrix


def _with_mlp(per_in: int, per_out: int) -> Transformer:
    """The hand-made model (test_fast_modes) with an MLP of HIDDEN units whose w_in columns
    read `per_in` of MLP_READS each and whose w_out columns take `per_out` units each."""
    rng = np.random.default_rng(100 * per_in + per_out)
    width = MODEL.params["token_embed"].shape[1]
    w_in, w_out, b_out = np.zeros((width, HIDDEN)), np.zeros((HIDDEN, width)), np.zeros(width)
    w_in[list(MLP_READS)] = _band(len(MLP_READS), HIDDEN, per_in, rng)
    w_out[:, list(MLP_WRITES)] = _band(HIDDEN, len(MLP_WRITES), per_out, rng)
    b_out[list(MLP_WRITES)] = rng.normal(size=len(MLP_WRITES))
    mlp = {"w_in": w_in, "b_in": rng.normal(size=HIDDEN) * 0.5, "w_out": w_out, "b_out": b_out}
    layer = MODEL.params["layers"][0]
    return Transformer({**MODEL.params, "layers": [{"attn": layer["attn"], "mlp": mlp}]}, MODEL.spec)


def _dense(model: Transformer, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The dense whole-sequence pass (`compiled_model.arithmetic.whole`) in numpy, float64."""
    return np.asarray(whole(model.params, ids, mask, True, window=model.window, xp=np))


def _fast(model: Transformer, ids: np.ndarray, mask: np.ndarray, dims: tuple[int, ...] | None = None) -> np.ndarray:
    plan = plan_of([model])
    with precision("float64"):
        tables = to_device(tables_of(model, plan), "float64")
        return np.asarray(fast_forward(model.device_params("float64"), tables, ids, mask, plan, model.window, dims))


def _hand_batch(texts: list[str], rows: int = ROWS) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Ids and masks of `rows` rows of 13 positions (the hand-made model's 12 and the BOS)."""
    texts = [*texts, *[texts[0]] * (rows - len(texts))]
    ids, mask = MODEL.encode([list(text) for text in texts])
    width = ((0, 0), (0, MODEL.max_seq_len + 1 - ids.shape[1]))
    return np.pad(ids, width), np.pad(mask, width), texts


#: (w_in's and w_out's entries per column): at most 8 / GATHER_GAIN = 2 of the 8 rows are
#: gathered (2 is the boundary), 3 and a full column are not.
MLPS = [(2, 1), (3, 2), (8, 8)]


@pytest.mark.parametrize("per_in, per_out", MLPS)
@settings(max_examples=8, deadline=None)
@given(st.lists(st.text(alphabet=VOCAB, min_size=1, max_size=MODEL.max_seq_len), min_size=1, max_size=4))
def test_an_mlp_of_few_entries_per_column_is_gathered_and_runs_as_the_dense_pass(
    per_in: int, per_out: int, texts: list[str]
) -> None:
    """The plan gathers w_in and w_out exactly when their columns hold at most 8 / GATHER_GAIN
    entries, with that many entries (the tables then hold gathers), and the fast pass over the
    MLP, gathered or not, gives the dense pass's streams (which the MLP changes)."""
    assert len(MLP_READS) == HIDDEN == 2 * GATHER_GAIN  # the boundary above is 2 entries a column
    model = _with_mlp(per_in, per_out)
    plan = plan_of([model])
    (layer,) = plan.layers
    assert sorted(layer.mlp_reads) == sorted(MLP_READS) and sorted(layer.mlp_writes) == sorted(MLP_WRITES)
    expected = {name: most for name, most in (("w_in", per_in), ("w_out", per_out)) if most * GATHER_GAIN <= HIDDEN}
    assert {name: most for name, most in layer.gathered if name in ("w_in", "w_out")} == expected
    tables = tables_of(model, plan)
    for name in ("w_in", "w_out"):
        assert isinstance(tables[0]["mlp"][name], dict) == (name in expected)
    ids, mask, _ = _hand_batch(texts)
    dense = _dense(model, ids, mask)
    np.testing.assert_allclose(_fast(model, ids, mask)[mask], dense[mask], atol=1e-9)
    assert np.any(dense[mask][:, list(MLP_WRITES)] != _dense(MODEL, ids, mask)[mask][:, list(MLP_WRITES)])


# ------------------------------------------------------------------ the compact universal model

LENGTH = 64  # the universal model's tokens per input


@pytest.fixture(scope="module")
def universal() -> tuple[Transformer, Any, Any, Any]:
    """The compact universal model of 2 states and 2 symbols, its plan and device weights."""
    model = universal_model(Shape(2, 2), LENGTH, "hard", program=COMPACT_PROGRAM).model
    plan = plan_of([model])
    with precision("float64"):
        return model, plan, model.device_params("float64"), to_device(tables_of(model, plan), "float64")


def _written(array: np.ndarray) -> set[int]:
    """The residual dimensions (last axis) where `array` is not all zero."""
    return {int(d) for d in np.flatnonzero(np.any(array.reshape(-1, array.shape[-1]) != 0, axis=0))}


def test_the_universal_model_gathers_the_mlp_matrices_of_few_entries_per_column(universal: tuple) -> None:
    """Counted from the weights: a sublayer reads only the dimensions written before it (the
    embedding's and every earlier sublayer's), and an MLP matrix is gathered exactly when its
    fullest column holds at most 1/GATHER_GAIN of its rows, with that many entries."""
    model, plan, _, _ = universal
    params = model.params
    written = _written(params["token_embed"]) | _written(params.get("pos_poly", params.get("pos_embed")))
    gathered_any, dense_any = False, False
    for layer, weights in zip(plan.layers, params["layers"]):
        written |= _written(weights["attn"]["w_o"])
        w_in, w_out = weights["mlp"]["w_in"], weights["mlp"]["w_out"]
        reads = sorted(d for d in np.flatnonzero(np.any(w_in != 0, axis=1)) if d in written)
        expected = {}
        for name, matrix in (("w_in", w_in[reads]), ("w_out", w_out)):
            most = int(np.count_nonzero(matrix, axis=0).max(initial=0))
            if matrix.shape[0] and most * GATHER_GAIN <= matrix.shape[0]:
                expected[name] = max(most, 1)
        assert {name: most for name, most in layer.gathered if name in ("w_in", "w_out")} == expected
        gathered_any |= "w_in" in expected
        dense_any |= w_in.shape[1] > 0 and "w_in" not in expected
        written |= _written(w_out) | _written(weights["mlp"]["b_out"])
    assert gathered_any and dense_any  # both decisions are taken in this model
    assert dict(plan.layers[-1].gathered).get("w_in") == 2


def _trace(seed: int, steps: int) -> list[str]:
    """A random machine's table and its compact trace of up to `steps` steps, cut to LENGTH."""
    machine = random_machine(2, 2, seed)
    return [*table_tokens(machine), *COMPACT.reference(machine, (), steps)][:LENGTH]


def _padded(rows: list[list[int]], width: int, rng: np.random.Generator, vocab: int) -> tuple:
    """Rows of ids padded to `width` with random tokens, masked off."""
    ids = rng.integers(1, vocab + 1, (len(rows), width))
    mask = np.zeros((len(rows), width), bool)
    for row, tokens in enumerate(rows):
        ids[row, : len(tokens)] = tokens
        mask[row, : len(tokens)] = True
    return ids, mask


def _encoded(model: Transformer, inputs: list[list[Any]]) -> tuple[np.ndarray, np.ndarray]:
    """Ids and masks of every position of the model (and the BOS), padding after the tokens."""
    ids, mask = model.encode(inputs)
    width = ((0, 0), (0, model.max_seq_len + 1 - ids.shape[1]))
    return np.pad(ids, width), np.pad(mask, width)


@settings(max_examples=5, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2**20), st.integers(0, 40)), min_size=ROWS, max_size=ROWS))
def test_the_universal_models_fast_pass_equals_the_dense_pass(universal: tuple, machines: list) -> None:
    """Gathered MLPs and attention, keyed heads over the log, summed scans: every stream the
    dense pass gives, and the predictions follow each machine's trace."""
    model, plan, params, tables = universal
    inputs = [_trace(seed, steps) for seed, steps in machines]
    ids, mask = _encoded(model, inputs)
    with precision("float64"):
        fast = np.asarray(fast_forward(params, tables, ids, mask, plan, model.window))
    np.testing.assert_allclose(fast[mask], _dense(model, ids, mask)[mask], atol=1e-9)
    for row, tokens in enumerate(inputs):
        assert first_wrong_prediction(tokens, model.decode(fast[row, 1 : 1 + len(tokens)])) is None


def _decoded(model: Transformer, dims: tuple[int, ...], streams: np.ndarray) -> list[str]:
    """The predictions of streams kept on `dims` (which hold every row the unembedding reads)."""
    wide = np.zeros((len(streams), model.params["token_embed"].shape[1]))
    wide[:, list(dims)] = streams
    return [str(value) for value in model.decode(wide)]


def _continued(
    model: Transformer,
    fast: tuple,
    groups: list[list[list[Any]]],
    fractions: list[float],
    seed: int,
    dims: tuple[int, ...],
) -> tuple[list[list[Any]], np.ndarray]:
    """Each group's inputs split at one point p (positions: 1 <= p <= the positions they share,
    and a token after it in each), continued from the states of their prefixes
    (`shared_prefixes`: one per distinct prefix, so inputs of different groups share one when
    their prefixes are equal) by `after_prefixes` on `dims`, checked against `fast_forward` on
    the whole inputs at every suffix position, predictions included.  ROWS rows continue
    GROUPS prefixes in one call; prefixes and suffixes are padded with random tokens masked
    off, every prefix past its real length.  Returns the inputs and the whole pass on `dims`."""
    plan, params, tables = fast
    rng = np.random.default_rng(seed)
    inputs, splits = [], []
    for members, fraction in zip(groups, fractions):
        shared = 1 + next(
            (at for at, tokens in enumerate(zip(*members)) if len(set(tokens)) > 1), min(map(len, members))
        )
        most = min(shared, min(map(len, members)))  # a split leaves a token after it in every input
        inputs += members
        splits += [1 + int(fraction * (most - 1))] * len(members)
    inputs, splits = inputs[:ROWS], splits[:ROWS]
    rows = list(range(len(inputs))) + [0] * (ROWS - len(inputs))  # one shape: repeats of row 0
    ids, mask = _encoded(model, [inputs[row] for row in rows])
    width, ends = ids.shape[1], [len(inputs[row]) + 1 for row in rows]
    prefixes: dict[tuple[int, ...], int] = {}
    for row, split in enumerate(splits):
        prefixes.setdefault(tuple(ids[row, :split]), len(prefixes))
    assert len(prefixes) <= GROUPS
    unused = [[0]] * (GROUPS - len(prefixes))  # prefixes no row continues: the BOS alone
    prefix_ids, prefix_mask = _padded([*map(list, prefixes), *unused], width, rng, len(model.vocab))
    suffix_ids, suffix_mask = _padded(
        [list(ids[row, splits[row] : ends[row]]) for row in rows], width - 1, rng, len(model.vocab)
    )
    which = np.array([prefixes[tuple(ids[row, : splits[row]])] for row in rows])
    starts = np.array([splits[row] for row in rows])
    assert not prefix_mask[:, -1].any()  # every prefix is padded past its real length
    with precision("float64"):
        # the whole streams as the whole-pass tests compute them (one XLA compilation for both;
        # `fast_forward`'s own `dims` is checked in test_keys_far_outside_any_table...)
        whole_pass = np.asarray(fast_forward(params, tables, ids, mask, plan, model.window))[..., list(dims)]
        states = shared_prefixes(params, tables, prefix_ids, prefix_mask, plan, model.window, 2 * width - 1)
        continued = np.asarray(
            after_prefixes(params, tables, states, which, starts, suffix_ids, suffix_mask, plan, model.window, dims)
        )
    for row, (split, end) in enumerate(zip(splits, ends)):
        expected = whole_pass[row, split:end]
        np.testing.assert_allclose(continued[row, : end - split], expected, atol=1e-9)
        assert _decoded(model, dims, continued[row, : end - split]) == _decoded(model, dims, expected)
    return inputs, whole_pass


@settings(max_examples=20, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 2**20), st.lists(st.integers(0, 40), min_size=1, max_size=3), st.floats(0.0, 1.0)),
        min_size=1,
        max_size=3,
    ),
    st.integers(0, 2**32 - 1),
)
def test_continuing_shared_prefixes_equals_the_whole_pass(universal: tuple, machines: list, seed: int) -> None:
    """The universal model (keyed heads over the log, summed scans, gathers), on the
    unembedding's dimensions: the inputs of a machine are its traces of several lengths, which
    share their beginning; the predictions also follow each machine's trace."""
    model, plan, params, tables = universal
    groups = [[_trace(machine, steps) for steps in counts] for machine, counts, _ in machines]
    inputs, whole_pass = _continued(
        model, (plan, params, tables), groups, [fraction for *_, fraction in machines], seed, plan.outputs
    )
    for row, tokens in enumerate(inputs):
        predictions = _decoded(model, plan.outputs, whole_pass[row, 1 : 1 + len(tokens)])
        assert first_wrong_prediction(tokens, predictions) is None


@settings(max_examples=20, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(alphabet=VOCAB, min_size=1, max_size=8),
            st.lists(st.text(alphabet=VOCAB, max_size=6), min_size=1, max_size=3),
            st.floats(0.0, 1.0),
        ),
        min_size=1,
        max_size=3,
    ),
    st.integers(0, 2**32 - 1),
)
def test_continuing_shared_prefixes_of_the_hand_made_model_equals_the_whole_pass(groups: list, seed: int) -> None:
    """The hand-made model, whose keyed head B and dense head read positions and whose dense
    head keeps its keys per position, on every dimension: each group's inputs are a stem and
    continuations of it."""
    plan = plan_of([MODEL])
    with precision("float64"):
        fast = plan, MODEL.device_params("float64"), to_device(tables_of(MODEL, plan), "float64")
    inputs = [[list((stem + rest)[: MODEL.max_seq_len]) for rest in rests] for stem, rests, _ in groups]
    _continued(MODEL, fast, inputs, [fraction for *_, fraction in groups], seed, tuple(range(len(MODEL.labels))))


# ------------------------------------------------------------------ keys outside any table


#: Dimensions `fast_forward` may return instead of the whole stream, in any order: the keyed
#: heads' results, an embedded dimension, a sum's.
SOME_DIMS = (READ_B + 6, READ_A, INDEX, READ_A + 1, SUM_FLOAT, READ_B)


def _far(offset: int) -> dict[str, tuple[int, int, int]]:
    """TOKENS_ONE with head A's keys and targets moved by `offset`: cells no table of the
    model's length holds (`compiled_model.fast_forward.table_rows`: 2 n + 1 cells around 0)."""
    return {token: (key + offset, writer, target + offset) for token, (key, writer, target) in TOKENS_ONE.items()}


@settings(max_examples=15, deadline=None)
@given(
    st.integers(30, 10**6).map(lambda n: n if n % 2 else -n),
    st.lists(st.text(alphabet=VOCAB, min_size=1, max_size=MODEL.max_seq_len), min_size=1, max_size=4),
)
def test_keys_far_outside_any_table_are_matched_as_the_dense_pass_does(offset: int, texts: list[str]) -> None:
    """The whole pass keeps a log of positions, not a table (`keyed_matches`): keys and targets
    up to a million cells away read what the dense pass and a table kept in Python read."""
    tokens = _far(offset)
    model = _model(tokens)
    ids, mask, texts = _hand_batch(texts)
    fast, dense = _fast(model, ids, mask), _dense(model, ids, mask)
    np.testing.assert_allclose(fast[mask], dense[mask], atol=1e-9)
    np.testing.assert_allclose(_fast(model, ids, mask, SOME_DIMS)[mask], fast[mask][:, list(SOME_DIMS)], atol=1e-12)
    for row, text in enumerate(texts):
        streams = fast[row, 1 : 1 + len(text)]
        assert _reads(streams, READ_A) == _keyed_reference(text, tokens, KEYED_A)
        assert _reads(streams, READ_B) == _keyed_reference(text, tokens, KEYED_B)


def test_rows_past_the_states_capacity_are_refused() -> None:
    """A prefix's states made for 12 positions cannot take rows that reach 14 (padding
    included): the dense head's cache would be written out of place, so the call refuses; with
    room for 14 it equals the whole pass."""
    plan = plan_of([MODEL])
    ids, mask = MODEL.encode([list("aebadcbaeab")])
    length, cut, pad = ids.shape[1], 3, 2
    dims = tuple(range(len(MODEL.labels)))
    with precision("float64"):
        params, tables = MODEL.device_params("float64"), to_device(tables_of(MODEL, plan), "float64")
        whole_pass = np.asarray(fast_forward(params, tables, ids, mask, plan, MODEL.window))
        rest, rest_mask = np.pad(ids[:, cut:], ((0, 0), (0, pad))), np.pad(mask[:, cut:], ((0, 0), (0, pad)))
        short = shared_prefixes(params, tables, ids[:, :cut], mask[:, :cut], plan, MODEL.window, length)
        with pytest.raises(ModelError, match="reach position 14, past the 12 positions"):
            after_prefixes(
                params, tables, short, np.array([0]), np.array([cut]), rest, rest_mask, plan, MODEL.window, dims
            )
        room = shared_prefixes(params, tables, ids[:, :cut], mask[:, :cut], plan, MODEL.window, length + pad)
        continued = after_prefixes(
            params, tables, room, np.array([0]), np.array([cut]), rest, rest_mask, plan, MODEL.window, dims
        )
    np.testing.assert_allclose(np.asarray(continued)[0, : length - cut], whole_pass[0, cut:], atol=1e-9)
