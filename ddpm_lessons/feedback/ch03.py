"""Checks of the exercises of chapter 3: the shortcut."""
from __future__ import annotations

import math
from typing import Callable

import torch

from ..diffusion import GaussianDiffusion
from .common import T_RANGE_HINT, TENSOR_HINT, cases_x_t_betas, diffusion, float32_tensor, random_schedule, times
from .engine import Case, Exercise, run_check, variant


def _cases_t_betas(rng):
    betas = random_schedule(rng)
    return [Case((t, betas), f"t = {t}, T = {len(betas)}") for t in times(rng, len(betas))]


# ----------------------------------------------------------------------------- 3.1 the coefficients
def _ref_shortcut_coefficients(t, betas):
    d = diffusion(betas, torch.float64)
    return d.sqrt_alphas_cumprod[t - 1].item(), d.sqrt_one_minus_alphas_cumprod[t - 1].item()


SHORTCUT_COEFFICIENTS = Exercise(
    name="shortcut coefficients",
    make_cases=_cases_t_betas,
    reference=_ref_shortcut_coefficients,
    arg_names=("t", "betas"),
    parts=("√ᾱ_t", "√(1 - ᾱ_t)"),
    t_arg=0, betas_arg=1,
    mistakes=[
        variant("these are the one-step coefficients √(1 - β_t), √(β_t) of eq. (2.3). The shortcut uses the "
                "cumulative product ᾱ_t = (1 - β_1)…(1 - β_t).",
                lambda t, b: _ref_shortcut_coefficients(1, b[t - 1:])),
    ],
    type_hint="Return a tuple of two numbers (signal coefficient, noise coefficient).",
    error_hints=[T_RANGE_HINT],
)


def check_shortcut_coefficients(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(t, betas) -> (sqrt(ᾱ_t), sqrt(1 - ᾱ_t))``, the coefficients of eq. (3.5)."""
    return run_check(SHORTCUT_COEFFICIENTS, fn, seed)


# ----------------------------------------------------------------------------- 3.2 q_sample
def _ref_q_sample(x0, t, betas, noise):
    return diffusion(betas).q_sample(x0, t, noise)


Q_SAMPLE = Exercise(
    name="q_sample (the shortcut)",
    make_cases=cases_x_t_betas,
    reference=_ref_q_sample,
    own_work=(GaussianDiffusion.q_sample,),
    arg_names=("x0", "t", "betas", "noise"),
    t_arg=1, betas_arg=2,
    linear=((0, "x0"), (3, "noise")),
    mistakes=[
        variant("you used the one-step coefficients √(1 - β_t), √(β_t). The shortcut uses "
                "ᾱ_t = (1 - β_1)…(1 - β_t), eq. (3.5).",
                lambda x, t, b, n: diffusion(b).q_step(x, t, n)),
    ],
    type_hint=TENSOR_HINT,
    error_hints=[T_RANGE_HINT],
)


def check_q_sample(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(x0, t, betas, noise)``: x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε, eq. (3.5)."""
    return run_check(Q_SAMPLE, fn, seed)


# ----------------------------------------------------------------------------- 3.3 the long way round
def _cases_iterate(rng):
    betas = random_schedule(rng, 5, 15)
    T = len(betas)
    cases = []
    for t in times(rng, T):
        n = int(rng.integers(3, 7))
        cases.append(Case((float32_tensor(rng, (n, 2)), t, betas, float32_tensor(rng, (T, n, 2))),
                          f"t = {t}, T = {T}"))
    return cases


def _iterate(x0, steps, betas, noise_of):
    d, x = diffusion(betas), x0
    for s in steps:
        x = d.q_step(x, s, noise_of(s))
    return x


def _ref_iterate_forward(x0, t, betas, noises):
    return _iterate(x0, range(1, t + 1), betas, lambda s: noises[s - 1])


ITERATE_FORWARD = Exercise(
    name="iterating the forward process",
    make_cases=_cases_iterate,
    reference=_ref_iterate_forward,
    arg_names=("x0", "t", "betas", "noises"),
    t_arg=1, betas_arg=2,
    mistakes=[
        variant("you took t - 1 steps; x_t needs t steps, s = 1, 2, …, t (range(1, t + 1)).",
                lambda x0, t, b, ns: _iterate(x0, range(1, t), b, lambda s: ns[s - 1])),
        variant("every step used the same noise. Step s needs its own fresh noise, noises[s - 1].",
                lambda x0, t, b, ns: _iterate(x0, range(1, t + 1), b, lambda s: ns[0])),
        variant("the noise index is off by one: step s (s = 1 … t) uses noises[s - 1].",
                lambda x0, t, b, ns: None if t == len(b) else _iterate(x0, range(1, t + 1), b, lambda s: ns[s])),
        variant("each step must start from the result of the previous step, not from x_0 again: update x "
                "inside the loop.", lambda x0, t, b, ns: _iterate(x0, [t], b, lambda s: ns[t - 1])),
        variant("that is the shortcut of eq. (3.5); this exercise asks for the step-by-step loop of eq. (2.3), "
                "with noises[s - 1] at step s.", lambda x0, t, b, ns: _ref_q_sample(x0, t, b, ns[0])),
        variant("that is the shortcut of eq. (3.5); this exercise asks for the step-by-step loop of eq. (2.3), "
                "with noises[s - 1] at step s.", lambda x0, t, b, ns: _ref_q_sample(x0, t, b, ns[t - 1])),
        variant("each step adds √β_s ε, not β_s ε: β_s is the variance of the noise a step adds, eq. (2.3).",
                lambda x0, t, b, ns: _iterate(x0, range(1, t + 1), b, lambda s: math.sqrt(b[s - 1]) * ns[s - 1])),
        variant("the steps run backwards; the forward process applies s = 1, 2, …, t in that order.",
                lambda x0, t, b, ns: _iterate(x0, range(t, 0, -1), b, lambda s: ns[s - 1])),
    ],
    type_hint=TENSOR_HINT,
    error_hints=[("out of bounds", "steps are s = 1 … t: use betas[s - 1] and noises[s - 1].")],
)


def check_iterate_forward(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(x0, t, betas, noises)``: t one-step updates of eq. (2.3), noises[s-1] at step s."""
    return run_check(ITERATE_FORWARD, fn, seed)


# ----------------------------------------------------------------------------- 3.4 standardising (the test)
def _cases_standardise(rng):
    return [Case((c.args[3], c.args[0], c.args[1], c.args[2]), c.label) for c in cases_x_t_betas(rng)]


def _ref_standardise(x_t, x0, t, betas):
    # The noise that takes x0 to x_t: q_sample is a x0 + b ε, so ε = (x_t - q_sample(x0, 0)) / q_sample(0, 1).
    d = diffusion(betas, torch.float64)
    x_t64, x0_64 = x_t.to(torch.float64), x0.to(torch.float64)
    signal = d.q_sample(x0_64, t, torch.zeros_like(x0_64))
    scale = d.q_sample(torch.zeros_like(x0_64), t, torch.ones_like(x0_64))
    return ((x_t64 - signal) / scale).to(x_t.dtype)


STANDARDISE = Exercise(
    name="standardising x_t",
    make_cases=_cases_standardise,
    reference=_ref_standardise,
    arg_names=("x_t", "x0", "t", "betas"),
    t_arg=2, betas_arg=3,
    linear=((0, "x_t"), (1, "x0")),
    type_hint=TENSOR_HINT,
    error_hints=[T_RANGE_HINT],
)


def check_standardise(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(x_t, x0, t, betas)``: (x_t - √ᾱ_t x_0) / √(1 - ᾱ_t), which is N(0, I) by eq. (3.4)."""
    return run_check(STANDARDISE, fn, seed)
