"""Stretch-exercise checks: the law of the generated points, the curve, and the coverage yardstick."""
from __future__ import annotations

import numpy as np
import pytest

from ddpm_lessons import feedback as fb
from feedback_harness import assert_accepted, assert_rejected

CENTRE, SCALE = np.array([0.5, 0.25]), 2.0 / 3.0


def _moons_raw(upper, lower):
    return np.concatenate([np.stack([np.cos(upper), np.sin(upper)], 1),
                           np.stack([1 - np.cos(lower), 0.5 - np.sin(lower)], 1)])


def moons(n, rng, split=None, angle=np.pi, centre=CENTRE, scale=SCALE, dtype=np.float32, draw=None):
    k = n // 2 if split is None else split(n)
    draw = draw or (lambda m: rng.uniform(0, angle, m))
    return (scale * (_moons_raw(draw(k), draw(n - k)) - centre)).astype(dtype)


def moons_per_axis(n, rng):
    raw = _moons_raw(rng.uniform(0, np.pi, n // 2), rng.uniform(0, np.pi, n - n // 2))
    lo, hi = raw.min(0), raw.max(0)
    return (2 * (raw - lo) / (hi - lo) - 1).astype(np.float32)


def moons_curve(m, uneven=False, shuffle=False):
    k = m // 2
    if uneven:
        k = m // 3
    pts = SCALE * (_moons_raw(np.linspace(0, np.pi, k), np.linspace(0, np.pi, m - k)) - CENTRE)
    if shuffle:
        pts = pts[np.random.default_rng(0).permutation(m)]
    return pts


def circles(n, rng, split=None, dtype=np.float32, degrees=False):
    k = n // 2 if split is None else split(n)
    top = 360.0 if degrees else 2 * np.pi
    a, b = rng.uniform(0, top, k), rng.uniform(0, top, n - k)
    if degrees:
        a, b = np.radians(a) * 0.5, np.radians(b) * 0.5   # a learner's mix-up: half the circle
    return np.concatenate([np.stack([np.cos(a), np.sin(a)], 1),
                           0.5 * np.stack([np.cos(b), np.sin(b)], 1)]).astype(dtype)


def circles_curve(m, by_length=False):
    k = 2 * m // 3 if by_length else m // 2
    a, b = np.linspace(0, 2 * np.pi, k), np.linspace(0, 2 * np.pi, m - k)
    return np.concatenate([np.stack([np.cos(a), np.sin(a)], 1), 0.5 * np.stack([np.cos(b), np.sin(b)], 1)])


def data_check(name):
    return lambda fn, seed=None: fb.check_pattern_data(fn, name, seed=seed)


def curve_check(data_fn, name):
    return lambda fn, seed=None: fb.check_pattern_curve(data_fn, fn, name, seed=seed)


RIGHT = [
    (data_check("moons"), moons),
    (data_check("moons"), lambda n, rng: moons(n, rng, split=lambda n: n - n // 2)),
    (data_check("moons"), lambda n, rng: moons(n, rng)[::-1].copy()),
    (data_check("circles"), circles),
    (data_check("circles"), lambda n, rng: circles(n, rng, split=lambda n: (n + 1) // 2)),
    (curve_check(moons, "moons"), moons_curve),
    (curve_check(moons, "moons"), lambda m: moons_curve(m)[::-1].copy()),
    (curve_check(circles, "circles"), circles_curve),
    (curve_check(circles, "circles"), lambda m: circles_curve(m)[::-1].copy()),
]

WRONG = [
    (data_check("moons"), moons_per_axis, "one affine map"),
    (data_check("moons"), lambda n, rng: moons(n, rng, centre=np.array([0.5, 0.5])), "centre"),
    (data_check("moons"), lambda n, rng: moons(n, rng, scale=0.5), "not on the moons"),
    (data_check("moons"), lambda n, rng: moons(n, rng, angle=180.0), "radians"),
    (data_check("moons"), lambda n, rng: moons(n, rng, split=lambda n: n // 3), "half of them"),
    (data_check("moons"), lambda n, rng: moons(n, rng, draw=lambda m: np.pi * rng.beta(2, 2, m)), "not uniform"),
    (data_check("moons"), lambda n, rng: moons(n, rng, dtype=np.float64), "float32"),
    (data_check("moons"), lambda n, rng: moons(n, np.random.default_rng()), "same seed"),
    (data_check("moons"), lambda n, rng: moons(n - n % 2, rng), "remainder"),
    (data_check("moons"), lambda n, rng: list(moons(n, rng)), "numpy array"),
    (data_check("circles"), lambda n, rng: circles(n, rng, degrees=True), "not uniform"),
    (data_check("circles"), lambda n, rng: circles(n, rng, split=lambda n: 2 * n // 3), "half of them"),
    (data_check("circles"), lambda n, rng: 0.9 * circles(n, rng), "not on the circles"),
    (curve_check(moons, "moons"), lambda m: moons_curve(m, shuffle=True), "not ordered"),
    (curve_check(moons, "moons"), lambda m: moons_curve(m, uneven=True), "unevenly"),
    (curve_check(moons, "moons"), lambda m: moons_curve(m - 1), "shape"),
    (curve_check(moons, "moons"), lambda m: 2 * moons_curve(m), "not on the moons"),
    (curve_check(circles, "circles"), lambda m: circles_curve(m, by_length=True), "unevenly"),
    (curve_check(circles, "circles"), lambda m: None, "return"),
]


def _coverage(points, curve):
    d = np.linalg.norm(points[:, None, :] - curve[None, :, :], axis=-1)
    u = np.sort(d.argmin(1) / (len(curve) - 1))
    n = len(u)
    i = np.arange(1, n + 1)
    return float(max(np.max(i / n - u), np.max(u - (i - 1) / n)))


RIGHT_COVERAGE = [_coverage, lambda p, c: fb.ch10.ks_statistic_uniform(
    np.array([np.argmin(((c - x) ** 2).sum(1)) for x in p]) / (len(c) - 1), 0.0, 1.0)]
WRONG_COVERAGE = [
    (lambda p, c: fb.ch10.ks_statistic_uniform(np.linalg.norm(p[:, None] - c[None], axis=-1).argmin(1) / len(c), 0, 1), "k / (m - 1)"),
    (lambda p, c: fb.ch10.ks_statistic_uniform(np.clip(np.linalg.norm(p[:, None] - c[None], axis=-1).min(1), 0, 1), 0, 1), "where"),
    (lambda p, c: fb.ch10.ks_statistic_uniform(np.linalg.norm(p[:, None] - c[None], axis=-1).argmin(0) / (len(p) - 1), 0, 1), "wrong values"),
    (lambda p, c: 1 - _coverage(p, c), "wrong values"),
    (lambda p, c: np.array([_coverage(p, c)]), "single number"),
    (lambda p, c: 2 * _coverage(p, c), "constant factor"),
    (lambda p, c: _coverage(p, c) ** 2, "squares"),
    (lambda p, c: None, "return"),
]


@pytest.mark.parametrize("check,fn", RIGHT)
def test_right_patterns_are_accepted(check, fn):
    assert_accepted(check, fn, seeds=(0, 1))


@pytest.mark.parametrize("check,fn,fragment", WRONG)
def test_wrong_patterns_are_rejected_with_their_message(check, fn, fragment):
    assert_rejected(check, fn, fragment)


@pytest.mark.parametrize("fn", RIGHT_COVERAGE)
def test_right_coverage_is_accepted(fn):
    assert_accepted(fb.check_curve_coverage, fn)


@pytest.mark.parametrize("fn,fragment", WRONG_COVERAGE)
def test_wrong_coverage_is_rejected(fn, fragment):
    assert_rejected(fb.check_curve_coverage, fn, fragment)
