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
from collections.abc import Callable, Sequence
from functools import partial

import jax
import numpy as np

import compiler
from compiler.decoder import batch_generate
from compiler.shapes import common_shape, pad
from turing.engines.base import Batch, Decoder, Engine, EngineError, Job, register
from turing.machine import Machine
from turing.plot import configuration_spans
from turing.program import POSITIONAL, TuringProgram, machine_bindings
from turing.simulator import initial_configuration
from turing.trace import encode_trace, trace_of

SHORTEST_MODEL = 64
"""The smallest max_seq_len the engine compiles for."""

SAFE_LENGTH = {"float32": 2048, "float64": 8192}
"""The longest models (max_seq_len) whose generation is known to reproduce traces exactly in each
dtype: measured by benchmarks/turing_compiled.py (float32 fails from 4,096, float64 is exact at
the largest length measured); docs/turing.md section 10 gives the numeric reasons.  Runs that
need longer models warn before they start."""


def model_length(tokens: int, shortest: int = SHORTEST_MODEL) -> int:
    """The max_seq_len of the model for a run of up to `tokens` tokens: the next power of two
    (at least `shortest`), so that runs of similar lengths share one model shape and so one
    XLA compilation of the decoder."""
    length = shortest
    while length < tokens:
        length *= 2
    return length


def compile_machine(
    machine: Machine, max_seq_len: int, program: TuringProgram = POSITIONAL
) -> compiler.Transformer:
    """`program` bound to `machine`, compiled for contexts of up to max_seq_len tokens."""
    vocab = machine_bindings(machine)["tm_vocab"]
    return compiler.compile(program.sop(machine), vocab, max_seq_len, causal=True)


def choose_dtype(max_seq_len: int, dtype: str | None = None) -> str:
    """`dtype`, or by default the cheapest dtype exact for models of max_seq_len positions;
    warns when the model is longer than that dtype's measured safe length."""
    chosen = dtype or ("float32" if max_seq_len <= SAFE_LENGTH["float32"] else "float64")
    if max_seq_len > SAFE_LENGTH[chosen]:
        warnings.warn(
            f"this run needs a model of {max_seq_len} positions, longer than the {SAFE_LENGTH[chosen]} that the "
            f"compiled Turing Program is known to run exactly in {chosen} (docs/turing.md): it may diverge",
            stacklevel=3,
        )
    return chosen


@register
class CompiledEngine(Engine):
    """Generation by `program` compiled into a transformer; `dtype` None picks float32 where it
    is exact.  `batches` describes the batches of the last `decoders` call."""

    name = "compiled"
    options = frozenset({"program", "dtype"})

    def __init__(self, program: TuringProgram = POSITIONAL, dtype: str | None = None) -> None:
        self.program = program
        self.dtype = dtype
        self.batches: list[Batch] = []

    def decoder(self, machine: Machine, capacity: int | None = None) -> Decoder:
        length = model_length(capacity or SHORTEST_MODEL)
        dtype = choose_dtype(length, self.dtype)
        return GreedyDecoder(compile_machine(machine, length, self.program), dtype)

    def decoders(
        self, jobs: Sequence[Job], devices: Sequence[jax.Device] | None = None
    ) -> list[Callable[[], Decoder]]:
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
            dtype = choose_dtype(length, self.dtype)
            batch = [jobs[i] for i in members]
            models = [compile_machine(job.machine, length, self.program) for job in batch]
            shape = common_shape(models)
            prompts = [encode_trace([initial_configuration(job.machine, job.tape)], halted=False) for job in batch]
            padded = [pad(model, shape) for model in models]
            tokens = max(job.capacity for job in batch)
            generated.update(zip(members, batch_generate(padded, prompts, tokens, dtype, devices)))
            seconds = time.perf_counter() - start
            self.batches.append(Batch(length, len(members), dtype, padded[0].summary(), seconds))
        return [partial(_ReplayDecoder, generated[index]) for index in range(len(jobs))]


class GreedyDecoder:
    """A compiled model's KV-cached decoder as a `Decoder`: the prediction after the last token
    is the model's output there (greedy generation)."""

    def __init__(self, model: compiler.Transformer, dtype: str | None = None) -> None:
        self.decoder = model.decoder(dtype)

    def extend(self, tokens: Sequence[str]) -> str:
        return str(self.decoder.extend(tokens)[-1])


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
        for index, head in enumerate(layout["heads"]):
            weights = pattern[index][np.ix_(rows, columns)]
            if weights.sum(axis=1).max() >= 0.5:
                heads.append((f"layer {layer}: {head['node']}", weights))
    return tokens, heads, queries, keys
