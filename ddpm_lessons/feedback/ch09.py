"""Checks of the exercises of chapter 9: fewer sampling steps."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import Tensor

from ..diffusion import GaussianDiffusion
from ..sampling import ddim_encode, ddim_sigma, ddim_step, grid_alphas_cumprod, sampling_timesteps
from .ch06 import _no_history
from .common import T_RANGE_HINT, TENSOR_HINT, diffusion, float32_tensor, random_schedule, tiny_model
from .engine import Case, Exercise, run_check, variant

GRID_HINT = "Return (alpha_bar, alpha_bar_prev): two 1-D tensors with one entry per step of the grid."
ALPHA_ONE_HINT = ("division by zero", "at ᾱ = 1 (x_0 itself, the encoder's first step) the factor (1 - ᾱ_prev)/(1 - ᾱ) "
                  "of σ divides by zero. With η = 0, σ is 0 whatever that factor is: compute σ only when η > 0.")


def _alphas_cumprod(betas: np.ndarray) -> Tensor:
    return diffusion(betas, torch.float64).alphas_cumprod


# ----------------------------------------------------------------------------- 9.1 ᾱ along the grid
def _cases_step_alphas(rng):
    betas = random_schedule(rng, 8, 30)
    T = len(betas)
    cases = []
    for n, spacing in ((1, "uniform"), (2, "uniform"), (int(rng.integers(3, T)), "uniform"),
                       (int(rng.integers(3, T)), "quadratic"), (T, "uniform")):
        grid = [int(t) for t in sampling_timesteps(T, n, spacing)]
        cases.append(Case((_alphas_cumprod(betas), grid), f"T = {T}, grid {grid[:4]}{' …' if n > 4 else ''}"))
    return cases


def _ref_step_alphas(alphas_cumprod, timesteps):
    return grid_alphas_cumprod(alphas_cumprod, np.asarray(timesteps))


def _last_prev(value: Callable):
    def wrong(a, grid):
        abar, prev = _ref_step_alphas(a, grid)
        prev = prev.clone()
        prev[-1] = value(a, grid)
        return abar, prev
    return wrong


STEP_ALPHAS = Exercise(
    name="ᾱ along the grid",
    make_cases=_cases_step_alphas,
    reference=_ref_step_alphas,
    own_work=(grid_alphas_cumprod,),
    arg_names=("alphas_cumprod", "timesteps"),
    parts=("alpha_bar", "alpha_bar_prev"),
    mistakes=[
        variant("the last step goes from τ_1 to x_0, where ᾱ_0 = 1 (the empty product), eq. (9.6): its "
                "alpha_bar_prev is 1, not ᾱ of the last time of the grid.",
                _last_prev(lambda a, grid: a[grid[-1] - 1])),
        variant("the last step goes from τ_1 to x_0, where ᾱ_0 = 1 (the empty product), eq. (9.6): its "
                "alpha_bar_prev is 1, not alphas_cumprod[0] = ᾱ_1.",
                _last_prev(lambda a, grid: a[0])),
        variant("alpha_bar_prev is ᾱ at the next time of the grid, τ_{k-1} (the next entry), not at τ_k - 1: "
                "on a grid the step skips the times in between.",
                lambda a, grid: (a[torch.tensor(grid) - 1],
                                 torch.cat([a, a.new_ones(1)])[torch.tensor(grid) - 2])),
        variant("keep the order of the grid, from T down: entry k is the k-th step the sampler takes.",
                lambda a, grid: tuple(v.flip(0) for v in _ref_step_alphas(a, grid))),
        variant("the last step goes from τ_1 to x_0, where ᾱ_0 = 1 (the empty product: no noise at all), "
                "eq. (9.6); not 0, which would be pure noise.",
                _last_prev(lambda a, grid: 0.0)),
        variant("the two results are swapped: return (alpha_bar, alpha_bar_prev), ᾱ at τ_k first.",
                lambda a, grid: _ref_step_alphas(a, grid)[::-1]),
    ],
    type_hint=GRID_HINT,
    error_hints=[T_RANGE_HINT],
    any_float_dtype=True,
)


def check_step_alphas(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(alphas_cumprod, timesteps) -> (ᾱ_{τ_k}, ᾱ_{τ_{k-1}})`` for a grid from T down, eq. (9.6)."""
    return run_check(STEP_ALPHAS, fn, seed)


# ----------------------------------------------------------------------------- 9.2 one DDIM step
def _x0_hat(x_t: Tensor, eps: Tensor, alpha_bar: float) -> Tensor:
    """x̂_0 of eq. (4.8), by the package: a one-step process with ᾱ_1 = alpha_bar (at ᾱ = 1, x_t itself)."""
    if alpha_bar == 1.0:
        return x_t.double()
    one_step = GaussianDiffusion(np.array([1.0 - alpha_bar]), dtype=torch.float64)
    return one_step.predict_start_from_noise(x_t.double(), 1, eps.double())


def _cases_ddim_update(rng):
    abar = _alphas_cumprod(random_schedule(rng, 10, 30)).numpy()
    T = len(abar)
    cases = []
    for eta in (0.0, 1.0, float(rng.uniform(0.2, 0.8)), 1.0, 0.5):
        t = int(rng.integers(2, T + 1))
        t_prev = 0 if len(cases) == 3 else int(rng.integers(1, t))       # one final step, to ᾱ_0 = 1
        a, a_prev = float(abar[t - 1]), (1.0 if t_prev == 0 else float(abar[t_prev - 1]))
        n = int(rng.integers(3, 7))
        cases.append(Case((float32_tensor(rng, (n, 2)), float32_tensor(rng, (n, 2)), a, a_prev, eta,
                           float32_tensor(rng, (n, 2))), f"ᾱ = {a:.3f}, ᾱ_prev = {a_prev:.3f}, η = {eta:.2f}"))
    a_next, n = float(abar[int(rng.integers(1, T + 1)) - 1]), int(rng.integers(3, 7))   # the encoder's first step
    cases.append(Case((float32_tensor(rng, (n, 2)), float32_tensor(rng, (n, 2)), 1.0, a_next, 0.0,
                       float32_tensor(rng, (n, 2))), f"ᾱ = 1 (x_0 itself), ᾱ_prev = {a_next:.3f}, η = 0"))
    return cases


def _ref_ddim_update(x_t, eps, alpha_bar, alpha_bar_prev, eta, z, x0=None, sigma=None, direction=None,
                     noise_sign=1.0):
    x_start = _x0_hat(x_t, eps, alpha_bar) if x0 is None else x0(x_t, eps, alpha_bar)
    if eta == 0:
        s = 0.0                                       # σ(0) = 0, also at ᾱ = 1 where eq. (9.4) divides by 0
    else:
        s = ddim_sigma(alpha_bar, alpha_bar_prev, eta) if sigma is None else sigma(alpha_bar, alpha_bar_prev, eta)
    if direction is None:
        out = ddim_step(x_start, eps.double(), alpha_bar_prev, s, noise_sign * z.double())
    else:
        out = alpha_bar_prev**0.5 * x_start + direction(alpha_bar_prev, s) * eps.double() + s * z.double()
    return out.to(x_t.dtype)


def _finite_at_alpha_one(result, args, case) -> str | None:
    """An answer that forms σ's factor (1 - ᾱ_prev)/(1 - ᾱ) with tensors at η = 0 gets NaN or inf at ᾱ = 1."""
    if args[2] == 1.0 and isinstance(result, Tensor) and not bool(torch.isfinite(result).all()):
        return f"your result contains NaN or infinite values (for {case.label}): {ALPHA_ONE_HINT[1]}"
    return None


def _variance_instead(a, a_prev, eta):
    return eta * ddim_sigma(a, a_prev, 1.0) ** 2


UPDATE_MISTAKES = [
    variant("σ is a standard deviation: η times the square root of the posterior variance "
            "(1 - ᾱ_prev)/(1 - ᾱ) · (1 - ᾱ/ᾱ_prev); you used the variance itself.",
            lambda *a: _ref_ddim_update(*a, sigma=_variance_instead)),
    variant("the direction term keeps what σ² does not take: its coefficient is √(1 - ᾱ_prev - σ²), so that "
            "the variance of x_prev stays 1 - ᾱ_prev (eq. (9.2)); you left out σ².",
            lambda *a: _ref_ddim_update(*a, direction=lambda ap, s: (1 - ap) ** 0.5)),
    variant("the direction term's coefficient is √(1 - ᾱ_prev - σ²): a square root is missing.",
            lambda *a: _ref_ddim_update(*a, direction=lambda ap, s: 1 - ap - s**2)),
    variant("η multiplies the standard deviation σ, outside the square root: σ = η √((1 - ᾱ_prev)/(1 - ᾱ) · "
            "(1 - ᾱ/ᾱ_prev)); you put η under the root.",
            lambda *a: _ref_ddim_update(*a, sigma=lambda al, ap, eta: (eta * ddim_sigma(al, ap, 1.0) ** 2) ** 0.5)),
    variant("σ scales linearly with η (η = 1: the posterior standard deviation); you used η².",
            lambda x, e, a, ap, eta, z: _ref_ddim_update(x, e, a, ap, eta**2, z)),
    variant("the posterior variance of the step is (1 - ᾱ_prev)/(1 - ᾱ) · β' with β' = 1 - ᾱ/ᾱ_prev "
            "(eq. (4.6) for the step from τ_k to τ_{k-1}); the ratio (1 - ᾱ_prev)/(1 - ᾱ) is missing.",
            lambda *a: _ref_ddim_update(*a, sigma=lambda al, ap, eta: eta * (1 - al / ap) ** 0.5)),
    variant("the ratio is upside down: the posterior variance is (1 - ᾱ_prev)/(1 - ᾱ) · (1 - ᾱ/ᾱ_prev).",
            lambda *a: _ref_ddim_update(*a, sigma=lambda al, ap, eta: eta * ((1 - al) / (1 - ap) * (1 - al / ap))
                                        ** 0.5 if ap < 1 else 0.0)),
    variant("x̂_0 = (x_t - √(1 - ᾱ) ε) / √ᾱ, eq. (4.8): a square root is missing.",
            lambda *a: _ref_ddim_update(*a, x0=lambda x, e, al: ((x - (1 - al) * e) / al ** 0.5).double())),
    variant("x̂_0 = (x_t - √(1 - ᾱ) ε) / √ᾱ, eq. (4.8): divide by √ᾱ, not ᾱ.",
            lambda *a: _ref_ddim_update(*a, x0=lambda x, e, al: ((x - (1 - al) ** 0.5 * e) / al).double())),
    variant("you clipped x̂_0 to [-1, 1]. This exercise asks for the plain step of eq. (9.3); clipping is an "
            "option of the package's sampler (`clip_denoised`), which then also recomputes ε̂ from the clipped x̂_0.",
            lambda *a: _ref_ddim_update(*a, x0=lambda x, e, al: ((x - (1 - al) ** 0.5 * e) / al ** 0.5)
                                        .clamp(-1.0, 1.0).double())),
    variant("the noise enters as + σ z.", lambda *a: _ref_ddim_update(*a, noise_sign=-1.0)),
    variant("you left out the noise σ z (only η = 0 has none).", lambda *a: _ref_ddim_update(*a, noise_sign=0.0)),
    variant("you returned the estimate x̂_0 of eq. (4.8); return x_prev of eq. (9.3).",
            lambda x, e, a, ap, eta, z: _x0_hat(x, e, a).to(x.dtype)),
]

DDIM_UPDATE = Exercise(
    name="one DDIM step",
    make_cases=_cases_ddim_update,
    reference=_ref_ddim_update,
    own_work=(ddim_step, ddim_sigma),
    arg_names=("x_t", "eps", "alpha_bar", "alpha_bar_prev", "eta", "z"),
    linear=((0, "x_t"), (1, "eps"), (5, "z")),
    validators=[_finite_at_alpha_one],
    mistakes=UPDATE_MISTAKES,
    type_hint=TENSOR_HINT,
    error_hints=[ALPHA_ONE_HINT],
)


def check_ddim_update(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(x_t, eps, alpha_bar, alpha_bar_prev, eta, z)``: one step of eq. (9.3) with σ(η) of eq. (9.4)."""
    return run_check(DDIM_UPDATE, fn, seed)


# ----------------------------------------------------------------------------- 9.3 the encoder
def _cases_encode(rng):
    betas = random_schedule(rng, 8, 24)
    T = len(betas)
    model = tiny_model(T, int(rng.integers(2**31)))
    cases = []
    for t_start, n in ((T, 1), (T, int(rng.integers(2, T))), (int(rng.integers(3, T)), 3), (T, T)):
        grid = [int(t) for t in sampling_timesteps(t_start, n)]
        x0 = float32_tensor(rng, (int(rng.integers(3, 7)), 2), scale=0.6)
        cases.append(Case((model, x0, grid, diffusion(betas).alphas_cumprod), f"T = {T}, grid {grid}"))
    return cases


def _ref_encode(model, x0, timesteps, alphas_cumprod):
    betas = 1.0 - (alphas_cumprod.double() / torch.cat([alphas_cumprod.new_ones(1), alphas_cumprod[:-1]]).double())
    return ddim_encode(GaussianDiffusion(betas.numpy(), dtype=alphas_cumprod.dtype), model, x0, len(timesteps),
                       t_start=int(timesteps[0]))


@torch.no_grad()
def _encode_with(model, x0, timesteps, alphas_cumprod, eps_time="next", x0_time="now", skip_first=False,
                 ascending=True):
    a = torch.cat([alphas_cumprod.new_ones(1), alphas_cumprod])         # a[t] = ᾱ_t, ᾱ_0 = 1
    up = list(reversed(timesteps)) if ascending else list(timesteps)
    path = up if not skip_first else up[1:]
    x, now = x0, (0 if not skip_first else up[0])
    for t in path:
        label = t if eps_time == "next" else max(now, 1)
        eps = model(x, torch.full((x.shape[0],), label, dtype=torch.long))
        a_x0 = a[now] if x0_time == "now" else a[t]
        x_start = (x - (1 - a_x0).sqrt() * eps) / a_x0.sqrt()
        x, now = a[t].sqrt() * x_start + (1 - a[t]).sqrt() * eps, t
    return x


ENCODE = Exercise(
    name="DDIM encoder",
    make_cases=_cases_encode,
    reference=_ref_encode,
    own_work=(ddim_encode,),
    arg_names=("model", "x0", "timesteps", "alphas_cumprod"),
    validators=[_no_history],
    mistakes=[
        variant("ask the network at the time you are heading to, τ_k (the decoder's step from τ_k evaluates "
                "it there too), not at the time of the current point.",
                lambda *a: _encode_with(*a, eps_time="now")),
        variant("x̂_0 is computed from the current point, at its own time τ_{k-1} (ᾱ_0 = 1 for x_0 itself), "
                "not with ᾱ of the time you are heading to.",
                lambda *a: _encode_with(*a, x0_time="next")),
        variant("the encoder starts at x_0 (time 0, ᾱ_0 = 1) and its first step goes to τ_1: you treated x_0 "
                "as if it were x_{τ_1} and skipped that step.",
                lambda *a: _encode_with(*a, skip_first=True)),
        variant("the grid is given from T down (the decoder's order); the encoder walks it from the smallest "
                "time up to T.", lambda *a: _encode_with(*a, ascending=False)),
    ],
    type_hint="Return x_T (the last point), a tensor of x0's shape.",
    error_hints=[T_RANGE_HINT, ALPHA_ONE_HINT],
    time_limit=20.0,
)


def check_encode(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(model, x0, timesteps, alphas_cumprod) -> x_T``: the DDIM encoder of eq. (9.9)."""
    return run_check(ENCODE, fn, seed)
