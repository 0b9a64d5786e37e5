"""Chapter 8 in the built book: it renders, its equations are numbered (8.1)…(8.7), its figures
load, it shows no live widget, and nothing runs off a phone's screen (390 CSS pixels).

The page is read on its one desktop visit and its one phone visit (``pages.py``)."""

from __future__ import annotations

import pytest

from .pages import on_desktop

pytestmark = pytest.mark.browser

PAGE = "book/08_score.html"
EQUATIONS = [f"(8.{k})" for k in range(1, 8)]


@on_desktop(PAGE)
def chapter8(page) -> dict:
    rows = page.locator(".cell_output table tbody tr")
    return {
        "title": page.locator("article h1").first.inner_text(),
        "section_number": page.locator("article h1 .section-number").first.inner_text(),
        "equation_numbers": page.evaluate(
            "() => Array.from(document.querySelectorAll('span.eqno')).map((e) => e.textContent.trim())"),
        # references in the text point at them: {eq} roles render as links with the number
        "references": page.evaluate(
            "() => Array.from(document.querySelectorAll('a.reference span.eqno, a.reference'))"
            ".map((a) => a.textContent.trim())"),
        "images": page.evaluate(
            "() => Array.from(document.querySelectorAll('.cell_output img'))"
            ".map((img) => ({src: img.src, ok: img.complete && img.naturalWidth > 0}))"),
        "table_rows": rows.count(),
        "first_row": rows.first.inner_text() if rows.count() else "",
        "live_widgets": page.locator(".ddpm-view, .widget-slider").count(),
        "main_text": page.locator("main").inner_text(),
    }


def test_the_chapter_renders_with_its_number(desktop_visit):
    visit = desktop_visit(PAGE)
    found = visit.probe(chapter8)
    assert "The score and the ideal denoiser" in found["title"]
    assert found["section_number"].strip() == "8.", found["title"]
    assert visit.watch.page_errors == [] and visit.watch.console_errors == [], (
        visit.watch.page_errors, visit.watch.console_errors)
    assert visit.watch.bad_responses == [] and visit.watch.failed_requests == []


def test_equations_are_numbered_8_1_to_8_7(desktop_visit):
    found = desktop_visit(PAGE).probe(chapter8)
    assert [n.rstrip("#").strip() for n in found["equation_numbers"]] == EQUATIONS
    assert {"(8.2)", "(8.5)", "(8.6)", "(8.7)"} <= set(found["references"])


def test_figures_load_and_the_table_is_there(desktop_visit):
    found = desktop_visit(PAGE).probe(chapter8)
    images = found["images"]
    assert len(images) >= 3, images
    assert all(image["ok"] for image in images), [i["src"] for i in images if not i["ok"]]
    assert found["table_rows"] == 9
    assert "ideal denoiser" in found["first_row"]


def test_no_live_widget_and_no_error_output(desktop_visit):
    found = desktop_visit(PAGE).probe(chapter8)
    assert found["live_widgets"] == 0
    text = found["main_text"]
    assert "Traceback" not in text and "Error" not in text.replace("error", "")


def test_nothing_overflows_a_phone(phone_visit):
    measured = phone_visit(PAGE).data
    assert measured["scrollWidth"] <= measured["viewport"] + 1, measured
    assert measured["clipped"] == [], measured["clipped"]
    for figure in measured["figures"]:
        assert figure["shown"] <= measured["viewport"], figure
