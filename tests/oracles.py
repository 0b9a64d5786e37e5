"""Slow, obviously right references that the package is tested against.

Not part of the package: the package computes, these check.  Used by the
tests and by ``python -m benchmarks.closest_point``.
"""
from __future__ import annotations

import math

import numpy as np

from ddpm_lessons.spiral import T_MAX, T_MIN, spiral_curve
from ddpm_lessons.validation import check_int, check_points


def brute_force_closest_t(points: np.ndarray, n_grid: int = 100_001) -> np.ndarray:
    """The slow, obviously right baseline for :func:`ddpm_lessons.closest_point.closest_point_t`.

    Minimises ``D`` of eq. (7.1) by exhaustive search over ``n_grid`` values
    of t, then narrows the winning grid cell pair by golden-section search
    (no derivatives, no Newton).  Its error is the golden-section tolerance,
    unless two arms tie to within the grid error ``~max D''·h²/8``.  Costs
    ``n_grid`` distance evaluations per point: use it to check, not to compute.
    """
    points = check_points(points)
    n_grid = check_int(n_grid, "n_grid", 3)
    flat = points.reshape(-1, 2)
    grid = np.linspace(T_MIN, T_MAX, n_grid)
    curve = spiral_curve(grid)
    # D(t) − |q|² = (q_x, q_y, 1) · (−2 p_x, −2 p_y, |p|²).
    curve_terms = np.stack([-2.0 * curve[:, 0], -2.0 * curve[:, 1], np.sum(curve**2, axis=1)])
    augmented = np.concatenate([flat, np.ones((flat.shape[0], 1))], axis=1)
    best = np.empty(flat.shape[0], dtype=np.intp)
    chunk = max(1, (1 << 18) // n_grid)
    for start in range(0, flat.shape[0], chunk):
        block = augmented[start : start + chunk]
        best[start : start + chunk] = np.argmin(block @ curve_terms, axis=1)
    low = grid[np.maximum(best - 1, 0)]
    high = grid[np.minimum(best + 1, n_grid - 1)]
    ratio = (math.sqrt(5.0) - 1.0) / 2.0

    def distance_sq(t: np.ndarray) -> np.ndarray:
        return np.sum((spiral_curve(t) - flat) ** 2, axis=1)

    inner_low, inner_high = high - ratio * (high - low), low + ratio * (high - low)
    value_low, value_high = distance_sq(inner_low), distance_sq(inner_high)
    for _ in range(60):
        keep_left = value_low < value_high
        high = np.where(keep_left, inner_high, high)
        low = np.where(keep_left, low, inner_low)
        inner_low, inner_high = high - ratio * (high - low), low + ratio * (high - low)
        value_low, value_high = distance_sq(inner_low), distance_sq(inner_high)
    t_star = 0.5 * (low + high)
    # The ends themselves, which the shrinking interval only approaches.
    for end in (T_MIN, T_MAX):
        at_end = distance_sq(np.full(flat.shape[0], end)) < distance_sq(t_star)
        t_star[at_end] = end
    return t_star.reshape(points.shape[:-1])
