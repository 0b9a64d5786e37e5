"""Timing and accuracy of the closest-point solver of chapter 7.

Run with ``python -m benchmarks.closest_point``.  Times
:func:`ddpm_lessons.closest_point.closest_point_t` on 40 steps × 1000 points (the
size of one sampled trajectory in the book), as the median of several
repeats after a warm-up, and compares a subset with the dense brute force
:func:`tests.oracles.brute_force_closest_t` (10⁵ grid values refined by
golden-section search), the oracle the tests use.
"""
from __future__ import annotations

import time

import numpy as np

from ddpm_lessons.closest_point import closest_point_t
from ddpm_lessons.spiral import make_spiral, spiral_curve
from tests.oracles import brute_force_closest_t


def trajectory_like_points(
    n_steps: int = 40, n_points: int = 1000, seed: int = 0
) -> np.ndarray:
    """Points shaped like a sampled trajectory, ``(n_steps, n_points, 2)``.

    Step k blends spiral data ``x_0`` with N(0, I) noise ``ε`` as
    ``√ᾱ_k x_0 + √(1 − ᾱ_k) ε``, with ``ᾱ`` falling linearly from 1 to 0,
    so the first step is pure noise-free data and the last pure N(0, I).
    """
    rng = np.random.default_rng(seed)
    data = make_spiral(n_points, rng).astype(np.float64)
    noise = rng.standard_normal((n_steps, n_points, 2))
    alpha_bar = np.linspace(1.0, 0.0, n_steps)[:, None, None]
    return np.sqrt(alpha_bar) * data + np.sqrt(1.0 - alpha_bar) * noise


def run(
    n_steps: int = 40,
    n_points: int = 1000,
    repeats: int = 7,
    n_check: int = 2000,
    seed: int = 0,
) -> dict[str, float | int]:
    """Time the solver and measure its error; returns the numbers as a dict.

    ``median_ms`` and ``min_ms`` are wall-clock times of one call on all
    ``n_steps × n_points`` points, ``cpu_median_ms`` the process CPU time
    (steadier when the machine is busy).  ``max_distance_error`` is the
    largest ``|distance_solver − distance_brute|`` and ``max_t_error`` the
    largest ``|t_solver − t_brute|`` over ``n_check`` of the points.
    """
    points = trajectory_like_points(n_steps, n_points, seed)
    closest_point_t(points)  # warm-up
    wall, cpu = [], []
    for _ in range(repeats):
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        t_star = closest_point_t(points)
        wall.append(time.perf_counter() - wall_start)
        cpu.append(time.process_time() - cpu_start)
    flat_points, flat_t = points.reshape(-1, 2), t_star.reshape(-1)
    check = np.random.default_rng(seed + 1).choice(len(flat_points), n_check, replace=False)
    t_brute = brute_force_closest_t(flat_points[check])
    distance = np.linalg.norm(spiral_curve(flat_t[check]) - flat_points[check], axis=1)
    distance_brute = np.linalg.norm(spiral_curve(t_brute) - flat_points[check], axis=1)
    return {
        "n_points": int(flat_points.shape[0]),
        "repeats": repeats,
        "median_ms": 1e3 * float(np.median(wall)),
        "min_ms": 1e3 * float(np.min(wall)),
        "cpu_median_ms": 1e3 * float(np.median(cpu)),
        "n_checked": n_check,
        "max_distance_error": float(np.max(np.abs(distance - distance_brute))),
        "max_t_error": float(np.max(np.abs(flat_t[check] - t_brute))),
        "solver_never_worse": bool(np.all(distance <= distance_brute + 1e-12)),
    }


def main() -> dict[str, float | int]:
    """Run the benchmark and print one line per number."""
    result = run()
    for name, value in result.items():
        text = f"{value:.3g}" if isinstance(value, float) else str(value)
        print(f"{name:>20}: {text}")
    print(result)
    return result


if __name__ == "__main__":
    main()
