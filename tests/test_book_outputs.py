"""What the chapters store besides their lessons: players, the GIF, widget state.

The chapters' code cells teach; the checks of the files they produce live here.
They read the notebooks as committed (``make execute`` refreshes them), so no
notebook is run and no book needs to be built.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
CHAPTERS = sorted(BOOK.glob("*.ipynb"))
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
HIDDEN_OUTPUT_TAGS = {"remove-output", "remove-cell"}
FRAME = "data:image/png;base64,"
MAX_PLAYER_CHARS = 2_000_000
MAX_GIF_BYTES = 1_000_000
GIF = BOOK / "figures" / "reverse_process.gif"


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf8"))["cells"]


def _html_outputs(path: Path) -> list[str]:
    html = []
    for cell in _cells(path):
        for output in cell.get("outputs", []):
            text = output.get("data", {}).get("text/html")
            if text:
                html.append(text if isinstance(text, str) else "".join(text))
    return html


def _players(path: Path) -> list[str]:
    """The stored matplotlib players (``to_jshtml``) of a chapter."""
    return [html for html in _html_outputs(path) if FRAME in html and "anim-slider" in html]


def test_chapters_found():
    assert len(CHAPTERS) >= 7, CHAPTERS


@pytest.mark.parametrize("name", ["02_forward_process.ipynb", "03_shortcut.ipynb"])
def test_forward_players_show_every_time_step(name):
    """Chapters 2 and 3: one player, one frame for each t = 0, 1, …, T = 40."""
    players = _players(BOOK / name)
    assert len(players) == 1, f"{name}: expected one player, found {len(players)}"
    frames = players[0].count(FRAME)
    assert frames == 41, f"{name}: the player has {frames} frames, expected T + 1 = 41"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_players_stay_light(path):
    sizes = [len(html) for html in _players(path)]
    assert all(size < MAX_PLAYER_CHARS for size in sizes), f"{path.name}: player sizes {sizes}"


def test_reverse_process_gif_is_a_light_looping_animation():
    assert GIF.is_file(), f"{GIF} is missing: run chapter 6"
    size = GIF.stat().st_size
    assert size < MAX_GIF_BYTES, f"{GIF.name} is {size:,} bytes"
    with Image.open(GIF) as image:
        assert image.format == "GIF"
        assert image.n_frames >= 20, image.n_frames
        assert image.info.get("loop") == 0, "the GIF should loop forever"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_widget_state_only_where_the_page_shows_a_widget(path):
    """A stored widget state makes the page load RequireJS and the widget manager."""
    notebook = json.loads(path.read_text(encoding="utf8"))
    shown = any(
        WIDGET_VIEW in output.get("data", {})
        for cell in notebook["cells"]
        if cell["cell_type"] == "code" and not HIDDEN_OUTPUT_TAGS & set(cell["metadata"].get("tags", []))
        for output in cell.get("outputs", [])
    )
    if not shown:
        assert "widgets" not in notebook["metadata"], (
            f"{path.name} stores widget state but its page shows no widget"
        )
