"""How quickly the playground answers in a real browser: the page's load time (navigation start
to the values table of the first program shown) and the re-evaluation time of `lib/sort.rasp` on a
20-token input (the input edited, to the values table updated; the 80 ms pause after typing
included, and shown apart). Median, minimum and maximum over `--runs` runs.

`rasp serve` runs as a subprocess on a free port; the browser is headless Debian Chromium driven
by Playwright (`rasp_toolkit.playground.headless`; no browser download).

    python benchmarks/playground_timings.py [--runs 10] [--tokens 20]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
from pathlib import Path

from playwright.sync_api import Page
from rich.console import Console
from rich.table import Table

from rasp_toolkit.playground.headless import chromium, served

DEBOUNCE_MS = 80
"""The page waits this long after the last keystroke before it asks the server (playground.js)."""


def wait_for_evaluation(page: Page, after: int) -> None:
    """Until the page has rendered an evaluation newer than `after` (polled from here: the page's
    content security policy forbids the string evaluation `wait_for_function` uses)."""
    while page.evaluate("() => window.__playground.evalCount") <= after:
        page.wait_for_timeout(5)


def page_load(browser, address: str) -> tuple[float, float]:
    """(first open, reload) in ms: navigation start to the first values table, in a new browser
    context opening the printed address (the token's redirect and a new renderer included), then
    reloading the page in it."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    times = []
    for load in (page.goto, lambda _: page.reload()):
        load(address)
        page.wait_for_selector("body[data-ready='1']", timeout=60_000)
        times.append(page.evaluate("() => window.__playground.firstValuesAt"))
    context.close()
    return times[0], times[1]


def reevaluations(browser, address: str, runs: int, tokens: int) -> tuple[list[float], list[float]]:
    """(edit to values shown, request to values shown) in ms, per run."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(address)
    page.wait_for_selector("body[data-ready='1']", timeout=60_000)
    count = page.evaluate("() => window.__playground.evalCount")
    page.locator("#library").select_option("lib/sort.rasp")
    wait_for_evaluation(page, count)
    generator = random.Random(0)
    totals, requests = [], []
    for _ in range(runs + 1):  # the first is a warm-up
        count = page.evaluate("() => window.__playground.evalCount")
        page.fill("#input", "[" + ", ".join(str(generator.randrange(10)) for _ in range(tokens)) + "]")
        wait_for_evaluation(page, count)
        timing = page.evaluate("() => window.__playground")
        totals.append(timing["lastRenderedAt"] - timing["lastRequestedAt"])
        requests.append(timing["lastRenderedAt"] - timing["lastSentAt"])
        rows = page.locator("#values-table tbody tr[data-name='sorted'] td").count()
        assert rows == tokens, f"the values table shows {rows} positions, not {tokens}"
    context.close()
    return totals[1:], requests[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--tokens", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, served(Path(folder)) as address, chromium() as browser:
        page_load(browser, address)  # warm-up: the first load pays the worker's imports
        first_opens, reloads = zip(*(page_load(browser, address) for _ in range(args.runs)))
        totals, requests = reevaluations(browser, address, args.runs, args.tokens)
    table = Table(title=f"RASP playground in headless Chromium ({args.runs} runs, ms)")
    for column in ("measure", "median", "min", "max"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    rows = [
        ("page load to first values: first open (the printed address, a new context)", first_opens),
        ("page load to first values: reload", reloads),
        (f"sort, {args.tokens} tokens: edit to values (with the {DEBOUNCE_MS} ms debounce)", totals),
        (f"sort, {args.tokens} tokens: request to values (server + render)", requests),
    ]
    for name, values in rows:
        table.add_row(name, f"{statistics.median(values):.0f}", f"{min(values):.0f}", f"{max(values):.0f}")
    Console().print(table)


if __name__ == "__main__":
    main()
