"""Tests of ddpm_lessons.animation: the frames show the data, the player and the GIF
are built through matplotlib's public API and work offline."""
from __future__ import annotations

import base64
import io
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.animation import FuncAnimation  # noqa: E402
from PIL import Image  # noqa: E402

from ddpm_lessons import animation  # noqa: E402
from ddpm_lessons.spiral import make_spiral  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def frames_of(K: int, n: int = 50) -> np.ndarray:
    """K frames in which frame k is the constant point cloud (k, -k) / K: easy to identify."""
    ks = np.arange(K, dtype=np.float64)[:, None, None]
    return np.broadcast_to(np.concatenate([ks, -ks], axis=2) / K, (K, n, 2)).copy()


def figure_title(fig) -> str:
    return fig.get_suptitle()


def png_frames(html: str) -> list[np.ndarray]:
    """The frames embedded in a jshtml player, as RGB arrays."""
    images = []
    for data in re.findall(r'frames\[\d+\] = "data:image/png;base64,([^"]+)"', html):
        with Image.open(io.BytesIO(base64.b64decode(data))) as image:
            images.append(np.asarray(image.convert("RGB"), dtype=np.int16))
    return images


@pytest.mark.parametrize("num, budget", [(1, 41), (41, 41), (101, 41), (1001, 41), (10, 3)])
def test_frame_indices(num, budget):
    idx = animation.frame_indices(num, budget)
    assert len(idx) == min(num, budget)
    assert idx[0] == 0 and idx[-1] == num - 1
    assert np.all(np.diff(idx) > 0)
    with pytest.raises(ValueError, match="num_frames must be an integer >= 1, got 0"):
        animation.frame_indices(0)


def test_animate_points_subsamples_to_41_frames_and_updates_the_data():
    frames = frames_of(101)
    anim = animation.animate_points(frames, [f"t = {k}" for k in range(101)], title="x_t")
    assert anim.num_frames == 41 and len(anim.frame_index) == 41
    assert anim.frame_index[0] == 0 and anim.frame_index[-1] == 100
    (ax,) = anim.figure.axes
    assert ax.get_aspect() == 1.0 and ax.get_xlabel() and ax.get_ylabel()
    anim.update(20)
    k = anim.frame_index[20]
    np.testing.assert_allclose(ax.collections[0].get_offsets(), frames[k])
    assert figure_title(anim.figure) == f"t = {k}"
    assert ax.get_title() == "x_t"
    with pytest.raises(ValueError, match="one frame title per frame: 101 frames, got 2"):
        animation.animate_points(frames, ["a", "b"])
    with pytest.raises(ValueError, match=r"frames must have shape \(K, n, 2\)"):
        animation.animate_points(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="fps must be > 0"):
        animation.animate_points(frames, fps=0)


def test_animate_pairs_holds_the_last_frame():
    T = 40
    order = np.arange(T, -1, -1)
    xs, x_starts = frames_of(T + 1), -frames_of(T + 1)
    anim = animation.animate_pairs(xs[order], x_starts[order], [f"t = {t}" for t in order],
                                   hold=4)
    assert anim.num_frames == 41                          # 37 distinct + 4 held
    ax_l, ax_r = anim.figure.axes
    anim.update(0)
    np.testing.assert_allclose(ax_l.collections[0].get_offsets(), xs[T])
    np.testing.assert_allclose(ax_r.collections[0].get_offsets(), x_starts[T])
    assert figure_title(anim.figure) == "t = 40"
    for k in range(37, 41):
        anim.update(k)
        np.testing.assert_allclose(ax_l.collections[0].get_offsets(), xs[0])
        assert figure_title(anim.figure) == "t = 0"
    with pytest.raises(ValueError, match="same number of frames"):
        animation.animate_pairs(xs, x_starts[:-1], ["t"] * 41)
    with pytest.raises(ValueError, match=r"hold must be an integer in 0\.\.40, got 41"):
        animation.animate_pairs(xs, x_starts, ["t"] * 41, hold=41)


def test_an_animation_is_a_public_func_animation():
    anim = animation.animate_points(frames_of(5), fps=4)
    func_animation = anim.func_animation()
    assert isinstance(func_animation, FuncAnimation)
    assert func_animation.to_jshtml(fps=anim.fps).count("data:image/png;base64,") == 5


def test_to_jshtml_shows_every_frame_offline_and_is_reproducible():
    frames = np.stack([make_spiral(300, np.random.default_rng(k)) for k in range(12)])
    anim = animation.animate_points(frames, [f"t = {k}" for k in range(12)], title="x_t")
    num = anim.figure.number
    html = animation.to_jshtml(anim)
    assert "new Array(12)" in html
    assert 'type="range"' in html                          # the frame slider
    assert 'title="Next frame"' in html
    assert "http" not in html and 'class="fa' not in html  # works offline: no CDN, no icon font
    assert html.count("<button") == 9 and "▶" in html
    assert not plt.fignum_exists(num)
    again = animation.animate_points(frames, [f"t = {k}" for k in range(12)], title="x_t")
    assert animation.to_jshtml(again) == html              # ids derive from the content
    images = png_frames(html)
    assert len(images) == 12
    data = re.search(r'frames\[0\] = "data:image/png;base64,([^"]+)"', html).group(1)
    with Image.open(io.BytesIO(base64.b64decode(data))) as frame:
        assert frame.mode == "P" and len(frame.getcolors()) <= animation.PLAYER_COLORS   # with a palette
    full = animation.to_jshtml(animation.animate_points(frames[:3]), colors=None)
    assert full.count("data:image/png;base64,") == 3
    assert np.abs(images[0] - images[1]).sum() > 0         # the points moved
    with pytest.raises(ValueError, match="default_mode"):
        animation.to_jshtml(again, default_mode="bounce")


def test_player_frames_have_two_device_pixels_per_css_pixel():
    """The page shows a frame at the figure's size, 3.6 × 3.75 inches at the style's 90 dpi
    (the <img> is 324 CSS pixels wide); the frame holds twice as many pixels each way,
    648 × 674 or 675 (matplotlib rounds), so a phone or a high-resolution screen draws it sharp."""
    anim = animation.animate_points(frames_of(3))
    assert tuple(anim.figure.get_size_inches()) == (3.6, 3.75)
    html = animation.to_jshtml(anim)
    assert re.search(r'<img id="_anim_img[0-9a-f]+" width="324" alt="">', html)
    frames = png_frames(html)
    assert len(frames) == 3 and all(frame.shape[1] == 648 and frame.shape[0] in (674, 675) for frame in frames)


def test_player_frames_show_the_clouds_where_they_are():
    # one cloud at the left edge, then at the right: the dark pixels move right.
    frames = np.zeros((2, 200, 2))
    frames[0, :, 0], frames[1, :, 0] = -1.5, 1.5
    anim = animation.animate_points(frames, spiral=False, lim=2.0)
    first, second = png_frames(animation.to_jshtml(anim))
    columns = [np.flatnonzero((image.sum(axis=2) < 450).any(axis=0)) for image in (first, second)]
    moved = columns[1][columns[1] > first.shape[1] // 2]
    assert moved.size and not np.isin(moved, columns[0]).all()


@pytest.mark.parametrize("hold, expected", [(0, 11), (4, 11)])
def test_the_gif_holds_the_players_frames(tmp_path, hold, expected):
    anim = animation.animate_points(frames_of(11, n=100), hold=hold, fps=10)
    assert anim.num_frames == 11 + hold
    html = animation.to_jshtml(anim, gif=tmp_path / "sub" / "anim.gif")
    player = [np.asarray(frame.convert("RGB")) for frame in animation.player_frames(html)]
    assert len(player) == 11 + hold
    durations, pictures = [], []
    with Image.open(tmp_path / "sub" / "anim.gif") as gif:
        assert gif.format == "GIF" and gif.info.get("loop") == 0   # loops forever
        assert gif.n_frames == expected
        for k in range(gif.n_frames):
            gif.seek(k)
            durations.append(gif.info["duration"])
            pictures.append(np.asarray(gif.convert("RGB")))
    assert durations[0] == 100
    assert durations[-1] == 100 * (hold + 1)               # the held frame is stored once
    for k in range(expected):   # the player's pictures at the size shown: 2×2 blocks averaged
        h, w = pictures[k].shape[:2]
        assert player[k].shape[:2] in {(2 * h, 2 * w), (2 * h + 1, 2 * w)}
        shrunk = player[k][:2 * h].reshape(h, 2, w, 2, 3).mean(axis=(1, 3))
        assert np.abs(pictures[k] - shrunk).mean() < 4.0, k
    assert np.abs(pictures[0].astype(float) - pictures[-1]).max() > 100   # and they move
    with pytest.raises(ValueError, match="must be a path ending in .gif"):
        animation.to_jshtml(animation.animate_points(frames_of(2)), gif=tmp_path / "x.mp4")
    with pytest.raises(ValueError, match="at least one frame"):
        animation.save_gif_frames([], tmp_path / "empty.gif", fps=10)



def test_animate_segments_frames_show_the_given_lines():
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(6, 12, 2))
    targets = xs[:, ::-1]                                  # any targets will do
    anim = animation.animate_segments(xs, targets, [f"t = {k}" for k in range(6)], title="A",
                                      max_frames=4)
    ax = anim.figure.axes[0]
    assert ax.get_title() == "A" and ax.get_aspect() == 1.0 and ax.get_xlabel()
    np.testing.assert_array_equal(anim.frame_index, [0, 2, 3, 5])
    anim.update(2)                                         # the third frame: input frame 3
    (lines,) = [c for c in ax.collections if type(c).__name__ == "LineCollection"]
    np.testing.assert_allclose(np.array(lines.get_segments()), np.stack([xs[3], targets[3]], axis=1))
    assert figure_title(anim.figure) == "t = 3"
    with pytest.raises(ValueError, match="one frame title per frame"):
        animation.animate_segments(xs, targets, ["only one"])
