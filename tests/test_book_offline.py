"""The built book loads MathJax, RequireJS and the widget manager from its own files.

These checks read the HTML in ``_build/html`` (``make book``); they are skipped
when the book has not been built. ``make test`` runs them after its strict build.
See ``scripts/vendor_assets.py`` and the ``sphinx: config:`` block of ``_config.yml``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

pytestmark = pytest.mark.book

ROOT = Path(__file__).resolve().parents[1]
HTML_DIR = ROOT / "_build" / "html"
VENDOR = HTML_DIR / "_static" / "vendor"

MATHJAX = "_static/vendor/mathjax/tex-mml-chtml.js"
REQUIREJS = "_static/vendor/requirejs/require.js"
WIDGETS_OFFLINE = "_static/widgets_offline.js"
EMBED_AMD = "_static/vendor/html-manager/embed-amd.js"

CDN_HOSTS = ("cdn.jsdelivr.net", "unpkg.com", "cdnjs.cloudflare.com")
# A CDN URL for one of the three vendored libraries, anywhere in a page.
CDN_ASSET = re.compile(
    r"(?:%s)/[^\s\"'<>]*(?:mathjax|require|html-manager|jupyter-widgets)" % "|".join(map(re.escape, CDN_HOSTS)),
    re.IGNORECASE,
)

if not HTML_DIR.is_dir():
    pytest.skip("book not built: run `make book` first", allow_module_level=True)

# Every page of the site (_static/ only holds theme template fragments).
PAGES = sorted(p for p in HTML_DIR.rglob("*.html") if "_static" not in p.relative_to(HTML_DIR).parts)
# Pages written from the sources (not the search page, the index or redirects).
CONTENT_PAGES = [p for p in PAGES if p.parent != HTML_DIR or p.name not in {"genindex.html", "search.html", "index.html"}]


class _Resources(HTMLParser):
    """Collect the URLs of scripts and stylesheets a page loads, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.styles: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "script" and attributes.get("src"):
            self.scripts.append(attributes["src"])
        elif tag == "link" and attributes.get("href"):
            rel = (attributes.get("rel") or "").lower()
            if "stylesheet" in rel or "preload" in rel or "modulepreload" in rel:
                self.styles.append(attributes["href"])


@lru_cache(maxsize=None)
def _text(page: Path) -> str:
    return page.read_text(encoding="utf8")


@lru_cache(maxsize=None)
def _resources(page: Path) -> _Resources:
    parser = _Resources()
    parser.feed(_text(page))
    return parser


def _is_remote(url: str) -> bool:
    return url.startswith("//") or urlsplit(url).scheme in {"http", "https"}


def _local_target(page: Path, url: str) -> Path:
    return (page.parent / unquote(urlsplit(url).path)).resolve()


def _site_path(page: Path, url: str) -> str:
    """The URL as a path from the site root, without its ?v= query."""
    return _local_target(page, url).relative_to(HTML_DIR.resolve()).as_posix()


def test_pages_were_built():
    assert CONTENT_PAGES, f"no HTML pages under {HTML_DIR}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(HTML_DIR).as_posix())
def test_page_loads_no_script_or_stylesheet_from_the_network(page: Path):
    res = _resources(page)
    remote = [url for url in res.scripts + res.styles if _is_remote(url)]
    assert remote == [], f"{page.name} loads remote resources: {remote}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(HTML_DIR).as_posix())
def test_page_has_no_cdn_url_for_mathjax_requirejs_or_widgets(page: Path):
    found = CDN_ASSET.findall(_text(page))
    assert found == [], f"{page.name} refers to CDN copies of vendored libraries: {found}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(HTML_DIR).as_posix())
def test_local_scripts_and_stylesheets_exist(page: Path):
    res = _resources(page)
    missing = [url for url in res.scripts + res.styles if not _is_remote(url) and not _local_target(page, url).is_file()]
    assert missing == [], f"{page.name} refers to files that were not built: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(HTML_DIR).as_posix())
def test_vendor_scripts_are_loaded_deliberately(page: Path):
    """Only the entry points are on a page, never MathJax's internal modules.

    Catches Jupyter Book adding every file under html_static_path to every page,
    which happens if a top-level _static/ folder is created.
    """
    scripts = [_site_path(page, url) for url in _resources(page).scripts if not _is_remote(url)]
    vendored = [s for s in scripts if s.startswith("_static/vendor/")]
    assert set(vendored) <= {MATHJAX, REQUIREJS, EMBED_AMD}, vendored
    assert len(vendored) == len(set(vendored)), f"a vendor script is loaded twice: {vendored}"


@pytest.mark.parametrize("page", CONTENT_PAGES, ids=lambda p: p.relative_to(HTML_DIR).as_posix())
def test_math_and_widgets_use_the_local_copies(page: Path):
    text = _text(page)
    scripts = [_site_path(page, url) for url in _resources(page).scripts if not _is_remote(url)]
    if 'class="math' in text:
        assert MATHJAX in scripts, f"{page.name} has math but does not load {MATHJAX}"
    if "application/vnd.jupyter.widget-state+json" in text:
        for needed in (REQUIREJS, WIDGETS_OFFLINE, EMBED_AMD):
            assert needed in scripts, f"{page.name} has widgets but does not load {needed}"
        order = [scripts.index(s) for s in (REQUIREJS, WIDGETS_OFFLINE, EMBED_AMD)]
        assert order == sorted(order), f"widget scripts out of order on {page.name}: {scripts}"


@pytest.mark.parametrize("page", CONTENT_PAGES, ids=lambda p: p.relative_to(HTML_DIR).as_posix())
def test_widget_scripts_only_on_pages_that_show_a_widget(page: Path):
    """RequireJS and the widget manager (about 3.6 MB) and the stored widget state
    belong only on pages that display a widget (see scripts/execute_notebooks.py)."""
    text = _text(page)
    if "application/vnd.jupyter.widget-view+json" in text:
        return
    scripts = [_site_path(page, url) for url in _resources(page).scripts if not _is_remote(url)]
    loaded = [s for s in scripts if s in {REQUIREJS, WIDGETS_OFFLINE, EMBED_AMD}]
    assert loaded == [], f"{page.name} shows no widget but loads {loaded}"
    assert "application/vnd.jupyter.widget-state+json" not in text, (
        f"{page.name} shows no widget but stores widget state"
    )


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(HTML_DIR).as_posix())
def test_no_inline_script_is_repeated(page: Path):
    """A repeated `const` declaration throws in the browser (see _ext/book_html_fixes.py)."""
    bodies = re.findall(r"<script>(.*?)</script>", _text(page), flags=re.DOTALL)
    repeated = sorted({body[:60] for body in bodies if body.strip() and bodies.count(body) > 1})
    assert repeated == [], f"{page.name} repeats inline scripts: {repeated}"


def test_vendored_files_are_in_the_build():
    assert (VENDOR / "mathjax" / "tex-mml-chtml.js").is_file()
    fonts = list((VENDOR / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))
    assert len(fonts) > 10, "MathJax CHTML fonts were not copied"
    assert (VENDOR / "requirejs" / "require.js").is_file()
    assert (VENDOR / "html-manager" / "embed-amd.js").is_file()
    assert list((VENDOR / "html-manager").glob("*.woff2")), "widget icon fonts were not copied"
    assert (HTML_DIR / WIDGETS_OFFLINE).is_file()
