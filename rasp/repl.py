"""The interactive read-eval-print loop: prompt, multi-line statements, history, display."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TextIO

from rasp.display import Display, error_lines
from rasp.errors import RaspError
from rasp.objects import Result
from rasp.parser import is_complete
from rasp.session import Session

PROMPT = ">> "
CONTINUATION = ".. "
HISTORY_FILE = Path.home() / ".rasp_history"


class Repl:
    """Feeds lines to a session and returns what to print; knows nothing of the terminal."""

    def __init__(self, session: Session | None = None) -> None:
        self.session = session or Session()
        self.display = Display(self.session)
        self.pending: list[str] = []
        self.finished = False

    @property
    def prompt(self) -> str:
        return CONTINUATION if self.pending else PROMPT

    def feed(self, line: str) -> list[str]:
        """Take one line of input; returns the output once a statement is complete."""
        self.pending.append(line)
        source = "\n".join(self.pending)
        if not source.strip() or source.lstrip().startswith("#") and "\n" not in source.strip():
            self.pending.clear()
            return []
        if not is_complete(source):
            return []
        self.pending.clear()
        return self.execute(source, file="<console>")

    def execute(self, source: str, file: str | None = None, quiet: bool = False) -> list[str]:
        try:
            results = self.session.run(source, file)
        except RaspError as error:
            return error_lines(error)
        return self.shown(results, quiet)

    def shown(self, results: list[Result], quiet: bool = False) -> list[str]:
        """The lines that show `results` (with `quiet`, only the errors)."""
        if self.session.exit_requested:
            self.finished = True
        if quiet:  # what was skipped in loaded files is still reported
            results = [result for result in results if result.kind == "error"]
        lines: list[str] = []
        for result in results:
            try:
                lines.extend(self.display.render(result))
            except RaspError as error:
                lines.append("\t!!statement executed, but result fails on evaluation:")
                lines.extend("\t\t " + line for line in str(error).splitlines())
        return lines

    def load_files(self, paths: Iterable[str]) -> list[str]:
        lines: list[str] = []
        for path in paths:
            try:
                source = Path(path).read_text(encoding="utf-8-sig")
            except OSError as error:
                lines.append(f"\t!! cannot read {path}: {error.strerror}")
                continue
            except UnicodeDecodeError as error:
                lines.append(f"\t!! cannot read {path}: it is not UTF-8 text (byte {error.start})")
                continue
            # statement by statement, as `load` reads: one bad line does not drop the others
            lines.extend(self.shown(self.session.run_each(source, path), quiet=True))
        return lines


def _enable_history() -> Callable[[], None]:
    """Line editing and persistent history through readline, where the platform has it."""
    try:
        import readline
    except ImportError:
        return lambda: None
    try:
        readline.read_history_file(HISTORY_FILE)
    except OSError:
        pass
    readline.set_history_length(2000)

    def save() -> None:
        try:
            readline.write_history_file(HISTORY_FILE)
        except OSError:
            pass

    return save


def run_repl(files: Iterable[str] = (), stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """Run the REPL until `exit`, `quit` or end of input."""
    out = stdout or sys.stdout
    interactive = stdin is None and sys.stdin.isatty()
    repl = Repl()
    print("RASP toolkit REPL (the language of Weiss et al., 2021). 'exit' to leave.", file=out)
    print("running example is:", repl.session.sop_example, file=out)
    for line in repl.load_files(files):
        print(line, file=out)
    save_history = _enable_history() if interactive else (lambda: None)
    source = stdin or sys.stdin
    try:
        while not repl.finished:
            if interactive:
                try:
                    line = input(repl.prompt)
                except KeyboardInterrupt:
                    repl.pending.clear()
                    print(file=out)
                    continue
            else:
                line = source.readline()
                if not line:
                    break
                line = line.rstrip("\n")
            for output in repl.feed(line):
                print(output, file=out)
    except EOFError:
        print(file=out)
    finally:
        save_history()
    return 0
