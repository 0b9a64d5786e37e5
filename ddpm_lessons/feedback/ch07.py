"""Checks of the exercises of chapter 7: optimal solutions."""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..optimal import ks_statistic_uniform, squared_distance_derivatives
from ..spiral import T_MAX, T_MIN, spiral_curve, spiral_curve_derivatives
from .engine import Case, Exercise, run_check, variant


def _cases_near_spiral(rng):
    cases = []
    for _ in range(4):
        n = int(rng.integers(4, 9))
        t0 = rng.uniform(T_MIN, T_MAX, size=n)
        q = spiral_curve(t0) + 0.15 * rng.standard_normal((n, 2))
        t = np.clip(t0 + rng.uniform(-0.3, 0.3, size=n), T_MIN, T_MAX)
        cases.append(Case((q, t), f"{n} points near the spiral"))
    return cases


# ----------------------------------------------------------------------------- 7.1 D'(t) and D''(t)
def _ref_distance_derivatives(q, t):
    _, slope, curvature = squared_distance_derivatives(q, t)
    return slope, curvature


def _speed_term(t):
    velocity, _ = spiral_curve_derivatives(t)
    return 2 * np.sum(velocity * velocity, axis=-1)   # the |p'|² part of D''


DISTANCE_DERIVATIVES = Exercise(
    name="derivatives of D(t)",
    make_cases=_cases_near_spiral,
    reference=_ref_distance_derivatives,
    own_work=(squared_distance_derivatives,),
    arg_names=("q", "t"),
    parts=("D'(t)", "D''(t)"),
    mistakes=[
        variant("the residual is p(t) - q (curve minus point), eq. (7.1); with q - p(t) the signs of the "
                "p'(t)·(…) and p''(t)·(…) terms flip.",
                lambda q, t: (-_ref_distance_derivatives(q, t)[0],
                              2 * _speed_term(t) - _ref_distance_derivatives(q, t)[1])),
        variant("D''(t) lacks the term p''(t)·(p(t) - q): that drops the curvature of the curve (the "
                "Gauss–Newton approximation), not eq. (7.3).",
                lambda q, t: (_ref_distance_derivatives(q, t)[0], _speed_term(t))),
        variant("D''(t) lacks the term |p'(t)|² (the derivative of p'(t) in p'(t)·(p(t) - q) gives p''·(p - q), "
                "the derivative of (p(t) - q) gives p'·p').",
                lambda q, t: (_ref_distance_derivatives(q, t)[0], _ref_distance_derivatives(q, t)[1] - _speed_term(t))),
        variant("you returned (D, D'); return (D', D''), the slope and the curvature.",
                lambda q, t: squared_distance_derivatives(q, t)[:2]),
    ],
    type_hint="Return a tuple of two arrays (D', D''), one value per point.",
)


def check_distance_derivatives(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(q, t) -> (D'(t), D''(t))`` for D(t) = |p(t) - q|², eq. (7.1)–(7.3)."""
    return run_check(DISTANCE_DERIVATIVES, fn, seed)


# ----------------------------------------------------------------------------- 7.2 the Newton step
def _ref_newton_step(q, t):
    _, slope, curvature = squared_distance_derivatives(q, t)
    return t - slope / curvature


def _newton_variant(q, t, kind):
    value, slope, curvature = squared_distance_derivatives(q, t)
    return {"on_D": t - value / slope, "inverted": t - curvature / slope,
            "gauss_newton": t - slope / _speed_term(t), "gradient": t - slope}[kind]


def _cases_newton(rng):
    """The cases near the spiral, and points beyond its two ends, where the step leaves [T_MIN, T_MAX]."""
    t = np.array([T_MIN, T_MIN + 0.05, T_MAX - 0.05, T_MAX])
    outward = np.array([-1.0, -1.0, 1.0, 1.0])[:, None] * spiral_curve_derivatives(t)[0]
    q = spiral_curve(t) + rng.uniform(0.2, 0.4) * outward / np.linalg.norm(outward, axis=1, keepdims=True)
    return _cases_near_spiral(rng) + [Case((q, t), "points beyond the two ends of the spiral")]


NEWTON_STEP = Exercise(
    name="Newton step",
    make_cases=_cases_newton,
    reference=_ref_newton_step,
    own_work=(squared_distance_derivatives,),
    arg_names=("q", "t"),
    mistakes=[
        variant("you clipped the new t to [T_MIN, T_MAX]. The step itself is t - D'(t) / D''(t), eq. (7.3), "
                "which may leave the range; the loop that calls it keeps t in range (it clips after the call).",
                lambda q, t: np.clip(_ref_newton_step(q, t), T_MIN, T_MAX)),
        variant("the step goes the wrong way: t_new = t - D'(t) / D''(t), eq. (7.3).",
                lambda q, t: 2 * t - _ref_newton_step(q, t)),
        variant("that is Newton's method for a root of D itself (t - D/D'). The minimum is a root of D', so the "
                "step is t - D'(t) / D''(t).", lambda q, t: _newton_variant(q, t, "on_D")),
        variant("the fraction is upside down: t_new = t - D'(t) / D''(t).",
                lambda q, t: _newton_variant(q, t, "inverted")),
        variant("you divided by 2|p'(t)|² (Gauss–Newton). Eq. (7.3) divides by the full D''(t) = 2 (|p'|² + "
                "p''·(p - q)).", lambda q, t: _newton_variant(q, t, "gauss_newton")),
        variant("that is a gradient-descent step t - D'(t); Newton divides D'(t) by D''(t).",
                lambda q, t: _newton_variant(q, t, "gradient")),
        variant("you returned the step -D'/D''; return the new t = t - D'(t) / D''(t).",
                lambda q, t: _ref_newton_step(q, t) - t),
    ],
    type_hint="Return an array of the new t, one per point.",
)


def check_newton_step(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(q, t)``: one Newton update t - D'(t)/D''(t), eq. (7.3)."""
    return run_check(NEWTON_STEP, fn, seed)


# ----------------------------------------------------------------------------- 7.3 mean distance to a listed curve
def pairwise_distances(points: np.ndarray, curve: np.ndarray) -> np.ndarray:
    points, curve = np.asarray(points, dtype=np.float64), np.asarray(curve, dtype=np.float64)
    return np.sqrt(((points[:, None, :] - curve[None, :, :]) ** 2).sum(-1))


def nearest_curve_points(points: np.ndarray, curve: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each point, the distance to the nearest of the listed curve points and its index (bounded memory)."""
    points = np.asarray(points, dtype=np.float64)
    distance, index = np.empty(len(points)), np.empty(len(points), dtype=np.int64)
    for start in range(0, len(points), 2048):
        d = pairwise_distances(points[start:start + 2048], curve)
        distance[start:start + 2048], index[start:start + 2048] = d.min(axis=1), d.argmin(axis=1)
    return distance, index


def reference_mean_distance(points: np.ndarray, curve: np.ndarray) -> float:
    """Mean over the points of the distance to the nearest of the listed curve points."""
    points, curve = np.asarray(points, dtype=np.float64), np.asarray(curve, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2 or curve.ndim != 2 or curve.shape[1] != 2:
        raise ValueError(f"points and curve must have shape (n, 2) and (m, 2), got {points.shape} and {curve.shape}")
    return float(nearest_curve_points(points, curve)[0].mean())


def _cases_mean_distance(rng):
    cases = []
    for k in range(4):
        n = int(rng.integers(5, 40))
        points = rng.uniform(-1, 1, size=(n, 2))
        if k % 2 == 0:
            m = int(rng.integers(60, 200))
            curve, label = spiral_curve(np.linspace(T_MIN, T_MAX, m)), f"{n} points, spiral sampled at {m} points"
        else:
            m = int(rng.integers(41, 80))
            curve, label = np.cumsum(0.05 * rng.standard_normal((m, 2)), axis=0), f"{n} points, random polyline of {m} points"
        cases.append(Case((points, curve), label))
    return cases


MEAN_DISTANCE = Exercise(
    name="mean distance to a curve",
    make_cases=_cases_mean_distance,
    reference=reference_mean_distance,
    own_work=(reference_mean_distance,),
    arg_names=("points", "curve"),
    python_number=True,
    mistakes=[
        variant("that is the mean squared distance: take the square root of each nearest squared distance "
                "before averaging.", lambda p, c: float((nearest_curve_points(p, c)[0] ** 2).mean())),
        variant("that is the root-mean-square distance; the chapter averages the distances themselves.",
                lambda p, c: float(np.sqrt((nearest_curve_points(p, c)[0] ** 2).mean()))),
        variant("you took the minimum over the wrong axis: for each *point* find its nearest curve point (min "
                "over the curve axis), then average over the points.",
                lambda p, c: float(pairwise_distances(p, c).min(axis=0).mean())),
        variant("you averaged all point-to-curve-point distances; take the nearest curve point for each point "
                "(min) first.", lambda p, c: float(pairwise_distances(p, c).mean())),
        variant("you summed the nearest distances; average them (divide by the number of points).",
                lambda p, c: float(nearest_curve_points(p, c)[0].sum())),
        variant("that is the largest nearest distance; the chapter's yardstick is the mean.",
                lambda p, c: float(nearest_curve_points(p, c)[0].max())),
    ],
    type_hint="Return one number (e.g. float(distances.mean())).",
)


def check_mean_distance(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(points, curve)``: mean distance from each point to its nearest curve point."""
    return run_check(MEAN_DISTANCE, fn, seed)


# ----------------------------------------------------------------------------- 7.4 coverage (challenge)
def _cases_coverage(rng):
    cases = []
    shapes = [(0.7, 2.0), (2.0, 0.7), tuple(rng.uniform(0.6, 2.5, size=2)), (1.0, 1.0)]  # D+ and D- each win
    for n, (a, b) in zip((12, 40, int(rng.integers(5, 60)), 400), shapes):
        cases.append(Case((T_MIN + (T_MAX - T_MIN) * rng.beta(a, b, size=n), T_MIN, T_MAX), f"{n} values of t"))
    return cases


def _one_sided(t, low, high, kind):
    u = np.sort((t - low) / (high - low))
    rank = np.arange(1, len(u) + 1) / len(u)
    return float({"plus": np.max(rank - u), "minus": np.max(u - rank + 1 / len(u)),
                  "abs_rank": np.max(np.abs(rank - u))}[kind])


COVERAGE_KS = Exercise(
    name="KS coverage statistic",
    make_cases=_cases_coverage,
    reference=ks_statistic_uniform,
    own_work=(ks_statistic_uniform,),
    arg_names=("t_star", "t_min", "t_max"),
    python_number=True,
    mistakes=[
        variant("you only measured how far the empirical CDF rises above F (max of i/n - F). The KS distance is "
                "two-sided: also max of F - (i - 1)/n.", lambda t, lo, hi: _one_sided(t, lo, hi, "plus")),
        variant("you only measured how far F rises above the empirical CDF (max of F - (i - 1)/n). The KS "
                "distance is two-sided: also max of i/n - F.", lambda t, lo, hi: _one_sided(t, lo, hi, "minus")),
        variant("max |i/n - F(t_(i))| misses the value just before each step: the empirical CDF is (i - 1)/n just "
                "left of t_(i), so take max(max(i/n - F), max(F - (i - 1)/n)).",
                lambda t, lo, hi: _one_sided(t, lo, hi, "abs_rank")),
    ],
    type_hint="Return one number (a Python float).",
)


def check_coverage_ks(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(t_star, t_min, t_max)``: the KS distance of t* to U(t_min, t_max)."""
    return run_check(COVERAGE_KS, fn, seed)
