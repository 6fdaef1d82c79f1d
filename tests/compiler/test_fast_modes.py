"""The fast passes on models with head modes (`compiled_model.arithmetic.moded_weights`): "sum"
heads as scans that sum, "keyed" heads as tables from a key to the latest value written there,
and the dense heads of a moded layer in their own modes, against the dense pass in float64.

The models are made by hand, so that every case a table meets can be chosen: one layer of a
float sum head, an integer (exact) sum head that leaves the BOS out, a running head, a dense
head that takes the latest `a`, a dense head that sums (a checked scan), and two keyed heads
whose key and writer come from the token and whose target comes from the token (A) or the
position (B).  A keyed head scores in integers, 2 t key - key^2 + G for a writer, t^2 + G - 1/2
for the BOS and 0 for anything else (t the query's target): the matching writers score highest,
the BOS next, as the compiler's keyed heads do; `test_the_dense_weights_are_a_keyed_table`
checks that against a table kept in Python, so that the comparisons below compare with it too.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import compiled_model.fast_forward as fast_forward_module
from compiled_model import Transformer
from compiled_model.arithmetic import AVERAGE, LATEST, SUM, precision, to_device
from compiled_model.consistency import consistency_problem
from compiled_model.errors import ModelError
from compiled_model.fast_decoder import FastDecoder, batch_fast_generate
from compiled_model.fast_forward import MAX_TABLE_ROWS, empty_state, fast_forward, table_rows
from compiled_model.fast_plan import ScanGroup, plan_of, tables_of
from compiled_model.shapes import common_shape, pad
from compiled_model.spec import Attention, HeadDescriptor, ModelSpec, OutputDecoding, ResidualDim

N = 12
BATCH = 4
VOCAB = "abcde"
G = 1  # a writer's bonus over every key that writes nothing

# residual dimensions
ONE, BOS, TOKENS, INDEX = 0, 1, 2, 7  # tokens: one indicator per letter of VOCAB
KEY2, KEYB, TARGET_A, TARGET_A2, WRITER, TARGET_B, TARGET_B2, KEY = range(8, 16)
READ_A, READ_B = 16, 23  # a keyed head's value: the token's indicators, the BOS flag, the index
SUM_FLOAT, SUM_EXACT, AVERAGED, LATEST_A, SUMMED_C = 30, 32, 34, 35, 36
WIDTH = 37

#: Per token (key, writer, target of head A).  `a` reads the cell it writes (its own key is
#: visible to it), `e` writes `a`'s cell (the latest wins), `d` reads a cell nobody writes (the
#: BOS's value), `c` writes nothing.
TOKENS_ONE = {"a": (1, 1, 1), "b": (2, 1, 1), "c": (-1, 0, 2), "d": (3, 1, -2), "e": (1, 1, 3)}
TOKENS_TWO = {"a": (0, 1, 2), "b": (2, 1, 2), "c": (1, 1, 0), "d": (-1, 0, 1), "e": (2, 1, -1)}


def _target_b(position: int) -> int:
    """Head B's target at a token position: -1, 0, 1, 2 in turn (-1 and 0 are never written
    with TOKENS_ONE)."""
    return position % 4 - 1


def _residual() -> tuple[ResidualDim, ...]:
    named = {ONE: ("one", "one"), BOS: ("bos", "bos"), INDEX: ("indices", "indices")}
    dims = []
    for index in range(WIDTH):
        if index in named:
            dims.append(ResidualDim(named[index][0], named[index][1]))  # type: ignore[arg-type]
        elif TOKENS <= index < TOKENS + len(VOCAB):
            token = VOCAB[index - TOKENS]
            dims.append(ResidualDim(f"tokens:{token}", "token", value=token))
        else:
            dims.append(ResidualDim(f"x{index}", "number", sop=f"x{index}"))
    return tuple(dims)


def _embeddings(tokens: dict[str, tuple[int, int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Token rows (BOS id 0 all zeros) with each token's indicator, key features and target,
    and position rows with `one`, `bos`, the index and head B's target."""
    token_embed = np.zeros((len(VOCAB) + 1, WIDTH))
    for number, token in enumerate(VOCAB, start=1):
        key, writer, target = tokens[token]
        row = token_embed[number]
        row[TOKENS + number - 1] = 1
        row[[KEY2, KEYB, WRITER, KEY]] = 2 * key * writer, (G - key * key) * writer, writer, key
        row[[TARGET_A, TARGET_A2]] = target, target * target
    pos_embed = np.zeros((N + 1, WIDTH))
    pos_embed[:, ONE] = 1
    pos_embed[0, BOS] = 1
    for position in range(1, N + 1):
        target = _target_b(position)
        pos_embed[position, [INDEX, TARGET_B, TARGET_B2]] = position, target, target * target
    return token_embed, pos_embed


def _keyed_head(target: int, target2: int, out: int) -> dict[str, np.ndarray]:
    """A keyed head: query (t, 1, t^2), key (2 key w, (G - key^2) w + (G - 1/2) bos, bos)."""
    w_q, w_k = np.zeros((WIDTH, 3)), np.zeros((WIDTH, 3))
    w_q[target, 0], w_q[ONE, 1], w_q[target2, 2] = 1, 1, 1
    w_k[KEY2, 0], w_k[KEYB, 1], w_k[BOS, 1], w_k[BOS, 2] = 1, 1, G - 0.5, 1
    w_v, w_o = np.zeros((WIDTH, 7)), np.zeros((7, WIDTH))
    for column in range(5):
        w_v[TOKENS + column, column] = 1
    w_v[BOS, 5], w_v[INDEX, 6] = 1, 1
    w_o[np.arange(7), out + np.arange(7)] = 1
    return {"w_q": w_q, "w_k": w_k, "w_v": w_v, "w_o": w_o}


def _simple_head(key: dict[int, float], values: dict[int, int]) -> dict[str, np.ndarray]:
    """A head whose query reads `one`, whose key is `key` (dimension: weight) and whose value
    columns copy `values` (dimension: the residual dimension the result goes to)."""
    w_q, w_k = np.zeros((WIDTH, 3)), np.zeros((WIDTH, 3))
    w_q[ONE, 0] = 1
    for dim, weight in key.items():
        w_k[dim, 0] = weight
    w_v, w_o = np.zeros((WIDTH, 7)), np.zeros((7, WIDTH))
    for column, (dim, out) in enumerate(values.items()):
        w_v[dim, column], w_o[column, out] = 1, 1
    return {"w_q": w_q, "w_k": w_k, "w_v": w_v, "w_o": w_o}


# (descriptor kind, mode, integer factor, weights) per head
HEADS: list[tuple[str, int, float, dict[str, np.ndarray]]] = [
    ("sum", SUM, 0.0, _simple_head({}, {WRITER: SUM_FLOAT, ONE: SUM_FLOAT + 1})),
    ("sum", SUM, 1.0, _simple_head({BOS: -1.0}, {WRITER: SUM_EXACT, ONE: SUM_EXACT + 1})),
    ("running", AVERAGE, 0.0, _simple_head({}, {TOKENS: AVERAGED})),
    ("dense", LATEST, 0.0, _simple_head({TOKENS: 1.0}, {INDEX: LATEST_A})),
    ("dense", SUM, 0.0, _simple_head({}, {TOKENS + 2: SUMMED_C})),
    ("keyed", LATEST, 1.0, _keyed_head(TARGET_A, TARGET_A2, READ_A)),
    ("keyed", LATEST, 1.0, _keyed_head(TARGET_B, TARGET_B2, READ_B)),
]
KEYED_A, KEYED_B, DENSE_LATEST = 5, 6, 3


def _descriptor(kind: str, head: int) -> HeadDescriptor:
    if kind != "keyed":
        return HeadDescriptor(kind)  # type: ignore[arg-type]
    target = ((TARGET_A, 1.0),) if head == KEYED_A else ((TARGET_B, 1.0),)
    return HeadDescriptor("keyed", target=target, key=((KEY, 1.0),), writer=((WRITER, 1.0),))


def _unembed() -> np.ndarray:
    """Scores of the next token: what head B read counts most, then head A, head A's reads of
    the BOS favour `a`, head B's `c`, and the count of `c`s favours `e` (integers: no near
    ties)."""
    unembed = np.zeros((WIDTH, len(VOCAB)))
    for column in range(len(VOCAB)):
        unembed[READ_A + column, column], unembed[READ_B + column, column] = 4, 8
    unembed[READ_A + 5, 0], unembed[READ_B + 5, 2], unembed[SUMMED_C, 4] = 3, 5, 2
    return unembed


def _model(tokens: dict[str, tuple[int, int, int]] = TOKENS_ONE, heads: tuple[int, ...] | None = None) -> Transformer:
    """The hand-made model over the chosen `heads` (default: all of HEADS)."""
    chosen = list(range(len(HEADS))) if heads is None else list(heads)
    token_embed, pos_embed = _embeddings(tokens)
    attn = {name: np.stack([HEADS[h][3][name] for h in chosen]) for name in ("w_q", "w_k", "w_v", "w_o")}
    attn["mode"] = np.array([float(HEADS[h][1]) for h in chosen])
    attn["integer"] = np.array([HEADS[h][2] for h in chosen])
    mlp = {"w_in": np.zeros((WIDTH, 0)), "b_in": np.zeros(0), "w_out": np.zeros((0, WIDTH)), "b_out": np.zeros(WIDTH)}
    params = {"token_embed": token_embed, "pos_embed": pos_embed, "layers": [{"attn": attn, "mlp": mlp}]}
    spec = ModelSpec(
        program="hand-made keyed and sum heads",
        vocab=tuple(VOCAB),
        max_seq_len=N,
        causal=True,
        attention=Attention("hard"),
        residual=_residual(),
        output=OutputDecoding("categorical", tuple(VOCAB)),
        heads=(tuple(_descriptor(HEADS[h][0], h) for h in chosen),),
    )
    return Transformer({**params, "unembed": _unembed()}, spec)


MODEL = _model()
OTHER = _model(TOKENS_TWO)


def _with_kinds(model: Transformer, kinds: dict[int, str]) -> Transformer:
    """The same weights, the heads of `kinds` described as those kinds."""
    layer = tuple(
        HeadDescriptor(kinds[head]) if head in kinds else descriptor  # type: ignore[arg-type]
        for head, descriptor in enumerate(model.spec.heads[0])
    )
    return Transformer(model.params, dataclasses.replace(model.spec, heads=(layer,)))


def _batch(inputs: list[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Ids and masks of BATCH rows of N + 1 positions (one XLA shape), padding after the tokens."""
    rows = [*inputs, *[inputs[0]] * (BATCH - len(inputs))]
    ids, mask = MODEL.encode([list(text) for text in rows])
    width = ((0, 0), (0, N + 1 - ids.shape[1]))
    return np.pad(ids, width), np.pad(mask, width), rows


def _dense(model: Transformer, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    from compiled_model.arithmetic import forward

    with precision("float64"):
        return np.asarray(forward(model.device_params("float64"), ids, mask, True, window=model.window))


def _fast(model: Transformer, ids: np.ndarray, mask: np.ndarray, table_cells: int | None = None) -> np.ndarray:
    plan = plan_of([model])
    with precision("float64"):
        tables = to_device(tables_of(model, plan), "float64")
        params = model.device_params("float64")
        return np.asarray(fast_forward(params, tables, ids, mask, plan, model.window, table_cells=table_cells))


def _keyed_reference(text: str, tokens: dict[str, tuple[int, int, int]], head: int) -> list[tuple[str, int]]:
    """What a keyed head reads at each token position, kept as a table in Python: (token or
    "bos", index) of the latest writer of the query's target, or of the BOS."""
    table: dict[int, tuple[str, int]] = {}
    reads = []
    for position, token in enumerate(text, start=1):
        key, writer, target = tokens[token]
        if writer == 1:
            table[key] = (token, position)
        wanted = target if head == KEYED_A else _target_b(position)
        reads.append(table.get(wanted, ("bos", 0)))
    return reads


def _reads(stream: np.ndarray, start: int) -> list[tuple[str, int]]:
    """A keyed head's value in the stream rows: (token or "bos", index)."""
    names = [*VOCAB, "bos"]
    return [(names[int(np.argmax(row[start : start + 6]))], int(row[start + 6])) for row in stream]


# ------------------------------------------------------------------ the plan and the weights


def test_each_head_is_planned_by_its_kind_and_mode() -> None:
    """Hand-checked: the sums are summed scans (the integer one exact), the running head an
    averaging scan, the dense sum a checked summed scan; the dense head that takes the latest
    key stays dense (never averaged), the keyed heads are tables."""
    (layer,) = plan_of([MODEL]).layers
    assert layer.scans == (
        ScanGroup((2,)),
        ScanGroup((0,), summed=True),
        ScanGroup((1,), summed=True, exact=True),
        ScanGroup((4,), (), checked=True, summed=True),
    )
    assert (layer.lookups, layer.keyed, layer.dense, layer.moded) == ((), (KEYED_A, KEYED_B), (DENSE_LATEST,), True)


def test_a_head_whose_weights_disagree_with_its_kind_runs_dense() -> None:
    """A sum head described as running becomes a checked scan that sums (what its weights
    do, not an average); a keyed head described as running stays dense, in its mode; the
    fast pass still equals the dense pass."""
    model = _with_kinds(MODEL, {0: "running", KEYED_A: "running"})
    (layer,) = plan_of([model]).layers
    assert ScanGroup((0, 4), (), checked=True, summed=True) in layer.scans  # one pattern with the dense sum
    assert layer.dense == (DENSE_LATEST, KEYED_A) and layer.keyed == (KEYED_B,)
    ids, mask, _ = _batch(["abeab", "dcbae"])
    np.testing.assert_allclose(_fast(model, ids, mask)[mask], _dense(model, ids, mask)[mask], atol=1e-9)


def test_the_dense_weights_are_a_keyed_table() -> None:
    """Hand-checked on `aebad`: `a` reads its own write, `e` overwrites `a`'s cell 1 and `b`
    then reads `e`'s value there (the latest wins), the second `a` its own again; `e` reads
    cell 3 before `d` writes it and `d` reads cell -2, never written (the BOS's value)."""
    text = "aebad"
    ids, mask, _ = _batch([text])
    dense = _dense(MODEL, ids, mask)[0, 1 : 1 + len(text)]
    assert _reads(dense, READ_A) == [("a", 1), ("bos", 0), ("e", 2), ("a", 4), ("bos", 0)]
    assert _reads(dense, READ_A) == _keyed_reference(text, TOKENS_ONE, KEYED_A)
    assert _reads(dense, READ_B) == _keyed_reference(text, TOKENS_ONE, KEYED_B)
    assert dense[:, SUM_FLOAT].tolist() == [1, 2, 3, 4, 5] and dense[:, SUM_FLOAT + 1].tolist() == [2, 3, 4, 5, 6]
    assert dense[:, SUM_EXACT + 1].tolist() == [1, 2, 3, 4, 5]  # the BOS is left out


# ------------------------------------------------------------------ the whole pass


@pytest.mark.parametrize("tokens", [TOKENS_ONE, TOKENS_TWO], ids=["one", "two"])
@settings(max_examples=25, deadline=None)
@given(st.lists(st.text(alphabet=VOCAB, min_size=1, max_size=N), min_size=1, max_size=BATCH))
def test_the_fast_pass_equals_the_dense_pass(tokens: dict[str, tuple[int, int, int]], inputs: list[str]) -> None:
    model = MODEL if tokens is TOKENS_ONE else OTHER
    ids, mask, rows = _batch(inputs)
    dense, fast = _dense(model, ids, mask), _fast(model, ids, mask)
    np.testing.assert_allclose(fast[mask], dense[mask], atol=1e-9)
    for row, text in enumerate(rows):
        streams = fast[row, 1 : 1 + len(text)]
        assert _reads(streams, READ_A) == _keyed_reference(text, tokens, KEYED_A)
        assert _reads(streams, READ_B) == _keyed_reference(text, tokens, KEYED_B)


def test_a_cell_outside_the_table_is_refused_by_both_passes(monkeypatch) -> None:
    """Three cells hold -1, 0 and 1: `aa` stays inside (head B's targets at the first two
    positions are 0 and 1), `b` writes cell 2, outside, and so does `e`'s target 3.  A short
    whole pass keeps no table (`keyed_matches`), so it reads those cells as the dense pass
    does; past LOGGED_LENGTH it keeps tables, and refuses as the decoder does."""
    for text in ("ab", "e"):
        ids, mask, _ = _batch([text])
        np.testing.assert_allclose(_fast(MODEL, ids, mask)[mask], _dense(MODEL, ids, mask)[mask], atol=1e-9)
    monkeypatch.setattr(fast_forward_module, "LOGGED_LENGTH", 0)
    ids, mask, _ = _batch(["aa"])
    np.testing.assert_allclose(_fast(MODEL, ids, mask, table_cells=3)[mask], _dense(MODEL, ids, mask)[mask], atol=1e-9)
    for text in ("ab", "e"):
        ids, mask, _ = _batch([text])
        with pytest.raises(ModelError, match="table of 3 cells .-1 to 1.: pass a larger table_cells"):
            _fast(MODEL, ids, mask, table_cells=3)
        with pytest.raises(ModelError, match="table of 3 cells .-1 to 1.: pass a larger table_cells"):
            FastDecoder(MODEL, table_cells=3).outputs(list(text))
    assert FastDecoder(MODEL, table_cells=3).outputs(list("aa")) == MODEL(list("aa"))
    with pytest.raises(ModelError, match="table of 3 cells"):
        FastDecoder(MODEL, table_cells=3).generate(list("a"), 4)  # its third token is `c`: target 2


def test_the_default_table_reaches_every_cell_of_the_capacity_and_no_further() -> None:
    assert table_rows(5) == 11 and table_rows(10**6) == MAX_TABLE_ROWS and table_rows(10**6, 7) == 7
    with pytest.raises(ModelError, match="at least one cell"):
        table_rows(5, 0)


def test_the_state_of_running_sum_and_keyed_heads_does_not_grow_with_the_capacity() -> None:
    """Without the dense head, the state's bytes are the same for 64 and 2^20 positions (the
    keyed tables at their cap); with it, they grow."""
    without = plan_of([_model(heads=(0, 1, 2, 4, 5, 6))])

    def size(plan: Any, capacity: int) -> int:
        state = empty_state(plan, capacity, jnp.float32, cells=MAX_TABLE_ROWS)
        return sum(array.nbytes for array in jax.tree_util.tree_leaves(state))

    assert size(without, 64) == size(without, 2**20)
    assert size(plan_of([MODEL]), 64) < size(plan_of([MODEL]), 2**20)


# ------------------------------------------------------------------ the decoder


def _dense_generate(model: Transformer, prompt: str, steps: int) -> list[str]:
    """Greedy generation by the dense whole-sequence pass, one full pass per token."""
    tokens = list(prompt)
    for _ in range(steps):
        tokens.append(model(tokens, "float64")[-1])
    return tokens


@pytest.mark.parametrize("prompt", ["a", "cd", "bbea", "dce"])
def test_generation_equals_the_dense_pass(prompt: str) -> None:
    steps = N + 1 - len(prompt)
    expected = _dense_generate(MODEL, prompt, steps)
    decoder = FastDecoder(MODEL, chunk=4)
    assert decoder.generate(list(prompt), steps) == expected
    assert decoder.outputs(expected[:N]) == MODEL(expected[:N])
    assert len(set(expected)) > 1  # the run is not one token repeated


def test_stream_yields_the_generated_ids_chunk_by_chunk() -> None:
    decoder = FastDecoder(MODEL, chunk=4)
    counts: list[int] = []
    chunks = list(decoder.stream(list("bbe"), 9, progress=counts.append))
    assert [len(chunk) for chunk in chunks] == [1, 4, 4]  # chunk 1 feeds the BOS and the prompt
    assert counts == [1, 5, 9]
    assert [*"bbe", *decoder.tokens[np.concatenate(chunks)]] == decoder.generate(list("bbe"), 9)
    stopped = list(decoder.stream(list("bbe"), 9, stop=decoder.generate(list("bbe"), 9)[4]))
    assert len(np.concatenate(stopped)) == 2
    with pytest.raises(ModelError, match="fit in the model's 12 positions"):
        decoder.stream(list("bbe"), 11)  # refused at once, before any chunk


def test_a_batch_of_two_models_generates_what_each_does_alone() -> None:
    prompts = [list("ab"), list("dce")]
    generated = batch_fast_generate([MODEL, OTHER], prompts, 8, dtype="float64", chunk=4)
    assert generated == [_dense_generate(MODEL, "ab", 8), _dense_generate(OTHER, "dce", 8)]
    with pytest.raises(ModelError, match="float64 only"):
        batch_fast_generate([MODEL, OTHER], prompts, 8, dtype="float32")


def test_many_generations_of_one_model_share_its_weights() -> None:
    """One model, many prompts: each row generates what the dense decoder does from its prompt
    (the weights are read by every row, not stacked per row; two devices: test_bulk.py)."""
    prompts = [list(text) for text in ("ab", "dce", "e", "bbad")]
    generated = batch_fast_generate([MODEL] * len(prompts), prompts, 6, dtype="float64", chunk=4)
    assert generated == [_dense_generate(MODEL, "".join(prompt), 6) for prompt in prompts]


def test_a_keyed_slot_the_models_describe_differently_is_served_dense_in_its_mode() -> None:
    """One model calls head A keyed, the other dense: the batch serves it dense, latest key
    first (an average of the writers would generate other tokens), as each model alone."""
    dense_a = _with_kinds(MODEL, {KEYED_A: "dense"})
    (layer,) = plan_of([MODEL, dense_a]).layers
    assert KEYED_A in layer.dense and layer.keyed == (KEYED_B,)
    prompts = [list("aeb"), list("bea")]
    generated = batch_fast_generate([MODEL, dense_a], prompts, 7, dtype="float64", chunk=4)
    assert generated == [_dense_generate(MODEL, "aeb", 7), _dense_generate(MODEL, "bea", 7)]


# ------------------------------------------------------------------ shapes, files, exports


def test_padding_keeps_the_modes_and_adds_averaging_heads() -> None:
    """A model of fewer heads padded to the full one's shape: the added heads average and
    score in floats, a model without modes gets them as AVERAGE and 0, and both still run."""
    small = _model(heads=(0, KEYED_A))
    shape = common_shape([small, MODEL])
    padded = pad(small, shape)
    attn = padded.params["layers"][0]["attn"]
    assert attn["mode"].tolist() == [SUM, LATEST, *[AVERAGE] * 5] and attn["integer"].tolist() == [0, 1, 0, 0, 0, 0, 0]
    ids, mask, _ = _batch(["aebad", "bb"])
    np.testing.assert_allclose(_fast(padded, ids, mask)[mask], _dense(small, ids, mask)[mask], atol=1e-9)
    plain_attn = {k: v for k, v in small.params["layers"][0]["attn"].items() if k not in ("mode", "integer")}
    plain = Transformer({**small.params, "layers": [{**small.params["layers"][0], "attn": plain_attn}]}, small.spec)
    assert pad(plain, shape).params["layers"][0]["attn"]["mode"].tolist() == [AVERAGE] * 7


def test_a_file_with_unknown_modes_or_misshapen_modes_is_refused() -> None:
    assert consistency_problem(MODEL.params, MODEL.spec) is None

    def with_attn(**arrays: np.ndarray) -> dict[str, Any]:
        layer = MODEL.params["layers"][0]
        return {**MODEL.params, "layers": [{**layer, "attn": {**layer["attn"], **arrays}}]}

    assert "head modes [3.0]" in str(consistency_problem(with_attn(mode=np.array([0, 1, 2, 3, 0, 2, 2.0])), MODEL.spec))
    assert "attn/integer is 3" in str(consistency_problem(with_attn(integer=np.zeros(3)), MODEL.spec))


def test_exports_refuse_a_model_with_head_modes() -> None:
    export = pytest.importorskip("compiled_model.export")
    for write in (export.to_torch, export.to_transformer_lens):
        with pytest.raises(ModelError, match="sum or latest heads"):
            write(MODEL)
