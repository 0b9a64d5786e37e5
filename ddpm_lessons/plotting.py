"""Static figures for the book (the palette and rcParams: :mod:`~ddpm_lessons.style`;
animations: :mod:`~ddpm_lessons.animation`).

Every helper *returns* a figure and never calls ``plt.show``; the notebook
displays it once and closes it with :func:`show`.  Every figure has a title
and labelled axes; every spiral plot has an equal aspect ratio.  Arrays may
be numpy arrays or torch tensors; points have shape ``(n, 2)``.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from .normal import normal_pdf
from .closest_point import squared_distance_derivatives
from .schedules import alphas_cumprod, validate_betas
from .spiral import T_MAX, T_MIN
from .style import COLORS, draw_spiral_curve, show, use_style  # noqa: F401 (re-exported)
from .style import axis_limit as _limit
from .style import new_axes as _new_axes
from .style import spiral_axes as _spiral_axes
from .style import styled as _styled
from .style import to_numpy as _to_numpy
from .validation import check_points


@_styled
def subplots(nrows: int = 1, ncols: int = 1, panel_size: tuple[float, float] = (3.4, 3.4),
             **kwargs) -> tuple[Figure, np.ndarray]:
    """A styled figure of ``nrows × ncols`` panels of ``panel_size`` inches each.

    Returns ``(fig, axes)`` with ``axes`` always a 2-D array.
    """
    fig, axes = plt.subplots(nrows, ncols, squeeze=False,
                             figsize=(panel_size[0] * ncols, panel_size[1] * nrows), **kwargs)
    return fig, axes


def _as_points(points, name: str = "points") -> np.ndarray:
    return check_points(points, name, ndim=2)


# ---------------------------------------------------------------- static figures

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
