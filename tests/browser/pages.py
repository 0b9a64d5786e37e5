"""One visit per built page and screen: the book's pages, opened in headless Chromium.

Every page of ``_build/html`` is opened once on the desktop (1280 × 900) and once on
a phone (390 × 844); the tests of every module read what that one visit found.
A test module that needs more from a page than every page gives registers a
*probe* for it (:func:`on_desktop`, :func:`on_phone`): a function of the open page,
run during the visit, whose result (or error) the module's tests read with
:meth:`Visit.probe`.

A desktop visit, in order: load the page and wait until it is ready (MathJax
typeset, fonts and images loaded); read the page (``COLLECT_JS``); run the
read-only probes; take a screenshot of the first screen; use every static
animation player; run the probes that click (``interactive=True``).

A phone visit: load and wait; measure the formulas and figures (``MEASURE_JS``);
run the probes; on a chapter, tap the page-contents button, then ☰, each on the
page as loaded (the page is reloaded if a panel does not close).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .conftest import PHONE_VIEWPORT, ROOT, PageWatch

BUILD = Path(os.environ.get("DDPM_BOOK_HTML", ROOT / "_build" / "html")).resolve()
SCREENSHOTS = Path(os.environ.get("DDPM_SCREENSHOTS", BUILD.parent / "screenshots")).resolve()
# Full-page screenshots of every page, for a person to look at (no test reads them):
# DDPM_FULL_SCREENSHOTS=1 make test-built.
FULL_SCREENSHOTS = os.environ.get("DDPM_FULL_SCREENSHOTS", "").strip().lower() in {"1", "true", "yes", "on"}
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
# Chapter pages: they have a page-contents menu and links to other chapters.
CHAPTERS = [rel for rel in PAGES if re.match(r"book/\d\d_|book/(appendix|conclusion)\.html", rel)]


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


def chapter_number(file: str) -> int:
    """The number of chapter ``file`` (e.g. ``"book/09_fewer_steps"``) in the book: its place
    among the chapters ``book/NN_*`` of ``_toc.yml``, which are numbered across the parts."""
    chapters = [f for f in toc_files() if re.match(r"book/\d\d_", f)]
    if file not in chapters:
        raise AssertionError(f"{file} is not among the numbered chapters of _toc.yml: {chapters}")
    return chapters.index(file) + 1


# --------------------------------------------------------------------------- probes


@dataclass(frozen=True)
class Probe:
    """``read(page)`` run on ``rel`` during its visit on ``screen`` ("desktop" or "phone")."""

    screen: str
    rel: str
    read: Callable
    interactive: bool = False

    @property
    def name(self) -> str:
        return f"{self.read.__module__}.{self.read.__qualname__}"


PROBES: list[Probe] = []


def _register(screen: str, rel: str, interactive: bool):
    def decorate(read: Callable) -> Callable:
        PROBES.append(Probe(screen, rel, read, interactive))
        return read
    return decorate


def on_desktop(rel: str, *, interactive: bool = False):
    """Run the decorated ``read(page)`` on the desktop visit of ``rel``.

    Probes that click or type (``interactive=True``) run last, after the screenshot
    and the animation players; the others run on the page as loaded."""
    return _register("desktop", rel, interactive)


def on_phone(rel: str):
    """Run the decorated ``read(page)`` on the phone visit of ``rel``, on the page as loaded."""
    return _register("phone", rel, False)


def _run_probes(visit: "Visit", page, screen: str, rel: str, interactive: bool) -> None:
    for probe in PROBES:
        if probe.screen == screen and probe.rel == rel and probe.interactive == interactive:
            try:
                visit.probes[probe.name] = probe.read(page)
            except Exception as err:  # noqa: BLE001 - reported by the tests that read the probe
                visit.probe_errors[probe.name] = err


# --------------------------------------------------------------------------- loading


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


def load(page, url: str, reload: bool = False) -> None:
    """Open ``url`` (or reload the page) and wait until it is ready."""
    if reload:
        page.reload(wait_until="load", timeout=PAGE_LOAD_TIMEOUT_MS)
    else:
        page.goto(url, wait_until="load", timeout=PAGE_LOAD_TIMEOUT_MS)
    _wait_until_ready(page)


# --------------------------------------------------------------------------- a visit


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
class Visit:
    """What one visit to a page on one screen found.

    ``watch``: the errors and requests of the whole visit.  ``data``: COLLECT_JS
    (desktop) or MEASURE_JS (phone) on the page as loaded.  ``probes``: the
    results of the probes registered for the page, by name (their errors in
    ``probe_errors``).  Desktop only: ``screenshot`` (PNG bytes of the first
    screen), ``sliders`` (the animation players used).  Phone only, on a chapter:
    ``links[button]``, the links on screen after tapping ``button`` (None if no
    such button is visible), and ``errors[button]``.
    """

    rel: str
    watch: PageWatch
    data: dict = field(default_factory=dict)
    probes: dict[str, object] = field(default_factory=dict)
    probe_errors: dict[str, Exception] = field(default_factory=dict)
    screenshot: bytes = b""
    screenshot_path: Path | None = None
    sliders: list[SliderCheck] = field(default_factory=list)
    links: dict[tuple, list[str] | None] = field(default_factory=dict)
    errors: dict[tuple, Exception] = field(default_factory=dict)

    def probe(self, read: Callable):
        """The result of probe ``read`` on this visit (its error raised again)."""
        name = f"{read.__module__}.{read.__qualname__}"
        if name in self.probe_errors:
            raise AssertionError(f"{self.rel}: probe {read.__name__} failed: {self.probe_errors[name]}") \
                from self.probe_errors[name]
        if name not in self.probes:
            raise AssertionError(f"{self.rel}: probe {read.__name__} was not run on this visit")
        return self.probes[name]

    def links_after_tapping(self, button: tuple) -> list[str] | None:
        if button in self.errors:
            raise self.errors[button]
        return self.links[button]


COLLECT_JS = r"""
() => {
  const visibleText = (root) => {
    const clone = root.cloneNode(true);
    clone.querySelectorAll(
      'pre, code, script, style, textarea, mjx-container, .highlight, .MathJax, mjx-assistive-mml'
    ).forEach((el) => el.remove());
    return clone.innerText || clone.textContent || '';
  };
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


def _fingerprint(src: str | None) -> str:
    """A short, comparable stand-in for an image src (frames are long data: URLs)."""
    src = src or ""
    return f"{src[:22]}…sha1:{hashlib.sha1(src.encode()).hexdigest()[:12]} ({len(src)} chars)"


def check_sliders(page, count: int) -> list[SliderCheck]:
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


def _finish_on_desktop(visit: Visit, page, url: str) -> None:
    """After the read-only probes: the screenshot, the animation players, the clicking probes."""
    # The first screen, with CSS transitions run to their end (a sidebar was now and
    # then caught half-way through a slide); its pixels are read by a test.
    visit.screenshot = page.screenshot(animations="disabled", type="png")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    stem = visit.rel[: -len(".html")].replace("/", "__")
    visit.screenshot_path = SCREENSHOTS / f"{stem}.png"
    visit.screenshot_path.write_bytes(visit.screenshot)
    if FULL_SCREENSHOTS:
        page.screenshot(path=str(SCREENSHOTS / f"{stem}-full.jpg"), full_page=True,
                        animations="disabled", type="jpeg", quality=85)
    visit.sliders = check_sliders(page, visit.data["animations"])
    _run_probes(visit, page, "desktop", visit.rel, interactive=True)


# --------------------------------------------------------------------------- the phone

MEASURE_JS = r"""
() => {
  const clipped = [];
  const viewport = document.documentElement.clientWidth;
  const scrolls = (el) => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
  for (const box of document.querySelectorAll('span.math, div.math')) {
    const jax = box.querySelector('mjx-container');
    if (!jax) continue;
    const rect = jax.getBoundingClientRect();
    const text = (box.querySelector('mjx-assistive-mml') || box).textContent.trim().slice(0, 60);
    // Cut off: the formula's box reaches past an ancestor that hides its overflow,
    // or past the screen with no scrolling box on the way.
    let canScroll = false;
    let cut = false;
    for (let el = jax.parentElement; el && el !== document.body; el = el.parentElement) {
      if (scrolls(el)) { canScroll = true; break; }
      const overflow = getComputedStyle(el).overflowX;
      const r = el.getBoundingClientRect();
      if ((overflow === 'hidden' || overflow === 'clip') && rect.right > r.right + 1) {
        cut = true; break;
      }
    }
    if (cut || (!canScroll && rect.right > viewport + 1)) {
      clipped.push(`${text} (right edge at ${Math.round(rect.right)} px of ${viewport})`);
    }
  }
  const figures = Array.from(document.querySelectorAll('.cell_output img'))
    .filter((img) => !img.closest('.animation') && /\.png$/i.test(new URL(img.src).pathname))
    .map((img) => ({src: img.src, shown: img.getBoundingClientRect().width,
                    natural: img.naturalWidth}));
  const resources = performance.getEntriesByType('resource');
  const nav = performance.getEntriesByType('navigation')[0];
  const bytes = resources.reduce((sum, r) => sum + (r.encodedBodySize || 0), 0)
    + (nav ? nav.encodedBodySize || 0 : 0);
  const scripts = resources.map((r) => r.name).filter((n) => /\.js(\?|$)/.test(n));
  return {clipped, figures, bytes, scripts, viewport,
          scrollWidth: document.documentElement.scrollWidth};
}
"""

# The two buttons of a chapter on a phone, and the links each one should bring on screen.
MENU = (".primary-toggle", "nav.bd-links a.reference.internal")
CONTENTS = (".secondary-toggle", "#pst-page-toc-nav a, .page-toc a")
# A tapped button opens its panel as a modal <dialog>; Escape closes it again.
PANEL_OPEN_JS = """() => {
  const panel = document.querySelector('dialog[open]');
  return !!panel && panel.getAnimations({subtree: true}).every((a) => a.playState !== 'running');
}"""
PANEL_CLOSED_JS = """() => !document.querySelector('dialog[open]') && document.getAnimations().every(
  (a) => a.playState !== 'running' || a.effect?.getTiming().iterations === Infinity)"""
PANEL_TIMEOUT_MS = 5_000


def _settle(page, condition: str) -> bool:
    """Wait until ``condition`` (JS) holds; False if it did not within PANEL_TIMEOUT_MS."""
    try:
        page.wait_for_function(condition, timeout=PANEL_TIMEOUT_MS)
        return True
    except Exception:  # noqa: BLE001 - what is on screen is checked all the same
        return False


def _visible_one(page, selector: str):
    buttons = page.locator(selector)
    for k in range(buttons.count()):
        if buttons.nth(k).is_visible():
            return buttons.nth(k)
    return None


def _links_on_screen(page, selector: str) -> list[str]:
    """hrefs of the links matching ``selector`` that are visible inside the viewport."""
    return page.evaluate(
        """([selector, w, h]) => Array.from(document.querySelectorAll(selector)).filter((a) => {
             const r = a.getBoundingClientRect();
             const style = getComputedStyle(a);
             return r.width > 0 && r.height > 0 && style.visibility !== 'hidden'
               && r.left >= 0 && r.right <= w && r.top >= 0 && r.bottom <= h
               && document.elementFromPoint(r.left + Math.min(r.width / 2, 20), r.top + r.height / 2)
                    ?.closest('a') === a;
           }).map((a) => a.href)""",
        [selector, PHONE_VIEWPORT["width"], PHONE_VIEWPORT["height"]],
    )


def _tap_and_read(page, button: tuple) -> tuple[list[str] | None, bool]:
    """Tap the visible ``button[0]``, read the hrefs of the ``button[1]`` links then on screen
    (None if no such button is visible) and close its panel with Escape.

    Returns the hrefs and whether the page is back as it was (the panel closed)."""
    toggle_selector, link_selector = button
    toggle = _visible_one(page, toggle_selector)
    if toggle is None:
        return None, True
    toggle.tap()
    _settle(page, PANEL_OPEN_JS)
    links = _links_on_screen(page, link_selector)
    page.keyboard.press("Escape")
    return links, _settle(page, PANEL_CLOSED_JS)


def _finish_on_phone(visit: Visit, page, url: str) -> None:
    """After the read-only probes, on a chapter: tap the page-contents button, then ☰."""
    if visit.rel not in CHAPTERS:
        return
    fresh = True
    for button in (CONTENTS, MENU):
        try:
            if not fresh:
                load(page, url, reload=True)
            visit.links[button], fresh = _tap_and_read(page, button)
        except Exception as err:  # noqa: BLE001 - reported by this button's test
            visit.errors[button] = err
            fresh = False


# --------------------------------------------------------------------------- one visit

SCREENS = {"desktop": (COLLECT_JS, _finish_on_desktop), "phone": (MEASURE_JS, _finish_on_phone)}


def visit_page(context, url: str, rel: str, screen: str) -> Visit:
    """Open ``rel`` once on ``screen`` and record everything its tests read: the page's
    data as loaded, the read-only probes, then what the screen does next."""
    read_js, finish = SCREENS[screen]
    watch = PageWatch.open(context)
    visit = Visit(rel=rel, watch=watch)
    try:
        page = watch.page
        load(page, url)
        visit.data = page.evaluate(read_js)
        _run_probes(visit, page, screen, rel, interactive=False)
        finish(visit, page, url)
        return visit
    finally:
        watch.close()
