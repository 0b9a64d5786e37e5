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

What each page measured is written to ``_build/phone_report.json``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from PIL import Image

from ddpm_lessons.style import STYLE

from .conftest import PHONE_VIEWPORT, PageWatch, StaticServer, unavailable
from .test_static_book import BUILD, PAGES, _wait_until_ready

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


def _open(phone_context, server, rel: str) -> PageWatch:
    if rel == "<no build>":
        unavailable(f"the book is not built: {BUILD} has no HTML pages (run `make book`)")
    watch = PageWatch.open(phone_context)
    watch.page.goto(server.url + rel, wait_until="load")
    _wait_until_ready(watch.page)
    return watch


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
def test_menu_button_opens_the_table_of_contents(phone_context, server, report, rel):
    watch = _open(phone_context, server, rel)
    try:
        page = watch.page
        button = _visible_one(page, ".primary-toggle")
        assert button is not None, f"{rel}: no visible ☰ button on a phone"
        button.tap()
        page.wait_for_timeout(400)
        this = urlsplit(server.url + rel).path
        others = [
            href for href in _links_on_screen(page, "nav.bd-links a.reference.internal")
            if urlsplit(href).path != this and "/book/" in urlsplit(href).path
        ]
        report.setdefault(rel, {})["toc_opens"] = bool(others)
        assert others, f"{rel}: after tapping ☰ no link to another chapter is on screen"
    finally:
        watch.close()


@pytest.mark.parametrize("rel", CHAPTERS or ["<no build>"])
def test_contents_button_shows_the_sections_of_the_page(phone_context, server, report, rel):
    watch = _open(phone_context, server, rel)
    try:
        page = watch.page
        button = _visible_one(page, ".secondary-toggle")
        assert button is not None, f"{rel}: no visible page-contents button on a phone"
        button.tap()
        page.wait_for_timeout(400)
        this = urlsplit(server.url + rel).path
        sections = [
            href for href in _links_on_screen(page, "#pst-page-toc-nav a, .page-toc a")
            if urlsplit(href).path == this and urlsplit(href).fragment
        ]
        report.setdefault(rel, {})["contents_opens"] = bool(sections)
        assert sections, f"{rel}: after tapping the contents button no section link is on screen"
    finally:
        watch.close()


@pytest.mark.parametrize("rel", PAGES)
def test_formulas_and_figures_fit_a_phone(phone_context, server, report, rel):
    watch = _open(phone_context, server, rel)
    try:
        data = watch.page.evaluate(MEASURE_JS)
    finally:
        watch.close()
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
