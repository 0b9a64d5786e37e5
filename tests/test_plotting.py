"""Tests of ``ddpm_lessons.plotting``: figures are titled, labelled, square for the
spiral, and show the right data."""
from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402

from conftest import cumprod_by_hand, linear_betas_by_hand, trajectory  # noqa: E402
from oracles import brute_force_closest_t  # noqa: E402
from ddpm_lessons import plotting  # noqa: E402
from ddpm_lessons.model import sinusoidal_embedding_matrix  # noqa: E402
from ddpm_lessons.schedules import cosine_beta_schedule, linear_beta_schedule  # noqa: E402
from ddpm_lessons.spiral import T_MAX, T_MIN, make_spiral, spiral_curve  # noqa: E402
from ddpm_lessons.training import History  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture
def points() -> np.ndarray:
    return make_spiral(300, np.random.default_rng(0))


def assert_titled_and_labelled(ax) -> None:
    assert ax.get_title().strip(), "axes without a title"
    assert ax.get_xlabel().strip(), "x axis without a label"
    assert ax.get_ylabel().strip(), "y axis without a label"


def line_collections(ax) -> list[LineCollection]:
    return [c for c in ax.collections if isinstance(c, LineCollection)]


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
    with pytest.raises(ValueError, match=r"shape \(n, 2\) with x, y on the last axis, got shape \(5, 3\)"):
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


# ---------------------------------------------------------------- embedding (ch. 5)

def test_plot_embedding_matrix_shows_the_matrix_with_labels():
    matrix = sinusoidal_embedding_matrix(30, 8)
    fig = plotting.plot_embedding_matrix(matrix, title="E")
    ax = fig.axes[0]
    assert_titled_and_labelled(ax)
    (image,) = ax.images
    np.testing.assert_array_equal(image.get_array(), matrix)
    assert image.get_extent() == [0.5, 30.5, 7.5, -0.5]     # column t-1 is centred on t
    assert image.get_clim() == (-1.0, 1.0)


def test_plot_embedding_matrix_rejects_a_vector():
    with pytest.raises(ValueError, match=r"shape \(dim, T\)"):
        plotting.plot_embedding_matrix(np.zeros(5))


# ----------------------------------------------------------------- segments (ch. 5, 7)

def test_plot_segments_draws_one_line_per_point_from_point_to_target():
    rng = np.random.default_rng(1)
    points, targets = rng.normal(size=(25, 2)), rng.normal(size=(25, 2))
    fig = plotting.plot_segments(points, targets, title="lines")
    (ax,) = fig.axes
    assert_titled_and_labelled(ax)
    assert ax.get_aspect() == 1.0
    (lines,) = line_collections(ax)
    segments = np.array(lines.get_segments())
    assert segments.shape == (25, 2, 2)
    np.testing.assert_allclose(segments[:, 0], points)
    np.testing.assert_allclose(segments[:, 1], targets)


def test_plot_segments_arrows_end_at_the_targets():
    rng = np.random.default_rng(2)
    points, targets = rng.normal(size=(10, 2)), rng.normal(size=(10, 2))
    ax = plotting.plot_segments(points, targets, arrows=True).axes[0]
    (quiver,) = [c for c in ax.collections if type(c).__name__ == "Quiver"]
    np.testing.assert_allclose(quiver.X + quiver.U, targets[:, 0])
    np.testing.assert_allclose(quiver.Y + quiver.V, targets[:, 1])


def test_plot_segments_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        plotting.plot_segments(np.zeros((3, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        plotting.plot_segments(np.zeros((3, 3)), np.zeros((3, 3)))


def test_plot_segments_grid_one_square_panel_per_entry():
    xs, _ = trajectory(T=4)
    targets = [spiral_curve(brute_force_closest_t(x, 20_001)) for x in xs[:3]]
    fig = plotting.plot_segments_grid(list(xs[:3]), targets, ["a", "b", "c"], suptitle="S")
    assert fig._suptitle.get_text() == "S"
    assert [ax.get_title() for ax in fig.axes] == ["a", "b", "c"]
    for ax, x, target in zip(fig.axes, xs[:3], targets):
        assert ax.get_aspect() == 1.0 and ax.get_xlabel()
        (lines,) = line_collections(ax)
        np.testing.assert_allclose(np.array(lines.get_segments())[:, 1], target)
    assert fig.axes[0].get_ylabel()
    with pytest.raises(ValueError, match="as many"):
        plotting.plot_segments_grid([xs[0]], [xs[0], xs[1]], ["a"])


# ------------------------------------------------------------------ history (ch. 6)

def test_plot_history_draws_every_batch_and_epochs_at_their_last_step():
    batch = [1.0, 0.8, 0.6, 0.5, 0.4, 0.3]
    history = History(batch_loss=batch, train_loss=[0.8, 0.5, 0.35], val_loss=[0.7, 0.45, 0.3],
                      steps=6, seconds=1.0)
    fig = plotting.plot_history(history, title="H", smooth=2)
    (ax,) = fig.axes
    assert_titled_and_labelled(ax)
    assert ax.get_yscale() == "log"
    by_label = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_array_equal(by_label["loss of each batch"].get_xdata(), np.arange(1, 7))
    np.testing.assert_array_equal(by_label["loss of each batch"].get_ydata(), batch)
    smooth = by_label["moving average (2 batches)"]
    np.testing.assert_allclose(smooth.get_ydata(), [(a + b) / 2 for a, b in zip(batch, batch[1:])])
    np.testing.assert_array_equal(smooth.get_xdata(), np.arange(2, 7))
    np.testing.assert_array_equal(by_label["validation loss per epoch"].get_xdata(), [2, 4, 6])
    np.testing.assert_array_equal(by_label["validation loss per epoch"].get_ydata(), [0.7, 0.45, 0.3])


def test_plot_history_rejects_empty_or_uneven_histories():
    with pytest.raises(ValueError, match="at least one step"):
        plotting.plot_history(History())
    with pytest.raises(ValueError, match="equal epochs"):
        plotting.plot_history(History(batch_loss=[1.0, 0.5, 0.2], train_loss=[0.7, 0.2]))


# ----------------------------------------------------------- metrics, coverage (ch. 7)

def test_plot_reverse_metrics_plots_against_t_and_marks_the_floor():
    distance = {"m": np.linspace(0.1, 0.5, 11)}
    coverage = {"m": np.linspace(0.02, 0.2, 11)}
    fig = plotting.plot_reverse_metrics(distance, coverage, floor=0.026, true_value=0.02, title="M")
    ax_d, ax_c = fig.axes
    for ax in (ax_d, ax_c):
        assert_titled_and_labelled(ax)
        assert ax.get_xlim() == (10.0, 0.0)          # the reverse process reads left to right
    (line,) = ax_d.get_lines()
    np.testing.assert_array_equal(line.get_xdata(), np.arange(11))
    np.testing.assert_array_equal(line.get_ydata(), distance["m"])
    levels = sorted(line.get_ydata()[0] for line in ax_c.get_lines()[1:])
    assert levels == [0.02, 0.026]
    single = plotting.plot_reverse_metrics(distance, title="One panel")
    assert len(single.axes) == 1 and single.axes[0].get_title() == "One panel"
    assert single._suptitle is None
    # Curves of different T are drawn against t / T.
    mixed = plotting.plot_reverse_metrics({"T=10": distance["m"], "T=4": np.linspace(0, 1, 5)})
    ax = mixed.axes[0]
    assert ax.get_xlim() == (1.0, 0.0) and "t/T" in ax.get_xlabel()
    np.testing.assert_allclose(ax.get_lines()[1].get_xdata(), [0, 0.25, 0.5, 0.75, 1.0])
    with pytest.raises(ValueError, match="at least one curve"):
        plotting.plot_reverse_metrics({})


def test_plot_coverage_histograms_are_densities_against_the_uniform_level():
    _, t = make_spiral(4000, np.random.default_rng(3), return_t=True)
    fig = plotting.plot_coverage_histograms({"true": t, "half": t[t < 3 * math.pi]}, bins=12)
    assert len(fig.axes) == 2
    uniform = 1.0 / (T_MAX - T_MIN)
    for ax in fig.axes:
        assert ax.get_title() and ax.get_xlabel()
        heights = np.array([p.get_height() for p in ax.patches])
        widths = np.array([p.get_width() for p in ax.patches])
        assert math.isclose(float((heights * widths).sum()), 1.0, rel_tol=1e-9)
        assert ax.get_lines()[0].get_ydata()[0] == pytest.approx(uniform)
    assert fig.axes[0].get_ylabel()
    # All of "half" lies below 3π, the middle of [1.5π, 4.5π]: the upper bins are empty.
    heights = np.array([p.get_height() for p in fig.axes[1].patches])
    assert np.all(heights[6:] == 0) and np.all(heights[:6] > 0)


def test_plot_distance_function_shades_where_the_second_derivative_is_negative():
    q = np.array([-0.2, 0.05])
    fig = plotting.plot_distance_function(q, {"seed": 5.0})
    ax_d, ax_c = fig.axes
    for ax in (ax_d, ax_c):
        assert ax.get_title() and ax.get_ylabel()
    assert ax_c.get_xlabel()
    t, d = ax_d.get_lines()[0].get_data()
    np.testing.assert_allclose(d, ((spiral_curve(t) - q) ** 2).sum(axis=1))
    # D'' by central differences of D, independent of the closed form.
    h = 1e-4
    dd = lambda s: ((spiral_curve(s) - q) ** 2).sum(axis=-1)   # noqa: E731
    second = (dd(t + h) - 2 * dd(t) + dd(t - h)) / h**2
    np.testing.assert_allclose(ax_c.get_lines()[0].get_ydata(), second, atol=1e-5)
    mark = ax_d.get_lines()[1]
    assert mark.get_xdata()[0] == 5.0
    assert mark.get_ydata()[0] == pytest.approx(float(dd(np.array(5.0))))
    with pytest.raises(ValueError, match="one finite"):
        plotting.plot_distance_function([0.0, np.nan])
