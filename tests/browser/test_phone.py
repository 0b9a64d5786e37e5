"""The built book on a phone: 390 × 844 CSS pixels, touch screen, no network.

For every page of ``_build/html`` (``make book``):

* tapping ☰ opens the table of contents, and a link to another chapter is on
  screen; tapping the page-contents button shows a link to a section of the page;
* no formula is cut off: a formula wider than the column either scrolls
  sideways inside its own box or fits on the screen;
* every figure of a chapter or a solutions page stays legible: its tick labels (the
  book's style draws them at ``xtick.labelsize`` points) are at least 8 CSS pixels
  high once the image has been shrunk to the column, computed from the resolution
  stored in the PNG;
* a chapter's figures are stored at two device pixels or more per CSS pixel, so
  they are sharp on high-resolution screens (on the solutions pages this is not
  checked yet).

The page weight (every byte the page loaded) and the widget scripts loaded are
recorded too.

Each page is opened once (the ``visit`` fixture) and the three tests read what that
visit found: the page is measured as loaded; on a chapter the page-contents button is
then tapped and its panel closed again with Escape (the page is reloaded if it does
not close), and then ☰ is tapped.

What each page measured is written to ``_build/phone_report.json``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from PIL import Image

from ddpm_lessons.style import STYLE

from .conftest import PHONE_VIEWPORT, PageWatch, StaticServer, unavailable
from .test_static_book import BUILD, PAGE_LOAD_TIMEOUT_MS, PAGES, _wait_until_ready

pytestmark = pytest.mark.browser

REPORT = Path(os.environ.get("DDPM_PHONE_REPORT", BUILD.parent / "phone_report.json"))
TICK_LABEL_PT = float(STYLE["xtick.labelsize"])
MIN_LABEL_CSS_PX = 8.0
MIN_DEVICE_PIXELS_PER_CSS_PIXEL = 2.0
# Chapter pages: they have a page-contents menu and links to other chapters.
CHAPTERS = [rel for rel in PAGES if re.match(r"book/\d\d_|book/(appendix|conclusion)\.html", rel)]

MEASURE_JS = r"""
() => {
  const clipped = [];
  const viewport = document.documentElement.clientWidth;
  const scrolls = (el) => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
  for (const box of document.querySelectorAll('span.math, div.math')) {
    const jax = box.querySelector('mjx-container');
    if (!jax) continue;
    const rect = jax.getBoundingClientRect();
    const text = (box.querySelector('mjx-assistive-mml') || box).textContent.trim().slice(0, 60);
    // Cut off: the formula's box reaches past an ancestor that hides its overflow,
    // or past the screen with no scrolling box on the way.
    let canScroll = false;
    let cut = false;
    for (let el = jax.parentElement; el && el !== document.body; el = el.parentElement) {
      if (scrolls(el)) { canScroll = true; break; }
      const overflow = getComputedStyle(el).overflowX;
      const r = el.getBoundingClientRect();
      if ((overflow === 'hidden' || overflow === 'clip') && rect.right > r.right + 1) {
        cut = true; break;
      }
    }
    if (cut || (!canScroll && rect.right > viewport + 1)) {
      clipped.push(`${text} (right edge at ${Math.round(rect.right)} px of ${viewport})`);
    }
  }
  const figures = Array.from(document.querySelectorAll('.cell_output img'))
    .filter((img) => !img.closest('.animation') && /\.png$/i.test(new URL(img.src).pathname))
    .map((img) => ({src: img.src, shown: img.getBoundingClientRect().width,
                    natural: img.naturalWidth}));
  const resources = performance.getEntriesByType('resource');
  const nav = performance.getEntriesByType('navigation')[0];
  const bytes = resources.reduce((sum, r) => sum + (r.encodedBodySize || 0), 0)
    + (nav ? nav.encodedBodySize || 0 : 0);
  const scripts = resources.map((r) => r.name).filter((n) => /\.js(\?|$)/.test(n));
  return {clipped, figures, bytes, scripts, viewport};
}
"""


# The two buttons of a chapter on a phone, and the links each one should bring on screen.
MENU = (".primary-toggle", "nav.bd-links a.reference.internal")
CONTENTS = (".secondary-toggle", "#pst-page-toc-nav a, .page-toc a")
# A tapped button opens its panel as a modal <dialog>; Escape closes it again.
PANEL_OPEN_JS = """() => {
  const panel = document.querySelector('dialog[open]');
  return !!panel && panel.getAnimations({subtree: true}).every((a) => a.playState !== 'running');
}"""
PANEL_CLOSED_JS = """() => !document.querySelector('dialog[open]') && document.getAnimations().every(
  (a) => a.playState !== 'running' || a.effect?.getTiming().iterations === Infinity)"""
PANEL_TIMEOUT_MS = 5_000


@pytest.fixture(scope="module")
def server():
    if not any(BUILD.glob("*.html")):
        unavailable(f"the book is not built: {BUILD} has no HTML pages (run `make book`)")
    with StaticServer(BUILD) as srv:
        yield srv


@pytest.fixture(scope="module")
def report():
    measured: dict[str, dict] = {}
    yield measured
    if measured:
        REPORT.parent.mkdir(parents=True, exist_ok=True)
        old = json.loads(REPORT.read_text(encoding="utf8")) if REPORT.is_file() else {}
        for rel, values in measured.items():
            old.setdefault(rel, {}).update(values)
        REPORT.write_text(json.dumps(old, indent=1, sort_keys=True) + "\n", encoding="utf8")


@dataclass
class PhoneVisit:
    """What one visit to a page on the phone found, in the order it was done.

    ``measured``: MEASURE_JS on the page as loaded.  ``links[button]``: on a chapter,
    the links on screen after tapping ``button`` (MENU or CONTENTS; None if no such
    button is visible), each tap made on the page as loaded, its panel closed after.
    ``errors[button]``: what went wrong while tapping it, reported by its test.
    """

    measured: dict
    links: dict[tuple, list[str] | None] = field(default_factory=dict)
    errors: dict[tuple, Exception] = field(default_factory=dict)

    def links_after_tapping(self, button: tuple) -> list[str] | None:
        if button in self.errors:
            raise self.errors[button]
        return self.links[button]


def _load(page, url: str, reload: bool = False) -> None:
    if reload:
        page.reload(wait_until="load", timeout=PAGE_LOAD_TIMEOUT_MS)
    else:
        page.goto(url, wait_until="load", timeout=PAGE_LOAD_TIMEOUT_MS)
    _wait_until_ready(page)


def _settle(page, condition: str) -> bool:
    """Wait until ``condition`` (JS) holds; False if it did not within PANEL_TIMEOUT_MS."""
    try:
        page.wait_for_function(condition, timeout=PANEL_TIMEOUT_MS)
        return True
    except Exception:  # noqa: BLE001 - what is on screen is checked all the same
        return False


def _tap_and_read(page, button: tuple) -> tuple[list[str] | None, bool]:
    """Tap the visible ``button[0]``, read the hrefs of the ``button[1]`` links then on screen
    (None if no such button is visible) and close its panel with Escape.

    Returns the hrefs and whether the page is back as it was (the panel closed)."""
    toggle_selector, link_selector = button
    toggle = _visible_one(page, toggle_selector)
    if toggle is None:
        return None, True
    toggle.tap()
    _settle(page, PANEL_OPEN_JS)
    links = _links_on_screen(page, link_selector)
    page.keyboard.press("Escape")
    return links, _settle(page, PANEL_CLOSED_JS)


def _visit_on_phone(context, url: str, rel: str) -> PhoneVisit:
    watch = PageWatch.open(context)
    try:
        page = watch.page
        _load(page, url)
        visit = PhoneVisit(measured=page.evaluate(MEASURE_JS))
        if rel not in CHAPTERS:
            return visit
        fresh = True
        for button in (CONTENTS, MENU):
            try:
                if not fresh:
                    _load(page, url, reload=True)
                visit.links[button], fresh = _tap_and_read(page, button)
            except Exception as err:  # noqa: BLE001 - reported by this button's test
                visit.errors[button] = err
                fresh = False
        return visit
    finally:
        watch.close()


@pytest.fixture(scope="module")
def visit(phone_context, server):
    """visit(rel) -> PhoneVisit; each page is opened once on the phone and the result reused."""
    visits: dict[str, PhoneVisit | Exception] = {}

    def _visit(rel: str) -> PhoneVisit:
        if rel == "<no build>":
            unavailable(f"the book is not built: {BUILD} has no HTML pages (run `make book`)")
        if isinstance(visits.get(rel), Exception):
            raise AssertionError(f"{rel} could not be checked on a phone: {visits[rel]}")
        if rel not in visits:
            try:
                visits[rel] = _visit_on_phone(phone_context, server.url + rel, rel)
            except Exception as err:
                visits[rel] = err
                raise
        return visits[rel]

    return _visit


def _visible_one(page, selector: str):
    buttons = page.locator(selector)
    for k in range(buttons.count()):
        if buttons.nth(k).is_visible():
            return buttons.nth(k)
    return None


def _links_on_screen(page, selector: str) -> list[str]:
    """hrefs of the links matching ``selector`` that are visible inside the viewport."""
    return page.evaluate(
        """([selector, w, h]) => Array.from(document.querySelectorAll(selector)).filter((a) => {
             const r = a.getBoundingClientRect();
             const style = getComputedStyle(a);
             return r.width > 0 && r.height > 0 && style.visibility !== 'hidden'
               && r.left >= 0 && r.right <= w && r.top >= 0 && r.bottom <= h
               && document.elementFromPoint(r.left + Math.min(r.width / 2, 20), r.top + r.height / 2)
                    ?.closest('a') === a;
           }).map((a) => a.href)""",
        [selector, PHONE_VIEWPORT["width"], PHONE_VIEWPORT["height"]],
    )


@pytest.mark.parametrize("rel", CHAPTERS or ["<no build>"])
def test_menu_button_opens_the_table_of_contents(visit, server, report, rel):
    links = visit(rel).links_after_tapping(MENU)
    assert links is not None, f"{rel}: no visible ☰ button on a phone"
    this = urlsplit(server.url + rel).path
    others = [
        href for href in links
        if urlsplit(href).path != this and "/book/" in urlsplit(href).path
    ]
    report.setdefault(rel, {})["toc_opens"] = bool(others)
    assert others, f"{rel}: after tapping ☰ no link to another chapter is on screen"


@pytest.mark.parametrize("rel", CHAPTERS or ["<no build>"])
def test_contents_button_shows_the_sections_of_the_page(visit, server, report, rel):
    links = visit(rel).links_after_tapping(CONTENTS)
    assert links is not None, f"{rel}: no visible page-contents button on a phone"
    this = urlsplit(server.url + rel).path
    sections = [
        href for href in links
        if urlsplit(href).path == this and urlsplit(href).fragment
    ]
    report.setdefault(rel, {})["contents_opens"] = bool(sections)
    assert sections, f"{rel}: after tapping the contents button no section link is on screen"


@pytest.mark.parametrize("rel", PAGES)
def test_formulas_and_figures_fit_a_phone(visit, report, rel):
    data = visit(rel).measured
    entry = report.setdefault(rel, {})
    entry["clipped_formulas"] = len(data["clipped"])
    entry["page_kb"] = round(data["bytes"] / 1000)
    entry["widget_scripts"] = sorted(
        {Path(urlsplit(s).path).name for s in data["scripts"]} & {"require.js", "embed-amd.js"}
    )
    problems = [f"formula cut off: {text}" for text in data["clipped"]]
    smallest = None
    for figure in data["figures"]:
        path = BUILD / unquote(urlsplit(figure["src"]).path).lstrip("/")
        with Image.open(path) as image:
            dpi = float(image.info.get("dpi", (72.0, 72.0))[0])
        shown = figure["shown"] / figure["natural"]          # CSS px per image pixel
        label = TICK_LABEL_PT / 72.0 * dpi * shown          # CSS px of a tick label
        smallest = label if smallest is None else min(smallest, label)
        name = path.name[:12]
        if label < MIN_LABEL_CSS_PX:
            problems.append(f"figure {name}…: tick labels {label:.1f} CSS px high (< {MIN_LABEL_CSS_PX})")
        if rel.startswith("book/") \
                and figure["natural"] / max(figure["shown"], 1.0) < MIN_DEVICE_PIXELS_PER_CSS_PIXEL - 0.01 \
                and figure["shown"] >= PHONE_VIEWPORT["width"] * 0.5:
            problems.append(
                f"figure {name}…: {figure['natural']} px stored for {figure['shown']:.0f} CSS px "
                f"(< {MIN_DEVICE_PIXELS_PER_CSS_PIXEL:g}×)"
            )
    entry["smallest_tick_label_px"] = None if smallest is None else round(smallest, 1)
    entry["figures"] = len(data["figures"])
    assert not problems, f"{rel} on a 390 px phone:\n  " + "\n  ".join(problems[:20])
