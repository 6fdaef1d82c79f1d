"""The compiler's two errors: a construct that cannot be compiled exactly (a refusal), and a
compiled model that differs from the interpreter (a compiler bug, caught by the self-check)."""

from __future__ import annotations

from rasp import ir
from rasp.errors import RaspError


class CompileError(RaspError):
    """A program cannot be compiled exactly; the message names the node and the reason."""


class CheckFailed(RaspError):
    """A compiled model differs from the interpreter on a checked input.  No refusal: the
    compiler built a wrong model and its self-check caught it (`compiler.check`), so code that
    treats a CompileError as "cannot be compiled" never takes it for one; the CLI exits 1, as
    for any failed verification, not 2 as for a user's error."""


def fail(node: ir.Node, reason: str) -> CompileError:
    """A CompileError for `node`: its label, its source position (when known) and why."""
    return CompileError(f"cannot compile {node.label}: {reason}", node.origin)
