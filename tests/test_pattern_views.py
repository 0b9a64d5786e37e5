"""Chapter 10's figures and its guidance-scale slider."""
from __future__ import annotations

import re

import matplotlib
import numpy as np
import pytest

from ddpm_lessons import liveview, pattern_views, patterns

matplotlib.use("Agg")


@pytest.fixture
def samples():
    rng = np.random.default_rng(0)
    return {w: {name: patterns.make_pattern(name, 200, rng, noise=0.01 * (1 + w)) for name in ("moons", "circles")}
            for w in (0.0, 1.0)}


def test_guidance_data_measures_each_pattern_against_a_dense_curve(samples):
    data = pattern_views.guidance_data(1.0, samples)
    for name, points in samples[1.0].items():
        curve = patterns.pattern_curve(name, 20_001)
        brute = np.sqrt(((points[:, None] - curve[None]) ** 2).sum(-1).min(1)).mean()
        assert data["mean_distance"][name] == pytest.approx(brute, abs=2e-4)
        assert 0.0 <= data["coverage_ks"][name] <= 1.0
    with pytest.raises(ValueError, match="no samples for w"):
        pattern_views.guidance_data(2.0, samples)


def test_readout_numbers_can_be_read_back(samples):
    data = pattern_views.guidance_data(0.0, samples)
    lines = pattern_views.guidance_readout(data)
    assert lines[0] == "w = 0"
    for line, name in zip(lines[1:], samples[0.0]):
        distance = float(re.search(liveview.READOUT_PATTERNS["mean_distance"], line).group(1))
        ks = float(re.search(liveview.READOUT_PATTERNS["coverage_ks"], line).group(1))
        assert distance == pytest.approx(data["mean_distance"][name], rel=1e-3)
        assert ks == pytest.approx(data["coverage_ks"][name], rel=1e-3)


def test_view_has_a_w_slider_and_redraws(samples):
    view = pattern_views.guidance_view({"every step": samples})
    slider = view.controls["w"]
    assert "ddpm-slider-w" in slider._dom_classes and list(slider.options) == [0.0, 1.0]
    assert "where" not in view.controls   # one way of guiding: no second slider
    slider.value = 1.0
    assert view.data["w"] == 1.0 and view.readout_text().startswith("w = 1\n")


def test_view_switches_between_ways_of_guiding(samples):
    rng = np.random.default_rng(1)
    other = {w: {name: patterns.make_pattern(name, 200, rng) for name in ("moons", "circles")}
             for w in (0.0, 1.0)}
    view = pattern_views.guidance_view({"every step": samples, "5 ≤ t ≤ 60": other}, w=1.0)
    where = view.controls["where"]
    assert "ddpm-slider-where" in where._dom_classes
    assert list(where.options) == ["every step", "5 ≤ t ≤ 60"]
    assert view.data["points"] is samples[1.0]
    assert view.readout_text().startswith("w = 1 · guidance at every step")
    where.value = "5 ≤ t ≤ 60"
    assert view.data["points"] is other[1.0] and view.data["where"] == "5 ≤ t ≤ 60"
    assert view.data["mean_distance"]["moons"] == pytest.approx(
        patterns.mean_distance("moons", other[1.0]["moons"]))
    assert "guidance at 5 ≤ t ≤ 60" in view.readout_text().splitlines()[0]
    with pytest.raises(ValueError, match="same scales"):
        pattern_views.guidance_view({"every step": samples, "other": {0.0: samples[0.0]}})
    with pytest.raises(ValueError):
        pattern_views.guidance_view({})


def test_figures_have_one_panel_per_pattern_and_titles(samples):
    fig = pattern_views.draw_patterns(samples[0.0], suptitle="two")
    visible = [ax for ax in fig.axes if ax.axison]
    assert [ax.get_title() for ax in visible] == ["moons", "circles"]
    assert all(ax.get_aspect() == 1.0 for ax in visible)
    fig = pattern_views.plot_tradeoff([0, 1], {"moons": [0.1, 0.2]}, {"moons": [0.05, 0.1]}, floor=0.03,
                                      title="Guidance in an interval")
    assert len(fig.axes) == 2 and fig._suptitle.get_text() == "Guidance in an interval"
    fig = pattern_views.plot_shares(("a", "b"), [0.4, 0.6], [0.5, 0.5])
    assert fig.axes[0].get_ylim()[1] >= 0.6
    with pytest.raises(ValueError):
        pattern_views.draw_patterns({})
