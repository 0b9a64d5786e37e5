"""Figures and animations for the book.

Every helper *returns* a figure (or an animation) and never calls
``plt.show``; the notebook displays it once and closes it with
``plt.close(fig)``.  Every figure has a title and labelled axes, and every
spiral plot uses an equal aspect ratio so that the spiral is not squashed.

Sections of this module:

1. style: :data:`STYLE`, :data:`COLORS`, :func:`use_style`, :func:`subplots`,
   :func:`show` (display once, then close);
2. static figures: :func:`plot_points` (chapter 2), :func:`plot_normal_histogram`
   (chapter 1), :func:`plot_schedule` (chapter 2), :func:`plot_forward_grid`
   (chapters 2–3), :func:`plot_side_by_side` (chapter 6);
3. animations: :func:`animate_points`, :func:`animate_pairs`,
   :func:`animate_side_by_side` (chapter 6), and the two ways to publish one,
   :func:`to_jshtml` (a player that works on a static web page) and
   :func:`save_gif` (Pillow, no ffmpeg);
4. chapters 5–7: :func:`plot_embedding_matrix` (chapter 5), :func:`plot_segments` and
   :func:`plot_segments_grid` (lines or arrows to targets, chapters 5 and 7),
   :func:`plot_history` (chapter 6), :func:`plot_reverse_metrics`,
   :func:`plot_coverage_histograms`, :func:`plot_distance_function` and
   :func:`animate_segments` (chapter 7).

Arrays may be numpy arrays or torch tensors; points have shape ``(n, 2)``.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import io
import math
import re
from pathlib import Path
from typing import Callable, Mapping, Sequence

import matplotlib

import matplotlib.pyplot as plt
import numpy as np
from cycler import cycler
from matplotlib.animation import FuncAnimation
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from .normal import normal_pdf
from .schedules import alphas_cumprod, validate_betas
from .spiral import T_MAX, T_MIN, spiral_curve

# --------------------------------------------------------------------------- 1. style

COLORS: dict[str, str] = {
    "data": "#2f6db3",       # points of x_t, samples
    "estimate": "#d1632b",   # x̂_0, second series
    "curve": "#8e97a8",      # the true spiral, reference curves
    "theory": "#1f2937",     # pdfs and closed forms
    "accent": "#2a9d6f",     # a third series, markers
    "extra": "#8a5fb3",      # a fourth series
}
"""The book's palette: one colour per role, the same in every chapter."""

STYLE: dict[str, object] = {
    "figure.facecolor": "white",
    "figure.dpi": 90,
    "savefig.dpi": 90,
    "figure.constrained_layout.use": True,
    "font.family": "DejaVu Sans",
    "font.size": 10,
    "axes.facecolor": "#fbfbfd",
    "axes.edgecolor": "#c3c8d2",
    "axes.linewidth": 0.8,
    "axes.grid": True,
    "axes.axisbelow": True,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.labelsize": 10,
    "axes.labelcolor": "#374151",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": cycler(color=[COLORS[k] for k in
                                     ("data", "estimate", "accent", "extra", "theory")]),
    "figure.titlesize": 12,
    "figure.titleweight": "bold",
    "grid.color": "#e5e8ef",
    "grid.linewidth": 0.7,
    "xtick.color": "#4b5563",
    "ytick.color": "#4b5563",
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.frameon": False,
    "legend.fontsize": 9,
    "lines.linewidth": 1.8,
    "image.cmap": "viridis",
    "animation.embed_limit": 8.0,   # MB; our players are far smaller
}
"""rcParams used by every helper (applied with ``matplotlib.rc_context``)."""

ANIMATION_DPI = 80
"""Resolution of animation frames: small enough for a light web page."""

MAX_FRAMES = 41
"""Default frame budget of an animation (T = 40 gives exactly 41 frames)."""


def use_style() -> None:
    """Apply :data:`STYLE` globally, for figures a notebook draws itself.

    In IPython, inline figures are also stored at twice their display size
    (``retina``), so they stay sharp on high-resolution screens.
    """
    matplotlib.rcParams.update(STYLE)
    from IPython import get_ipython

    if get_ipython() is not None:
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("retina")


def _styled(func: Callable) -> Callable:
    """Run a plotting helper inside ``rc_context(STYLE)``."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(STYLE):
            return func(*args, **kwargs)
    return wrapper


@_styled
def subplots(nrows: int = 1, ncols: int = 1, panel_size: tuple[float, float] = (3.4, 3.4),
             **kwargs) -> tuple[Figure, np.ndarray]:
    """A styled figure of ``nrows × ncols`` panels of ``panel_size`` inches each.

    Returns ``(fig, axes)`` with ``axes`` always a 2-D array.
    """
    fig, axes = plt.subplots(nrows, ncols, squeeze=False,
                             figsize=(panel_size[0] * ncols, panel_size[1] * nrows), **kwargs)
    return fig, axes


def show(fig: Figure) -> None:
    """Display a figure once in a notebook, then close it (so it is not drawn twice)."""
    from IPython.display import display

    display(fig)
    plt.close(fig)


def _to_numpy(x) -> np.ndarray:
    """numpy array from a numpy array, list or (possibly grad-tracking) torch tensor."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _as_points(points, name: str = "points") -> np.ndarray:
    points = _to_numpy(points)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"{name} must have shape (n, 2), got {points.shape}")
    return points


def _as_frames(frames, name: str = "frames") -> np.ndarray:
    frames = _to_numpy(frames)
    if frames.ndim != 3 or frames.shape[2] != 2 or frames.shape[0] < 1:
        raise ValueError(f"{name} must have shape (K, n, 2) with K >= 1, got {frames.shape}")
    return frames


def _limit(*arrays: np.ndarray, minimum: float = 1.25) -> float:
    """Symmetric axis limit that shows (almost) every point, and at least the data box."""
    biggest = max(float(np.quantile(np.abs(a), 0.998)) for a in arrays)
    return max(minimum, math.ceil(biggest * 1.05 * 4) / 4)


def _new_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    return ax.figure, ax


def _spiral_axes(ax: Axes, lim: float) -> None:
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xlabel("$x^{(1)}$")
    ax.set_ylabel("$x^{(2)}$")


def draw_spiral_curve(ax: Axes, **kwargs) -> None:
    """Draw the normalised spiral of eq. (2.1)–(2.2) as a thin reference line."""
    t = np.linspace(T_MIN, T_MAX, 400)
    xy = spiral_curve(t)
    style = {"color": COLORS["curve"], "lw": 1.2, "alpha": 0.9, "zorder": 1}
    style.update(kwargs)
    ax.plot(xy[:, 0], xy[:, 1], **style)


# ---------------------------------------------------------------- 2. static figures

@_styled
def plot_points(points, ax: Axes | None = None, title: str = "Points", spiral: bool = True,
                lim: float | None = None, color: str | None = None, size: float = 5.0,
                alpha: float = 0.55, label: str | None = None) -> Figure:
    """Scatter ``(n, 2)`` points over the normalised spiral curve (equal aspect).

    Args:
        points: ``(n, 2)`` array or tensor.
        ax: draw into this axes instead of a new figure.
        title: the axes title.
        spiral: also draw the true spiral curve for reference.
        lim: half-width of the square view; chosen from the points if ``None``.
    """
    points = _as_points(points)
    fig, ax = _new_axes(ax, (3.8, 3.8))
    if spiral:
        draw_spiral_curve(ax)
    ax.scatter(points[:, 0], points[:, 1], s=size, alpha=alpha, linewidths=0,
               color=color or COLORS["data"], label=label, zorder=2)
    _spiral_axes(ax, _limit(points) if lim is None else lim)
    ax.set_title(title)
    if label is not None:
        ax.legend(loc="upper right", markerscale=3)
    return fig


@_styled
def plot_normal_histogram(samples, mu: float, sigma: float, ax: Axes | None = None,
                          title: str | None = None, bins: int | str = "auto",
                          xlim: tuple[float, float] | None = None) -> Figure:
    """Histogram of ``samples`` (as a density) against the pdf of N(μ, σ²), eq. (1.1)."""
    samples = _to_numpy(samples).ravel()
    if samples.size < 1:
        raise ValueError("samples must hold at least one number, got an empty array")
    fig, ax = _new_axes(ax, (5.0, 3.2))
    if xlim is None:
        xlim = (mu - 4.5 * sigma, mu + 4.5 * sigma)
    grid = np.linspace(xlim[0], xlim[1], 400)
    ax.hist(samples, bins=bins, range=xlim if isinstance(bins, int) else None, density=True,
            color=COLORS["data"], alpha=0.45, edgecolor="white", linewidth=0.4,
            label=f"histogram of {samples.size:,} samples")
    ax.plot(grid, normal_pdf(grid, mu, sigma), color=COLORS["theory"],
            label=rf"pdf of $\mathcal{{N}}({mu:g},\ {sigma:g}^2)$")
    ax.set_xlim(*xlim)
    ax.set_ylim(0, ax.get_ylim()[1] * 1.15)      # head-room for the legend
    ax.set_xlabel("$x$")
    ax.set_ylabel("density")
    ax.set_title(title or f"n = {samples.size:,} samples")
    ax.legend(loc="upper left")
    return fig


@_styled
def plot_schedule(betas, title: str = "Noise schedule", log_beta: bool | None = None) -> Figure:
    """β_t (left) and ᾱ_t (right) against t, eq. (2.5)–(3.3).

    ``betas`` is one schedule or a mapping ``{label: schedule}`` to compare several.
    β is drawn on a log scale when schedules of very different size are compared
    (``log_beta=None`` decides automatically).
    """
    schedules = dict(betas) if isinstance(betas, Mapping) else {None: betas}
    schedules = {label: validate_betas(b) for label, b in schedules.items()}
    if log_beta is None:
        all_b = np.concatenate(list(schedules.values()))
        log_beta = all_b.max() / all_b.min() > 1e3
    fig, (ax_b, ax_a) = plt.subplots(1, 2, figsize=(8.4, 3.3))
    for label, b in schedules.items():
        t = np.arange(1, b.size + 1)
        ax_b.plot(t, b, label=label)
        ax_a.plot(np.arange(0, b.size + 1), np.append(1.0, alphas_cumprod(b)), label=label)
    if log_beta:
        ax_b.set_yscale("log")
    ax_b.set_title(r"$\beta_t$: variance added at step $t$")
    ax_b.set_xlabel("time step $t$")
    ax_b.set_ylabel(r"$\beta_t$")
    ax_a.set_title(r"$\bar\alpha_t$: signal variance left at step $t$")
    ax_a.set_xlabel("time step $t$")
    ax_a.set_ylabel(r"$\bar\alpha_t$")
    ax_a.set_ylim(-0.03, 1.03)
    if len(schedules) > 1 or None not in schedules:
        ax_a.legend(loc="best")
    fig.suptitle(title)
    return fig


@_styled
def plot_forward_grid(xs: Sequence, ts: Sequence, titles: Sequence[str] | None = None,
                      suptitle: str = "The forward process", spiral: bool = True,
                      lim: float | None = None, ncols: int | None = None,
                      panel_size: float = 2.4) -> Figure:
    """Small multiples: one panel of points per entry of ``xs`` (each ``(n, 2)``).

    ``ts`` labels the panels (``"t = …"``) unless ``titles`` is given.  All
    panels share one square, equal-aspect view.
    """
    xs = [_as_points(x, "each entry of xs") for x in xs]
    if len(xs) != len(ts):
        raise ValueError(f"xs and ts must have the same length, got {len(xs)} and {len(ts)}")
    if not xs:
        raise ValueError("xs must hold at least one set of points, got none")
    titles = [f"t = {t}" for t in ts] if titles is None else list(titles)
    if len(titles) != len(xs):
        raise ValueError(f"need one title per panel: {len(xs)} panels, got {len(titles)} titles")
    ncols = min(len(xs), 6) if ncols is None else ncols
    nrows = math.ceil(len(xs) / ncols)
    fig, axes = plt.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=True,
                             figsize=(panel_size * ncols, panel_size * nrows + 0.4))
    lim = _limit(*xs) if lim is None else lim
    for k, ax in enumerate(axes.flat):
        if k >= len(xs):
            ax.axis("off")
            continue
        plot_points(xs[k], ax=ax, title=titles[k], spiral=spiral, lim=lim, size=3.0)
        if k % ncols:
            ax.set_ylabel("")
        if k < len(xs) - ncols:
            ax.set_xlabel("")
    fig.suptitle(suptitle)
    return fig


@_styled
def plot_side_by_side(x_t, x0_hat, t: int, lim: float | None = None,
                      title: str | None = None) -> Figure:
    """The current sample x_t (left) beside the model's estimate x̂_0 (right), chapter 6."""
    x_t, x0_hat = _as_points(x_t, "x_t"), _as_points(x0_hat, "x0_hat")
    fig, (ax_l, ax_r) = plt.subplots(1, 2, figsize=(7.0, 3.7), sharex=True, sharey=True)
    lim = _limit(x_t, x0_hat) if lim is None else lim
    plot_points(x_t, ax=ax_l, title=f"$x_t$ at t = {t}", lim=lim)
    plot_points(x0_hat, ax=ax_r, title=rf"$\hat x_0$ predicted from $x_t$", lim=lim,
                color=COLORS["estimate"])
    fig.suptitle(title or f"Reverse process, t = {t}")
    return fig


# -------------------------------------------------------------------- 3. animations

def frame_indices(num_frames: int, max_frames: int = MAX_FRAMES) -> np.ndarray:
    """At most ``max_frames`` evenly spaced indices into ``range(num_frames)``,
    always including the first and the last."""
    if num_frames < 1 or max_frames < 1:
        raise ValueError(f"need num_frames >= 1 and max_frames >= 1, got {num_frames}, {max_frames}")
    if num_frames <= max_frames:
        return np.arange(num_frames)
    if max_frames == 1:
        return np.array([num_frames - 1])
    return np.unique(np.linspace(0, num_frames - 1, max_frames).round().astype(int))


@_styled
def animate_pairs(left, right, frame_titles: Sequence[str],
                  left_title: str | Sequence[str] = "left",
                  right_title: str | Sequence[str] = "right", lim: float | None = None,
                  max_frames: int = MAX_FRAMES, hold: int = 0, fps: float = 8.0,
                  spiral: bool = True) -> FuncAnimation:
    """Animate two point clouds side by side; frame k shows ``left[k]`` and ``right[k]``.

    ``left`` and ``right`` have shape ``(K, n, 2)``.  At most ``max_frames`` frames
    are drawn (evenly subsampled, first and last kept), the last one repeated
    ``hold`` extra times within that budget.  Panel titles are fixed strings or
    one string per input frame.
    """
    left, right = _as_frames(left, "left"), _as_frames(right, "right")
    if left.shape[0] != right.shape[0]:
        raise ValueError(f"left and right need the same number of frames, "
                         f"got {left.shape[0]} and {right.shape[0]}")
    return _animate([left, right], [left_title, right_title], frame_titles, lim, max_frames,
                    hold, fps, spiral, [COLORS["data"], COLORS["estimate"]], (6.4, 3.55))


@_styled
def animate_points(frames, frame_titles: Sequence[str] | None = None, title: str = "",
                   lim: float | None = None, max_frames: int = MAX_FRAMES, hold: int = 0,
                   fps: float = 8.0, spiral: bool = True) -> FuncAnimation:
    """Animate a point cloud: frame k scatters ``frames[k]`` (shape ``(K, n, 2)``).

    ``frame_titles`` gives one figure title per input frame (default
    ``"frame k"``); ``title`` names the panel.  At most ``max_frames`` frames
    are drawn, evenly subsampled with the first and last kept.
    """
    frames = _as_frames(frames)
    return _animate([frames], [title], frame_titles, lim, max_frames, hold, fps, spiral,
                    [COLORS["data"]], (3.6, 3.75))


def _animate(series: list[np.ndarray], panel_titles: list, frame_titles, lim, max_frames, hold,
             fps, spiral, colors, figsize) -> FuncAnimation:
    num = series[0].shape[0]
    frame_titles = [f"frame {k}" for k in range(num)] if frame_titles is None else list(frame_titles)
    if len(frame_titles) != num:
        raise ValueError(f"need one frame title per frame: {num} frames, got {len(frame_titles)}")
    for k, pt in enumerate(panel_titles):
        if not isinstance(pt, str) and len(pt) != num:
            raise ValueError(f"panel {k}: need one title per frame ({num}), got {len(pt)}")
    if not 0 <= hold < max_frames:
        raise ValueError(f"hold must be in 0..{max_frames - 1}, got {hold}")
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    idx = frame_indices(num, max_frames - hold)
    idx = np.append(idx, [idx[-1]] * hold).astype(int)
    lim = _limit(*series) if lim is None else lim

    fig, axes = plt.subplots(1, len(series), figsize=figsize, dpi=ANIMATION_DPI,
                             squeeze=False, sharex=True, sharey=True)
    scatters, titles = [], []
    for ax, frames, color in zip(axes.flat, series, colors):
        if spiral:
            draw_spiral_curve(ax)
        scatters.append(ax.scatter(frames[idx[0], :, 0], frames[idx[0], :, 1], s=4,
                                   alpha=0.55, linewidths=0, color=color, zorder=2))
        _spiral_axes(ax, lim)
        titles.append(ax.set_title(""))
    suptitle = fig.suptitle(frame_titles[idx[0]])

    def update(k: int):
        i = idx[k]
        for scatter, frames, text, pt in zip(scatters, series, titles, panel_titles):
            scatter.set_offsets(frames[i])
            text.set_text(pt if isinstance(pt, str) else pt[i])
        suptitle.set_text(frame_titles[i])
        return [*scatters, *titles, suptitle]

    update(0)
    fig.canvas.draw()                  # lay the figure out once with constrained layout,
    fig.set_layout_engine("none")      # then freeze it: every frame has the same layout
    anim = FuncAnimation(fig, update, frames=len(idx), interval=1000.0 / fps, blit=False,
                         repeat=False)
    anim.frame_index = idx                                  # input frame shown by each frame
    anim.changing_artists = [*scatters, *titles, suptitle]  # redrawn by render_frames
    return anim


def animate_side_by_side(xs, x_starts, lim: float | None = 2.0, max_frames: int = MAX_FRAMES,
                         hold: int = 4, fps: float = 8.0) -> FuncAnimation:
    """The reverse process (chapter 6): x_t beside x̂_0, from t = T down to 0.

    ``xs`` and ``x_starts`` are the outputs of ``GaussianDiffusion.p_sample_loop_all``,
    shape ``(T + 1, n, 2)`` indexed by the book's t (``xs[T]`` is the starting noise,
    ``xs[0]`` the final sample).  The last frame (t = 0) is held for ``hold`` frames.
    """
    xs, x_starts = _as_frames(xs, "xs"), _as_frames(x_starts, "x_starts")
    if xs.shape != x_starts.shape:
        raise ValueError(f"xs and x_starts need the same shape (T + 1, n, 2), got {xs.shape} "
                         f"and {x_starts.shape}")
    T = xs.shape[0] - 1
    order = np.arange(T, -1, -1)          # t = T, T-1, …, 0
    return animate_pairs(xs[order], x_starts[order],
                         frame_titles=[f"Reverse process, t = {t}" for t in order],
                         left_title="$x_t$", right_title=r"$\hat x_0$ predicted from $x_t$",
                         lim=lim, max_frames=max_frames, hold=hold, fps=fps)


def render_frames(anim: FuncAnimation) -> list[Image.Image]:
    """Draw every frame of an animation made by this module, as RGB images.

    The static parts (axes, ticks, grid, spiral) are drawn once; each frame then
    redraws only the points and titles on top of that background (blitting), which
    is many times faster than ``FuncAnimation.save``.  Animations from elsewhere
    fall back to drawing the whole figure for every frame.
    """
    fig = anim._fig
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    artists = getattr(anim, "changing_artists", None)
    num = len(anim.frame_index) if hasattr(anim, "frame_index") else anim._save_count
    if num is None:
        raise ValueError("cannot tell how many frames this animation has; pass save_count")
    images = []
    anim._draw_was_started = True        # we draw it ourselves: silence "deleted without rendering"
    with matplotlib.rc_context(STYLE):
        if artists is None:                       # not ours: full redraw per frame
            for k in range(num):
                anim._func(k)
                canvas.draw()
                images.append(Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3].copy()))
            return images
        for artist in artists:
            artist.set_animated(True)
        try:
            canvas.draw()                         # the background, without the changing artists
            background = canvas.copy_from_bbox(fig.bbox)
            for k in range(num):
                anim._func(k)
                canvas.restore_region(background)
                for artist in artists:
                    fig.draw_artist(artist)
                images.append(Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3].copy()))
        finally:
            for artist in artists:
                artist.set_animated(False)
    return images


_PLAYER_GLYPHS = {
    "fa-minus": "−", "fa-fast-backward": "|◀◀", "fa-step-backward": "|◀",
    "fa-play fa-flip-horizontal": "◀", "fa-pause": "❚❚", "fa-play": "▶",
    "fa-step-forward": "▶|", "fa-fast-forward": "▶▶|", "fa-plus": "+",
}
"""Button icons of the jshtml player, as text (no icon font needed)."""


def _fps(anim: FuncAnimation, fps: float | None) -> float:
    fps = 1000.0 / anim._interval if fps is None else float(fps)
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    return fps


def to_jshtml(anim: FuncAnimation, default_mode: str = "once", fps: float | None = None,
              colors: int | None = 128, close: bool = True) -> str:
    """The animation as a self-contained HTML/JavaScript player, which works on a
    static page with no kernel: play/pause buttons and a slider that steps
    through the frames (embedded as PNG).  It is matplotlib's own player.

    The player's element ids derive from the frames' content, so re-running a
    notebook gives the same HTML.  Display it with
    ``IPython.display.HTML(to_jshtml(anim))``.  ``default_mode``
    is ``"once"``, ``"loop"`` or ``"reflect"``.  The figure is closed afterwards
    (``close=True``) so that it is not displayed a second time.  Frames are stored
    with a palette of ``colors`` colours (about half the size of full RGB, with no
    visible loss for scatter plots); ``colors=None`` keeps full RGB.
    """
    from matplotlib._animation_data import DISPLAY_TEMPLATE, JS_INCLUDE, STYLE_INCLUDE

    if default_mode not in ("once", "loop", "reflect"):
        raise ValueError(f"default_mode must be 'once', 'loop' or 'reflect', got {default_mode!r}")
    interval = int(1000 / _fps(anim, fps))
    images = render_frames(anim)
    lines, digest = [], hashlib.sha1()
    for i, image in enumerate(images):
        buffer = io.BytesIO()
        (image if colors is None else image.quantize(colors=colors)).save(buffer, format="PNG")
        digest.update(buffer.getvalue())
        data = base64.b64encode(buffer.getvalue()).decode("ascii")
        lines.append(f'  frames[{i}] = "data:image/png;base64,{data}";')
    # matplotlib's player draws its buttons with Font Awesome 4 from a CDN; a book
    # page must work offline, so the stylesheet is dropped and the icons become
    # plain Unicode glyphs.
    js_include = re.sub(r'<link rel="stylesheet"\s+href="https?://[^"]*font-awesome[^"]*">\s*', "",
                        JS_INCLUDE)
    display = DISPLAY_TEMPLATE
    for icon, glyph in _PLAYER_GLYPHS.items():
        display = display.replace(f'<i class="fa {icon}"></i>', f'<span aria-hidden="true">{glyph}</span>')
    modes = {"once_checked": "", "loop_checked": "", "reflect_checked": ""}
    modes[f"{default_mode}_checked"] = "checked"
    html = js_include + STYLE_INCLUDE + display.format(
        id=digest.hexdigest()[:20], Nframes=len(images), fill_frames="\n" + "\n".join(lines) + "\n",
        interval=interval, **modes)
    if close:
        plt.close(anim._fig)
    return html


def save_gif(anim: FuncAnimation, path: str | Path, fps: float | None = None,
             close: bool = True) -> Path:
    """Write the animation to ``path`` as a looping GIF with Pillow (no ffmpeg needed).

    A frame held for ``hold`` extra frames is stored once with a longer duration,
    so the GIF has one frame per *distinct* drawn frame.
    """
    path = Path(path)
    if path.suffix.lower() != ".gif":
        raise ValueError(f"path must end in .gif, got {path.name!r}")
    duration = int(round(1000 / _fps(anim, fps)))
    images = render_frames(anim)
    # A GIF stores a held frame once, with a longer duration (Pillow would merge the
    # identical frames anyway): one GIF frame per distinct drawn frame.
    index = list(getattr(anim, "frame_index", range(len(images))))
    kept, durations = [], []
    for k, image in enumerate(images):
        if k and index[k] == index[k - 1]:
            durations[-1] += duration
        else:
            kept.append(image)
            durations.append(duration)
    path.parent.mkdir(parents=True, exist_ok=True)
    kept[0].save(path, save_all=True, append_images=kept[1:], duration=durations, loop=0,
                 optimize=False)
    if close:
        plt.close(anim._fig)
    return path


# ------------------------------------------------------------------ chapters 5–7
# (figures for the later chapters go below, in the same style)

from matplotlib.collections import LineCollection  # noqa: E402  (chapters 5–7 only)


@_styled
def plot_embedding_matrix(matrix, title: str = "Sinusoidal time embedding") -> Figure:
    """Heat map of a ``(dim, T)`` embedding matrix (chapter 5, eq. (5.1)).

    Column ``t - 1`` is the embedding of time step ``t``; row ``r`` is one
    coordinate of it.  Values lie in [-1, 1].
    """
    matrix = _to_numpy(matrix)
    if matrix.ndim != 2 or min(matrix.shape) < 1:
        raise ValueError(f"matrix must have shape (dim, T), got {matrix.shape}")
    dim, T = matrix.shape
    fig, ax = plt.subplots(figsize=(7.0, 3.6))
    image = ax.imshow(matrix, aspect="auto", cmap="RdBu_r", vmin=-1.0, vmax=1.0,
                      interpolation="nearest", origin="upper",
                      extent=(0.5, T + 0.5, dim - 0.5, -0.5))
    fig.colorbar(image, ax=ax, label="value", shrink=0.9)
    ax.grid(False)
    ax.set_xlabel("time step $t$ (one column each)")
    ax.set_ylabel("embedding row $r$")
    ax.set_title(title)
    return fig


@_styled
def plot_segments(points, targets, ax: Axes | None = None, title: str = "Closest points",
                  lim: float | None = None, arrows: bool = False, spiral: bool = True,
                  color: str | None = None, size: float = 5.0) -> Figure:
    """A line from each point to its target, over the spiral (chapters 5 and 7).

    ``points`` and ``targets`` have shape ``(n, 2)``.  With ``arrows=True`` the
    lines become arrows pointing at the targets (a vector field).
    """
    points, targets = _as_points(points, "points"), _as_points(targets, "targets")
    if points.shape != targets.shape:
        raise ValueError(f"points and targets must have the same shape, "
                         f"got {points.shape} and {targets.shape}")
    fig, ax = _new_axes(ax, (3.8, 3.8))
    if spiral:
        draw_spiral_curve(ax, lw=1.6, zorder=3)
    if arrows:
        delta = targets - points
        ax.quiver(points[:, 0], points[:, 1], delta[:, 0], delta[:, 1], angles="xy",
                  scale_units="xy", scale=1.0, width=0.0045, headwidth=4.0,
                  color=color or COLORS["theory"], alpha=0.8, zorder=2)
    else:
        ax.add_collection(LineCollection(np.stack([points, targets], axis=1),
                                         colors=color or COLORS["theory"], linewidths=0.6,
                                         alpha=0.55, zorder=2))
    ax.scatter(points[:, 0], points[:, 1], s=size, linewidths=0, color=COLORS["data"],
               alpha=0.8, zorder=4)
    _spiral_axes(ax, _limit(points, targets) if lim is None else lim)
    ax.set_title(title)
    return fig


@_styled
def plot_segments_grid(points_list: Sequence, targets_list: Sequence, titles: Sequence[str],
                       suptitle: str = "Lines to the closest points", lim: float | None = None,
                       arrows: bool = False, panel_size: float = 2.6) -> Figure:
    """Small multiples of :func:`plot_segments`, one panel per entry, two per row
    (so that the tick labels stay legible on a phone)."""
    if not (len(points_list) == len(targets_list) == len(titles)) or not titles:
        raise ValueError(f"need as many point sets, target sets and titles (at least one), got "
                         f"{len(points_list)}, {len(targets_list)} and {len(titles)}")
    points_list = [_as_points(p, "each entry of points_list") for p in points_list]
    targets_list = [_as_points(p, "each entry of targets_list") for p in targets_list]
    n = len(titles)
    ncols = min(n, 2)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=True,
                             figsize=(panel_size * ncols, panel_size * nrows + 0.5))
    lim = _limit(*points_list, *targets_list) if lim is None else lim
    for k, ax in enumerate(axes.flat):
        if k >= n:
            ax.remove()
            continue
        plot_segments(points_list[k], targets_list[k], ax=ax, title=titles[k], lim=lim,
                      arrows=arrows, size=3.0)
        if k % ncols:
            ax.set_ylabel("")
    fig.suptitle(suptitle)
    return fig


def _moving_average(values: np.ndarray, window: int) -> np.ndarray:
    window = max(1, min(int(window), values.size))
    kernel = np.ones(window) / window
    return np.convolve(values, kernel, mode="valid")


@_styled
def plot_history(history, title: str = "Training history", smooth: int = 50) -> Figure:
    """The loss of every optimiser step (thin), its moving average over ``smooth``
    steps, and the per-epoch training and validation losses (chapter 6).

    ``history`` is a :class:`~ddpm_lessons.training.History`; the x-axis counts
    optimiser steps, an epoch's losses are drawn at its last step.
    """
    batch = np.asarray(history.batch_loss, dtype=np.float64)
    train_loss = np.asarray(history.train_loss, dtype=np.float64)
    val_loss = np.asarray(history.val_loss, dtype=np.float64)
    if batch.size < 1 or train_loss.size < 1:
        raise ValueError(f"history must hold at least one step and one epoch, got "
                         f"{batch.size} steps and {train_loss.size} epochs")
    if batch.size % train_loss.size:
        raise ValueError(f"{batch.size} steps do not split into {train_loss.size} equal epochs")
    per_epoch = batch.size // train_loss.size
    epoch_end = per_epoch * np.arange(1, train_loss.size + 1)
    fig, ax = plt.subplots(figsize=(5.4, 3.6))
    steps = np.arange(1, batch.size + 1)
    ax.plot(steps, batch, color=COLORS["curve"], lw=0.4, alpha=0.5, label="loss of each batch")
    smoothed = _moving_average(batch, smooth)
    ax.plot(steps[steps.size - smoothed.size:], smoothed, color=COLORS["data"], lw=1.2,
            label=f"moving average ({min(smooth, batch.size)} batches)")
    markers = train_loss.size <= 40          # markers only while the epochs stay apart
    ax.plot(epoch_end, train_loss, "o-" if markers else "-", ms=2.5, lw=1.0,
            color=COLORS["accent"], label="training loss per epoch")
    if val_loss.size:
        ax.plot(epoch_end[:val_loss.size], val_loss, "s-" if markers else "-", ms=2.5, lw=1.2,
                color=COLORS["estimate"], label="validation loss per epoch")
    ax.set_yscale("log")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel(r"loss $\|\varepsilon - \varepsilon_\theta\|^2$ (mean)")
    ax.set_title(title)
    ax.legend(loc="upper right")
    return fig


@_styled
def plot_reverse_metrics(mean_distances: Mapping, coverage: Mapping | None = None,
                         floor: float | None = None, true_value: float | None = None,
                         title: str = "The reverse process, measured") -> Figure:
    """Mean distance to the spiral (left) and coverage KS (right) against t (chapter 7).

    ``mean_distances`` and ``coverage`` map a label to an array of length
    ``T + 1`` indexed by t (element t is the value for x_t).  The t-axis runs
    from T down to 0, the order of the reverse process.  ``floor`` (the KS
    that true samples typically give, :func:`~ddpm_lessons.optimal.ks_floor`)
    and ``true_value`` (one measured value for true samples) are drawn as
    horizontal lines on the coverage panel.  When the curves have different
    lengths (models with different T), they are drawn against ``t / T`` instead.
    """
    if not mean_distances:
        raise ValueError("mean_distances must hold at least one curve, got none")
    lengths = {_to_numpy(v).size for v in [*mean_distances.values(), *(coverage or {}).values()]}
    fraction = len(lengths) > 1
    panels = 2 if coverage else 1
    fig, axes = plt.subplots(panels, 1, figsize=(5.2, 3.3 * panels), squeeze=False)
    series = [(axes[0, 0], mean_distances, "mean distance to the spiral",
               "Mean distance to the spiral")]
    if coverage:
        series.append((axes[1, 0], coverage, "coverage KS distance", "Coverage of the spiral (KS)"))
    for ax, curves, ylabel, panel_title in series:
        for label, values in curves.items():
            values = _to_numpy(values).ravel()
            steps = np.arange(values.size)
            ax.plot(steps / (values.size - 1) if fraction else steps, values, label=label)
        if fraction:
            ax.set_xlim(1.0, 0.0)
            ax.set_xlabel("fraction of the steps left, $t/T$ (reverse process runs left to right)")
        else:
            ax.set_xlim(max(lengths) - 1, 0)
            ax.set_xlabel("time step $t$ (reverse process runs left to right)")
        ax.set_ylabel(ylabel)
        ax.set_title(panel_title)
        ax.set_ylim(bottom=0)
    if coverage:
        ax = axes[1, 0]
        if floor is not None:
            ax.axhline(floor, color=COLORS["theory"], ls="--", lw=1,
                       label=f"typical for true samples ({floor:.3f})")
        if true_value is not None:
            ax.axhline(true_value, color=COLORS["accent"], ls=":", lw=1.4,
                       label=f"measured on true samples ({true_value:.3f})")
    for ax in axes.flat:
        ax.legend(loc="best")
    if coverage:
        fig.suptitle(title)
    else:
        axes[0, 0].set_title(title)     # one panel: its title is the figure's
    return fig


@_styled
def plot_coverage_histograms(t_stars: Mapping, bins: int = 30,
                             title: str = "Where along the spiral do the points land?") -> Figure:
    """Histograms of the closest-point parameters t* (one panel per entry)
    against the uniform density of the data, ``1 / (T_MAX − T_MIN)`` (chapter 7)."""
    if not t_stars:
        raise ValueError("t_stars must hold at least one set of parameters, got none")
    n = len(t_stars)
    fig, axes = plt.subplots(n, 1, figsize=(5.2, 1.9 * n + 0.6), squeeze=False, sharex=True,
                             sharey=True)
    uniform = 1.0 / (T_MAX - T_MIN)
    for ax, (label, values) in zip(axes.flat, t_stars.items()):
        values = _to_numpy(values).ravel()
        ax.hist(values, bins=bins, range=(T_MIN, T_MAX), density=True, color=COLORS["data"],
                alpha=0.55, edgecolor="white", linewidth=0.4)
        ax.axhline(uniform, color=COLORS["theory"], ls="--", lw=1.2, label="data (uniform)")
        ax.set_xlim(T_MIN, T_MAX)
        ax.set_xticks(np.pi * np.array([1.5, 2.5, 3.5, 4.5]), ["1.5π", "2.5π", "3.5π", "4.5π"])
        ax.set_xlabel("spiral parameter $t^*$ (inner → outer)")
        ax.set_title(label)
    axes[0, 0].set_ylabel("density")
    axes[0, 0].legend(loc="upper left")
    fig.suptitle(title)
    return fig


@_styled
def plot_distance_function(point, marks: Mapping | None = None,
                           title: str | None = None) -> Figure:
    """D(t) = |p(t) − q|² of eq. (7.1) (top) and D''(t) (bottom) for one point q,
    with the stretches where D'' ≤ 0 shaded: there Newton's step of eq. (7.3)
    points uphill (chapter 7).  ``marks`` maps labels to values of t to mark."""
    from .optimal import squared_distance_derivatives

    q = _to_numpy(point).ravel()
    if q.shape != (2,) or not np.all(np.isfinite(q)):
        raise ValueError(f"point must be one finite (x, y) pair, got {q}")
    t = np.linspace(T_MIN, T_MAX, 1500)
    value, _, curvature = squared_distance_derivatives(np.broadcast_to(q, (t.size, 2)), t)
    fig, (ax_d, ax_c) = plt.subplots(2, 1, figsize=(6.4, 4.6), sharex=True)
    concave = curvature <= 0
    for ax in (ax_d, ax_c):
        ax.fill_between(t, 0, 1, where=concave, transform=ax.get_xaxis_transform(),
                        color=COLORS["estimate"], alpha=0.12, lw=0,
                        label="$D'' \\leq 0$" if ax is ax_c else None)
    ax_d.plot(t, value, color=COLORS["data"])
    ax_c.plot(t, curvature, color=COLORS["accent"])
    ax_c.axhline(0.0, color=COLORS["theory"], lw=0.8)
    styles = ["o", "s", "^", "D"]
    for k, (label, t_mark) in enumerate((marks or {}).items()):
        d_mark = squared_distance_derivatives(q, np.asarray(float(t_mark)))[0]
        ax_d.plot([t_mark], [d_mark], styles[k % len(styles)], ms=7, zorder=4, label=label)
    ax_d.set_ylabel("$D(t) = |p(t) - q|^2$")
    ax_d.set_title(title or f"Squared distance from q = ({q[0]:.3f}, {q[1]:.3f})")
    ax_c.set_ylabel("$D''(t)$")
    ax_c.set_xlabel("spiral parameter $t$")
    ax_c.set_title("Curvature of D: Newton needs $D'' > 0$")
    ax_c.set_xticks(np.pi * np.array([1.5, 2.5, 3.5, 4.5]), ["1.5π", "2.5π", "3.5π", "4.5π"])
    if marks:
        ax_d.legend(loc="upper left", fontsize=8)
    ax_c.legend(loc="upper left", fontsize=8)
    return fig


@_styled
def animate_segments(points, targets, frame_titles: Sequence[str], title: str = "",
                     lim: float | None = None, max_frames: int = MAX_FRAMES,
                     fps: float = 6.0) -> FuncAnimation:
    """Animate lines from points to their targets: frame k draws a line from
    ``points[k, i]`` to ``targets[k, i]`` for every i (chapter 7's closest points).

    ``points`` and ``targets`` have shape ``(K, n, 2)``; at most ``max_frames``
    frames are drawn (evenly subsampled, first and last kept).
    """
    points, targets = _as_frames(points, "points"), _as_frames(targets, "targets")
    if points.shape != targets.shape:
        raise ValueError(f"points and targets must have the same shape, "
                         f"got {points.shape} and {targets.shape}")
    if len(frame_titles) != points.shape[0]:
        raise ValueError(f"need one frame title per frame: {points.shape[0]} frames, "
                         f"got {len(frame_titles)}")
    idx = frame_indices(points.shape[0], max_frames)
    lim = _limit(points, targets) if lim is None else lim
    fig, ax = plt.subplots(figsize=(3.9, 4.0), dpi=ANIMATION_DPI)
    draw_spiral_curve(ax, lw=1.6, zorder=3)
    lines = LineCollection(np.stack([points[idx[0]], targets[idx[0]]], axis=1),
                           colors=COLORS["theory"], linewidths=0.6, alpha=0.55, zorder=2)
    ax.add_collection(lines)
    scatter = ax.scatter(points[idx[0], :, 0], points[idx[0], :, 1], s=4, linewidths=0,
                         color=COLORS["data"], alpha=0.8, zorder=4)
    _spiral_axes(ax, lim)
    ax.set_title(title)
    suptitle = fig.suptitle(frame_titles[idx[0]])

    def update(k: int):
        i = idx[k]
        lines.set_segments(np.stack([points[i], targets[i]], axis=1))
        scatter.set_offsets(points[i])
        suptitle.set_text(frame_titles[i])
        return [lines, scatter, suptitle]

    anim = FuncAnimation(fig, update, frames=len(idx), interval=1000.0 / fps, blit=False,
                         repeat=False)
    anim.frame_index = idx
    return anim
