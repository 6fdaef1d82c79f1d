"""Regenerate the playground's screenshots (docs/playground.md) in headless Debian Chromium:

    python docs/playground_screenshots.py

`rasp serve` runs as a subprocess on a free port, with the repository's `programs/` as its served
folder; Playwright (the `playwright` package, no browser download) drives /usr/bin/chromium and
saves one 1280x900 PNG per view in docs/images/: playground-editor.png (the program, its values,
selectors and layer drawing), playground-compile.png, playground-turing.png and
playground-verify.png.
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from rasp_toolkit.playground.headless import chromium, served

IMAGES = Path(__file__).resolve().parent / "images"
PROGRAMS = Path(__file__).resolve().parents[1] / "programs"
VIEWPORT = {"width": 1280, "height": 900}
SLOW = 180_000
"""Milliseconds a compile, a machine's attention or a verification may take."""


def shoot(page: Page, name: str) -> None:
    path = IMAGES / name
    page.wait_for_timeout(300)  # let the last paint settle
    page.screenshot(path=path)
    print(f"{path.relative_to(IMAGES.parents[1])}: {path.stat().st_size // 1024} KiB")


def editor(page: Page) -> None:
    """hello.rasp with its values, its selectors and the layer drawing of `reverse`."""
    expect(page.locator("#values-table tbody tr[data-name='reverse']")).to_have_count(1)
    page.locator("#layers-panel summary").click()
    page.select_option("#draw-name", "reverse")
    expect(page.locator("#layers-img")).to_be_visible(timeout=SLOW)
    shoot(page, "playground-editor.png")


def compiled(page: Page) -> None:
    """`reverse` compiled over h,e,l,o and checked against the interpreter."""
    page.click("#tab-compile")
    page.select_option("#compile-name", "reverse")
    page.fill("#vocab", "h,e,l,o")
    page.fill("#max-len", "8")
    page.fill("#check-count", "200")
    page.select_option("#attention", "hard")
    page.click("#compile-btn")
    expect(page.locator("#compile-check.pass")).to_be_visible(timeout=SLOW)
    shoot(page, "playground-compile.png")


def turing(page: Page) -> None:
    """BB(3) run by the RASP interpreter, the slider on step 12, where the compiled model attends."""
    page.click("#tab-turing")
    page.locator("#famous").select_option(label="BB(3)")
    page.select_option("#tm-engine", "interpreter")
    page.click("#tm-run")
    expect(page.locator("#tm-summary [data-matches='true']")).to_be_visible(timeout=SLOW)
    slider = page.locator("#tm-step")
    slider.focus()
    for _ in range(9):
        page.keyboard.press("ArrowLeft")
    expect(page.locator("#tm-config")).to_have_attribute("data-step", "12")
    page.click("#tm-attend")
    expect(page.locator("#tm-attention figure").first).to_be_visible(timeout=SLOW)
    page.evaluate("() => window.scrollTo(0, 0)")
    shoot(page, "playground-turing.png")


def verify(page: Page) -> None:
    """100 random 2-state machines through the RASP interpreter, checked against the reference."""
    page.click("#tab-turing")
    page.fill("#vf-count", "100")
    page.fill("#vf-max-steps", "30")
    page.select_option("#vf-engine", "interpreter")
    page.click("#verify-btn")
    expect(page.locator("#verify-result .badge")).to_be_visible(timeout=SLOW)
    page.locator("#verify-form").scroll_into_view_if_needed()
    page.evaluate("() => window.scrollTo(0, document.getElementById('verify-form').offsetTop - 80)")
    shoot(page, "playground-verify.png")


def main() -> None:
    IMAGES.mkdir(exist_ok=True)
    options = ["--root", str(PROGRAMS), str(PROGRAMS / "examples" / "hello.rasp")]
    with served(PROGRAMS, options) as address, chromium() as browser:
        for view in (editor, compiled, turing, verify):
            context = browser.new_context(viewport=VIEWPORT)
            page = context.new_page()
            page.goto(address)
            page.wait_for_selector("body[data-ready='1']", timeout=60_000)
            view(page)
            context.close()


if __name__ == "__main__":
    main()
