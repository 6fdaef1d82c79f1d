"""The playground page in a real browser: headless Debian Chromium driven by Playwright against
`rasp serve` started as a subprocess, as a user would start it.

One server and one browser serve the whole module (starting them takes a few seconds); each test
opens a fresh browser context (its own cookie jar) on the address the server printed. The flows
are the issue's: values as you type, an error at its line, a compile whose check passes, BB(2)'s
run and space-time diagram, a runaway program stopped while the page keeps working, requests
without the token refused, the share link, the library picker, the step slider, the verify
progress bar. The page's CSP forbids `eval`, so the waits use selectors and `expect`, never
`wait_for_function` with a string.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from rasp_toolkit.playground import jobs
from rasp_toolkit.playground.headless import chromium, served

TOKEN = "browser-test-token"
TIME_LIMIT = 3
JOB_TIMEOUT = 120_000
"""Milliseconds the slow views (compile, machine attention, verification) may take on a busy machine."""

BB2 = "1RB1LB_1LA1RZ"
RUNAWAY = "y = 0;\nfor i in range(100000000) { y = y + 1; }\n"
"""A program the server stops at its time limit: a hundred million loop iterations in the interpreter."""

REVERSE = "flip = select(indices, length - indices - 1, ==);\nreverse = aggregate(flip, tokens);\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`rasp serve` on a free port, in a folder of its own; yields the address it printed."""
    with served(tmp_path_factory.mktemp("served"), ["--token", TOKEN, "--time-limit", str(TIME_LIMIT)]) as address:
        yield address


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def base_of(address: str) -> str:
    """`http://127.0.0.1:PORT` of the printed `http://127.0.0.1:PORT/?token=T`."""
    return address.split("/?", 1)[0]


@pytest.fixture
def page(server: str, browser: Browser) -> Iterator[Page]:
    """A fresh context opened on the printed address, the first evaluation shown."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.goto(server)
    ready(opened)
    yield opened
    context.close()
    assert not errors, f"the page raised: {errors}"


def ready(page: Page) -> None:
    """Wait until the page has shown its first evaluation."""
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)


def eval_count(page: Page) -> int:
    return int(page.evaluate("() => window.__playground.evalCount"))


def wait_for_evaluation(page: Page, after: int, timeout: float = 30.0) -> None:
    """Poll (from Python: the page's CSP forbids string evaluation) until an evaluation newer than
    `after` has been rendered."""
    deadline = time.monotonic() + timeout
    while eval_count(page) <= after:
        if time.monotonic() > deadline:
            raise AssertionError(f"no evaluation after #{after} within {timeout} s")
        page.wait_for_timeout(25)


def type_program(page: Page, source: str, input_text: str | None = None) -> None:
    """Replace the program (and the input) and wait for the values of the new text."""
    before = eval_count(page)
    page.fill("#source", source)
    if input_text is not None:
        page.fill("#input", input_text)
    wait_for_evaluation(page, before)
    # a burst of edits is one debounced evaluation; one more may follow the input's edit
    page.wait_for_timeout(300)
    wait_until_settled(page)


def wait_until_settled(page: Page) -> None:
    count = eval_count(page)
    page.wait_for_timeout(300)
    while eval_count(page) != count:
        count = eval_count(page)
        page.wait_for_timeout(300)


def row_values(page: Page, name: str) -> list[str]:
    return page.locator(f"#values-table tbody tr[data-name='{name}'] td").all_inner_texts()


def reference_run(max_steps: int = 10) -> dict[str, Any]:
    return jobs.run_turing({"spec": BB2, "tape": "", "max_steps": max_steps, "engine": "reference"})


# ---------------------------------------------------------------------------------- flows


def test_typing_a_program_shows_its_values_and_selectors(page: Page) -> None:
    type_program(page, "same = select(tokens, tokens, ==);\nn = selector_width(same);\ndouble = indices * 2;", "abca")
    header = page.locator("#values-table thead th").all_inner_texts()
    assert header[1:] == ["a", "b", "c", "a"]
    assert row_values(page, "n") == ["2", "1", "1", "2"]
    assert row_values(page, "double") == ["0", "2", "4", "6"]
    # the selector's picture: one cell per (query, key) pair, filled where the tokens are equal
    figure = page.locator("#selectors figure[data-name='same']")
    expect(figure).to_be_visible()
    assert figure.locator("rect").count() == 16
    assert figure.locator("rect[fill='#1f2933']").count() == 6  # a·a four times, b·b, c·c
    assert page.locator("#errors li").count() == 0


def test_an_error_is_shown_at_its_line(page: Page) -> None:
    type_program(page, "a = tokens;\nb = indices + 1;\nc = (a == ;\nd = length;", "xyz")
    error = page.locator("#errors li").first
    expect(error).to_contain_text("line 3")
    expect(page.locator("#gutter div[data-line='3']")).to_have_class("err")
    expect(page.locator("#gutter div[data-line='2']")).not_to_have_class("err")
    assert page.locator("#highlight .line-err").count() == 1
    assert page.locator("#highlight .col-err").count() == 1
    # the statements around the error still give their values
    assert row_values(page, "b") == ["1", "2", "3"]
    assert row_values(page, "d") == ["3", "3", "3"]
    # clicking the error's place puts the caret on line 3
    error.get_by_role("button").click()
    caret_line = page.evaluate("() => { const a = document.getElementById('source');"
                               " return a.value.slice(0, a.selectionStart).split('\\n').length; }")
    assert caret_line == 3


def test_a_compile_passes_its_check(page: Page) -> None:
    type_program(page, REVERSE, "abcab")
    assert row_values(page, "reverse") == ["b", "a", "c", "b", "a"]
    page.click("#tab-compile")
    expect(page.locator("#compile-name")).to_have_value("reverse")
    page.fill("#vocab", "a,b,c")
    page.fill("#max-len", "5")
    page.fill("#check-count", "40")
    page.click("#compile-btn")
    check = page.locator("#compile-check")
    expect(check).to_have_class("badge pass", timeout=JOB_TIMEOUT)
    expect(check).to_contain_text("model = interpreter on")
    assert page.locator("#compile-summary dd[data-key='layers']").inner_text().isdigit()
    assert page.locator("#compile-layout tbody tr").count() >= 1
    heads = page.locator("#compile-heads .head-card")
    assert heads.count() >= 1
    # the head that implements `flip`: its attention beside the selector
    assert page.locator("#compile-heads .head-card figure").count() >= 2
    outputs = page.locator("#compile-outputs tbody tr").all_inner_texts()
    assert any(row.split() == ["model", "b", "a", "c", "b", "a"] for row in outputs)
    # the downloads are served to the page's cookie
    for kind in ("npz", "safetensors"):
        href = page.locator(f"#compile-downloads a[data-kind='{kind}']").evaluate("a => a.href")
        assert href.startswith("http://127.0.0.1:")
        response = page.request.get(href)
        assert response.status == 200 and len(response.body()) > 100


def test_bb2_runs_six_steps_and_matches_the_reference(page: Page) -> None:
    page.click("#tab-turing")
    famous = page.locator("#famous")
    expect(famous.locator("option", has_text="BB(2)")).to_have_count(1)
    famous.select_option(label="BB(2)")
    expect(page.locator("#tm-spec")).to_have_value(BB2)
    page.select_option("#tm-engine", "interpreter")
    page.click("#tm-run")
    summary = page.locator("#tm-summary")
    expect(summary).to_contain_text("6 steps", timeout=JOB_TIMEOUT)
    expect(summary).to_contain_text("halted")
    expect(summary.locator("[data-matches='true']")).to_have_count(1)
    # the diagram: 7 configurations (steps 0..6), the head outlined on each
    diagram = page.locator("#tm-diagram svg")
    expect(diagram).to_have_attribute("aria-label", "space-time diagram: 7 configurations over 4 cells")
    assert diagram.locator("rect[stroke='#d62d20']").count() == 7
    # the last configuration shown is the reference's last one
    reference = reference_run()
    assert reference["steps"] == 6 and reference["halted"]
    expect(page.locator("#tm-trace-line")).to_have_text(reference["trace"][-1])
    tape = page.locator("#tm-config .cell").all_inner_texts()
    assert "".join(cell.replace("Z", "").strip() for cell in tape) == "1111"  # BB(2) leaves four ones


def test_the_step_slider_changes_the_configuration(page: Page) -> None:
    page.click("#tab-turing")
    page.fill("#tm-spec", BB2)
    page.fill("#tm-max-steps", "10")
    page.click("#tm-run")
    expect(page.locator("#tm-summary")).to_contain_text("6 steps", timeout=JOB_TIMEOUT)
    reference = reference_run()
    config = page.locator("#tm-config")
    expect(config).to_have_attribute("data-step", "6")
    last = config.inner_text()
    highlight_y = page.locator("#tm-row-highlight").get_attribute("y")
    slider = page.locator("#tm-step")
    slider.focus()
    for _ in range(4):
        page.keyboard.press("ArrowLeft")  # the keyboard moves the slider, as a user would
    expect(config).to_have_attribute("data-step", "2")
    expect(page.locator("#tm-step-label")).to_have_text("2 / 6")
    expect(page.locator("#tm-trace-line")).to_have_text(reference["trace"][2])
    assert config.inner_text() != last
    assert page.locator("#tm-row-highlight").get_attribute("y") != highlight_y
    # where the compiled model attends while it writes configuration 2
    page.click("#tm-attend")
    expect(page.locator("#tm-attention figure").first).to_be_visible(timeout=JOB_TIMEOUT)
    assert page.locator("#tm-attention figure rect").count() > 0


def test_a_runaway_program_is_stopped_and_the_page_keeps_working(page: Page) -> None:
    before = eval_count(page)
    page.fill("#source", RUNAWAY)
    status = page.locator("#status")
    expect(status).to_have_class("status stopped", timeout=(TIME_LIMIT + 30) * 1000)
    expect(status).to_contain_text("Stopped")
    expect(status).to_contain_text(f"{TIME_LIMIT} s")
    assert eval_count(page) == before  # no values were shown for the runaway program
    type_program(page, "after = indices + 10;", "ab")
    assert row_values(page, "after") == ["10", "11"]
    expect(status).not_to_have_class("status stopped")


def test_requests_without_the_token_are_refused(server: str, browser: Browser) -> None:
    base = base_of(server)
    for request in (
        urllib.request.Request(base + "/"),
        urllib.request.Request(base + "/api/initial"),
        urllib.request.Request(base + "/api/evaluate", method="POST", headers={"Content-Type": "application/json"},
                               data=json.dumps({"source": "x = indices;", "input": "ab", "causal": False}).encode()),
    ):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 403
    # a wrong token is refused too
    with pytest.raises(urllib.error.HTTPError) as wrong:
        urllib.request.urlopen(base + "/?token=not-the-token", timeout=10)
    assert wrong.value.code == 403
    # a browser that opens the address without the token sees the refusal, not the playground
    context = browser.new_context()
    try:
        page = context.new_page()
        response = page.goto(base + "/")
        assert response is not None and response.status == 403
        expect(page.locator("body")).to_contain_text("Refused")
        assert page.locator("#source").count() == 0
    finally:
        context.close()


def test_a_share_link_restores_the_program_and_input(page: Page) -> None:
    source = "# shared ünïcode program\nshout = tokens + \"!\";\nwhere = indices;"
    type_program(page, source, "héllo")
    page.click("#share-btn")
    link = page.locator("#share-url")
    expect(link).to_be_visible()
    url = link.input_value()
    assert "#src=" in url and "token" not in url
    expect(page.locator("#status")).to_contain_text("Share link")
    restored = page.context.new_page()
    restored.goto(url)
    ready(restored)
    assert restored.locator("#source").input_value() == source
    assert restored.locator("#input").input_value() == "héllo"
    assert row_values(restored, "shout") == ["h!", "é!", "l!", "l!", "o!"]
    restored.close()


def test_the_token_leaves_the_address_bar_and_the_fragment_stays(server: str, browser: Browser) -> None:
    """A fresh browser opening the printed address with a program's fragment: the page drops the
    token from the address and keeps the fragment, so the program is shown."""
    context = browser.new_context()
    try:
        fresh = context.new_page()
        encoded = base64.urlsafe_b64encode(b"tripled = indices * 3;").decode().rstrip("=")
        fresh.goto(f"{server}#src={encoded}&input=abcd")
        ready(fresh)
        assert "token" not in fresh.url and fresh.url.endswith(f"/#src={encoded}&input=abcd")
        assert fresh.locator("#source").input_value() == "tripled = indices * 3;"
        assert row_values(fresh, "tripled") == ["0", "3", "6", "9"]
    finally:
        context.close()


def test_the_library_picker_loads_sort(page: Page) -> None:
    picker = page.locator("#library")
    expect(picker.locator("option[value='lib/sort.rasp']")).to_have_count(1)
    before = eval_count(page)
    picker.select_option("lib/sort.rasp")
    wait_for_evaluation(page, before)
    expect(page.locator("#program-name")).to_have_text("lib/sort.rasp")
    source = page.locator("#source").input_value()
    assert source == (Path(__file__).parents[2] / "programs" / "lib" / "sort.rasp").read_text(encoding="utf-8")
    expect(page.locator("#values-table tbody tr[data-name='sorted']")).to_have_count(1)
    # the highlighted copy carries the program's keywords
    assert page.locator("#highlight .tok-builtin", has_text="selector_width").count() == 1
    wait_until_settled(page)
    count = eval_count(page)
    page.fill("#input", "[5, 2, 7, 1]")
    wait_for_evaluation(page, count)
    wait_until_settled(page)
    assert row_values(page, "sorted") == ["1", "2", "5", "7"]


def test_the_layers_view_shows_the_drawing(page: Page) -> None:
    type_program(page, REVERSE, "abc")
    page.locator("#layers-panel summary").click()
    image = page.locator("#layers-img")
    expect(image).to_be_visible(timeout=JOB_TIMEOUT)
    assert image.get_attribute("src").startswith("data:image/svg+xml")
    assert page.evaluate("() => document.getElementById('layers-img').naturalWidth") > 0


def test_verify_fills_its_progress_bar(page: Page) -> None:
    page.click("#tab-turing")
    page.fill("#vf-count", "6")
    page.fill("#vf-max-steps", "10")
    page.select_option("#vf-engine", "interpreter")
    page.click("#verify-btn")
    result = page.locator("#verify-result .badge")
    expect(result).to_be_visible(timeout=JOB_TIMEOUT)
    expect(result).to_have_attribute("data-machines", "6")
    expect(result).to_have_attribute("data-matching", "6")
    bar = page.locator("#verify-progress")
    assert bar.get_attribute("max") == "6"
    assert page.evaluate("() => document.getElementById('verify-progress').value") == 6
    expect(page.locator("#verify-count")).to_have_text("6 / 6")


# ---------------------------------------------------------------------------- measurements


def test_page_load_and_reevaluation_times_are_measured(page: Page) -> None:
    """Reported, not asserted (benchmarks/playground_timings.py takes the median of many runs)."""
    loaded = page.evaluate("() => window.__playground.firstValuesAt")
    before = eval_count(page)
    page.locator("#library").select_option("lib/sort.rasp")
    wait_for_evaluation(page, before)
    wait_until_settled(page)
    count = eval_count(page)
    page.fill("#input", "[" + ", ".join(str((7 * i) % 10) for i in range(20)) + "]")
    wait_for_evaluation(page, count)
    timing = page.evaluate("() => window.__playground")
    delay = timing["lastRenderedAt"] - timing["lastRequestedAt"]
    assert len(row_values(page, "sorted")) == 20
    print(f"\npage load to first values: {loaded:.0f} ms; sort re-evaluation at 20 tokens: {delay:.0f} ms "
          "(from the edit, with the page's 80 ms pause after typing)")


def test_the_tabs_work_from_the_keyboard(page: Page) -> None:
    page.locator("#tab-program").focus()
    page.keyboard.press("ArrowRight")
    expect(page.locator("#tab-compile")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#panel-compile")).to_be_visible()
    expect(page.locator("#panel-program")).to_be_hidden()
    page.keyboard.press("ArrowRight")
    expect(page.locator("#tab-turing")).to_be_focused()
    expect(page.locator("#panel-turing")).to_be_visible()
    page.keyboard.press("Enter")  # a real button: Enter keeps the tab
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#panel-program")).to_be_visible()
    # every form control of the page has a label
    unlabelled = page.evaluate(
        "() => [...document.querySelectorAll('input, select, textarea')]"
        ".filter(e => e.type !== 'hidden' && e.labels.length === 0 && !e.closest('label')).map(e => e.id)"
    )
    assert unlabelled == []
