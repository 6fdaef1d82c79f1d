"""The playground as a user starts it, and a headless browser to look at it: what the browser
tests (tests/playground/test_browser.py), the timing benchmark (benchmarks/playground_timings.py)
and the screenshots (docs/playground_screenshots.py) share.

The browser is Debian's Chromium (`apt-get install chromium`), driven by the PyPI `playwright`
package, which is pointed at it and so downloads no browser of its own. Playwright comes with
the `test` extra; it is imported only when a browser is launched.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--no-sandbox",  # the tests may run as root, where Chromium's sandbox will not start
    "--disable-gpu",
    # no connections to Google's services: the machines CI runs on have no network to reach
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)
START_TIMEOUT = 60.0
"""Seconds `rasp serve` may take to print its address on a busy machine."""


@contextmanager
def served(folder: Path, options: Sequence[str] = ()) -> Iterator[str]:
    """`rasp serve --no-browser --port 0 OPTIONS` run in `folder` as a subprocess; yields the
    address it printed (with its token) and stops it afterwards."""
    command = [sys.executable, "-m", "rasp_toolkit.cli", "serve", "--no-browser", "--port", "0", *options]
    process = subprocess.Popen(command, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(START_TIMEOUT)
    try:
        if not lines or not lines[0].startswith("http://127.0.0.1:"):
            process.kill()
            raise RuntimeError(f"rasp serve printed no address: {lines!r}; stderr: {process.stderr.read()!r}")  # type: ignore[union-attr]
        yield lines[0].strip()
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def chromium() -> Iterator[Any]:
    """Headless Debian Chromium under Playwright (a `playwright.sync_api.Browser`)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).is_file():
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install chromium (Debian's package; .ci/run installs it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            browser.close()
