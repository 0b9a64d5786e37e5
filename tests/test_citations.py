"""The book cites as a textbook does: every work in references.bib, cited with {cite} roles.

The sources are read directly (pybtex parses the .bib file, a regular expression
finds the roles), so these checks do not depend on the Sphinx extension that renders
the citations.  The last test reads the built bibliography page (``make book``).
"""
from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from pybtex.database import parse_file

ROOT = Path(__file__).resolve().parents[1]
BIB = ROOT / "references.bib"
HTML_DIR = ROOT / "_build" / "html"
PAGES = sorted((ROOT / "book").glob("*.ipynb")) + sorted((ROOT / "book").glob("*.md"))
CITE = re.compile(r"\{cite(?::(\w+))?\}`([^`]+)`")
# "Ho et al. (2020)", "Ho et al. 2020", "Nichol and Dhariwal (2021)", "Ho & Salimans 2022",
# "Hyvärinen (2005)": a citation written as plain text instead of a {cite} role.
PLAIN_CITATION = re.compile(
    r"\b[A-Z][\w\-]+(?: et al\.| (?:and|&) [A-Z][\w\-]+)?,? \(?(?:19|20)\d\d[a-z]?\b(?![\w.])")
# Chapters whose prose is still being converted to {cite} roles; every other page is checked.
NOT_YET_CONVERTED: set[str] = set()


def _prose(path: Path) -> str:
    """The text a reader sees of a page: a .md file, or a notebook's markdown cells."""
    if path.suffix == ".md":
        return path.read_text(encoding="utf8")
    cells = json.loads(path.read_text(encoding="utf8"))["cells"]
    return "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


def _citations() -> list[tuple[str, str, str]]:
    """(page, role, key) of every {cite} role of the book."""
    found = []
    for page in PAGES:
        for role, keys in CITE.findall(_prose(page)):
            keys = re.sub(r"^\{[^}]*\}\{[^}]*\}", "", keys)       # {pre}{post} text of the role
            found += [(page.name, role or "", key.strip()) for key in keys.split(",")]
    return found


def test_every_cited_key_is_in_references_bib():
    entries = parse_file(BIB).entries
    cited = _citations()
    assert len(cited) > 20
    unknown = sorted({(page, key) for page, _, key in cited if key not in entries})
    assert not unknown, f"cited but not in {BIB.name}: {unknown}"


def test_every_entry_of_references_bib_is_cited():
    """The bibliography page lists all of references.bib (``:all:``): so every entry is cited."""
    cited = {key for _, _, key in _citations()}
    uncited = sorted(set(parse_file(BIB).entries) - cited)
    assert not uncited, f"in {BIB.name} but cited nowhere: {uncited}"


def test_every_entry_has_author_title_and_year():
    for key, entry in parse_file(BIB).entries.items():
        assert entry.persons.get("author"), key
        assert entry.fields.get("title") and re.fullmatch(r"(19|20)\d\d", entry.fields.get("year", "")), key
        venue = [f for f in ("journal", "booktitle", "howpublished") if entry.fields.get(f)]
        assert venue, f"{key}: no journal, booktitle or howpublished"


def test_the_two_song_2021_papers_are_cited_apart():
    """DDIM (Song, Meng and Ermon) is always cited with its three names ({cite:ts}, {cite:ps}),
    so that "Song et al. (2021)" can only be the paper on stochastic differential equations."""
    entries = parse_file(BIB).entries
    ddim, sde = entries["song2021ddim"], entries["song2021sde"]
    assert ddim.fields["year"] == sde.fields["year"] == "2021"
    assert [p.last_names for p in ddim.persons["author"]] == [["Song"], ["Meng"], ["Ermon"]]
    assert sde.persons["author"][0].last_names == ["Song"] and len(sde.persons["author"]) == 6
    roles = {role for _, role, key in _citations() if key == "song2021ddim"}
    assert roles and roles <= {"ts", "ps"}, f"DDIM cited with {roles}: use {{cite:ts}} or {{cite:ps}}"


@pytest.mark.parametrize("page", [p for p in PAGES if p.name not in NOT_YET_CONVERTED], ids=lambda p: p.name)
def test_no_citation_left_as_plain_text(page):
    text = CITE.sub("", _prose(page))
    text = re.sub(r"\$[^$]*\$", "", text)                        # formulas
    plain = [m.group(0) for m in PLAIN_CITATION.finditer(text)
             if not re.match(r"(?:chapter|Chapter|eq|equation|Algorithm|NeurIPS|ICML|ICLR|PMLR)\b", m.group(0))]
    assert not plain, f"{page.name}: cite with {{cite:t}} or {{cite:p}}: {plain}"


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids.add(attributes["id"])
        if tag == "a" and attributes.get("href"):
            self.links.append(attributes["href"])


def _parse(path: Path) -> _Anchors:
    parser = _Anchors()
    parser.feed(path.read_text(encoding="utf8"))
    return parser


@pytest.mark.book
def test_built_citations_link_to_entries_of_the_bibliography_page():
    page = HTML_DIR / "book" / "bibliography.html"
    if not page.is_file():
        pytest.skip("book not built: run `make book` first")
    bibliography = _parse(page)
    text = page.read_text(encoding="utf8")
    for entry in parse_file(BIB).entries.values():      # every entry listed, by its title
        title = re.sub(r"[{}]", "", entry.fields["title"])
        assert title.lower() in text.lower(), f"not on the bibliography page: {title}"
    linked = 0
    for html in sorted(HTML_DIR.joinpath("book").glob("*.html")):
        for href in _parse(html).links:
            parts = urlsplit(href)
            if parts.path.endswith("bibliography.html") and parts.fragment:
                linked += 1
                assert parts.fragment in bibliography.ids, f"{html.name}: {href} points at no entry"
    assert linked > 20
