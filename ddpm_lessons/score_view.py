"""The score field of a noised training set, drawn and scrubbed with a slider (chapter 8).

``score_field_data(t, data, diffusion)`` computes everything one panel shows
(with :mod:`~ddpm_lessons.score`); ``draw_score_field(data)`` draws it;
``score_view`` wires a slider over t to both (:mod:`~ddpm_lessons.liveview`),
and ``grid_of(draw_score_field, [...])`` is the static counterpart.
"""
from __future__ import annotations

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .diffusion import GaussianDiffusion
from .liveview import LiveView, fmt, slider
from .score import log_density, score
from .style import COLORS, draw_spiral_curve, new_axes, spiral_axes, styled
from .validation import check_int, check_points, check_time_step


def score_field_data(t: int, data, diffusion: GaussianDiffusion, arrows: int = 15,
                     pixels: int = 121, lim: float = 1.5) -> dict:
    """The score of the noised training set at step t on a grid (chapter 8).

    ``arrows`` × ``arrows`` grid points carry the scaled score
    ``(1 − ᾱ_t) ∇ log q_t(x) = √ᾱ_t E[x0 | x_t = x] − x`` (eq. (8.2)): the arrow
    from x to the scaled posterior mean.  ``pixels`` × ``pixels`` points carry
    ``log q_t``, eq. (8.5), for the background.

    Keys: ``t, T, alpha_bar, lim, grid, arrows, axis, log_density, train``.
    """
    train = check_points(data, "data", ndim=2)
    T = diffusion.num_timesteps
    t = check_time_step(t, T)
    arrows, pixels = check_int(arrows, "arrows", 2), check_int(pixels, "pixels", 2)
    alpha_bar = float(diffusion.alphas_cumprod.double()[t - 1])
    train_t = torch.as_tensor(train)
    coarse = np.linspace(-lim, lim, arrows)
    grid = np.stack(np.meshgrid(coarse, coarse), axis=-1).reshape(-1, 2)
    field = (1 - alpha_bar) * score(torch.as_tensor(grid), train_t, alpha_bar).numpy()
    fine = np.linspace(-lim, lim, pixels)
    image = np.stack(np.meshgrid(fine, fine), axis=-1).reshape(-1, 2)
    density = log_density(torch.as_tensor(image), train_t, alpha_bar).numpy().reshape(pixels, pixels)
    return {"t": t, "T": T, "alpha_bar": alpha_bar, "lim": lim, "grid": grid, "arrows": field,
            "axis": fine, "log_density": density, "train": train}


def score_readout(data: dict) -> list[str]:
    length = np.linalg.norm(data["arrows"], axis=1)
    return [f"t = {data['t']} of T = {data['T']} · ᾱ_t = {fmt(data['alpha_bar'])} · "
            f"mean arrow length = {fmt(length.mean())}"]


def display_arrows(field: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """The arrows as drawn: their directions, with lengths ∝ √(|v| / max |v|) up to
    0.9 grid spacings, so that neither the long arrows far out nor the short ones
    near the data swamp the panel."""
    spacing = float(np.ptp(grid[:, 0])) / max(1, round(np.sqrt(len(grid))) - 1)
    length = np.linalg.norm(field, axis=1, keepdims=True)
    biggest = float(length.max())
    if biggest == 0.0:
        return np.zeros_like(field)
    return field / np.maximum(length, 1e-300) * 0.9 * spacing * np.sqrt(length / biggest)


@styled
def draw_score_field(data: dict, ax: Axes | None = None) -> Figure:
    """log q_t as a background, the spiral, the training points and the directions of
    the arrows ``√ᾱ_t E[x0 | x] − x`` (lengths compressed by :func:`display_arrows`)."""
    fig, ax = new_axes(ax, (4.2, 4.2))
    lim, axis = data["lim"], data["axis"]
    floor = data["log_density"].max() - 12.0          # show twelve nats of the density's range
    ax.imshow(np.maximum(data["log_density"], floor), origin="lower", cmap="Greys", alpha=0.55,
              extent=(axis[0], axis[-1], axis[0], axis[-1]), interpolation="bilinear", zorder=0)
    draw_spiral_curve(ax)
    train = data["train"]
    ax.scatter(train[:, 0], train[:, 1], s=4, color=COLORS["estimate"], linewidths=0, zorder=2,
               label="training points")
    grid, field = data["grid"], data["arrows"]
    ax.quiver(grid[:, 0], grid[:, 1], *display_arrows(field, grid).T, angles="xy", scale_units="xy",
              scale=1.0, width=0.006, color=COLORS["data"], zorder=3)
    spiral_axes(ax, lim)
    ax.grid(False)
    ax.set_title(f"t = {data['t']}, ᾱ_t = {data['alpha_bar']:.3g}")
    return fig


def score_view(data, diffusion: GaussianDiffusion, t: int = 10, arrows: int = 15) -> LiveView:
    """A live slider over t (class ``ddpm-slider-t``) redrawing the score field (chapter 8)."""
    train = check_points(data, "data", ndim=2)
    controls = {"t": slider("int", "t", "time step t", value=t, min=1,
                            max=diffusion.num_timesteps, step=1)}
    return LiveView("score", controls,
                    lambda **v: score_field_data(**v, data=train, diffusion=diffusion, arrows=arrows),
                    score_readout, lambda d: draw_score_field(d))

