"""The n-gram Turing Program compiled into a transformer: the `compiled` engine for
`--program ngram`.  Like rasp.turing.compiled it joins the language to the compiler, so only
the command-line layer imports it."""

from __future__ import annotations

import compiler
from rasp.turing.compiled import CompiledEngine
from rasp.turing.machine import Machine
from rasp.turing.ngram import check_n, ngram_sop
from rasp.turing.program import machine_bindings


def compile_ngram(machine: Machine, n: int, max_seq_len: int) -> compiler.Transformer:
    """The n-gram program bound to `machine` and `n`, compiled for up to max_seq_len tokens."""
    vocab = machine_bindings(machine)["tm_vocab"]
    return compiler.compile(ngram_sop(machine, n), vocab, max_seq_len, causal=True)


class NgramCompiledEngine(CompiledEngine):
    """Generation by the compiled n-gram program (batched in `run_batch` like the positional)."""

    def __init__(self, n: int, dtype: str | None = None) -> None:
        super().__init__(dtype)
        self.n = check_n(n)

    def compile(self, machine: Machine, max_seq_len: int) -> compiler.Transformer:
        return compile_ngram(machine, self.n, max_seq_len)
