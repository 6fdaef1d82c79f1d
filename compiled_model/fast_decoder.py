"""Greedy generation from hard-attention causal models at a cost per token that does not grow
with the trace for the heads `compiled_model.fast_plan` plans as scans or lookups.

The KV-cached step (`compiled_model.arithmetic.step`) attends over every earlier position.  A
step here is `compiled_model.fast_forward.fast_block` over one position: a scan head updates its
best score, tie count and value sum per query vector and reads its own vector's (the compiler
separates the chosen keys' logits from every other key's by twice the window at least and keeps
the chosen ones within a tiny error of each other, `compiler.margins.hard_separable`, so the
group is exactly the set of keys the dense pass would average); a lookup head writes its values
as one row and reads the row its target names; a dense head attends over the span of its cache
as `step` does; a sum head is a scan that sums; a keyed head writes and reads one cell of its
table.  So a step costs O(1) for scan, lookup and keyed heads and O(t) for dense heads only, and
the memory is `capacity x` (the lookup heads' value depths, plus the dense heads' key and value
depths), plus a table of `table_cells` cells per keyed head: a model of running, sum and keyed
heads only runs in memory that does not grow with the trace (the prompt is padded to its own
length, not to the capacity).

Generation runs `chunk` tokens per call of one jitted `lax.scan`, the state carried from call
to call (and updated in place: the calls donate it), until the model has generated its quota or
a stop token.  `FastDecoder.stream` hands the generated token ids out chunk by chunk and keeps
none, so a run of millions of tokens can be compared with a reference as it goes;
`FastDecoder.generate` collects them.  `batch_fast_generate` vmaps the same scan over models of
one shape and splits them across devices like `compiled_model.batch.batch_generate`.  Every
chunk is checked: a checked query off its vector, or a keyed head's cell outside its table,
raises (`compiled_model.fast_forward.raise_faults`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from compiled_model.arithmetic import MIN_SPAN, Params, precision, to_device
from compiled_model.batch import (
    fill_rows,
    next_ids_of,
    replicated,
    same_shapes,
    shard,
    shared_window,
    stacked_params,
)
from compiled_model.errors import ModelError
from compiled_model.fast_forward import State, Tables, empty_state, fast_block, raise_faults, table_rows
from compiled_model.fast_plan import FastPlan, plan_of, tables_of
from compiled_model.transformer import Transformer

#: Tokens generated per jitted call (the state is carried between calls).
CHUNK = 1024


def fast_step(
    params: Params,
    tables: Tables,
    state: State,
    token_id: jax.Array,
    position: jax.Array,
    plan: FastPlan,
    window: float,
    reach: jax.Array | None = None,
) -> tuple[State, jax.Array, jax.Array, jax.Array]:
    """One position (0 = BOS) of a hard causal model: the state with this position's keys in,
    the residual stream (width,) after the last layer, the checked queries' deviation and the
    faults (`compiled_model.fast_forward.fast_block` over a block of one)."""
    valid = jnp.ones(1, bool)
    state, x, off, faults = fast_block(params, tables, state, token_id[None], position, valid, plan, window, reach)
    return state, x.whole(params["token_embed"].shape[1])[0], off, faults

# ------------------------------------------------------------------ chunks of generation


Carry = tuple[State, jax.Array, jax.Array, jax.Array, jax.Array, jax.Array]
"""(state, next position, last prediction, tokens still to generate: 0 once done, the largest
deviation of a checked query so far: `compiled_model.fast_forward.deviation`, the faults so
far: `compiled_model.fast_forward.raise_faults`)."""


Outputs = tuple[jax.Array, jax.Array, jax.Array | None]
"""Per position: the generated token id (-1 where none), whether it ran, its final stream."""


Feed = tuple[jax.Array, jax.Array, jax.Array, jax.Array]
"""Per model: the prompt's token ids, its length, the token id of every output column, the
stop tokens' ids (`_arguments`)."""


def _advance(
    params: Params,
    tables: Tables,
    carry: Carry,
    feed: Feed,
    reach: jax.Array,
    plan: FastPlan,
    window: float,
    keep_streams: bool,
) -> tuple[Carry, Outputs]:
    """One position of one model: it feeds the next prompt token (the BOS first), or once the
    prompt is in, the model's last prediction; a prediction from the last prompt position on
    is generated, and a stop token or the quota ends the generation (the positions after that
    change nothing that is read again, and report nothing).  The stream is kept only with
    `keep_streams`."""
    state, position, predicted, remaining, off, faults = carry
    prompt, prompt_length, next_ids, stop_ids = feed
    live = remaining > 0
    fed = jnp.where(position <= prompt_length, prompt[jnp.clip(position - 1, 0, prompt.shape[0] - 1)], predicted)
    token = jnp.where(position == 0, 0, fed)
    state, stream, step_off, step_faults = fast_step(params, tables, state, token, position, plan, window, reach)
    scores = jnp.where(next_ids >= 0, stream @ params["unembed"], -jnp.inf)
    predicted = next_ids[jnp.argmax(scores)]
    generates = live & (position >= prompt_length)
    stops = generates & jnp.any(predicted == stop_ids)
    remaining = jnp.where(generates, jnp.where(stops, 0, remaining - 1), remaining)
    emitted = jnp.where(generates, predicted, -1)
    off = jnp.maximum(off, jnp.where(live, step_off, 0.0))
    faults = faults | jnp.where(live, step_faults, 0)
    carry = (state, position + live, predicted, remaining, off, faults)
    return carry, (emitted, live, stream if keep_streams else None)


def _chunk(
    params: Params,
    tables: Tables,
    carry: Carry,
    feed: Feed,
    plan: FastPlan,
    window: float,
    chunk: int,
    keep_streams: bool,
    batched: bool,
    shared: bool = False,
) -> tuple[Carry, Outputs]:
    """`chunk` positions of one model, or `batched` of every model along the leading axis: a
    scan over positions of the position vmapped over models, so that the dense heads' span
    follows the furthest model.  Outputs (chunk, ...), or (chunk, models, ...).  `shared`: the
    rows are generations of one model, whose weights (params and tables without a model axis)
    every row reads."""
    weights = None if shared else 0
    advance = jax.vmap(_advance, in_axes=(weights, weights, 0, 0, None, None, None, None)) if batched else _advance

    def body(carry: Carry, _: None) -> tuple[Carry, Outputs]:
        return advance(params, tables, carry, feed, jnp.max(carry[1]), plan, window, keep_streams)

    return jax.lax.scan(body, carry, None, length=chunk)


_run_chunk = jax.jit(
    _chunk, static_argnames=("plan", "window", "chunk", "keep_streams", "batched", "shared"), donate_argnums=2
)


def capacity_for(tokens: int, max_seq_len: int) -> int:
    """Rows of the caches for a trace of `tokens` tokens: the BOS and the tokens, rounded up to
    a power of two (at least MIN_SPAN; so that similar runs share one XLA compilation), at most
    max_seq_len + 1."""
    rows = MIN_SPAN
    while rows < tokens + 1:
        rows *= 2
    return min(rows, max_seq_len + 1)


def _arguments(
    models: Sequence[Transformer],
    prompts: Sequence[Sequence[Any]],
    stop: Sequence[Any],
    generating: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per model (rows): the prompt's token ids (padded to a power of two, so that prompts of
    similar lengths share one XLA compilation, and a long run's memory does not grow with its
    quota), its length, the token id of every output column (all -1 when not `generating`:
    outputs that are not tokens) and the stop tokens' ids."""
    longest = max(len(prompt) for prompt in prompts)
    prompt_ids = np.zeros((len(models), max(MIN_SPAN, 1 << (longest - 1).bit_length())), np.int32)
    for row, (model, prompt) in enumerate(zip(models, prompts)):
        prompt_ids[row, : len(prompt)] = model.token_ids(list(prompt))
    outputs = models[0].params["unembed"].shape[1]
    next_ids = np.stack([next_ids_of(m, outputs) if generating else np.full(outputs, -1, np.int32) for m in models])
    stop_ids = np.array([[*m.token_ids(list(stop)), -2] for m in models], np.int32)  # -2: never predicted
    return prompt_ids, np.array([len(p) for p in prompts], np.int32), next_ids, stop_ids


Chunk = tuple[np.ndarray, np.ndarray, np.ndarray | None]
"""One chunk's outputs on the host: the generated ids (chunk, rows; -1 where none), whether
each position ran (chunk, rows), the float64 streams (chunk, rows, width) when kept."""


def _chunks(call: Callable[[Carry], tuple[Carry, Outputs]], carry: Carry, dtype: str, cells: int) -> Iterator[Chunk]:
    """Calls `call(carry)` chunk after chunk until no row has tokens left to generate, and
    yields each chunk's outputs.  Raises as soon as a chunk reports a fault (a checked query
    off its vector, a keyed head's cell outside its table of `cells`).  JAX's 64-bit mode is
    on during each call only, never while the caller holds a chunk."""
    while True:
        with precision(dtype):
            if not np.any(np.asarray(carry[3]) > 0):
                return
            carry, (out, live, stream) = call(carry)
            faults = int(np.bitwise_or.reduce(np.asarray(carry[5]).ravel()))
            raise_faults(float(np.max(np.asarray(carry[4]))), faults, cells)
            live = np.asarray(live)
            rows = live.size // len(live)
            kept = None if stream is None else np.asarray(stream, np.float64).reshape(len(live), rows, -1)
            chunk = np.asarray(out).reshape(-1, rows), live.reshape(-1, rows), kept
        yield chunk


def _drain(chunks: Iterator[Chunk], rows: int) -> tuple[list[list[int]], list[list[np.ndarray]]]:
    """Per row, the generated ids and the streams of the positions that ran (when kept)."""
    emitted: list[list[int]] = [[] for _ in range(rows)]
    streams: list[list[np.ndarray]] = [[] for _ in range(rows)]
    for out, live, kept in chunks:
        for row in range(rows):
            emitted[row].extend(int(i) for i in out[:, row][out[:, row] >= 0])
            if kept is not None:
                streams[row].append(kept[:, row][live[:, row]])
    return emitted, streams


def _check_generation(model: Transformer, prompt: Sequence[Any], steps: int) -> None:
    """The prompt and every generated token but the last (which is never fed back) must fit in
    the model's positions."""
    if not prompt or steps < 1 or len(prompt) + steps - 1 > model.max_seq_len:
        raise ModelError(
            f"generation needs a non-empty prompt ({len(prompt)} tokens) and steps >= 1 ({steps}) that fit in "
            f"the model's {model.max_seq_len} positions together (the last generated token takes none)"
        )


class FastDecoder:
    """One hard causal model, run `chunk` positions per jitted call (`compiled_model.fast_decoder`).
    `table_cells`: the cells of each keyed head's table (default
    `compiled_model.fast_forward.table_rows` of the run's capacity)."""

    def __init__(
        self, model: Transformer, dtype: str | None = None, chunk: int = CHUNK, table_cells: int | None = None
    ):
        self.plan = plan_of([model])
        self.model = model
        self.chunk = chunk
        self.table_cells = table_cells
        self.dtype = model.dtype(dtype)
        self.params = model.device_params(self.dtype)
        self.tables = to_device(tables_of(model, self.plan), self.dtype)
        self.tokens = np.array([None, *model.vocab], object)
        """The token of every id (id 0 is the BOS): `tokens[ids]` maps what `stream` yields."""

    def _chunks(self, prompt: Sequence[Any], steps: int, stop: Sequence[Any], generating: bool) -> Iterator[Chunk]:
        capacity = capacity_for(len(prompt) + steps, self.model.max_seq_len)
        cells = table_rows(capacity, self.table_cells)
        prompt_ids, lengths, next_ids, stop_ids = _arguments([self.model], [prompt], stop, generating)
        with precision(self.dtype):
            state = empty_state(self.plan, capacity, jnp.dtype(self.dtype), cells)
            carry = (state, jnp.int32(0), jnp.int32(-1), jnp.int32(steps), jnp.zeros((), self.dtype), jnp.int32(0))
            feed = tuple(jnp.asarray(array[0]) for array in (prompt_ids, lengths, next_ids, stop_ids))

        def call(carry: Carry) -> tuple[Carry, Any]:
            return _run_chunk(
                self.params,
                self.tables,
                carry,
                feed,
                plan=self.plan,
                window=self.model.window,
                chunk=min(self.chunk, capacity),
                keep_streams=not generating,
                batched=False,
            )

        return _chunks(call, carry, self.dtype, cells)

    def _run(
        self, prompt: Sequence[Any], steps: int, stop: Sequence[Any], generating: bool
    ) -> tuple[list[int], list[np.ndarray]]:
        emitted, streams = _drain(self._chunks(prompt, steps, stop, generating), 1)
        return emitted[0], streams[0]

    def outputs(self, tokens: Sequence[Any]) -> list[Any]:
        """The model's output at every position of `tokens` (as `model(tokens)` decodes it)."""
        if not tokens:
            return []
        _, streams = self._run(tokens, 1, (), generating=False)
        return self.model.decode(np.concatenate(streams)[1:])  # row 0 is the BOS position

    def stream(
        self,
        prompt: Sequence[Any],
        steps: int,
        stop: Sequence[Any] = (),
        progress: Callable[[int], None] | None = None,
    ) -> Iterator[np.ndarray]:
        """The tokens `generate` appends to the prompt, as token ids (int32 arrays; the token of
        id i is `self.tokens[i]`, `model.vocab[i - 1]`), one array per chunk that generated any,
        in order.  Nothing is kept once yielded, so a caller can check a run of any length
        against a reference as it goes.  `progress`, when given, is called after each chunk
        with the number of tokens generated so far.  Refuses a prompt or quota that does not
        fit at once, not at the first chunk."""
        _check_generation(self.model, prompt, steps)
        return self._stream(prompt, steps, stop, progress)

    def _stream(
        self, prompt: Sequence[Any], steps: int, stop: Sequence[Any], progress: Callable[[int], None] | None
    ) -> Iterator[np.ndarray]:
        generated = 0
        for out, _, _ in self._chunks(prompt, steps, stop, generating=True):
            ids = out[:, 0][out[:, 0] >= 0]
            generated += len(ids)
            if progress is not None:
                progress(generated)
            if len(ids):
                yield ids

    def generate(self, prompt: Sequence[Any], steps: int, stop: Sequence[Any] = ()) -> list[Any]:
        """The prompt followed by up to `steps` tokens, each the model's output after the token
        before it, ending early after a token of `stop`."""
        return [*prompt, *(token for ids in self.stream(prompt, steps, stop) for token in self.tokens[ids])]


def batch_fast_generate(
    models: Sequence[Transformer],
    prompts: Sequence[Sequence[Any]],
    steps: int | Sequence[int],
    stop: Sequence[Any] = (),
    dtype: str = "float32",
    devices: Sequence[jax.Device] | None = None,
    chunk: int = CHUNK,
    table_cells: int | None = None,
) -> list[list[Any]]:
    """`FastDecoder.generate` for many hard causal models of one shape (`compiled_model.shapes.pad`)
    at once: one vmapped scan per chunk, the models split across `devices` (default: every
    device of the default backend).  `steps` is one quota for all or one per model.  Slots
    whose kinds differ between the models are served as dense heads (exact for any head, in
    the layer's head modes).  Models with sum or latest heads run in float64 only.
    `table_cells`: as for `FastDecoder`."""
    quotas = [steps] * len(models) if isinstance(steps, int) else list(steps)
    if not models or len(prompts) != len(models) or len(quotas) != len(models):
        raise ModelError("batch generation needs one prompt (and one quota) per model")
    window = shared_window(models)  # first: hard models may embed positions differently
    if not same_shapes(models):
        raise ModelError("batch generation needs models of the same shapes (see compiled_model.shapes.pad)")
    for model, prompt, quota in zip(models, prompts, quotas):
        _check_generation(model, prompt, quota)
        model.dtype(dtype)  # refuses float32 for a model with head modes
    shared = all(model is models[0] for model in models)  # many generations of one model
    plan = plan_of(models[:1] if shared else models)
    devices = list(devices or jax.devices())
    chosen, chosen_prompts = fill_rows(models, devices), fill_rows(prompts, devices)
    rows = len(chosen)
    quotas += [0] * (rows - len(models))  # the filler rows generate nothing
    capacity = capacity_for(max(len(p) + q for p, q in zip(chosen_prompts, quotas)), models[0].max_seq_len)
    cells = table_rows(capacity, table_cells)
    if shared:  # one copy of the weights, read by every row, not a stack of copies
        tables = tables_of(models[0], plan)
    else:
        tables = jax.tree_util.tree_map(lambda *arrays: np.stack(arrays), *[tables_of(m, plan) for m in chosen])
    with precision(dtype):
        params = models[0].device_params(dtype) if shared else stacked_params(chosen, dtype)
        state = jax.vmap(lambda: empty_state(plan, capacity, jnp.dtype(dtype), cells), axis_size=rows)()
        positions, predicted = jnp.zeros(rows, jnp.int32), jnp.full(rows, -1, jnp.int32)
        quota = jnp.asarray(quotas, jnp.int32)
        carry = (state, positions, predicted, quota, jnp.zeros(rows, dtype), jnp.zeros(rows, jnp.int32))
        feed = tuple(map(jnp.asarray, _arguments(chosen, chosen_prompts, stop, True)))
        tables = to_device(tables, dtype)
        if shared:
            params, tables = replicated((params, tables), devices)
            feed, carry = shard((feed, carry), devices)
        else:
            params, tables, feed, carry = shard((params, tables, feed, carry), devices)

    def call(carry: Carry) -> tuple[Carry, Any]:
        rest = {"plan": plan, "window": window, "chunk": min(chunk, capacity), "keep_streams": False}
        return _run_chunk(params, tables, carry, feed, **rest, batched=True, shared=shared)

    emitted, _ = _drain(_chunks(call, carry, dtype, cells), rows)
    return [[*prompt, *(model.vocab[i - 1] for i in ids)] for model, prompt, ids in zip(models, prompts, emitted)]
