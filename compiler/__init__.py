"""Compile RASP programs (the IR of `rasp.ir`) into Transformer weights run with JAX.

    model = compiler.compile(program, vocab={"a", "b"}, max_seq_len=10)
    model("abba")            # the same outputs as program("abba")
    model.summary()          # layers, heads, residual width, MLP hidden units, parameters

See docs/compiler.md for the stages, the encodings and how to read a compiled model.
"""

from compiled_model.transformer import Transformer, load
from compiler import notebook
from compiler.check import Verification, verify
from compiler.compiling import compile  # noqa: A004
from compiler.errors import CheckFailed, CompileError

notebook.register()  # Jupyter shows compiled models with their tables and picture

__all__ = ["CheckFailed", "CompileError", "Transformer", "Verification", "compile", "load", "verify"]
