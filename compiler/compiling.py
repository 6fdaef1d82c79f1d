"""The compiler's table of contents: one function that runs the stages in order, each
finishing before the next starts and handing over an immutable result.

    analyse  (compiler.valuesets)  s-op graph           -> ValueSets (frozen)
    lower    (compiler.lowering)   s-op + ValueSets     -> LoweredProgram (frozen blocks over
                                                           typed residual dimensions, the output)
    schedule (compiler.scheduling) blocks               -> tuple of Layers
    assemble (compiler.assemble)   LoweredProgram + Layers -> Assembly (weights, spec parts)

and hands the weights and their `compiled_model.spec.ModelSpec` to the model class of
`compiled_model`, which runs them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from compiled_model.spec import ATTENTION_MODES, TIE_WINDOW, Attention, ModelSpec, OutputDecoding
from compiled_model.transformer import Transformer
from compiler.assemble import assemble
from compiler.budget import DEFAULT_BUDGET
from compiler.check import DEFAULT_CHECK, check_count_problem
from compiler.check import check as check_against_interpreter
from compiler.errors import CompileError, fail
from compiler.lowering import lower
from compiler.scheduling import schedule
from compiler.valuesets import analyse
from rasp import ir


def compile(  # noqa: A001
    sop: ir.SOp,
    vocab: Iterable[Any],
    max_seq_len: int,
    causal: bool = False,
    budget: int = DEFAULT_BUDGET,
    check: int = DEFAULT_CHECK,
    attention: Attention | str = "soft",
    length_free: bool = False,
) -> Transformer:
    """A Transformer whose output equals `sop` evaluated by the interpreter (causally when
    `causal`) on every input of at most `max_seq_len` tokens from `vocab`, or a CompileError
    naming the s-op that cannot be compiled exactly, or whose model would have more than
    `budget` parameters.  Before it is returned, the model is compared with the interpreter on
    the edge inputs (a constant input of every length, each token at the longest) and `check`
    random inputs (`compiler.check`, docs/compiler.md: The self-check): any difference raises
    CheckFailed (a compiler bug, not a refusal); `check=0` turns the comparison off.
    `attention`: an `Attention` or its mode's name: "hard" makes every head a hard one (the
    uniform mean over the keys of maximal score, RASP's aggregate; see compiler.margins),
    "soft" (the default) a softmax one.  `length_free` (hard, causal) builds a model whose
    size does not depend on max_seq_len: positions and counts are intervals, counts sum heads,
    and an s-op whose lowering would tabulate them is refused (`compiler.length_free`)."""
    attention = _attention(attention)
    vocab = _arguments(sop, vocab, max_seq_len, check)
    if length_free and not (attention.hard and causal):
        raise CompileError("a length-free compile needs hard attention and causal evaluation")
    try:
        sets = analyse(sop, vocab, max_seq_len, causal, budget, length_free)
        program = lower(sop, sets, budget, attention)
        layers = schedule(program.blocks)
        assembly = assemble(program, layers)
    except RecursionError:  # the stages recurse once per level of the program's nesting
        raise fail(
            sop,
            f"it nests deeper than Python's recursion limit ({sys.getrecursionlimit()} frames) lets the "
            "compiler follow; the rasp command allows about 20,000",
        ) from None
    spec = ModelSpec(
        program=sop.label,
        vocab=vocab,
        max_seq_len=max_seq_len,
        causal=causal,
        attention=attention,
        residual=assembly.residual,
        output=OutputDecoding(program.kind, program.values),  # type: ignore[arg-type]
        layout=assembly.layout,
        precision=assembly.precision,
        mixtures=assembly.mixtures,
        heads=assembly.heads,
    )
    model = Transformer(assembly.params, spec)
    if check:
        check_against_interpreter(model, sop, check)
    return model


def _arguments(sop: ir.SOp, vocab: Iterable[Any], max_seq_len: int, check: int) -> tuple[Any, ...]:
    """The vocabulary without repeats, once the arguments are ones `compile` can take; a
    CompileError saying which is not, before any stage runs."""
    if not isinstance(sop, ir.SOp):
        raise CompileError(f"only an s-op can be compiled, not {type(sop).__name__}")
    if check < 0:
        raise CompileError(f"check must be a number of random inputs, at least 0, not {check}")
    if max_seq_len < 1:
        raise CompileError(f"max_seq_len must be at least 1, not {max_seq_len}")
    tokens = tuple(dict.fromkeys(vocab))
    if not tokens:
        raise CompileError("the vocabulary is empty")
    if len({str(token) for token in tokens}) != len(tokens):
        raise CompileError("two vocabulary tokens have the same text; tokens must be distinct as strings")
    too_many = check_count_problem(check, len(tokens), max_seq_len)
    if too_many is not None:
        raise CompileError(f"check={check:,} {too_many[0]}", hint=f"check {too_many[1]}")
    return tokens


def _attention(attention: Attention | str) -> Attention:
    """The attention `compile` was asked for, refused by name unless the compiler builds it:
    one of the modes, with hard attention's tie window the one its margins are made for."""
    if isinstance(attention, str) and attention not in ATTENTION_MODES:
        raise CompileError(f"attention must be one of {', '.join(ATTENTION_MODES)}, not {attention!r}")
    if not isinstance(attention, (str, Attention)):
        raise CompileError(f"attention must be an Attention or one of {', '.join(ATTENTION_MODES)}, not {attention!r}")
    attention = Attention.named(attention)
    if attention.hard and attention.tie_window != TIE_WINDOW:
        raise CompileError(
            f"the compiler builds hard heads for the tie window {TIE_WINDOW} only, not {attention.tie_window}"
        )
    return attention
