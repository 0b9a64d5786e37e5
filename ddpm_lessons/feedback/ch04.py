"""Checks of the exercises of chapter 4: the posterior."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from ..diffusion import GaussianDiffusion
from ..normal import normal_pdf
from .common import T_RANGE_HINT, TENSOR_HINT, cases_x_t_betas, diffusion, float32_tensor, random_schedule, times
from .engine import Case, Exercise, Mistake, run_check, variant


# ----------------------------------------------------------------------------- 4.1 posterior mean and variance
def _cases_posterior(rng):
    betas = random_schedule(rng)
    cases = []
    for t in times(rng, len(betas)):
        n = int(rng.integers(3, 7))
        cases.append(Case((float32_tensor(rng, (n, 2)), float32_tensor(rng, (n, 2)), t, betas),
                          f"t = {t}, T = {len(betas)}"))
    return cases


def _ref_posterior_mean_variance(x0, x_t, t, betas):
    mean, _, _ = diffusion(betas).q_posterior_mean_variance(x0, x_t, t)
    return mean, diffusion(betas, torch.float64).posterior_variance[t - 1].item()


POSTERIOR_MEAN_VARIANCE = Exercise(
    name="posterior mean and variance",
    make_cases=_cases_posterior,
    reference=_ref_posterior_mean_variance,
    own_work=(GaussianDiffusion.q_posterior_mean_variance,),
    arg_names=("x0", "x_t", "t", "betas"),
    parts=("the mean", "the variance"),
    t_arg=2, betas_arg=3,
    linear=((0, "x0"), (1, "x_t")),
    mistakes=[
        variant("the mean is right, but the variance is β̃_t = (1 - ᾱ_{t-1}) / (1 - ᾱ_t) · β_t, eq. (4.6); "
                "β_t is the variance of the forward step.",
                lambda x0, xt, t, b: (_ref_posterior_mean_variance(x0, xt, t, b)[0], float(b[t - 1]))),
    ],
    type_hint="Return (mean, variance): the mean a tensor like x_t, the variance one number.",
    error_hints=[T_RANGE_HINT],
)


def check_posterior_mean_variance(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(x0, x_t, t, betas) -> (μ̃_t, β̃_t)``, eq. (4.5)–(4.6)."""
    return run_check(POSTERIOR_MEAN_VARIANCE, fn, seed)


# ----------------------------------------------------------------------------- 4.2 x̂_0 from the noise
def _ref_predict_x0(x_t, t, betas, eps):
    return diffusion(betas).predict_start_from_noise(x_t, t, eps)


PREDICT_X0 = Exercise(
    name="x0 from the noise",
    make_cases=cases_x_t_betas,
    reference=_ref_predict_x0,
    own_work=(GaussianDiffusion.predict_start_from_noise,),
    arg_names=("x_t", "t", "betas", "eps"),
    t_arg=1, betas_arg=2,
    linear=((0, "x_t"), (3, "eps")),
    mistakes=[
        variant("you used the one-step coefficients (β_t, α_t); x_t was made from x_0 in one jump with ᾱ_t, "
                "eq. (3.5).", lambda xt, t, b, e: _ref_predict_x0(xt, 1, b[t - 1:], e)),
    ],
    type_hint=TENSOR_HINT,
    error_hints=[T_RANGE_HINT],
)


def check_predict_x0(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(x_t, t, betas, eps)``: x̂_0 = (x_t - √(1-ᾱ_t) ε) / √ᾱ_t, eq. (4.8)."""
    return run_check(PREDICT_X0, fn, seed)


# ----------------------------------------------------------------------------- 4.3 μ̃ from the noise
def _ref_posterior_mean_from_noise(x_t, t, betas, eps):
    return diffusion(betas).posterior_mean_from_noise(x_t, t, eps)


POSTERIOR_MEAN_FROM_NOISE = Exercise(
    name="posterior mean from the noise",
    make_cases=cases_x_t_betas,
    reference=_ref_posterior_mean_from_noise,
    own_work=(GaussianDiffusion.posterior_mean_from_noise,),
    arg_names=("x_t", "t", "betas", "eps"),
    t_arg=1, betas_arg=2,
    linear=((0, "x_t"), (3, "eps")),
    mistakes=[
        variant("you returned x̂_0 of eq. (4.8); the mean μ̃_t of eq. (4.9) is a small step from x_t, not a jump "
                "to x_0.", _ref_predict_x0),
    ],
    type_hint=TENSOR_HINT,
    error_hints=[T_RANGE_HINT],
)


def check_posterior_mean_from_noise(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(x_t, t, betas, eps)``: μ̃_t = (x_t - β_t/√(1-ᾱ_t) ε) / √α_t, eq. (4.9)."""
    return run_check(POSTERIOR_MEAN_FROM_NOISE, fn, seed)


# ----------------------------------------------------------------------------- 4.4 Bayes on a grid
def _cases_grid(rng):
    betas = random_schedule(rng, 6, 30)
    T = len(betas)
    cases = []
    for t in [2, T] + [int(s) for s in rng.integers(3, T, size=2)]:
        # |x_t| <= 2.5 keeps the posterior (sd < 0.45) 7 sd inside the grid: a right float64 answer is
        # then exact to ~1e-12 (no mass lost off the ends), so the check can be strict.
        x0, x_t = float(rng.uniform(-1, 1)), float(np.clip(rng.normal(), -2.5, 2.5))
        grid = np.linspace(-6.0, 6.0, int(rng.integers(4501, 9001)))
        cases.append(Case((x0, x_t, t, betas, grid), f"t = {t}, T = {T}, x0 = {x0:.3g}, x_t = {x_t:.3g}"))
    return cases


def _ref_posterior_on_grid(x0, x_t, t, betas, grid):
    # The closed form, eq. (4.5)-(4.6), from the package; Bayes' rule on the grid must agree with it.
    d = diffusion(betas, torch.float64)
    mean, variance, _ = d.q_posterior_mean_variance(torch.tensor([[x0]], dtype=torch.float64),
                                                    torch.tensor([[x_t]], dtype=torch.float64), t)
    return normal_pdf(grid, float(mean), float(variance.sqrt()))


def _prior_only(x0, x_t, t, b, grid):
    mean, variance = diffusion(b, torch.float64).q_mean_variance(torch.tensor([[x0]], dtype=torch.float64), t - 1)
    return normal_pdf(grid, float(mean), float(variance.sqrt()))


def _factors(outputs: list, expected: list) -> list[float] | None:
    """The constants c with output = c · right density, one per case, or None when an output is not of that form."""
    factors = []
    for out, want in zip(outputs, expected):
        got = np.asarray(out, dtype=np.float64)
        c = float(np.dot(got, want) / np.dot(want, want))
        if not np.allclose(got, c * want, rtol=1e-6, atol=1e-9 * want.max()):
            return None
        factors.append(c)
    return factors


def _rescaled(outputs: list, cases: list, expected: list) -> bool:
    """Whether each output is the right density times a constant close to, but not, 1 (a normalisation slip)."""
    factors = _factors(outputs, expected)
    return factors is not None and all(abs(c - 1) < 0.05 for c in factors) and any(abs(c - 1) > 1e-6 for c in factors)


def _sums_to_one(outputs: list, cases: list, expected: list) -> bool:
    """Whether each output is the right density times the grid spacing Δx (normalised by p.sum() alone)."""
    factors = _factors(outputs, expected)
    spacing = [float(c.args[4][1] - c.args[4][0]) for c in cases]
    return factors is not None and all(abs(c / dx - 1) < 0.02 for c, dx in zip(factors, spacing))


def _roughly(outputs: list, cases: list, expected: list) -> bool:
    """Whether each output is within 0.1 % of the right density (float32 arithmetic, rounded constants)."""
    return all(np.allclose(np.asarray(out, dtype=np.float64), want, rtol=1e-3, atol=1e-4)
               for out, want in zip(outputs, expected))


POSTERIOR_ON_GRID = Exercise(
    name="the posterior by Bayes' rule on a grid",
    make_cases=_cases_grid,
    reference=_ref_posterior_on_grid,
    arg_names=("x0", "x_t", "t", "betas", "grid"),
    t_arg=2, betas_arg=3,
    mistakes=[
        variant("that is the prior q(x_{t-1} | x_0) alone: multiply it by the likelihood q(x_t | x_{t-1}) of "
                "eq. (2.3), seen as a function of x_{t-1}, then normalise.", _prior_only),
        Mistake("you normalised by p.sum() alone: the values then sum to 1 (a probability per grid point), they are "
                "not a density. A density integrates to 1: divide by p.sum() times the grid spacing Δx.",
                predicate=_sums_to_one),
        Mistake("the shape is right, but your density is a constant (close to 1) times the right one: it does not "
                "integrate to 1. Check the grid spacing in the normalisation: divide by p.sum() · Δx with "
                "Δx = grid[1] - grid[0] (len(grid) - 1 intervals span the grid, not len(grid)), or by "
                "np.trapezoid(p, grid).", predicate=_rescaled),
        Mistake("your values are close to the right ones (within 0.1 %) but not as exact as float64 allows (the "
                "check and the next cell expect 1e-6): compute in float64 on the grid as given (no float32 "
                "tensors or arrays), with the exact constants.",
                predicate=_roughly),
    ],
    type_hint="Return a numpy array of densities, one per grid point.",
    rtol=1e-6, atol=1e-9,   # a right float64 answer reaches ~1e-12; the notebook then expects 1e-6
)


def check_posterior_on_grid(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(x0, x_t, t, betas, grid)``: q(x_{t-1} | x_t, x_0) on a grid by Bayes' rule, normalised."""
    return run_check(POSTERIOR_ON_GRID, fn, seed)
