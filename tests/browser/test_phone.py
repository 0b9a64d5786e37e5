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

Each page is opened once on the phone (``phone_visit``, see ``pages.py``) and the
tests read what that visit found: the page is measured as loaded; on a chapter the
page-contents button is then tapped and its panel closed again with Escape (the
page is reloaded if it does not close), and then ☰ is tapped.

What each page measured is written to ``_build/phone_report.json``.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from PIL import Image

from ddpm_lessons.style import STYLE

from .conftest import PHONE_VIEWPORT
from .pages import BUILD, CHAPTERS, CONTENTS, MENU, PAGES

pytestmark = pytest.mark.browser

REPORT = Path(os.environ.get("DDPM_PHONE_REPORT", BUILD.parent / "phone_report.json"))
TICK_LABEL_PT = float(STYLE["xtick.labelsize"])
MIN_LABEL_CSS_PX = 8.0
MIN_DEVICE_PIXELS_PER_CSS_PIXEL = 2.0


@pytest.fixture(scope="module")
def report():
    """What each page measured, merged into REPORT (locked: test workers share the file)."""
    measured: dict[str, dict] = {}
    yield measured
    if measured:
        REPORT.parent.mkdir(parents=True, exist_ok=True)
        with open(REPORT, "a+", encoding="utf8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.seek(0)
            text = handle.read()
            old = json.loads(text) if text.strip() else {}
            for rel, values in measured.items():
                old.setdefault(rel, {}).update(values)
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps(old, indent=1, sort_keys=True) + "\n")


@pytest.mark.parametrize("rel", CHAPTERS or ["<no build>"])
def test_menu_button_opens_the_table_of_contents(phone_visit, book_server, report, rel):
    links = phone_visit(rel).links_after_tapping(MENU)
    assert links is not None, f"{rel}: no visible ☰ button on a phone"
    this = urlsplit(book_server.url + rel).path
    others = [
        href for href in links
        if urlsplit(href).path != this and "/book/" in urlsplit(href).path
    ]
    report.setdefault(rel, {})["toc_opens"] = bool(others)
    assert others, f"{rel}: after tapping ☰ no link to another chapter is on screen"


@pytest.mark.parametrize("rel", CHAPTERS or ["<no build>"])
def test_contents_button_shows_the_sections_of_the_page(phone_visit, book_server, report, rel):
    links = phone_visit(rel).links_after_tapping(CONTENTS)
    assert links is not None, f"{rel}: no visible page-contents button on a phone"
    this = urlsplit(book_server.url + rel).path
    sections = [
        href for href in links
        if urlsplit(href).path == this and urlsplit(href).fragment
    ]
    report.setdefault(rel, {})["contents_opens"] = bool(sections)
    assert sections, f"{rel}: after tapping the contents button no section link is on screen"


@pytest.mark.parametrize("rel", PAGES)
def test_formulas_and_figures_fit_a_phone(phone_visit, report, rel):
    data = phone_visit(rel).data
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
