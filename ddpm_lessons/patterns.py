"""Several 2-D patterns, each with its generator and its exact curve (chapter 10).

The spiral is chapter 2's (:mod:`~ddpm_lessons.spiral`); the others are built
from circle arcs and line segments ("parts").  Each pattern is drawn in raw
coordinates and mapped to [-1, 1] by **one** affine map for both coordinates,
``u ↦ s·(u − c)``, as the spiral is by eq. (2.2), so no shape is distorted:

* ``"moons"``: the upper half circle ``(cos a, sin a)`` and the lower one
  ``(1 − cos b, ½ − sin b)``, a, b ∈ [0, π]; centre (½, ¼), scale ⅔;
* ``"circles"``: circles of radius 1 and ½ about the origin (no map needed);
* ``"diamond"``: the outline of the square with corners (±1, 0), (0, ±1), uniform
  along its perimeter (a square standing on a corner: sampling clips x̂_0 to
  [-1, 1]², which would favour a square whose sides lie on that box).

A pattern's points are split between its parts by fixed shares (half on each
moon, half on each circle, a quarter on each side of the diamond); within a
part the position ``s ∈ [0, 1]`` (angle / sweep of an arc, or fraction of a
segment) is uniform.  The **position** of a point on the pattern,
``u = Σ_{j<k} w_j + w_k s`` for part k with share w_k (eq. (10.1)), is then
U(0, 1) for true data; for the spiral it is ``(t − T_MIN)/(T_MAX − T_MIN)``.
:func:`coverage_ks` is the KS distance of the positions of the closest curve
points to U(0, 1), chapter 7's coverage (:func:`~ddpm_lessons.optimal.coverage_ks`)
for any pattern.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .closest_point import closest_points
from .optimal import ks_statistic_uniform
from .spiral import T_MAX, T_MIN, make_spiral, spiral_curve
from .validation import check_int, check_points


@dataclass(frozen=True)
class Arc:
    """``centre + radius (cos φ, sin φ)`` for φ = start + s·sweep, s ∈ [0, 1] (sweep > 0)."""

    centre: tuple[float, float]
    radius: float
    start: float
    sweep: float

    def at(self, s: np.ndarray) -> np.ndarray:
        angle = self.start + self.sweep * np.asarray(s, dtype=np.float64)
        return np.asarray(self.centre) + self.radius * np.stack([np.cos(angle), np.sin(angle)], axis=-1)

    def closest(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Distance to the arc and position s ∈ [0, 1] of the closest arc point, in closed form.

        If the direction of the point from the centre lies within the arc, the
        closest point is on that ray and the distance is ``| |q − c| − r |``;
        otherwise it is the nearer end of the arc.
        """
        rel = points - np.asarray(self.centre)
        offset = np.mod(np.arctan2(rel[:, 1], rel[:, 0]) - self.start, 2 * math.pi)
        if self.sweep >= 2 * math.pi:
            return np.abs(np.hypot(rel[:, 0], rel[:, 1]) - self.radius), offset / (2 * math.pi)
        inside = offset <= self.sweep
        to_start = np.linalg.norm(points - self.at(0.0), axis=1)
        to_end = np.linalg.norm(points - self.at(1.0), axis=1)
        distance = np.where(inside, np.abs(np.hypot(rel[:, 0], rel[:, 1]) - self.radius),
                            np.minimum(to_start, to_end))
        s = np.where(inside, offset / self.sweep, np.where(to_start <= to_end, 0.0, 1.0))
        return distance, s

    def mapped(self, centre: np.ndarray, scale: float) -> Arc:
        return Arc(tuple(scale * (np.asarray(self.centre) - centre)), scale * self.radius,
                   self.start, self.sweep)


@dataclass(frozen=True)
class Segment:
    """``start + s (end − start)`` for s ∈ [0, 1]."""

    start: tuple[float, float]
    end: tuple[float, float]

    def at(self, s: np.ndarray) -> np.ndarray:
        s = np.asarray(s, dtype=np.float64)[..., None]
        return (1.0 - s) * np.asarray(self.start) + s * np.asarray(self.end)

    def closest(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Distance to the segment and position s of the closest point: the projection, clipped to [0, 1]."""
        a, d = np.asarray(self.start), np.asarray(self.end) - np.asarray(self.start)
        s = np.clip((points - a) @ d / (d @ d), 0.0, 1.0)
        return np.linalg.norm(points - self.at(s), axis=1), s

    def mapped(self, centre: np.ndarray, scale: float) -> Segment:
        return Segment(tuple(scale * (np.asarray(self.start) - centre)),
                       tuple(scale * (np.asarray(self.end) - centre)))


@dataclass(frozen=True)
class Pattern:
    """Parts in raw coordinates, their shares of the points, and the map ``s·(u − centre)`` to [-1, 1]."""

    parts: tuple[Arc | Segment, ...]
    shares: tuple[float, ...]
    centre: tuple[float, float] = (0.0, 0.0)
    scale: float = 1.0

    def normalised_parts(self) -> tuple[Arc | Segment, ...]:
        return tuple(part.mapped(np.asarray(self.centre), self.scale) for part in self.parts)


_HALF = (0.5, 0.5)
PATTERNS: dict[str, Pattern] = {
    "moons": Pattern((Arc((0.0, 0.0), 1.0, 0.0, math.pi), Arc((1.0, 0.5), 1.0, math.pi, math.pi)),
                     _HALF, centre=(0.5, 0.25), scale=2.0 / 3.0),
    "circles": Pattern((Arc((0.0, 0.0), 1.0, 0.0, 2 * math.pi), Arc((0.0, 0.0), 0.5, 0.0, 2 * math.pi)),
                       _HALF),
    "diamond": Pattern((Segment((1.0, 0.0), (0.0, 1.0)), Segment((0.0, 1.0), (-1.0, 0.0)),
                        Segment((-1.0, 0.0), (0.0, -1.0)), Segment((0.0, -1.0), (1.0, 0.0))),
                       (0.25, 0.25, 0.25, 0.25)),
}
"""The patterns made of parts; ``"spiral"`` is the fourth, from :mod:`~ddpm_lessons.spiral`."""

PATTERN_NAMES: tuple[str, ...] = ("spiral", "moons", "circles", "diamond")
"""Every pattern, in the order of their labels 0, 1, 2, 3 (chapter 10)."""


def check_name(name: str) -> str:
    """``name`` if it is one of :data:`PATTERN_NAMES`, else ``ValueError``."""
    if not isinstance(name, str) or name not in PATTERN_NAMES:
        raise ValueError(f"unknown pattern {name!r}: choose one of {', '.join(PATTERN_NAMES)}")
    return name


def part_counts(shares: tuple[float, ...], n: int) -> np.ndarray:
    """Points per part: ``⌊n·W_k⌋ − ⌊n·W_{k−1}⌋`` with W the cumulative shares (n // 2 and n − n // 2 for halves)."""
    edges = np.floor(n * np.concatenate([[0.0], np.cumsum(shares)]) + 1e-9).astype(int)
    edges[-1] = n
    return np.diff(edges)


def make_pattern(name: str, n: int, rng: np.random.Generator | None = None,
                 noise: float = 0.0, dtype: type = np.float32) -> np.ndarray:
    """``n`` points of the pattern ``name`` in [-1, 1], shape ``(n, 2)``, float32 unless ``dtype``.

    Each part gets its share of the points (:func:`part_counts`, parts in
    order) at positions s ~ U(0, 1); the spiral's are chapter 2's
    (:func:`~ddpm_lessons.spiral.make_spiral`, the same points for the same
    ``rng``).  ``noise`` adds Gaussian noise of that standard deviation.  All
    randomness comes from ``rng``.
    """
    name, n = check_name(name), check_int(n, "n", 1)
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be a finite standard deviation >= 0, got {noise!r}")
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be np.float32 or np.float64, got {dtype!r}")
    rng = np.random.default_rng() if rng is None else rng
    if name == "spiral":
        points = spiral_curve(make_spiral(n, rng, return_t=True)[1])
    else:
        pattern = PATTERNS[name]
        points = np.concatenate([part.at(rng.uniform(0.0, 1.0, k)) for part, k
                                 in zip(pattern.normalised_parts(), part_counts(pattern.shares, n))])
    if noise > 0:
        points = points + noise * rng.standard_normal(points.shape)
    return points.astype(dtype)


def pattern_curve(name: str, m: int) -> np.ndarray:
    """``m`` points along the pattern, ordered by their position u (eq. (10.1)), for drawing it."""
    name, m = check_name(name), check_int(m, "m", 2)
    u = np.linspace(0.0, 1.0, m)
    if name == "spiral":
        return spiral_curve(T_MIN + u * (T_MAX - T_MIN))
    pattern = PATTERNS[name]
    edges = np.concatenate([[0.0], np.cumsum(pattern.shares)])
    part = np.clip(np.searchsorted(edges, u, side="right") - 1, 0, len(pattern.shares) - 1)
    s = (u - edges[part]) / np.asarray(pattern.shares)[part]
    curve = np.empty((m, 2))
    for k, p in enumerate(pattern.normalised_parts()):
        curve[part == k] = p.at(s[part == k])
    return curve


def closest_on_pattern(name: str, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each point: its distance to the pattern, the part holding the closest point, and the
    position s ∈ [0, 1] of that point within its part.

    Arcs and segments are solved in closed form (:meth:`Arc.closest`,
    :meth:`Segment.closest`), the spiral by chapter 7's exact solver
    (:func:`~ddpm_lessons.closest_point.closest_points`, eq. (7.1)–(7.3)); its
    one part is the whole spiral.  ``points`` has shape ``(n, 2)``.
    """
    name = check_name(name)
    points = check_points(points, ndim=2)
    if name == "spiral":
        t_star, _, distance = closest_points(points)
        return distance, np.zeros(len(points), dtype=int), (t_star - T_MIN) / (T_MAX - T_MIN)
    fits = [part.closest(points) for part in PATTERNS[name].normalised_parts()]
    distances = np.stack([d for d, _ in fits])
    part = np.argmin(distances, axis=0)
    rows = np.arange(len(points))
    return distances[part, rows], part, np.stack([s for _, s in fits])[part, rows]


def distance_to_pattern(name: str, points: np.ndarray) -> np.ndarray:
    """Distance of each point of ``points`` ``(n, 2)`` to the curve of the pattern ``name``."""
    return closest_on_pattern(name, points)[0]


def pattern_position(name: str, points: np.ndarray) -> np.ndarray:
    """Position u = Σ_{j<k} w_j + w_k s ∈ [0, 1] of each point's closest curve point, eq. (10.1).

    For true data of the pattern, u ~ U(0, 1).
    """
    _, part, s = closest_on_pattern(name, points)
    if name == "spiral":
        return s
    shares = np.asarray(PATTERNS[name].shares)
    return np.concatenate([[0.0], np.cumsum(shares)])[part] + shares[part] * s


def mean_distance(name: str, points: np.ndarray) -> float:
    """Mean distance of the points to the pattern's curve (chapter 7's precision, any pattern)."""
    points = check_points(points, ndim=2)
    if len(points) == 0:
        raise ValueError("points must hold at least one point, got none")
    return float(distance_to_pattern(name, points).mean())


def coverage_ks(name: str, points: np.ndarray) -> float:
    """KS distance of the positions u (eq. (10.1)) of the closest curve points to U(0, 1).

    For the spiral this is :func:`~ddpm_lessons.optimal.coverage_ks`; 0 is a
    perfectly even cover, and n true points score about ``ks_floor(n)``.
    """
    points = check_points(points, ndim=2)
    if len(points) == 0:
        raise ValueError("points must hold at least one point, got none")
    return ks_statistic_uniform(pattern_position(name, points), 0.0, 1.0)


def nearest_pattern(points: np.ndarray, names: tuple[str, ...] = PATTERN_NAMES) -> np.ndarray:
    """Index into ``names`` of the pattern whose curve is nearest to each point (ties: the first)."""
    if len(names) == 0:
        raise ValueError("names must hold at least one pattern")
    points = check_points(points, ndim=2)
    return np.argmin(np.stack([distance_to_pattern(name, points) for name in names]), axis=0)


def pattern_shares(points: np.ndarray, names: tuple[str, ...] = PATTERN_NAMES) -> np.ndarray:
    """Share of the points nearest to each pattern of ``names`` (sums to 1), chapter 10."""
    points = check_points(points, ndim=2)
    if len(points) == 0:
        raise ValueError("points must hold at least one point, got none")
    return np.bincount(nearest_pattern(points, names), minlength=len(names)) / len(points)
