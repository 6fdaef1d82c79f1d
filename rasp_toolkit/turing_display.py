"""What the `rasp tm` commands print alike: the exit code of a mismatch, a machine's text, the
progress bar, and the table of the transformers behind a verification."""

from __future__ import annotations

import contextlib
import os
import sys
import time
import warnings
from collections.abc import Iterator
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from turing.engines import Batch
from turing.machine import Machine, MachineSpecError

MISMATCH = 1
"""The exit code of a verification that found a mismatch."""


PIPE_WIDTH = 240
"""The width tables may take when the output is no terminal (a pipe, a file)."""


class _OutputConsole(Console):
    """A rich console whose closed pipe is a `BrokenPipeError`, which `rasp_toolkit.cli.main`
    turns into the Unix exit code 141: rich's own handling exits 1, the code of a failed
    verification, so `rasp tm verify ... | head` read as a mismatch."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError


def output_console() -> Console:
    """A console for the commands' tables: a terminal's own width, or, into a pipe or a file,
    PIPE_WIDTH (rich assumes 80 columns there and cut headers to `machin…` and figures to
    `413,8…`); $COLUMNS, where set, still decides."""
    console = _OutputConsole(highlight=False)
    if console.is_terminal or "COLUMNS" in os.environ:
        return console
    return _OutputConsole(highlight=False, width=PIPE_WIDTH)


def machine_text(machine: Machine) -> str:
    """The shortest form that reads back: busy-beaver notation when there is one, else JSON."""
    try:
        return machine.to_text()
    except MachineSpecError:
        return machine.to_json()


def progress_bar(label: str, console: Console, quiet: bool) -> Progress:
    """A progress bar on `console` (stderr), hidden with `quiet` (--json) or off a terminal."""
    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=quiet or not console.is_terminal,
    )


class GenerationProgress:
    """Lines on stderr while one long generation runs (`tm run` with the compiled engine): every
    `every` seconds, the tokens generated, the speed and an estimate of the time left against
    the most the run can generate.  A plain line, not a bar, so that a log keeps it."""

    def __init__(self, every: float = 10.0, stream: TextIO | None = None) -> None:
        self.every = every
        self.stream = stream or sys.stderr
        self.start: tuple[float, int] | None = None  # the first report: the clock starts there
        self.last = 0.0

    def __call__(self, generated: int, total: int) -> None:
        now = time.perf_counter()
        if self.start is None:
            self.start, self.last = (now, generated), now
        if now - self.last < self.every:
            return
        self.last = now
        began, before = self.start
        rate = (generated - before) / max(now - began, 1e-9)
        left = (total - generated) / rate if rate > 0 else float("inf")
        print(
            f"generated {generated:,} of at most {total:,} tokens ({100 * generated / max(total, 1):.1f}%), "
            f"{rate:,.0f} tokens/s, at most {_duration(left)} left",
            file=self.stream,
            flush=True,
        )


def _duration(seconds: float) -> str:
    if seconds == float("inf"):
        return "an unknown time"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def batch_table(
    batches: list[Batch], title: str = "the transformers: one batch, one XLA compilation per model length"
) -> Table:
    """The compiled models behind a verification: one row per batch (one XLA compilation)."""
    table = Table(title=title)
    padded = any(batch.padded_to is not None for batch in batches)
    columns = ["max len", *(["inputs padded to"] if padded else []), "machines", "dtype", "layers", "width"]
    for column in (*columns, "MLP units", "params", "s"):
        table.add_column(column, justify="right")
    for batch in batches:
        summary = batch.summary
        table.add_row(
            str(batch.max_seq_len),
            *([str(batch.padded_to)] if padded else []),
            str(batch.machines),
            batch.dtype,
            str(summary["layers"]),
            str(summary["residual_width"]),
            f"{summary['mlp_hidden_total']:,}",
            f"{summary['params']:,}",
            f"{batch.seconds:.1f}",
        )
    return table


@contextlib.contextmanager
def warnings_on_stderr() -> Iterator[None]:
    """Warnings (a run longer than the compiled model is known to be exact for) as one plain
    line on stderr, when they are raised: before the run starts."""
    previous = warnings.showwarning

    def show(message: Warning | str, *_: Any, **__: Any) -> None:
        print(f"warning: {message}", file=sys.stderr)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = previous
