"""Chapter 10 in the built book: it renders, its equations are numbered (10.x), its figures
load, its static player steps through the guidance scales, and nothing overflows a phone.

The page is read on its one desktop visit and its one phone visit (``pages.py``); the
player is the one every page's visit uses (``test_static_book``), checked here for this
chapter's six guidance scales."""

from __future__ import annotations

import re

import pytest

from .conftest import PHONE_VIEWPORT
from .pages import chapter_number, on_desktop, on_phone

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


@on_desktop(PAGE)
def chapter10(page) -> dict:
    table = page.locator("main table").filter(has_text="guidance at")
    return {
        "title": page.title(),
        "equation_numbers": page.evaluate(EQUATION_NUMBERS_JS),
        "main_text": page.locator("main").inner_text(),
        "mjx_containers": page.locator("mjx-container").count(),
        "figures": page.evaluate(FIGURES_JS),
        "guidance_tables": table.count(),
        "guidance_table_rows": table.locator("tbody tr").count() if table.count() == 1 else None,
        "players": page.locator("div.animation").count(),
        "live_widgets": page.locator(".ddpm-view, .jupyter-widgets").count(),
    }


@on_phone(PAGE)
def chapter10_on_a_phone(page) -> dict:
    return page.evaluate(OVERFLOW_JS)


def test_chapter_renders_with_numbered_equations_and_figures(desktop_visit):
    visit = desktop_visit(PAGE)
    found = visit.probe(chapter10)
    assert "Conditioning and classifier-free guidance" in found["title"]
    numbers = found["equation_numbers"]
    n = chapter_number("book/10_guidance")
    assert numbers == [f"({n}.{k})" for k in range(1, EQUATIONS + 1)], numbers
    # references to the equations in the prose carry the same numbers
    text = found["main_text"]
    for k in (1, 2, 3, 5, 6, 7):
        assert f"({n}.{k})" in text
    assert found["mjx_containers"] > 20
    figures = found["figures"]
    # patterns, w = 0, shares, the trade-off at every step and in the interval, w = 4 both ways
    assert len(figures) == 7, figures
    broken = [f for f in figures if not f["complete"] or f["width"] == 0]
    assert not broken, broken
    assert not visit.watch.console_errors and not visit.watch.page_errors
    assert not re.search(r"Traceback|Error:", text)
    # the glued numbers of the interval section are filled in, its table has its five rows
    assert "{glue" not in text and re.search(r"\d+ ≤ t ≤ \d+", text)
    assert found["guidance_tables"] == 1 and found["guidance_table_rows"] == 5


def test_static_player_steps_through_the_guidance_scales(desktop_visit):
    visit = desktop_visit(PAGE)
    found = visit.probe(chapter10)
    assert found["players"] == 1
    (check,) = visit.sliders
    assert not check.problem, check.problem
    assert check.frames == 6          # w = 0, 0.25, 0.5, 1, 2, 4, every step beside the interval
    assert check.src_first != check.src_last
    assert check.src_after_next != check.src_first
    # the live slider's cell is not on the page: no widget without a kernel
    assert found["live_widgets"] == 0


def test_nothing_overflows_a_phone(phone_visit):
    result = phone_visit(PAGE).probe(chapter10_on_a_phone)
    assert result["viewport"] <= PHONE_VIEWPORT["width"]
    assert result["page"] <= result["viewport"] + 1, result
    assert not result["wide"], result["wide"]
