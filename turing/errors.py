"""The error every user-facing failure of the pure Turing machine code raises.

The machine model, simulator and trace code sit below the language (they import no `rasp`), so
their errors cannot derive from `rasp.errors.RaspError`; `TuringError` carries the same parts (a
message, where in the machine text it happened, the offending line, a hint) and prints in the
same form, so the `rasp` command reports both alike and exits 2.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TextPosition:
    """Where in a machine's text (a file, or the command line's `None`) an error was found;
    `line` and `column` count from 1."""

    file: str | None
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file or '<input>'}:{self.line}:{self.column}"


class TuringError(Exception):
    """Base of the machine, tape and trace errors: printed as
    `FILE:LINE:COLUMN: Kind: message`, then the line with a caret under the column."""

    def __init__(
        self, message: str, location: TextPosition | None = None, *, hint: str | None = None,
        source_line: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.location = location
        self.hint = hint
        self.source_line = source_line

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        lines = [f"{where}{type(self).__name__}: {self.message}"]
        if self.location is not None and self.source_line is not None:
            caret = " " * (self.location.column - 1) + "^"
            lines += ["    " + self.source_line.rstrip("\n"), "    " + caret]
        if self.hint:
            lines.append(f"hint: {self.hint}")
        return "\n".join(lines)
