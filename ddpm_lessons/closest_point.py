"""The closest point on the spiral (chapter 7).

A point ``q`` of the plane is denoised perfectly when it is moved to the
nearest point of the data curve.  Chapter 7 finds that point by minimising the
squared distance of eq. (7.1),

    D(t) = |p(t) − q|²,    t ∈ [T_MIN, T_MAX],

where ``p`` is the normalised spiral of :mod:`ddpm_lessons.spiral`.  An
interior minimum solves eq. (7.2), ``D'(t) = 2 p'(t)·(p(t) − q) = 0``, and
Newton's method solves that with the update of eq. (7.3),

    t ← t − D'(t) / D''(t),    D''(t) = 2 (|p'(t)|² + p''(t)·(p(t) − q)).

Newton only finds the root next to where it starts, so :func:`closest_point_t`
first scans a grid of t (the brute-force seed) and refines every grid local
minimum that could be the global one, together with any minimum hiding
between two grid values just after ``T_MIN``, where the end of the curve can
compete with a minimum next to it.  Each step is guarded: where ``D''`` is
too small or negative, or where the step would leave the interval known to
hold the minimum, a bisection step is taken instead, and the answer is the
best iterate seen, so it is never worse than its seed.  Minima at the ends
``T_MIN`` and ``T_MAX`` are found too.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from .spiral import (SCALE, T_MAX, T_MIN, spiral_curve, spiral_curve_derivatives,
                     spiral_curve_with_derivatives)
from .validation import check_int, check_points

_BLOCK: int = 1024
"""Points scanned together: their grid of D (1024 × 128 values) stays in the cache."""
_INNER_WINDOW: float = 1.0
"""Length in t of the stretch after T_MIN checked for minima hidden between grid values."""
_FINE_SCAN: int = 17
"""Values of t per grid cell when a cell is scanned finely (see :func:`_hidden_minimum_seeds`)."""
_NEWTON_TOLERANCE: float = 1e-8
"""A Newton step shorter than this ends a refinement; the next would be ~1e-16."""
_BISECTION_TOLERANCE: float = 1e-11
"""A bisection step shorter than this ends a refinement."""


def _derivative_norms(t: np.ndarray | float) -> tuple[np.ndarray, ...]:
    """``|p'|, |p''|, |p'''|, |p''''|`` of the spiral at t, namely ``s·√(k² + t²)``, k = 1…4.

    From ``p = s·t·(cos t, sin t) + c``.  All four grow with t, so their value
    at the right end of an interval bounds them on the whole interval.
    """
    t = np.asarray(t, dtype=np.float64)
    return tuple(SCALE * np.sqrt(k * k + t * t) for k in (1, 2, 3, 4))


def squared_distance_derivatives(
    points: np.ndarray, t: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``D(t)``, ``D'(t)`` and ``D''(t)`` for each point and its own ``t``.

    Eq. (7.1): ``D = |p − q|²``; eq. (7.2): ``D' = 2 p'·(p − q)``;
    eq. (7.3): ``D'' = 2 (|p'|² + p''·(p − q))``, with ``p``, ``p'``, ``p''``
    from :func:`~ddpm_lessons.spiral.spiral_curve` and
    :func:`~ddpm_lessons.spiral.spiral_curve_derivatives`.  ``points`` has
    shape ``t.shape + (2,)`` (or broadcasts to it); the three results have the
    shape of ``t``.
    """
    curve, velocity, acceleration = spiral_curve_with_derivatives(t, axis=0)
    points = np.asarray(points, dtype=np.float64)
    # One coordinate at a time: sums over an axis of length 2 are slow in numpy.
    rx, ry = curve[0] - points[..., 0], curve[1] - points[..., 1]
    value = rx * rx + ry * ry
    slope = 2.0 * (velocity[0] * rx + velocity[1] * ry)
    curvature = 2.0 * (velocity[0] ** 2 + velocity[1] ** 2
                       + acceleration[0] * rx + acceleration[1] * ry)
    return value, slope, curvature


@functools.lru_cache(maxsize=4)
def _seed_grid(n_grid: int) -> tuple[np.ndarray, np.ndarray]:
    """The grid of t and the terms of ``D(t) − |q|² = −2 q·p(t) + |p(t)|²`` on it,
    as a ``(3, n_grid)`` matrix, so that ``(q_x, q_y, 1) @ terms`` is one small product."""
    grid = np.linspace(T_MIN, T_MAX, n_grid)
    curve = spiral_curve(grid)
    terms = np.stack([-2.0 * curve[:, 0], -2.0 * curve[:, 1], np.sum(curve**2, axis=1)])
    grid.flags.writeable = terms.flags.writeable = False
    return grid, terms


def _grid_seeds(
    points: np.ndarray, n_grid: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Brute-force seeds for Newton: the grid local minima of D that may be global,
    and the points to check for minima hiding just after T_MIN.

    ``points`` has shape ``(m, 2)``.  ``D`` of eq. (7.1) is evaluated on
    ``n_grid`` equally spaced values of t.  Every grid local minimum is kept
    whose value is within the grid's own error of the smallest: a minimum t*
    has a grid value at most h/2 away, where ``D`` exceeds ``D(t*)`` by at
    most ``max D'' · h²/8 ≤ (|p'|²max + |p''|max · distance) · h²/4``; the
    margin is twice that.  An end of the grid counts as a local minimum when
    ``D`` rises away from it.  Most points have one seed, the grid minimum,
    because no grid value other than it and its neighbours is within the
    margin.  Minima hiding between two grid values are added by
    :func:`_suspect_cells` and :func:`_hidden_minimum_seeds`.

    Returns ``(rows, t_seed, t_low, t_high, inner, smallest)``: for each seed the index of its
    point, its t (at the vertex of the parabola through the three grid values
    around it), and the neighbouring grid values, which bracket it; then
    ``inner``, the points whose grid values just after T_MIN come within the
    margin of their smallest, and that smallest grid value of ``D`` for each.
    """
    grid, curve_terms = _seed_grid(n_grid)
    spacing = grid[1] - grid[0]
    shifted = np.column_stack([points, np.ones(len(points))]) @ curve_terms
    norm_sq = np.sum(points**2, axis=1)
    index = np.arange(len(points))
    col = shifted.argmin(axis=1)  # (argmin and a gather: faster than min along short rows)
    smallest = shifted[index, col]
    speed_max, accel_max = _derivative_norms(T_MAX)[:2]
    distance = np.sqrt(np.maximum(smallest + norm_sq, 0.0))
    margin = 0.5 * spacing**2 * (speed_max**2 + accel_max * (distance + speed_max * spacing))
    threshold = smallest + margin + 1e-12 * (1.0 + np.abs(smallest))
    # Points whose grid values just after T_MIN come near their smallest one.
    window = shifted[:, : _window_size(n_grid)]
    inner = np.flatnonzero(window[index, window.argmin(axis=1)] <= threshold)
    # Is any grid value other than the minimum and its neighbours within the
    # margin?  Those "crowded" points are the only ones with further seeds.
    # (Hidden in place and put back: cheaper than a copy.)
    left, right = np.maximum(col - 1, 0), np.minimum(col + 1, n_grid - 1)
    d_left, d_right = shifted[index, left], shifted[index, right]
    shifted[index, left] = shifted[index, col] = shifted[index, right] = np.inf
    crowded = np.flatnonzero(shifted[index, shifted.argmin(axis=1)] <= threshold)
    shifted[index, left], shifted[index, right] = d_left, d_right
    shifted[index, col] = smallest
    values = shifted[crowded]
    rising = values[:, 1:] > values[:, :-1]
    is_minimum = np.empty(values.shape, dtype=bool)
    is_minimum[:, 0] = rising[:, 0]
    np.greater(rising[:, 1:], rising[:, :-1], out=is_minimum[:, 1:-1])
    is_minimum[:, -1] = ~rising[:, -1]
    is_minimum &= values <= threshold[crowded, None]
    is_minimum[np.arange(crowded.size), col[crowded]] = False
    which, extra_cols = np.nonzero(is_minimum)
    rows = np.concatenate([index, crowded[which]])
    cols = np.concatenate([col, extra_cols])
    left, right = np.maximum(cols - 1, 0), np.minimum(cols + 1, n_grid - 1)
    d_left, d_centre, d_right = shifted[rows, left], shifted[rows, cols], shifted[rows, right]
    # Vertex of the parabola through the three grid values (interior seeds only).
    bend = d_left - 2.0 * d_centre + d_right
    interior = (cols > 0) & (cols < n_grid - 1) & (bend > 0)
    offset = 0.5 * spacing * (d_left - d_right) / np.where(interior, bend, 1.0)
    t_seed = grid[cols] + np.where(interior, np.clip(offset, -spacing, spacing), 0.0)
    return rows, t_seed, grid[left], grid[right], inner, smallest[inner] + norm_sq[inner]


def _window_size(n_grid: int) -> int:
    """Number of grid values in the stretch after T_MIN where minima may hide (>= 7)."""
    spacing = (T_MAX - T_MIN) / (n_grid - 1)
    return min(n_grid, 1 + math.ceil(max(_INNER_WINDOW, 6.0 * spacing) / spacing))


def _inner_end_seeds(
    points: np.ndarray, smallest: np.ndarray, n_grid: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Seeds for minima hiding between grid values just after T_MIN.

    ``points`` ``(m, 2)`` are the points whose grid values there come near
    ``smallest``, their smallest grid value of ``D``.  Returns
    ``(rows, t_seed, t_low, t_high)`` as :func:`_grid_seeds`, with rows into ``points``.
    """
    grid = np.linspace(T_MIN, T_MAX, n_grid)[: _window_size(n_grid)]
    values = np.sum((spiral_curve(grid)[None] - points[:, None]) ** 2, axis=-1)
    cell_rows, cells = _suspect_cells(points, values, smallest, grid)
    return _hidden_minimum_seeds(points, cell_rows, grid[cells], grid[1] - grid[0])


def _suspect_cells(
    points: np.ndarray, values: np.ndarray, smallest: np.ndarray, grid: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Grid cells just after T_MIN that may hide a minimum of ``D`` between grid values.

    Two minima of ``D`` closer than the grid spacing need a maximum between
    them, hence ``D'' < 0`` there.  Far from T_MIN such a pair is never the
    closest point: the spiral's curvature falls with t, so its osculating
    circles are nested and the curve before t lies inside the circle of
    curvature at t, closer to its centre.  So only the first
    ``len(grid) − 1`` cells are checked, with two bounds that follow from
    ``D''`` of eq. (7.3) at the ends of a cell and
    ``|D''''| ≤ 2 (3|p''|² + 4|p'||p'''| + |p''''||p − q|)``: on a cell of
    width h, ``D''`` lies within ``h²/8 · max |D''''|`` of the segment
    through its end values, and ``D`` is at least the smaller end value minus
    ``h²/8 · max D''``.  A cell is suspect if ``D''`` may be ≤ 0 on it and
    ``D`` may dip there below ``smallest``, the smallest grid value of ``D``.

    ``points`` is ``(m, 2)``, ``values`` the ``(m, len(grid))`` values of
    ``D`` on ``grid`` and ``smallest`` ``(m,)``.  Returns ``(rows, cells)``:
    each suspect cell ``[grid[cell], grid[cell + 1]]`` and the row of its
    point.
    """
    spacing = grid[1] - grid[0]
    curve = spiral_curve(grid)
    velocity, acceleration = spiral_curve_derivatives(grid)
    # D''(t) = 2 (|p'|² + p''·p) − 2 p''·q is linear in q, eq. (7.3).
    curvature = -2.0 * points @ acceleration.T + 2.0 * np.sum(
        velocity**2 + acceleration * curve, axis=1
    )
    speed, accel, jerk, snap = _derivative_norms(grid[1:])
    reach = np.sqrt(np.maximum(np.maximum(values[:, :-1], values[:, 1:]), 0.0)) + speed * spacing
    wobble = spacing**2 / 8.0 * 2.0 * (3.0 * accel**2 + 4.0 * speed * jerk + snap * reach)
    lowest_curvature = np.minimum(curvature[:, :-1], curvature[:, 1:]) - wobble
    highest_curvature = np.maximum(curvature[:, :-1], curvature[:, 1:]) + wobble
    dip = spacing**2 / 8.0 * np.maximum(highest_curvature, 0.0)
    lowest_value = np.minimum(values[:, :-1], values[:, 1:]) - dip
    threshold = smallest + 1e-12 * (1.0 + smallest)
    suspect = (lowest_curvature <= 0.0) & (lowest_value <= threshold[:, None])
    return np.nonzero(suspect)


def _hidden_minimum_seeds(
    points: np.ndarray, rows: np.ndarray, cell_low: np.ndarray, spacing: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Seeds for minima of ``D`` inside the grid cells ``[cell_low, cell_low + spacing]``.

    ``D`` of eq. (7.1) is scanned on ``_FINE_SCAN`` values across each cell,
    plus one beyond each end, and every local minimum of the scan becomes a
    seed, bracketed by its neighbours in the scan.  ``rows`` gives the point of
    each cell.  Returns ``(rows, t_seed, t_low, t_high)``.
    """
    step = spacing / (_FINE_SCAN - 1)
    fine_t = np.clip(cell_low[:, None] + step * np.arange(-1, _FINE_SCAN + 1), T_MIN, T_MAX)
    residual = spiral_curve(fine_t) - points[rows][:, None, :]
    value = np.sum(residual * residual, axis=-1)
    is_minimum = (value[:, 1:-1] <= value[:, :-2]) & (value[:, 1:-1] < value[:, 2:])
    cell, index = np.nonzero(is_minimum)
    index = index + 1
    return rows[cell], fine_t[cell, index], fine_t[cell, index - 1], fine_t[cell, index + 1]


def newton_refine(
    points: np.ndarray,
    t_seed: np.ndarray,
    t_low: np.ndarray,
    t_high: np.ndarray,
    n_newton: int = 40,
    min_curvature: float = 1e-9,
) -> tuple[np.ndarray, np.ndarray]:
    """Refine seeds ``t_seed`` by guarded Newton steps on ``D'(t) = 0``, eq. (7.2)–(7.3).

    ``points`` is ``(m, 2)`` and the other arrays are ``(m,)``, with
    ``T_MIN <= t_low <= t_seed <= t_high <= T_MAX`` bracketing a minimum of
    ``D``.  Each iteration first shrinks the bracket to the side where ``D``
    decreases (the sign of ``D'``), then takes the Newton step of eq. (7.3)
    if ``D'' > min_curvature`` and the step stays inside the bracket, and
    otherwise bisects the bracket.  So t never leaves ``[T_MIN, T_MAX]``, and
    a minimum at an end of the bracket, such as ``T_MIN`` or ``T_MAX``, is
    reached exactly.  A seed stops once its Newton step is below ``1e-8`` (the
    next step would be ~1e-16) or its bisection step below ``1e-11``, and after
    ``n_newton`` iterations at most; Newton steps from a grid seed converge in
    2–4 iterations.

    Returns ``(t, D)``: the iterate with the smallest ``D`` of eq. (7.1) seen
    for each seed, the seed included, so no step that increases ``D`` is kept
    and the result is never worse than the seed.
    """
    n_newton = check_int(n_newton, "n_newton", 0)
    if not min_curvature >= 0:
        raise ValueError(f"min_curvature must be >= 0, got {min_curvature!r}")
    points = np.asarray(points, dtype=np.float64)
    t = np.array(t_seed, dtype=np.float64)
    low = np.array(t_low, dtype=np.float64)
    high = np.array(t_high, dtype=np.float64)
    result_t, result_value = np.empty(t.shape), np.empty(t.shape)
    # The arrays below hold the seeds still moving; `seed` is their index.
    seed = np.arange(t.size)
    best_t, best_value = t.copy(), np.full(t.shape, np.inf)
    for iteration in range(n_newton + 1):
        value, slope, curvature = squared_distance_derivatives(points, t)
        better = value < best_value
        best_value = np.where(better, value, best_value)
        best_t = np.where(better, t, best_t)
        if iteration == n_newton:
            break
        # The minimum lies on the side where D decreases, eq. (7.2).
        rising = slope > 0
        low = np.where(rising, low, t)
        high = np.where(rising, t, high)
        safe = curvature > min_curvature
        newton = t - slope / np.where(safe, curvature, 1.0)  # eq. (7.3)
        use_newton = safe & (newton >= low) & (newton <= high)
        t_next = np.where(use_newton, newton, 0.5 * (low + high))
        step = np.abs(t_next - t)
        done = np.where(use_newton, step <= _NEWTON_TOLERANCE, step <= _BISECTION_TOLERANCE)
        # A converged Newton step is taken when it starts from the best iterate.
        best_t = np.where(done & use_newton & better, t_next, best_t)
        t = t_next
        if done.any():
            result_t[seed[done]] = best_t[done]
            result_value[seed[done]] = best_value[done]
            moving = ~done
            seed, points, t, low, high, best_t, best_value = (
                array[moving] for array in (seed, points, t, low, high, best_t, best_value)
            )
            if seed.size == 0:
                break
    result_t[seed] = best_t
    result_value[seed] = best_value
    return result_t, result_value


def closest_point_t(
    points: np.ndarray,
    n_grid: int = 128,
    n_newton: int = 40,
    min_curvature: float = 1e-9,
) -> np.ndarray:
    """Spiral parameter t* of the closest point of the spiral to each point.

    Minimises ``D(t) = |p(t) − q|²`` of eq. (7.1) over ``[T_MIN, T_MAX]``:
    a brute-force scan of ``D`` on ``n_grid`` values of t gives the seeds
    (every grid local minimum that may be the global one, plus minima hiding
    between grid values just after ``T_MIN``, where the end of the curve
    competes with a minimum next to it), guarded Newton steps on eq. (7.2)
    with the update of eq. (7.3) refine them (see :func:`newton_refine`), and
    the best refined seed wins.  Everything is vectorised over the points; no
    per-point loop, no warnings.  The distances agree with the dense brute
    force of the tests to ~1e-15 on uniform, Gaussian,
    central and far-away points, even with ``n_grid = 32``.

    Args:
        points: array of shape ``(..., 2)``, any leading shape.
        n_grid: size of the seed grid (>= 3).  With the default 128, grid
            values are at most 0.085 apart along the curve, against 0.5
            between neighbouring arms.
        n_newton: largest number of refinement iterations.
        min_curvature: Newton steps are only taken where ``D'' >`` this.

    Returns:
        t* with the leading shape of ``points``, in ``[T_MIN, T_MAX]``.

    Raises:
        ValueError: if the last axis is not of size 2 or a value is NaN or
            infinite.
    """
    points = check_points(points)
    n_grid = check_int(n_grid, "n_grid", 3)
    flat = points.reshape(-1, 2)
    n = flat.shape[0]
    if n == 0:
        return np.empty(points.shape[:-1])
    seeds, inner, smallest = [], [], []
    for start in range(0, n, _BLOCK):
        *block_seeds, block_inner, block_smallest = _grid_seeds(flat[start : start + _BLOCK], n_grid)
        block_seeds[0] = block_seeds[0] + start
        seeds.append(block_seeds)
        inner.append(block_inner + start)
        smallest.append(block_smallest)
    inner = np.concatenate(inner)
    if inner.size:
        rows, *rest = _inner_end_seeds(flat[inner], np.concatenate(smallest), n_grid)
        seeds.append((inner[rows], *rest))
    rows, t_seed, t_low, t_high = (np.concatenate(part) for part in zip(*seeds))
    t_refined, value = newton_refine(flat[rows], t_seed, t_low, t_high, n_newton, min_curvature)
    # The seed with the smallest D wins for each point (on a tie, the first seed).
    best = np.full(n, np.inf)
    np.minimum.at(best, rows, value)
    winner = np.flatnonzero(value == best[rows])[::-1]
    t_star = np.empty(n)
    t_star[rows[winner]] = t_refined[winner]
    return t_star.reshape(points.shape[:-1])


def closest_points(
    points: np.ndarray,
    n_grid: int = 128,
    n_newton: int = 40,
    min_curvature: float = 1e-9,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The closest spiral point to each point: ``(t_star, closest_xy, distance)``.

    ``t_star`` comes from :func:`closest_point_t` (same options),
    ``closest_xy = p(t_star)`` has the shape of ``points`` and
    ``distance = |p(t_star) − q| = √D(t*)`` of eq. (7.1) has the leading shape.
    """
    points = check_points(points)
    t_star = closest_point_t(points, n_grid, n_newton, min_curvature)
    closest_xy = spiral_curve(t_star)
    distance = np.linalg.norm(closest_xy - points, axis=-1)
    return t_star, closest_xy, distance
