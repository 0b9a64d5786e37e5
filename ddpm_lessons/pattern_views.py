"""Figures and the guidance-scale slider of chapter 10 (several patterns, guidance).

As in :mod:`~ddpm_lessons.views`: :func:`guidance_data` maps a slider value
(the guidance scale w) to what the figure shows, :func:`guidance_readout`
gives the text, :func:`draw_guidance` the figure and :func:`guidance_view`
wires them to a slider (class ``ddpm-slider-w``), with a second one
(``ddpm-slider-where``) over where guidance is applied, at every step or in an
interval of t.  The static counterparts are :func:`draw_patterns` for a few
values of w and a player over w (:func:`~ddpm_lessons.animation.animate_pairs`).
"""
from __future__ import annotations

import textwrap
from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from .liveview import LiveView, fmt, slider
from .patterns import coverage_ks, mean_distance, pattern_curve
from .plotting import subplots
from .style import COLORS, spiral_axes, styled
from .validation import check_points


@styled
def draw_patterns(points: Mapping[str, np.ndarray], suptitle: str = "", lim: float = 1.25,
                  titles: Mapping[str, str] | None = None, ncols: int = 2,
                  panel_size: tuple[float, float] = (2.6, 2.75)) -> Figure:
    """One panel per pattern: its exact curve (grey) and the points drawn for it."""
    if not points:
        raise ValueError("points must hold at least one pattern")
    names = list(points)
    nrows = -(-len(names) // ncols)
    fig, axes = subplots(nrows, ncols, panel_size=panel_size, sharex=True, sharey=True)
    for ax, name in zip(axes.flat, names):
        xy = check_points(points[name], name, ndim=2)
        curve = pattern_curve(name, 1201)
        breaks = np.flatnonzero(np.linalg.norm(np.diff(curve, axis=0), axis=1) > 0.05) + 1
        for piece in np.split(curve, breaks):
            ax.plot(piece[:, 0], piece[:, 1], color=COLORS["curve"], lw=1.2, zorder=1)
        ax.scatter(xy[:, 0], xy[:, 1], s=3, alpha=0.5, linewidths=0, color=COLORS["data"], zorder=2)
        spiral_axes(ax, lim)
        ax.set_title(titles[name] if titles else name)
    for ax in axes.flat[len(names):]:
        ax.axis("off")
    for ax in axes[:-1].flat:
        ax.set_xlabel("")
    for ax in axes[:, 1:].flat:
        ax.set_ylabel("")
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def guidance_data(w: float, samples: Mapping[float, Mapping[str, np.ndarray]],
                  where: str = "") -> dict:
    """The samples drawn with guidance scale ``w`` (a key of ``samples``), with each pattern's
    mean distance and coverage KS (:mod:`~ddpm_lessons.patterns`); ``where`` says at which
    steps guidance was applied (e.g. ``"every step"``).

    Keys: ``w, where, points, mean_distance, coverage_ks`` (the last two by pattern name).
    """
    if w not in samples:
        raise ValueError(f"no samples for w = {w!r}: the slider offers {sorted(samples)}")
    points = samples[w]
    return {"w": w, "where": where, "points": points,
            "mean_distance": {name: mean_distance(name, xy) for name, xy in points.items()},
            "coverage_ks": {name: coverage_ks(name, xy) for name, xy in points.items()}}


def guidance_readout(data: dict) -> list[str]:
    where = f" · guidance at {data['where']}" if data.get("where") else ""
    return [f"w = {fmt(data['w'])}{where}"] + [
        f"{name}: mean distance = {fmt(data['mean_distance'][name])} · "
        f"coverage KS = {fmt(data['coverage_ks'][name])}" for name in data["points"]]


def draw_guidance(data: dict) -> Figure:
    where = f", {data['where']}" if data.get("where") else ""
    return draw_patterns(data["points"], suptitle=f"Guided samples, w = {data['w']:g}{where}")


def guidance_view(samples: Mapping[str, Mapping[float, Mapping[str, np.ndarray]]],
                  w: float | None = None, where: str | None = None) -> LiveView:
    """A slider over the guidance scales (class ``ddpm-slider-w``) and, if ``samples`` holds
    more than one way of guiding, a second one over them (class ``ddpm-slider-where``).

    ``samples[where][w][pattern]`` are the points drawn with scale ``w``, guidance applied at
    the steps named by ``where`` (``"every step"``, ``"5 ≤ t ≤ 60"``…); every ``where`` must
    offer the same scales.
    """
    if not samples:
        raise ValueError("samples must hold at least one way of guiding")
    ways = list(samples)
    options = sorted(samples[ways[0]])
    for way in ways[1:]:
        if sorted(samples[way]) != options:
            raise ValueError(f"every way of guiding needs the same scales: {ways[0]!r} has "
                             f"{options}, {way!r} has {sorted(samples[way])}")
    controls = {"w": slider("select", "w", "guidance scale w", options=options,
                            value=options[0] if w is None else w)}
    if len(ways) > 1:
        controls["where"] = slider("select", "where", "guidance at", options=ways,
                                   value=ways[0] if where is None else where)

    def compute(**values):
        way = values.get("where", ways[0])
        return guidance_data(values["w"], samples[way], way if len(ways) > 1 else "")

    return LiveView("guidance", controls, compute, guidance_readout, draw_guidance)


@styled
def plot_tradeoff(scales: Sequence[float], distances: Mapping[str, Sequence[float]],
                  coverages: Mapping[str, Sequence[float]], floor: float | None = None,
                  title: str = "Precision and coverage against the guidance scale") -> Figure:
    """Mean distance (precision) and coverage KS against the guidance scale w, one line per
    pattern; ``floor`` marks the coverage KS of true data, ``title`` names the figure."""
    fig, axes = subplots(1, 2, panel_size=(2.5, 2.9), sharex=True)
    left, right = axes[0]
    for name in distances:
        left.plot(scales, distances[name], marker="o", ms=3, label=name)
        right.plot(scales, coverages[name], marker="o", ms=3, label=name)
    if floor is not None:
        right.axhline(floor, color=COLORS["curve"], ls="--", lw=1, label="true data")
    left.set(xlabel="guidance scale w", ylabel="mean distance", title="Precision", yscale="log")
    right.set(xlabel="guidance scale w", ylabel="coverage KS", title="Coverage")
    right.legend(fontsize=8)
    fig.suptitle("\n".join(textwrap.wrap(title, 44)))    # two lines rather than wider than a phone
    return fig


@styled
def plot_shares(names: Sequence[str], found: Sequence[float], training: Sequence[float]) -> Figure:
    """Bars: the share of unconditional samples nearest to each pattern beside its training share."""
    x = np.arange(len(names))
    fig, axes = subplots(1, 1, panel_size=(5.0, 2.8))
    ax = axes[0, 0]
    ax.bar(x - 0.2, training, width=0.4, color=COLORS["curve"], label="training data")
    ax.bar(x + 0.2, found, width=0.4, color=COLORS["data"], label="samples with label ∅")
    ax.set_xticks(x, names)
    ax.set(ylabel="share of the points", title="Unconditional samples: a mixture of the patterns",
           ylim=(0, 1.4 * max(max(found), max(training))))
    ax.legend(loc="upper center", ncols=2)
    return fig
