"""The Turing Program as a compiled transformer: the `compiled` engine and batch verification.

`compile_machine` compiles `programs/turing_machine.rasp`, bound to a machine, into a causal
transformer (vocabulary: the machine's symbols and states and `$ | #`).  The engine generates
with the compiled model's KV-cached decoder, greedily (the model's output is the next token).
`run_batch` generates the traces of many machines in one jitted call, vmapped over their models
(padded to one shape) and split across the available devices.

This module joins the language (the program and its bindings) to the compiler, so it belongs
to the command-line layer: `rasp.turing.cli` registers the engine; the language core never
imports it (DESIGN.md section 1).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence

import jax

import compiler
from compiler.decoder import batch_generate
from compiler.shapes import common_shape, pad
from rasp.turing.machine import Machine
from rasp.turing.program import machine_bindings, next_token_sop
from rasp.turing.runner import BoundedEngine, Decoder, EngineError, TraceRun, capacity, run_machine
from rasp.turing.simulator import initial_configuration
from rasp.turing.trace import encode_trace, trace_of

SHORTEST_MODEL = 64
"""The smallest max_seq_len the engine compiles for."""

SAFE_LENGTH = {"float32": 1024, "float64": 8192}
"""The longest trace (tokens) the compiled model is known to reproduce exactly in each dtype:
measured by benchmarks/turing_compiled.py, which docs/turing.md reports with the numeric
reasons.  Longer runs warn before they start."""


def model_length(tokens: int) -> int:
    """The max_seq_len of the model for a run of up to `tokens` tokens: the next power of two
    (at least SHORTEST_MODEL), so that runs of similar lengths share one model shape and so one
    XLA compilation of the decoder."""
    length = SHORTEST_MODEL
    while length < tokens:
        length *= 2
    return length


def compile_machine(machine: Machine, max_seq_len: int) -> compiler.Transformer:
    """The Turing Program bound to `machine`, compiled for contexts of up to max_seq_len tokens."""
    vocab = machine_bindings(machine)["tm_vocab"]
    return compiler.compile(next_token_sop(machine), vocab, max_seq_len, causal=True)


def choose_dtype(tokens: int, dtype: str | None = None) -> str:
    """`dtype`, or by default the cheapest dtype safe for `tokens` tokens; warns when the run is
    longer than that dtype's measured safe length."""
    chosen = dtype or ("float32" if tokens <= SAFE_LENGTH["float32"] else "float64")
    if tokens > SAFE_LENGTH[chosen]:
        warnings.warn(
            f"a run of up to {tokens} tokens is longer than the {SAFE_LENGTH[chosen]} tokens the compiled "
            f"Turing Program is known to reproduce exactly in {chosen} (docs/turing.md): it may diverge",
            stacklevel=3,
        )
    return chosen


class CompiledEngine(BoundedEngine):
    """Generation by the compiled transformer; `dtype` None picks float32 where it is safe."""

    name = "compiled"

    def __init__(self, dtype: str | None = None) -> None:
        self.dtype = dtype

    def decoder(self, machine: Machine, capacity: int | None = None) -> Decoder:
        tokens = capacity or SHORTEST_MODEL
        dtype = choose_dtype(tokens, self.dtype)
        return _CompiledDecoder(compile_machine(machine, model_length(tokens)), dtype)

    def run_batch(
        self,
        cases: Iterable[tuple[Machine, Sequence[str]]],
        max_steps: int,
        devices: Sequence[jax.Device] | None = None,
    ) -> list[TraceRun]:
        """`run_machine(self, machine, tape, max_steps)` for every case, generated in one batch:
        the models are compiled for the longest run, padded to one shape, and generate together
        (one XLA compilation); each run is then replayed through `run_machine`, which compares it
        with the reference exactly as for a single machine."""
        cases = [(machine, tuple(tape)) for machine, tape in cases]
        if not cases:
            return []
        prompts = [encode_trace([initial_configuration(machine, tape)], halted=False) for machine, tape in cases]
        length = max(capacity(trace_of(machine, tape, max_steps)) for machine, tape in cases)
        dtype = choose_dtype(length, self.dtype)
        models = [compile_machine(machine, model_length(length)) for machine, _ in cases]
        shape = common_shape(models)
        models = [pad(model, shape) for model in models]
        predictions = batch_generate(models, prompts, length, dtype, devices)
        return [
            run_machine(_Replay(self.name, generated), machine, tape, max_steps)
            for (machine, tape), generated in zip(cases, predictions)
        ]


class _CompiledDecoder:
    def __init__(self, model: compiler.Transformer, dtype: str) -> None:
        self.decoder = model.decoder(dtype)

    def extend(self, tokens: Sequence[str]) -> str:
        return str(self.decoder.extend(tokens)[-1])


class _Replay:
    """An engine that replays one batch generation, the model's prediction after every position
    (`run_machine` feeds back exactly the tokens that the batch generated)."""

    def __init__(self, name: str, predictions: list[str]) -> None:
        self.name = name
        self.predictions = predictions

    def decoder(self, machine: Machine) -> Decoder:
        return _ReplayDecoder(self.predictions)


class _ReplayDecoder:
    def __init__(self, predictions: list[str]) -> None:
        self.predictions = predictions
        self.fed = 0

    def extend(self, tokens: Sequence[str]) -> str:
        self.fed += len(tokens)
        if self.fed > len(self.predictions):
            raise EngineError(f"the batch generated {len(self.predictions)} tokens only")
        return str(self.predictions[self.fed - 1])
