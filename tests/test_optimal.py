"""Tests for ddpm_lessons.optimal (chapter 7): distances, the optimal path, coverage."""
from __future__ import annotations

import math

import numpy as np
import pytest

from ddpm_lessons.closest_point import closest_points
from ddpm_lessons.optimal import (
    coverage_ks,
    kolmogorov_cdf,
    ks_floor,
    ks_statistic_uniform,
    mean_distance,
    mean_distance_per_step,
    optimal_denoising_path,
)
from ddpm_lessons.spiral import T_MAX, T_MIN, make_spiral, spiral_curve, spiral_curve_derivatives


# --- distances and the optimal path ---------------------------------------


def offset_points(t: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """p(t) moved by ``offset`` along the unit normal; its distance to the curve is |offset|."""
    velocity = spiral_curve_derivatives(t)[0]
    normal = np.stack([-velocity[..., 1], velocity[..., 0]], axis=-1)
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
    return spiral_curve(t) + offset[..., None] * normal


def test_mean_distance_of_known_offsets() -> None:
    rng = np.random.default_rng(11)
    t = rng.uniform(T_MIN + 0.5, T_MAX - 0.5, 1000)
    offset = rng.uniform(-0.2, 0.2, 1000)  # arms are 0.5 apart; curvature radius > 0.37
    expected = np.mean(np.abs(offset))
    assert mean_distance(offset_points(t, offset)) == pytest.approx(expected, abs=1e-12)
    assert mean_distance(spiral_curve(t)) < 1e-12


def test_mean_distance_per_step_of_a_known_trajectory() -> None:
    rng = np.random.default_rng(12)
    t = rng.uniform(T_MIN + 0.5, T_MAX - 0.5, 300)
    sign = rng.choice([-1.0, 1.0], 300)
    known = np.array([0.2, 0.15, 0.1, 0.05, 0.02, 0.0])  # mean distance at each step
    trajectory = offset_points(t[None, :], known[:, None] * sign[None, :])
    per_step = mean_distance_per_step(trajectory)
    assert per_step.shape == (6,)
    np.testing.assert_allclose(per_step, known, atol=1e-12)


def test_mean_distance_per_step_rejects_wrong_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(T \+ 1, n, 2\).*got shape \(5, 2\)"):
        mean_distance_per_step(np.zeros((5, 2)))
    with pytest.raises(ValueError, match="finite"):
        mean_distance_per_step(np.full((2, 3, 2), np.nan))


def test_optimal_path_ends_and_linearity() -> None:
    x_T = np.random.default_rng(13).standard_normal((500, 2))
    path = optimal_denoising_path(x_T, 10)
    assert path.shape == (11, 500, 2)
    np.testing.assert_array_equal(path[0], x_T)
    _, closest, distance = closest_points(x_T)
    np.testing.assert_array_equal(path[-1], closest)
    np.testing.assert_allclose(path[5], 0.5 * (path[0] + path[-1]), atol=1e-15)
    steps = np.diff(path, axis=0)
    np.testing.assert_allclose(steps, np.broadcast_to(steps[0], steps.shape), atol=1e-14)
    # Along the shortest segment the closest point stays the same, so the
    # distance to the curve falls linearly to 0.
    expected = (1 - np.arange(11) / 10) * distance.mean()
    np.testing.assert_allclose(mean_distance_per_step(path), expected, atol=1e-9)


def test_optimal_path_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="n_steps must be an integer >= 1, got 0"):
        optimal_denoising_path(np.zeros((3, 2)), 0)
    with pytest.raises(ValueError, match=r"x_T must have shape"):
        optimal_denoising_path(np.zeros((3, 3)), 5)


# --- coverage: Kolmogorov–Smirnov -----------------------------------------


def ks_by_brute_force(samples: np.ndarray, low: float, high: float) -> float:
    """sup |F_n − F| evaluated at every sample (both one-sided limits) and a fine grid."""
    x = np.concatenate([samples, np.linspace(low - 1, high + 1, 20_001)])
    cdf = np.clip((x - low) / (high - low), 0, 1)
    at_or_below = np.mean(samples[None, :] <= x[:, None], axis=1)
    strictly_below = np.mean(samples[None, :] < x[:, None], axis=1)
    return float(max(np.max(np.abs(at_or_below - cdf)), np.max(np.abs(strictly_below - cdf))))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ks_statistic_equals_brute_force_sup(seed: int) -> None:
    rng = np.random.default_rng(seed)
    uniform = rng.uniform(T_MIN, T_MAX, 150)
    skewed = T_MIN + (T_MAX - T_MIN) * rng.beta(2.0, 5.0, 150)
    for samples in (uniform, skewed):
        assert ks_statistic_uniform(samples, T_MIN, T_MAX) == pytest.approx(
            ks_by_brute_force(samples, T_MIN, T_MAX), abs=1e-12
        )


def test_ks_statistic_small_cases() -> None:
    assert ks_statistic_uniform(np.array([0.5]), 0.0, 1.0) == pytest.approx(0.5)
    assert ks_statistic_uniform(np.array([0.25, 0.75]), 0.0, 1.0) == pytest.approx(0.25)
    assert ks_statistic_uniform(np.array([-3.0, 7.0]), 0.0, 1.0) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="at least one value"):
        ks_statistic_uniform(np.array([]), 0.0, 1.0)
    with pytest.raises(ValueError, match="low < high"):
        ks_statistic_uniform(np.array([0.5]), 1.0, 0.0)


def test_ks_statistic_matches_scipy() -> None:
    stats = pytest.importorskip("scipy.stats")
    samples = np.random.default_rng(14).uniform(T_MIN, T_MAX, 400) ** 1.01
    expected = stats.kstest(samples, stats.uniform(loc=T_MIN, scale=T_MAX - T_MIN).cdf).statistic
    assert ks_statistic_uniform(samples, T_MIN, T_MAX) == pytest.approx(expected, abs=1e-12)


def test_kolmogorov_distribution_quantiles() -> None:
    assert kolmogorov_cdf(0.8275735) == pytest.approx(0.5, abs=1e-6)
    assert kolmogorov_cdf(1.3580986) == pytest.approx(0.95, abs=1e-6)
    assert kolmogorov_cdf(1.2238479) == pytest.approx(0.90, abs=1e-6)
    assert kolmogorov_cdf(0.0) == 0.0
    # The two series agree where they switch.
    assert kolmogorov_cdf(1.0 - 1e-12) == pytest.approx(kolmogorov_cdf(1.0), abs=1e-10)
    assert ks_floor(1) == pytest.approx(0.8275735, abs=1e-6)
    assert ks_floor(1000) == pytest.approx(0.8275735 / math.sqrt(1000), rel=1e-6)
    assert ks_floor(1000, 0.95) == pytest.approx(0.0429468, abs=1e-6)
    with pytest.raises(ValueError, match="quantile must be in"):
        ks_floor(10, 1.0)
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        ks_floor(0)


def test_true_samples_sit_at_the_ks_floor() -> None:
    rng = np.random.default_rng(15)
    scores, scores_from_t = [], []
    for _ in range(200):
        points, t = make_spiral(1000, rng, return_t=True)
        scores.append(coverage_ks(points))
        scores_from_t.append(ks_statistic_uniform(t, T_MIN, T_MAX))
    scores = np.array(scores)
    # t* of the float32 points is t itself, so the score is that of the true t.
    np.testing.assert_allclose(scores, scores_from_t, atol=1e-6)
    assert 0.02 < np.median(scores) < 0.03
    assert np.median(scores) == pytest.approx(ks_floor(1000), rel=0.12)
    assert 0.01 < np.mean(scores > ks_floor(1000, 0.95)) < 0.12


def test_projected_gaussian_noise_covers_the_spiral_badly() -> None:
    score = coverage_ks(np.random.default_rng(0).standard_normal((1000, 2)))
    assert score == pytest.approx(0.2020, abs=5e-4)
    assert score > 7 * ks_floor(1000)
    # The law of t* under N(0, I) is off by about 0.199 (10⁵ points).
    population = coverage_ks(np.random.default_rng(16).standard_normal((100_000, 2)))
    assert population == pytest.approx(0.199, abs=0.005)


def test_coverage_rejects_empty_input() -> None:
    with pytest.raises(ValueError, match="at least one point"):
        coverage_ks(np.zeros((0, 2)))
    with pytest.raises(ValueError, match="at least one point"):
        mean_distance(np.zeros((0, 2)))
