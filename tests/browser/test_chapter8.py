"""Chapter 8 in the built book: it renders, its equations are numbered (8.1)…(8.7), its figures
load, it shows no live widget, and nothing runs off a phone's screen (390 CSS pixels)."""

from __future__ import annotations

import pytest

from .chapter_pages import open_page, serve_book_for
from .conftest import PageWatch
from .test_phone import MEASURE_JS

pytestmark = pytest.mark.browser

PAGE = "book/08_score.html"
EQUATIONS = [f"(8.{k})" for k in range(1, 8)]


@pytest.fixture(scope="module")
def server():
    yield from serve_book_for(PAGE)


def _open(context, server) -> PageWatch:
    return open_page(context, server, PAGE)


@pytest.fixture(scope="module")
def desktop(browser_context, server):
    watch = _open(browser_context, server)
    yield watch
    watch.close()


def test_the_chapter_renders_with_its_number(desktop):
    title = desktop.page.locator("article h1").first.inner_text()
    assert "The score and the ideal denoiser" in title
    assert desktop.page.locator("article h1 .section-number").first.inner_text().strip() == "8.", title
    assert desktop.page_errors == [] and desktop.console_errors == [], (desktop.page_errors,
                                                                        desktop.console_errors)
    assert desktop.bad_responses == [] and desktop.failed_requests == []


def test_equations_are_numbered_8_1_to_8_7(desktop):
    numbers = desktop.page.evaluate(
        "() => Array.from(document.querySelectorAll('span.eqno')).map((e) => e.textContent.trim())")
    assert [n.rstrip("#").strip() for n in numbers] == EQUATIONS
    # references in the text point at them: {eq} roles render as links with the number
    refs = desktop.page.evaluate(
        "() => Array.from(document.querySelectorAll('a.reference span.eqno, a.reference'))"
        ".map((a) => a.textContent.trim())")
    assert {"(8.2)", "(8.5)", "(8.6)", "(8.7)"} <= set(refs)


def test_figures_load_and_the_table_is_there(desktop):
    images = desktop.page.evaluate(
        "() => Array.from(document.querySelectorAll('.cell_output img'))"
        ".map((img) => ({src: img.src, ok: img.complete && img.naturalWidth > 0}))")
    assert len(images) >= 3, images
    assert all(image["ok"] for image in images), [i["src"] for i in images if not i["ok"]]
    rows = desktop.page.locator(".cell_output table tbody tr")
    assert rows.count() == 9
    assert "ideal denoiser" in rows.first.inner_text()


def test_no_live_widget_and_no_error_output(desktop):
    assert desktop.page.locator(".ddpm-view, .widget-slider").count() == 0
    text = desktop.page.locator("main").inner_text()
    assert "Traceback" not in text and "Error" not in text.replace("error", "")


def test_nothing_overflows_a_phone(phone_context, server):
    watch = _open(phone_context, server)
    try:
        widths = watch.page.evaluate(
            "() => ({scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth})")
        assert widths["scroll"] <= widths["client"] + 1, widths
        measured = watch.page.evaluate(MEASURE_JS)
        assert measured["clipped"] == [], measured["clipped"]
        for figure in measured["figures"]:
            assert figure["shown"] <= measured["viewport"], figure
    finally:
        watch.close()
