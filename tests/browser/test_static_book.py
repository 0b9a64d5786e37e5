"""The built HTML book, opened in headless Chromium with no network.

For every page of ``_build/html`` (``make book``): no JavaScript errors; every
image, script and style sheet loads from the book itself and nothing is
requested from another host; the mathematics is typeset by MathJax with no raw
TeX left on the page; every internal link and ``#anchor`` resolves; every
static animation player (matplotlib ``to_jshtml``) shows a different frame when
its slider or step button is used; and no live widget (which needs a kernel)
is left on the page looking usable.  A full-page screenshot of each page is
saved in ``_build/screenshots/`` for a person to look at.

The book is served by ``http.server`` on 127.0.0.1 from a thread.  Without a
build the tests are skipped locally and fail in CI.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml

from .conftest import ROOT, PageWatch, StaticServer, unavailable

pytestmark = pytest.mark.browser

BUILD = Path(os.environ.get("DDPM_BOOK_HTML", ROOT / "_build" / "html")).resolve()
SCREENSHOTS = Path(os.environ.get("DDPM_SCREENSHOTS", BUILD.parent / "screenshots")).resolve()
# Sphinx's own pages and folders of assets are not pages of the book.
SKIP_FILES = {"genindex.html", "search.html", "py-modindex.html"}
SKIP_DIRS = {"_static", "_sources", "_images", "_downloads", "_panels_static", "_sphinx_design_static"}
# TeX that survives only when MathJax did not run (code blocks are not searched).
RAW_TEX = re.compile(
    r"\$\$|\\begin\{|\\end\{|\\\[|\\\(|\\(?:frac|sqrt|mathbf|mathcal|bar|alpha|beta|sigma|sum|prod|left|right)\b"
)
PAGE_LOAD_TIMEOUT_MS = 30_000


def book_pages() -> list[str]:
    """Paths (relative to the build, with '/') of the book's HTML pages."""
    if not BUILD.is_dir():
        return []
    pages = []
    for path in BUILD.rglob("*.html"):
        rel = path.relative_to(BUILD)
        if rel.parts[0] in SKIP_DIRS or rel.name in SKIP_FILES or any(
            part.startswith(".") for part in rel.parts
        ):
            continue
        pages.append(rel.as_posix())
    return sorted(pages)


PAGES = book_pages() or ["<no build>"]


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


@dataclass
class SliderCheck:
    index: int
    frames: int
    src_first: str = ""
    src_last: str = ""
    src_after_next: str = ""
    value_after_end: str = ""
    problem: str = ""


@dataclass
class PageReport:
    """What one visit to a page found."""

    rel: str
    watch: PageWatch
    images: list[dict] = field(default_factory=list)
    math_elements: int = 0
    untypeset_math: list[str] = field(default_factory=list)
    mjx_containers: int = 0
    mathjax_errors: list[str] = field(default_factory=list)
    raw_tex: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    live_ids: set[str] = field(default_factory=set)
    sliders: list[SliderCheck] = field(default_factory=list)
    dead_widgets: list[str] = field(default_factory=list)
    noisy_outputs: list[str] = field(default_factory=list)
    screenshot: Path | None = None


COLLECT_JS = r"""
() => {
  const visibleText = (root) => {
    const clone = root.cloneNode(true);
    clone.querySelectorAll(
      'pre, code, script, style, textarea, mjx-container, .highlight, .MathJax, mjx-assistive-mml'
    ).forEach((el) => el.remove());
    return clone.innerText || clone.textContent || '';
  };
  const main = document.querySelector('main') || document.body;
  const maths = Array.from(document.querySelectorAll('.math'));
  return {
    images: Array.from(document.images).map((img) => ({
      src: (img.currentSrc || img.src || '').slice(0, 200),
      complete: img.complete,
      naturalWidth: img.naturalWidth,
      inAnimation: !!img.closest('.animation'),
    })),
    mathElements: maths.length,
    untypeset: maths.filter((el) => !el.querySelector('mjx-container'))
                   .map((el) => (el.textContent || '').trim().slice(0, 80)),
    mjx: document.querySelectorAll('mjx-container').length,
    mathjaxErrors: Array.from(document.querySelectorAll('mjx-merror'))
                        .map((el) => (el.getAttribute('data-mjx-error') || el.textContent || '').slice(0, 120)),
    text: visibleText(document.body),
    links: Array.from(document.querySelectorAll('a[href]')).map((a) => a.href),
    ids: Array.from(document.querySelectorAll('[id]')).map((el) => el.id),
    animations: document.querySelectorAll('.animation').length,
    noisyOutputs: Array.from(document.querySelectorAll(
        '.output.stderr, .output.traceback, .output.error, .cell_output .stderr, .cell_output .traceback'))
      .map((el) => (el.innerText || '').trim().slice(0, 400)),
    deadWidgets: [
      ...Array.from(document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]'))
        .map(() => 'stored ipywidgets view (needs a kernel)'),
      ...Array.from(document.querySelectorAll('input[type=range], .widget-slider, .jupyter-widgets input, .jupyter-widgets button'))
        .filter((el) => !el.closest('.animation'))
        .map((el) => 'control outside a static player: <' + el.tagName.toLowerCase() + ' class="' + el.className + '">'),
    ],
  };
}
"""


def _follow_redirect(page) -> None:
    """A page that only sends the reader on (``<meta http-equiv="Refresh">``, like the
    book's index.html) is checked where it leads: wait until that page has loaded."""
    start = page.url
    try:
        redirects = page.evaluate("() => !!document.querySelector('meta[http-equiv=\"refresh\" i]')")
    except Exception:  # noqa: BLE001 - the page it leads to is already replacing it
        redirects = True
    if redirects:
        page.wait_for_url(lambda url: url != start, wait_until="load", timeout=PAGE_LOAD_TIMEOUT_MS)
    page.wait_for_load_state("load", timeout=PAGE_LOAD_TIMEOUT_MS)


def _wait_until_ready(page) -> None:
    """After the ``load`` event (of the page a redirect leads to): wait for the first
    MathJax pass (on pages with mathematics), then for the web fonts (MathJax's own
    among them) and the images.

    The book's pages request nothing after ``load`` that these do not cover, so
    Playwright's ``networkidle`` (at least 500 ms of silence per page) is not awaited.
    """
    _follow_redirect(page)
    if page.locator(".math").count():
        page.wait_for_function(
            "() => window.MathJax && MathJax.startup && MathJax.startup.promise",
            timeout=PAGE_LOAD_TIMEOUT_MS,
        )
        typeset = page.evaluate(
            """(ms) => Promise.race([MathJax.startup.promise.then(() => true),
                                    new Promise((done) => setTimeout(() => done(false), ms))])""",
            PAGE_LOAD_TIMEOUT_MS,
        )
        assert typeset, f"MathJax did not finish typesetting within {PAGE_LOAD_TIMEOUT_MS / 1000:.0f} s"
    # Fonts and images that are still loading (a broken image is reported by the checks).
    page.evaluate(
        """(ms) => Promise.race([
             Promise.all([
               document.fonts.ready,
               ...Array.from(document.images).filter((img) => !img.complete).map(
                 (img) => new Promise((done) => { img.onload = img.onerror = done; }))]),
             new Promise((done) => setTimeout(done, ms))])""",
        PAGE_LOAD_TIMEOUT_MS,
    )


def _fingerprint(src: str | None) -> str:
    """A short, comparable stand-in for an image src (frames are long data: URLs)."""
    src = src or ""
    return f"{src[:22]}…sha1:{hashlib.sha1(src.encode()).hexdigest()[:12]} ({len(src)} chars)"


def _check_sliders(page, count: int) -> list[SliderCheck]:
    """Use each to_jshtml player's slider (keyboard) and its 'Next frame' button."""
    checks = []
    players = page.locator("div.animation")
    for index in range(count):
        player = players.nth(index)
        slider = player.locator("input[type=range]")
        image = player.locator("img").first
        check = SliderCheck(index=index, frames=0)
        checks.append(check)
        if slider.count() != 1 or image.count() != 1:
            check.problem = f"player {index} has {slider.count()} range inputs and {image.count()} images"
            continue
        page.wait_for_function(
            "(el) => el.getAttribute('src')", arg=image.element_handle(), timeout=10_000
        )
        check.frames = int(slider.get_attribute("max") or 0) + 1
        slider.scroll_into_view_if_needed()
        slider.focus()
        slider.press("Home")
        check.src_first = _fingerprint(image.get_attribute("src"))
        slider.press("End")
        check.value_after_end = slider.input_value()
        check.src_last = _fingerprint(image.get_attribute("src"))
        slider.press("Home")
        next_button = player.locator("button[title='Next frame']")
        if next_button.count() == 1:
            next_button.click()
            check.src_after_next = _fingerprint(image.get_attribute("src"))
        else:
            check.problem = "the player has no 'Next frame' button"
    return checks


@pytest.fixture(scope="module")
def book_server():
    if not any(BUILD.glob("*.html")):
        unavailable(f"the book is not built: {BUILD} has no HTML pages (run `make book`)")
    with StaticServer(BUILD) as server:
        yield server


@pytest.fixture(scope="module")
def visit(browser_context, book_server):
    """visit(rel) -> PageReport; each page is opened once and the result reused."""
    reports: dict[str, PageReport | Exception] = {}
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def _visit(rel: str) -> PageReport:
        if rel == "<no build>":
            unavailable(f"the book is not built: {BUILD} has no HTML pages (run `make book`)")
        if isinstance(reports.get(rel), Exception):
            raise AssertionError(f"{rel} could not be checked: {reports[rel]}")
        if rel in reports:
            return reports[rel]
        watch = PageWatch.open(browser_context)
        report = PageReport(rel=rel, watch=watch)
        try:
            watch.page.goto(book_server.url + rel, wait_until="load", timeout=PAGE_LOAD_TIMEOUT_MS)
            _wait_until_ready(watch.page)
            data = watch.page.evaluate(COLLECT_JS)
            report.images = data["images"]
            report.math_elements = data["mathElements"]
            report.untypeset_math = data["untypeset"]
            report.mjx_containers = data["mjx"]
            report.mathjax_errors = data["mathjaxErrors"]
            report.raw_tex = sorted({m.group(0) for m in RAW_TEX.finditer(data["text"])})
            report.links = data["links"]
            report.live_ids = set(data["ids"])
            report.dead_widgets = data["deadWidgets"]
            report.noisy_outputs = data["noisyOutputs"]
            shot = SCREENSHOTS / (rel[: -len(".html")].replace("/", "__") + ".jpg")
            # CSS transitions are run to their end for the capture: without this a
            # sidebar was now and then caught half-way through a slide. JPEG, because
            # Chromium encodes a page 15 000 pixels tall as PNG in 1.3 s, as JPEG in 0.9 s.
            watch.page.screenshot(path=str(shot), full_page=True, animations="disabled",
                                  type="jpeg", quality=85)
            report.screenshot = shot
            report.sliders = _check_sliders(watch.page, data["animations"])
        except Exception as err:
            reports[rel] = err
            raise
        finally:
            watch.close()
        reports[rel] = report
        return report

    return _visit


def _describe(problems: list[str], limit: int = 15) -> str:
    shown = "\n  ".join(problems[:limit])
    more = f"\n  ... and {len(problems) - limit} more" if len(problems) > limit else ""
    return f"\n  {shown}{more}"


# --------------------------------------------------------------------------- tests


def toc_files() -> list[str]:
    """The pages listed in the book's _toc.yml (beside _build/), without suffix."""
    toc_path = BUILD.parent.parent / "_toc.yml"       # the book beside its _build/
    if not toc_path.is_file():
        toc_path = ROOT / "_toc.yml"
    toc = yaml.safe_load(toc_path.read_text(encoding="utf8"))
    files = []

    def walk(node):
        if isinstance(node, dict):
            for key in ("root", "file"):
                if key in node:
                    files.append(str(node[key]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(toc)
    return files


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
def test_no_javascript_errors(visit, rel):
    report = visit(rel)
    problems = [f"console error: {m}" for m in report.watch.console_errors]
    problems += [f"uncaught exception: {m}" for m in report.watch.page_errors]
    assert not problems, f"{rel}: JavaScript errors:{_describe(problems)}"


@pytest.mark.parametrize("rel", PAGES)
def test_everything_loads_offline(visit, rel):
    """Images, scripts and styles come from the book; nothing from other hosts."""
    report = visit(rel)
    problems = [f"request to another host: {url}" for url in report.watch.external_requests]
    problems += [f"HTTP error: {r}" for r in report.watch.bad_responses]
    problems += [f"request failed: {r}" for r in report.watch.failed_requests]
    problems += [
        f"image did not load: {img['src']}"
        for img in report.images
        if not img["complete"] or img["naturalWidth"] == 0
    ]
    assert not problems, f"{rel}: the page does not load offline:{_describe(problems)}"


@pytest.mark.parametrize("rel", PAGES)
def test_math_is_typeset(visit, rel):
    report = visit(rel)
    problems = [f"not typeset: {text!r}" for text in report.untypeset_math]
    problems += [f"MathJax error: {text!r}" for text in report.mathjax_errors]
    problems += [f"raw TeX visible in the page text: {text!r}" for text in report.raw_tex]
    if report.math_elements:
        assert report.mjx_containers >= report.math_elements, (
            f"{rel}: {report.math_elements} math elements but only "
            f"{report.mjx_containers} MathJax outputs"
        )
    assert not problems, f"{rel}: mathematics not typeset:{_describe(problems)}"


@pytest.mark.parametrize("rel", PAGES)
def test_internal_links_resolve(visit, book_server, rel):
    """Every same-site link points to an existing file and, with #id, to an existing id."""
    report = visit(rel)
    origin = urlsplit(book_server.url).netloc
    problems = []
    for href in sorted(set(report.links)):
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
            ids = ids | report.live_ids
        if fragment not in ids:
            problems.append(f"{href}: no element with id {fragment!r} in {target.relative_to(BUILD)}")
    assert not problems, f"{rel}: broken internal links:{_describe(problems)}"


@pytest.mark.parametrize("rel", PAGES)
def test_static_sliders_change_the_frame(visit, rel):
    """Each to_jshtml player shows another frame after its slider or step button is used."""
    report = visit(rel)
    problems = []
    for check in report.sliders:
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
def test_no_live_widgets_without_a_kernel(visit, rel):
    """A live ipywidgets control does nothing on a static page, so none may be shown."""
    dead_widgets = list(visit(rel).dead_widgets)
    assert not dead_widgets, (
        f"{rel}: controls that need a Jupyter kernel are on the static page "
        f"(tag the cell `remove-output` or show the widget only when a kernel runs):"
        f"{_describe(dead_widgets)}"
    )


@pytest.mark.parametrize("rel", PAGES)
def test_no_warnings_or_tracebacks_in_outputs(visit, rel):
    """Cell outputs on the page hold no stderr text (warnings) and no tracebacks."""
    noisy = [" ".join(text.split())[:160] for text in visit(rel).noisy_outputs]
    assert not noisy, f"{rel}: stderr or traceback outputs are shown on the page:{_describe(noisy)}"


@pytest.mark.parametrize("rel", PAGES)
def test_screenshot_saved(visit, rel):
    report = visit(rel)
    assert report.screenshot is not None and report.screenshot.stat().st_size > 10_000, (
        f"{rel}: no full-page screenshot in {SCREENSHOTS}"
    )
