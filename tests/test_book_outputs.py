"""What the chapters store besides their lessons: players, the GIF, widget state.

The chapters' code cells teach; the checks of the files they produce live here.
They read the notebooks as committed (``make execute`` refreshes them), so no
notebook is run and no book needs to be built. The GIF at the head of chapter 6
is written by the book build from the chapter's stored player
(``_ext/book_figures.py``); it is made here the same way.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageSequence

from ddpm_lessons.animation import player_frames

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
CHAPTERS = sorted(BOOK.glob("*.ipynb"))
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
HIDDEN_OUTPUT_TAGS = {"remove-output", "remove-cell"}
FRAME = "data:image/png;base64,"
MAX_PLAYER_CHARS = 2_000_000
MAX_GIF_BYTES = 1_000_000


def _load_book_figures():
    spec = importlib.util.spec_from_file_location("book_figures", ROOT / "_ext" / "book_figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


book_figures = _load_book_figures()


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


def test_reverse_process_gif_is_a_light_looping_animation_of_the_stored_player(tmp_path):
    """The build's GIF: chapter 6's player frames, looping, light, the same bytes every time."""
    (tmp_path / book_figures.SOURCE).parent.mkdir(parents=True)
    (tmp_path / book_figures.SOURCE).write_bytes((ROOT / book_figures.SOURCE).read_bytes())
    gif = book_figures.write_gif(tmp_path)
    assert gif == tmp_path / "book" / "figures" / "reverse_process.gif"
    size = gif.stat().st_size
    assert size < MAX_GIF_BYTES, f"{gif.name} is {size:,} bytes"
    player = book_figures.stored_player(ROOT / book_figures.SOURCE)
    frames = player_frames(player)
    with Image.open(gif) as image:
        assert image.format == "GIF"
        assert image.n_frames >= 20, image.n_frames
        assert image.info.get("loop") == 0, "the GIF should loop forever"
        shown = [np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(image)]
    # held frames are stored once, so the GIF's frames are the player's with repeats merged
    distinct = [np.asarray(frames[0].convert("RGB"))]
    for frame in frames[1:]:
        pixels = np.asarray(frame.convert("RGB"))
        if not np.array_equal(pixels, distinct[-1]):
            distinct.append(pixels)
    assert len(shown) == len(distinct)
    assert all(np.array_equal(a, b) for a, b in zip(shown, distinct))
    assert book_figures.gif_bytes(player) == gif.read_bytes()          # deterministic


def test_the_gif_is_made_by_the_build_not_kept_in_the_repository():
    tracked = subprocess.run(["git", "ls-files", str(book_figures.GIF)], cwd=ROOT,
                             capture_output=True, text=True)
    if tracked.returncode != 0:
        pytest.skip("not a git checkout")
    assert tracked.stdout == "", f"{book_figures.GIF} is tracked; the build writes it"


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
