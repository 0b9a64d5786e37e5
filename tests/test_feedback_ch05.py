"""Chapter 5 checks: plausible wrong answers are rejected with the intended message, right ones accepted."""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ddpm_lessons import feedback as fb
from feedback_harness import answer_table_tests, assert_rejected


def _embedding(T, dim, times=None, exponent=None, base=10_000.0):
    M = np.zeros((dim, T))
    for col, t in enumerate(range(1, T + 1) if times is None else times):
        for r in range(0, dim, 2):
            angle = t / base ** ((r / (dim - 2)) if exponent is None else exponent(r, dim))
            M[r, col], M[r + 1, col] = math.sin(angle), math.cos(angle)
    return M


def _embedding_torch(T, dim):
    t = torch.arange(1, T + 1, dtype=torch.float64)
    freqs = 10_000.0 ** (-torch.arange(0, dim, 2, dtype=torch.float64) / (dim - 2))
    angles = freqs[:, None] * t[None, :]
    return torch.stack([angles.sin(), angles.cos()], dim=1).reshape(dim, T)


def _layer(x, e, wx, bx, wt, bt):
    return x @ wx.T + bx + e @ wt.T + bt


def _layer_bias_inplace(x, e, wx, bx, wt, bt):
    bx += bt
    return x @ wx.T + bx + e @ wt.T


def _count(h, depth, d):
    n, fan_in = 0, d
    for _ in range(depth):
        n += fan_in * h + h + h * h + h
        fan_in = h
    return n + h * d + d


RIGHT = {
    "embedding_matrix": [_embedding, _embedding_torch, lambda T, d: _embedding(T, d).astype(np.float32)],
    "conditioned_layer": [_layer, lambda x, e, wx, bx, wt, bt: F.linear(x, wx, bx) + F.linear(e, wt, bt),
                          lambda x, e, wx, bx, wt, bt: torch.cat([x, e], 1) @ torch.cat([wx, wt], 1).T + (bx + bt)],
    "parameter_count": [_count, lambda h, k, d: (d * h + h) + (k - 1) * (h * h + h) + k * (h * h + h) + h * d + d],
}

WRONG = {
    "embedding_matrix": [
        (lambda T, d: _embedding(T, d).T, "transpose"),
        (lambda T, d: _embedding(T, d, times=range(T)), "t - 1 = 0"),
        (lambda T, d: _embedding(T, d, exponent=lambda r, dd: r / dd), "divided by dim"),
        (lambda T, d: _embedding(T, d, exponent=lambda r, dd: (r / 2) / (dd - 2)), "pair index"),
        (lambda T, d: _embedding(T, d).reshape(d // 2, 2, T)[:, ::-1].reshape(d, T), "swapped"),
        (lambda T, d: np.concatenate([_embedding(T, d)[0::2], _embedding(T, d)[1::2]]), "interleaved"),
        (lambda T, d: _embedding(T, d, exponent=lambda r, dd: -r / (dd - 2)), "do not multiply"),
        (lambda T, d: _embedding(T, d, times=range(2, T + 2)), "wrong values"),
        (lambda T, d: _embedding(40, d), "shape"),   # hard-coded T of the notebook
        (lambda T, d: _embedding(T, d, base=1000.0), "wrong values"),
    ],
    "conditioned_layer": [
        (_layer_bias_inplace, "changed its input `bias_x` in place"),
        (lambda x, e, wx, bx, wt, bt: x @ wx.T + e @ wt.T, "both biases"),
        (lambda x, e, wx, bx, wt, bt: x @ wx.T + e @ wt.T + bt, "bias of the x part"),
        (lambda x, e, wx, bx, wt, bt: x @ wx.T + bx + e @ wt.T, "bias of the time part"),
        (lambda x, e, wx, bx, wt, bt: x @ wx.T + bx, "time embedding is missing"),
        (lambda x, e, wx, bx, wt, bt: (x @ wx.T + bx) * (e @ wt.T + bt), "not multiplied"),
        (lambda x, e, wx, bx, wt, bt: torch.relu(_layer(x, e, wx, bx, wt, bt)), "no activation"),
        (lambda x, e, wx, bx, wt, bt: F.silu(_layer(x, e, wx, bx, wt, bt)), "SiLU"),
        (lambda x, e, wx, bx, wt, bt: x @ wx + bx + e @ wt.T + bt, "x @ W.T"),
        (lambda x, e, wx, bx, wt, bt: _layer(x, e, wx, bx, wt, bt).detach().numpy(), "torch.Tensor"),
        (lambda x, e, wx, bx, wt, bt: _layer(x, e, wx, bx, wt, bt).double(), "dtype"),
    ],
    "parameter_count": [
        (lambda h, k, d: _count(h, k, d) - (2 * k * h + d), "biases"),
        (lambda h, k, d: _count(h, k, d) - k * (h * h + h), "second Linear"),
        (lambda h, k, d: _count(h, k, d) - (h * d + d), "output layer"),
        (lambda h, k, d: _count(h, k, d) + (h - d) * h, "data_dim inputs"),
        (lambda h, k, d: _count(h, k + 1, d), "too many"),
        (lambda h, k, d: _count(h, k - 1, d) if k > 1 else _count(h, k, d) - 1, "too few"),
        (lambda h, k, d: float(_count(h, k, d)) + 0.5, "got"),
        (lambda h, k, d: _count(32, 3, 2), "wrong"),                 # the notebook's model, hard-coded
        (lambda h, k, d: 2 * _count(h, k, d), "constant factor"),
        (lambda h, k, d: str(_count(h, k, d)), "number"),
    ],
}


test_right_answers_are_accepted, test_wrong_answers_are_rejected_with_their_message = answer_table_tests(RIGHT, WRONG)


def test_parameter_count_with_data_dim_hard_coded_to_2_fails_for_every_seed():
    """Every seed's cases hold data_dim 1 and 3, so the course's data_dim = 2 written in cannot pass by luck."""
    assert_rejected(fb.check_parameter_count, lambda h, k, d: _count(h, k, 2),
                    "instead of the `data_dim` argument", seeds=range(50))
