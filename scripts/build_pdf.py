"""Print the single-page HTML build of the course to one PDF with the system Chromium.

``make pdf`` first builds the book with Sphinx's ``singlehtml`` builder (every
chapter, exercise and solution on one page, chapters numbered), then runs

    .venv/bin/python scripts/build_pdf.py _build/singlehtml _build/pdf/course.pdf

The page is opened from disk in Debian's Chromium (``/usr/bin/chromium``, driven
through Playwright as in the browser tests; nothing is downloaded, and requests
to other hosts are refused). The script waits until MathJax has typeset every
formula and every image has loaded, opens the collapsed blocks (derivations in
dropdowns), and prints with the print style sheet (``book/_static/book.css``).
Paper cannot scroll, so a display formula wider than the text is set smaller
until it fits (``FIT_FORMULAS_JS``), measured at the width of the printed page.
``jupyter-book build --builder pdfhtml`` is not used: it downloads its own browser.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

CHROMIUM = Path(os.environ.get("DDPM_CHROMIUM", "/usr/bin/chromium"))
TIMEOUT_MS = 180_000
# A4 with the margins of print_pdf: 210 mm - 2 × 12 mm of text width, in CSS pixels (96 per inch).
PAGE_WIDTH_PX = round((210 - 2 * 12) / 25.4 * 96)

# Shrinks every display formula wider than the room left beside its equation
# number; returns how many it shrank and how many still reach past their box.
FIT_FORMULAS_JS = r"""
() => {
  let shrunk = 0;
  for (const jax of document.querySelectorAll('div.math > mjx-container[display="true"]')) {
    const box = jax.parentElement;
    const eqno = box.querySelector(':scope > .eqno');
    const room = box.clientWidth - (eqno ? eqno.getBoundingClientRect().width + 8 : 0);
    const math = jax.querySelector('mjx-math');
    const wide = math ? math.getBoundingClientRect().width : jax.scrollWidth;
    if (room > 0 && wide > room) {
      const size = parseFloat(getComputedStyle(jax).fontSize);
      jax.style.setProperty('font-size', `${(size * room / wide * 0.98).toFixed(2)}px`, 'important');
      shrunk += 1;
    }
  }
  const still = Array.from(document.querySelectorAll('div.math > mjx-container[display="true"]'))
    .filter((jax) => jax.querySelector('mjx-math')?.getBoundingClientRect().right
                     > jax.parentElement.getBoundingClientRect().right + 1).length;
  return [shrunk, still];
}
"""


def entry_page(build: Path) -> Path:
    """The page holding the whole book, copied to the top of the build folder.

    ``index.html`` redirects to the root document (``book/intro.html``), but
    Sphinx writes that page's links to ``_static/`` and ``_images/`` relative
    to the top of the build, so it is opened from there.
    """
    index = build / "index.html"
    if not index.is_file():
        raise SystemExit(f"{index} not found: build the book with `--builder singlehtml` first")
    redirect = re.search(r'url=([^"\']+)"', index.read_text(encoding="utf8"))
    if redirect is None:
        return index.resolve()
    page = build / "course.html"
    page.write_text((build / redirect.group(1)).read_text(encoding="utf8"), encoding="utf8")
    return page.resolve()


def print_pdf(page_path: Path, pdf_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        raise SystemExit(f"{CHROMIUM} not found: run scripts/install_browser.sh")
    pdf_path.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 1400})
            page.set_default_timeout(TIMEOUT_MS)
            page.route("**/*", lambda route: route.continue_()
                       if route.request.url.startswith(("file:", "data:", "blob:", "about:"))
                       else route.abort("blockedbyclient"))
            page.goto(page_path.as_uri(), wait_until="load")
            page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
            page.evaluate("() => MathJax.startup.promise")
            page.evaluate(
                """() => Promise.all(Array.from(document.images).filter((img) => !img.complete)
                     .map((img) => new Promise((done) => { img.onload = img.onerror = done; })))"""
            )
            untypeset = page.evaluate(
                "() => Array.from(document.querySelectorAll('.math')).filter("
                "(el) => !el.querySelector('mjx-container')).length"
            )
            if untypeset:
                raise SystemExit(f"MathJax left {untypeset} formulas untypeset")
            page.evaluate(
                """() => document.querySelectorAll('details.dropdown, details.sd-dropdown')
                     .forEach((d) => d.setAttribute('open', ''))"""
            )
            page.emulate_media(media="print")
            # Lay the page out at the printed width, then fit the long formulas to it.
            page.set_viewport_size({"width": PAGE_WIDTH_PX, "height": 1400})
            shrunk, still = page.evaluate(FIT_FORMULAS_JS)
            print(f"{shrunk} display formulas set smaller to fit the page width")
            if still:
                raise SystemExit(f"{still} display formulas are still wider than the page")
            page.pdf(
                path=str(pdf_path),
                format="A4",
                print_background=True,
                margin={"top": "15mm", "bottom": "15mm", "left": "12mm", "right": "12mm"},
            )
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build", type=Path, help="the singlehtml build folder, e.g. _build/singlehtml")
    parser.add_argument("pdf", type=Path, help="the PDF to write")
    args = parser.parse_args(argv)
    page = entry_page(args.build)
    print_pdf(page, args.pdf)
    print(f"wrote {args.pdf} ({args.pdf.stat().st_size / 1e6:.1f} MB) from {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
