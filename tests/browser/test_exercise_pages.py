"""The exercise and solution pages in a real browser: solutions folded, the two kinds of page distinct."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from .conftest import ROOT, PageWatch, StaticServer, unavailable

pytestmark = pytest.mark.browser

BUILD = Path(os.environ.get("DDPM_BOOK_HTML", ROOT / "_build" / "html")).resolve()
CHAPTERS = ["01_normal_distribution", "04_posterior", "06_training_sampling"]


@pytest.fixture(scope="module")
def open_page(browser_context):
    if not (BUILD / "solutions").is_dir():
        unavailable(f"the book is not built: {BUILD} has no solutions pages (run `make book`)")
    with StaticServer(BUILD) as server:
        watches: dict[str, PageWatch] = {}

        def _open(rel: str):
            """The page ``rel``, loaded once; the tests that only read a page share it."""
            if rel not in watches:
                watches[rel] = PageWatch.open(browser_context)
                watches[rel].page.goto(server.url + rel, wait_until="load", timeout=30_000)
            return watches[rel].page

        yield _open
        for watch in watches.values():
            watch.close()


@pytest.mark.parametrize("name", CHAPTERS)
def test_solutions_are_folded_until_opened(open_page, name):
    page = open_page(f"solutions/{name}.html")
    assert page.title().startswith(f"Solutions {int(name[:2])}:")
    solutions = page.locator("div.solution")
    assert solutions.count() >= 3
    for k in range(solutions.count()):
        body = solutions.nth(k).locator("section#solution-content")
        assert not body.is_visible(), f"solution {k} is open before it is clicked"
    # the worked code of the coding exercises is folded too
    folded_code = page.locator("details.hide-input, .tag_hide-input details")
    assert folded_code.count() >= 3
    assert all(not folded_code.nth(k).evaluate("d => d.open") for k in range(folded_code.count()))
    # the toggle button on a solution opens it
    solutions.first.locator("button.toggle-button").click()
    opened = solutions.first.locator("section#solution-content")
    opened.wait_for(state="visible", timeout=5_000)
    assert opened.is_visible()


@pytest.mark.parametrize("name", CHAPTERS)
def test_exercise_pages_hold_no_solutions_and_say_what_they_are(open_page, name):
    page = open_page(f"exercises/{name}.html")
    assert page.title().startswith(f"Exercises {int(name[:2])}:")
    assert page.locator("div.solution").count() == 0
    assert page.locator("div.exercise").count() >= 3
    text = page.locator("article").inner_text()
    assert "### BEGIN SOLUTION" not in text and "raise NotImplementedError" in text


def test_sidebar_lists_exercise_and_solution_pages_under_different_names(open_page):
    page = open_page("exercises/04_posterior.html")
    links = [t.strip() for t in page.locator("nav.bd-docs-nav a").all_inner_texts()]
    assert "Exercises 4: the posterior" in links and "Solutions 4: the posterior" in links
    assert len([t for t in links if t.endswith("the posterior")]) == 2
