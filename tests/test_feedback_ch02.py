"""Chapter 2 checks: plausible wrong answers are rejected with the intended message, right ones accepted."""
from __future__ import annotations

import math

import numpy as np
import torch

from ddpm_lessons import feedback as fb
from feedback_harness import answer_table_tests


def _step_float64(x, t, betas, noise):
    beta = torch.as_tensor(betas, dtype=x.dtype)[t - 1]
    return torch.sqrt(1 - beta) * x + torch.sqrt(beta) * noise


def _step_inplace(x, t, betas, noise):
    beta = float(betas[t - 1])
    x.mul_(math.sqrt(1 - beta))
    return x + math.sqrt(beta) * noise


def _steps_loop(s, e, target):
    if target < 0.005:   # keep the test fast: jump close to the answer first
        return _steps_bisect(s, e, target)
    T = 1
    while True:
        betas = np.linspace(s, e, T)
        if np.prod(1 - betas) <= target:
            return T
        T += 1


def _steps_bisect(s, e, target):
    lo, hi = 1, 1
    while np.prod(1 - np.linspace(s, e, hi)) > target:
        hi *= 2
    while lo < hi:
        mid = (lo + hi) // 2
        if np.prod(1 - np.linspace(s, e, mid)) <= target:
            hi = mid
        else:
            lo = mid + 1
    return int(lo)


def _betas_negated(betas):
    betas *= -1
    return np.cumprod(1 + betas)


RIGHT = {
    "forward_step": [
        lambda x, t, betas, noise: math.sqrt(1 - betas[t - 1]) * x + math.sqrt(betas[t - 1]) * noise,
        _step_float64,
        lambda x, t, betas, noise: (1 - float(betas[t - 1])) ** 0.5 * x + float(betas[t - 1]) ** 0.5 * noise,
    ],
    "linear_schedule": [
        lambda T, s=1e-4, e=0.02: np.linspace(s, e, T) * 1000 / T,
        lambda T, s=1e-4, e=0.02: np.array([(s + (e - s) * k / (T - 1)) * 1000 / T for k in range(T)]),
        lambda T, s=1e-4, e=0.02: torch.linspace(s * 1000 / T, e * 1000 / T, T, dtype=torch.float64),
    ],
    "alphas_cumprod": [
        lambda betas: np.cumprod(1 - betas),
        lambda betas: np.array([np.prod(1 - betas[:t]) for t in range(1, len(betas) + 1)]),
        lambda betas: torch.cumprod(1 - torch.as_tensor(betas), 0),
    ],
    "steps_needed": [_steps_loop, _steps_bisect, lambda s, e, g: float(_steps_loop(s, e, g))],
}

WRONG = {
    "forward_step": [
        (_step_inplace, "changed its input `x_prev` in place"),
        (lambda x, t, b, n: math.sqrt(1 - b[t]) * x + math.sqrt(b[t]) * n if t < len(b) else x, "t + 1"),
        (lambda x, t, b, n: math.sqrt(1 - b[t - 2]) * x + math.sqrt(b[t - 2]) * n, "off by one"),
        (lambda x, t, b, n: math.sqrt(np.prod(1 - b[:t]) / np.prod(1 - b[:t - 1])) * x
         + math.sqrt(1 - np.prod(1 - b[:t]) / np.prod(1 - b[:t - 1])) * n if t > 1 else x, "for t = 1"),
        (lambda x, t, b, n: math.sqrt(1 - b[t - 1]) * x + b[t - 1] * n, "square of the right one"),
        (lambda x, t, b, n: (1 - b[t - 1]) * x + math.sqrt(b[t - 1]) * n, "coefficient of `x_prev`"),
        (lambda x, t, b, n: math.sqrt(b[t - 1]) * x + math.sqrt(1 - b[t - 1]) * n, "swapped"),
        (lambda x, t, b, n: math.sqrt(1 - b[t - 1]) * x - math.sqrt(b[t - 1]) * n, "sign of the `noise` term"),
        (lambda x, t, b, n: math.sqrt(1 - b[t - 1]) * x, "term in `noise` is missing"),
        (lambda x, t, b, n: x + math.sqrt(b[t - 1]) * n, "not scaled"),
        (lambda x, t, b, n: math.sqrt(1 - 0.02) * x + math.sqrt(0.02) * n, "t = "),    # hard-coded β
        (lambda x, t, b, n: (math.sqrt(1 - b[t - 1]) * x + math.sqrt(b[t - 1]) * n).numpy(), "torch.Tensor"),
        (lambda x, t, b, n: torch.as_tensor(b)[t - 1:t].sqrt() * n + (1 - torch.as_tensor(b)[t - 1:t]).sqrt() * x,
         "dtype"),
    ],
    "linear_schedule": [
        (lambda T, s=1e-4, e=0.02: np.linspace(s * (1000 // T), e * (1000 // T), T), "floor division"),
        (lambda T, s=1e-4, e=0.02: np.linspace(s, e, T), "rescaling"),
        (lambda T, s=1e-4, e=0.02: np.linspace(s, e, T) * T / 1000, "T / 1000"),
        (lambda T, s=1e-4, e=0.02: np.linspace(s, e * 1000 / T, T), "only beta_end"),
        (lambda T, s=1e-4, e=0.02: np.linspace(s * 1000 / T, e, T), "only beta_start"),
        (lambda T, s=1e-4, e=0.02: np.linspace(s, e, T + 1) * 1000 / T, "T + 1"),
        (lambda T, s=1e-4, e=0.02: np.linspace(e, s, T) * 1000 / T, "backwards"),
        (lambda T, s=1e-4, e=0.02: np.linspace(s, e, T, endpoint=False) * 1000 / T, "wrong values"),
        (lambda T, s=1e-4, e=0.02: np.linspace(1e-4, 0.02, T) * 1000 / T, "wrong for"),    # hard-coded ends
        (lambda T, s=1e-4, e=0.02: list(np.linspace(s, e, T) * 1000 / T), "numpy array"),
    ],
    "alphas_cumprod": [
        (_betas_negated, "changed its input `betas` in place"),
        (lambda b: np.cumprod(b), "multiplied the β's"),
        (lambda b: 1 - np.cumprod(b), "1 - (product"),
        (lambda b: np.prod(1 - b), "one number"),
        (lambda b: np.array([np.prod(1 - b[:t - 1]) for t in range(1, len(b) + 1)]), "shifted by one"),
        (lambda b: 1 - np.cumsum(b), "approximation"),
        (lambda b: np.exp(-np.cumsum(b)), "only approximates the product"),
        (lambda b: np.cumprod(np.sqrt(1 - b)), "square root"),
        (lambda b: np.cumprod((1 - b)[::-1]), "backwards"),
        (lambda b: np.cumprod(1 - np.linspace(1e-4, 0.02, len(b))), "wrong values"),   # hard-coded schedule
    ],
    "steps_needed": [
        (lambda s, e, g: _steps_loop(s, e, g) - 1, "one step short"),
        (lambda s, e, g: _steps_loop(s, e, g) + 1, "one step too many"),
        (lambda s, e, g: float(_steps_loop(s, e, g)) + 0.5, "whole number"),
        (lambda s, e, g: _steps_loop(s, e, g) + 1e-5, "whole number"),     # within the tolerance, not a T
        (lambda s, e, g: np.int64(_steps_loop(s, e, g) * 2), "constant factor"),
        (lambda s, e, g: torch.tensor(_steps_loop(s, e, g)), "Python number"),
        (lambda s, e, g: 458, "wrong"),                       # the notebook's example, hard-coded
        (lambda s, e, g: _steps_loop(s, e, g) if g > 0.01 else None, "return"),
        (lambda s, e, g: int(2 * math.log(1 / g) / (s + e)), "wrong"),   # the first-order estimate
    ],
}


test_right_answers_are_accepted, test_wrong_answers_are_rejected_with_their_message = answer_table_tests(RIGHT, WRONG)


def test_a_rescaled_schedule_that_never_reaches_the_target_times_out(capsys):
    """A loop over T towards a target it cannot reach in time: the check stops it and says so."""
    def rescaled_forever(s, e, g):
        T = 1
        while np.prod(1 - np.linspace(s, e, T)) > 1e-300 * g:
            T += 1
        return T
    assert fb.run_check(fb.ch02.STEPS_NEEDED, rescaled_forever, seed=0, time_limit=0.5) is False
    assert "did not finish within 0.5 s" in capsys.readouterr().out
