"""Chapter 3 checks: plausible wrong answers are rejected with the intended message, right ones accepted."""
from __future__ import annotations

import math

import numpy as np
import torch

from feedback_harness import answer_table_tests


def _abar(t, betas):
    return float(np.prod(1 - np.asarray(betas)[:t]))


def _coefficients(t, betas):
    a = _abar(t, betas)
    return math.sqrt(a), math.sqrt(1 - a)


def _q_sample(x0, t, betas, noise):
    a, b = _coefficients(t, betas)
    return a * x0 + b * noise


def _q_sample_inplace(x0, t, betas, noise):
    a, b = _coefficients(t, betas)
    x0.mul_(a)
    return x0 + b * noise


def _iterate(x0, t, betas, noises):
    x = x0
    for s in range(1, t + 1):
        x = math.sqrt(1 - betas[s - 1]) * x + math.sqrt(betas[s - 1]) * noises[s - 1]
    return x


def _iterate_inplace(x0, t, betas, noises):
    x = x0
    for s in range(1, t + 1):
        x *= math.sqrt(1 - betas[s - 1])
        x += math.sqrt(betas[s - 1]) * noises[s - 1]
    return x


def _iterate_clone_inplace(x0, t, betas, noises):
    x = x0.clone()
    for s in range(1, t + 1):
        x *= math.sqrt(1 - betas[s - 1])
        x += math.sqrt(betas[s - 1]) * noises[s - 1]
    return x


RIGHT = {
    "shortcut_coefficients": [
        _coefficients,
        lambda t, b: (float(np.sqrt(np.cumprod(1 - b)[t - 1])), float(np.sqrt(1 - np.cumprod(1 - b)[t - 1]))),
        lambda t, b: tuple(torch.tensor([_abar(t, b), 1 - _abar(t, b)], dtype=torch.float64).sqrt()),
    ],
    "q_sample": [
        _q_sample,
        lambda x0, t, b, n: torch.as_tensor(np.cumprod(1 - b)[t - 1], dtype=x0.dtype).sqrt() * x0
        + torch.as_tensor(1 - np.cumprod(1 - b)[t - 1], dtype=x0.dtype).sqrt() * n,
    ],
    "iterate_forward": [_iterate, _iterate_clone_inplace,
                        lambda x0, t, b, ns: _iterate(x0.double(), t, b, ns.double()).float()],
    "standardise": [
        lambda xt, x0, t, b: (xt - math.sqrt(_abar(t, b)) * x0) / math.sqrt(1 - _abar(t, b)),
        lambda xt, x0, t, b: (xt - _coefficients(t, b)[0] * x0) * (1 / _coefficients(t, b)[1]),
    ],
}

WRONG = {
    "shortcut_coefficients": [
        (lambda t, b: (_abar(t, b), 1 - _abar(t, b)), "square root is missing"),
        (lambda t, b: (math.sqrt(_abar(t, b)), 1 - math.sqrt(_abar(t, b))), "wrong values"),
        (lambda t, b: (math.sqrt(1 - b[t - 1]), math.sqrt(b[t - 1])), "one-step"),
        (lambda t, b: _coefficients(t, b)[::-1], "wrong order"),
        (lambda t, b: _coefficients(t + 1, b) if t < len(b) else (0.0, 1.0), "t + 1"),
        (lambda t, b: _coefficients(t - 1, b), "t - 1"),
        (lambda t, b: (math.sqrt(float(np.cumprod(1 - b)[t - 2])), math.sqrt(1 - float(np.cumprod(1 - b)[t - 2]))),
         "off by one"),
        (lambda t, b: tuple(np.array([c]) for c in _coefficients(t, b)), "single number"),
        (lambda t, b: (0.8, 0.6), "wrong"),   # hard-coded
        (lambda t, b: np.array(_coefficients(t, b)) ** 2, "square root is missing"),
    ],
    "q_sample": [
        (_q_sample_inplace, "changed its input `x0` in place"),
        (lambda x0, t, b, n: _abar(t, b) * x0 + (1 - _abar(t, b)) * n, "square of the right one"),
        (lambda x0, t, b, n: math.sqrt(_abar(t, b)) * x0 + (1 - _abar(t, b)) * n, "coefficient of `noise`"),
        (lambda x0, t, b, n: math.sqrt(_abar(t, b)) * n + math.sqrt(1 - _abar(t, b)) * x0, "swapped"),
        (lambda x0, t, b, n: math.sqrt(1 - b[t - 1]) * x0 + math.sqrt(b[t - 1]) * n, "one-step"),
        (lambda x0, t, b, n: _q_sample(x0, t - 1, b, n), "t - 1"),
        (lambda x0, t, b, n: _q_sample(x0, t + 1, b, n) if t < len(b) else n, "t + 1"),
        (lambda x0, t, b, n: x0 + math.sqrt(1 - _abar(t, b)) * n, "not scaled"),
        (lambda x0, t, b, n: math.sqrt(_abar(t, b)) * x0 - math.sqrt(1 - _abar(t, b)) * n, "sign"),
        (lambda x0, t, b, n: _q_sample(x0, t, b, n).numpy(), "torch.Tensor"),
        (lambda x0, t, b, n: 0.8 * x0 + 0.6 * n, "coefficient"),   # hard-coded
    ],
    "iterate_forward": [
        (_iterate_inplace, "changed its input `x0` in place"),
        (lambda x0, t, b, ns: _iterate(x0, t, b, ns * torch.as_tensor(b, dtype=ns.dtype).sqrt()[:, None, None]),
         "not β_s ε"),                                   # the noise scaled by β_s instead of √β_s
        (lambda x0, t, b, ns: _iterate(x0, t - 1, b, ns), "t - 1 steps"),
        (lambda x0, t, b, ns: _iterate(x0, t + 1, b, ns) if t < len(b) else _iterate(x0, t, b, ns), "off by one"),
        (lambda x0, t, b, ns: _iterate(x0, t, b, ns[:1].expand_as(ns)), "same noise"),
        (lambda x0, t, b, ns: _iterate(x0, t, b, torch.cat([ns[1:], ns[:1]])), "noise index"),
        (lambda x0, t, b, ns: _q_sample(x0, t, b, ns[0]), "shortcut"),
        (lambda x0, t, b, ns: _iterate(x0, t, b ** 2, ns), "wrong"),
        (lambda x0, t, b, ns: _iterate(x0, t, np.concatenate([b[1:], b[-1:]]), ns), "t + 1"),
        (lambda x0, t, b, ns: _iterate(x0, t, b, -ns), "wrong"),
        (lambda x0, t, b, ns: None, "return"),
    ],
    "standardise": [
        (lambda xt, x0, t, b: (xt - _abar(t, b) * x0) / math.sqrt(1 - _abar(t, b)), "coefficient of `x0`"),
        (lambda xt, x0, t, b: (xt - math.sqrt(_abar(t, b)) * x0) / (1 - _abar(t, b)), "coefficient of `x_t`"),
        (lambda xt, x0, t, b: (x0 - math.sqrt(_abar(t, b)) * xt) / math.sqrt(1 - _abar(t, b)), "swapped"),
        (lambda xt, x0, t, b: (xt + math.sqrt(_abar(t, b)) * x0) / math.sqrt(1 - _abar(t, b)), "sign"),
        (lambda xt, x0, t, b: (xt - math.sqrt(_abar(t - 1, b)) * x0) / math.sqrt(1 - _abar(t - 1, b)) if t > 1
         else xt - x0, "off by one"),
        (lambda xt, x0, t, b: xt.sub_(math.sqrt(_abar(t, b)) * x0) / math.sqrt(1 - _abar(t, b)),
         "changed its input `x_t` in place"),
        (lambda xt, x0, t, b: xt - math.sqrt(_abar(t, b)) * x0, "not scaled"),
        (lambda xt, x0, t, b: (xt - math.sqrt(_abar(t, b)) * x0) * math.sqrt(1 - _abar(t, b)), "divided"),
        (lambda xt, x0, t, b: (xt - 0.8 * x0) / 0.6, "coefficient"),   # hard-coded
    ],
}


test_right_answers_are_accepted, test_wrong_answers_are_rejected_with_their_message = answer_table_tests(RIGHT, WRONG)
