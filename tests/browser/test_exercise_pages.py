"""The exercise and solution pages in a real browser: solutions folded, the two kinds of page distinct.

Each page is read on its one desktop visit (``pages.py``): the folded state on the page as
loaded, the toggle button tried last."""
from __future__ import annotations

import pytest

from .pages import on_desktop

pytestmark = pytest.mark.browser

CHAPTERS = ["01_normal_distribution", "04_posterior", "06_training_sampling"]
SOLUTIONS = [f"solutions/{name}.html" for name in CHAPTERS]
EXERCISES = [f"exercises/{name}.html" for name in CHAPTERS]
SIDEBAR_PAGE = "exercises/04_posterior.html"


def _folded(page) -> dict:
    solutions = page.locator("div.solution")
    folded_code = page.locator("details.hide-input, .tag_hide-input details")
    return {
        "title": page.title(),
        "solutions": solutions.count(),
        "open_solutions": [k for k in range(solutions.count())
                           if solutions.nth(k).locator("section#solution-content").is_visible()],
        # the worked code of the coding exercises is folded too
        "folded_code": folded_code.count(),
        "open_code": [k for k in range(folded_code.count()) if folded_code.nth(k).evaluate("d => d.open")],
    }


def _toggled(page) -> bool:
    """The toggle button on the first solution opens it."""
    first = page.locator("div.solution").first
    first.locator("button.toggle-button").click()
    opened = first.locator("section#solution-content")
    opened.wait_for(state="visible", timeout=5_000)
    return opened.is_visible()


def _exercise_page(page) -> dict:
    return {
        "title": page.title(),
        "solutions": page.locator("div.solution").count(),
        "exercises": page.locator("div.exercise").count(),
        "article_text": page.locator("article").inner_text(),
        "sidebar_links": page.locator("nav.bd-docs-nav a").all_inner_texts(),
    }


for _rel in SOLUTIONS:
    on_desktop(_rel)(_folded)
    on_desktop(_rel, interactive=True)(_toggled)
for _rel in EXERCISES:
    on_desktop(_rel)(_exercise_page)


@pytest.mark.parametrize("rel", SOLUTIONS, ids=CHAPTERS)
def test_solutions_are_folded_until_opened(desktop_visit, rel):
    visit = desktop_visit(rel)
    name = rel.removeprefix("solutions/").removesuffix(".html")
    found = visit.probe(_folded)
    assert found["title"].startswith(f"Solutions {int(name[:2])}:")
    assert found["solutions"] >= 3
    assert found["open_solutions"] == [], f"solutions {found['open_solutions']} are open before they are clicked"
    assert found["folded_code"] >= 3
    assert found["open_code"] == [], f"worked code {found['open_code']} is unfolded before it is clicked"
    assert visit.probe(_toggled)


@pytest.mark.parametrize("rel", EXERCISES, ids=CHAPTERS)
def test_exercise_pages_hold_no_solutions_and_say_what_they_are(desktop_visit, rel):
    name = rel.removeprefix("exercises/").removesuffix(".html")
    found = desktop_visit(rel).probe(_exercise_page)
    assert found["title"].startswith(f"Exercises {int(name[:2])}:")
    assert found["solutions"] == 0
    assert found["exercises"] >= 3
    text = found["article_text"]
    assert "### BEGIN SOLUTION" not in text and "raise NotImplementedError" in text


def test_sidebar_lists_exercise_and_solution_pages_under_different_names(desktop_visit):
    links = [t.strip() for t in desktop_visit(SIDEBAR_PAGE).probe(_exercise_page)["sidebar_links"]]
    assert "Exercises 4: the posterior" in links and "Solutions 4: the posterior" in links
    assert len([t for t in links if t.endswith("the posterior")]) == 2
