"""Chapter 9 in the built book (``make book``), in headless Chromium with no network.

The page renders with its title and sections; its displayed equations are numbered
(9.1), (9.2), … in order; every figure loads; every glued number is filled in; the live
slider is hidden (its static small multiples are on the page); and on a 390 px phone
nothing runs past the screen and no formula is cut off.

The page is read on its one desktop visit and its one phone visit (``pages.py``).
"""
from __future__ import annotations

import re

import pytest

from .conftest import PHONE_VIEWPORT
from .pages import chapter_number, on_desktop, on_phone

pytestmark = pytest.mark.browser

PAGE = "book/09_fewer_steps.html"
NUM_EQUATIONS = 10
NUM_FIGURES = 5
SECTIONS = ("Only the marginals are trained", "The DDIM step and the η family", "A sub-sequence of time steps",
            "How many steps does the model need?", "Where to put the steps", "A deterministic map from noise to data",
            "Running the sampler backwards", "Scrub through the number of steps")


@on_desktop(PAGE)
def chapter9(page) -> dict:
    return {
        "title": page.locator("h1").first.inner_text(),
        "headings": page.locator("h2").all_inner_texts(),
        "main_text": page.locator("main").inner_text(),
        "equation_numbers": page.locator("div.math span.eqno").all_inner_texts(),
        "references": page.locator("a.reference.internal").all_inner_texts(),
        "figures": page.evaluate(
            """() => Array.from(document.querySelectorAll('.cell_output img'))
                     .map((img) => ({src: img.src.slice(-40), w: img.naturalWidth, h: img.naturalHeight,
                                     complete: img.complete}))"""),
        "live_widgets": page.locator(".ddpm-view, .jupyter-widgets input[type=range]").count(),
    }


@on_phone(PAGE)
def chapter9_on_a_phone(page) -> list[str]:
    """Elements of the article that run past the screen outside any box that scrolls or clips."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('article.bd-article *')).filter((el) => {
               const r = el.getBoundingClientRect();
               if (r.width === 0 || r.right <= document.documentElement.clientWidth + 1) return false;
               for (let p = el; p; p = p.parentElement) {
                 const o = getComputedStyle(p).overflowX;
                 if (['auto', 'scroll', 'hidden', 'clip'].includes(o) && p !== el) return false;
               }
               return true;
             }).slice(0, 5).map((el) => el.tagName + '.' + el.className)""")


def test_page_renders_with_its_sections(desktop_visit):
    found = desktop_visit(PAGE).probe(chapter9)
    assert "Fewer sampling steps" in found["title"]
    headings = [h.strip().rstrip("#").strip() for h in found["headings"]]
    for section in SECTIONS:
        assert any(section in h for h in headings), f"missing section {section!r} in {headings}"
    text = found["main_text"]
    assert "{glue" not in text and "glue:text" not in text
    assert re.search(r"mean distance of 0\.0\d{3}", text), "the glued numbers are missing from the prose"


def test_equations_are_numbered_in_chapter_9(desktop_visit):
    found = desktop_visit(PAGE).probe(chapter9)
    chapter = chapter_number("book/09_fewer_steps")
    labels = [re.sub(r"\s", "", n.strip()).replace("¶", "") for n in found["equation_numbers"]]
    assert labels == [f"({chapter}.{k})" for k in range(1, NUM_EQUATIONS + 1)], labels
    # references in the prose point at them with the same numbers
    refs = [r.strip() for r in found["references"]]
    assert f"({chapter}.3)" in refs and f"({chapter}.6)" in refs, refs[:20]


def test_figures_load(desktop_visit):
    figures = desktop_visit(PAGE).probe(chapter9)["figures"]
    assert len(figures) == NUM_FIGURES, figures
    broken = [f for f in figures if not f["complete"] or f["w"] == 0]
    assert not broken, f"figures that did not load: {broken}"


def test_live_slider_is_hidden_and_the_static_version_is_shown(desktop_visit):
    found = desktop_visit(PAGE).probe(chapter9)
    assert found["live_widgets"] == 0
    # the small multiples that replace it: the last figure, five rows of three panels (taller than wide)
    sizes = [[f["w"], f["h"]] for f in found["figures"]]
    assert sizes[-1][1] > 1.5 * sizes[-1][0], sizes


def test_fits_a_phone(phone_visit):
    visit = phone_visit(PAGE)
    data = visit.data
    overflowing = visit.probe(chapter9_on_a_phone)
    assert data["viewport"] == PHONE_VIEWPORT["width"] or data["viewport"] <= PHONE_VIEWPORT["width"]
    assert not data["clipped"], f"formulas cut off on a phone: {data['clipped']}"
    assert data["scrollWidth"] <= data["viewport"] + 1, \
        f"the page scrolls sideways on a phone: {[data['scrollWidth'], data['viewport']]}"
    assert not overflowing, f"elements run past the screen: {overflowing}"
