"""Greedy generation from hard-attention causal models at a cost per token that does not grow
with the trace, for the head shapes the compiler marks in `metadata["fast_heads"]`.

The KV-cached step (`compiled_model.arithmetic.step`) attends over every earlier position.  A hard
head that the compiler describes as "running" or "lookup" does not need that:

- **running**: its query reads only the constant `one` dimension, so every query scores a key
  alike and the chosen keys are the best-scoring ones seen so far.  The state is the best logit,
  the number of keys tied with it (within the tie window) and the sum of their values; a new
  key either starts a new best group, joins the group, or is ignored.  The compiler separates
  the chosen keys' logits from every other key's by twice the window at least and keeps the
  chosen ones within a tiny error of each other (`compiler.margins.hard_separable`), so the
  group is exactly the set of keys the dense pass would average.
- **lookup**: the head picks the key at token index `q = round(target . x)` (x the query's
  stream entering the layer) when `0 <= q <= own index`, else the BOS key (`"bos"`) or the key
  at `clamp(q, 0, own index)` (`"clamp"`).  Only the head's value vectors are kept, one row per
  position, and the result is one row read by index.
- **dense**: anything else keeps keys and values and attends over the span as `step` does.

So a step costs O(1) for running and lookup heads and O(t) for dense heads only, and the memory
is `capacity x` (the lookup heads' value depths, plus the dense heads' key and value depths).
Generation runs `chunk` tokens per call of one jitted `lax.scan`, the state carried from call
to call (and updated in place: the calls donate it), until the model has generated its quota or
a stop token.  `batch_fast_generate` vmaps the same scan over models of one shape and splits
them across devices like `compiled_model.batch.batch_generate`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from compiled_model.arithmetic import MIN_SPAN, Params, embed_positions, mlp, over_cache, precision, spans, to_device
from compiled_model.batch import fill_rows, next_ids_of, same_shapes, shard, shared_window, stacked_params
from compiled_model.errors import ModelError
from compiled_model.transformer import Transformer

RUNNING, LOOKUP, DENSE = "running", "lookup", "dense"
KINDS = (RUNNING, LOOKUP, DENSE)

#: Tokens generated per jitted call (the state is carried between calls).
CHUNK = 1024


@dataclass(frozen=True)
class LayerPlan:
    """Which heads of a layer (indices along axis 0 of w_q) the decoder serves by each kind,
    and the residual dimensions its fast heads and its MLP read and write (non-zero rows and
    columns of their weights in some model): the compiled weights are sparse, and a step
    multiplies only these rows and columns (`tables_of`)."""

    running: tuple[int, ...]
    lookup: tuple[int, ...]
    dense: tuple[int, ...]
    attn_reads: tuple[int, ...] = ()
    attn_writes: tuple[int, ...] = ()
    mlp_reads: tuple[int, ...] = ()
    mlp_writes: tuple[int, ...] = ()


Plan = tuple[LayerPlan, ...]
"""One LayerPlan per layer; hashable, so it is a static argument of the jitted scan."""


# ------------------------------------------------------------------ plans and tables


def head_kinds(model: Transformer) -> list[list[str]]:
    """The kind of every head of the model's layers, from `metadata["fast_heads"]` (whose
    lists must match the heads of the weights, as `compiled_model.shapes.pad` keeps them)."""
    if model.window is None:
        raise ModelError("the fast decoder serves hard-attention models only (compile with attention='hard')")
    model.require_causal()
    described = model.spec.heads
    counts = [weights["attn"]["w_q"].shape[0] for weights in model.params["layers"]]
    if [len(heads) for heads in described] != counts:
        raise ModelError(f"the head descriptors do not match the model's heads per layer {counts}")
    kinds = [[head.kind for head in heads] for heads in described]
    unknown = {kind for layer in kinds for kind in layer} - set(KINDS)
    if unknown:
        raise ModelError(f"unknown head kinds {sorted(unknown)} (expected one of {KINDS})")
    return kinds


def plan_of(models: Sequence[Transformer]) -> Plan:
    """The plan that serves every model (of one shape): a slot's kind where the models agree,
    "dense" (exact for any head) where they do not."""
    per_model = [head_kinds(model) for model in models]
    plan = []
    for index, slots in enumerate(zip(*per_model)):
        kinds = [set(kind) for kind in zip(*slots)]
        chosen = [kind.pop() if len(kind) == 1 else DENSE for kind in kinds]
        heads = LayerPlan(*(tuple(h for h, k in enumerate(chosen) if k == wanted) for wanted in KINDS))
        folded = [_fast_weights(model, index, heads) for model in models]
        supports = [_support([weights[name] for weights in folded], axis) for name, axis in _SUPPORTS]
        plan.append(LayerPlan(heads.running, heads.lookup, heads.dense, *supports))
    return tuple(plan)


_SUPPORTS = (("pre", 1), ("out", 0), ("w_in", 1), ("w_out", 0))
"""The arrays of `_fast_weights` whose non-zero rows (summed over `axis`) are the dimensions
read, and whose non-zero columns are those written, in LayerPlan's order."""


def _support(arrays: list[np.ndarray], axis: int) -> tuple[int, ...]:
    """The residual dimensions where any of the arrays (the models') has a non-zero entry."""
    return tuple(int(d) for d in np.flatnonzero(sum(np.any(a != 0, axis=axis) for a in arrays)))


def _fast_weights(model: Transformer, index: int, heads: LayerPlan) -> dict[str, np.ndarray]:
    """Layer `index`'s fast heads folded for one position, over the whole residual stream:
    `pre` (width, columns) gives with one product the running and then the lookup heads'
    values (w_v side by side), each running head's logit of the new key (w_k times the head's
    query, its w_q row for `one`: every position's query but the BOS's, whose only key is
    itself) and each lookup head's target functional; `out` stacks their w_o; `clamp` is 1.0
    where a lookup head clamps.  The MLP's weights, with `b_out` as a last row of `w_out`."""
    one = model.spec.index_of("one")
    described = model.spec.heads
    weights = model.params["layers"][index]
    attn = {name: np.asarray(array, np.float64) for name, array in weights["attn"].items()}
    width = attn["w_q"].shape[1]
    targets = np.zeros((width, len(heads.lookup)))
    clamps = np.zeros(len(heads.lookup))
    for column, head in enumerate(heads.lookup):  # the plan's lookups are every model's
        descriptor = described[index][head]
        for dim, coefficient in descriptor.target:
            targets[dim, column] = coefficient
        clamps[column] = float(descriptor.outside == "clamp")
    running, fast = list(heads.running), [*heads.running, *heads.lookup]
    score = np.einsum("hde,he->dh", attn["w_k"][running], attn["w_q"][running, one])
    values = [attn["w_v"][h] for h in fast]
    mlp = {name: np.asarray(array, np.float64) for name, array in weights["mlp"].items()}
    return {
        "pre": np.concatenate([*values, score, targets], axis=1),
        "out": np.concatenate([attn["w_o"][h] for h in fast]) if fast else np.zeros((0, width)),
        "clamp": clamps,
        "w_in": mlp["w_in"],
        "b_in": mlp["b_in"],
        "w_out": np.concatenate([mlp["w_out"], mlp["b_out"][None]]),
    }


def tables_of(model: Transformer, plan: Plan) -> list[dict[str, np.ndarray]]:
    """Per layer, `_fast_weights` cut to the dimensions the plan says the layer reads and
    writes, so that a step multiplies small dense matrices (exactly: the rows and columns
    left out hold zeros).  Numpy, per model, so that a batch stacks them like the weights."""
    tables = []
    for index, heads in enumerate(plan):
        folded = _fast_weights(model, index, heads)
        reads, writes = list(heads.attn_reads), list(heads.attn_writes)
        mlp_reads, mlp_writes = list(heads.mlp_reads), list(heads.mlp_writes)
        tables.append(
            {
                "pre": folded["pre"][reads],
                "out": folded["out"][:, writes],
                "clamp": folded["clamp"],
                "w_in": folded["w_in"][mlp_reads],
                "b_in": folded["b_in"],
                "w_out": folded["w_out"][:-1, mlp_writes],
                "b_out": folded["w_out"][-1, mlp_writes],
            }
        )
    return tables


def empty_state(params: Params, plan: Plan, capacity: int) -> list[dict[str, jax.Array]]:
    """Per layer: running heads' best logit, tie count and value sum; the lookup heads' values
    side by side, one row per position (capacity, lookups x value depth), so that a step
    writes them with one update; dense heads' keys and values (heads, capacity, depth)."""
    state = []
    for weights, heads in zip(params["layers"], plan):
        w_k, w_v = weights["attn"]["w_k"], weights["attn"]["w_v"]
        dtype, key_depth, value_depth = w_k.dtype, w_k.shape[2], w_v.shape[2]
        running, lookup, dense = len(heads.running), len(heads.lookup), len(heads.dense)
        state.append(
            {
                "best": jnp.full((running,), -jnp.inf, dtype),
                "count": jnp.zeros((running,), dtype),
                "total": jnp.zeros((running, value_depth), dtype),
                "lookup": jnp.zeros((capacity, lookup * value_depth), dtype),
                "keys": jnp.zeros((dense, capacity, key_depth), dtype),
                "values": jnp.zeros((dense, capacity, value_depth), dtype),
            }
        )
    return state


# ------------------------------------------------------------------ one position


def running_heads(
    memory: dict[str, jax.Array], logit: jax.Array, values: jax.Array, window: float
) -> tuple[dict[str, jax.Array], jax.Array]:
    """Running heads after one more key, whose logits (heads,) and values (heads, depth) are
    given: a logit starts a new best group (more than the window above the best), joins the
    group (within the window) or is ignored.  Returns the state and the heads' results, the
    mean of the group's values (heads, depth)."""
    best, count, total = memory["best"], memory["count"], memory["total"]
    fresh = logit > best + window
    joins = (logit >= best - window) & ~fresh
    best = jnp.where(fresh, logit, jnp.where(joins, jnp.maximum(best, logit), best))
    count = jnp.where(fresh, 1, count + joins)
    total = jnp.where(fresh[:, None], values, total + joins[:, None] * values)
    return {**memory, "best": best, "count": count, "total": total}, total / count[:, None]


def lookup_heads(
    memory: dict[str, jax.Array], target: jax.Array, clamp: jax.Array, values: jax.Array, position: jax.Array
) -> tuple[dict[str, jax.Array], jax.Array]:
    """Lookup heads, given their targets (heads,) before rounding and where they clamp (1.0):
    this position's values (heads x depth,) written in as one row, and the
    part of the row each head picks (row = position; token index q sits at row q + 1, the
    BOS at row 0).  A head that clamps reads clamp(q, 0, own index), which is q itself when
    q is inside; at the BOS (own index -1) both kinds read row 0."""
    rows_kept = jax.lax.dynamic_update_slice(memory["lookup"], values[None], (position, jnp.zeros_like(position)))
    own = (position - 1).astype(values.dtype)  # the query's token index (-1 at the BOS)
    target = jnp.round(target)
    inside = (target >= 0) & (target <= own)
    row = jnp.where(inside | (clamp > 0), jnp.clip(target, 0, own) + 1, 0).astype(jnp.int32)
    depth = rows_kept.shape[1] // max(row.shape[0], 1)
    # one slice per head: XLA's CPU gather of a few entries costs time in the caches' size
    slices = [jax.lax.dynamic_slice(rows_kept, (row[h], jnp.int32(h * depth)), (1, depth)) for h in range(len(row))]
    picked = jnp.concatenate(slices, axis=1)[0]
    return {**memory, "lookup": rows_kept}, picked


def fast_attention(
    x: jax.Array,
    attn: Params,
    table: dict[str, jax.Array],
    memory: dict[str, jax.Array],
    heads: LayerPlan,
    position: jax.Array,
    window: float,
    reach: jax.Array | None,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """The stream x (width,) at `position` after a layer's attention, and the state with
    this position in: the running and lookup heads through the folded `table` (one product
    for their values, logits and targets from the dimensions they read, one for their output
    into the dimensions they write), the dense heads over the cache's span that holds `reach`
    (`compiled_model.arithmetic.over_cache`)."""
    if heads.running or heads.lookup:
        pre = x[np.array(heads.attn_reads, int)] @ table["pre"]
        depth = attn["w_v"].shape[2]
        split = [len(heads.running) * depth, (len(heads.running) + len(heads.lookup)) * depth]
        split.append(split[1] + len(heads.running))
        running_values, lookup_values, logits, targets = jnp.split(pre, split)
        mixed = []
        if heads.running:
            memory, result = running_heads(memory, logits, running_values.reshape(len(heads.running), -1), window)
            mixed.append(result.reshape(-1))
        if heads.lookup:
            memory, result = lookup_heads(memory, targets, table["clamp"], lookup_values, position)
            mixed.append(result)
        x = x.at[np.array(heads.attn_writes, int)].add(jnp.concatenate(mixed) @ table["out"])
    if heads.dense:
        index = np.array(heads.dense)
        keys = jnp.einsum("d,hde->he", x, attn["w_k"][index])
        values = jnp.einsum("d,hde->he", x, attn["w_v"][index])
        cached_keys = memory["keys"].at[:, position].set(keys)
        cached_values = memory["values"].at[:, position].set(values)
        subset = {"w_q": attn["w_q"][index], "w_o": attn["w_o"][index]}
        choices = spans(cached_keys.shape[1])
        update = over_cache(x[None], subset, cached_keys, cached_values, position, window, choices, reach)[0]
        x = x + update
        memory = {**memory, "keys": cached_keys, "values": cached_values}
    return x, memory


def fast_step(
    params: Params,
    tables: list[dict[str, jax.Array]],
    state: list[dict[str, jax.Array]],
    token_id: jax.Array,
    position: jax.Array,
    plan: Plan,
    window: float,
    reach: jax.Array | None = None,
) -> tuple[list[dict[str, jax.Array]], jax.Array]:
    """One position (0 = BOS) of a hard causal model: the state with this position's keys in,
    and the residual stream (width,) after the last layer.  A layer adds its attention
    (`fast_attention`) and then its MLP (`compiled_model.arithmetic.mlp` on the table's rows and
    columns that the MLP reads and writes), as `compiled_model.arithmetic.layer` does; a sublayer
    without heads or units is skipped."""
    x = params["token_embed"][token_id] + embed_positions(params, position)
    updated = []
    for weights, table, memory, heads in zip(params["layers"], tables, state, plan):
        if weights["attn"]["w_q"].shape[0]:
            x, memory = fast_attention(x, weights["attn"], table, memory, heads, position, window, reach)
        if weights["mlp"]["w_in"].shape[1]:
            x = x.at[np.array(heads.mlp_writes, int)].add(mlp(x[np.array(heads.mlp_reads, int)], table))
        updated.append(memory)
    return updated, x


# ------------------------------------------------------------------ chunks of generation


Carry = tuple[list[dict[str, jax.Array]], jax.Array, jax.Array, jax.Array]
"""(state, next position, last prediction, tokens still to generate: 0 once done)."""


Outputs = tuple[jax.Array, jax.Array, jax.Array | None]
"""Per position: the generated token id (-1 where none), whether it ran, its final stream."""


Feed = tuple[jax.Array, jax.Array, jax.Array, jax.Array]
"""Per model: the prompt's token ids, its length, the token id of every output column, the
stop tokens' ids (`_arguments`)."""


def _advance(
    params: Params,
    tables: list[dict[str, jax.Array]],
    carry: Carry,
    feed: Feed,
    reach: jax.Array,
    plan: Plan,
    window: float,
    keep_streams: bool,
) -> tuple[Carry, Outputs]:
    """One position of one model: it feeds the next prompt token (the BOS first), or once the
    prompt is in, the model's last prediction; a prediction from the last prompt position on
    is generated, and a stop token or the quota ends the generation (the positions after that
    change nothing that is read again).  The stream is kept only with `keep_streams`."""
    state, position, predicted, remaining = carry
    prompt, prompt_length, next_ids, stop_ids = feed
    live = remaining > 0
    fed = jnp.where(position <= prompt_length, prompt[jnp.clip(position - 1, 0, prompt.shape[0] - 1)], predicted)
    token = jnp.where(position == 0, 0, fed)
    state, stream = fast_step(params, tables, state, token, position, plan, window, reach)
    scores = jnp.where(next_ids >= 0, stream @ params["unembed"], -jnp.inf)
    predicted = next_ids[jnp.argmax(scores)]
    generates = live & (position >= prompt_length)
    stops = generates & jnp.any(predicted == stop_ids)
    remaining = jnp.where(generates, jnp.where(stops, 0, remaining - 1), remaining)
    emitted = jnp.where(generates, predicted, -1)
    return (state, position + live, predicted, remaining), (emitted, live, stream if keep_streams else None)


def _chunk(
    params: Params,
    tables: list[dict[str, jax.Array]],
    carry: Carry,
    feed: Feed,
    plan: Plan,
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
    per row the generated ids and the streams of the positions that ran (when kept)."""
    emitted: list[list[int]] = [[] for _ in range(rows)]
    streams: list[list[np.ndarray]] = [[] for _ in range(rows)]
    while np.any(np.asarray(carry[3]) > 0):
        carry, (out, live, stream) = call(carry)
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
            carry = (empty_state(self.params, self.plan, capacity), jnp.int32(0), jnp.int32(-1), jnp.int32(steps))
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
        state = jax.vmap(lambda p: empty_state(p, plan, capacity))(params)
        carry = (state, jnp.zeros(rows, jnp.int32), jnp.full(rows, -1, jnp.int32), jnp.asarray(quotas, jnp.int32))
        feed = tuple(map(jnp.asarray, _arguments(chosen, chosen_prompts, stop, True, capacity)))
        params, tables, feed, carry = shard((params, to_device(tables, dtype), feed, carry), devices)

        def call(carry: Carry) -> tuple[Carry, Any]:
            rest = {"plan": plan, "window": window, "chunk": min(chunk, capacity), "keep_streams": False}
            return _run_chunk(params, tables, carry, feed, **rest, batched=True)

        emitted, _ = _drain(call, carry, rows)
    return [[*prompt, *(model.vocab[i - 1] for i in ids)] for model, prompt, ids in zip(models, prompts, emitted)]
