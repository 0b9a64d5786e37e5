"""The patterns of chapter 10: generators against their exact curves, closed forms against brute force."""
from __future__ import annotations

import math

import numpy as np
import pytest

from ddpm_lessons import optimal, patterns
from ddpm_lessons.spiral import T_MAX, T_MIN, make_spiral, spiral_curve

OTHERS = ("moons", "circles", "diamond")


def dense_raw_curve(name: str, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Dense points of each pattern from its textbook formula (normalised), with their positions u.

    Written independently of the package's parts: moons (cos a, sin a) and (1 - cos b, 1/2 - sin b)
    mapped by 2/3 (u - (1/2, 1/4)); circles of radius 1 and 1/2; the diamond's outline walked
    counter-clockwise from (1, 0).
    """
    s = np.linspace(0.0, 1.0, m)
    if name == "spiral":
        return spiral_curve(T_MIN + s * (T_MAX - T_MIN)), s
    if name == "moons":
        a = math.pi * s
        upper = np.stack([np.cos(a), np.sin(a)], 1)
        lower = np.stack([1 - np.cos(a), 0.5 - np.sin(a)], 1)
        raw = np.concatenate([upper, lower])
        return (raw - [0.5, 0.25]) * (2 / 3), np.concatenate([s / 2, 0.5 + s / 2])
    if name == "circles":
        a = 2 * math.pi * s
        ring = np.stack([np.cos(a), np.sin(a)], 1)
        return np.concatenate([ring, 0.5 * ring]), np.concatenate([s / 2, 0.5 + s / 2])
    corners = np.array([[1, 0], [0, 1], [-1, 0], [0, -1], [1, 0]], dtype=float)
    sides = [corners[k] + s[:, None] * (corners[k + 1] - corners[k]) for k in range(4)]
    return np.concatenate(sides), np.concatenate([(k + s) / 4 for k in range(4)])


def test_part_counts_split_like_the_exercise():
    for n in (1, 2, 7, 201, 4000):
        halves = patterns.part_counts((0.5, 0.5), n)
        assert halves.tolist() == [n // 2, n - n // 2]
        quarters = patterns.part_counts((0.25,) * 4, n)
        assert quarters.sum() == n and quarters.max() - quarters.min() <= 1


@pytest.mark.parametrize("name", patterns.PATTERN_NAMES)
def test_generated_points_lie_on_the_curve(name):
    points = patterns.make_pattern(name, 3001, np.random.default_rng(4), dtype=np.float64)
    assert points.shape == (3001, 2) and points.dtype == np.float64
    assert patterns.distance_to_pattern(name, points).max() < 1e-12
    assert patterns.make_pattern(name, 10, np.random.default_rng(0)).dtype == np.float32


@pytest.mark.parametrize("name", patterns.PATTERN_NAMES)
def test_generator_is_reproducible_and_uses_rng(name):
    a = patterns.make_pattern(name, 500, np.random.default_rng(1))
    b = patterns.make_pattern(name, 500, np.random.default_rng(1))
    c = patterns.make_pattern(name, 500, np.random.default_rng(2))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_spiral_pattern_is_chapter_2s_spiral():
    for noise in (0.0, 0.05):
        ours = patterns.make_pattern("spiral", 700, np.random.default_rng(3), noise=noise)
        theirs = make_spiral(700, np.random.default_rng(3), noise=noise)
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-7)


def brute_force_nearest(points: np.ndarray, dense: np.ndarray, u_dense: np.ndarray,
                        tie: float = 1e-6, rows: int = 32) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each point, by trying every dense curve point: the smallest distance, the position u
    of the nearest dense point, and the spread of u over the dense points within ``tie`` (in
    squared distance) of the smallest. ``rows`` points at a time, so memory stays small."""
    brute, nearest_u, spread = [], [], []
    for start in range(0, len(points), rows):
        dx = points[start:start + rows, 0, None] - dense[None, :, 0]
        dy = points[start:start + rows, 1, None] - dense[None, :, 1]
        d2 = dx * dx + dy * dy
        smallest = d2.min(axis=1)
        brute.append(np.sqrt(smallest))
        nearest_u.append(u_dense[d2.argmin(axis=1)])
        spread.extend(np.ptp(u_dense[row <= low + tie]) for row, low in zip(d2, smallest))
    return np.concatenate(brute), np.concatenate(nearest_u), np.array(spread)


@pytest.mark.parametrize("name", OTHERS)
def test_closed_form_distance_matches_dense_brute_force(name):
    rng = np.random.default_rng(5)
    m = 40_001
    dense, u_dense = dense_raw_curve(name, m)
    near = patterns.make_pattern(name, 300, rng, noise=0.05, dtype=np.float64)
    far = rng.uniform(-2.0, 2.0, size=(300, 2))
    points = np.concatenate([near, far, [[0.0, 0.0], [0.5, 0.25]]])
    brute, nearest_u, spread = brute_force_nearest(points, dense, u_dense)
    closed = patterns.distance_to_pattern(name, points)
    # the dense curve's points are at most h = 2π/(m - 1) apart: the brute force is above the
    # exact distance by less than h, never below it
    h = 2 * math.pi / (m - 1)
    assert np.all(closed <= brute + 1e-12)
    assert np.all(brute - closed < h)
    # positions agree where the nearest curve point is unique (not at a tie between parts)
    u = patterns.pattern_position(name, points)
    clear = spread < 0.01
    assert clear.mean() > 0.9
    np.testing.assert_allclose(u[clear], nearest_u[clear], atol=2e-3)


def test_spiral_distance_and_position_are_chapter_7s():
    points = np.random.default_rng(6).uniform(-1.5, 1.5, size=(400, 2))
    t_star, _, distance = optimal.closest_points(points)
    np.testing.assert_array_equal(patterns.distance_to_pattern("spiral", points), distance)
    np.testing.assert_allclose(patterns.pattern_position("spiral", points),
                               (t_star - T_MIN) / (T_MAX - T_MIN), rtol=0, atol=1e-15)
    assert patterns.coverage_ks("spiral", points) == pytest.approx(optimal.coverage_ks(points), abs=1e-12)


def test_normalisation_is_one_affine_map():
    boxes = {"moons": ([-1, -0.5], [1, 0.5]), "circles": ([-1, -1], [1, 1]), "diamond": ([-1, -1], [1, 1])}
    for name, (lo, hi) in boxes.items():
        curve = patterns.pattern_curve(name, 40_001)
        np.testing.assert_allclose(curve.min(0), lo, atol=1e-8)
        np.testing.assert_allclose(curve.max(0), hi, atol=1e-8)
    # the moons keep their radius: one scale 2/3 on both axes
    upper = patterns.pattern_curve("moons", 1001)[:500]
    centre = (np.array([0.0, 0.0]) - [0.5, 0.25]) * 2 / 3
    np.testing.assert_allclose(np.linalg.norm(upper - centre, axis=1), 2 / 3, atol=1e-12)


@pytest.mark.parametrize("name", patterns.PATTERN_NAMES)
def test_pattern_curve_positions_are_uniform(name):
    curve = patterns.pattern_curve(name, 2001)
    assert patterns.distance_to_pattern(name, curve).max() < 1e-12
    u = patterns.pattern_position(name, curve)
    # interior points: exact positions (ends of parts may tie with the next part's start)
    inner = np.abs(u - np.linspace(0, 1, 2001)) < 1e-9
    assert inner.mean() > 0.99


@pytest.mark.parametrize("name", patterns.PATTERN_NAMES)
def test_true_data_cover_their_pattern(name):
    for seed in range(3):
        points = patterns.make_pattern(name, 1000, np.random.default_rng(seed))
        assert patterns.coverage_ks(name, points) < 1.63 / math.sqrt(1000)   # 1 % critical value
        assert patterns.mean_distance(name, points) < 1e-6


def test_coverage_sees_a_missing_part_and_arc_length_draws():
    rng = np.random.default_rng(7)
    moons = patterns.make_pattern("moons", 2000, rng)
    upper_only = moons[:1000]
    assert patterns.coverage_ks("moons", upper_only) == pytest.approx(0.5, abs=0.01)
    # circles drawn uniformly by arc length: 2/3 of the points on the outer circle, KS ≈ 1/6
    outer = rng.uniform(0, 1, 2000) < 2 / 3
    angle = rng.uniform(0, 2 * math.pi, 2000)
    radius = np.where(outer, 1.0, 0.5)
    by_length = np.stack([radius * np.cos(angle), radius * np.sin(angle)], 1)
    assert patterns.coverage_ks("circles", by_length) == pytest.approx(1 / 6, abs=0.03)


def test_shares_of_a_known_mixture():
    rng = np.random.default_rng(8)
    counts = {"spiral": 100, "moons": 200, "circles": 300, "diamond": 400}
    points = np.concatenate([patterns.make_pattern(n, k, rng, dtype=np.float64) for n, k in counts.items()])
    truth = np.repeat(np.arange(4), list(counts.values()))
    found = patterns.nearest_pattern(points)
    # the curves cross at a few points only: points drawn on one are nearest to it, ties aside
    assert np.mean(found == truth) > 0.99
    shares = patterns.pattern_shares(points)
    np.testing.assert_allclose(shares, np.bincount(found, minlength=4) / 1000)
    np.testing.assert_allclose(shares, [0.1, 0.2, 0.3, 0.4], atol=0.01)
    assert shares.sum() == pytest.approx(1.0)


def test_arc_ends_are_closest_beyond_the_arc():
    # below the upper moon's circle centre, straight down: the closest arc points are its ends
    q = np.array([[(0.0 - 0.5) * 2 / 3, (-0.8 - 0.25) * 2 / 3]])
    left_end, right_end = (np.array([[-1.0, 0.0]]) - [0.5, 0.25]) * 2 / 3, (np.array([[1.0, 0.0]]) - [0.5, 0.25]) * 2 / 3
    expected = min(np.linalg.norm(q - left_end), np.linalg.norm(q - right_end))
    arc = patterns.PATTERNS["moons"].normalised_parts()[0]
    distance, s = arc.closest(q)
    assert distance[0] == pytest.approx(expected, abs=1e-15) and s[0] in (0.0, 1.0)


@pytest.mark.parametrize("call", [
    lambda: patterns.make_pattern("heart", 10, np.random.default_rng(0)),
    lambda: patterns.make_pattern("moons", 0, np.random.default_rng(0)),
    lambda: patterns.make_pattern("moons", 2.5, np.random.default_rng(0)),
    lambda: patterns.make_pattern("moons", 10, np.random.default_rng(0), noise=-1.0),
    lambda: patterns.make_pattern("moons", 10, np.random.default_rng(0), dtype=np.int64),
    lambda: patterns.distance_to_pattern("Moons", np.zeros((3, 2))),
    lambda: patterns.distance_to_pattern("moons", np.zeros((3, 3))),
    lambda: patterns.distance_to_pattern("moons", np.full((3, 2), np.nan)),
    lambda: patterns.coverage_ks("circles", np.zeros((0, 2))),
    lambda: patterns.mean_distance("circles", np.zeros((0, 2))),
    lambda: patterns.pattern_shares(np.zeros((0, 2))),
    lambda: patterns.nearest_pattern(np.zeros((3, 2)), ()),
    lambda: patterns.pattern_curve("diamond", 1),
])
def test_bad_input_is_refused(call):
    with pytest.raises(ValueError):
        call()
