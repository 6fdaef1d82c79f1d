"""The error every user-facing failure of the pure Turing machine code raises.

The machine model, simulator and trace code sit below the language (they import no `rasp`), so
their errors cannot derive from `rasp.errors.RaspError`; `TuringError` prints in the same form
(`FILE:LINE:COLUMN: Kind: message`, then the offending line with a caret under the column), so
that the `rasp` command reports both alike and exits 2.
"""

from __future__ import annotations


class TuringError(Exception):
    """A machine, tape or trace that cannot be used.  `line` and `column` (from 1) say where in
    the machine's text, when the error is about a text; `file` names the file it came from."""

    def __init__(
        self, message: str, line: int | None = None, column: int | None = None, *,
        source_line: str | None = None, file: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.line, self.column = line, column
        self.source_line = source_line
        self.file = file

    def in_file(self, path: str) -> TuringError:
        """The same error, read from the file at `path`."""
        if self.line is None:
            return type(self)(f"in {path!r}: {self.message}")
        return type(self)(self.message, self.line, self.column, source_line=self.source_line, file=path)

    def __str__(self) -> str:
        if self.line is None or self.column is None:
            return f"{type(self).__name__}: {self.message}"
        lines = [f"{self.file or '<input>'}:{self.line}:{self.column}: {type(self).__name__}: {self.message}"]
        if self.source_line is not None:
            lines += ["    " + self.source_line.rstrip("\n"), "    " + " " * (self.column - 1) + "^"]
        return "\n".join(lines)
