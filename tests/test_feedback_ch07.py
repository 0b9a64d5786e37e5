"""Chapter 7 checks: plausible wrong answers are rejected with the intended message, right ones accepted."""
from __future__ import annotations

import numpy as np

from ddpm_lessons.spiral import T_MAX, T_MIN, spiral_curve, spiral_curve_derivatives
from feedback_harness import answer_table_tests


def _derivatives(q, t):
    p, (d1, d2) = spiral_curve(t), spiral_curve_derivatives(t)
    r = p - q
    return 2 * (d1 * r).sum(-1), 2 * ((d1 * d1).sum(-1) + (d2 * r).sum(-1))


def _newton(q, t):
    slope, curvature = _derivatives(q, t)
    return t - slope / curvature


def _mean_distance(points, curve):
    d = np.linalg.norm(points[:, None, :] - curve[None, :, :], axis=-1)
    return float(d.min(axis=1).mean())


def _ks(t_star, lo, hi):
    u = np.sort((np.asarray(t_star) - lo) / (hi - lo))
    n = len(u)
    i = np.arange(1, n + 1)
    return float(max(np.max(i / n - u), np.max(u - (i - 1) / n)))


def _ks_sorts_in_place(t_star, lo, hi):
    t_star.sort()
    return _ks(t_star, lo, hi)


def _newton_in_place(q, t):
    slope, curvature = _derivatives(q, t)
    t -= slope / curvature
    return t


RIGHT = {
    "distance_derivatives": [_derivatives, lambda q, t: np.stack(_derivatives(q, t)),
                             lambda q, t: [np.asarray(v, dtype=np.float32) for v in _derivatives(q, t)]],
    "newton_step": [_newton, lambda q, t: t - np.divide(*_derivatives(q, t))],
    "mean_distance": [_mean_distance,
                      lambda p, c: float(np.mean([min(np.hypot(*(c - x).T)) for x in p]))],
    "coverage_ks": [_ks, lambda t, lo, hi: float(np.max(np.abs(
        np.concatenate([np.arange(1, len(t) + 1) / len(t), np.arange(len(t)) / len(t)])
        - np.tile(np.sort((t - lo) / (hi - lo)), 2))))],
}

WRONG = {
    "distance_derivatives": [
        (lambda q, t: tuple(0.5 * v for v in _derivatives(q, t)), "constant factor"),
        (lambda q, t: (-_derivatives(q, t)[0], 2 * (spiral_curve_derivatives(t)[0] ** 2).sum(-1) * 2
                       - _derivatives(q, t)[1]), "residual is p(t) - q"),
        (lambda q, t: (_derivatives(q, t)[0], 2 * (spiral_curve_derivatives(t)[0] ** 2).sum(-1)), "Gauss–Newton"),
        (lambda q, t: (_derivatives(q, t)[0], _derivatives(q, t)[1] - 2 * (spiral_curve_derivatives(t)[0] ** 2).sum(-1)),
         "|p'(t)|²"),
        (lambda q, t: (((spiral_curve(t) - q) ** 2).sum(-1), _derivatives(q, t)[0]), "(D, D')"),
        (lambda q, t: _derivatives(q, t)[::-1], "wrong order"),
        (lambda q, t: _derivatives(q, t)[0], "tuple"),
        (lambda q, t: (np.sqrt(np.abs(_derivatives(q, t)[0])), _derivatives(q, t)[1]), "wrong values"),
        (lambda q, t: (_derivatives(q, t)[0], _derivatives(q, t)[1][:1]), "shape"),
    ],
    "newton_step": [
        (_newton_in_place, "changed its input `t` in place"),
        (lambda q, t: t + np.divide(*_derivatives(q, t)), "wrong way"),
        (lambda q, t: np.clip(t - np.divide(*_derivatives(q, t)), T_MIN, T_MAX), "you clipped the new t"),
        (lambda q, t: t - ((spiral_curve(t) - q) ** 2).sum(-1) / _derivatives(q, t)[0], "root of D"),
        (lambda q, t: t - _derivatives(q, t)[1] / _derivatives(q, t)[0], "upside down"),
        (lambda q, t: t - _derivatives(q, t)[0] / (2 * (spiral_curve_derivatives(t)[0] ** 2).sum(-1)), "Gauss–Newton"),
        (lambda q, t: t - _derivatives(q, t)[0], "gradient-descent"),
        (lambda q, t: -np.divide(*_derivatives(q, t)), "the step"),
        (lambda q, t: t - 0.5 * np.divide(*_derivatives(q, t)), "wrong values"),
        (lambda q, t: float(_newton(q, t)[0]), "single number"),
    ],
    "mean_distance": [
        (lambda p, c: float((np.linalg.norm(p[:, None] - c[None], axis=-1).min(1) ** 2).mean()), "mean squared"),
        (lambda p, c: float(np.sqrt((np.linalg.norm(p[:, None] - c[None], axis=-1).min(1) ** 2).mean())), "root-mean-square"),
        (lambda p, c: float(np.linalg.norm(p[:, None] - c[None], axis=-1).min(0).mean()), "wrong axis"),
        (lambda p, c: float(np.linalg.norm(p[:, None] - c[None], axis=-1).mean()), "nearest curve point"),
        (lambda p, c: float(np.linalg.norm(p[:, None] - c[None], axis=-1).min(1).sum()), "summed"),
        (lambda p, c: float(np.linalg.norm(p[:, None] - c[None], axis=-1).min(1).max()), "largest"),
        (lambda p, c: np.linalg.norm(p[:, None] - c[None], axis=-1).min(1), "single number"),
        (lambda p, c: float(np.abs(p[:, None] - c[None]).sum(-1).min(1).mean()), "wrong values"),
        (lambda p, c: __import__("torch").tensor(_mean_distance(p, c)), "Python number"),
    ],
    "coverage_ks": [
        (_ks_sorts_in_place, "changed its input `t_star` in place"),
        (lambda t, lo, hi: float(np.max(np.arange(1, len(t) + 1) / len(t) - np.sort((t - lo) / (hi - lo)))), "two-sided"),
        (lambda t, lo, hi: float(np.max(np.sort((t - lo) / (hi - lo)) - np.arange(len(t)) / len(t))), "two-sided"),
        (lambda t, lo, hi: float(np.max(np.abs(np.arange(1, len(t) + 1) / len(t) - np.sort((t - lo) / (hi - lo))))),
         "just before each step"),
        (lambda t, lo, hi: _ks(t, 0.0, 1.0), "wrong values"),                  # F(t) = t, no mapping
        (lambda t, lo, hi: float(max(np.max(np.arange(1, len(t) + 1) / len(t) - (t - lo) / (hi - lo)),
                                     np.max((t - lo) / (hi - lo) - np.arange(len(t)) / len(t)))), "wrong values"),
        (lambda t, lo, hi: _ks(t, 0.5, 12.5), "wrong values"),                # hard-coded range
        (lambda t, lo, hi: np.array([_ks(t, lo, hi)]), "single number"),
        (lambda t, lo, hi: 2 * _ks(t, lo, hi), "constant factor"),
    ],
}


test_right_answers_are_accepted, test_wrong_answers_are_rejected_with_their_message = answer_table_tests(RIGHT, WRONG)
