"""The book's look: one palette, one set of rcParams, and small drawing helpers.

Used by :mod:`~ddpm_lessons.plotting` (static figures), :mod:`~ddpm_lessons.animation`
(players and GIFs) and :mod:`~ddpm_lessons.views` (sliders).  Every figure has
a title and labelled axes; every spiral plot has an equal aspect ratio.
"""
from __future__ import annotations

import functools
import math
from typing import Callable

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from cycler import cycler
from IPython import get_ipython
from IPython.display import display
from matplotlib_inline.backend_inline import set_matplotlib_formats
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .spiral import T_MAX, T_MIN, spiral_curve

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


def use_style() -> None:
    """Apply :data:`STYLE` globally, for figures a notebook draws itself.

    In IPython, inline figures are also stored at twice their display size
    (``retina``), so they stay sharp on high-resolution screens.
    """
    matplotlib.rcParams.update(STYLE)
    if get_ipython() is not None:
        set_matplotlib_formats("retina")


def styled(func: Callable) -> Callable:
    """Decorator: run a plotting helper inside ``rc_context(STYLE)``."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(STYLE):
            return func(*args, **kwargs)
    return wrapper


def show(fig: Figure) -> None:
    """Display a figure once in a notebook, then close it (so it is not drawn twice)."""
    display(fig)
    plt.close(fig)


def to_numpy(x) -> np.ndarray:
    """numpy float64 array from a numpy array, list or (possibly grad-tracking) torch tensor."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def axis_limit(*arrays: np.ndarray, minimum: float = 1.25) -> float:
    """Symmetric axis limit that shows (almost) every point, and at least the data box."""
    biggest = max(float(np.quantile(np.abs(a), 0.998)) for a in arrays)
    return max(minimum, math.ceil(biggest * 1.05 * 4) / 4)


def new_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """``(figure, axes)``: a new figure of ``figsize`` if ``ax`` is ``None``, else ``ax``'s."""
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    return ax.figure, ax


def spiral_axes(ax: Axes, lim: float) -> None:
    """A square, equal-aspect view of half-width ``lim`` with the coordinates labelled."""
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
