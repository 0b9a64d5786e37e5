"""Sphinx extension: the figure files the book makes from its stored notebook outputs.

Loaded through ``sphinx: local_extensions:`` in ``_config.yml``.

The looping GIF at the head of chapter 6, ``book/figures/reverse_process.gif``,
holds the frames of the chapter's player of the reverse process. It is not kept
in the repository (its bytes would follow the rounding of whichever processor
last ran the chapter); every build writes it from the player stored in the
notebook, so the GIF shows exactly what the page's player shows, and no
notebook runs. The file is rewritten only when its bytes change, so an
unchanged GIF does not make Sphinx read chapter 6 again.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import nbformat

from ddpm_lessons.animation import player_frames, save_gif_frames

SOURCE = Path("book") / "06_training_sampling.ipynb"
GIF = Path("book") / "figures" / "reverse_process.gif"

_INTERVAL = re.compile(r"new Animation\(frames, img_id, slider_id, ([0-9.]+),")
"""The player's frame interval in milliseconds, as matplotlib's HTMLWriter writes it."""


def stored_player(notebook: Path) -> str:
    """The HTML of the one animation player stored in ``notebook``'s outputs."""
    players = [output["data"]["text/html"]
               for cell in nbformat.read(notebook, as_version=4).cells if cell.cell_type == "code"
               for output in cell.get("outputs", [])
               if "anim-slider" in output.get("data", {}).get("text/html", "")]
    if len(players) != 1:
        raise RuntimeError(f"{notebook}: expected one stored animation player, found {len(players)}; "
                           "run the notebook (scripts/execute_notebooks.py) first")
    return players[0]


def gif_bytes(player: str) -> bytes:
    """The player's frames as a GIF that loops forever, at the player's frame rate."""
    interval = _INTERVAL.search(player)
    if interval is None:
        raise RuntimeError("the stored player has no frame interval")
    with tempfile.TemporaryDirectory() as folder:
        path = save_gif_frames(player_frames(player), Path(folder) / "player.gif",
                               fps=1000 / float(interval.group(1)))
        return path.read_bytes()


def write_gif(root: Path) -> Path:
    """Write ``GIF`` under ``root`` from the player of ``SOURCE`` (only if its bytes change)."""
    path = root / GIF
    data = gif_bytes(stored_player(root / SOURCE))
    if not path.is_file() or path.read_bytes() != data:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return path


def _on_builder_inited(app) -> None:
    write_gif(Path(app.srcdir))


def setup(app):
    app.connect("builder-inited", _on_builder_inited)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
