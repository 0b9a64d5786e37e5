"""Chapter 2: the spiral data, eq. (2.1)-(2.2)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import Z_TOL
from ddpm_lessons import spiral
from ddpm_lessons.spiral import (make_spiral, normalise, spiral_curve, spiral_curve_derivatives,
                                 spiral_curve_with_derivatives,
                                 unnormalise)


def curve_by_hand(t: float) -> tuple[float, float]:
    """(t cos t, t sin t) / (4π) - 1/8 with math only."""
    return t * math.cos(t) / (4 * math.pi) - 0.125, t * math.sin(t) / (4 * math.pi) - 0.125


def newton_extremum(g, dg, t0: float) -> float:
    """Root of g (a derivative) near t0 by Newton's method."""
    t = t0
    for _ in range(50):
        t -= g(t) / dg(t)
    return t


def test_normalisation_constants():
    assert spiral.SCALE == pytest.approx(1 / (4 * math.pi), rel=1e-15)
    assert spiral.SHIFT == pytest.approx(-1 / 8, abs=1e-15)
    assert (spiral.T_MIN, spiral.T_MAX) == (1.5 * math.pi, 4.5 * math.pi)
    # The fixed map sends -3.5π to -1 and 4.5π to 1.
    np.testing.assert_allclose(normalise([-3.5 * math.pi, 4.5 * math.pi]), [-1.0, 1.0], atol=1e-15)


def test_normalise_unnormalise_round_trip():
    u = np.random.default_rng(0).uniform(-20, 20, (50, 2))
    np.testing.assert_allclose(unnormalise(normalise(u)), u, rtol=1e-14, atol=1e-13)
    np.testing.assert_allclose(normalise(u), u / (4 * math.pi) - 0.125, rtol=1e-14, atol=1e-15)


def test_actual_range_of_the_curve_and_the_data():
    # y = t sin t is largest at the end t = 4.5π (value exactly 4.5π → +1); its minimum is at the
    # root of d/dt(t sin t) = sin t + t cos t just after 3.5π, slightly below -3.5π.
    t_ymin = newton_extremum(lambda t: math.sin(t) + t * math.cos(t),
                             lambda t: 2 * math.cos(t) - t * math.sin(t), 3.5 * math.pi)
    y_min = curve_by_hand(t_ymin)[1]
    # x = t cos t: extremes at roots of cos t - t sin t near 3π (minimum) and 4π (maximum).
    d = (lambda t: math.cos(t) - t * math.sin(t), lambda t: -2 * math.sin(t) - t * math.cos(t))
    x_min = curve_by_hand(newton_extremum(*d, 3 * math.pi))[0]
    x_max = curve_by_hand(newton_extremum(*d, 4 * math.pi))[0]
    assert y_min == pytest.approx(-1.0036, abs=1e-4)       # a sliver below -1
    assert curve_by_hand(4.5 * math.pi)[1] == pytest.approx(1.0, abs=1e-15)
    assert (x_min, x_max) == pytest.approx((-0.8792, 0.8781), abs=1e-4)

    points = make_spiral(200_000, np.random.default_rng(3))
    assert points.shape == (200_000, 2) and points.dtype == np.float32
    eps = 1e-6                                              # float32 rounding
    assert points[:, 1].min() >= y_min - eps and points[:, 1].max() <= 1.0 + eps
    assert points[:, 0].min() >= x_min - eps and points[:, 0].max() <= x_max + eps
    # With 200 000 points the sample comes within 1e-3 of every extreme.
    assert points[:, 1].min() < y_min + 1e-3 and points[:, 1].max() > 1.0 - 1e-3
    assert points[:, 0].min() < x_min + 1e-3 and points[:, 0].max() > x_max - 1e-3


def test_points_lie_on_the_curve_at_their_parameter():
    points, t = make_spiral(500, np.random.default_rng(4), return_t=True)
    assert t.shape == (500,)
    assert t.min() >= spiral.T_MIN and t.max() <= spiral.T_MAX
    expected = np.array([curve_by_hand(float(ti)) for ti in t])
    np.testing.assert_allclose(points, expected, atol=2e-7)          # float32 storage
    np.testing.assert_allclose(spiral_curve(t), expected, atol=1e-15)


def test_parameter_is_uniform():
    _, t = make_spiral(100_000, np.random.default_rng(5), return_t=True)
    a, b = spiral.T_MIN, spiral.T_MAX
    n = t.size
    assert abs(t.mean() - (a + b) / 2) < Z_TOL * (b - a) / math.sqrt(12 * n)
    # Each third of the range holds a third of the points.
    counts = np.histogram(t, bins=3, range=(a, b))[0] / n
    assert np.all(np.abs(counts - 1 / 3) < Z_TOL * math.sqrt(2 / 9 / n))


def test_seeded_reproducibility():
    a = make_spiral(10, np.random.default_rng(9))
    b = make_spiral(10, np.random.default_rng(9))
    c = make_spiral(10, np.random.default_rng(10))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_curve_shape_for_arrays():
    t = np.linspace(5, 14, 12).reshape(3, 4)
    assert spiral_curve(t).shape == (3, 4, 2)
    assert spiral_curve(7.0).shape == (2,)


def test_derivatives_match_finite_differences():
    t = np.linspace(spiral.T_MIN, spiral.T_MAX, 37)
    h = 1e-5
    d1, d2 = spiral_curve_derivatives(t)
    fd1 = (spiral_curve(t + h) - spiral_curve(t - h)) / (2 * h)
    fd2 = (spiral_curve(t + h) - 2 * spiral_curve(t) + spiral_curve(t - h)) / h**2
    np.testing.assert_allclose(d1, fd1, atol=1e-9)
    np.testing.assert_allclose(d2, fd2, atol=1e-4)
    # And at one point by hand: d/dt (t cos t)/(4π) = (cos t - t sin t)/(4π).
    t0 = 2.0 * math.pi
    assert d1[0].shape == (2,)
    np.testing.assert_allclose(spiral_curve_derivatives(t0)[0],
                               [1 / (4 * math.pi), 2 * math.pi / (4 * math.pi)], atol=1e-15)


def test_coordinates_first_layout_holds_the_same_numbers():
    t = np.random.default_rng(3).uniform(spiral.T_MIN, spiral.T_MAX, (4, 5))
    last = spiral_curve_with_derivatives(t)
    first = spiral_curve_with_derivatives(t, axis=0)
    for a, b in zip(last, first):
        assert a.shape == (4, 5, 2) and b.shape == (2, 4, 5)
        np.testing.assert_array_equal(np.moveaxis(b, 0, -1), a)
    # the curve by hand, eq. (2.1)-(2.2): s·(t cos t, t sin t) + c with s = 1/(4π), c = -1/8
    np.testing.assert_allclose(last[0][..., 0], t * np.cos(t) / (4 * math.pi) - 0.125, atol=1e-15)
    np.testing.assert_allclose(last[0][..., 1], t * np.sin(t) / (4 * math.pi) - 0.125, atol=1e-15)


@pytest.mark.parametrize("noise", [0.01, 0.1])
def test_noise_standard_deviation(noise):
    n = 100_000
    points, t = make_spiral(n, np.random.default_rng(6), noise=noise, return_t=True)
    residual = points.astype(np.float64) - np.stack([t * np.cos(t), t * np.sin(t)], -1) / (4 * np.pi) + 0.125
    m = residual.size
    assert abs(residual.mean()) < Z_TOL * noise / math.sqrt(m)
    # SE of a sample sd ≈ σ/√(2m); float32 storage adds < 1e-7.
    assert abs(residual.std(ddof=1) - noise) < Z_TOL * noise / math.sqrt(2 * m) + 1e-7
    assert abs(np.corrcoef(residual[:, 0], residual[:, 1])[0, 1]) < Z_TOL / math.sqrt(n)


def test_zero_noise_is_exactly_on_curve():
    points, t = make_spiral(100, np.random.default_rng(1), noise=0.0, return_t=True)
    np.testing.assert_array_equal(points, spiral_curve(t).astype(np.float32))


@pytest.mark.parametrize("n", [0, -5, 2.5, True, "10", None])
def test_invalid_n(n):
    with pytest.raises(ValueError, match="n must be an integer >= 1, got"):
        make_spiral(n, np.random.default_rng(0))


@pytest.mark.parametrize("noise", [-0.1, float("nan"), float("inf")])
def test_invalid_noise(noise):
    with pytest.raises(ValueError, match="noise must be a finite standard deviation >= 0, got"):
        make_spiral(10, np.random.default_rng(0), noise=noise)


def test_numpy_integer_n_and_default_rng():
    assert make_spiral(np.int64(3), np.random.default_rng(0)).shape == (3, 2)
    assert make_spiral(4).shape == (4, 2)
