"""Chapter 9 in the built book (``make book``), in headless Chromium with no network.

The page renders with its title and sections; its displayed equations are numbered
(9.1), (9.2), … in order; every figure loads; every glued number is filled in; the live
slider is hidden (its static small multiples are on the page); and on a 390 px phone
nothing runs past the screen and no formula is cut off.
"""
from __future__ import annotations

import re

import pytest

from .chapter_pages import chapter_number, open_page, serve_book_for
from .conftest import PHONE_VIEWPORT, PageWatch
from .test_phone import MEASURE_JS

pytestmark = pytest.mark.browser

PAGE = "book/09_fewer_steps.html"
NUM_EQUATIONS = 10
NUM_FIGURES = 5
SECTIONS = ("Only the marginals are trained", "The DDIM step and the η family", "A sub-sequence of time steps",
            "How many steps does the model need?", "Where to put the steps", "A deterministic map from noise to data",
            "Running the sampler backwards", "Scrub through the number of steps")


@pytest.fixture(scope="module")
def server():
    yield from serve_book_for(PAGE)


def _open(context, server) -> PageWatch:
    return open_page(context, server, PAGE)


@pytest.fixture(scope="module")
def desktop(browser_context, server):
    watch = _open(browser_context, server)
    yield watch.page
    watch.close()


def test_page_renders_with_its_sections(desktop):
    title = desktop.locator("h1").first.inner_text()
    assert "Fewer sampling steps" in title
    headings = [h.strip().rstrip("#").strip() for h in desktop.locator("h2").all_inner_texts()]
    for section in SECTIONS:
        assert any(section in h for h in headings), f"missing section {section!r} in {headings}"
    text = desktop.locator("main").inner_text()
    assert "{glue" not in text and "glue:text" not in text
    assert re.search(r"mean distance of 0\.0\d{3}", text), "the glued numbers are missing from the prose"


def test_equations_are_numbered_in_chapter_9(desktop):
    chapter = chapter_number("book/09_fewer_steps")
    numbers = [n.strip() for n in desktop.locator("div.math span.eqno").all_inner_texts()]
    labels = [re.sub(r"\s", "", n).replace("¶", "") for n in numbers]
    assert labels == [f"({chapter}.{k})" for k in range(1, NUM_EQUATIONS + 1)], labels
    # references in the prose point at them with the same numbers
    refs = [r.strip() for r in desktop.locator("a.reference.internal").all_inner_texts()]
    assert f"({chapter}.3)" in refs and f"({chapter}.6)" in refs, refs[:20]


def test_figures_load(desktop):
    figures = desktop.evaluate(
        """() => Array.from(document.querySelectorAll('.cell_output img'))
                 .map((img) => ({src: img.src.slice(-40), w: img.naturalWidth, complete: img.complete}))""")
    assert len(figures) == NUM_FIGURES, figures
    broken = [f for f in figures if not f["complete"] or f["w"] == 0]
    assert not broken, f"figures that did not load: {broken}"


def test_live_slider_is_hidden_and_the_static_version_is_shown(desktop):
    assert desktop.locator(".ddpm-view, .jupyter-widgets input[type=range]").count() == 0
    # the small multiples that replace it: the last figure, five rows of three panels (taller than wide)
    sizes = desktop.evaluate("""() => Array.from(document.querySelectorAll('.cell_output img'))
                                .map((img) => [img.naturalWidth, img.naturalHeight])""")
    assert sizes[-1][1] > 1.5 * sizes[-1][0], sizes


def test_fits_a_phone(phone_context, server):
    watch = _open(phone_context, server)
    try:
        page = watch.page
        data = page.evaluate(MEASURE_JS)
        widths = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        overflowing = page.evaluate(
            """() => Array.from(document.querySelectorAll('article.bd-article *')).filter((el) => {
                   const r = el.getBoundingClientRect();
                   if (r.width === 0 || r.right <= document.documentElement.clientWidth + 1) return false;
                   for (let p = el; p; p = p.parentElement) {
                     const o = getComputedStyle(p).overflowX;
                     if (['auto', 'scroll', 'hidden', 'clip'].includes(o) && p !== el) return false;
                   }
                   return true;
                 }).slice(0, 5).map((el) => el.tagName + '.' + el.className)""")
    finally:
        watch.close()
    assert data["viewport"] == PHONE_VIEWPORT["width"] or data["viewport"] <= PHONE_VIEWPORT["width"]
    assert not data["clipped"], f"formulas cut off on a phone: {data['clipped']}"
    assert widths[0] <= widths[1] + 1, f"the page scrolls sideways on a phone: {widths}"
    assert not overflowing, f"elements run past the screen: {overflowing}"
