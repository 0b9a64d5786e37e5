"""The 2-D spiral data set (chapter 2, eq. (2.1)–(2.2)).

Points are drawn as in scikit-learn's swiss roll: ``t ~ U(1.5π, 4.5π)`` and
``(x, y) = (t cos t, t sin t)``.  Both coordinates are then mapped to
``[-1, 1]`` by one fixed affine map ``u ↦ s·u + c`` with
``s = 2 / (x_max - x_min)``, ``x_min = -3.5π``, ``x_max = 4.5π`` and
``c = -1 - s·x_min`` (eq. (2.2)), so that every data set, whatever its size,
lives on exactly the same curve.  The range is [-1, 1] up to a sliver: y
reaches 1 exactly at t = 4.5π, but dips to about -1.0036 just after
t = 3.5π (where t sin t = -3.5π is not quite its minimum).
"""
from __future__ import annotations

import math

import numpy as np

from .validation import check_int

T_MIN: float = 1.5 * math.pi
"""Smallest spiral parameter t."""
T_MAX: float = 4.5 * math.pi
"""Largest spiral parameter t."""
X_MIN: float = -3.5 * math.pi
X_MAX: float = 4.5 * math.pi
SCALE: float = 2.0 / (X_MAX - X_MIN)
"""s in eq. (2.2): 1 / (4π)."""
SHIFT: float = -1.0 - SCALE * X_MIN
"""c in eq. (2.2): -1/8."""


def normalise(points: np.ndarray) -> np.ndarray:
    """Map raw spiral coordinates to [-1, 1] by eq. (2.2): ``s·u + c``."""
    return SCALE * np.asarray(points, dtype=np.float64) + SHIFT


def unnormalise(points: np.ndarray) -> np.ndarray:
    """Inverse of :func:`normalise`."""
    return (np.asarray(points, dtype=np.float64) - SHIFT) / SCALE


def spiral_curve_with_derivatives(
    t: np.ndarray | float, axis: int = -1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The normalised spiral p(t) of eq. (2.1)–(2.2) and its derivatives p'(t), p''(t).

    ``p(t) = s·(t cos t, t sin t) + c``, so
    ``p'(t) = s·(cos t − t sin t, sin t + t cos t)`` and
    ``p''(t) = s·(−2 sin t − t cos t, 2 cos t − t sin t)``.  The two
    coordinates lie on ``axis`` of the results: the last by default (shape
    ``t.shape + (2,)``); ``axis=0`` gives shape ``(2,) + t.shape``, with each
    coordinate contiguous, which the closest-point solver prefers.
    """
    t = np.asarray(t, dtype=np.float64)
    cos_t, sin_t = np.cos(t), np.sin(t)
    t_cos, t_sin = t * cos_t, t * sin_t
    curve = SCALE * np.stack([t_cos, t_sin], axis=axis) + SHIFT
    velocity = SCALE * np.stack([cos_t - t_sin, sin_t + t_cos], axis=axis)
    acceleration = SCALE * np.stack([-2.0 * sin_t - t_cos, 2.0 * cos_t - t_sin], axis=axis)
    return curve, velocity, acceleration


def spiral_curve(t: np.ndarray | float) -> np.ndarray:
    """The normalised spiral as a function of its parameter t, eq. (2.1)–(2.2).

    Returns an array of shape ``t.shape + (2,)``.
    """
    return spiral_curve_with_derivatives(t)[0]


def spiral_curve_derivatives(t: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """First and second derivatives of :func:`spiral_curve` with respect to t."""
    return spiral_curve_with_derivatives(t)[1:]


def make_spiral(
    n: int,
    rng: np.random.Generator | None = None,
    noise: float = 0.0,
    return_t: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` points of the normalised spiral, eq. (2.1)–(2.2).

    Args:
        n: number of points (≥ 1).
        rng: a ``numpy.random.Generator``; a fresh unseeded one if ``None``.
        noise: standard deviation of optional Gaussian noise added to the
            *normalised* points (0 gives points exactly on the curve).
        return_t: also return the spiral parameter of each point.

    Returns:
        ``(n, 2)`` float32 array (and the ``(n,)`` parameters if ``return_t``).
    """
    n = check_int(n, "n", 1)
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be a finite standard deviation >= 0, got {noise!r}")
    rng = np.random.default_rng() if rng is None else rng
    t = rng.uniform(T_MIN, T_MAX, size=n)
    points = spiral_curve(t)
    if noise > 0:
        points = points + noise * rng.standard_normal(points.shape)
    points = points.astype(np.float32)
    return (points, t) if return_t else points
