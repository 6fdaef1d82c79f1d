"""The error every user-facing failure of the pure Turing machine code raises.

The machine model, simulator and trace code sit below the language (they import no `rasp`), so
their errors cannot derive from `rasp.errors.RaspError`; `TuringError` prints in the same form
(`FILE:LINE:COLUMN: Kind: message`, then the offending line with a caret under the column), so
that the `rasp` command reports both alike and exits 2.
"""

from __future__ import annotations

#: Control characters (Unicode category Cc, U+0000 to U+001F and U+007F to U+009F) but tab and
#: newline, as `\x1b`: the escaping of `rasp.errors.visible`, which the pure Turing code cannot
#: import (it imports no `rasp`); tests/turing/test_hostile_input.py checks that the two agree.
_ESCAPES = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0)) if chr(code) not in "\t\n"}


def visible(text: str) -> str:
    """`text` with control characters escaped: a machine or a tape that holds an escape sequence
    must not recolour or clear the user's terminal when an error message quotes it."""
    return text.translate(_ESCAPES)


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
        """The message, and the line with a caret under the column, control characters escaped
        (the caret moves right by what the escapes before it add)."""
        if self.line is None or self.column is None:
            return f"{type(self).__name__}: {visible(self.message)}"
        head = f"{self.file or '<input>'}:{self.line}:{self.column}: {type(self).__name__}: {self.message}"
        lines = [visible(head)]
        if self.source_line is not None:
            line = self.source_line.rstrip("\n")
            lines += ["    " + visible(line), "    " + " " * len(visible(line[: self.column - 1])) + "^"]
        return "\n".join(lines)
