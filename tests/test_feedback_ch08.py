"""Chapter 8 checks: plausible wrong answers are rejected with the intended message, right ones accepted.

The right answers are written independently of the package (by hand, with numpy, with torch.distributions)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ddpm_lessons import feedback as fb
from feedback_harness import answer_table_tests, verdict


def _sq(x, d, a):
    return ((x[:, None, :] - math.sqrt(a) * d[None]) ** 2).sum(-1)


def _weights_max_shift(x, d, a):
    logits = -_sq(x, d, a) / (2 * (1 - a))
    w = torch.exp(logits - logits.max(dim=1, keepdim=True).values)
    return w / w.sum(dim=1, keepdim=True)


def _weights_logsumexp(x, d, a):
    logits = -_sq(x, d, a) / (2 * (1 - a))
    return torch.exp(logits - torch.logsumexp(logits, dim=1, keepdim=True))


def _weights_distributions(x, d, a):
    normal = torch.distributions.Independent(torch.distributions.Normal(math.sqrt(a) * d, math.sqrt(1 - a)), 1)
    return torch.softmax(normal.log_prob(x[:, None, :]), dim=1)


def _weights_naive(x, d, a):
    w = torch.exp(-_sq(x, d, a) / (2 * (1 - a)))
    return w / w.sum(1, keepdim=True)


def _weights_loop(x, d, a):
    rows = []
    for point in x:
        logits = torch.stack([-((point - math.sqrt(a) * c) ** 2).sum() / (2 * (1 - a)) for c in d])
        rows.append(torch.softmax(logits, 0))
    return torch.stack(rows)


def _noise(x, w, d, a):
    return (x - math.sqrt(a) * (w @ d)) / math.sqrt(1 - a)


def _noise_einsum(x, w, d, a):
    mean = torch.einsum("bn,nd->bd", w, d)
    return x / math.sqrt(1 - a) - math.sqrt(a / (1 - a)) * mean


def _noise_via_score(x, w, d, a):
    score = (math.sqrt(a) * (w[:, :, None] * d[None]).sum(1) - x) / (1 - a)
    return -math.sqrt(1 - a) * score


def _tweedie(x, s, a):
    return (x + (1 - a) * s) / math.sqrt(a)


def _abar(betas, t):
    return float(np.prod(1 - np.asarray(betas)[:t]))


def _noise_at(x, t, d, betas):
    a = _abar(betas, t)
    return _noise(x, _weights_logsumexp(x, d, a), d, a)


def _inplace_noise_at(x, t, d, betas):
    a = _abar(betas, t)
    w = _weights_logsumexp(x, d, a)
    x.sub_(math.sqrt(a) * (w @ d))
    return x / math.sqrt(1 - a)


def _noise_at_cumprod(x, t, d, betas):
    a = float(np.cumprod(1 - np.asarray(betas))[t - 1])
    w = torch.softmax(-torch.cdist(x, math.sqrt(a) * d) ** 2 / (2 * (1 - a)), dim=1)
    return (x - math.sqrt(a) * w @ d) / math.sqrt(1 - a)


RIGHT = {
    "posterior_weights": [_weights_max_shift, _weights_logsumexp, _weights_distributions, _weights_loop,
                          lambda x, d, a: torch.softmax(-torch.cdist(x, math.sqrt(a) * d) ** 2 / (2 * (1 - a)), 1)],
    "ideal_noise": [_noise, _noise_einsum, _noise_via_score,
                    lambda x, w, d, a: torch.from_numpy((x.numpy() - math.sqrt(a) * w.numpy() @ d.numpy())
                                                        / math.sqrt(1 - a))],
    "tweedie_x0": [_tweedie, lambda x, s, a: x / math.sqrt(a) + (1 - a) / math.sqrt(a) * s,
                   lambda x, s, a: torch.addcmul(x, s, torch.tensor(1 - a, dtype=x.dtype)) / a ** 0.5],
    "noise_at_step": [_noise_at, _noise_at_cumprod],
}


def _inplace_weights(x, d, a):
    x.mul_(1.0)
    x.sub_(0.0)
    x[0, 0] += 1e-3
    return _weights_logsumexp(x, d, a)


def _inplace_noise(x, w, d, a):
    x.sub_(math.sqrt(a) * (w @ d))
    return x / math.sqrt(1 - a)


def _inplace_tweedie(x, s, a):
    x.add_((1 - a) * s)
    return x / math.sqrt(a)


def _logits(x, d, a, scale=None, two=2.0, var=None):
    scale = math.sqrt(a) if scale is None else scale
    var = (1 - a) if var is None else var
    return -((x[:, None] - scale * d[None]) ** 2).sum(-1) / (two * var)


def _weights_shift(dim):
    def weights(x, d, a):
        logits = _logits(x, d, a)
        w = torch.exp(logits - logits.max(dim, keepdim=True).values)
        return w / w.sum(1, keepdim=True)
    return weights


WRONG = {
    "posterior_weights": [
        (_weights_naive, "log-sum-exp"),
        (_weights_shift(0), "wrong axis"),
        (lambda x, d, a: torch.nan_to_num(_weights_naive(x, d, a)), "all 0"),
        (lambda x, d, a: (lambda w: w / w.sum(1, keepdim=True))(torch.exp(_logits(x, d, a).clamp(min=-50))),
         "clamping the logits"),
        (_inplace_weights, "changed its input `x_t` in place"),
        (lambda x, d, a: torch.softmax(_logits(x, d, a, scale=1.0), 1), "shrunken"),
        (lambda x, d, a: torch.softmax(_logits(x, d, a, scale=a), 1), "not ᾱ x0"),
        (lambda x, d, a: torch.softmax(_logits(x, d, a, two=1.0), 1), "dropped the 2"),
        (lambda x, d, a: torch.softmax(_logits(x, d, a, var=math.sqrt(1 - a)), 1), "√(1 − ᾱ)"),
        (lambda x, d, a: torch.softmax(-_logits(x, d, a), 1), "minus sign"),
        (lambda x, d, a: torch.softmax(_logits(x, d, a), 0), "dim 1"),
        (lambda x, d, a: torch.log_softmax(_logits(x, d, a), 1), "log-weights"),
        (lambda x, d, a: torch.exp(_logits(x, d, a) - _logits(x, d, a).max(1, keepdim=True).values), "normalised"),
        (lambda x, d, a: _weights_logsumexp(x, d, a).numpy(), "torch.Tensor"),
        (lambda x, d, a: _weights_logsumexp(x, d, a).T, "shape"),
        (lambda x, d, a: torch.full((x.shape[0], d.shape[0]), 1.0 / d.shape[0], dtype=x.dtype), "❌"),
    ],
    "ideal_noise": [
        (_inplace_noise, "changed its input `x_t` in place"),
        (lambda x, w, d, a: (x - w @ d) / math.sqrt(1 - a), "√ᾱ E[x0 | x_t]"),
        (lambda x, w, d, a: (x - math.sqrt(a) * (w @ d)) / (1 - a), "minus the score"),
        (lambda x, w, d, a: (x - a * (w @ d)) / math.sqrt(1 - a), "by ᾱ"),
        (lambda x, w, d, a: (math.sqrt(a) * (w @ d) - x) / (1 - a), "that is the score"),
        (lambda x, w, d, a: w @ d, "E[x0 | x_t]"),
        (lambda x, w, d, a: x - math.sqrt(a) * (w @ d), "divide by √(1 − ᾱ)"),
        (lambda x, w, d, a: (math.sqrt(a) * (w @ d) - x) / math.sqrt(1 - a), "sign"),
        (lambda x, w, d, a: (x - math.sqrt(a) * (w.mean(1, keepdim=True) * d.sum(0))) / math.sqrt(1 - a), "❌"),
        (lambda x, w, d, a: ((x - math.sqrt(a) * (w @ d)) / math.sqrt(1 - a)).numpy(), "torch.Tensor"),
        (lambda x, w, d, a: ((x - math.sqrt(a) * (w @ d)) / math.sqrt(1 - a)).float(), "dtype"),
    ],
    "tweedie_x0": [
        (_inplace_tweedie, "changed its input `x_t` in place"),
        (lambda x, s, a: (x + math.sqrt(1 - a) * s) / math.sqrt(a), "variance 1 − ᾱ"),
        (lambda x, s, a: (x - (1 - a) * s) / math.sqrt(a), "uphill"),
        (lambda x, s, a: x - (1 - a) * s, "two slips"),
        (lambda x, s, a: x + (1 - a) * s, "divide by √ᾱ"),
        (lambda x, s, a: (x + (1 - a) * s) / a, "not by ᾱ"),
        (lambda x, s, a: -math.sqrt(1 - a) * s, "ε*"),
        (lambda x, s, a: (x + (1 - a) * s) * math.sqrt(a), "❌"),
        (lambda x, s, a: _tweedie(x, s, a).numpy(), "torch.Tensor"),
    ],
    "noise_at_step": [
        (lambda x, t, d, b: _noise_at(x, t + 1, d, b) if t < len(b) else _noise_at(x, t, d, b), "off by one"),
        (lambda x, t, d, b: _noise_at(x, t - 1, d, b) if t > 1 else _noise_at(x, t, d, b), "off by one"),
        (lambda x, t, d, b: _noise_at(x, t - 1, d, b), "❌"),     # t - 1 = 0 gives ᾱ_0 = 1: 0 / 0
        (lambda x, t, d, b: _noise_at(x, 1, d, b[t - 1:]), "one-step"),
        (lambda x, t, d, b: (lambda a: _noise(x, _weights_logsumexp(x, d, a), d, a))(float(np.prod(b[:t]))),
         "product of the 1 − β_s"),
        (lambda x, t, d, b: _noise_at(x, t, d, b).numpy(), "torch.Tensor"),
        (_inplace_noise_at, "changed its input `x` in place"),
        (lambda x, t, d, b: _noise(x, _weights_logsumexp(x, d, 1 - float(b[t - 1])), d, 1 - float(b[t - 1])), "one-step"),
        (lambda x, t, d, b: _noise(x, _weights_logsumexp(x, d, _abar(b, t)), d, math.sqrt(_abar(b, t))), "❌"),
    ],
}


test_right_answers_are_accepted, test_wrong_answers_are_rejected_with_their_message = answer_table_tests(RIGHT, WRONG)


def test_the_naive_softmax_is_right_near_the_data_and_only_fails_far_away():
    """The underflow case is what rejects the naive softmax: without it, it would pass."""
    x = torch.tensor([[0.1, 0.2]], dtype=torch.float64)
    d = torch.tensor([[0.0, 0.0], [0.3, 0.1]], dtype=torch.float64)
    assert torch.allclose(_weights_naive(x, d, 0.6), _weights_logsumexp(x, d, 0.6))
    passed, out = verdict(fb.check_posterior_weights, _weights_naive, seed=5)
    assert not passed and "far from" in out


def test_stubs_are_not_done():
    def stub(*args):
        raise NotImplementedError("Hint")
    for name in RIGHT:
        passed, out = verdict(getattr(fb, f"check_{name}"), stub, seed=0)
        assert not passed and out.startswith("⏳")


@pytest.mark.parametrize("answer,ok", [("-epsilon / sqrt(1 - abar_t)", True),
                                       ("-(1 - abar_t)**(-1/2) * epsilon", True),
                                       ("epsilon / sqrt(1 - abar_t)", False),
                                       ("-epsilon / (1 - abar_t)", False),
                                       ("-epsilon * sqrt(1 - abar_t)", False)])
def test_question_8_5(answer, ok):
    passed, out = verdict(lambda a, seed=None: fb.check_answer("8.5", a), answer)
    assert passed is ok, out
