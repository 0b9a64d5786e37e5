"""Checks of the exercises of chapter 2: the forward process."""
from __future__ import annotations

import functools
from typing import Callable

import numpy as np

from ..diffusion import GaussianDiffusion
from ..schedules import alphas_cumprod, linear_beta_schedule
from .common import T_RANGE_HINT, TENSOR_HINT, cases_x_t_betas, diffusion, random_schedule
from .engine import Case, Exercise, run_check, variant


# ----------------------------------------------------------------------------- 2.1 one forward step
def _ref_forward_step(x_prev, t, betas, noise):
    return diffusion(betas).q_step(x_prev, t, noise)


FORWARD_STEP = Exercise(
    name="forward step",
    make_cases=cases_x_t_betas,
    reference=_ref_forward_step,
    own_work=(GaussianDiffusion.q_step,),
    arg_names=("x_prev", "t", "betas", "noise"),
    t_arg=1, betas_arg=2,
    linear=((0, "x_prev"), (3, "noise")),
    type_hint=TENSOR_HINT,
    error_hints=[T_RANGE_HINT],
)


def check_forward_step(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(x_prev, t, betas, noise)``: one step of q(x_t | x_{t-1}), eq. (2.3)."""
    return run_check(FORWARD_STEP, fn, seed)


# ----------------------------------------------------------------------------- 2.2 the linear schedule
def _cases_linear_schedule(rng):
    cases = [Case((int(T), 1e-4, 0.02), f"T = {T}, beta_start = 0.0001, beta_end = 0.02")
             for T in (40, 1000, int(rng.integers(25, 500)))]
    for _ in range(2):
        T = int(rng.integers(25, 300))
        start, end = float(rng.uniform(5e-5, 5e-4)), float(rng.uniform(5e-3, 2e-2))
        cases.append(Case((T, start, end), f"T = {T}, beta_start = {start:.3g}, beta_end = {end:.3g}"))
    return cases


# Wrong schedules, written with the package's schedule: linspace(s, e, T) = linear_beta_schedule(T, s·T/1000, e·T/1000).
def _plain(T, s, e):
    return linear_beta_schedule(T, s * T / 1000, e * T / 1000)


LINEAR_SCHEDULE = Exercise(
    name="linear schedule",
    make_cases=_cases_linear_schedule,
    reference=linear_beta_schedule,
    own_work=(linear_beta_schedule,),
    arg_names=("T", "beta_start", "beta_end"),
    mistakes=[
        variant("the 1000/T rescaling of eq. (2.6) is missing: multiply both ends by 1000 / T.", _plain),
        variant("you multiplied by T / 1000; the factor is 1000 / T (fewer steps need larger β).",
                lambda T, s, e: _plain(T, s * T / 1000, e * T / 1000)),
        variant("you rescaled by 1000 // T, the integer part of 1000 / T (floor division): write 1000 / T, so that "
                "T = 300 gives 3.33…, not 3.",
                lambda T, s, e: None if 1000 % T == 0 else _plain(T, s * (1000 // T), e * (1000 // T))),
        variant("only beta_end was rescaled; multiply both ends by 1000 / T.",
                lambda T, s, e: _plain(T, s, e * 1000 / T)),
        variant("only beta_start was rescaled; multiply both ends by 1000 / T.",
                lambda T, s, e: _plain(T, s * 1000 / T, e)),
        variant("you returned T + 1 values; there is one β_t per step t = 1 … T.",
                lambda T, s, e: _plain(T + 1, s * 1000 / T, e * 1000 / T)),
        variant("the schedule runs backwards: β_t grows from beta_start to beta_end.",
                lambda T, s, e: linear_beta_schedule(T, s, e)[::-1]),
    ],
    type_hint="Return a 1-D numpy array (np.linspace makes one).",
)


def check_linear_schedule(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(T, beta_start, beta_end)``: the rescaled linear schedule, eq. (2.5)–(2.6)."""
    return run_check(LINEAR_SCHEDULE, fn, seed)


# ----------------------------------------------------------------------------- 2.3 ᾱ
def _cases_betas_only(rng):
    return [Case((b,), f"T = {len(b)}") for b in (random_schedule(rng, 5, 40) for _ in range(4))]


ALPHAS_CUMPROD = Exercise(
    name="alpha-bar (cumulative product)",
    make_cases=_cases_betas_only,
    reference=alphas_cumprod,
    own_work=(alphas_cumprod,),
    arg_names=("betas",),
    mistakes=[
        variant("you multiplied the β's. ᾱ_t multiplies the α_i = 1 - β_i, eq. (3.3).",
                lambda b: alphas_cumprod(1 - b)),
        variant("1 - (product of the β's) is not ᾱ_t: multiply the α_i = 1 - β_i.",
                lambda b: 1 - alphas_cumprod(1 - b)),
        variant("you returned one number, the product of all the α_i (that is ᾱ_T). ᾱ_t is the running "
                "product: one value per t (np.cumprod).", lambda b: alphas_cumprod(b)[-1]),
        variant("your values are shifted by one step: the first entry must be ᾱ_1 = 1 - β_1 (the book counts "
                "t from 1), not ᾱ_0 = 1.", lambda b: np.concatenate([[1.0], alphas_cumprod(b)[:-1]])),
        variant("1 - (β_1 + … + β_t) is only the first-order approximation of the product "
                "(1 - β_1)…(1 - β_t): use a product, not a sum.", lambda b: 1 - np.cumsum(b)),
        variant("exp(-(β_1 + … + β_t)) only approximates the product (1 - β_1)…(1 - β_t), well while the β are "
                "small: ᾱ_t is the product itself (np.cumprod).", lambda b: np.exp(-np.cumsum(b))),
        variant("you summed the α_i; ᾱ_t is their product.", lambda b: np.cumsum(1 - b)),
        variant("the product runs from the last step backwards; ᾱ_t multiplies α_1 … α_t.",
                lambda b: alphas_cumprod(b[::-1])),
    ],
    type_hint="Return a 1-D numpy array (np.cumprod makes one).",
)


def check_alphas_cumprod(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(betas)``: ᾱ_t = ∏_{i≤t} (1 - β_i) for every t, eq. (3.3)."""
    return run_check(ALPHAS_CUMPROD, fn, seed)


# ----------------------------------------------------------------------------- 2.4 how many steps (challenge)
def _cases_steps_needed(rng):
    cases = [Case((1e-4, 0.02, 0.01), "beta_start = 0.0001, beta_end = 0.02, target = 0.01")]
    for _ in range(3):
        start, end = float(rng.uniform(1e-4, 1e-3)), float(rng.uniform(0.01, 0.05))
        target = float(10 ** rng.uniform(-3, -1))
        cases.append(Case((start, end, target), f"beta_start = {start:.3g}, beta_end = {end:.3g}, "
                                                f"target = {target:.3g}"))
    return cases


def _alpha_bar_T(T: int, beta_start: float, beta_end: float) -> float:
    return float(alphas_cumprod(linear_beta_schedule(T, beta_start, beta_end, rescale=False))[-1])


@functools.lru_cache(maxsize=64)
def _ref_steps_needed(beta_start, beta_end, target):
    """The smallest T with ᾱ_T <= target, by bisection (ᾱ_T falls as T grows)."""
    high = 1
    while _alpha_bar_T(high, beta_start, beta_end) > target:
        high *= 2
    low = high // 2 + 1 if high > 1 else 1
    while low < high:
        middle = (low + high) // 2
        if _alpha_bar_T(middle, beta_start, beta_end) <= target:
            high = middle
        else:
            low = middle + 1
    return low


def _a_whole_number(out, args, case):
    """A number of steps is whole: 500.00001 is not an answer, even within the tolerance."""
    if isinstance(out, (float, np.floating)) and np.isfinite(out) and not float(out).is_integer():
        return f"a number of steps is a whole number; you returned {float(out)!r} (for {case.label})."
    return None


STEPS_NEEDED = Exercise(
    name="steps a schedule needs",
    make_cases=_cases_steps_needed,
    reference=_ref_steps_needed,
    arg_names=("beta_start", "beta_end", "target"),
    python_number=True,
    validators=[_a_whole_number],
    mistakes=[
        variant("one step short: you returned the last T whose ᾱ_T is still above the target. Return the "
                "first T with ᾱ_T <= target.", lambda s, e, g: _ref_steps_needed(s, e, g) - 1),
        variant("one step too many: the first T with ᾱ_T <= target is the answer.",
                lambda s, e, g: _ref_steps_needed(s, e, g) + 1),
    ],
    type_hint="Return an integer.",
    time_limit=10.0,
)


def check_steps_needed(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(beta_start, beta_end, target)``: the smallest T with ᾱ_T <= target (no rescaling)."""
    return run_check(STEPS_NEEDED, fn, seed)
