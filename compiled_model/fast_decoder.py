"""Greedy generation from hard-attention causal models at a cost per token that does not grow
with the trace for the heads `compiled_model.fast_plan` plans as scans or lookups.

The KV-cached step (`compiled_model.arithmetic.step`) attends over every earlier position.  A
step here is `compiled_model.fast_forward.fast_block` over one position: a scan head updates its
best score, tie count and value sum per query vector and reads its own vector's (the compiler
separates the chosen keys' logits from every other key's by twice the window at least and keeps
the chosen ones within a tiny error of each other, `compiler.margins.hard_separable`, so the
group is exactly the set of keys the dense pass would average); a lookup head writes its values
as one row and reads the row its target names; a dense head attends over the span of its cache
as `step` does.  So a step costs O(1) for scan and lookup heads and O(t) for dense heads only,
and the memory is `capacity x` (the lookup heads' value depths, plus the dense heads' key and
value depths).

Generation runs `chunk` tokens per call of one jitted `lax.scan`, the state carried from call
to call (and updated in place: the calls donate it), until the model has generated its quota or
a stop token.  `batch_fast_generate` vmaps the same scan over models of one shape and splits
them across devices like `compiled_model.batch.batch_generate`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from compiled_model.arithmetic import MIN_SPAN, Params, precision, to_device
from compiled_model.batch import fill_rows, next_ids_of, same_shapes, shard, shared_window, stacked_params
from compiled_model.errors import InexactQuery, ModelError
from compiled_model.fast_forward import State, Tables, empty_state, fast_block
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
) -> tuple[State, jax.Array, jax.Array]:
    """One position (0 = BOS) of a hard causal model: the state with this position's keys in,
    the residual stream (width,) after the last layer and the checked queries' deviation
    (`compiled_model.fast_forward.fast_block` over a block of one)."""
    state, x, off = fast_block(params, tables, state, token_id[None], position, jnp.ones(1, bool), plan, window, reach)
    return state, x[0], off

# ------------------------------------------------------------------ chunks of generation


Carry = tuple[State, jax.Array, jax.Array, jax.Array, jax.Array]
"""(state, next position, last prediction, tokens still to generate: 0 once done, the largest
deviation of a checked query so far: `compiled_model.fast_forward.deviation`)."""


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
    change nothing that is read again).  The stream is kept only with `keep_streams`."""
    state, position, predicted, remaining, off = carry
    prompt, prompt_length, next_ids, stop_ids = feed
    live = remaining > 0
    fed = jnp.where(position <= prompt_length, prompt[jnp.clip(position - 1, 0, prompt.shape[0] - 1)], predicted)
    token = jnp.where(position == 0, 0, fed)
    state, stream, step_off = fast_step(params, tables, state, token, position, plan, window, reach)
    scores = jnp.where(next_ids >= 0, stream @ params["unembed"], -jnp.inf)
    predicted = next_ids[jnp.argmax(scores)]
    generates = live & (position >= prompt_length)
    stops = generates & jnp.any(predicted == stop_ids)
    remaining = jnp.where(generates, jnp.where(stops, 0, remaining - 1), remaining)
    emitted = jnp.where(generates, predicted, -1)
    off = jnp.maximum(off, jnp.where(live, step_off, 0.0))
    return (state, position + live, predicted, remaining, off), (emitted, live, stream if keep_streams else None)


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
) -> tuple[Carry, Outputs]:
    """`chunk` positions of one model, or `batched` of every model along the leading axis: a
    scan over positions of the position vmapped over models, so that the dense heads' span
    follows the furthest model.  Outputs (chunk, ...), or (chunk, models, ...)."""
    advance = jax.vmap(_advance, in_axes=(0, 0, 0, 0, None, None, None, None)) if batched else _advance

    def body(carry: Carry, _: None) -> tuple[Carry, Outputs]:
        return advance(params, tables, carry, feed, jnp.max(carry[1]), plan, window, keep_streams)

    return jax.lax.scan(body, carry, None, length=chunk)


_run_chunk = jax.jit(_chunk, static_argnames=("plan", "window", "chunk", "keep_streams", "batched"), donate_argnums=2)


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
    capacity: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per model (rows): the prompt's token ids (padded to `capacity`, so that prompts of any
    length share one XLA compilation), its length, the token id of every output column (all
    -1 when not `generating`: outputs that are not tokens) and the stop tokens' ids."""
    prompt_ids = np.zeros((len(models), capacity), np.int32)
    for row, (model, prompt) in enumerate(zip(models, prompts)):
        prompt_ids[row, : len(prompt)] = model.token_ids(list(prompt))
    outputs = models[0].params["unembed"].shape[1]
    next_ids = np.stack([next_ids_of(m, outputs) if generating else np.full(outputs, -1, np.int32) for m in models])
    stop_ids = np.array([[*m.token_ids(list(stop)), -2] for m in models], np.int32)  # -2: never predicted
    return prompt_ids, np.array([len(p) for p in prompts], np.int32), next_ids, stop_ids


def _drain(
    call: Callable[[Carry], tuple[Carry, Outputs]], carry: Carry, rows: int
) -> tuple[list[list[int]], list[list[np.ndarray]]]:
    """Calls `call(carry)` chunk after chunk until no row has tokens left to generate; returns
    per row the generated ids and the streams of the positions that ran (when kept).
    InexactQuery as soon as a checked query was not one of its scan's vectors."""
    emitted: list[list[int]] = [[] for _ in range(rows)]
    streams: list[list[np.ndarray]] = [[] for _ in range(rows)]
    while np.any(np.asarray(carry[3]) > 0):
        carry, (out, live, stream) = call(carry)
        off = float(np.max(np.asarray(carry[4])))
        if off != 0.0:
            raise InexactQuery(f"a categorical query differs by {off:.3g} from the vector its scan assumed")
        out, live = np.asarray(out).reshape(-1, rows), np.asarray(live).reshape(-1, rows)
        for row in range(rows):
            emitted[row].extend(int(i) for i in out[:, row][out[:, row] >= 0])
            if stream is not None:
                kept = np.asarray(stream, np.float64).reshape(len(out), rows, -1)
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
    """One hard causal model, run `chunk` positions per jitted call (`compiled_model.fast_decoder`)."""

    def __init__(self, model: Transformer, dtype: str | None = None, chunk: int = CHUNK):
        self.plan = plan_of([model])
        self.model = model
        self.chunk = chunk
        self.dtype = model.dtype(dtype)
        self.params = model.device_params(self.dtype)
        self.tables = to_device(tables_of(model, self.plan), self.dtype)

    def _run(
        self, prompt: Sequence[Any], steps: int, stop: Sequence[Any], generating: bool
    ) -> tuple[list[int], list[np.ndarray]]:
        capacity = capacity_for(len(prompt) + steps, self.model.max_seq_len)
        prompt_ids, lengths, next_ids, stop_ids = _arguments([self.model], [prompt], stop, generating, capacity)
        with precision(self.dtype):
            state = empty_state(self.plan, capacity, jnp.dtype(self.dtype))
            carry = (state, jnp.int32(0), jnp.int32(-1), jnp.int32(steps), jnp.zeros((), self.dtype))
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

            emitted, streams = _drain(call, carry, 1)
        return emitted[0], streams[0]

    def outputs(self, tokens: Sequence[Any]) -> list[Any]:
        """The model's output at every position of `tokens` (as `model(tokens)` decodes it)."""
        if not tokens:
            return []
        _, streams = self._run(tokens, 1, (), generating=False)
        return self.model.decode(np.concatenate(streams)[1:])  # row 0 is the BOS position

    def generate(self, prompt: Sequence[Any], steps: int, stop: Sequence[Any] = ()) -> list[Any]:
        """The prompt followed by up to `steps` tokens, each the model's output after the token
        before it, ending early after a token of `stop`."""
        _check_generation(self.model, prompt, steps)
        emitted, _ = self._run(prompt, steps, stop, generating=True)
        return [*prompt, *(self.model.vocab[i - 1] for i in emitted)]


def batch_fast_generate(
    models: Sequence[Transformer],
    prompts: Sequence[Sequence[Any]],
    steps: int | Sequence[int],
    stop: Sequence[Any] = (),
    dtype: str = "float32",
    devices: Sequence[jax.Device] | None = None,
    chunk: int = CHUNK,
) -> list[list[Any]]:
    """`FastDecoder.generate` for many hard causal models of one shape (`compiled_model.shapes.pad`)
    at once: one vmapped scan per chunk, the models split across `devices` (default: every
    device of the default backend).  `steps` is one quota for all or one per model.  Slots
    whose kinds differ between the models are served as dense heads (exact for any head)."""
    quotas = [steps] * len(models) if isinstance(steps, int) else list(steps)
    if not models or len(prompts) != len(models) or len(quotas) != len(models):
        raise ModelError("batch generation needs one prompt (and one quota) per model")
    window = shared_window(models)  # first: hard models may embed positions differently
    if not same_shapes(models):
        raise ModelError("batch generation needs models of the same shapes (see compiled_model.shapes.pad)")
    for model, prompt, quota in zip(models, prompts, quotas):
        _check_generation(model, prompt, quota)
    plan = plan_of(models)
    devices = list(devices or jax.devices())
    chosen, chosen_prompts = fill_rows(models, devices), fill_rows(prompts, devices)
    rows = len(chosen)
    quotas += [0] * (rows - len(models))  # the filler rows generate nothing
    capacity = capacity_for(max(len(p) + q for p, q in zip(chosen_prompts, quotas)), models[0].max_seq_len)
    tables = jax.tree_util.tree_map(lambda *arrays: np.stack(arrays), *[tables_of(m, plan) for m in chosen])
    with precision(dtype):
        params = stacked_params(chosen, dtype)
        state = jax.vmap(lambda: empty_state(plan, capacity, jnp.dtype(dtype)), axis_size=rows)()
        positions, predicted = jnp.zeros(rows, jnp.int32), jnp.full(rows, -1, jnp.int32)
        carry = (state, positions, predicted, jnp.asarray(quotas, jnp.int32), jnp.zeros(rows, dtype))
        feed = tuple(map(jnp.asarray, _arguments(chosen, chosen_prompts, stop, True, capacity)))
        params, tables, feed, carry = shard((params, to_device(tables, dtype), feed, carry), devices)

        def call(carry: Carry) -> tuple[Carry, Any]:
            rest = {"plan": plan, "window": window, "chunk": min(chunk, capacity), "keep_streams": False}
            return _run_chunk(params, tables, carry, feed, **rest, batched=True)

        emitted, _ = _drain(call, carry, rows)
    return [[*prompt, *(model.vocab[i - 1] for i in ids)] for model, prompt, ids in zip(models, prompts, emitted)]
