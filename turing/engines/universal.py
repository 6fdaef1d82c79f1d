"""The universal engines: one program, or one compiled model, for every machine of a shape.

`universal-interpreter` evaluates `programs/universal_turing_machine.rasp` with the RASP
interpreter; `universal` runs its compiled transformer (`turing.universal_model`, compiled once
per shape and length and kept on disk).  Both put the machine's table in front of the prompt
`$ C0 |` the harness gives, so the harness drives them like every other engine.

How `universal` checks many machines at once: teacher forcing.  `decoders` runs each machine's
reference input (table and reference trace) through the model in one whole-sequence forward pass
per batch, and each job's decoder replays the prediction after every position while the harness
feeds it the reference's tokens.  That is greedy generation, by induction on the position: the
model is causal, so its prediction at position n depends on tokens 0..n only; if every
prediction up to n equals the reference's next token, generation has fed exactly the reference's
tokens up to n+1, and the teacher-forced prediction at n+1 is the generated one.  At the first
wrong prediction the contexts part: the harness feeds the wrong token, and from then on the
decoder runs the model's KV-cached decoder on the context it was actually given, so even the
mismatch report is the generation's (tests/turing/test_universal_engine.py checks the two agree).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import partial

import jax

from compiled_model.spec import Attention
from turing.bulk import MAX_STEPS, Checker
from turing.engines.base import Batch, Engine, EngineError, Job, TraceDecoder, register
from turing.engines.compiled import (
    SHORTEST_MODEL,
    GreedyDecoder,
    Progress,
    StreamDecoder,
    choose_attention,
    model_length,
)
from turing.engines.interpreted import InterpreterEngine
from turing.enumeration import machine_at, machine_count
from turing.formats import COMPACT, TAPE_COPY, TraceFormat
from turing.machine import Machine
from turing.shape import Shape, table_tokens
from turing.universal import universal_program
from turing.universal_model import UniversalModel, check_length, fast_pass, length_free, teacher_forced, universal_model

BATCH_TOKENS = {"soft": 8192, "hard": 32768}
"""Tokens per forward-pass batch: the batch is this over the bucket's length.  Memory bounds it:
a softmax model's hidden layers hold batch x length x units numbers (tens of thousands of units)
and its heads batch x length^2 scores; a hard model's fast pass holds neither, so it takes larger
batches, which cost fewer calls."""

SHORTEST_BUCKET = 64
"""The shortest length inputs are padded to.  Buckets double from there to FINE_BUCKETS, and then
step by a quarter of the power of two above (1,447 tokens pad to 1,536, not 2,048): padding
costs at most a quarter on the long inputs, where the time goes, and only the lengths that occur
are compiled (one XLA compilation each, ten seconds or more on a loaded machine: the many
inputs of a few tokens share one)."""

FINE_BUCKETS = 1024
"""The length past which buckets step by a quarter of a power of two rather than double."""


def bucket_length(tokens: int) -> int:
    """The length an input of `tokens` tokens is padded to (SHORTEST_BUCKET, FINE_BUCKETS)."""
    power = model_length(tokens, SHORTEST_BUCKET)
    if power <= FINE_BUCKETS:
        return power
    step = power // 4
    return -(-tokens // step) * step


class TablePrompt:
    """A decoder whose context starts with a machine's table: the first `extend` (the prompt
    `$ C0 |` that the harness gives) is fed after the table, in one piece."""

    def __init__(self, decoder: TraceDecoder, table: Sequence[str]) -> None:
        self.decoder = decoder
        self.pending = list(table)

    def extend(self, tokens: Sequence[str]) -> str:
        tokens, self.pending = [*self.pending, *tokens], []
        return self.decoder.extend(tokens)


@register
class UniversalInterpreterEngine(InterpreterEngine):
    """The universal program evaluated by the interpreter: the specification of `universal`.
    `shape` None runs each machine with the smallest shape it fits."""

    name = "universal-interpreter"
    options = frozenset({"shape", "trace_format"})

    def __init__(
        self, shape: Shape | None = None, incremental: bool = True, trace_format: TraceFormat = TAPE_COPY
    ) -> None:
        super().__init__(universal_program(shape, trace_format), incremental)

    def decoder(self, machine: Machine, capacity: int | None = None) -> TraceDecoder:
        return TablePrompt(super().decoder(machine, capacity), table_tokens(machine))


@register
class UniversalEngine(Engine):
    """The universal program compiled: one transformer for every machine of `shape` (None: the
    smallest shape each machine fits) and inputs of up to `max_len` tokens (None: the next power
    of two that holds the run).  `attention` None picks softmax where it is known exact and hard
    attention beyond, as the compiled engine does (`choose_attention`, which says so).  `dtype`
    None runs in the model's own choice (its precision record: a hard model runs in float64 past
    short lengths); float32 where that record says it is not exact is refused.  `on_model` hears
    of every model the engine takes up (compiled now, or loaded from the cache)."""

    name = "universal"
    options = frozenset({"dtype", "attention", "shape", "max_len", "devices", "on_model", "trace_format"})

    def __init__(
        self,
        shape: Shape | None = None,
        max_len: int | None = None,
        dtype: str | None = None,
        attention: Attention | str | None = None,
        devices: Sequence[jax.Device] | None = None,
        on_model: Callable[[UniversalModel], None] | None = None,
        trace_format: TraceFormat = TAPE_COPY,
    ) -> None:
        self.program = universal_program(shape, trace_format)
        if max_len is not None and not (attention is not None and length_free(self.program.file, attention)):
            check_length(max_len)
        self.max_len = max_len
        self.dtype = dtype
        self.attention = attention
        self._modes: dict[int, Attention] = {}
        self.devices = devices
        self.on_model = on_model
        self.models: dict[tuple[Shape, int], UniversalModel] = {}
        self.batches: list[Batch] = []
        self.progress: Progress | None = None  # told of a single hard run's generation, chunk by chunk

    def length_for(self, machine: Machine, tokens: int) -> int:
        """The model length for `machine` fed `tokens` trace tokens: `max_len`, or the next
        power of two that holds its table and the trace.  A run that does not fit `max_len` is
        refused with the reason: the model never truncates; so is one that needs a model past
        `turing.universal_model.MAX_LENGTH`."""
        needed = len(table_tokens(machine)) + tokens
        if self.max_len is None:
            length = model_length(needed)
            if not length_free(self.program.file, self._mode(length)):
                check_length(length, "this run", "pass fewer --max-steps or --max-tokens")
            return length
        if needed > self.max_len:
            raise EngineError(
                f"this run needs {needed} positions (the machine's table, {needed - tokens} tokens, and up to "
                f"{tokens} trace tokens, with room for a mismatch report) but the universal model takes "
                f"{self.max_len}",
                hint=f"pass --max-len {model_length(needed)} or more, or fewer --max-steps",
            )
        return self.max_len

    def plan(self, jobs: Sequence[Job]) -> dict[Shape, int]:
        """The model length for each shape among `jobs`: one model per shape, long enough for
        the longest of its jobs (`length_for`)."""
        lengths: dict[Shape, int] = {}
        for job in jobs:
            shape = self.program.shape_for(job.machine)
            lengths[shape] = max(lengths.get(shape, 0), self.length_for(job.machine, job.capacity))
        return lengths

    def model(self, shape: Shape, length: int) -> UniversalModel:
        """The universal model of `shape` and `length`, compiled or loaded once per engine; a
        float type it is not exact in is refused here, before anything runs."""
        if (shape, length) not in self.models:
            found = universal_model(shape, length, self._mode(length), program=self.program.file)
            found.dtype(self.dtype)
            self.models[shape, length] = found
            if self.on_model is not None:
                self.on_model(found)
        return self.models[shape, length]

    def _mode(self, length: int) -> Attention:
        """The attention of this engine's models of `length` positions (decided, and announced,
        once per length)."""
        if length not in self._modes:
            self._modes[length] = choose_attention(length, self.attention, self.dtype)
        return self._modes[length]

    def admit(self, jobs: Sequence[Job]) -> None:
        for shape, length in self.plan(jobs).items():
            self.model(shape, length)

    def bulk(self, shape: Shape, max_steps: int) -> Checker | None:
        """A checker of many machines of `shape` at once, by number (`turing.bulk.Checker`:
        their reference runs and which of them the model gets wrong), when this engine runs the
        compact program's length-free model and the budget is at most `turing.bulk.MAX_STEPS`;
        None otherwise: the harness checks one machine at a time.  The model is the one the
        harness would take for the longest run of the shape, so that a machine marked wrong is
        rerun on it."""
        if self.trace_format is not COMPACT or max_steps > MAX_STEPS:
            return None
        full = machine_at(machine_count(shape.states, shape.symbols) - 1, shape.states, shape.symbols)  # every entry
        length = self.length_for(full, COMPACT.capacity(COMPACT.reference(full, (), 0)) + max_steps)
        if not length_free(self.program.file, self._mode(length)):
            return None
        found = self.model(shape, length)
        dtype = found.dtype(self.dtype)
        fast = fast_pass(found.model, dtype)
        return Checker(found.model, shape, max_steps, dtype, fast, found.model.summary())

    def decoder(self, machine: Machine, capacity: int | None = None) -> TraceDecoder:
        """One machine's run: a length-free model (the compact program's, hard) streamed from
        the fast decoder as the harness reads it (telling `progress`, when set), any other
        through its KV-cached decoder (the tape-copy program's outputs inside the table are not
        tokens, which the fast decoder's generation needs)."""
        table = table_tokens(machine)
        length = self.length_for(machine, capacity or SHORTEST_MODEL)
        found = self.model(self.program.shape_for(machine), length)
        dtype = found.dtype(self.dtype)
        if length_free(self.program.file, self._mode(length)):
            tokens = len(table) + (capacity or SHORTEST_MODEL)
            return TablePrompt(StreamDecoder(found.model, tokens, dtype, self.progress), table)
        return TablePrompt(GreedyDecoder(found.model, dtype), table)

    def decoders(self, jobs: Sequence[Job]) -> list[Callable[[], TraceDecoder]]:
        """Every job checked now by teacher forcing (module docstring), through one model per
        shape (`plan`): grouped by the length the input is padded to (`bucket_length`), in batches
        of about BATCH_TOKENS tokens.  Jobs without a reference trace generate greedily, one at a time."""
        if any(not job.trace for job in jobs):
            return super().decoders(jobs)
        lengths = self.plan(jobs)
        groups: dict[tuple[Shape, int], list[int]] = {}
        for index, job in enumerate(jobs):
            shape = self.program.shape_for(job.machine)
            needed = bucket_length(len(table_tokens(job.machine)) + len(job.trace))
            groups.setdefault((shape, min(needed, lengths[shape])), []).append(index)
        predictions: dict[int, list[str]] = {}
        self.batches = []
        for (shape, bucket), members in sorted(groups.items(), key=lambda item: item[0][1]):
            start = time.perf_counter()
            found = self.model(shape, lengths[shape])
            dtype = found.dtype(self.dtype)
            size = max(1, BATCH_TOKENS[found.model.spec.attention.mode] // bucket)
            for first in range(0, len(members), size):
                chosen = members[first : first + size]
                inputs = [[*table_tokens(jobs[i].machine), *jobs[i].trace] for i in chosen]
                outputs = teacher_forced(found.model, inputs, bucket, dtype, self.devices, size)
                predictions.update(zip(chosen, outputs))
            seconds = time.perf_counter() - start
            summary = found.model.summary()
            self.batches.append(Batch(lengths[shape], len(members), dtype, summary, seconds, padded_to=bucket))
        return [partial(self._replay, jobs[index], lengths, predictions[index]) for index in range(len(jobs))]

    def _replay(self, job: Job, lengths: dict[Shape, int], predictions: list[str]) -> TraceDecoder:
        shape = self.program.shape_for(job.machine)
        found = self.model(shape, lengths[shape])
        table = table_tokens(job.machine)
        return TeacherForcedDecoder(
            [*table, *job.trace], predictions, len(table),
            lambda: GreedyDecoder(found.model, found.dtype(self.dtype)),
        )


class TeacherForcedDecoder:
    """Replays teacher-forced predictions while the context is the reference input; from the
    first token that differs, a greedy decoder fed the actual context takes over."""

    def __init__(
        self, reference: list[str], predictions: list[str], table: int, greedy: Callable[[], TraceDecoder]
    ) -> None:
        self.reference = reference
        self.predictions = predictions
        self.context = reference[:table]
        self.greedy = greedy
        self.live: TraceDecoder | None = None

    def extend(self, tokens: Sequence[str]) -> str:
        start = len(self.context)
        self.context.extend(tokens)
        if self.live is None and list(tokens) == self.reference[start : len(self.context)]:
            return self.predictions[len(self.context) - 1]
        if self.live is None:
            self.live = self.greedy()
            return self.live.extend(self.context)
        return self.live.extend(tokens)
