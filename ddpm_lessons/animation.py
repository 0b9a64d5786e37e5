"""Animations for the book: point clouds and lines that move with t.

An animation is an :class:`Animation`: the figure, the function that draws
frame k into it, the number of frames and the frame rate.  Two ways to
publish one, both through matplotlib's public API:

* :func:`to_jshtml`: matplotlib's own HTML/JavaScript player
  (``HTMLWriter``, as in ``FuncAnimation.to_jshtml``), which works on a static
  web page without a kernel, made to work offline and to give the same HTML on
  every run;
* a looping GIF of the same frames (``to_jshtml(..., gif=path)``, written by
  Pillow: no ffmpeg), for the top of a page.

Animations: :func:`animate_points` (one cloud), :func:`animate_pairs` (two
clouds side by side, chapters 3 and 6) and :func:`animate_segments` (lines to
targets, chapter 7).  Frames have shape ``(K, n, 2)``.
"""
from __future__ import annotations

import base64
import hashlib
import io
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.animation import FuncAnimation, HTMLWriter
from matplotlib.artist import Artist
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from PIL import Image

from .style import COLORS, STYLE, axis_limit, draw_spiral_curve, spiral_axes, styled
from .validation import check_int, check_points

ANIMATION_DPI = 80
"""Resolution of animation figures: small enough for a light web page."""

PLAYER_PIXEL_RATIO = 2
"""Device pixels per CSS pixel of a player's frames: each frame is drawn at twice the size
the page shows it, so that it stays sharp on a phone or a high-resolution screen."""

PLAYER_COLORS = 32
"""Palette of a player's frames: enough for a scatter plot's few colours and its text's greys."""

GIF_COLORS = 64
"""Palette of the GIF made beside a player: its frames at the size shown, in this many colours."""

MAX_FRAMES = 41
"""Default frame budget of an animation (T = 40 gives exactly 41 frames)."""


@dataclass(frozen=True)
class Animation:
    """A figure and how to animate it.

    ``update(k)`` draws frame ``k`` (``0 <= k < num_frames``) into ``figure``;
    ``frame_index[k]`` is the input frame it shows (a held last frame repeats
    its index).
    """

    figure: Figure
    update: Callable[[int], Sequence[Artist]]
    num_frames: int
    fps: float
    frame_index: np.ndarray

    def func_animation(self) -> FuncAnimation:
        """A matplotlib ``FuncAnimation`` that plays the frames once."""
        return FuncAnimation(self.figure, self.update, frames=self.num_frames,
                             interval=1000.0 / self.fps, blit=False, repeat=False)


def frame_indices(num_frames: int, max_frames: int = MAX_FRAMES) -> np.ndarray:
    """At most ``max_frames`` evenly spaced indices into ``range(num_frames)``,
    always including the first and the last."""
    num_frames = check_int(num_frames, "num_frames", 1)
    max_frames = check_int(max_frames, "max_frames", 1)
    if num_frames <= max_frames:
        return np.arange(num_frames)
    if max_frames == 1:
        return np.array([num_frames - 1])
    return np.unique(np.linspace(0, num_frames - 1, max_frames).round().astype(int))


@styled
def animate_pairs(left, right, frame_titles: Sequence[str],
                  left_title: str | Sequence[str] = "left",
                  right_title: str | Sequence[str] = "right", lim: float | None = None,
                  max_frames: int = MAX_FRAMES, hold: int = 0, fps: float = 8.0,
                  spiral: bool = True) -> Animation:
    """Animate two point clouds side by side; frame k shows ``left[k]`` and ``right[k]``.

    ``left`` and ``right`` have shape ``(K, n, 2)``.  At most ``max_frames`` frames
    are drawn (evenly subsampled, first and last kept), the last one repeated
    ``hold`` extra times within that budget.  Panel titles are fixed strings or
    one string per input frame.
    """
    left, right = check_points(left, "left", ndim=3), check_points(right, "right", ndim=3)
    if left.shape[0] != right.shape[0]:
        raise ValueError(f"left and right need the same number of frames, "
                         f"got {left.shape[0]} and {right.shape[0]}")
    return _animate([left, right], [left_title, right_title], frame_titles, lim, max_frames,
                    hold, fps, spiral, [COLORS["data"], COLORS["estimate"]], (6.4, 3.55))


@styled
def animate_points(frames, frame_titles: Sequence[str] | None = None, title: str = "",
                   lim: float | None = None, max_frames: int = MAX_FRAMES, hold: int = 0,
                   fps: float = 8.0, spiral: bool = True) -> Animation:
    """Animate a point cloud: frame k scatters ``frames[k]`` (shape ``(K, n, 2)``).

    ``frame_titles`` gives one figure title per input frame (default
    ``"frame k"``); ``title`` names the panel.  At most ``max_frames`` frames
    are drawn, evenly subsampled with the first and last kept.
    """
    frames = check_points(frames, "frames", ndim=3)
    return _animate([frames], [title], frame_titles, lim, max_frames, hold, fps, spiral,
                    [COLORS["data"]], (3.6, 3.75))


def _check_fps(fps: float) -> float:
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    return float(fps)


def _animate(series: list[np.ndarray], panel_titles: list, frame_titles, lim, max_frames, hold,
             fps, spiral, colors, figsize) -> Animation:
    num = series[0].shape[0]
    frame_titles = [f"frame {k}" for k in range(num)] if frame_titles is None else list(frame_titles)
    if len(frame_titles) != num:
        raise ValueError(f"need one frame title per frame: {num} frames, got {len(frame_titles)}")
    for k, pt in enumerate(panel_titles):
        if not isinstance(pt, str) and len(pt) != num:
            raise ValueError(f"panel {k}: need one title per frame ({num}), got {len(pt)}")
    max_frames = check_int(max_frames, "max_frames", 1)
    hold = check_int(hold, "hold", 0, max_frames - 1)
    fps = _check_fps(fps)
    idx = frame_indices(num, max_frames - hold)
    idx = np.append(idx, [idx[-1]] * hold).astype(int)
    lim = axis_limit(*series) if lim is None else lim

    fig, axes = plt.subplots(1, len(series), figsize=figsize, dpi=ANIMATION_DPI,
                             squeeze=False, sharex=True, sharey=True)
    scatters, titles = [], []
    for ax, frames, color in zip(axes.flat, series, colors):
        if spiral:
            draw_spiral_curve(ax)
        scatters.append(ax.scatter(frames[idx[0], :, 0], frames[idx[0], :, 1], s=4,
                                   alpha=0.55, linewidths=0, color=color, zorder=2))
        spiral_axes(ax, lim)
        titles.append(ax.set_title(""))
    suptitle = fig.suptitle(frame_titles[idx[0]])

    def update(k: int) -> list[Artist]:
        i = idx[k]
        for scatter, frames, text, pt in zip(scatters, series, titles, panel_titles):
            scatter.set_offsets(frames[i])
            text.set_text(pt if isinstance(pt, str) else pt[i])
        suptitle.set_text(frame_titles[i])
        return [*scatters, *titles, suptitle]

    update(0)
    fig.canvas.draw()                  # lay the figure out once with constrained layout,
    fig.set_layout_engine("none")      # then freeze it: every frame has the same layout
    return Animation(fig, update, len(idx), fps, idx)


@styled
def animate_segments(points, targets, frame_titles: Sequence[str], title: str = "",
                     lim: float | None = None, max_frames: int = MAX_FRAMES,
                     fps: float = 6.0) -> Animation:
    """Animate lines from points to their targets: frame k draws a line from
    ``points[k, i]`` to ``targets[k, i]`` for every i (chapter 7's closest points).

    ``points`` and ``targets`` have shape ``(K, n, 2)``; at most ``max_frames``
    frames are drawn (evenly subsampled, first and last kept).
    """
    points = check_points(points, "points", ndim=3)
    targets = check_points(targets, "targets", ndim=3)
    if points.shape != targets.shape:
        raise ValueError(f"points and targets must have the same shape, "
                         f"got {points.shape} and {targets.shape}")
    if len(frame_titles) != points.shape[0]:
        raise ValueError(f"need one frame title per frame: {points.shape[0]} frames, "
                         f"got {len(frame_titles)}")
    fps = _check_fps(fps)
    idx = frame_indices(points.shape[0], max_frames)
    lim = axis_limit(points, targets) if lim is None else lim
    fig, ax = plt.subplots(figsize=(3.9, 4.0), dpi=ANIMATION_DPI)
    draw_spiral_curve(ax, lw=1.6, zorder=3)
    lines = LineCollection(np.stack([points[idx[0]], targets[idx[0]]], axis=1),
                           colors=COLORS["theory"], linewidths=0.6, alpha=0.55, zorder=2)
    ax.add_collection(lines)
    scatter = ax.scatter(points[idx[0], :, 0], points[idx[0], :, 1], s=4, linewidths=0,
                         color=COLORS["data"], alpha=0.8, zorder=4)
    spiral_axes(ax, lim)
    ax.set_title(title)
    suptitle = fig.suptitle(frame_titles[idx[0]])

    def update(k: int) -> list[Artist]:
        i = idx[k]
        lines.set_segments(np.stack([points[i], targets[i]], axis=1))
        scatter.set_offsets(points[i])
        suptitle.set_text(frame_titles[i])
        return [lines, scatter, suptitle]

    return Animation(fig, update, len(idx), fps, idx)


_PLAYER_GLYPHS = {
    "fa-minus": "−", "fa-fast-backward": "|◀◀", "fa-step-backward": "|◀",
    "fa-play fa-flip-horizontal": "◀", "fa-pause": "❚❚", "fa-play": "▶",
    "fa-step-forward": "▶|", "fa-fast-forward": "▶▶|", "fa-plus": "+",
}
"""Button icons of the player, as text (no icon font needed)."""


_PNG_FRAME = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=\\\n]+)")
"""A frame of the player: base64 PNG, its lines continued with a backslash."""


def _png(data: str) -> Image.Image:
    """A frame's base64 text (as :data:`_PNG_FRAME` finds it) as a Pillow image."""
    with Image.open(io.BytesIO(base64.b64decode(data.replace("\\\n", "")))) as image:
        image.load()
        return image.copy()


def _with_palette(match: re.Match, colors: int) -> str:
    """A base64 PNG frame of the player, stored again with a palette of ``colors`` colours."""
    buffer = io.BytesIO()
    _png(match.group(1)).convert("RGB").quantize(colors=colors).save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def to_jshtml(animation: Animation, default_mode: str = "once", colors: int | None = PLAYER_COLORS,
              close: bool = True, gif: str | Path | None = None) -> str:
    """The animation as a self-contained HTML/JavaScript player: matplotlib's own
    (``HTMLWriter``, the player of ``FuncAnimation.to_jshtml``), with play/pause
    buttons and a slider that steps through the frames (embedded as PNG).  It
    works on a static page with no kernel.

    Each frame is drawn once, straight into the writer (``FuncAnimation.save``
    draws it a second time for the screen).  Two changes make the player fit a
    book: the buttons' Font Awesome stylesheet (from a CDN) is dropped and the
    icons become Unicode glyphs, so the page works offline; and the player's
    random element id is replaced by a hash of its content, so re-running a
    notebook gives the same HTML.  Frames are drawn at :data:`PLAYER_PIXEL_RATIO` times
    the size the page shows them (the player's image keeps the figure's size in CSS
    pixels) and stored with a palette of ``colors`` colours (a third of the size of
    full RGB, with no visible loss for scatter plots, which use a handful of colours and
    the greys of their text); ``colors=None`` keeps them as drawn.  ``default_mode`` is ``"once"``,
    ``"loop"`` or ``"reflect"``.  With ``gif``, the same frames are also written
    to that path as a looping GIF (:func:`save_gif_frames`).  The figure is closed
    afterwards (``close=True``) so that it is not displayed a second time.
    Display the result with ``IPython.display.HTML``.
    """
    if default_mode not in ("once", "loop", "reflect"):
        raise ValueError(f"default_mode must be 'once', 'loop' or 'reflect', got {default_mode!r}")
    if gif is not None and Path(gif).suffix.lower() != ".gif":
        raise ValueError(f"gif must be a path ending in .gif, got {Path(gif).name!r}")
    writer = HTMLWriter(fps=animation.fps, embed_frames=True, default_mode=default_mode)
    with matplotlib.rc_context(STYLE), tempfile.TemporaryDirectory() as folder:
        dpi = matplotlib.rcParams["savefig.dpi"]
        dpi = animation.figure.dpi if dpi == "figure" else dpi
        page = Path(folder) / "player.html"
        with writer.saving(animation.figure, page, PLAYER_PIXEL_RATIO * dpi):
            for k in range(animation.num_frames):
                animation.update(k)
                writer.grab_frame()
        html = page.read_text(encoding="utf8")
    # Shown at the figure's size in CSS pixels (and narrower with the column): PLAYER_PIXEL_RATIO
    # device pixels per CSS pixel.
    width = round(animation.figure.get_figwidth() * dpi)
    html = re.sub(r'<img id="(_anim_img[0-9a-f]+)">', rf'<img id="\1" width="{width}" alt="">', html, count=1)
    if colors is not None:
        html = _PNG_FRAME.sub(lambda match: _with_palette(match, colors), html)
    html = re.sub(r'<link rel="stylesheet"\s+href="https?://[^"]*font-awesome[^"]*">\s*', "", html)
    for icon, glyph in _PLAYER_GLYPHS.items():
        html = html.replace(f'<i class="fa {icon}"></i>', f'<span aria-hidden="true">{glyph}</span>')
    random_id = re.search(r'id="_anim_img([0-9a-f]+)"', html).group(1)
    digest = hashlib.sha1(html.replace(random_id, "").encode()).hexdigest()[:20]
    if close:
        plt.close(animation.figure)
    html = html.replace(random_id, digest)
    if gif is not None:
        save_gif_frames(gif_frames(html), gif, animation.fps)
    return html


def player_frames(html: str) -> list[Image.Image]:
    """The frames of a player made by :func:`to_jshtml`, in order, as Pillow images."""
    return [_png(data) for data in _PNG_FRAME.findall(html)]


def gif_frames(html: str) -> list[Image.Image]:
    """The frames of a player at the size its page shows them, for a light GIF.

    Frames drawn at :data:`PLAYER_PIXEL_RATIO` times the ``<img>``'s width are averaged
    over blocks of that many pixels each way and stored in :data:`GIF_COLORS` colours;
    frames drawn at the size shown (players made before the ratio) are kept as they are.
    """
    frames = player_frames(html)
    shown = re.search(r'<img id="_anim_img[0-9a-f]+" width="(\d+)"', html)
    ratio = 1 if shown is None or not frames else max(1, round(frames[0].width / int(shown.group(1))))
    if ratio == 1:
        return frames
    return [frame.convert("RGB").reduce(ratio).quantize(GIF_COLORS, dither=Image.Dither.NONE) for frame in frames]


def save_gif_frames(frames: Sequence[Image.Image], path: str | Path, fps: float) -> Path:
    """Write ``frames`` to ``path`` as a GIF that loops forever, ``fps`` frames a second.

    Pillow stores a repeated (held) frame once, with a longer duration.
    """
    path = Path(path)
    if path.suffix.lower() != ".gif":
        raise ValueError(f"path must end in .gif, got {path.name!r}")
    if not frames:
        raise ValueError("need at least one frame")
    path.parent.mkdir(parents=True, exist_ok=True)
    frames[0].save(path, save_all=True, append_images=list(frames[1:]),
                   duration=int(1000 / _check_fps(fps)), loop=0)
    return path
