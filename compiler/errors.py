"""The one error the compiler raises: a construct that cannot be compiled exactly."""

from __future__ import annotations

from rasp import ir
from rasp.errors import RaspError


class CompileError(RaspError):
    """A program cannot be compiled exactly; the message names the node and the reason."""


def fail(node: ir.Node, reason: str) -> CompileError:
    """A CompileError for `node`: its label, its source position (when known) and why."""
    return CompileError(f"cannot compile {node.label}: {reason}", node.origin)
