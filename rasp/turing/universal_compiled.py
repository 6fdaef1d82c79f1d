"""The universal Turing Program compiled: one transformer per shape, every machine of the shape.

`compile_universal` compiles `programs/universal_turing_machine.rasp` bound to a `Shape`.  Unlike
the per-machine models of `rasp.turing.compiled`, all machines share these weights; only the
input differs (the table in front of the trace), so checking many machines is a batch of inputs
through one model.  `teacher_forced` runs such a batch in one whole-sequence forward pass, every
input padded to one length so that batches of one length share one XLA compilation.

Like `rasp.turing.compiled` this joins the language to the compiler, so it belongs to the
command-line layer; the language core never imports it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

import compiler
from compiler.errors import CompileError
from compiler.model import forward
from rasp.turing.universal import Shape, universal_sop


def compile_universal(shape: Shape, max_seq_len: int) -> compiler.Transformer:
    """The universal program for `shape`, compiled for inputs (table and trace) of up to
    max_seq_len tokens."""
    return compiler.compile(universal_sop(shape), shape.vocab(), max_seq_len, causal=True)


def teacher_forced(
    model: compiler.Transformer, inputs: Sequence[Sequence[str]], length: int | None = None, dtype: str = "float32"
) -> list[list[str]]:
    """The model's prediction at every position of every input, in one forward pass over the
    batch.  The inputs are padded (with masked positions) to `length`, by default the longest
    input: a fixed `length` keeps the XLA compilation of one call for the next."""
    ids, mask = model.encode([list(tokens) for tokens in inputs])
    width = ids.shape[1] if length is None else length + 1  # + 1: the BOS
    if width < ids.shape[1]:
        raise CompileError(f"an input has {ids.shape[1] - 1} tokens, more than the length {length} asked for")
    ids = np.pad(ids, ((0, 0), (0, width - ids.shape[1])))
    mask = np.pad(mask, ((0, 0), (0, width - mask.shape[1])))
    streams = np.asarray(forward(model.device_params(dtype), ids, mask, model.causal), np.float64)
    rows = [streams[row, 1 : 1 + len(tokens)] for row, tokens in enumerate(inputs)]
    return [[str(value) for value in model.decode(stream)] for stream in rows]
