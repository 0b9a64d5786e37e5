"""Tests for ddpm_lessons.closest_point (chapter 7): the closest point on the spiral,
against the dense brute force of tests/oracles.py."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oracles import brute_force_closest_t

from ddpm_lessons.closest_point import (
    closest_point_t,
    closest_points,
    newton_refine,
    squared_distance_derivatives,
)
from ddpm_lessons.spiral import (
    SHIFT,
    T_MAX,
    T_MIN,
    make_spiral,
    spiral_curve,
    spiral_curve_derivatives,
)

CENTRE = np.array([SHIFT, SHIFT])


def distance_to(points: np.ndarray, t: np.ndarray) -> np.ndarray:
    """|p(t) − q|, computed directly from the curve."""
    return np.linalg.norm(spiral_curve(t) - points, axis=-1)


def assert_matches_brute_force(points: np.ndarray) -> None:
    """Distances agree with the dense brute force to 1e-6 and are never worse (1e-9);
    t agrees to 1e-6 except where two minima tie."""
    t_star, _, distance = closest_points(points)
    t_brute = brute_force_closest_t(points)
    distance_brute = distance_to(points, t_brute)
    assert np.all(distance <= distance_brute + 1e-9)
    assert np.max(distance_brute - distance) < 1e-6
    t_differs = np.abs(t_star - t_brute) > 1e-6
    assert np.all(np.abs(distance - distance_brute)[t_differs] < 1e-9)
    assert np.mean(t_differs) < 0.002


# --- closest point --------------------------------------------------------


def test_distance_derivatives_match_the_curve_and_finite_differences() -> None:
    rng = np.random.default_rng(0)
    points = rng.uniform(-1.5, 1.5, (500, 2))
    t = rng.uniform(T_MIN, T_MAX, 500)
    value, slope, curvature = squared_distance_derivatives(points, t)
    np.testing.assert_allclose(value, distance_to(points, t) ** 2, rtol=1e-12)
    h = 1e-5
    plus = squared_distance_derivatives(points, t + h)
    minus = squared_distance_derivatives(points, t - h)
    np.testing.assert_allclose(slope, (plus[0] - minus[0]) / (2 * h), atol=1e-7)  # eq. (7.2)
    np.testing.assert_allclose(curvature, (plus[1] - minus[1]) / (2 * h), atol=1e-7)  # eq. (7.3)


def test_brute_force_baseline_against_a_million_grid_values() -> None:
    points = np.random.default_rng(1).uniform(-1.5, 1.5, (24, 2))
    curve = spiral_curve(np.linspace(T_MIN, T_MAX, 1_000_001))
    # |p − q|² = |q|² + (q_x, q_y, 1) · (−2 p_x, −2 p_y, |p|²)
    curve_terms = np.stack([-2.0 * curve[:, 0], -2.0 * curve[:, 1], np.sum(curve**2, axis=1)])
    rows = np.concatenate([points, np.ones((len(points), 1))], axis=1)
    squared = np.min(rows @ curve_terms, axis=1) + np.sum(points**2, axis=1)
    dense = np.sqrt(np.maximum(squared, 0.0))
    baseline = distance_to(points, brute_force_closest_t(points))
    solver = closest_points(points)[2]
    # The 10⁶ grid has a value within |p'|·h/2 ≈ 5e-6 of the minimum along the
    # curve, so its distance is too large by at most that, and far less here.
    assert np.all(baseline <= dense + 1e-12)
    assert np.all(solver <= dense + 1e-12)
    assert np.max(dense - baseline) < 1e-6
    assert np.max(dense - solver) < 1e-6
    np.testing.assert_allclose(solver, baseline, atol=1e-12)


def test_matches_dense_brute_force_on_uniform_points() -> None:
    points = np.random.default_rng(2).uniform(-1.5, 1.5, (3000, 2))
    assert_matches_brute_force(points)


def test_matches_dense_brute_force_near_the_middle() -> None:
    rng = np.random.default_rng(3)
    near_origin = rng.uniform(-0.15, 0.15, (800, 2))
    near_centre = CENTRE + rng.uniform(-0.15, 0.15, (800, 2))
    # Where the end T_MIN and a minimum just after it compete (see the fallback tests).
    near_inner_end = np.array([-0.045, -0.125]) + rng.uniform(-0.06, 0.06, (800, 2))
    assert_matches_brute_force(np.concatenate([near_origin, near_centre, near_inner_end]))


def test_matches_dense_brute_force_far_away() -> None:
    rng = np.random.default_rng(4)
    angle = rng.uniform(0, 2 * np.pi, 600)
    radius = rng.uniform(2.0, 100.0, 600)
    points = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    assert_matches_brute_force(points)


def test_points_on_the_curve_are_recovered() -> None:
    t = np.concatenate([[T_MIN, T_MAX], np.random.default_rng(5).uniform(T_MIN, T_MAX, 2000)])
    t_star, closest, distance = closest_points(spiral_curve(t))
    assert np.max(np.abs(t_star - t)) < 1e-9
    assert np.max(distance) < 1e-12
    np.testing.assert_allclose(closest, spiral_curve(t), atol=1e-12)
    assert t_star[0] == T_MIN and t_star[1] == T_MAX


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(T_MIN, T_MAX, allow_nan=False), min_size=1, max_size=50))
def test_property_on_curve_points_give_back_their_t(t_values: list[float]) -> None:
    t = np.array(t_values)
    t_star, _, distance = closest_points(spiral_curve(t))
    assert np.all((T_MIN <= t_star) & (t_star <= T_MAX))
    assert np.max(np.abs(t_star - t)) < 1e-6
    assert np.max(distance) < 1e-9


def test_float32_spiral_samples_are_recovered() -> None:
    points, t = make_spiral(5000, np.random.default_rng(6), return_t=True)
    t_star, _, distance = closest_points(points)
    assert np.max(np.abs(t_star - t)) < 1e-5  # float32 rounding of the points
    assert np.max(distance) < 1e-6


def test_newton_beats_or_ties_the_grid_seed() -> None:
    points = np.random.default_rng(7).standard_normal((5000, 2))
    grid = np.linspace(T_MIN, T_MAX, 128)
    grid_best = np.min(np.linalg.norm(spiral_curve(grid)[None] - points[:, None], axis=-1), axis=1)
    distance = closest_points(points, n_grid=128)[2]
    assert np.all(distance <= grid_best + 1e-15)
    assert np.mean(distance < grid_best - 1e-6) > 0.8  # strictly, unless the minimum is an end


def test_minimum_at_either_end() -> None:
    velocity = spiral_curve_derivatives(np.array([T_MIN, T_MAX]))[0]
    tangent = velocity / np.linalg.norm(velocity, axis=1, keepdims=True)
    # Beyond each end along the tangent: the end itself is the closest point.
    beyond = spiral_curve(np.array([T_MIN, T_MAX])) + np.array([[-0.1], [0.3]]) * tangent
    t_star = closest_point_t(beyond)
    assert t_star[0] == T_MIN
    assert t_star[1] == T_MAX


def test_fallback_when_curvature_is_negative_at_the_seed() -> None:
    # Raw point (0, 0.6): above the spiral's origin, opposite the inner end
    # p(T_MIN) = (0, −T_MIN) in raw coordinates.
    point = CENTRE + np.array([0.0, 0.6]) / (4 * np.pi)
    grid = np.linspace(T_MIN, T_MAX, 128)
    seed = grid[np.argmin(distance_to(point, grid))]
    value, slope, curvature = squared_distance_derivatives(point, seed)
    assert seed == T_MIN
    assert slope > 0 and curvature < 0  # D rises from the end but bends down: D'' < 0
    newton = seed - slope / curvature  # eq. (7.3) would step to larger t ...
    assert newton > seed
    assert squared_distance_derivatives(point, newton)[0] > value  # ... and uphill.
    t_star = closest_point_t(point)
    t_brute = brute_force_closest_t(point)
    assert abs(distance_to(point, t_star) - distance_to(point, t_brute)) < 1e-9
    assert distance_to(point, t_star) <= distance_to(point, t_brute) + 1e-12


@pytest.mark.parametrize("n_grid", [16, 32, 64, 128, 1000])
def test_minimum_hiding_next_to_the_inner_end(n_grid: int) -> None:
    # D rises from T_MIN (D' > 0, D'' < 0), peaks at t ≈ 4.7255 and falls to a
    # lower minimum at t ≈ 4.7915: both inside the first cell of most grids.
    point = np.array([-0.04797917, -0.13683705])
    value, slope, curvature = squared_distance_derivatives(point, T_MIN)
    assert slope > 0 and curvature < 0
    t_star = closest_point_t(point, n_grid=n_grid)
    assert t_star == pytest.approx(4.7915148, abs=1e-6)
    assert distance_to(point, t_star) == pytest.approx(0.3712387144, abs=1e-10)
    assert distance_to(point, t_star) < math.sqrt(value) - 1e-6  # the end loses


def test_fallback_from_a_local_maximum_seed() -> None:
    # A point beyond the centre of curvature of p(t0): t0 is a local maximum of D.
    t0 = 9.0
    (velocity,), (acceleration,) = spiral_curve_derivatives(np.array([t0]))
    speed = np.linalg.norm(velocity)
    normal = np.array([-velocity[1], velocity[0]]) / speed
    radius = speed**3 / (velocity[0] * acceleration[1] - velocity[1] * acceleration[0])
    point = spiral_curve(t0) + 1.5 * radius * normal
    value, slope, curvature = squared_distance_derivatives(point, t0)
    assert abs(slope) < 1e-12 and curvature < 0  # a pure Newton step would stay put
    t_new, value_new = newton_refine(
        point[None], np.array([t0]), np.array([t0 - 0.05]), np.array([t0 + 0.05])
    )
    assert value_new[0] < value - 1e-6
    # D falls from t0 to both ends of the bracket: the guarded steps reach one of them.
    assert min(abs(t_new[0] - (t0 - 0.05)), abs(t_new[0] - (t0 + 0.05))) < 1e-9
    assert value_new[0] == pytest.approx(distance_to(point, t_new[0]) ** 2, abs=1e-15)


def test_pure_bisection_still_finds_the_minimum() -> None:
    # With every Newton step refused, the guarded iteration only bisects.
    points = np.random.default_rng(8).uniform(-1.5, 1.5, (500, 2))
    t_newton = closest_point_t(points)
    t_bisect = closest_point_t(points, n_newton=80, min_curvature=1e9)
    np.testing.assert_allclose(
        distance_to(points, t_bisect), distance_to(points, t_newton), atol=1e-9
    )


def test_coarse_grid_still_exact() -> None:
    points = np.random.default_rng(9).uniform(-1.5, 1.5, (1000, 2))
    np.testing.assert_allclose(
        distance_to(points, closest_point_t(points, n_grid=32)),
        distance_to(points, closest_point_t(points)),
        atol=1e-12,
    )


@pytest.mark.parametrize("shape", [(2,), (7, 2), (4, 25, 2), (3, 2, 5, 2), (0, 2)])
def test_any_leading_shape(shape: tuple[int, ...]) -> None:
    points = np.random.default_rng(10).uniform(-1, 1, shape)
    t_star, closest, distance = closest_points(points)
    assert t_star.shape == shape[:-1]
    assert closest.shape == shape
    assert distance.shape == shape[:-1]
    flat = closest_point_t(points.reshape(-1, 2))
    np.testing.assert_array_equal(t_star.reshape(-1), flat)


def test_accepts_float32_and_lists() -> None:
    points = [[0.1, 0.2], [-0.3, 0.4]]
    np.testing.assert_allclose(
        closest_point_t(np.array(points, dtype=np.float32)),
        closest_point_t(np.array(points, dtype=np.float32).astype(np.float64)),
    )
    assert closest_point_t(points).shape == (2,)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_points_are_rejected(bad: float) -> None:
    points = np.zeros((3, 2))
    points[1, 0] = bad
    with pytest.raises(ValueError, match=r"must be finite, got 1 NaN or infinite"):
        closest_point_t(points)


@pytest.mark.parametrize("shape", [(3,), (4, 3), (2, 1), ()])
def test_wrong_shape_is_rejected(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 2\).*got shape"):
        closest_point_t(np.zeros(shape))


def test_bad_solver_options_are_rejected() -> None:
    with pytest.raises(ValueError, match="n_grid must be an integer >= 3, got 2"):
        closest_point_t(np.zeros((1, 2)), n_grid=2)
    with pytest.raises(ValueError, match="n_newton must be an integer >= 0"):
        closest_point_t(np.zeros((1, 2)), n_newton=-1)
    with pytest.raises(ValueError, match="min_curvature must be >= 0"):
        closest_point_t(np.zeros((1, 2)), min_curvature=-1.0)
