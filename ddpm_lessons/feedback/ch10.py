"""Checks of the stretch exercises: other patterns (two moons, two circles) and yardsticks for any curve.

The guidance exercises of the same chapter are checked in :mod:`.ch10_guidance`.

A pattern is the package's (:mod:`ddpm_lessons.patterns`): its parts (each a
curve drawn at a uniformly distributed angle), the share of points on each
part (half each) and one affine normalisation for both coordinates.  The checks test the
*distribution* of the learner's points against that description: every point
on a part, the right share per part, angles uniform on their range (KS), the
normalisation (the bounding box), and, for a curve, that it is ordered.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from .. import patterns
from ..optimal import ks_statistic_uniform
from .ch07 import nearest_curve_points, pairwise_distances, reference_mean_distance
from .common import outcome_problem
from .engine import FAIL, PASS, Case, Exercise, Mistake, report, run_check, type_name, variant
from .kernel import in_clean_state
from .sandbox import call_limited


ON_PART = 1e-4
LAW_N = 20_000     # points drawn to judge the law: 10 000 per part, enough for KS to see u^1.15


def _assign(name: str, points: np.ndarray):
    """For each point: the part it lies on (-1 if none), its position s in that part, and its
    distance to the pattern (the package's exact curves, :mod:`ddpm_lessons.patterns`)."""
    distance, part, s = patterns.closest_on_pattern(name, points)
    return np.where(distance < ON_PART, part, -1), s, distance


def pattern_problem(name: str, points: np.ndarray) -> str | None:
    """Why ``points`` (many of them) do not follow the law of the pattern ``name``, or None."""
    part, position, distance = _assign(name, points)
    curve = patterns.pattern_curve(name, 4001)
    (x_lo, y_lo), (x_hi, y_hi) = curve.min(axis=0), curve.max(axis=0)
    lo, hi = points.min(axis=0), points.max(axis=0)
    if np.mean(part < 0) > 0.001:
        box = (f" Your points span x in [{lo[0]:.3g}, {hi[0]:.3g}] and y in [{lo[1]:.3g}, {hi[1]:.3g}]; the {name} "
               f"should span about [{x_lo:.3g}, {x_hi:.3g}] × [{y_lo:.3g}, {y_hi:.3g}].")
        per_axis = (np.allclose(lo, -1.0, atol=0.02) and np.allclose(hi, 1.0, atol=0.02)
                    and not np.allclose([x_lo, y_lo, x_hi, y_hi], [-1.0, -1.0, 1.0, 1.0], atol=1e-6))
        hint = (" Normalise both coordinates with one affine map (the same centre and the same scale for x and y): "
                "a separate map per axis distorts the shape." if per_axis else
                " Check the centre you subtract, the scale, and that the angles are in radians.")
        return (f"{np.mean(part < 0):.0%} of your points are not on the {name} (mean distance "
                f"{distance.mean():.3g} to it).{box}{hint}")
    shares = patterns.PATTERNS[name].shares
    counts = np.bincount(part, minlength=len(shares))
    n = len(points)
    expected = patterns.part_counts(shares, n)
    if sorted(counts.tolist()) != sorted(expected.tolist()):
        return (f"the points are on the {name}, but the parts hold {counts.tolist()} of the {n} points; each part "
                f"should hold its share of them ({sorted(expected.tolist())}, half of them each for two parts).")
    positions = [position[part == k] for k in range(len(shares))]
    for k, s in enumerate(positions):
        problem = angle_problem(s)
        if problem:
            return f"on part {k + 1} of the {name} the angles {problem}"
    if len(positions) == 2:
        return parts_tied(name, *positions)
    return None


# Angles (positions s in [0, 1] along a part) from float32 points are known to about 1e-7.  Of the n - 1
# gaps between n sorted continuous draws a share of about n · TIE is below TIE (0.2 % for n = 10 000, with a
# standard deviation of 0.05 %): far below TIES.  A grid, rounding or whole degrees repeat values exactly.
TIE, TIES = 2e-7, 0.01
KS_LEVEL = 2.3     # √n · KS above 2.3: probability about 1e-4 for a uniform sample


def angle_problem(s: np.ndarray) -> str | None:
    """Why the positions ``s`` (one part's angles / sweep) are not independent continuous-uniform draws, or None.

    Repeated values (a grid, rounding, integer degrees), evenly spaced values (a shuffled linspace), and a KS
    distance to U(0, 1) large at this sample size (a power such as u^1.15 at n = 10 000 gives about 0.05).
    """
    gaps = np.diff(np.sort(s))
    tied = float(np.mean(gaps < TIE))
    if tied > TIES:
        return (f"take only a few distinct values: {tied:.0%} of them repeat another one, as on a grid, after "
                "rounding, or in whole degrees. Draw continuous angles, rng.uniform(low, high, size), in radians, "
                "and do not round them.")
    if gaps.size > 50 and gaps.std() < 0.2 * gaps.mean():      # random draws: std ≈ mean (exponential gaps)
        return "are evenly spaced, a grid (shuffled or not), not random draws: draw them with rng.uniform."
    ks = ks_statistic_uniform(s, 0.0, 1.0)
    limit = KS_LEVEL / math.sqrt(len(s)) + 0.002
    if ks > limit:
        return (f"are not uniform over the whole part (KS distance {ks:.3g}, expected below {limit:.2g}): draw "
                "them with rng.uniform over the whole range, in radians, and do not transform the draws (no "
                "powers, sums or products of uniforms).")
    return None


OFFSET_BINS, PAIRED = 1_000_000, 100


def _mode_of_offsets(a: np.ndarray, b: np.ndarray, sign: int) -> int:
    """The most pairs (a_i, b_j), i < PAIRED, at one common offset b_j - a_i (sign -1) or sum b_j + a_i (mod 1)."""
    offsets = np.mod(b[None, :] + sign * a[:PAIRED, None], 1.0).ravel()
    counts = np.bincount(np.minimum((offsets * OFFSET_BINS).astype(np.int64), OFFSET_BINS - 1),
                         minlength=OFFSET_BINS)
    return int((counts + np.roll(counts, 1)).max())      # two neighbouring bins: a tie split by a bin edge


def parts_tied(name: str, a: np.ndarray, b: np.ndarray) -> str | None:
    """Why the two parts' positions are not independent (one a shift or mirror image of the other), or None.

    For independent parts the 100 × n offsets b_j - a_i (mod 1) spread evenly: two neighbouring bins of
    10⁻⁶ hold about 2 pairs for n = 10 000 (the largest of 10⁶ about 12); if each a_i has a partner at one
    common offset (b = a + c, or b = c - a for a mirror image), that offset holds all 100.
    """
    expected = 2 * PAIRED * len(b) / OFFSET_BINS
    if max(_mode_of_offsets(a, b, -1), _mode_of_offsets(a, b, +1)) > max(PAIRED / 3, 10 * expected):
        return (f"the two parts of the {name} repeat each other's angles (the same angles, mirrored or shifted): "
                "draw each part's angles with its own rng.uniform call, so that the parts are independent.")
    return None


def _unknown_pattern(name: str, title: str) -> bool:
    """Report (and return True for) a pattern name that the package does not know, e.g. "moon"."""
    if isinstance(name, str) and name in patterns.PATTERN_NAMES:
        return False
    report(FAIL, title, f"unknown pattern {name!r}: the pattern must be one of {', '.join(patterns.PATTERN_NAMES)}.")
    return True


@in_clean_state
def check_pattern_data(fn: Callable, name: str = "moons", seed: int | None = None, time_limit: float = 10.0) -> bool:
    """Check ``fn(n, rng) -> (n, 2)`` float32 numpy array of the pattern ``name`` ("moons" or "circles").

    The check draws from ``fn`` and tests the law of the points (see the module docstring), the shape for even
    and odd n, the dtype, and reproducibility from ``rng``.
    """
    title = f"{name} data"
    if _unknown_pattern(name, title):
        return False
    if not callable(fn):
        report(FAIL, title, f"expected a function, got a {type_name(fn)}.")
        return False
    seed_a, seed_b = (int(s) for s in np.random.default_rng(seed).integers(2**32, size=2))

    def draw():
        results = {n: fn(n, np.random.default_rng(seed_a)) for n in (LAW_N, 201, 7)}
        return results, fn(LAW_N, np.random.default_rng(seed_a)), fn(LAW_N, np.random.default_rng(seed_b))

    outcome = call_limited(draw, (), time_limit)
    if outcome_problem(outcome, title, time_limit):
        return False
    results, again, other = outcome.value
    for n, out in results.items():
        if out is None:
            report(FAIL, title, "your function returned None. Did you forget the `return` statement?")
            return False
        if not isinstance(out, np.ndarray):
            report(FAIL, title, f"returned a {type_name(out)}; return a numpy array of shape (n, 2).")
            return False
        if out.shape != (n, 2):
            extra = (" When you split n between two parts, give the remainder to one of them (n // 2 and "
                     "n - n // 2)." if n % 2 and out.ndim == 2 and out.shape[0] == n - 1 else "")
            report(FAIL, title, f"for n = {n} expected shape ({n}, 2), got {out.shape}.{extra}")
            return False
        if out.dtype != np.float32:
            report(FAIL, title, f"the points have dtype {out.dtype}; return a float32 array of numbers "
                   "(.astype(np.float32)), the dtype of the model's inputs.")
            return False
        if not np.all(np.isfinite(out)):
            report(FAIL, title, f"the points contain NaN or infinite values (n = {n}).")
            return False
    big = results[LAW_N]
    problem = pattern_problem(name, big.astype(np.float64))
    if problem:
        report(FAIL, title, problem)
        return False
    if not np.array_equal(np.asarray(again), big):
        report(FAIL, title, "two calls with generators of the same seed gave different points: draw all randomness "
               "from the `rng` argument.")
        return False
    if np.array_equal(np.asarray(other), big):
        report(FAIL, title, "generators with different seeds gave the same points: draw the randomness from `rng`.")
        return False
    report(PASS, title, "on the pattern, half on each part, uniform angles, reproducible from rng")
    return True


@in_clean_state
def check_pattern_curve(data_fn: Callable, curve_fn: Callable, name: str = "moons", seed: int | None = None,
                        time_limit: float = 10.0) -> bool:
    """Check a dense curve ``curve_fn(m) -> (m, 2)`` for the pattern ``name`` and the data ``data_fn``.

    The curve must lie on the pattern, be ordered (consecutive points close, except between parts), and be
    spaced like the data's law, so that the data's nearest-point positions k/(m-1) are uniform (coverage).
    """
    title = f"{name} curve"
    if _unknown_pattern(name, title):
        return False
    num_parts = len(patterns.PATTERNS[name].shares)
    for f in (data_fn, curve_fn):
        if not callable(f):
            report(FAIL, title, f"expected a function, got a {type_name(f)}.")
            return False
    n, m = 2000, 1001
    data_seed = int(np.random.default_rng(seed).integers(2**32))
    outcome = call_limited(lambda: (curve_fn(m), data_fn(n, np.random.default_rng(data_seed))), (), time_limit)
    if outcome_problem(outcome, title, time_limit):
        return False
    curve, data = outcome.value
    if curve is None:
        report(FAIL, title, "your curve function returned None. Did you forget the `return` statement?")
        return False
    if (not isinstance(curve, np.ndarray) or curve.shape != (m, 2) or curve.dtype.kind != "f"
            or not np.all(np.isfinite(curve))):
        shape = f" of shape {tuple(curve.shape)} and dtype {curve.dtype}" if isinstance(curve, np.ndarray) else ""
        report(FAIL, title, f"for m = {m} expected a finite float numpy array of shape ({m}, 2), got a "
               f"{type_name(curve)}{shape}. With two parts, give the remainder of m to one of them.")
        return False
    part, _, distance = _assign(name, curve.astype(np.float64))
    if np.any(part < 0):
        report(FAIL, title, f"{np.mean(part < 0):.0%} of the curve points are not on the {name} (largest distance "
               f"{distance.max():.3g}): use the same shapes and normalisation as the data.")
        return False
    gaps = np.linalg.norm(np.diff(curve, axis=0), axis=1)
    neighbour = pairwise_distances(curve, curve)
    np.fill_diagonal(neighbour, np.inf)
    spacing = float(np.median(neighbour.min(axis=1)))   # independent of the order of the points
    jumps = int(np.sum(gaps > 10 * spacing))
    if jumps > num_parts - 1:
        report(FAIL, title, f"the curve is not ordered: {jumps} jumps between consecutive points (at most "
               f"{num_parts - 1} between parts). Trace each part in order of its angle (np.linspace), "
               "so that the position k/(m-1) along the curve means something.")
        return False
    if not isinstance(data, np.ndarray) or data.shape != (n, 2) or data.dtype.kind != "f":
        report(FAIL, title, "the data function does not return an (n, 2) float array: run its own check first.")
        return False
    coverage = reference_curve_coverage(data, curve)
    threshold = 1.95 / math.sqrt(n) + 2.0 / (m - 1)   # KS 0.1 % critical value, plus the grid
    if coverage > threshold:
        report(FAIL, title, f"the data cover the curve unevenly (KS distance {coverage:.3g}, expected below "
               f"{threshold:.2g} for true data). Space the curve points the way the data are drawn: the same share "
               "of points on each part, equally spaced in the angle.")
        return False
    report(PASS, title, "on the pattern, ordered, and the data cover it evenly")
    return True


def reference_curve_coverage(points: np.ndarray, curve: np.ndarray) -> float:
    """KS distance to U(0, 1) of the positions k / (m - 1) of each point's nearest curve point."""
    _, index = nearest_curve_points(points, curve)
    return ks_statistic_uniform(index / (len(curve) - 1), 0.0, 1.0)


def _cases_curve_coverage(rng):
    cases = []
    for _ in range(3):
        m, n = int(rng.integers(100, 300)), int(rng.integers(30, 120))
        s = np.linspace(0, 1, m)
        curve = np.stack([np.cos(np.pi * s), np.sin(np.pi * s)], axis=1)
        u = rng.beta(*rng.uniform(0.7, 2.0, size=2), size=n)
        points = np.stack([np.cos(np.pi * u), np.sin(np.pi * u)], axis=1) + 0.05 * rng.standard_normal((n, 2))
        cases.append(Case((points, curve), f"{n} points, curve of {m} points"))
    return cases


CURVE_COVERAGE = Exercise(
    name="coverage of a curve",
    make_cases=_cases_curve_coverage,
    reference=reference_curve_coverage,
    arg_names=("points", "curve"),
    python_number=True,
    mistakes=[
        variant("the position of curve point k is k / (m - 1), so that the first is 0 and the last is 1.",
                lambda p, c: ks_statistic_uniform(nearest_curve_points(p, c)[1] / len(c), 0.0, 1.0)),
        variant("coverage looks at *where* along the curve the points land (the index of the nearest curve "
                "point), not at how far they are from it.",
                lambda p, c: ks_statistic_uniform(np.clip(nearest_curve_points(p, c)[0], 0, 1), 0.0, 1.0)),
    ],
    type_hint="Return one number.",
)


def check_curve_coverage(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(points, curve)``: KS distance of the nearest-point positions k/(m-1) to U(0, 1)."""
    return run_check(CURVE_COVERAGE, fn, seed)


def _cases_shares(rng):
    cases = []
    for k in range(4):
        names = tuple(str(n) for n in rng.permutation(patterns.PATTERN_NAMES)[: int(rng.integers(2, 5))])
        if k == 0:   # every point exactly on the first pattern: the others get share 0
            points = patterns.make_pattern(names[0], 60, rng, dtype=np.float64)
        else:
            counts = rng.integers(10, 60, size=len(names))
            points = np.concatenate([patterns.make_pattern(n, int(c), rng, noise=0.02, dtype=np.float64)
                                     for n, c in zip(names, counts)])
        cases.append(Case((points, names), f"{len(points)} points, names {names}"))
    return cases


def _nearest(points, names):
    return np.argmin(np.stack([patterns.distance_to_pattern(n, points) for n in names]), axis=0)


SHARES = Exercise(
    name="share per pattern",
    make_cases=_cases_shares,
    reference=lambda points, names: patterns.pattern_shares(points, tuple(names)),
    arg_names=("points", "names"),
    mistakes=[
        variant("these are counts: divide by the number of points to get shares.",
                lambda p, n: np.bincount(_nearest(p, n), minlength=len(n)).astype(float)),
        variant("each point belongs to the pattern whose curve is *nearest* (argmin of the distances), not farthest.",
                lambda p, n: np.bincount(np.argmax(np.stack([patterns.distance_to_pattern(k, p) for k in n]), 0),
                                         minlength=len(n)) / len(p)),
        variant("the shares must follow the order of `names`, one per name, not the order of PATTERN_NAMES.",
                lambda p, n: None if tuple(n) == patterns.PATTERN_NAMES[:len(n)] else
                patterns.pattern_shares(p, patterns.PATTERN_NAMES)[:len(n)]),
        Mistake("a pattern that no point is nearest to still needs its share, 0: np.bincount(..., "
                "minlength=len(names)).",
                predicate=lambda outs, cases, expected: any(
                    hasattr(o, "shape") and np.ndim(o) == 1 and len(o) < len(c.args[1]) for o, c in zip(outs, cases))),
    ],
    type_hint="Return a numpy array with one share per name.",
)


def check_pattern_shares(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(points, names)``: the share of the points whose nearest curve is each pattern of ``names``."""
    return run_check(SHARES, fn, seed)


__all__ = ["check_pattern_data", "check_pattern_curve", "check_curve_coverage", "reference_curve_coverage",
           "reference_mean_distance", "pairwise_distances", "check_pattern_shares"]
