"""The compiler's table of contents: one function that runs the stages in order.

analyse value sets -> lower to blocks over named residual dimensions -> schedule into
layers -> assemble weights -> Transformer
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from compiler import assemble, margins, scheduling, valuesets
from compiler import check as proof
from compiler.budget import DEFAULT_BUDGET
from compiler.errors import CompileError, fail
from compiler.lowering import Lowering
from compiler.model import Transformer
from rasp import ir


def compile(  # noqa: A001
    sop: ir.SOp,
    vocab: Iterable[Any],
    max_seq_len: int,
    causal: bool = False,
    budget: int = DEFAULT_BUDGET,
    check: int = 0,
) -> Transformer:
    """A Transformer whose output equals `sop` evaluated by the interpreter (causally when
    `causal`) on every input of at most `max_seq_len` tokens from `vocab`, or a CompileError
    naming the s-op that cannot be compiled exactly, or whose model would have more than
    `budget` parameters.  With `check=K` the model is first compared with the interpreter on K
    inputs (`compiler.check`), and any difference is a CompileError."""
    if not isinstance(sop, ir.SOp):
        raise CompileError(f"only an s-op can be compiled, not {type(sop).__name__}")
    if max_seq_len < 1:
        raise CompileError(f"max_seq_len must be at least 1, not {max_seq_len}")
    vocab = tuple(dict.fromkeys(vocab))
    if not vocab:
        raise CompileError("the vocabulary is empty")
    if len({str(token) for token in vocab}) != len(vocab):
        raise CompileError("two vocabulary tokens have the same text; tokens must be distinct as strings")
    sets = valuesets.analyse(sop, vocab, max_seq_len, causal)
    lowering = Lowering(sets, causal, budget)
    rep = lowering.rep(sop)
    kind, values, output = assemble.output_functionals(rep)
    if kind == "fraction" and not (isinstance(sop, ir.Aggregate) and valuesets.integer_means(sop, sets)):
        raise fail(sop, "its values are means of non-integers, too many to enumerate: the output cannot be read")
    tolerance = 0.25 if kind == "categorical" else margins.decode_tolerance(kind, values, max_seq_len)
    lowering.require(rep, tolerance, sop, "reading the output")
    layers = scheduling.schedule(lowering.blocks)
    assembly = assemble.assemble(lowering, layers, vocab, output, causal)
    metadata = {
        "program": sop.label,
        "vocab": list(vocab),
        "max_seq_len": max_seq_len,
        "causal": causal,
        "labels": assembly.labels,
        "output": {"kind": kind, "values": values},
        "layout": assembly.layout,
        "precision": assembly.precision,
        "mixtures": assembly.mixtures,
    }
    model = Transformer(assembly.params, metadata)
    if check:
        proof.check(model, sop, check)
    return model
