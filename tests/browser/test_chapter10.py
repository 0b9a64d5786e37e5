"""Chapter 10 in the built book: it renders, its equations are numbered (10.x), its figures
load, its static player steps through the guidance scales, and nothing overflows a phone."""

from __future__ import annotations

import re

import pytest

from .chapter_pages import chapter_number, open_page, serve_book_for
from .conftest import PHONE_VIEWPORT, PageWatch
from .test_static_book import _check_sliders

pytestmark = pytest.mark.browser

PAGE = "book/10_guidance.html"
EQUATIONS = 7   # eq. (N.1) … (N.7)


EQUATION_NUMBERS_JS = r"""
() => Array.from(document.querySelectorAll('div.math .eqno, span.eqno'))
  .map((el) => el.textContent.replace(/[^0-9.()]/g, ''))
"""

FIGURES_JS = r"""
() => Array.from(document.querySelectorAll('.cell_output img'))
  .filter((img) => !img.closest('.animation'))
  .map((img) => ({src: img.src.slice(0, 60), complete: img.complete, width: img.naturalWidth}))
"""

OVERFLOW_JS = r"""
() => {
  const viewport = document.documentElement.clientWidth;
  const scrolls = (el) => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
  const wide = [];
  for (const el of document.querySelectorAll('article.bd-article *')) {
    const rect = el.getBoundingClientRect();
    if (rect.width === 0 || rect.right <= viewport + 1) continue;
    let inside = false;   // content of a box that scrolls sideways by itself is fine
    for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
      if (scrolls(up) || getComputedStyle(up).overflowX === 'hidden') { inside = true; break; }
    }
    if (!inside) wide.push(`<${el.tagName.toLowerCase()} class="${el.className}"> right edge ${Math.round(rect.right)}`);
  }
  return {page: document.documentElement.scrollWidth, viewport, wide: wide.slice(0, 10)};
}
"""


@pytest.fixture(scope="module")
def server():
    yield from serve_book_for(PAGE)


def _open(context, server) -> PageWatch:
    return open_page(context, server, PAGE)


@pytest.fixture(scope="module")
def desktop(browser_context, server):
    """The chapter opened once on the desktop; the player test, which moves the slider, comes last."""
    watch = _open(browser_context, server)
    yield watch
    watch.close()


def test_chapter_renders_with_numbered_equations_and_figures(desktop):
    page = desktop.page
    assert "Conditioning and classifier-free guidance" in page.title()
    numbers = page.evaluate(EQUATION_NUMBERS_JS)
    n = chapter_number("book/10_guidance")
    assert numbers == [f"({n}.{k})" for k in range(1, EQUATIONS + 1)], numbers
    # references to the equations in the prose carry the same numbers
    text = page.locator("main").inner_text()
    for k in (1, 2, 3, 5, 6, 7):
        assert f"({n}.{k})" in text
    assert page.locator("mjx-container").count() > 20
    figures = page.evaluate(FIGURES_JS)
    # patterns, w = 0, shares, the trade-off at every step and in the interval, w = 4 both ways
    assert len(figures) == 7, figures
    broken = [f for f in figures if not f["complete"] or f["width"] == 0]
    assert not broken, broken
    assert not desktop.console_errors and not desktop.page_errors
    assert not re.search(r"Traceback|Error:", page.locator("main").inner_text())
    # the glued numbers of the interval section are filled in, its table has its five rows
    assert "{glue" not in text and re.search(r"\d+ ≤ t ≤ \d+", text)
    table = page.locator("main table").filter(has_text="guidance at")
    assert table.count() == 1 and table.locator("tbody tr").count() == 5


def test_static_player_steps_through_the_guidance_scales(desktop):
    page = desktop.page
    players = page.locator("div.animation")
    assert players.count() == 1
    (check,) = _check_sliders(page, 1)
    assert not check.problem, check.problem
    assert check.frames == 6          # w = 0, 0.25, 0.5, 1, 2, 4, every step beside the interval
    assert check.src_first != check.src_last
    assert check.src_after_next != check.src_first
    # the live slider's cell is not on the page: no widget without a kernel
    assert page.locator(".ddpm-view, .jupyter-widgets").count() == 0


def test_nothing_overflows_a_phone(phone_context, server):
    watch = _open(phone_context, server)
    try:
        result = watch.page.evaluate(OVERFLOW_JS)
        assert result["viewport"] <= PHONE_VIEWPORT["width"]
        assert result["page"] <= result["viewport"] + 1, result
        assert not result["wide"], result["wide"]
    finally:
        watch.close()
