"""The error hierarchy every user-facing failure goes through.

A `RaspError` carries where it happened (file, line, column) and a message that says what was
expected, plus an optional hint.  The command-line layer prints `str(error)` and exits 2, so the
message must stand on its own: no tracebacks ever reach a user.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """A position in a source text; `line` and `column` count from 1."""

    file: str | None
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file or '<input>'}:{self.line}:{self.column}"


class RaspError(Exception):
    """Base class of every error the toolkit reports to a user."""

    def __init__(
        self,
        message: str,
        location: Location | None = None,
        *,
        hint: str | None = None,
        source_line: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.location = location
        self.hint = hint
        self.source_line = source_line
        #: Where the failing code was reached from, innermost first, when that is another file
        #: (a library function called by the user's statement).
        self.called_from: list[str] = []

    @property
    def file(self) -> str | None:
        return self.location.file if self.location else None

    @property
    def line(self) -> int | None:
        return self.location.line if self.location else None

    @property
    def column(self) -> int | None:
        return self.location.column if self.location else None

    def at(self, location: Location | None, source_line: str | None = None) -> RaspError:
        """Attach a location (only if none is known yet) and return self, for re-raising."""
        if self.location is None and location is not None:
            self.location = location
            self.source_line = source_line
        return self

    def __str__(self) -> str:
        kind = type(self).__name__
        message = visible(self.message)
        head = f"{self.location}: {kind}: {message}" if self.location else f"{kind}: {message}"
        parts = [head]
        if self.source_line is not None and self.location is not None:
            line = self.source_line.rstrip("\n")
            parts.append("    " + visible(line))
            parts.append("    " + " " * len(visible(line[: self.location.column - 1])) + "^")
        parts.extend(f"called from {visible(step)}" for step in self.called_from)
        if self.hint:
            parts.append(f"hint: {visible(self.hint)}")
        return "\n".join(parts)


def visible(text: str) -> str:
    """`text` with control characters (but tabs and newlines) escaped as `\\x1b`: a program or
    an input that holds an escape sequence must not recolour or clear the user's terminal
    when an error message quotes it."""
    return "".join(
        f"\\x{ord(c):02x}" if unicodedata.category(c) == "Cc" and c not in "\t\n" else c for c in text
    )


class RaspSyntaxError(RaspError):
    """The text does not parse: the message names what was found and what was expected."""


class RaspNameError(RaspError):
    """A name is unbound, or reserved and cannot be assigned."""


class RaspTypeError(RaspError):
    """An operation got a value of the wrong kind (an s-op where an atom is needed, ...), or a
    function the wrong number of arguments."""


class RaspEvaluationError(RaspError):
    """Evaluating on a particular input failed (a mean over strings, a missing dict key, ...)."""


class UsageError(RaspError):
    """A command-line request that cannot be carried out (bad option value, missing name)."""
