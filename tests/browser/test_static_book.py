"""The built HTML book, opened in headless Chromium with no network.

For every page of ``_build/html`` (``make book``): no JavaScript errors; every
image, script and style sheet loads from the book itself and nothing is
requested from another host; the mathematics is typeset by MathJax with no raw
TeX left on the page; every internal link and ``#anchor`` resolves; every
static animation player (matplotlib ``to_jshtml``) shows a different frame when
its slider or step button is used; no live widget (which needs a kernel) is left
on the page looking usable; and the first screen is painted (its screenshot,
saved in ``_build/screenshots/``, is read pixel by pixel).

Each page is opened once on the desktop (``desktop_visit``, see ``pages.py``) and
every test reads what that visit found.  The book is served by ``http.server``
on 127.0.0.1 from a thread.  Without a build the tests are skipped locally and
fail in CI.
"""

from __future__ import annotations

import io
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from PIL import Image

from .conftest import unavailable
from .pages import BUILD, PAGES, RAW_TEX, toc_files

pytestmark = pytest.mark.browser


# --------------------------------------------------------------------------- page data


class _Anchors(HTMLParser):
    """Collects the ids (and <a name=...>) a fragment may point to."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if value and (name == "id" or (tag == "a" and name == "name")):
                self.ids.add(value)


_anchor_cache: dict[Path, set[str]] = {}


def anchors_in(path: Path) -> set[str]:
    if path not in _anchor_cache:
        parser = _Anchors()
        parser.feed(path.read_text(encoding="utf8", errors="replace"))
        _anchor_cache[path] = parser.ids
    return _anchor_cache[path]


def _describe(problems: list[str], limit: int = 15) -> str:
    shown = "\n  ".join(problems[:limit])
    more = f"\n  ... and {len(problems) - limit} more" if len(problems) > limit else ""
    return f"\n  {shown}{more}"


# --------------------------------------------------------------------------- tests


def test_every_page_of_the_toc_is_built():
    """Each page listed in _toc.yml has its HTML page in the build."""
    if not BUILD.is_dir():
        unavailable(f"the book is not built: {BUILD} is missing (run `make book`)")
    files = toc_files()
    assert len(files) >= 2, f"_toc.yml lists only {files}"
    missing = [f for f in files if not (BUILD / f"{f.removesuffix('.md').removesuffix('.ipynb')}.html").is_file()]
    assert not missing, f"pages listed in _toc.yml but not built in {BUILD}: {missing}"
    assert (BUILD / "index.html").is_file(), f"no index.html in {BUILD}"


@pytest.mark.parametrize("rel", PAGES)
def test_no_javascript_errors(desktop_visit, rel):
    visit = desktop_visit(rel)
    problems = [f"console error: {m}" for m in visit.watch.console_errors]
    problems += [f"uncaught exception: {m}" for m in visit.watch.page_errors]
    assert not problems, f"{rel}: JavaScript errors:{_describe(problems)}"


@pytest.mark.parametrize("rel", PAGES)
def test_everything_loads_offline(desktop_visit, rel):
    """Images, scripts and styles come from the book; nothing from other hosts."""
    visit = desktop_visit(rel)
    problems = [f"request to another host: {url}" for url in visit.watch.external_requests]
    problems += [f"HTTP error: {r}" for r in visit.watch.bad_responses]
    problems += [f"request failed: {r}" for r in visit.watch.failed_requests]
    problems += [
        f"image did not load: {img['src']}"
        for img in visit.data["images"]
        if not img["complete"] or img["naturalWidth"] == 0
    ]
    assert not problems, f"{rel}: the page does not load offline:{_describe(problems)}"


@pytest.mark.parametrize("rel", PAGES)
def test_math_is_typeset(desktop_visit, rel):
    data = desktop_visit(rel).data
    raw_tex = sorted({m.group(0) for m in RAW_TEX.finditer(data["text"])})
    problems = [f"not typeset: {text!r}" for text in data["untypeset"]]
    problems += [f"MathJax error: {text!r}" for text in data["mathjaxErrors"]]
    problems += [f"raw TeX visible in the page text: {text!r}" for text in raw_tex]
    if data["mathElements"]:
        assert data["mjx"] >= data["mathElements"], (
            f"{rel}: {data['mathElements']} math elements but only {data['mjx']} MathJax outputs"
        )
    assert not problems, f"{rel}: mathematics not typeset:{_describe(problems)}"


@pytest.mark.parametrize("rel", PAGES)
def test_internal_links_resolve(desktop_visit, book_server, rel):
    """Every same-site link points to an existing file and, with #id, to an existing id."""
    data = desktop_visit(rel).data
    origin = urlsplit(book_server.url).netloc
    problems = []
    for href in sorted(set(data["links"])):
        parts = urlsplit(href)
        if parts.scheme not in {"http", "https"} or parts.netloc != origin:
            continue
        path = unquote(parts.path).lstrip("/")
        target = BUILD / path
        if path == "" or path.endswith("/"):
            target = target / "index.html"
        if not target.is_file():
            problems.append(f"{href}: no file {target.relative_to(BUILD)}")
            continue
        fragment = unquote(parts.fragment)
        if not fragment or target.suffix != ".html":
            continue
        ids = anchors_in(target)
        if target.relative_to(BUILD).as_posix() == rel:
            ids = ids | set(data["ids"])
        if fragment not in ids:
            problems.append(f"{href}: no element with id {fragment!r} in {target.relative_to(BUILD)}")
    assert not problems, f"{rel}: broken internal links:{_describe(problems)}"


@pytest.mark.parametrize("rel", PAGES)
def test_static_sliders_change_the_frame(desktop_visit, rel):
    """Each to_jshtml player shows another frame after its slider or step button is used."""
    visit = desktop_visit(rel)
    problems = []
    for check in visit.sliders:
        name = f"player {check.index + 1}"
        if check.problem:
            problems.append(f"{name}: {check.problem}")
            continue
        if check.frames < 2:
            problems.append(f"{name}: only {check.frames} frame(s)")
            continue
        if not check.src_first.startswith(("data:image/", "http")):
            problems.append(f"{name}: the frame image has no picture (src={check.src_first[:40]!r})")
        if check.value_after_end != str(check.frames - 1):
            problems.append(
                f"{name}: slider at {check.value_after_end!r} after End, expected {check.frames - 1}"
            )
        if check.src_last == check.src_first:
            problems.append(f"{name}: moving the slider from the first to the last frame changed nothing")
        if check.src_after_next == check.src_first:
            problems.append(f"{name}: the 'Next frame' button changed nothing")
    assert not problems, f"{rel}: static sliders do not work:{_describe(problems)}"


@pytest.mark.parametrize("rel", PAGES)
def test_no_live_widgets_without_a_kernel(desktop_visit, rel):
    """A live ipywidgets control does nothing on a static page, so none may be shown."""
    dead_widgets = list(desktop_visit(rel).data["deadWidgets"])
    assert not dead_widgets, (
        f"{rel}: controls that need a Jupyter kernel are on the static page "
        f"(tag the cell `remove-output` or show the widget only when a kernel runs):"
        f"{_describe(dead_widgets)}"
    )


@pytest.mark.parametrize("rel", PAGES)
def test_no_warnings_or_tracebacks_in_outputs(desktop_visit, rel):
    """Cell outputs on the page hold no stderr text (warnings) and no tracebacks."""
    noisy = [" ".join(text.split())[:160] for text in desktop_visit(rel).data["noisyOutputs"]]
    assert not noisy, f"{rel}: stderr or traceback outputs are shown on the page:{_describe(noisy)}"


# A painted first screen: the page's text (dark pixels) on its background, with other
# colours besides (links, the sidebar, figures). A blank or unstyled-white screen has none.
MIN_INK_SHARE = 0.005          # pixels darker than INK_LEVEL
INK_LEVEL = 100
MIN_OFF_BACKGROUND_SHARE = 0.02
MIN_COLOURS = 16


@pytest.mark.parametrize("rel", PAGES)
def test_first_screen_is_painted(desktop_visit, rel):
    """The screenshot of the first screen (saved in _build/screenshots/) shows a page:
    text on a background, in more than a few colours."""
    visit = desktop_visit(rel)
    assert visit.screenshot, f"{rel}: no screenshot was taken"
    with Image.open(io.BytesIO(visit.screenshot)) as image:
        rgb = image.convert("RGB")
        width, height = rgb.size
        pixels = width * height
        colours = rgb.getcolors(maxcolors=pixels)
        grey = rgb.convert("L").histogram()
    background = max(count for count, _ in colours)
    ink = sum(grey[:INK_LEVEL]) / pixels
    off_background = 1 - background / pixels
    assert (width, height) == (1280, 900), f"{rel}: the screenshot is {width} × {height}"
    assert len(colours) >= MIN_COLOURS, f"{rel}: the first screen has only {len(colours)} colours"
    assert off_background >= MIN_OFF_BACKGROUND_SHARE, (
        f"{rel}: {off_background:.1%} of the first screen differs from its background colour"
    )
    assert ink >= MIN_INK_SHARE, f"{rel}: only {ink:.2%} of the first screen is dark enough to be text"
    assert visit.screenshot_path.read_bytes() == visit.screenshot, f"{rel}: the screenshot was not saved"
