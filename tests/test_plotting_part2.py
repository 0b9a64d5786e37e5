"""Tests of the chapter 5–7 helpers in ``ddpm_lessons.plotting`` and
``ddpm_lessons.widgets``: every figure is titled and labelled, spiral plots are
square, and the drawn data (segments, curves, histograms, readouts) equal an
independent computation."""
from __future__ import annotations

import math
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402

from ddpm_lessons import plotting, widgets  # noqa: E402
from ddpm_lessons.model import sinusoidal_embedding_matrix  # noqa: E402
from ddpm_lessons.spiral import T_MAX, T_MIN, make_spiral, spiral_curve  # noqa: E402
from ddpm_lessons.training import History  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def assert_titled_and_labelled(ax) -> None:
    assert ax.get_title().strip(), "axes without a title"
    assert ax.get_xlabel().strip(), "x axis without a label"
    assert ax.get_ylabel().strip(), "y axis without a label"


def line_collections(ax) -> list[LineCollection]:
    return [c for c in ax.collections if isinstance(c, LineCollection)]


def closest_by_brute_force(points: np.ndarray, n_grid: int = 200_001) -> np.ndarray:
    """Closest spiral points by a dense grid of t (independent of the Newton solver)."""
    grid = spiral_curve(np.linspace(T_MIN, T_MAX, n_grid))
    return np.array([grid[np.argmin(((grid - p) ** 2).sum(axis=1))] for p in points])


def trajectory(T: int = 6, n: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A made-up reverse process: x_t = spiral + t/T · noise, x̂_0 = the spiral."""
    rng = np.random.default_rng(seed)
    x0 = make_spiral(n, rng).astype(np.float64)
    noise = rng.standard_normal((n, 2))
    xs = np.stack([x0 + (t / T) * noise for t in range(T + 1)])
    return xs, np.broadcast_to(x0, xs.shape).copy()


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
    targets = [closest_by_brute_force(x, 20_001) for x in xs[:3]]
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


def test_animate_segments_frames_show_the_given_lines():
    xs, _ = trajectory(T=5, n=12)
    targets = xs[:, ::-1]                                   # any targets will do
    anim = plotting.animate_segments(xs, targets, [f"t = {k}" for k in range(6)], title="A",
                                     max_frames=4)
    anim._draw_was_started = True
    fig = anim._fig
    ax = fig.axes[0]
    assert ax.get_title() == "A" and ax.get_aspect() == 1.0 and ax.get_xlabel()
    np.testing.assert_array_equal(anim.frame_index, [0, 2, 3, 5])
    anim._func(2)                                          # draw the third frame: input frame 3
    (lines,) = line_collections(ax)
    np.testing.assert_allclose(np.array(lines.get_segments()), np.stack([xs[3], targets[3]], axis=1))
    assert fig._suptitle.get_text() == "t = 3"
    with pytest.raises(ValueError, match="one frame title per frame"):
        plotting.animate_segments(xs, targets, ["only one"])


# ------------------------------------------------------------ the reverse view (ch. 7)

def read(text: str, key: str) -> float:
    match = re.search(widgets.READOUT_PATTERNS[key], text)
    assert match, f"{key!r} not found in {text!r}"
    return float(match.group(1))


def test_reverse_data_measures_x_t_against_brute_force():
    xs, x_starts = trajectory(T=6, n=40)
    data = widgets.reverse_data(4, xs, x_starts)
    assert (data["t"], data["T"]) == (4, 6)
    np.testing.assert_array_equal(data["x_t"], xs[4])
    np.testing.assert_array_equal(data["x0_hat"], x_starts[4])
    brute = closest_by_brute_force(xs[4])
    np.testing.assert_allclose(data["closest"], brute, atol=1e-4)
    distance = np.linalg.norm(brute - xs[4], axis=1)
    assert data["mean_distance"] == pytest.approx(distance.mean(), abs=1e-6)
    # KS of the closest-point parameters against U(1.5π, 4.5π), written out.
    t_grid = np.linspace(T_MIN, T_MAX, 200_001)
    curve = spiral_curve(t_grid)
    t_brute = t_grid[[np.argmin(((curve - p) ** 2).sum(axis=1)) for p in xs[4]]]
    u = np.sort((t_brute - T_MIN) / (T_MAX - T_MIN))
    i = np.arange(1, u.size + 1)
    ks = max(np.max(i / u.size - u), np.max(u - (i - 1) / u.size))
    assert data["coverage_ks"] == pytest.approx(ks, abs=1e-4)
    assert widgets.reverse_data(0, xs, x_starts)["mean_distance"] < 1e-6   # x_0 is on the spiral


def test_reverse_data_rejects_bad_t_and_shapes():
    xs, x_starts = trajectory(T=3)
    with pytest.raises(ValueError, match=r"t must be an integer in 0..3, got 4"):
        widgets.reverse_data(4, xs, x_starts)
    with pytest.raises(ValueError, match="same shape"):
        widgets.reverse_data(1, xs, x_starts[:, :5])


def test_reverse_view_slider_readout_and_figure():
    pytest.importorskip("ipywidgets")
    xs, x_starts = trajectory(T=6, n=30)
    view = widgets.reverse_view(xs, x_starts)
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
    fig = widgets.draw_reverse(view.data)
    assert len(fig.axes) == 2 and all(ax.get_title() and ax.get_aspect() == 1.0 for ax in fig.axes)
