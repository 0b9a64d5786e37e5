"""Tests of ``ddpm_lessons.plotting``: figures are titled, labelled, square for the
spiral, show the right data; animations have the right frames; GIF and HTML export."""
from __future__ import annotations

import math
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from conftest import cumprod_by_hand, linear_betas_by_hand  # noqa: E402
from ddpm_lessons import plotting  # noqa: E402
from ddpm_lessons.schedules import cosine_beta_schedule, linear_beta_schedule  # noqa: E402
from ddpm_lessons.spiral import make_spiral  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture
def points() -> np.ndarray:
    return make_spiral(300, np.random.default_rng(0))


def frames_of(K: int, n: int = 50) -> np.ndarray:
    """K frames in which frame k is the constant point cloud (k, -k) / K: easy to identify."""
    ks = np.arange(K, dtype=np.float64)[:, None, None]
    return np.broadcast_to(np.concatenate([ks, -ks], axis=2) / K, (K, n, 2)).copy()


def rendered(anim):
    """Mark an animation that a test inspects without exporting it as used."""
    anim._draw_was_started = True
    return anim


def assert_titled_and_labelled(ax) -> None:
    assert ax.get_title().strip(), "axes without a title"
    assert ax.get_xlabel().strip(), "x axis without a label"
    assert ax.get_ylabel().strip(), "y axis without a label"


# --------------------------------------------------------------------------- static

def test_plot_points_titles_labels_equal_aspect_and_data(points):
    fig = plotting.plot_points(points, title="My spiral")
    (ax,) = fig.axes
    assert ax.get_title() == "My spiral"
    assert_titled_and_labelled(ax)
    assert ax.get_aspect() == 1.0
    scatter = ax.collections[0]
    np.testing.assert_allclose(scatter.get_offsets(), points, rtol=0, atol=1e-7)
    # the reference spiral is drawn: (t cos t, t sin t) / (4π) - 1/8, eq. (2.1)-(2.2)
    (curve,) = ax.lines
    t = np.linspace(1.5 * math.pi, 4.5 * math.pi, curve.get_xdata().size)
    np.testing.assert_allclose(curve.get_xdata(), t * np.cos(t) / (4 * math.pi) - 0.125, atol=1e-12)
    np.testing.assert_allclose(curve.get_ydata(), t * np.sin(t) / (4 * math.pi) - 0.125, atol=1e-12)
    # the view is square and shows every point
    assert ax.get_xlim() == ax.get_ylim()
    assert np.abs(points).max() < ax.get_xlim()[1]


def test_plot_points_accepts_tensors_draws_into_axes_and_rejects_bad_shapes(points):
    fig, axes = plotting.subplots(1, 2)
    out = plotting.plot_points(torch.as_tensor(points, dtype=torch.float32).requires_grad_(),
                               ax=axes[0, 1], spiral=False, lim=2.0, title="t")
    assert out is fig
    assert axes[0, 1].get_xlim() == (-2.0, 2.0)
    assert len(axes[0, 1].lines) == 0
    with pytest.raises(ValueError, match=r"shape \(n, 2\), got \(5, 3\)"):
        plotting.plot_points(np.zeros((5, 3)))


def test_plot_normal_histogram_is_a_density_and_the_pdf_matches_eq_1_1():
    rng = np.random.default_rng(1)
    samples = 1.5 + 0.5 * rng.standard_normal(20_000)
    fig = plotting.plot_normal_histogram(samples, mu=1.5, sigma=0.5)
    (ax,) = fig.axes
    assert_titled_and_labelled(ax)
    heights = np.array([p.get_height() for p in ax.patches])
    widths = np.array([p.get_width() for p in ax.patches])
    assert np.sum(heights * widths) == pytest.approx(1.0, abs=1e-9)
    (line,) = ax.lines
    x = line.get_xdata()
    by_hand = np.exp(-0.5 * ((x - 1.5) / 0.5) ** 2) / (0.5 * math.sqrt(2 * math.pi))
    np.testing.assert_allclose(line.get_ydata(), by_hand, rtol=1e-12)
    with pytest.raises(ValueError, match="at least one number"):
        plotting.plot_normal_histogram([], 0.0, 1.0)


def test_plot_schedule_draws_beta_and_alpha_bar(source_betas):
    fig = plotting.plot_schedule(source_betas)
    ax_b, ax_a = fig.axes
    for ax in (ax_b, ax_a):
        assert_titled_and_labelled(ax)
    assert fig._suptitle.get_text()
    np.testing.assert_allclose(ax_b.lines[0].get_ydata(), linear_betas_by_hand(40, 8e-6, 9e-5))
    np.testing.assert_array_equal(ax_b.lines[0].get_xdata(), np.arange(1, 41))
    np.testing.assert_allclose(ax_a.lines[0].get_ydata(), [1.0] + cumprod_by_hand(source_betas))
    assert ax_b.get_yscale() == "linear"


def test_plot_schedule_compares_several_schedules_on_a_log_scale():
    schedules = {"source": linear_beta_schedule(40, 8e-6, 9e-5),
                 "Ho et al.": linear_beta_schedule(40), "cosine": cosine_beta_schedule(40)}
    fig = plotting.plot_schedule(schedules)
    ax_b, ax_a = fig.axes
    assert ax_b.get_yscale() == "log"       # β spans more than 3 decades
    assert [t.get_text() for t in ax_a.get_legend().get_texts()] == list(schedules)
    assert len(ax_a.lines) == 3


def test_plot_forward_grid_small_multiples(points):
    xs = [points, 0.5 * points, 2.5 * points]
    fig = plotting.plot_forward_grid(xs, [0, 5, 40], suptitle="Noising")
    axes = [ax for ax in fig.axes if ax.axison]
    assert len(axes) == 3
    assert [ax.get_title() for ax in axes] == ["t = 0", "t = 5", "t = 40"]
    assert fig._suptitle.get_text() == "Noising"
    for ax in axes:
        assert ax.get_aspect() == 1.0
        assert ax.get_xlim() == axes[0].get_xlim()         # one shared view
    assert axes[0].get_xlabel() and axes[0].get_ylabel()
    assert axes[0].get_xlim()[1] > np.abs(xs[2]).max() * 0.99
    with pytest.raises(ValueError, match="same length, got 3 and 2"):
        plotting.plot_forward_grid(xs, [0, 5])


def test_plot_side_by_side(points):
    fig = plotting.plot_side_by_side(points + 0.1, points, t=7)
    ax_l, ax_r = fig.axes
    for ax in (ax_l, ax_r):
        assert_titled_and_labelled(ax)
        assert ax.get_aspect() == 1.0
    assert "t = 7" in ax_l.get_title() and "t = 7" in fig._suptitle.get_text()
    np.testing.assert_allclose(ax_r.collections[0].get_offsets(), points, atol=1e-7)


# ----------------------------------------------------------------------- animations

@pytest.mark.parametrize("num, budget", [(1, 41), (41, 41), (101, 41), (1001, 41), (10, 3)])
def test_frame_indices(num, budget):
    idx = frame_indices = plotting.frame_indices(num, budget)
    assert len(frame_indices) == min(num, budget)
    assert idx[0] == 0 and idx[-1] == num - 1
    assert np.all(np.diff(idx) > 0)


def test_animate_points_subsamples_to_41_frames_and_updates_the_data():
    frames = frames_of(101)
    anim = rendered(plotting.animate_points(frames, [f"t = {k}" for k in range(101)], title="x_t"))
    assert len(anim.frame_index) == 41
    assert anim.frame_index[0] == 0 and anim.frame_index[-1] == 100
    fig = anim._fig
    (ax,) = fig.axes
    assert ax.get_aspect() == 1.0 and ax.get_xlabel() and ax.get_ylabel()
    anim._func(20)
    k = anim.frame_index[20]
    np.testing.assert_allclose(ax.collections[0].get_offsets(), frames[k])
    assert fig._suptitle.get_text() == f"t = {k}"
    assert ax.get_title() == "x_t"
    with pytest.raises(ValueError, match="one frame title per frame: 101 frames, got 2"):
        plotting.animate_points(frames, ["a", "b"])
    with pytest.raises(ValueError, match=r"shape \(K, n, 2\)"):
        plotting.animate_points(np.zeros((4, 3)))


def test_animate_side_by_side_runs_from_T_down_to_0_and_holds_the_end():
    T = 40
    xs, x_starts = frames_of(T + 1), -frames_of(T + 1)
    anim = rendered(plotting.animate_side_by_side(xs, x_starts, hold=4))
    assert len(anim.frame_index) == 41                 # 37 distinct + 4 held
    fig = anim._fig
    ax_l, ax_r = fig.axes
    anim._func(0)
    np.testing.assert_allclose(ax_l.collections[0].get_offsets(), xs[T])
    np.testing.assert_allclose(ax_r.collections[0].get_offsets(), x_starts[T])
    assert fig._suptitle.get_text() == "Reverse process, t = 40"
    for k in range(37, 41):
        anim._func(k)
        np.testing.assert_allclose(ax_l.collections[0].get_offsets(), xs[0])
        assert fig._suptitle.get_text() == "Reverse process, t = 0"
    with pytest.raises(ValueError, match="same shape"):
        plotting.animate_side_by_side(xs, x_starts[:-1])


def test_to_jshtml_embeds_every_frame_closes_the_figure_and_stays_small():
    frames = np.stack([make_spiral(1000, np.random.default_rng(k)) for k in range(41)])
    anim = plotting.animate_points(frames, [f"t = {k}" for k in range(41)], title="x_t")
    num = anim._fig.number
    html = plotting.to_jshtml(anim)
    assert "new Array(41)" in html
    assert len(re.findall(r'frames\[\d+\] = "data:image/png;base64,', html)) == 41
    assert 'type="range"' in html                        # the frame slider
    assert "http" not in html and 'class="fa' not in html  # works offline: no CDN, no icon font
    assert html.count("<button") == 9 and "▶" in html
    assert len(html.encode()) < 2_000_000
    assert not plt.fignum_exists(num)
    # the same animation gives the same page (element ids derive from the frames)
    again = plotting.animate_points(frames, [f"t = {k}" for k in range(41)], title="x_t")
    assert plotting.to_jshtml(again) == html
    rgb = plotting.to_jshtml(plotting.animate_points(frames[:3]), colors=None)
    assert rgb.count("data:image/png;base64,") == 3


def test_rendered_frames_show_the_data():
    frames = frames_of(3, n=200) * 3 - 1     # clouds at (-1, -1), (0, -2)/… distinct positions
    anim = plotting.animate_points(frames, spiral=False, lim=2.0)
    images = [np.asarray(im, dtype=np.int16) for im in plotting.render_frames(anim)]
    assert len(images) == 3 and images[0].shape == images[2].shape
    assert np.abs(images[0] - images[1]).sum() > 0     # the points moved
    # rendering is deterministic
    again = np.asarray(plotting.render_frames(anim)[1], dtype=np.int16)
    np.testing.assert_array_equal(again, images[1])


@pytest.mark.parametrize("hold, expected", [(0, 41), (4, 37)])
def test_save_gif_writes_a_valid_gif(tmp_path, hold, expected):
    anim = plotting.animate_points(frames_of(41, n=100), hold=hold, fps=10)
    path = plotting.save_gif(anim, tmp_path / "sub" / "anim.gif")
    with Image.open(path) as gif:
        assert gif.format == "GIF"
        assert gif.n_frames == expected
        durations = []
        for k in range(gif.n_frames):
            gif.seek(k)
            durations.append(gif.info["duration"])
    assert durations[0] == 100
    assert durations[-1] == 100 * (hold + 1)
    with pytest.raises(ValueError, match="must end in .gif"):
        plotting.save_gif(rendered(plotting.animate_points(frames_of(2))), tmp_path / "x.mp4")
