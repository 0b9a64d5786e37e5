"""nbval with tolerance bands: numbers of trained networks compared within a band.

Loaded by ``make test-notebooks`` (``pytest --nbval -p scripts.nbval_approx``).
Every code cell is compared with its stored outputs exactly, as nbval does,
except in cells tagged ``nbval-approx``: there, each number in a text output
(printed text, ``text/plain``, ``text/html``, glued values) may differ from the
stored one by at most ``atol + rtol * |stored|``, while all the text around the
numbers must still match exactly, and so must the count of numbers and every
integer (a count, a step, a label: a number written without a decimal point or
exponent). The band is :data:`DEFAULT_BAND` unless the cell's metadata gives one::

    "metadata": {"tags": ["nbval-approx"], "nbval-approx": {"rtol": 0.1, "atol": 0.001}}

The sanitisers of ``--nbval-sanitize-with`` apply first, as nbval applies them.
Such a cell holds figures of a trained network, or of anything downstream of a
training run: its weights end in other last bits on a processor with other
vector instructions, and every figure drawn from it moves a little. The band is
chosen per cell, wide enough for that and narrow enough that a broken training
loop, a wrong noise schedule or a sampler with the wrong seed falls outside it
(``tests/test_notebook_bands.py`` shows each). Images embedded in such a cell's
HTML (``data:image/...;base64``) are not compared, just as nbval never compares
``image/png`` outputs; their number is.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import pytest
from nbval.plugin import IPyNbCell

TAG = "nbval-approx"
"""The cell tag that switches on banded comparison of numbers."""

NUMBER = re.compile(r"(?<![\w.])[-+−]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?(?![\w])")
"""A decimal number standing on its own (not part of a name such as ``x_0`` or ``h1``)."""

DATA_URI = re.compile(r"data:image/[\w.+-]+;base64,[A-Za-z0-9+/=\\\n]+")
"""An image embedded in HTML, e.g. a frame of an animation player."""


@dataclass(frozen=True)
class Band:
    """|fresh - stored| <= atol + rtol * |stored| for every number of a cell."""

    rtol: float
    atol: float

    def __post_init__(self) -> None:
        for name in ("rtol", "atol"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{TAG}: {name} must be a finite number >= 0, got {value!r}")
        if self.rtol == 0 and self.atol == 0:
            raise ValueError(f"{TAG}: a band of zero width is exact comparison; drop the tag")

    def holds(self, fresh: float, stored: float) -> bool:
        return abs(fresh - stored) <= self.atol + self.rtol * abs(stored)


DEFAULT_BAND = Band(rtol=0.3, atol=1e-3)
"""The band of a tagged cell with no band in its metadata: statistics of a thousand or
so samples of a trained network (mean distances, coverage KS, shares), printed to 3–4
decimals. Measured on torch's portable kernels against the stored outputs of chapters
8–10: up to 15 % apart, and a mean distance of about 0.002 up to 0.0006 apart (one or
two of a thousand samples landing elsewhere). A broken model moves them by several
times that (``tests/test_notebook_bands.py``)."""


def band_of(metadata: dict) -> Band:
    """The band stored in a cell's metadata under ``nbval-approx``."""
    settings = metadata.get(TAG)
    if settings is None:
        return DEFAULT_BAND
    if not isinstance(settings, dict) or not settings or not {"rtol", "atol"} >= set(settings):
        raise ValueError(f'the metadata "{TAG}" of a cell is {{"rtol": ..., "atol": ...}}, got {settings!r}')
    return Band(float(settings.get("rtol", 0.0)), float(settings.get("atol", 0.0)))


def _value(text: str) -> float:
    return float(text.replace("−", "-"))


def split_numbers(text: str) -> tuple[list[str], list[str]]:
    """The text between the numbers (one more piece than numbers) and the numbers."""
    text = DATA_URI.sub("data:image;base64,…", text)
    pieces, numbers, last = [], [], 0
    for match in NUMBER.finditer(text):
        pieces.append(text[last:match.start()])
        numbers.append(match.group())
        last = match.end()
    pieces.append(text[last:])
    return pieces, numbers


def band_mismatches(fresh: str, stored: str, band: Band) -> list[str] | None:
    """How ``fresh`` falls outside the band around ``stored``: a list of the
    numbers out of it (empty when all are within), or None when the text around
    the numbers differs (then no number is compared)."""
    fresh_pieces, fresh_numbers = split_numbers(fresh)
    stored_pieces, stored_numbers = split_numbers(stored)
    if fresh_pieces != stored_pieces:
        return None
    return [f"{new} where {old} is stored" + ("" if _is_integer(old) else
                                                  f" (band ±{band.atol:g} ± {band.rtol:g}·|{old}|)")
            for new, old in zip(fresh_numbers, stored_numbers)
            if not _agree(new, old, band)]


def _is_integer(number: str) -> bool:
    return not any(mark in number for mark in ".eE")


def _agree(fresh: str, stored: str, band: Band) -> bool:
    """Integers (counts, steps, labels) must be equal; decimals within the band."""
    if _is_integer(fresh) and _is_integer(stored):
        return _value(fresh) == _value(stored)
    return band.holds(_value(fresh), _value(stored))


def _texts(output: dict) -> list[tuple[str, str]]:
    """(where, text) of each text in an output: a stream, or a text MIME type of its data."""
    if output.get("output_type") == "stream":
        return [(output.get("name", "stream"), "text")]
    return [("data", key) for key, value in output.get("data", {}).items() if isinstance(value, str)
            and (key.startswith("text/") or key.endswith("/text/plain") or key.endswith("/text/html"))]


class ApproxCell(IPyNbCell):
    """A notebook cell whose numbers are compared within the band of its metadata."""

    def compare_outputs(self, test, ref, skip_compare=None):
        band = band_of(self.cell.metadata)
        notes = []
        for fresh, stored in zip(test, ref):
            if fresh.get("output_type") != stored.get("output_type"):
                continue
            for where, key in _texts(stored):
                holder_fresh = fresh if where != "data" else fresh.get("data", {})
                holder_stored = stored if where != "data" else stored.get("data", {})
                if not isinstance(holder_fresh.get(key), str):
                    continue
                out = band_mismatches(self.sanitize(holder_fresh[key]), self.sanitize(holder_stored[key]), band)
                if out == []:
                    # within the band: what nbval compares next is the stored text itself
                    holder_fresh[key] = holder_stored[key]
                elif out:
                    notes.append(f"{key}: " + "; ".join(out))
        same = super().compare_outputs(test, ref, skip_compare)
        if not same and notes:
            self.comparison_traceback.append("numbers outside the band of this cell:\n  " + "\n  ".join(notes))
        return same


def _approx_item(item: pytest.Item) -> pytest.Item:
    if isinstance(item, IPyNbCell) and TAG in item.cell.metadata.get("tags", []):
        band_of(item.cell.metadata)   # a malformed band fails collection, not a late run
        return ApproxCell.from_parent(item.parent, name=item.name, cell_num=item.cell_num,
                                      cell=item.cell, options=item.options)
    return item


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items):
    """Cells tagged ``nbval-approx`` become :class:`ApproxCell` items."""
    items[:] = [_approx_item(item) for item in items]
