"""The `compiled` engine: a Turing Program compiled into a transformer, run by JAX.

`compile_machine` compiles a Turing Program (default `programs/turing_machine.rasp`), bound to a
machine, into a causal transformer (vocabulary: the machine's symbols and states and `$ | #`).
One generation runs the model's KV-cached decoder greedily (the model's output is the next
token); `decoders` generates the traces of many machines in one jitted call, vmapped over their
models (padded to one shape) and split across the available devices, and hands each back as a
replay.  This module joins the language to the compiler, so it sits above both.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from functools import partial

import jax
import numpy as np

import compiler
from compiled_model.batch import batch_generate
from compiled_model.decoder import Decoder
from compiled_model.fast_decoder import FastDecoder, batch_fast_generate
from compiled_model.shapes import common_shape, pad
from compiled_model.spec import ATTENTION_MODES, Attention
from turing.engines.base import Batch, Engine, EngineError, Job, TraceDecoder, register
from turing.machine import Machine
from turing.plot import configuration_spans
from turing.program import POSITIONAL, TuringProgram
from turing.trace import trace_of

SHORTEST_MODEL = 64
"""The smallest max_seq_len the engine compiles for."""

SAFE_LENGTH = {"float32": 1024, "float64": 8192}
"""The longest softmax-attention models (max_seq_len) whose generation is known to reproduce
traces exactly in each dtype: measured by benchmarks/turing_compiled.py (float32 fails at
2,048, float64 is exact at the largest length measured); docs/turing.md section 10 gives the
numeric reasons.  Longer runs take hard attention, whose precision the compiler records."""


def model_length(tokens: int, shortest: int = SHORTEST_MODEL) -> int:
    """The max_seq_len of the model for a run of up to `tokens` tokens: the next power of two
    (at least `shortest`), so that runs of similar lengths share one model shape and so one
    XLA compilation of the decoder."""
    length = shortest
    while length < tokens:
        length *= 2
    return length


def compile_machine(
    machine: Machine, max_seq_len: int, program: TuringProgram = POSITIONAL, attention: Attention | str = "soft"
) -> compiler.Transformer:
    """`program` bound to `machine`, compiled for contexts of up to max_seq_len tokens, with
    softmax or hard attention (`compiler.compile`); hard models of a length-free program are
    compiled length-free (`TuringProgram.length_free`)."""
    length_free = program.length_free and Attention.named(attention).hard
    return compiler.compile(
        program.sop(machine), program.vocab(machine), max_seq_len, causal=True, attention=attention,
        length_free=length_free,
    )


def choose_attention(
    max_seq_len: int, attention: Attention | str | None = None, dtype: str | None = None
) -> Attention:
    """`attention`, or by default softmax where it is known exact for models of max_seq_len
    positions (in `dtype`, float64 when none is asked) and hard attention beyond, which a warning
    says.  Softmax asked for past that length is refused: it could diverge without a sign."""
    if isinstance(attention, str) and attention not in ATTENTION_MODES:
        raise EngineError(f"attention must be one of {', '.join(ATTENTION_MODES)}, not {attention!r}")
    attention = None if attention is None else Attention.named(attention)
    kind = dtype or "float64"
    if max_seq_len <= SAFE_LENGTH[kind]:
        return attention or Attention("soft")
    limit = f"{SAFE_LENGTH[kind]} that softmax attention runs the Turing Program exactly in {kind} (docs/turing.md)"
    if attention is not None and not attention.hard:
        raise EngineError(
            f"this run needs a model of {max_seq_len} positions, longer than the {limit}",
            hint="run it with hard attention (--attention hard), or shorten it (--max-steps)",
        )
    if attention is None:
        warnings.warn(
            f"this run needs a model of {max_seq_len} positions, longer than the {limit}: it runs with hard attention",
            stacklevel=3,
        )
    return attention or Attention("hard")


def soft_dtype(max_seq_len: int, dtype: str | None = None) -> str:
    """`dtype`, or by default the cheapest dtype in which softmax models of max_seq_len positions
    are known exact (`SAFE_LENGTH`; `choose_attention` has refused longer ones)."""
    return dtype or ("float32" if max_seq_len <= SAFE_LENGTH["float32"] else "float64")


def hard_dtype(models: Sequence[compiler.Transformer], dtype: str | None = None) -> str:
    """The dtype hard-attention `models` run in: `dtype`, or float32 where every model's precision
    record says it is exact (short models), else float64.  float32 asked for where a record says
    it is not exact is refused, not run."""
    exact32 = all(model.spec.precision.float32_ok for model in models)
    if dtype == "float32" and not exact32:
        raise EngineError(
            f"a hard-attention model of {models[0].max_seq_len} positions is not exact in float32 "
            "(its precision record)",
            hint="run it in float64 (--dtype float64, or no --dtype)",
        )
    return dtype or ("float32" if exact32 else "float64")


@register
class CompiledEngine(Engine):
    """Generation by `program` compiled into a transformer.  `attention` None picks softmax where
    it is known exact (`SAFE_LENGTH`) and hard attention beyond; `dtype` None picks float32 where
    it is exact.  `batches` describes the batches of the last `decoders` call."""

    name = "compiled"
    options = frozenset({"program", "dtype", "attention"})

    def __init__(
        self, program: TuringProgram = POSITIONAL, dtype: str | None = None, attention: Attention | str | None = None
    ) -> None:
        self.program = program
        self.dtype = dtype
        self.attention = attention
        self.batches: list[Batch] = []
        self.progress: Progress | None = None  # told of a single hard run's generation, chunk by chunk
        self._modes: dict[int, Attention] = {}
        self._prepared: dict[tuple[Machine, int], compiler.Transformer] = {}

    def admit(self, jobs: Sequence[Job]) -> None:
        """Refuse a run that no model here runs exactly, before anything runs: softmax asked for
        past its exact length, float32 asked for where a hard model's record says float64.  The
        models that the second check compiles are kept for the run."""
        for job in jobs:
            length = model_length(job.capacity)
            if self._mode(length).hard and self.dtype == "float32":
                key = (job.machine, length)
                if key not in self._prepared:
                    self._prepared[key] = self._compile(job.machine, length)
                hard_dtype([self._prepared[key]], self.dtype)

    def decoder(self, machine: Machine, capacity: int | None = None) -> TraceDecoder:
        """Softmax models decode token by token through the KV cache; a hard model streams its
        generation from the fast decoder (`compiled_model.fast_decoder`, O(1) per token for
        running, sum, lookup and keyed heads), chunk by chunk as the harness reads it, telling
        `progress` (when set) how far it got."""
        length = model_length(capacity or SHORTEST_MODEL)
        model = self._model(machine, length)
        dtype = self._dtype(length, [model])
        if not self._mode(length).hard:
            return GreedyDecoder(model, dtype)
        return StreamDecoder(model, capacity or length, dtype, self.progress)

    def decoders(
        self, jobs: Sequence[Job], devices: Sequence[jax.Device] | None = None
    ) -> list[Callable[[], TraceDecoder]]:
        """Every job generated now, in batches: the machines whose runs need models of one length
        are compiled, padded to one shape and generate together (one XLA compilation per
        length); each job's decoder then replays its generation, so the harness checks it
        exactly as it checks a single run."""
        groups: dict[int, list[int]] = {}
        for index, job in enumerate(jobs):
            groups.setdefault(model_length(job.capacity), []).append(index)
        generated: dict[int, list[str]] = {}
        self.batches = []
        for length, members in sorted(groups.items()):
            start = time.perf_counter()
            batch = [jobs[i] for i in members]
            models = [self._model(job.machine, length) for job in batch]
            dtype = self._dtype(length, models)
            shape = common_shape(models)
            prompts = [self.trace_format.prompt(job.machine, job.tape) for job in batch]
            padded = [pad(model, shape) for model in models]
            if self._mode(length).hard:
                capacities = [job.capacity for job in batch]
                generated.update(zip(members, _fast_predictions(padded, prompts, capacities, dtype, devices)))
            else:
                tokens = max(job.capacity for job in batch)
                generated.update(zip(members, batch_generate(padded, prompts, tokens, dtype, devices)))
            seconds = time.perf_counter() - start
            self.batches.append(Batch(length, len(members), dtype, padded[0].summary(), seconds))
        return [partial(_ReplayDecoder, generated[index]) for index in range(len(jobs))]

    def _mode(self, length: int) -> Attention:
        """The attention of this engine's models of `length` positions (decided, and announced,
        once per length)."""
        if length not in self._modes:
            self._modes[length] = choose_attention(length, self.attention, self.dtype)
        return self._modes[length]

    def _compile(self, machine: Machine, length: int) -> compiler.Transformer:
        return compile_machine(machine, length, self.program, self._mode(length))

    def _model(self, machine: Machine, length: int) -> compiler.Transformer:
        """The model `admit` prepared for this run, or a new one."""
        model = self._prepared.pop((machine, length), None)
        return model if model is not None else self._compile(machine, length)

    def _dtype(self, length: int, models: Sequence[compiler.Transformer]) -> str:
        if self._mode(length).hard:
            return hard_dtype(models, self.dtype)
        return soft_dtype(length, self.dtype)


def _fast_predictions(
    models: Sequence[compiler.Transformer],
    prompts: Sequence[Sequence[str]],
    capacities: Sequence[int],
    dtype: str,
    devices: Sequence[jax.Device] | None = None,
) -> list[list[str]]:
    """Per hard model, its greedy generation from its prompt, up to `capacity` tokens or the
    trace's end `#`, as `_ReplayDecoder` replays it: the prediction after every position.  The
    harness feeds a prompt whole and reads only the prediction after its last token, so the
    positions inside the prompt hold the prompt's next tokens (never read)."""
    # a prediction after each of the `capacity` positions (the last generated token is never fed)
    steps = [
        max(1, min(capacity, model.max_seq_len) - len(prompt) + 1)
        for model, prompt, capacity in zip(models, prompts, capacities)
    ]
    traces = batch_fast_generate(models, prompts, steps, stop=["#"], dtype=dtype, devices=devices)
    return [[*prompt[1:], *trace[len(prompt) :]] for prompt, trace in zip(prompts, traces)]


class GreedyDecoder:
    """A compiled model's KV-cached decoder as a `TraceDecoder`: the prediction after the last token
    is the model's output there (greedy generation)."""

    def __init__(self, model: compiler.Transformer, dtype: str | None = None) -> None:
        self.decoder = Decoder(model, dtype)

    def extend(self, tokens: Sequence[str]) -> str:
        return str(self.decoder.extend(tokens)[-1])


Progress = Callable[[int, int], None]
"""Told, chunk by chunk, the tokens a long generation has made and the most it will make."""


class StreamDecoder:
    """A hard model as a `TraceDecoder` that generates as the harness reads: the first `extend`
    (the prompt) starts the fast decoder's stream (`FastDecoder.stream`), and each later one
    (the prediction fed back, which the stream has fed itself) takes the next generated token.
    Only the current chunk is held, so a run of 47 million tokens keeps no copy of them here."""

    def __init__(self, model: compiler.Transformer, capacity: int, dtype: str, progress: Progress | None) -> None:
        self.model, self.capacity, self.dtype, self.progress = model, capacity, dtype, progress
        self.chunks: Iterator[np.ndarray] | None = None
        self.tokens = np.array([], object)
        self.next = 0  # the index in `tokens` of the next prediction to hand out

    def extend(self, tokens: Sequence[str]) -> str:
        if self.chunks is None:
            self._start(list(tokens))
        elif len(tokens) != 1:
            raise EngineError("the compiled engine's stream takes its own predictions back one at a time")
        while self.next >= len(self.tokens):
            chunk = next(self.chunks, None)  # type: ignore[arg-type]
            if chunk is None:
                raise EngineError(f"the fast decoder stopped after its quota of {self.capacity} tokens")
            self.tokens, self.next = self.decoder.tokens[chunk], 0
        self.next += 1
        return str(self.tokens[self.next - 1])

    def _start(self, prompt: list[str]) -> None:
        self.decoder = FastDecoder(self.model, self.dtype)
        steps = max(1, min(self.capacity, self.model.max_seq_len) - len(prompt) + 1)
        progress = None if self.progress is None else partial(self.progress, total=steps)
        self.chunks = iter(self.decoder.stream(prompt, steps, stop=["#"], progress=progress))


class _ReplayDecoder:
    """One batch generation, the model's prediction after every position, replayed (the harness
    feeds back exactly the tokens that the batch generated)."""

    def __init__(self, predictions: list[str]) -> None:
        self.predictions = predictions
        self.fed = 0

    def extend(self, tokens: Sequence[str]) -> str:
        self.fed += len(tokens)
        if self.fed > len(self.predictions):
            raise EngineError(f"the batch generated {len(self.predictions)} tokens only")
        return str(self.predictions[self.fed - 1])


def configuration_attention(
    machine: Machine, tape: Sequence[str], step: int, max_steps: int
) -> tuple[list[str], list[tuple[str, np.ndarray]], range, range]:
    """Where the compiled model looks while it writes configuration `step`: the trace, and for
    every head that puts weight on the previous configuration, its attention from the positions
    that predict C(step)'s tokens (each token is predicted at the position before it) over
    C(step-1)'s positions.  For `rasp tm plot --attention` (turing.plot.plot_attention)."""
    tokens = trace_of(machine, tape, max_steps)
    spans = configuration_spans(tokens)
    if not 1 <= step < len(spans):
        raise EngineError(f"the run has configurations 0 to {len(spans) - 1}; --attention needs 1 to {len(spans) - 1}")
    (start, end), (previous_start, previous_end) = spans[step], spans[step - 1]
    model = compile_machine(machine, model_length(end + 1))
    inspection = model.inspect(tokens[: end + 1], dtype="float64")
    queries, keys = range(start - 1, end - 1), range(previous_start, previous_end)
    rows, columns = np.array(queries) + 1, np.array(keys) + 1  # index 0 of the patterns is the BOS position
    heads = []
    for layer, (pattern, layout) in enumerate(zip(inspection["attention"], inspection["layout"])):
        for index, head in enumerate(layout.heads):
            weights = pattern[index][np.ix_(rows, columns)]
            if weights.sum(axis=1).max() >= 0.5:
                heads.append((f"layer {layer}: {head.node}", weights))
    return tokens, heads, queries, keys
