"""Chapter 4 checks: plausible wrong answers are rejected with the intended message, right ones accepted."""
from __future__ import annotations

import math

import numpy as np
import torch

from ddpm_lessons import feedback as fb
from feedback_harness import answer_table_tests


def _abars(b):
    return np.concatenate([[1.0], np.cumprod(1 - np.asarray(b))])   # ᾱ_0 … ᾱ_T


def _posterior(x0, xt, t, b, prev_shift=0, swap=False, sqrt_prev=True):
    a = _abars(b)
    abar_t, abar_prev, beta = a[t], a[t - 1 + prev_shift], b[t - 1]
    c0 = beta * (math.sqrt(abar_prev) if sqrt_prev else abar_prev) / (1 - abar_t)
    ct = (1 - abar_prev) * math.sqrt(1 - beta) / (1 - abar_t)
    if swap:
        c0, ct = ct, c0
    return c0 * x0 + ct * xt, beta * (1 - abar_prev) / (1 - abar_t)


def _posterior_wrapped(x0, xt, t, b):
    """ᾱ_{t-1} as np.cumprod(1 - b)[t - 2]: right for t > 1, the last entry ᾱ_T at t = 1 (not ᾱ_0 = 1)."""
    a = np.cumprod(1 - np.asarray(b))
    abar_t, abar_prev, beta = a[t - 1], a[t - 2], b[t - 1]
    mean = (beta * math.sqrt(abar_prev) * x0 + (1 - abar_prev) * math.sqrt(1 - beta) * xt) / (1 - abar_t)
    return mean, beta * (1 - abar_prev) / (1 - abar_t)


def _posterior_inplace(x0, xt, t, b):
    mean, var = _posterior(x0, torch.zeros_like(xt), t, b)
    a = _abars(b)
    xt *= (1 - a[t - 1]) * math.sqrt(1 - b[t - 1]) / (1 - a[t])
    return mean + xt, var


def _x0(xt, t, b, eps):
    a = _abars(b)[t]
    return (xt - math.sqrt(1 - a) * eps) / math.sqrt(a)


def _mean_eps(xt, t, b, eps):
    a, beta = _abars(b)[t], b[t - 1]
    return (xt - beta / math.sqrt(1 - a) * eps) / math.sqrt(1 - beta)


def _grid_bayes(x0, xt, t, b, grid, prior_t=None):
    a = _abars(b)
    abar_prev = a[t - 1] if prior_t is None else a[prior_t]
    beta = b[t - 1]
    prior = np.exp(-(grid - math.sqrt(abar_prev) * x0) ** 2 / (2 * (1 - abar_prev)))
    likelihood = np.exp(-(xt - math.sqrt(1 - beta) * grid) ** 2 / (2 * beta))
    p = prior * likelihood
    return p / (p.sum() * (grid[1] - grid[0]))


def _grid_log(x0, xt, t, b, grid):
    a = _abars(b)
    log_p = (-(grid - math.sqrt(a[t - 1]) * x0) ** 2 / (2 * (1 - a[t - 1]))
             - (xt - math.sqrt(1 - b[t - 1]) * grid) ** 2 / (2 * b[t - 1]))
    p = np.exp(log_p - log_p.max())
    return p / np.trapezoid(p, grid)


def _grid_n_intervals(x0, xt, t, b, grid):
    """Normalised with Δx = (max - min) / len(grid): one interval too many (len(grid) - 1 span the grid)."""
    p = _grid_bayes(x0, xt, t, b, grid)
    return p / (p.sum() * (grid.max() - grid.min()) / len(grid))


RIGHT = {
    "posterior_mean_variance": [
        _posterior,
        lambda x0, xt, t, b: tuple(v if k == 0 else float(v) for k, v in enumerate(_posterior(x0, xt, t, b))),
    ],
    "predict_x0": [_x0, lambda xt, t, b, e: (xt - (1 - np.prod(1 - b[:t])) ** 0.5 * e) * (1 / np.prod(1 - b[:t]) ** 0.5)],
    "posterior_mean_from_noise": [
        _mean_eps,
        lambda xt, t, b, e: _posterior(_x0(xt, t, b, e), xt, t, b)[0],   # eq. (4.5) with x̂_0: the same mean
    ],
    "posterior_on_grid": [_grid_bayes, _grid_log],
}

WRONG = {
    "posterior_mean_variance": [
        (_posterior_inplace, "changed its input `x_t` in place"),
        (_posterior_wrapped, "At t = 1, ᾱ_{t-1} = ᾱ_0 = 1"),        # said before any coefficient fit
        (lambda x0, xt, t, b: _posterior(x0, xt, t, b, swap=True), "swapped"),
        (lambda x0, xt, t, b: (_posterior(x0, xt, t, b)[0], b[t - 1]), "β̃_t"),
        (lambda x0, xt, t, b: _posterior(x0, xt, t, b, sqrt_prev=False), "coefficient of `x0`"),
        (lambda x0, xt, t, b: _posterior(x0, xt, t, b, prev_shift=1), "coefficient"),
        (lambda x0, xt, t, b: _posterior(x0, xt, t - 1, b) if t > 1 else _posterior(x0, xt, t, b), "t - 1"),
        (lambda x0, xt, t, b: _posterior(x0, xt, t, b)[0], "tuple"),
        (lambda x0, xt, t, b: (_posterior(x0, xt, t, b)[0], math.sqrt(_posterior(x0, xt, t, b)[1])),
         "square roots"),
        (lambda x0, xt, t, b: (-_posterior(x0, xt, t, b)[0], _posterior(x0, xt, t, b)[1]), "sign"),
        (lambda x0, xt, t, b: (0.5 * x0 + 0.5 * xt, _posterior(x0, xt, t, b)[1]), "coefficient"),   # hard-coded
    ],
    "predict_x0": [
        (lambda xt, t, b, e: xt.sub_(math.sqrt(1 - _abars(b)[t]) * e) / math.sqrt(_abars(b)[t]),
         "changed its input `x_t` in place"),
        (lambda xt, t, b, e: (xt - (1 - _abars(b)[t]) * e) / _abars(b)[t], "coefficient"),
        (lambda xt, t, b, e: (xt + math.sqrt(1 - _abars(b)[t]) * e) / math.sqrt(_abars(b)[t]), "sign"),
        (lambda xt, t, b, e: (e - math.sqrt(1 - _abars(b)[t]) * xt) / math.sqrt(_abars(b)[t]), "coefficient"),
        (lambda xt, t, b, e: _x0(xt, t - 1, b, e) if t > 1 else xt - e, "t - 1"),
        (lambda xt, t, b, e: _x0(xt, t + 1, b, e) if t < len(b) else xt, "t + 1"),
        (lambda xt, t, b, e: xt - math.sqrt(1 - _abars(b)[t]) * e, "not scaled"),
        (lambda xt, t, b, e: (xt - math.sqrt(b[t - 1]) * e) / math.sqrt(1 - b[t - 1]), "one-step"),
        (lambda xt, t, b, e: (xt - 0.6 * e) / 0.8, "coefficient"),   # hard-coded
        (lambda xt, t, b, e: _x0(xt, t, b, e).numpy(), "torch.Tensor"),
    ],
    "posterior_mean_from_noise": [
        (lambda xt, t, b, e: (xt - b[t - 1] / (1 - _abars(b)[t]) * e) / math.sqrt(1 - b[t - 1]), "coefficient of `eps`"),
        (lambda xt, t, b, e: (xt - b[t - 1] / math.sqrt(1 - _abars(b)[t]) * e) / (1 - b[t - 1]), "coefficient of `x_t`"),
        (lambda xt, t, b, e: xt - b[t - 1] / math.sqrt(1 - _abars(b)[t]) * e, "coefficient"),
        (lambda xt, t, b, e: (xt + b[t - 1] / math.sqrt(1 - _abars(b)[t]) * e) / math.sqrt(1 - b[t - 1]), "sign"),
        (lambda xt, t, b, e: _mean_eps(xt, t - 1, b, e) if t > 1 else xt, "t - 1"),
        (lambda xt, t, b, e: _x0(xt, t, b, e), "x̂_0"),
        (lambda xt, t, b, e: (e - b[t - 1] / math.sqrt(1 - _abars(b)[t]) * xt) / math.sqrt(1 - b[t - 1]), "swapped"),
        (lambda xt, t, b, e: xt.div_(math.sqrt(1 - b[t - 1])) - b[t - 1] / math.sqrt(1 - _abars(b)[t])
         / math.sqrt(1 - b[t - 1]) * e, "changed its input `x_t` in place"),
        (lambda xt, t, b, e: (xt - 0.02 / 0.6 * e) / math.sqrt(0.98), "coefficient"),   # hard-coded
    ],
    "posterior_on_grid": [
        (lambda x0, xt, t, b, g: _grid_bayes(x0, xt, t, b, g) * (g[1] - g[0]), "p.sum() alone"),
        (lambda x0, xt, t, b, g: _grid_bayes(x0, xt, t, b, g, prior_t=t), "wrong"),
        (lambda x0, xt, t, b, g: _grid_bayes(x0, xt, t, b, g, prior_t=t - 2) if t > 1 else g, "NaN"),
        (lambda x0, xt, t, b, g: fb.ch04.normal_pdf(g, math.sqrt(_abars(b)[t - 1]) * x0,
                                                    math.sqrt(1 - _abars(b)[t - 1])), "prior"),
        (lambda x0, xt, t, b, g: _grid_bayes(x0, xt, t + 1, b, g) if t < len(b) else g, "t + 1"),
        (lambda x0, xt, t, b, g: _grid_bayes(x0, -xt, t, b, g), "wrong"),
        (lambda x0, xt, t, b, g: _grid_bayes(xt, x0, t, b, g), "wrong"),
        (lambda x0, xt, t, b, g: np.sqrt(_grid_bayes(x0, xt, t, b, g)), "square root"),
        (lambda x0, xt, t, b, g: list(_grid_bayes(x0, xt, t, b, g)), "numpy array"),
        (_grid_n_intervals, "len(grid) - 1 intervals"),
        (lambda x0, xt, t, b, g: 1.0009 * _grid_bayes(x0, xt, t, b, g), "does not integrate to 1"),
        (lambda x0, xt, t, b, g: _grid_bayes(x0, xt, t, b, g.astype(np.float32)), "float64"),
    ],
}


test_right_answers_are_accepted, test_wrong_answers_are_rejected_with_their_message = answer_table_tests(RIGHT, WRONG)
