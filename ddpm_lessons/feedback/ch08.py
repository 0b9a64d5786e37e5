"""Checks of the exercises of chapter 8: the score and the ideal denoiser."""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from ..schedules import alphas_cumprod
from ..score import ideal_noise, posterior_weights, tweedie_x0
from .common import TENSOR_HINT, T_RANGE_HINT, random_schedule, times
from .engine import Case, Exercise, Mistake, run_check, variant

NOISE_LEVELS = (0.9995, 0.97, 0.6, 0.08)
"""ᾱ of the cases: the first makes e^ℓ underflow for points far from the data."""


def _float64(rng: np.random.Generator, shape: tuple[int, ...], scale: float = 1.0) -> torch.Tensor:
    return torch.from_numpy(scale * rng.standard_normal(shape))


def _mixture_cases(rng: np.random.Generator) -> list[tuple[torch.Tensor, torch.Tensor, float, str]]:
    """(x_t, data, ᾱ, label): a few training points, noisy points near them, and far points."""
    cases = []
    for k, abar in enumerate(NOISE_LEVELS):
        n_data, n = int(rng.integers(3, 9)), int(rng.integers(4, 9))
        data = torch.from_numpy(rng.uniform(-1, 1, (n_data, 2)))
        if k == 0:   # far from every shrunken training point: every e^ℓ_i underflows to 0
            angle = torch.from_numpy(rng.uniform(0, 2 * math.pi, n))
            x_t = torch.stack([angle.cos(), angle.sin()], 1) * torch.from_numpy(rng.uniform(2.5, 4, (n, 1)))
            label = f"{n} points far from {n_data} training points, ᾱ = {abar}"
        else:
            x_t = math.sqrt(abar) * data[torch.from_numpy(rng.integers(0, n_data, n))] \
                + math.sqrt(1 - abar) * _float64(rng, (n, 2))
            label = f"{n} noisy points, {n_data} training points, ᾱ = {abar}"
        cases.append((x_t, data, abar, label))
    return cases


def _logits(x_t, data, abar, sqrt_abar=True, two=True, variance=None):
    scale = math.sqrt(abar) if sqrt_abar else abar
    var = (1 - abar) if variance is None else variance
    return -((x_t[:, None, :] - scale * data[None]) ** 2).sum(-1) / ((2 if two else 1) * var)


def _nan_where_underflow(output, args, case) -> str | None:
    values = output.detach() if isinstance(output, torch.Tensor) else np.asarray(output)
    if "far" in case.label and isinstance(values, (torch.Tensor, np.ndarray)) and \
            bool(np.isnan(np.asarray(values, dtype=np.float64)).any()):
        rows = np.isnan(np.asarray(values, dtype=np.float64)).reshape(len(values), -1).any(axis=1)
        if not rows.all():
            return ("some of your weights are NaN for points far from the data: you subtracted the largest ℓ over "
                    "the wrong axis (over the noisy points). Each noisy point needs its own shift: the largest of "
                    f"its ℓ_j over the training points (dim 1, keepdim=True) (for {case.label}).")
        return ("your weights are NaN for points far from the data: every e^ℓ_i underflows to 0 and the "
                "softmax becomes 0 / 0. Subtract the largest ℓ_j from every ℓ_i of the same point before "
                f"exponentiating (the log-sum-exp trick) (for {case.label}).")
    return None


def _far_rows(outputs, cases, test) -> bool:
    """``test(row)`` holds for every row of the learner's weights in the far-from-the-data case."""
    for out, case in zip(outputs, cases):
        if "far" in case.label:
            values = np.asarray(out.detach() if isinstance(out, torch.Tensor) else out, dtype=np.float64)
            return values.ndim == 2 and all(test(row) for row in values)
    return False


FAR_ZERO = Mistake("your weights are all 0 for points far from the data: each e^ℓ_i underflowed to 0 and the 0/0 was "
                   "hidden (nan_to_num, or a small number added). The weights of a point must sum to 1: subtract "
                   "the largest ℓ_j of each point before exponentiating (the log-sum-exp trick).",
                   predicate=lambda outs, cases, expected: _far_rows(outs, cases, lambda row: np.all(row == 0)))
FAR_EQUAL = Mistake("points far from the data get equal weights on every training point: clamping the logits (or the "
                    "exponentials) from below erases their differences. Subtract the largest ℓ_j of each point "
                    "instead (the log-sum-exp trick): that keeps the differences and never underflows for the "
                    "largest.",
                    predicate=lambda outs, cases, expected: _far_rows(outs, cases,
                                                                      lambda row: np.ptp(row) < 1e-12 * row.max()))


# ----------------------------------------------------------------------------- 8.1 posterior weights
def _cases_weights(rng):
    return [Case((x, d, a), label) for x, d, a, label in _mixture_cases(rng)]


WEIGHTS = Exercise(
    name="posterior weights",
    make_cases=_cases_weights,
    reference=posterior_weights,
    own_work=(posterior_weights,),
    arg_names=("x_t", "data", "alpha_bar"),
    validators=[_nan_where_underflow],
    mistakes=[
        variant("the centres of the mixture are the *shrunken* training points √ᾱ x0_i: q(x_t | x0) has mean "
                "√ᾱ_t x0, eq. (3.4).",
                lambda x, d, a: torch.softmax(-((x[:, None] - d[None]) ** 2).sum(-1) / (2 * (1 - a)), 1)),
        variant("the mean of q(x_t | x0) is √ᾱ x0, not ᾱ x0.",
                lambda x, d, a: torch.softmax(_logits(x, d, a, sqrt_abar=False), 1)),
        variant("the exponent of a normal density is −|x − m|² / (2σ²): you dropped the 2.",
                lambda x, d, a: torch.softmax(_logits(x, d, a, two=False), 1)),
        variant("σ² = 1 − ᾱ is the variance already; you divided by √(1 − ᾱ).",
                lambda x, d, a: torch.softmax(_logits(x, d, a, variance=math.sqrt(1 - a)), 1)),
        variant("the weights favour the *far* training points: the log-likelihood is −|x − √ᾱ x0_i|² / (2(1 − ᾱ)), "
                "with a minus sign.", lambda x, d, a: torch.softmax(-_logits(x, d, a), 1)),
        variant("you normalised each training point's column over the noisy points (dim 0). Each noisy point "
                "needs a distribution over the training points: normalise each row (dim 1).",
                lambda x, d, a: torch.softmax(_logits(x, d, a), 0)),
        FAR_ZERO, FAR_EQUAL,
        variant("you returned the log-weights (log_softmax); return the weights themselves.",
                lambda x, d, a: torch.log_softmax(_logits(x, d, a), 1)),
        variant("the weights are not normalised: divide by their sum over the training points so that each row "
                "sums to 1.", lambda x, d, a: torch.exp(_logits(x, d, a) - _logits(x, d, a).max(1, keepdim=True).values)),
    ],
    type_hint="Return a tensor of shape (number of points, number of training points). " + TENSOR_HINT,
)


def check_posterior_weights(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(x_t, data, alpha_bar)``: the softmax weights w_i(x_t) of eq. (8.6)."""
    return run_check(WEIGHTS, fn, seed)


# ----------------------------------------------------------------------------- 8.2 ε* from the weights
def _cases_noise(rng):
    return [Case((x, posterior_weights(x, d, a), d, a), label) for x, d, a, label in _mixture_cases(rng)]


def _from_mean(x, w, d, a, kind):
    mean = w @ d
    return {"no_sqrt": (x - mean) / math.sqrt(1 - a),
            "variance": (x - math.sqrt(a) * mean) / (1 - a),
            "abar": (x - a * mean) / math.sqrt(1 - a),
            "score": (math.sqrt(a) * mean - x) / (1 - a),
            "mean": mean,
            "no_divide": x - math.sqrt(a) * mean}[kind]


IDEAL_NOISE = Exercise(
    name="ideal noise from the weights",
    make_cases=_cases_noise,
    reference=lambda x, w, d, a: ideal_noise(x, d, a),
    own_work=(ideal_noise,),
    arg_names=("x_t", "weights", "data", "alpha_bar"),
    mistakes=[
        variant("the posterior mean E[x0 | x_t] is shrunk too in x_t = √ᾱ x0 + √(1 − ᾱ) ε: subtract √ᾱ E[x0 | x_t].",
                lambda x, w, d, a: _from_mean(x, w, d, a, "no_sqrt")),
        variant("you divided by 1 − ᾱ: that gives minus the score. ε has standard deviation 1, its coefficient "
                "in eq. (3.5) is √(1 − ᾱ).", lambda x, w, d, a: _from_mean(x, w, d, a, "variance")),
        variant("you scaled E[x0 | x_t] by ᾱ; the shortcut scales x0 by √ᾱ.",
                lambda x, w, d, a: _from_mean(x, w, d, a, "abar")),
        variant("that is the score ∇ log q_t = (√ᾱ E[x0 | x_t] − x_t) / (1 − ᾱ); ε* = −√(1 − ᾱ) times it.",
                lambda x, w, d, a: _from_mean(x, w, d, a, "score")),
        variant("you returned E[x0 | x_t] = Σ w_i x0_i; the exercise asks for the noise ε*.",
                lambda x, w, d, a: _from_mean(x, w, d, a, "mean")),
        variant("divide by √(1 − ᾱ), the coefficient of ε in the shortcut.",
                lambda x, w, d, a: _from_mean(x, w, d, a, "no_divide")),
        variant("the sign is flipped: ε* = (x_t − √ᾱ E[x0 | x_t]) / √(1 − ᾱ).",
                lambda x, w, d, a: -ideal_noise(x, d, a)),
    ],
    type_hint="Return a tensor shaped like x_t. " + TENSOR_HINT,
)


def check_ideal_noise(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(x_t, weights, data, alpha_bar)``: ε* = E[ε | x_t], eq. (8.7)."""
    return run_check(IDEAL_NOISE, fn, seed)


# ----------------------------------------------------------------------------- 8.3 Tweedie
def _cases_tweedie(rng):
    cases = []
    for abar in (0.999, 0.7, 0.3, float(rng.uniform(0.05, 0.95))):
        n = int(rng.integers(3, 8))
        cases.append(Case((_float64(rng, (n, 2)), _float64(rng, (n, 2), 3.0), abar), f"ᾱ = {abar:.4g}"))
    return cases


TWEEDIE = Exercise(
    name="Tweedie's formula",
    make_cases=_cases_tweedie,
    reference=tweedie_x0,
    own_work=(tweedie_x0,),
    arg_names=("x_t", "score", "alpha_bar"),
    linear=((0, "x_t"), (1, "score")),
    mistakes=[
        variant("the score is multiplied by the variance 1 − ᾱ, not by the standard deviation √(1 − ᾱ).",
                lambda x, s, a: (x + math.sqrt(1 - a) * s) / math.sqrt(a)),
        variant("the score points uphill, towards the data: add (1 − ᾱ) ∇ log q_t to x_t, do not subtract it.",
                lambda x, s, a: (x - (1 - a) * s) / math.sqrt(a)),
        variant("two slips: the score term enters with +, x_t + (1 − ᾱ) ∇ log q_t (the score points towards the "
                "data), and the sum is divided by √ᾱ, since x_t carries √ᾱ x0.",
                lambda x, s, a: x - (1 - a) * s),
        variant("the result is the mean of x_t scaled back: divide by √ᾱ, since x_t carries √ᾱ x0.",
                lambda x, s, a: x + (1 - a) * s),
        variant("divide by √ᾱ, not by ᾱ: the shortcut scales x0 by √ᾱ.",
                lambda x, s, a: (x + (1 - a) * s) / a),
        variant("that is ε* = −√(1 − ᾱ) ∇ log q_t; the exercise asks for E[x0 | x_t].",
                lambda x, s, a: -math.sqrt(1 - a) * s),
    ],
    type_hint="Return a tensor shaped like x_t. " + TENSOR_HINT,
)


def check_tweedie_x0(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(x_t, score, alpha_bar)``: E[x0 | x_t] = (x_t + (1 − ᾱ) score) / √ᾱ, eq. (8.2)."""
    return run_check(TWEEDIE, fn, seed)


# ----------------------------------------------------------------------------- 8.4 ε* at step t
def _cases_step(rng):
    betas = random_schedule(rng, 8, 30)
    cases = []
    for t in times(rng, len(betas)):
        n_data, n = int(rng.integers(3, 8)), int(rng.integers(3, 7))
        data = torch.from_numpy(rng.uniform(-1, 1, (n_data, 2)))
        cases.append(Case((_float64(rng, (n, 2)), t, data, betas), f"t = {t}, T = {len(betas)}"))
    return cases


def _noise_at(x, t, d, betas, abar=None):
    abar = float(alphas_cumprod(betas)[t - 1]) if abar is None else abar
    return ideal_noise(x, d, abar)


NOISE_AT_STEP = Exercise(
    name="ideal noise at step t",
    make_cases=_cases_step,
    reference=_noise_at,
    arg_names=("x", "t", "data", "betas"),
    t_arg=1, betas_arg=3,
    mistakes=[
        variant("you used the one-step ᾱ = α_t = 1 − β_t; x_t is made from x0 in one jump with ᾱ_t = Π (1 − β_s), "
                "eq. (3.3).", lambda x, t, d, b: _noise_at(x, t, d, b, 1 - float(b[t - 1]))),
        Mistake("t is off by one: the book's t runs from 1 to T, and ᾱ_t is alphas_cumprod[t - 1].",
                wrong=lambda x, t, d, b: _noise_at(x, t + 1, d, b) if t < len(b) else None),
        Mistake("t is off by one: the book's t runs from 1 to T, and ᾱ_t is alphas_cumprod[t - 1].",
                wrong=lambda x, t, d, b: _noise_at(x, t - 1, d, b) if t > 1 else None),
        variant("ᾱ_t is the product of the 1 − β_s, not of the β_s.",
                lambda x, t, d, b: _noise_at(x, t, d, b, float(np.prod(b[:t]))) if np.prod(b[:t]) > 0 else None),
    ],
    type_hint="Return a tensor shaped like x. " + TENSOR_HINT,
    error_hints=[T_RANGE_HINT],
)


def check_noise_at_step(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(x, t, data, betas)``: ε*(x, t) for the training set, t = 1 … T."""
    return run_check(NOISE_AT_STEP, fn, seed)
