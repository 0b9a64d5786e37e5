"""Tests of ``ddpm_lessons.views`` and ``ddpm_lessons.liveview``: the pure data
functions return the right numbers (against values computed here, by hand),
the readouts print them in a stable form, and the live views react to their
sliders (no browser needed)."""
from __future__ import annotations

import base64
import math
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from conftest import Z_TOL, cumprod_by_hand, linear_betas_by_hand, trajectory  # noqa: E402
from oracles import brute_force_closest_t  # noqa: E402
from ddpm_lessons import liveview, views  # noqa: E402
from ddpm_lessons.schedules import schedule_summary  # noqa: E402
from ddpm_lessons.spiral import T_MAX, T_MIN, spiral_curve  # noqa: E402



@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def read(text: str, key: str) -> float:
    match = re.search(liveview.READOUT_PATTERNS[key], text)
    assert match, f"{key!r} not found in {text!r}"
    return float(match.group(1))


def classes(widget) -> list[str]:
    return list(widget._dom_classes)


# ------------------------------------------------------------------------- normal

def test_normal_data_is_mu_plus_sigma_z():
    base = views.normal_data(0.0, 1.0, 1000, seed=3)
    moved = views.normal_data(2.0, 0.5, 1000, seed=3)
    np.testing.assert_allclose(moved["samples"], 2.0 + 0.5 * base["samples"], rtol=1e-12)
    z = np.random.default_rng(3).standard_normal(1000)
    np.testing.assert_allclose(base["samples"], z)
    x = moved["grid"]
    np.testing.assert_allclose(moved["pdf"], np.exp(-2 * (x - 2) ** 2) / (0.5 * math.sqrt(2 * math.pi)))
    assert moved["sample_mean"] == pytest.approx(2.0 + 0.5 * z.mean())
    assert moved["sample_std"] == pytest.approx(0.5 * z.std())
    assert read("\n".join(views.normal_readout(moved)), "sample_mean") == pytest.approx(
        moved["sample_mean"], rel=1e-3)
    with pytest.raises(ValueError, match="sigma must be a finite number > 0, got 0"):
        views.normal_data(0.0, 0)


def test_normal_view_sliders_redraw():
    view = views.normal_view()
    assert set(view.controls) == {"mu", "sigma", "n"}
    for name in ("mu", "sigma", "n"):
        assert f"ddpm-slider-{name}" in classes(view.controls[name])
        assert view.controls[name].description
    assert "ddpm-readout" in classes(view.readout)
    (shown,) = view.output.outputs                     # the figure, as a PNG in the widget
    assert base64.b64decode(shown["data"]["image/png"])[:8] == b"\x89PNG\r\n\x1a\n"
    view.controls["n"].value = 100
    assert view.data["samples"].shape == (100,)
    assert view.output.outputs[0]["data"]["image/png"] != shown["data"]["image/png"]
    view.controls["mu"].value = 1.5
    assert view.data["mu"] == 1.5
    assert read(view.readout_text(), "sample_mean") == pytest.approx(view.data["sample_mean"], rel=1e-3)


def test_a_change_from_another_thread_is_drawn_on_the_views_own_loop():
    """JupyterLab may deliver a slider's message on a kernel subshell (another thread);
    the view redraws on the thread and event loop that made it, not concurrently."""
    import asyncio
    import threading

    async def scenario():
        view = views.normal_view()                          # made inside a running loop
        drawn_on = []
        refresh = view.refresh
        view.refresh = lambda: (drawn_on.append(threading.current_thread()), refresh())
        worker = threading.Thread(target=lambda: setattr(view.controls["n"], "value", 100))
        worker.start()
        worker.join()
        assert drawn_on == [] and view.data["samples"].shape != (100,)   # queued, not drawn there
        await asyncio.sleep(0.01)                           # the loop runs the redraw
        assert drawn_on == [threading.current_thread()]
        assert view.data["samples"].shape == (100,)

    asyncio.run(scenario())
    outside = views.normal_view()                           # no loop: a change draws at once
    outside.controls["n"].value = 100
    assert outside.data["samples"].shape == (100,)


# ------------------------------------------------------------------------ forward

def test_forward_data_alpha_bar_T_matches_the_schedule(source_betas):
    data = views.forward_data(8e-6, 9e-5, 40, 40)
    by_hand = cumprod_by_hand(linear_betas_by_hand(40, 8e-6, 9e-5))
    assert data["summary"]["alpha_bar_T"] == pytest.approx(by_hand[-1], rel=1e-12)
    assert data["summary"] == schedule_summary(source_betas)
    np.testing.assert_allclose(data["alphas_cumprod"], [1.0] + by_hand, rtol=1e-12)
    text = "\n".join(views.forward_readout(data))
    assert "ᾱ_T = 0.9521" in text                        # the source schedule barely noises
    assert read(text, "alpha_bar_T") == pytest.approx(by_hand[-1], rel=1e-4)
    kl = 0.5 * (by_hand[-1] - by_hand[-1] - math.log(1 - by_hand[-1]))   # eq. (6.3) at |x_0| = 1
    assert read(text, "prior_kl") == pytest.approx(kl, rel=1e-3)
    assert read(text, "T") == 40 and read(text, "t") == 40


def test_forward_data_moves_with_t_and_equals_the_shortcut():
    d0, d10, d40 = (views.forward_data(1e-4, 0.02, 40, t) for t in (0, 10, 40))
    np.testing.assert_allclose(d0["x_t"], d0["x0"])                # t = 0 is the data
    assert np.abs(d10["x_t"] - d0["x_t"]).mean() > 0.1              # moving t moves the points
    np.testing.assert_array_equal(d10["x0"], d40["x0"])             # same x_0 and ε
    abar_10 = cumprod_by_hand(linear_betas_by_hand(40, 1e-4, 0.02))[9]
    expected = math.sqrt(abar_10) * d10["x0"] + math.sqrt(1 - abar_10) * d10["noise"]   # eq. (3.5)
    np.testing.assert_allclose(d10["x_t"], expected, rtol=1e-12, atol=1e-12)
    assert d10["alpha_bar_t"] == pytest.approx(abar_10, rel=1e-12)


def test_forward_data_statistics_match_q_xt_given_x0():
    """x_t - √ᾱ_t x_0 ~ N(0, 1 - ᾱ_t): its mean and variance within Z_TOL standard errors."""
    n, t = 20_000, 12
    data = views.forward_data(1e-4, 0.02, 40, t, n=n, seed=5)
    abar = data["alpha_bar_t"]
    residual = data["x_t"] - math.sqrt(abar) * data["x0"]
    var = 1 - abar
    assert np.all(np.abs(residual.mean(0)) < Z_TOL * math.sqrt(var / n))
    assert np.all(np.abs(residual.var(0) - var) < Z_TOL * var * math.sqrt(2 / n))


def test_forward_data_rejects_bad_input():
    with pytest.raises(ValueError, match="t must be an integer in 0..40, got 41"):
        views.forward_data(8e-6, 9e-5, 40, 41)
    with pytest.raises(ValueError, match="beta_start <= beta_end"):
        views.forward_data(1e-3, 1e-4, 40, 1)


def test_forward_view_classes_readout_and_sliders():
    view = views.forward_view()
    names = {"beta_start": "beta-start", "beta_end": "beta-end", "num_timesteps": "T", "t": "t"}
    for key, cls in names.items():
        assert f"ddpm-slider-{cls}" in classes(view.controls[key])
        assert view.controls[key].description
    assert "ddpm-view-forward" in classes(view.widget)
    assert "ᾱ_T = 0.9521" in view.readout_text()
    view.controls["t"].value = 5
    assert view.data["t"] == 5 and read(view.readout_text(), "t") == 5
    x_t5 = view.data["x_t"].copy()
    view.controls["t"].value = 30
    assert not np.allclose(view.data["x_t"], x_t5)
    # T bounds t; a t at the end follows T
    view.controls["num_timesteps"].value = 20
    assert view.controls["t"].max == 20 and view.controls["t"].value == 20
    view.controls["num_timesteps"].value = 100
    assert view.controls["t"].value == 100 and view.data["T"] == 100
    view.controls["beta_end"].value = 0.02
    expected = cumprod_by_hand(linear_betas_by_hand(100, 8e-6, 0.02))[-1]
    assert read(view.readout_text(), "alpha_bar_T") == pytest.approx(expected, rel=1e-3)
    # impossible input is explained, not raised
    view.controls["beta_end"].value = 1e-4
    assert view.error is None
    view.controls["beta_start"].value = 1e-3
    assert view.error and "beta_start <= beta_end" in view.readout_text()
    assert view.data is None and view.output.outputs == ()


# ----------------------------------------------------------------------- shortcut

def test_iterate_forward_equals_steps_of_eq_2_3_by_hand(course_betas):
    x0 = np.random.default_rng(0).standard_normal((8, 2))
    ours = views.iterate_forward(x0, course_betas, 6, np.random.default_rng(11))
    betas = linear_betas_by_hand(40, 1e-4, 0.02)
    rng, x = np.random.default_rng(11), x0.copy()
    for s in range(1, 7):
        x = math.sqrt(1 - betas[s - 1]) * x + math.sqrt(betas[s - 1]) * rng.standard_normal((8, 2))
    np.testing.assert_allclose(ours, x, rtol=1e-12)
    np.testing.assert_array_equal(views.iterate_forward(x0, course_betas, 0, rng), x0)


@pytest.mark.parametrize("t", [0, 3, 10, 40])
def test_shortcut_data_iterated_and_shortcut_agree_in_distribution(t):
    n = 20_000
    data = views.shortcut_data(t, n=n, seed=2)
    abar = cumprod_by_hand(linear_betas_by_hand(40, 1e-4, 0.02))
    abar_t = 1.0 if t == 0 else abar[t - 1]
    assert data["alpha_bar_t"] == pytest.approx(abar_t)
    np.testing.assert_allclose(data["mean_exact"], math.sqrt(abar_t) * data["x0"].mean(0))
    np.testing.assert_allclose(data["var_exact"], abar_t * data["x0"].var(0) + 1 - abar_t)
    if t == 0:
        np.testing.assert_array_equal(data["iterated"], data["x0"])
        np.testing.assert_array_equal(data["shortcut"], data["x0"])
        return
    # given x_0, each x_t has variance 1 - ᾱ_t around √ᾱ_t x_0: standard errors of the averages
    for way in ("iterated", "shortcut"):
        residual = data[way] - math.sqrt(abar_t) * data["x0"]
        assert np.all(np.abs(residual.mean(0)) < Z_TOL * math.sqrt((1 - abar_t) / n))
        assert np.all(np.abs(residual.var(0) - (1 - abar_t)) < Z_TOL * (1 - abar_t) * math.sqrt(2 / n))
    assert not np.allclose(data["iterated"], data["shortcut"])       # independent noise


def test_shortcut_view_slider_and_readout():
    view = views.shortcut_view(t=5)
    assert "ddpm-slider-t" in classes(view.controls["t"])
    assert view.controls["t"].max == 40
    assert read(view.readout_text(), "alpha_bar_t") == pytest.approx(view.data["alpha_bar_t"], rel=1e-3)
    view.controls["t"].value = 20
    assert view.data["t"] == 20 and "t = 20" in view.readout_text()


# ---------------------------------------------------------------------- posterior

@pytest.mark.parametrize("t, x0, xt", [(2, 0.3, 0.1), (10, 0.5, -0.5), (40, -1.0, 1.0)])
def test_posterior_data_matches_eq_4_5_by_hand_and_bayes(t, x0, xt):
    data = views.posterior_data(t, x0, xt)
    betas = linear_betas_by_hand(40, 1e-4, 0.02)
    abar = [1.0] + cumprod_by_hand(betas)
    beta, abar_t, abar_prev = betas[t - 1], abar[t], abar[t - 1]
    mean = (beta * math.sqrt(abar_prev) * x0 + (1 - abar_prev) * math.sqrt(1 - beta) * xt) / (1 - abar_t)
    var = beta * (1 - abar_prev) / (1 - abar_t)
    assert data["posterior_mean"] == pytest.approx(mean, rel=1e-12, abs=1e-14)
    assert data["posterior_variance"] == pytest.approx(var, rel=1e-12)
    # Bayes' rule on the grid equals the closed-form density, eq. (4.1) vs (4.5)-(4.6)
    peak = data["closed_form"].max()
    assert np.max(np.abs(data["bayes"] - data["closed_form"])) < 1e-9 * peak
    # the closed form is a density: integrates to 1, mean μ̃ (trapezoid rule on the grid)
    g, p = data["grid"], data["closed_form"]
    assert np.trapezoid(p, g) == pytest.approx(1.0, abs=1e-6)
    assert np.trapezoid(g * p, g) == pytest.approx(data["posterior_mean"], abs=1e-6)
    text = "\n".join(views.posterior_readout(data))
    assert read(text, "posterior_mean") == pytest.approx(data["posterior_mean"], rel=1e-3, abs=1e-4)
    assert read(text, "posterior_variance") == pytest.approx(data["posterior_variance"], rel=1e-3)


def test_posterior_data_rejects_t_1_and_nan():
    with pytest.raises(ValueError, match=r"t must be an integer in 2\.\.40, got 1"):
        views.posterior_data(1, 0.0, 0.0)
    with pytest.raises(ValueError, match="x0 must be a finite number"):
        views.posterior_data(5, float("nan"), 0.0)


def test_posterior_view_sliders_and_static_grid():
    view = views.posterior_view()
    for name in ("t", "x0", "xt"):
        assert f"ddpm-slider-{name}" in classes(view.controls[name])
    assert view.controls["t"].min == 2
    before = view.data["posterior_mean"]
    view.controls["xt"].value = 1.0
    assert view.data["posterior_mean"] > before                     # μ̃ grows with x_t
    datas = [views.posterior_data(t) for t in (2, 10, 40)]
    fig = views.grid_of(views.draw_posterior, datas, ncols=2, suptitle="posterior")
    drawn = [ax for ax in fig.axes if ax.axison]
    assert len(drawn) == 3
    for ax, data in zip(drawn, datas):
        assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
        assert f"t = {data['t']}" in ax.get_title()


def test_draw_functions_title_and_label_every_axes():
    figs = [views.draw_normal(views.normal_data()), views.draw_forward(views.forward_data()),
            views.draw_shortcut(views.shortcut_data(5)),
            views.draw_posterior(views.posterior_data())]
    for fig in figs:
        for ax in fig.axes:
            assert ax.get_title() and ax.get_xlabel()
    spiral_axes = [figs[1].axes[0], *figs[2].axes]
    assert all(ax.get_aspect() == 1.0 for ax in spiral_axes)


# ------------------------------------------------------------ the reverse view (ch. 7)


def test_reverse_data_measures_x_t_against_brute_force():
    xs, x_starts = trajectory(T=6, n=40)
    data = views.reverse_data(4, xs, x_starts)
    assert (data["t"], data["T"]) == (4, 6)
    np.testing.assert_array_equal(data["x_t"], xs[4])
    np.testing.assert_array_equal(data["x0_hat"], x_starts[4])
    t_brute = brute_force_closest_t(xs[4], 200_001)
    brute = spiral_curve(t_brute)
    np.testing.assert_allclose(data["closest"], brute, atol=1e-4)
    distance = np.linalg.norm(brute - xs[4], axis=1)
    assert data["mean_distance"] == pytest.approx(distance.mean(), abs=1e-6)
    # KS of the closest-point parameters against U(1.5π, 4.5π), written out.
    u = np.sort((t_brute - T_MIN) / (T_MAX - T_MIN))
    i = np.arange(1, u.size + 1)
    ks = max(np.max(i / u.size - u), np.max(u - (i - 1) / u.size))
    assert data["coverage_ks"] == pytest.approx(ks, abs=1e-4)
    assert views.reverse_data(0, xs, x_starts)["mean_distance"] < 1e-6   # x_0 is on the spiral


def test_reverse_data_rejects_bad_t_and_shapes():
    xs, x_starts = trajectory(T=3)
    with pytest.raises(ValueError, match=r"t must be an integer in 0..3, got 4"):
        views.reverse_data(4, xs, x_starts)
    with pytest.raises(ValueError, match="same shape"):
        views.reverse_data(1, xs, x_starts[:, :5])


def test_reverse_view_slider_readout_and_figure():
    xs, x_starts = trajectory(T=6, n=30)
    view = views.reverse_view(xs, x_starts)
    slider = view.controls["t"]
    assert "ddpm-slider-t" in slider._dom_classes and "ddpm-view-reverse" in view.widget._dom_classes
    assert (slider.min, slider.max, slider.value) == (0, 6, 6)
    text = view.readout_text()
    assert read(text, "t") == 6 and read(text, "T") == 6
    assert read(text, "mean_distance") == pytest.approx(view.data["mean_distance"], rel=1e-3)
    slider.value = 0
    assert view.data["t"] == 0
    assert read(view.readout_text(), "mean_distance") < 1e-6
    assert read(view.readout_text(), "coverage_ks") == pytest.approx(view.data["coverage_ks"], rel=1e-3)
    fig = views.draw_reverse(view.data)
    assert len(fig.axes) == 2 and all(ax.get_title() and ax.get_aspect() == 1.0 for ax in fig.axes)
