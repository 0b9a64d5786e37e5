"""The course as one PDF (``make pdf``): complete, typeset, every figure printed.

Reads ``_build/pdf/course.pdf`` and the single-page HTML it was printed from
(``_build/singlehtml/course.html``) with poppler's ``pdfinfo``, ``pdftotext``
and ``pdfimages`` (Debian: poppler-utils, installed by scripts/install_browser.sh).
Skipped when no PDF has been built.
"""

from __future__ import annotations

import os
import re
import shutil
from collections import Counter
from html import unescape
import subprocess
from functools import lru_cache
from pathlib import Path

import pytest

pytestmark = pytest.mark.book

ROOT = Path(__file__).resolve().parents[1]
PDF = ROOT / "_build" / "pdf" / "course.pdf"
HTML = ROOT / "_build" / "singlehtml" / "course.html"
CHAPTERS = [
    "1. The normal distribution",
    "2. The forward process",
    "3. The shortcut",
    "4. The posterior",
    "5. The model",
    "6. Training and sampling",
    "7. Optimal solutions",
    "8. The score and the ideal denoiser",
    "9. Fewer sampling steps",
    "10. Conditioning and classifier-free",
    "Appendix: Bayes",
    "Conclusion",
]

if not PDF.is_file():
    if os.environ.get("CI"):
        raise RuntimeError(f"{PDF} is missing: `make test` builds it with `make pdf` before this test")
    pytest.skip("no PDF: run `make pdf` first", allow_module_level=True)
if not all(shutil.which(tool) for tool in ("pdfinfo", "pdftotext", "pdfimages")):
    pytest.skip("poppler-utils is not installed (scripts/install_browser.sh)", allow_module_level=True)


@lru_cache(maxsize=None)
def _run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def _text() -> str:
    return _run("pdftotext", "-layout", str(PDF), "-")


def test_page_count():
    pages = int(re.search(r"^Pages:\s+(\d+)", _run("pdfinfo", str(PDF)), re.MULTILINE).group(1))
    # Seven chapters, appendix, conclusion, exercises and solutions on A4.
    assert 80 <= pages <= 400, f"{pages} pages"


def test_chapter_titles_are_numbered():
    lines = {" ".join(line.split()) for line in _text().splitlines()}
    missing = [title for title in CHAPTERS if not any(line.startswith(title) for line in lines)]
    assert not missing, f"chapter titles missing from the PDF: {missing}"


def _code_text() -> str:
    """The text of the code listings and outputs of the printed page."""
    html = HTML.read_text(encoding="utf8")
    blocks = re.findall(r"<pre[^>]*>(.*?)</pre>", html, flags=re.DOTALL)
    return unescape(re.sub(r"<[^>]+>", "", "\n".join(blocks)))


def test_no_raw_tex_and_no_folded_blocks():
    """TeX appears in the PDF only where the code itself contains it (plot titles)."""
    text, code = _text(), _code_text()
    pattern = re.compile(r"\$\$|\\(?:frac|begin|end|sqrt|bar|mathcal|tilde)\b")
    in_pdf = Counter(pattern.findall(text))
    in_code = Counter(pattern.findall(code))
    raw = {tex: n - in_code[tex] for tex, n in in_pdf.items() if n > in_code[tex]}
    assert not raw, f"TeX that MathJax did not typeset (beyond the code listings): {raw}"
    assert "Click to show" not in text, "a dropdown was printed folded"


def test_every_figure_is_printed():
    html = HTML.read_text(encoding="utf8")
    figures = set(re.findall(r'<img[^>]*src="(_images/[^"]+\.png)"', html))
    rows = [line for line in _run("pdfimages", "-list", str(PDF)).splitlines()[2:] if line.strip()]
    # pdfimages lists each placed image (plus a soft mask for transparent ones).
    placed = [row for row in rows if row.split()[2] == "image"]
    assert figures, "the single-page HTML has no figures"
    assert len(placed) >= len(figures), f"{len(placed)} images in the PDF, {len(figures)} figures in the book"


def test_the_bibliography_is_printed_with_every_entry():
    """The back matter's bibliography page: every work of references.bib, by its title."""
    from pybtex.database import parse_file

    text = _text()
    assert "Bibliography" in text
    printed = re.sub(r"[^a-z0-9]", "", text[text.rindex("Bibliography"):].lower())
    for key, entry in parse_file(ROOT / "references.bib").entries.items():
        title = re.sub(r"[^a-z0-9]", "", entry.fields["title"].lower())
        assert title in printed, f"{key} is not in the printed bibliography"
