"""The optimal denoiser and the chapter's yardsticks (chapter 7).

From the closest points of :mod:`~ddpm_lessons.closest_point` (eq. (7.1)–(7.3))
this module builds the mean distance to the data curve, the straight-line
optimal denoising path, and the Kolmogorov–Smirnov coverage of the curve.
"""
from __future__ import annotations

import math

import numpy as np

from .closest_point import (closest_point_t, closest_points, newton_refine,  # noqa: F401
                            squared_distance_derivatives)
from .spiral import T_MAX, T_MIN
from .validation import check_int, check_points


def mean_distance(points: np.ndarray) -> float:
    """Mean distance ``mean √D(t*)`` of the points to the spiral, eq. (7.1)."""
    points = check_points(points)
    if points.size == 0:
        raise ValueError(f"points must hold at least one point, got shape {points.shape}")
    return float(np.mean(closest_points(points)[2]))


def mean_distance_per_step(trajectory: np.ndarray) -> np.ndarray:
    """Mean distance to the spiral at each step of a trajectory.

    ``trajectory`` has shape ``(T + 1, n, 2)`` with the time axis first;
    the result has shape ``(T + 1,)``.
    """
    trajectory = check_points(trajectory, "trajectory")
    if trajectory.ndim != 3 or trajectory.shape[0] == 0 or trajectory.shape[1] == 0:
        raise ValueError(
            f"trajectory must have shape (T + 1, n, 2) with T + 1 >= 1 and n >= 1, "
            f"got shape {trajectory.shape}"
        )
    return closest_points(trajectory)[2].mean(axis=1)


def optimal_denoising_path(x_T: np.ndarray, n_steps: int) -> np.ndarray:
    """Move each point along its shortest line to the spiral in ``n_steps`` equal steps.

    Step k is ``x_T + (k / n_steps) · (p(t*) − x_T)``, with ``p(t*)`` the
    closest spiral point of eq. (7.1).  ``x_T`` has shape ``(n, 2)`` (any
    ``(..., 2)`` works); the path has shape ``(n_steps + 1, n, 2)``, index 0
    is ``x_T`` and the last index is exactly the closest point.
    """
    x_T = check_points(x_T, "x_T")
    n_steps = check_int(n_steps, "n_steps", 1)
    target = closest_points(x_T)[1]
    fraction = (np.arange(n_steps + 1) / n_steps).reshape((-1,) + (1,) * x_T.ndim)
    path = x_T + fraction * (target - x_T)
    path[0] = x_T
    path[-1] = target
    return path


def ks_statistic_uniform(samples: np.ndarray, low: float, high: float) -> float:
    """Two-sided Kolmogorov–Smirnov distance ``sup |F_n − F|`` to ``U(low, high)``.

    With the sorted samples ``t_(1) ≤ … ≤ t_(n)`` and ``F`` the uniform CDF,
    ``D = max(max_i (i/n − F(t_(i))), max_i (F(t_(i)) − (i − 1)/n))``, the
    exact supremum (it is reached just at or just before a sample).
    """
    samples = np.asarray(samples, dtype=np.float64).ravel()
    if samples.size == 0:
        raise ValueError("samples must hold at least one value, got none")
    if not np.all(np.isfinite(samples)):
        raise ValueError(
            f"samples must be finite, got {int(np.count_nonzero(~np.isfinite(samples)))} "
            "NaN or infinite value(s)"
        )
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise ValueError(f"need finite low < high, got low={low!r}, high={high!r}")
    n = samples.size
    cdf = np.clip((np.sort(samples) - low) / (high - low), 0.0, 1.0)
    rank = np.arange(1, n + 1)
    d_plus = np.max(rank / n - cdf)
    d_minus = np.max(cdf - (rank - 1) / n)
    return float(max(d_plus, d_minus))


def coverage_ks(points: np.ndarray) -> float:
    """How evenly the points cover the spiral: KS distance of their t* to ``U(T_MIN, T_MAX)``.

    The data are drawn with ``t ~ U(T_MIN, T_MAX)``, so the closest-point
    parameters t* of eq. (7.1) of good samples follow that law; the result is
    :func:`ks_statistic_uniform` of t*.  0 is perfect coverage; compare with
    :func:`ks_floor`, the value that true samples of the same size give.
    """
    points = check_points(points)
    if points.size == 0:
        raise ValueError(f"points must hold at least one point, got shape {points.shape}")
    return ks_statistic_uniform(closest_point_t(points), T_MIN, T_MAX)


def kolmogorov_cdf(x: float) -> float:
    """CDF of the Kolmogorov distribution, the limit law of ``√n · D_n``.

    ``K(x) = 1 − 2 Σ_{k≥1} (−1)^{k−1} exp(−2 k² x²)``; for small ``x`` the
    equivalent, faster series ``√(2π)/x · Σ_{k≥1} exp(−(2k − 1)² π² / (8 x²))``.
    """
    if x <= 0:
        return 0.0
    k = np.arange(1, 101)
    if x < 1.0:
        terms = np.exp(-((2 * k - 1) ** 2) * math.pi**2 / (8 * x * x))
        return float(math.sqrt(2 * math.pi) / x * terms.sum())
    terms = (-1.0) ** (k - 1) * np.exp(-2.0 * k**2 * x * x)
    return float(1.0 - 2.0 * terms.sum())


def ks_floor(n: int, quantile: float = 0.5) -> float:
    """The KS distance that ``n`` true samples typically give, by the asymptotic law.

    ``√n · D_n`` tends to the Kolmogorov distribution (:func:`kolmogorov_cdf`),
    so the ``quantile`` of ``D_n`` is about ``x_q / √n``.  The default is the
    median, ``x_0.5 ≈ 0.8276``: half of all true data sets of size ``n`` score
    below ``ks_floor(n)``; ``ks_floor(n, 0.95)`` uses ``x_0.95 ≈ 1.3581``, the
    usual 5 % test threshold.  For n = 1000 these are ≈ 0.026 and ≈ 0.043.
    """
    n = check_int(n, "n", 1)
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile must be in (0, 1), got {quantile!r}")
    low, high = 0.01, 10.0
    for _ in range(100):  # bisection: K is increasing
        middle = 0.5 * (low + high)
        if kolmogorov_cdf(middle) < quantile:
            low = middle
        else:
            high = middle
    return 0.5 * (low + high) / math.sqrt(n)
