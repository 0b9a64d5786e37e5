"""Interactive views of chapters 1–4 and 7, and the data behind their static figures.

Each view has three parts, testable without a browser: ``<view>_data(**sliders)``,
a pure function from slider values to everything the figure shows, computed
with :class:`~ddpm_lessons.diffusion.GaussianDiffusion` and
:mod:`~ddpm_lessons.schedules` (static figures are drawn from it too);
``<view>_readout(data)``, the lines of text under the sliders; and
``draw_<view>(data)``, the figure.  ``<view>_view(...)`` wires them to
sliders (:mod:`~ddpm_lessons.liveview`); :func:`grid_of` draws several
settings side by side, the static counterpart for the web page.

Views: :func:`normal_view` (chapter 1), :func:`forward_view` (chapter 2),
:func:`shortcut_view` (chapter 3), :func:`posterior_view` (chapter 4),
:func:`reverse_view` (chapter 7).
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from . import plotting
from .closest_point import closest_points
from .diffusion import GaussianDiffusion
from .liveview import LiveView, fmt, grid_of, slider  # noqa: F401 (grid_of re-exported)
from .normal import normal_pdf, sample_normal
from .optimal import ks_statistic_uniform
from .schedules import alphas_cumprod, linear_beta_schedule, schedule_summary, validate_betas
from .spiral import T_MAX, T_MIN, make_spiral
from .style import COLORS, new_axes, styled
from .validation import check_int, check_points, check_time_step

DEMO_NUM_TIMESTEPS = 40
"""T of the demonstration schedule used by the chapter 3–4 views."""


def demo_betas() -> np.ndarray:
    """The demonstration schedule of chapters 3–4: Ho et al.'s linear
    1e-4 … 0.02, rescaled to T = 40 steps by eq. (2.6)."""
    return linear_beta_schedule(DEMO_NUM_TIMESTEPS, 1e-4, 0.02)


def _diffusion(betas: np.ndarray) -> GaussianDiffusion:
    """The process of ``betas`` in float64, for exact numbers in the views."""
    return GaussianDiffusion(betas, dtype=torch.float64)


def _with_alpha_bar_0(betas: np.ndarray) -> np.ndarray:
    """``abar[t]`` = ᾱ_t for t = 0 … T (ᾱ_0 = 1), eq. (3.3)."""
    return np.append(1.0, alphas_cumprod(betas))


def _shortcut(diffusion: GaussianDiffusion, x0: np.ndarray, t: int, noise: np.ndarray) -> np.ndarray:
    """x_t of eq. (3.5) by :meth:`GaussianDiffusion.q_sample`; ``t = 0`` gives x_0 itself."""
    if t == 0:
        return x0.copy()
    return diffusion.q_sample(torch.as_tensor(x0), t, noise=torch.as_tensor(noise)).numpy()


# ------------------------------------------------------------- chapter 1: N(μ, σ²)

NORMAL_XLIM = (-10.0, 10.0)
NORMAL_SIZES = (10, 100, 1_000, 10_000, 100_000)


def normal_data(mu: float = 0.0, sigma: float = 1.0, n: int = 1000, seed: int = 0) -> dict:
    """Samples μ + σ z of N(μ, σ²) (eq. (1.2)) and the pdf (eq. (1.1)) on a grid.

    The same ``seed`` gives the same z, so moving μ shifts the histogram and
    moving σ stretches it.  Keys: ``mu, sigma, n, samples, grid, pdf,
    sample_mean, sample_std``.
    """
    n = check_int(n, "n", 1)
    if not (np.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be a finite number > 0, got {sigma!r}")
    samples = sample_normal(mu, sigma, int(n), np.random.default_rng(check_int(seed, "seed", 0)))
    grid = np.linspace(*NORMAL_XLIM, 801)
    return {"mu": float(mu), "sigma": float(sigma), "n": int(n), "samples": samples,
            "grid": grid, "pdf": normal_pdf(grid, mu, sigma),
            "sample_mean": float(samples.mean()), "sample_std": float(samples.std())}


def normal_readout(data: dict) -> list[str]:
    return [f"μ = {fmt(data['mu'])} · σ = {fmt(data['sigma'])} · n = {data['n']}",
            f"sample mean = {fmt(data['sample_mean'])} · sample std = {fmt(data['sample_std'])}"]


def draw_normal(data: dict, ax=None) -> Figure:
    """Histogram of the samples against the pdf, on a fixed x-range."""
    return plotting.plot_normal_histogram(
        data["samples"], data["mu"], data["sigma"], ax=ax, bins=100, xlim=NORMAL_XLIM,
        title=f"μ = {data['mu']:g}, σ = {data['sigma']:g}, n = {data['n']:,}")


def normal_view(mu: float = 0.0, sigma: float = 1.0, n: int = 1000, seed: int = 0) -> LiveView:
    """Live sliders for μ, σ and n (classes ``ddpm-slider-mu``, ``-sigma``, ``-n``)."""
    controls = {
        "mu": slider("float", "mu", "mean μ", value=mu, min=-4.0, max=4.0, step=0.1),
        "sigma": slider("float", "sigma", "std σ", value=sigma, min=0.2, max=3.0, step=0.1),
        "n": slider("select", "n", "samples n", options=list(NORMAL_SIZES), value=n),
    }
    return LiveView("normal", controls, lambda **v: normal_data(**v, seed=seed),
                    normal_readout, draw_normal)


# ------------------------------------------------------- chapter 2: forward process

FORWARD_LIM = 3.0


def forward_data(beta_start: float = 8e-6, beta_end: float = 9e-5, num_timesteps: int = 40,
                 t: int | None = None, n: int = 1000, seed: int = 0) -> dict:
    """The noised spiral x_t for a linear schedule, and what the schedule does.

    The schedule is eq. (2.5) rescaled by 1000/T (eq. (2.6)), exactly
    ``linear_beta_schedule(num_timesteps, beta_start, beta_end)``.  x_t is drawn with the
    shortcut eq. (3.5), x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε, from a fixed spiral x_0 and
    fixed noise ε (``seed``), so that moving t moves the same points.
    ``t = 0`` shows the data; ``t=None`` means T.

    Keys: ``betas, alphas_cumprod`` (ᾱ_0 … ᾱ_T), ``T, t, alpha_bar_t, x0, noise,
    x_t, summary`` (:func:`~ddpm_lessons.schedules.schedule_summary`).
    """
    T = check_int(num_timesteps, "num_timesteps", 1, 10_000)
    t = T if t is None else check_time_step(t, T, first=0)
    betas = linear_beta_schedule(T, beta_start, beta_end)
    abar = _with_alpha_bar_0(betas)
    rng = np.random.default_rng(check_int(seed, "seed", 0))
    x0 = make_spiral(n, rng).astype(np.float64)
    noise = rng.standard_normal(x0.shape)
    x_t = _shortcut(_diffusion(betas), x0, t, noise)                      # eq. (3.5)
    return {"betas": betas, "alphas_cumprod": abar, "T": T, "t": t, "alpha_bar_t": float(abar[t]),
            "x0": x0, "noise": noise, "x_t": x_t, "summary": schedule_summary(betas)}


def forward_readout(data: dict) -> list[str]:
    s = data["summary"]
    return [f"ᾱ_T = {fmt(s['alpha_bar_T'])} · prior KL = {fmt(s['prior_kl_max'])} nats "
            f"(KL of q(x_T | x_0) from N(0, I) at |x_0| = 1) · T = {s['T']}",
            f"t = {data['t']} · ᾱ_t = {fmt(data['alpha_bar_t'])} · "
            f"β_1 = {s['beta_1']:.3g} · β_T = {s['beta_T']:.3g}"]


@styled
def draw_forward(data: dict) -> Figure:
    """x_t over the spiral (left) and ᾱ_t against t with the current t marked (right)."""
    fig, (ax_x, ax_a) = plt.subplots(1, 2, figsize=(8.0, 3.8),
                                     gridspec_kw={"width_ratios": [1, 1.15]})
    t, T, abar = data["t"], data["T"], data["alphas_cumprod"]
    plotting.plot_points(data["x_t"], ax=ax_x, lim=FORWARD_LIM,
                         title=rf"$x_t$ at t = {t}  ($\bar\alpha_t$ = {fmt(abar[t])})")
    ax_a.plot(np.arange(T + 1), abar, color=COLORS["data"])
    ax_a.plot([t], [abar[t]], "o", color=COLORS["estimate"], ms=7, zorder=3)
    ax_a.axhline(abar[T], color=COLORS["curve"], ls="--", lw=1)
    ax_a.annotate(rf"$\bar\alpha_T$ = {fmt(abar[T])}", (T, abar[T]), textcoords="offset points",
                  xytext=(-6, -6), ha="right", va="top", fontsize=9, color=COLORS["theory"])
    ax_a.set_ylim(-0.03, 1.05)
    ax_a.set_xlim(0, T)
    ax_a.set_xlabel("time step $t$")
    ax_a.set_ylabel(r"$\bar\alpha_t$")
    ax_a.set_title(r"signal variance left, $\bar\alpha_t$")
    s = data["summary"]
    fig.suptitle(f"Linear schedule: β from {s['beta_1']:.2e} to {s['beta_T']:.2e}, T = {T}")
    return fig


def _sync_forward(view: LiveView, change) -> None:
    """Keep t within 0..T; a t that sat at the end follows T."""
    if change["owner"] is view.controls["num_timesteps"]:
        slider_t = view.controls["t"]
        at_end = slider_t.value == change["old"]
        slider_t.max = change["new"]
        if at_end:
            slider_t.value = change["new"]


def forward_view(beta_start: float = 8e-6, beta_end: float = 9e-5, num_timesteps: int = 40,
                 t: int | None = None, n: int = 1000, seed: int = 0) -> LiveView:
    """Live sliders for β_start, β_end (before the 1000/T rescaling), T and t.

    Classes ``ddpm-slider-beta-start``, ``-beta-end``, ``-T``, ``-t``; the readout
    shows ``ᾱ_T = …`` and ``prior KL = … nats``.  Defaults: the source post's schedule.
    """
    t = num_timesteps if t is None else t
    controls = {
        "beta_start": slider("log", "beta-start", "β_start (×1000/T)", value=beta_start,
                              base=10, min=-6, max=-2, step=0.05, readout_format=".2e"),
        "beta_end": slider("log", "beta-end", "β_end (×1000/T)", value=beta_end,
                            base=10, min=-5, max=-1, step=0.05, readout_format=".2e"),
        "num_timesteps": slider("int", "T", "steps T", value=num_timesteps, min=10, max=1000,
                                step=10),
        "t": slider("int", "t", "time step t", value=t, min=0, max=num_timesteps, step=1),
    }
    return LiveView("forward", controls, lambda **v: forward_data(**v, n=n, seed=seed),
                    forward_readout, draw_forward, sync=_sync_forward)


# ---------------------------------------------------------------- chapter 3: shortcut

def iterate_forward(x0: np.ndarray, betas: np.ndarray, t: int, rng: np.random.Generator) -> np.ndarray:
    """x_t by ``t`` single steps of eq. (2.3) (:meth:`GaussianDiffusion.q_step`),
    x_s = √(1-β_s) x_{s-1} + √β_s z_s, with the noise z_s drawn from ``rng``."""
    diffusion = _diffusion(validate_betas(betas))
    t = check_time_step(t, diffusion.num_timesteps, first=0)
    x = torch.as_tensor(np.array(x0, dtype=np.float64))
    for s in range(1, t + 1):
        x = diffusion.q_step(x, s, noise=torch.as_tensor(rng.standard_normal(tuple(x.shape))))
    return x.numpy()


def shortcut_data(t: int = 10, betas: np.ndarray | None = None, n: int = 2000, seed: int = 0) -> dict:
    """x_t two ways from the same spiral x_0: ``t`` steps of eq. (2.3), and one
    jump with the shortcut eq. (3.5).  Independent noise, so only the
    *distributions* agree.

    Also the per-coordinate means and variances of both, with the exact values
    given x_0: mean √ᾱ_t·mean(x_0), variance ᾱ_t·var(x_0) + 1 - ᾱ_t.
    Keys: ``t, T, alpha_bar_t, alphas_cumprod, x0, iterated, shortcut,
    mean_iterated, mean_shortcut, mean_exact, var_iterated, var_shortcut, var_exact``.
    """
    betas = demo_betas() if betas is None else validate_betas(betas)
    t = check_time_step(t, betas.size, first=0)
    seed = check_int(seed, "seed", 0)
    abar = _with_alpha_bar_0(betas)
    x0 = make_spiral(n, np.random.default_rng(seed)).astype(np.float64)
    iterated = iterate_forward(x0, betas, t, np.random.default_rng([seed, 1]))
    eps = np.random.default_rng([seed, 2]).standard_normal(x0.shape)
    diffusion = _diffusion(betas)
    shortcut = _shortcut(diffusion, x0, t, eps)                           # eq. (3.5)
    # q(x_t | x_0) = N(√ᾱ_t x_0, 1 - ᾱ_t), eq. (3.4), averaged over the x_0 of the data
    mean, var = ((torch.as_tensor(x0), torch.zeros(x0.shape)) if t == 0 else
                 diffusion.q_mean_variance(torch.as_tensor(x0), t))
    return {"t": t, "T": int(betas.size), "alpha_bar_t": float(abar[t]), "alphas_cumprod": abar,
            "x0": x0, "iterated": iterated, "shortcut": shortcut,
            "mean_iterated": iterated.mean(0), "mean_shortcut": shortcut.mean(0),
            "mean_exact": mean.numpy().mean(0),
            "var_iterated": iterated.var(0), "var_shortcut": shortcut.var(0),
            "var_exact": mean.numpy().var(0) + var.numpy()[0]}


def shortcut_readout(data: dict) -> list[str]:
    def pair(v):
        return "(" + ", ".join(fmt(x) for x in v) + ")"
    return [f"t = {data['t']} · ᾱ_t = {fmt(data['alpha_bar_t'])}",
            f"mean: iterated {pair(data['mean_iterated'])} · shortcut {pair(data['mean_shortcut'])}"
            f" · exact {pair(data['mean_exact'])}",
            f"variance: iterated {pair(data['var_iterated'])} · shortcut {pair(data['var_shortcut'])}"
            f" · exact {pair(data['var_exact'])}"]


@styled
def draw_shortcut(data: dict) -> Figure:
    """The iterated x_t (left) beside the shortcut x_t (right)."""
    fig, (ax_l, ax_r) = plt.subplots(1, 2, figsize=(7.2, 3.9), sharex=True, sharey=True)
    t = data["t"]
    plotting.plot_points(data["iterated"], ax=ax_l, lim=FORWARD_LIM,
                         title=f"{t} steps of eq. (2.3)")
    plotting.plot_points(data["shortcut"], ax=ax_r, lim=FORWARD_LIM, color=COLORS["estimate"],
                         title="one jump with eq. (3.5)")
    ax_r.set_ylabel("")
    fig.suptitle(rf"Iterated vs shortcut at t = {t} ($\bar\alpha_t$ = {fmt(data['alpha_bar_t'])})")
    return fig


def shortcut_view(t: int = 10, betas: np.ndarray | None = None, n: int = 2000, seed: int = 0) -> LiveView:
    """A live slider over t (class ``ddpm-slider-t``) comparing iterated and shortcut x_t."""
    T = int((demo_betas() if betas is None else validate_betas(betas)).size)
    controls = {"t": slider("int", "t", "time step t", value=t, min=0, max=T, step=1)}
    return LiveView("shortcut", controls,
                    lambda **v: shortcut_data(**v, betas=betas, n=n, seed=seed),
                    shortcut_readout, draw_shortcut)


# --------------------------------------------------------------- chapter 4: posterior

POSTERIOR_XLIM = (-5.0, 5.0)


def posterior_data(t: int = 10, x0: float = 0.5, xt: float = -0.5,
                   betas: np.ndarray | None = None, num: int = 2001) -> dict:
    """The posterior q(x_{t-1} | x_t, x_0) for one coordinate, two ways.

    Closed form, eq. (4.5)–(4.6): mean μ̃_t and variance β̃_t.  Bayes' rule on a
    grid of x_{t-1}, eq. (4.1): q(x_t | x_{t-1}) q(x_{t-1} | x_0) / q(x_t | x_0),
    with the densities of eq. (2.3) and (3.4).  t runs over 2..T (at t = 1,
    β̃_1 = 0: the posterior is the point x_0).

    Keys: ``t, T, x0, xt, beta_t, alpha_bar_t, alpha_bar_prev, posterior_mean,
    posterior_variance, grid, prior`` (q(x_{t-1}|x_0)), ``likelihood``
    (q(x_t|x_{t-1}) as a function of x_{t-1}), ``evidence`` (q(x_t|x_0)),
    ``bayes, closed_form``.
    """
    betas = demo_betas() if betas is None else validate_betas(betas)
    T = int(betas.size)
    if T < 2:
        raise ValueError(f"the posterior view needs T >= 2, got T = {T}")
    t = check_time_step(t, T, first=2)
    for name, value in (("x0", x0), ("xt", xt)):
        if not np.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
    diffusion = _diffusion(betas)
    x0_, xt_ = (torch.tensor([[float(v)]], dtype=torch.float64) for v in (x0, xt))
    mean, var, _ = (float(v) for v in diffusion.q_posterior_mean_variance(x0_, xt_, t))  # (4.5)-(4.6)
    prior_mean, prior_var = (float(v) for v in diffusion.q_mean_variance(x0_, t - 1))
    evidence_mean, evidence_var = (float(v) for v in diffusion.q_mean_variance(x0_, t))
    beta_t, abar = betas[t - 1], _with_alpha_bar_0(betas)
    grid = np.linspace(*POSTERIOR_XLIM, num)
    prior = normal_pdf(grid, prior_mean, math.sqrt(prior_var))                     # q(x_{t-1}|x_0)
    likelihood = normal_pdf(xt, math.sqrt(1.0 - beta_t) * grid, math.sqrt(beta_t))  # q(x_t|x_{t-1})
    evidence = float(normal_pdf(xt, evidence_mean, math.sqrt(evidence_var)))       # q(x_t|x_0)
    return {"t": t, "T": T, "x0": float(x0), "xt": float(xt), "beta_t": float(beta_t),
            "alpha_bar_t": float(abar[t]), "alpha_bar_prev": float(abar[t - 1]),
            "posterior_mean": float(mean), "posterior_variance": float(var), "grid": grid,
            "prior": prior, "likelihood": likelihood, "evidence": evidence,
            "bayes": likelihood * prior / evidence,                                 # eq. (4.1)
            "closed_form": normal_pdf(grid, mean, math.sqrt(var))}


def posterior_readout(data: dict) -> list[str]:
    gap = np.max(np.abs(data["bayes"] - data["closed_form"]))
    return [f"t = {data['t']} · x_0 = {fmt(data['x0'])} · x_t = {fmt(data['xt'])} · "
            f"ᾱ_t = {fmt(data['alpha_bar_t'])}",
            f"μ̃_t = {fmt(data['posterior_mean'])} · β̃_t = {fmt(data['posterior_variance'])} · "
            f"√β̃_t = {fmt(math.sqrt(data['posterior_variance']))} · "
            f"largest gap Bayes vs closed form = {gap:.1e}"]


@styled
def draw_posterior(data: dict, ax=None) -> Figure:
    """Prior, likelihood, posterior (closed form) and Bayes on a grid, against x_{t-1}."""
    fig, ax = new_axes(ax, (6.6, 3.6))
    grid, t = data["grid"], data["t"]
    # q(x_t | x_{t-1}) integrates to 1/√α_t over x_{t-1}; rescale it to a density.
    likelihood = data["likelihood"] * math.sqrt(1.0 - data["beta_t"])
    ax.plot(grid, data["prior"], color=COLORS["curve"], ls="--", lw=1.4,
            label=r"$q(x_{t-1}\mid x_0)$")
    ax.plot(grid, likelihood, color=COLORS["accent"], ls=":", lw=1.8,
            label=r"$q(x_t\mid x_{t-1})$, rescaled")
    ax.plot(grid, data["closed_form"], color=COLORS["data"], lw=2.0,
            label=r"closed form $\mathcal{N}(\tilde\mu_t, \tilde\beta_t)$")
    step = max(1, grid.size // 60)
    ax.plot(grid[::step], data["bayes"][::step], "o", ms=3, color=COLORS["estimate"],
            label="Bayes' rule on a grid")
    ax.axvline(data["posterior_mean"], color=COLORS["data"], lw=0.8)
    ax.set_xlim(*POSTERIOR_XLIM)
    ax.set_xlabel("$x_{t-1}$")
    ax.set_ylabel("density")
    ax.set_title(rf"t = {t}: $\tilde\mu_t$ = {data['posterior_mean']:.3g}, "
                 rf"$\sqrt{{\tilde\beta_t}}$ = {math.sqrt(data['posterior_variance']):.3g}", fontsize=10)
    ax.legend(loc="upper left", fontsize=7.5)
    return fig


def posterior_view(t: int = 10, x0: float = 0.5, xt: float = -0.5,
                   betas: np.ndarray | None = None) -> LiveView:
    """Live sliders for t, x_0 and x_t (classes ``ddpm-slider-t``, ``-x0``, ``-xt``)."""
    T = int((demo_betas() if betas is None else validate_betas(betas)).size)
    controls = {
        "t": slider("int", "t", "time step t", value=t, min=2, max=T, step=1),
        "x0": slider("float", "x0", "data x₀", value=x0, min=-1.0, max=1.0, step=0.05),
        "xt": slider("float", "xt", "noised x_t", value=xt, min=-3.0, max=3.0, step=0.05),
    }
    return LiveView("posterior", controls, lambda **v: posterior_data(**v, betas=betas),
                    posterior_readout, draw_posterior)


# ----------------------------------------------------------- chapter 7: reverse process

def reverse_data(t: int, xs, x_starts) -> dict:
    """One step of a recorded reverse process, measured against the spiral (chapter 7).

    ``xs`` and ``x_starts`` are the ``(T + 1, n, 2)`` outputs of
    ``GaussianDiffusion.p_sample_loop_all`` (index t holds x_t and x̂_0 made
    from x_t).  Returns x_t, x̂_0, the closest spiral point of every x_t
    (eq. (7.1)–(7.3)), their distances, the mean distance and the coverage KS.

    Keys: ``t, T, x_t, x0_hat, closest, distance, mean_distance, coverage_ks``.
    """
    xs, x_starts = check_points(xs, "xs", ndim=3), check_points(x_starts, "x_starts", ndim=3)
    if xs.shape != x_starts.shape:
        raise ValueError(f"xs and x_starts must have the same shape, got {xs.shape} and {x_starts.shape}")
    T = xs.shape[0] - 1
    t = check_time_step(t, T, first=0)
    t_star, closest, distance = closest_points(xs[t])
    return {"t": t, "T": T, "x_t": xs[t], "x0_hat": x_starts[t], "closest": closest,
            "distance": distance, "mean_distance": float(distance.mean()),
            "coverage_ks": ks_statistic_uniform(t_star, T_MIN, T_MAX)}


def reverse_readout(data: dict) -> list[str]:
    return [f"t = {data['t']} of T = {data['T']} · mean distance = {fmt(data['mean_distance'])} · "
            f"coverage KS = {fmt(data['coverage_ks'])}"]


@styled
def draw_reverse(data: dict, lim: float = 2.0) -> Figure:
    """x_t with a line to its closest spiral point (left) beside x̂_0 (right)."""
    fig, (ax_l, ax_r) = plt.subplots(1, 2, figsize=(7.2, 3.9), sharex=True, sharey=True)
    t = data["t"]
    plotting.plot_segments(data["x_t"], data["closest"], ax=ax_l, lim=lim,
                           title=f"$x_t$ and its closest points, t = {t}")
    plotting.plot_points(data["x0_hat"], ax=ax_r, lim=lim, color=COLORS["estimate"],
                         title=r"$\hat x_0$ predicted from $x_t$")
    ax_r.set_ylabel("")
    fig.suptitle(f"Reverse process at t = {t}: mean distance {fmt(data['mean_distance'])}")
    return fig


def reverse_view(xs, x_starts, t: int | None = None, lim: float = 2.0) -> LiveView:
    """A live slider over t (class ``ddpm-slider-t``) that scrubs a recorded
    reverse process, with the lines to the closest points (chapter 7)."""
    T = check_points(xs, "xs", ndim=3).shape[0] - 1
    t = T if t is None else t
    controls = {"t": slider("int", "t", "time step t", value=t, min=0, max=T, step=1)}
    return LiveView("reverse", controls, lambda **v: reverse_data(**v, xs=xs, x_starts=x_starts),
                    reverse_readout, lambda data: draw_reverse(data, lim=lim))
