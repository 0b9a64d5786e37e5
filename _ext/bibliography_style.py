"""Sphinx extension: the book's citation style, author and year in round brackets.

Loaded through ``sphinx: local_extensions:`` in ``_config.yml``, which selects it with
``bibtex_reference_style: author_year_round``.  sphinxcontrib-bibtex's own
``author_year`` style puts square brackets around the year, "Ho et al. [2020]"; this
one writes "Ho et al. (2020)" for ``{cite:t}`` and "(Ho et al., 2020)" for
``{cite:p}``, with several works separated by semicolons, as the prose of the book
always has.  It is registered as a pybtex plugin, the way sphinxcontrib-bibtex
documents for custom referencing styles.

The bibliography page labels each entry the same way, "[Ho et al. 2020]", instead of
a number (``bibtex_default_style: plain_author_year``: pybtex's ``plain`` style with
these labels).  Where two labels would read alike, more names are written until they
differ, as author-date styles do: "Song, Meng and Ermon 2021" (DDIM) beside "Song,
Sohl-Dickstein et al. 2021" (the stochastic differential equations).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pybtex.plugin
import sphinxcontrib.bibtex.plugin
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle
from sphinxcontrib.bibtex.style.referencing import BracketStyle, PersonStyle
from sphinxcontrib.bibtex.style.referencing.author_year import AuthorYearReferenceStyle

STYLE_NAME = "author_year_round"
LABELS_NAME = "author_year"
FORMATTING_NAME = "plain_author_year"


def round_brackets() -> BracketStyle:
    return BracketStyle(left="(", right=")", sep="; ")


def book_persons() -> PersonStyle:
    """Last names: "Ho and Salimans", "Song, Meng and Ermon", "Ho et al." (three or more)."""
    return PersonStyle(last_sep=" and ", other=" et al.")


@dataclass
class RoundAuthorYearReferenceStyle(AuthorYearReferenceStyle):
    bracket_parenthetical: BracketStyle = field(default_factory=round_brackets)
    bracket_textual: BracketStyle = field(default_factory=round_brackets)
    bracket_author: BracketStyle = field(default_factory=round_brackets)
    bracket_label: BracketStyle = field(default_factory=round_brackets)
    bracket_year: BracketStyle = field(default_factory=round_brackets)
    person: PersonStyle = field(default_factory=book_persons)


def _names(entry) -> list[str]:
    persons = entry.persons.get("author") or entry.persons.get("editor") or []
    return [" ".join(person.last_names).replace("{", "").replace("}", "") for person in persons]


def _label(names: list[str], shown: int, year: str) -> str:
    """The first ``shown`` names, then "et al." if any are left out; two names in full."""
    if len(names) <= max(shown, 2) or shown >= len(names) - 1:
        authors = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    else:
        authors = ", ".join(names[:shown]) + " et al."
    return f"{authors} {year}"


class AuthorYearLabelStyle(BaseLabelStyle):
    """Labels "Ho et al. 2020", with more names where two labels would otherwise be equal."""

    def format_labels(self, sorted_entries):
        entries = list(sorted_entries)
        data = [(_names(e), e.fields.get("year", "")) for e in entries]
        shown = [1] * len(entries)
        while True:
            labels = [_label(n, k, y) for (n, y), k in zip(data, shown)]
            clashes = {i for i, label in enumerate(labels) if labels.count(label) > 1
                       and shown[i] < len(data[i][0])}
            if not clashes:
                return iter(labels)
            for i in clashes:
                shown[i] += 1


class AuthorYearPlainStyle(PlainStyle):
    default_label_style = LABELS_NAME


def setup(app):
    sphinxcontrib.bibtex.plugin.register_plugin(
        "sphinxcontrib.bibtex.style.referencing", STYLE_NAME, RoundAuthorYearReferenceStyle)
    pybtex.plugin.register_plugin("pybtex.style.labels", LABELS_NAME, AuthorYearLabelStyle)
    pybtex.plugin.register_plugin("pybtex.style.formatting", FORMATTING_NAME, AuthorYearPlainStyle)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
