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

def moons_same_angles(n, rng):
    """Both moons from one draw of angles: each moon has the right law, but the two are not independent."""
    a = rng.uniform(0, np.pi, n - n // 2)
    return (SCALE * (_moons_raw(a[: n // 2], a) - CENTRE)).astype(np.float32)


def moons_shifted(n, rng):
    """The lower moon's angles are the upper's shifted by 0.3 (mod π): each uniform, the two tied."""
    a = rng.uniform(0, np.pi, n - n // 2)
    return (SCALE * (_moons_raw(a[: n // 2], np.mod(a + 0.3, np.pi)) - CENTRE)).astype(np.float32)


def circles_opposite(n, rng):
    """The inner circle's angles are the outer's + π."""
    a = rng.uniform(0, 2 * np.pi, n - n // 2)
    return np.concatenate([np.stack([np.cos(a[: n // 2]), np.sin(a[: n // 2])], 1),
                           0.5 * np.stack([np.cos(a + np.pi), np.sin(a + np.pi)], 1)]).astype(np.float32)


WRONG = [
    (data_check("moons"), moons_same_angles, "repeat each other's angles"),
    (data_check("moons"), moons_shifted, "repeat each other's angles"),
    (data_check("circles"), circles_opposite, "repeat each other's angles"),
    (data_check("moons"), lambda n, rng: moons(n, rng, draw=lambda m: np.radians(rng.integers(0, 181, m))),
     "whole degrees"),                                       # integer degrees
    (data_check("moons"), lambda n, rng: moons(n, rng, draw=lambda m: np.radians(5.0 * rng.integers(0, 37, m))),
     "as on a grid"),                                        # a 5° grid
    (data_check("moons"), lambda n, rng: moons(n, rng, draw=lambda m: np.round(rng.uniform(0, np.pi, m), 2)),
     "rounding"),
    (data_check("moons"), lambda n, rng: moons(n, rng, draw=lambda m: np.pi * rng.random(m) ** 1.15),
     "not uniform"),
    (data_check("moons"), lambda n, rng: (SCALE * (_moons_raw((a := rng.uniform(0, np.pi, n - n // 2))[: n // 2],
                                                              np.pi - a) - CENTRE)).astype(np.float32),
     "repeat each other's angles"),                          # the lower moon mirrors the upper one
    (data_check("moons"), lambda n, rng: moons(n, rng, draw=lambda m: rng.permutation(np.linspace(0, np.pi, m))),
     "evenly spaced"),
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
    # arrays that are not numbers, and a typo in the pattern's name: a message, never a traceback
    (data_check("moons"), lambda n, rng: np.zeros((n, 2), object), "float32 array of numbers"),
    (data_check("moons"), lambda n, rng: moons(n, rng).astype(str), "float32 array of numbers"),
    (data_check("moon"), moons, "the pattern must be one of"),
    (curve_check(moons, "moons"), lambda m: moons_curve(m).astype(object), "float numpy array"),
    (curve_check(lambda n, rng: moons(n, rng).astype(object), "moons"), moons_curve, "(n, 2) float array"),
    (curve_check(moons, "moon"), moons_curve, "the pattern must be one of"),
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


# ------------------------------------------------------------------ guidance exercises
import torch  # noqa: E402

from ddpm_lessons import patterns  # noqa: E402

RIGHT_GUIDED = [
    lambda c, u, w: (1 + w) * c - w * u,
    lambda c, u, w: c + w * (c - u),
    lambda c, u, w: torch.lerp(u, c, 1 + w),
    lambda c, u, w: c.mul(1 + w).sub(u, alpha=w),
    lambda c, u, w: torch.add((1.0 + w) * c, u, alpha=-w),
    lambda c, u, w: -(w * u - (w + 1) * c),
]


def _in_place(c, u, w):
    c.mul_(1 + w)
    return c.sub_(w * u)


WRONG_GUIDED = [
    (lambda c, u, w: w * c - (1 + w) * u, "swapped"),
    (lambda c, u, w: (1 + w) * c + w * u, "minus sign"),
    (lambda c, u, w: c - w * u, "1 + w, not 1"),
    (lambda c, u, w: (1 - w) * c + w * u, "interpolates"),
    (lambda c, u, w: (1 + w) * u - w * c, "roles"),
    (lambda c, u, w: c + (1 + w) * (c - u), "is w, not 1 + w"),
    (lambda c, u, w: u + w * (c - u), "guidance scale s = 1 + w"),
    (lambda c, u, w: w * (c - u), "add it to ε_c"),
    (_in_place, "in place"),
    (lambda c, u, w: ((1 + w) * c - w * u).detach(), "cut off"),
    (lambda c, u, w: ((1 + w) * c - w * u).detach().numpy(), "torch.Tensor"),
    (lambda c, u, w: None, "return"),
    (lambda c, u, w: (1 + w) * c - w * u + 1e-2, "wrong"),
    (lambda c, u, w: (1 + w ** 2) * c - w ** 2 * u, "wrong"),
]


@pytest.mark.parametrize("fn", RIGHT_GUIDED)
def test_right_guided_noise_is_accepted(fn):
    assert_accepted(fb.check_guided_noise, fn)


@pytest.mark.parametrize("fn,fragment", WRONG_GUIDED)
def test_wrong_guided_noise_is_rejected(fn, fragment):
    assert_rejected(fb.check_guided_noise, fn, fragment)


def _drop_where(labels, p, null_label, generator):
    return torch.where(torch.rand(labels.shape, generator=generator) < p, null_label, labels)


def _drop_bernoulli(labels, p, null_label, generator):
    mask = torch.bernoulli(torch.full(labels.shape, float(p)), generator=generator).bool()
    out = labels.clone()
    out[mask] = null_label
    return out


def _drop_masked_fill(labels, p, null_label, generator):
    u = torch.rand(len(labels), generator=generator)
    return labels.masked_fill(u < p, null_label)


def _drop_in_place(labels, p, null_label, generator):
    labels[torch.rand(labels.shape, generator=generator) < p] = null_label
    return labels


RIGHT_DROP = [
    _drop_where, _drop_bernoulli, _drop_masked_fill,
    lambda labels, p, null_label, generator: torch.where(
        torch.rand(labels.shape, generator=generator) >= p, labels, torch.full_like(labels, null_label)),
]
def _drop_first_k(labels, p, null_label, generator):
    out = labels.clone()
    out[: int((torch.rand(labels.shape, generator=generator) < p).sum())] = null_label
    return out


def _drop_by_groups(size):
    def drop(labels, p, null_label, generator):
        groups = torch.rand(-(-len(labels) // size), generator=generator) < p
        return torch.where(groups.repeat_interleave(size)[: len(labels)], null_label, labels)
    return drop


WRONG_DROP = [
    (_drop_first_k, "first k"),
    (lambda labels, p, null_label, generator: torch.where(
        torch.rand(labels.shape, generator=generator).sort().values < p, null_label, labels), "sorted"),
    (_drop_by_groups(2), "pairs or blocks"),
    (_drop_by_groups(100), "pairs or blocks"),
    (_drop_in_place, "in place"),
    (lambda labels, p, null_label, generator: torch.where(
        torch.rand(labels.shape, generator=generator) > p, null_label, labels), "kept with 1 − p"),
    (lambda labels, p, null_label, generator: torch.where(torch.rand(labels.shape) < p, null_label, labels),
     "generator"),
    (lambda labels, p, null_label, generator: labels.clone() if torch.rand(1, generator=generator) > p
     else torch.full_like(labels, null_label), "one random number per label"),
    (lambda labels, p, null_label, generator: (torch.rand(labels.shape, generator=generator) < p), "dtype"),
    (lambda labels, p, null_label, generator: _drop_where(labels, p, null_label, generator).numpy(), "torch tensor"),
    (lambda labels, p, null_label, generator: _drop_where(labels, p, 0, generator), "fixed label"),
    (lambda labels, p, null_label, generator: _drop_where(labels, p, 4, generator),   # the notebook's null label
     "you used a fixed label instead of the `null_label` argument"),
    (lambda labels, p, null_label, generator: _drop_where(labels, p, labels + 1, generator), "only replace"),
    (lambda labels, p, null_label, generator: _drop_where(labels, p / 2, null_label, generator), "expected"),
    (lambda labels, p, null_label, generator: _drop_where(labels, p, null_label, generator).float(), "dtype"),
    (lambda labels, p, null_label, generator: None, "return"),
    (lambda labels, p, null_label, generator: _drop_where(labels, p, null_label, torch.Generator().manual_seed(0)),
     "different seeds"),
]


@pytest.mark.parametrize("fn", RIGHT_DROP)
def test_right_label_dropout_is_accepted(fn):
    assert_accepted(fb.check_drop_labels, fn)


@pytest.mark.parametrize("fn,fragment", WRONG_DROP)
def test_wrong_label_dropout_is_rejected(fn, fragment):
    assert_rejected(fb.check_drop_labels, fn, fragment)


def _shares(points, names):
    d = np.stack([patterns.distance_to_pattern(name, points) for name in names])
    return np.bincount(d.argmin(axis=0), minlength=len(names)) / len(points)


def _shares_loop(points, names):
    counts = np.zeros(len(names))
    for q in points:
        counts[np.argmin([patterns.distance_to_pattern(name, q[None])[0] for name in names])] += 1
    return counts / counts.sum()


RIGHT_SHARES = [
    _shares, _shares_loop,
    lambda points, names: np.array([np.mean(np.stack([patterns.distance_to_pattern(n, points) for n in names]
                                                      ).argmin(0) == k) for k in range(len(names))]),
]
WRONG_SHARES = [
    (lambda p, n: _shares(p, n) * len(p), "counts"),
    (lambda p, n: np.bincount(np.stack([patterns.distance_to_pattern(k, p) for k in n]).argmax(0),
                              minlength=len(n)) / len(p), "nearest"),
    (lambda p, n: np.bincount(np.stack([patterns.distance_to_pattern(k, p) for k in n]).argmin(0)) / len(p),
     "minlength"),
    (lambda p, n: _shares(p, patterns.PATTERN_NAMES)[:len(n)], "order of `names`"),
    (lambda p, n: list(_shares(p, n)), "numpy array"),
    (lambda p, n: np.full(len(n), 1 / len(n)), "wrong"),
    (lambda p, n: None, "return"),
]


@pytest.mark.parametrize("fn", RIGHT_SHARES)
def test_right_shares_are_accepted(fn):
    assert_accepted(fb.check_pattern_shares, fn)


@pytest.mark.parametrize("fn,fragment", WRONG_SHARES)
def test_wrong_shares_are_rejected(fn, fragment):
    assert_rejected(fb.check_pattern_shares, fn, fragment)
