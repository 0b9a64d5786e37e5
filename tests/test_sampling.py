"""Chapter 9: time grids, the DDIM step, strided DDPM and DDIM inversion.

Checked against cases done by hand (ᾱ = 0.64 and 0.36), the posterior variance
of the respaced process computed by GaussianDiffusion (eq. (4.6)), the ancestral
sampler run on that process, and round trips.  Bad input (a model's output of
another shape or with NaN, ᾱ out of its range, a 0-based step) gets a clear error.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from conftest import cosine_betas_by_hand, cumprod_by_hand
from ddpm_lessons.diffusion import GaussianDiffusion
from ddpm_lessons.sampling import (RespacedModel, ddim_encode, ddim_sample, ddim_sigma, ddim_step,
                                   grid_alphas_cumprod, respaced_betas, sampling_timesteps, strided_ddpm)
from ddpm_lessons.schedules import linear_beta_schedule

# β_1 = 0.36, β_2 = 0.4375: ᾱ_1 = 0.64 (√ = 0.8), ᾱ_2 = 0.64 · 0.5625 = 0.36 (√ = 0.6).
HAND_BETAS = np.array([0.36, 0.4375])


class ConstantModel:
    def __init__(self, value: float) -> None:
        self.value = value

    def __call__(self, x, t):
        return torch.full_like(x, self.value)


class SmoothModel:
    """A smooth, non-trivial stand-in for a trained ε_θ: 0.3 tanh(x) + 0.2 sin(t/T) x."""

    def __init__(self, T: int) -> None:
        self.T = T

    def __call__(self, x, t):
        return 0.3 * torch.tanh(x) + 0.2 * torch.sin(t.to(x.dtype)[:, None] / self.T) * x


class GaussianDataModel:
    """The exact ε for data x_0 ~ N(0, s² I): x_t ~ N(0, (ᾱ s² + 1 - ᾱ) I) and
    E[ε | x_t] = √(1-ᾱ) x_t / (ᾱ s² + 1 - ᾱ), with its own ᾱ (cumprod_by_hand)."""

    def __init__(self, betas, s: float = 0.5) -> None:
        self.abar = torch.tensor(cumprod_by_hand(betas), dtype=torch.float64)
        self.s = s

    def __call__(self, x, t):
        a = self.abar[t - 1][:, None]
        return (1 - a).sqrt() * x / (a * self.s**2 + 1 - a)


# ------------------------------------------------------------------ time grid
@pytest.mark.parametrize("spacing", ["uniform", "quadratic"])
@pytest.mark.parametrize("T", [1, 2, 7, 40, 100, 1000])
def test_grid_convention(T, spacing):
    for n in sorted({n for n in (1, 2, 3, 5, T // 3, T // 2, T - 1, T) if 1 <= n <= T}):
        grid = sampling_timesteps(T, n, spacing)
        assert grid.shape == (n,) and np.issubdtype(grid.dtype, np.integer)
        assert grid[0] == T and grid[-1] == (1 if n > 1 else T)
        assert np.all(np.diff(grid) < 0)                     # distinct, from T down
    assert list(sampling_timesteps(T, T, spacing)) == list(range(T, 0, -1))


def test_uniform_grid_is_evenly_spaced_and_quadratic_by_hand():
    assert list(sampling_timesteps(100, 5)) == [100, 75, 50, 26, 1]      # 1 + 24.75 k, rounded
    assert list(sampling_timesteps(40, 4)) == [40, 27, 14, 1]
    # 1 + 99 (k/9)²: 1, 2.22, 5.89, 12, 20.56, 31.56, 45, 60.89, 79.22, 100
    assert list(sampling_timesteps(100, 10, "quadratic")) == [100, 79, 61, 45, 32, 21, 12, 6, 2, 1]
    # 1 + 9 (k/9)² = 1, 1.11, 1.44, 2, 2.78, ...: repeats are pushed up one by one.
    assert list(sampling_timesteps(10, 10, "quadratic")) == list(range(10, 0, -1))
    # 1 + 19 (k/5)² = 1, 1.76, 4.04, 7.84, 13.16, 20.
    assert list(sampling_timesteps(20, 6, "quadratic")) == [20, 13, 8, 4, 2, 1]
    # 1 + 9 (k/5)² = 1, 1.36, 2.44, 4.24, 6.76, 10 rounds to 1, 1, 2, 4, 7, 10: 1 and 2 move up to 2 and 3.
    assert list(sampling_timesteps(10, 6, "quadratic")) == [10, 7, 4, 3, 2, 1]


def test_alphas_cumprod_along_a_grid_by_hand():
    alphas_cumprod = torch.tensor([0.9, 0.5, 0.2, 0.1], dtype=torch.float64)     # ᾱ_1 … ᾱ_4
    alpha_bar, alpha_bar_prev = grid_alphas_cumprod(alphas_cumprod, np.array([4, 2, 1]))
    assert alpha_bar.tolist() == [0.1, 0.5, 0.9]
    assert alpha_bar_prev.tolist() == [0.5, 0.9, 1.0]                          # the last step ends at ᾱ_0 = 1
    alpha_bar, alpha_bar_prev = grid_alphas_cumprod(alphas_cumprod, np.array([4]))
    assert alpha_bar.tolist() == [0.1] and alpha_bar_prev.tolist() == [1.0]


# ------------------------------------------------------------------ one step
def test_ddim_step_by_hand():
    # x_2 = 1, ε = 0.5: x̂_0 = (1 - 0.8 · 0.5) / 0.6 = 1; η = 0: x_1 = 0.8 · 1 + 0.6 · 0.5 = 1.1.
    x0, eps = torch.tensor([[1.0]], dtype=torch.float64), torch.tensor([[0.5]], dtype=torch.float64)
    torch.testing.assert_close(ddim_step(x0, eps, 0.64), torch.tensor([[1.1]], dtype=torch.float64))
    # η = 1: σ² = (0.36/0.64)(1 - 0.36/0.64) = 0.24609375; √(1 - 0.64 - σ²) = √0.11390625 = 0.3375.
    sigma = ddim_sigma(0.36, 0.64, 1.0)
    assert sigma**2 == pytest.approx(0.24609375, rel=1e-14)
    z = torch.tensor([[-0.7]], dtype=torch.float64)
    expected = 0.8 + 0.3375 * 0.5 + math.sqrt(0.24609375) * -0.7
    torch.testing.assert_close(ddim_step(x0, eps, 0.64, sigma, z), torch.tensor([[expected]], dtype=torch.float64))
    # The same with tensors of ᾱ, and σ scales linearly with η.
    a, a_prev = torch.tensor(0.36, dtype=torch.float64), torch.tensor(0.64, dtype=torch.float64)
    assert float(ddim_sigma(a, a_prev, 0.5)) == pytest.approx(0.5 * math.sqrt(0.24609375), rel=1e-14)
    torch.testing.assert_close(ddim_step(x0, eps, a_prev, ddim_sigma(a, a_prev, 1.0), z),
                               torch.tensor([[expected]], dtype=torch.float64))


def test_ddim_loop_by_hand():
    d = GaussianDiffusion(HAND_BETAS, dtype=torch.float64)
    x_T = torch.ones(3, 2, dtype=torch.float64)
    path = ddim_sample(d, ConstantModel(0.5), x_T, 2, clip_denoised=False, keep_all=True)
    # x_2 = 1 → x_1 = 1.1 → x_0 = x̂_0(x_1) = (1.1 - 0.6 · 0.5) / 0.8 = 1 (last step: ᾱ_prev = 1).
    torch.testing.assert_close(path[:, 0, 0], torch.tensor([1.0, 1.1, 1.0], dtype=torch.float64))
    # One step: x̂_0(x_2) = 1.  η = 1 with a seeded z on the first step only.
    torch.testing.assert_close(ddim_sample(d, ConstantModel(0.5), x_T, 1, clip_denoised=False), x_T)
    g = torch.Generator().manual_seed(3)
    out = ddim_sample(d, ConstantModel(0.5), x_T, 2, eta=1.0, clip_denoised=False, generator=g, keep_all=True)
    z = torch.randn(x_T.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    x_1 = 0.8 + 0.3375 * 0.5 + math.sqrt(0.24609375) * z
    torch.testing.assert_close(out[1], x_1)
    torch.testing.assert_close(out[2], (x_1 - 0.6 * 0.5) / 0.8)


def test_clipping_recomputes_the_noise():
    # x_2 = 3, ε = 0.5: x̂_0 = (3 - 0.4)/0.6 > 1 is clipped to 1, then ε̂ = (3 - 0.6)/0.8 = 3,
    # so x_1 = 0.8 · 1 + 0.6 · 3 = 2.6 and x_0 = clip((2.6 - 0.6 · ε(x_1) …)) with ε(x_1) = 0.5: (2.6 - 0.3)/0.8 → 1.
    d = GaussianDiffusion(HAND_BETAS, dtype=torch.float64)
    path = ddim_sample(d, ConstantModel(0.5), torch.full((1, 2), 3.0, dtype=torch.float64), 2, keep_all=True)
    torch.testing.assert_close(path[:, 0, 0], torch.tensor([3.0, 2.6, 1.0], dtype=torch.float64))


def test_gaussian_diffusion_method_calls_the_chapter_9_loop(course_betas):
    d = GaussianDiffusion(course_betas, dtype=torch.float64)
    model = SmoothModel(40)
    x_T = torch.randn(7, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for spacing in ("uniform", "quadratic"):
        a = d.ddim_sample_loop(model, x_T, 6, 0.5, torch.Generator().manual_seed(1), spacing=spacing)
        b = ddim_sample(d, model, x_T, 6, 0.5, torch.Generator().manual_seed(1), spacing=spacing)
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    path = ddim_sample(d, model, x_T, 6, keep_all=True)
    assert path.shape == (7, 7, 2) and torch.equal(path[0], x_T)


# ------------------------------------------------------------------ strided DDPM
@pytest.mark.parametrize("spacing", ["uniform", "quadratic"])
def test_respaced_betas_keep_the_marginals(course_betas, spacing):
    grid = sampling_timesteps(40, 9, spacing)
    new = respaced_betas(course_betas, grid)
    abar = cumprod_by_hand(course_betas)
    np.testing.assert_allclose(np.cumprod(1 - new), [abar[t - 1] for t in sorted(grid)], rtol=1e-13)
    np.testing.assert_allclose(respaced_betas(course_betas, np.arange(1, 41)), course_betas, rtol=1e-12)


@pytest.mark.parametrize("spacing", ["uniform", "quadratic"])
def test_eta1_is_the_posterior_variance_of_the_respaced_process(course_betas, spacing):
    grid = sampling_timesteps(40, 8, spacing)
    respaced, _ = strided_ddpm(course_betas, None, grid, dtype=torch.float64)
    abar = cumprod_by_hand(course_betas)
    up = sorted(grid)
    for k in range(1, len(up)):      # k = 0 is the last step, where σ = β̃'_1 = 0
        sigma = ddim_sigma(abar[up[k] - 1], abar[up[k - 1] - 1], 1.0)
        assert sigma**2 == pytest.approx(float(respaced.posterior_variance[k]), rel=1e-10)


@pytest.mark.parametrize("spacing", ["uniform", "quadratic"])
@pytest.mark.parametrize("clip", [False, True])
def test_ddim_eta1_is_strided_ddpm(course_betas, spacing, clip):
    """η = 1 on a grid: same mean μ̃'(x_τ, x̂_0) and variance β̃' as DDPM on the respaced process,
    and one z per step but the last, so the same seed gives the same samples."""
    d = GaussianDiffusion(course_betas, dtype=torch.float64)
    model = SmoothModel(40)
    grid = sampling_timesteps(40, 11, spacing)
    x_T = 2 * torch.randn(30, 2, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    ddim = ddim_sample(d, model, x_T, 11, eta=1.0, clip_denoised=clip, spacing=spacing,
                       generator=torch.Generator().manual_seed(6))
    respaced, respaced_model = strided_ddpm(course_betas, model, grid, dtype=torch.float64)
    ddpm = respaced.p_sample_loop(respaced_model, x_T, clip_denoised=clip, generator=torch.Generator().manual_seed(6))
    torch.testing.assert_close(ddim, ddpm, rtol=1e-9, atol=1e-9)


def test_respaced_model_calls_the_grid_times():
    seen = []
    model = RespacedModel(lambda x, t: seen.append(t.clone()) or torch.zeros_like(x), np.array([40, 20, 3]))
    assert model.num_timesteps == 3
    model(torch.zeros(2, 2), torch.tensor([1, 3]))
    assert seen[0].tolist() == [3, 40]


# ------------------------------------------------------------------ inversion
def test_encode_by_hand():
    # x_0 = 1, ε = 0.5: x_1 = 0.8 · 1 + 0.6 · 0.5 = 1.1; x̂_0(x_1) = 1, x_2 = 0.6 · 1 + 0.8 · 0.5 = 1.
    d = GaussianDiffusion(HAND_BETAS, dtype=torch.float64)
    path = ddim_encode(d, ConstantModel(0.5), torch.ones(2, 2, dtype=torch.float64), 2, keep_all=True)
    torch.testing.assert_close(path[:, 0, 0], torch.tensor([1.0, 1.1, 1.0], dtype=torch.float64))


def test_inversion_step_undoes_a_step_with_the_same_noise():
    g = torch.Generator().manual_seed(2)
    x0, eps = torch.randn(5, 2, generator=g, dtype=torch.float64), torch.randn(5, 2, generator=g, dtype=torch.float64)
    x_prev = ddim_step(x0, eps, 0.7)                  # at ᾱ = 0.7
    x_next = ddim_step(x0, eps, 0.2)                  # the same x̂_0 and ε at ᾱ = 0.2
    back = (x_next - math.sqrt(1 - 0.2) * eps) / math.sqrt(0.2)
    torch.testing.assert_close(ddim_step(back, eps, 0.7), x_prev, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("spacing", ["uniform", "quadratic"])
def test_round_trip(spacing):
    """With the exact ε of Gaussian data, encode then decode returns x_0: to O(1/n) with
    the one-evaluation encoder, to ~1e-4 and better with a few fixed-point iterations."""
    T = 1000
    betas = linear_beta_schedule(T, 1e-4, 0.02)
    d = GaussianDiffusion(betas, dtype=torch.float64)
    model = GaussianDataModel(betas)
    x0 = torch.randn(50, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 0.6

    def error(n, iterations=0, t_start=None):
        x_T = ddim_encode(d, model, x0, n, spacing, iterations=iterations, t_start=t_start)
        back = ddim_sample(d, model, x_T, n, clip_denoised=False, spacing=spacing, t_start=t_start)
        return float((back - x0).abs().max())

    coarse, fine = error(100), error(1000)
    assert 5 < coarse / fine < 20                    # first order: 10× the steps, about 10× smaller
    assert error(1000, iterations=3) < 1e-4
    assert error(100, iterations=8) < 1e-6
    assert error(500, iterations=8, t_start=500) < 1e-6


def test_t_start_starts_the_grid_lower(course_betas):
    d = GaussianDiffusion(course_betas, dtype=torch.float64)
    seen = []
    model = lambda x, t: seen.append(int(t[0])) or torch.zeros_like(x)  # noqa: E731
    ddim_sample(d, model, torch.zeros(2, 2, dtype=torch.float64), 4, t_start=25)
    assert seen == [25, 17, 9, 1]
    seen.clear()
    ddim_encode(d, model, torch.zeros(2, 2, dtype=torch.float64), 4, t_start=25)
    assert seen == [1, 9, 17, 25]
    with pytest.raises(ValueError, match=r"t_start must be an integer in 1\.\.40, got 41"):
        ddim_sample(d, model, (2, 2), 4, t_start=41)
    with pytest.raises(ValueError, match=r"iterations must be an integer >= 0, got -1"):
        ddim_encode(d, model, torch.zeros(2, 2), 4, iterations=-1)


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("n", [0, 41, -1, 2.5, True, "10"])
def test_bad_number_of_steps(course_betas, n):
    with pytest.raises(ValueError, match=r"num_sampling_steps must be an integer in 1\.\.40"):
        sampling_timesteps(40, n)
    d = GaussianDiffusion(course_betas)
    with pytest.raises(ValueError, match=r"num_sampling_steps must be an integer in 1\.\.40"):
        ddim_encode(d, ConstantModel(0.0), torch.zeros(3, 2), n)


@pytest.mark.parametrize("spacing", ["cosine", "Uniform", None])
def test_unknown_spacing(course_betas, spacing):
    with pytest.raises(ValueError, match=r"spacing must be one of \('uniform', 'quadratic'\)"):
        sampling_timesteps(40, 5, spacing)
    with pytest.raises(ValueError, match="spacing must be one of"):
        GaussianDiffusion(course_betas).ddim_sample_loop(ConstantModel(0.0), (3, 2), 5, spacing=spacing)


@pytest.mark.parametrize("eta", [-0.5, float("nan")])
def test_bad_eta(course_betas, eta):
    with pytest.raises(ValueError, match="eta must be >= 0"):
        ddim_sigma(0.3, 0.6, eta)
    with pytest.raises(ValueError, match="eta must be >= 0"):
        ddim_sample(GaussianDiffusion(course_betas), ConstantModel(0.0), (3, 2), 5, eta=eta)


@pytest.mark.parametrize("grid", [np.array([0, 5]), np.array([41]), np.array([5, 5, 3]), np.array([2.0, 1.0]),
                                  np.array([], dtype=int)])
def test_bad_respacing_grid(course_betas, grid):
    with pytest.raises(ValueError, match=r"timesteps must be distinct integers in 1\.\.40"):
        respaced_betas(course_betas, grid)


def test_encode_refuses_bad_points_and_a_model_for_another_T(course_betas):
    d = GaussianDiffusion(course_betas)
    with pytest.raises(ValueError, match="x_start contains NaN"):
        ddim_encode(d, ConstantModel(0.0), torch.tensor([[float("nan"), 0.0]]), 5)

    class Other(ConstantModel):
        num_timesteps = 100
    with pytest.raises(ValueError, match="the model was built for T = 100"):
        ddim_encode(d, Other(0.0), torch.zeros(3, 2), 5)


# ------------------------------------------------------------------ float32
@pytest.mark.parametrize("spacing", ["uniform", "quadratic"])
@pytest.mark.parametrize("n", [5, 10, 20])
def test_float32_eta1_is_strided_ddpm_where_abar_T_is_tiny(spacing, n):
    """The course's cosine schedule, T = 100, β_T = 0.999: ᾱ_T = 2.4e-7, and √(1 - ᾱ_prev - σ²)
    of the first step cancels.  With its coefficients in float64, float32 DDIM η = 1 stays within
    float32 rounding of strided DDPM (measured ≤ 1.1e-6; in float32 the gap was 3e-5 to 6e-4)."""
    betas = np.array(cosine_betas_by_hand(100))
    assert np.prod(1 - betas) < 3e-7
    model = SmoothModel(100)
    x_T = torch.randn(2000, 2, generator=torch.Generator().manual_seed(4))
    ddim = ddim_sample(GaussianDiffusion(betas), model, x_T, n, eta=1.0, spacing=spacing,
                       generator=torch.Generator().manual_seed(6))
    respaced, respaced_model = strided_ddpm(betas, model, sampling_timesteps(100, n, spacing))
    ddpm = respaced.p_sample_loop(respaced_model, x_T, generator=torch.Generator().manual_seed(6))
    assert ddim.dtype == ddpm.dtype == torch.float32
    torch.testing.assert_close(ddim, ddpm, rtol=0, atol=5e-6)


def test_sigma_in_float32_keeps_the_dtype_and_float64_digits():
    a, a_prev = torch.tensor([2.4285723e-07, 0.3], dtype=torch.float32), torch.tensor([0.04, 0.9])
    sigma = ddim_sigma(a, a_prev, 1.0)
    assert sigma.dtype == torch.float32
    for k in range(2):      # eq. (9.4) with math, from the float32 values
        ak, pk = float(a[k]), float(a_prev[k])
        assert float(sigma[k]) == pytest.approx(math.sqrt((1 - pk) / (1 - ak) * (1 - ak / pk)), rel=1e-7)


# ------------------------------------------------------------------ bad model output
def test_model_output_of_another_shape_is_refused(course_betas):
    d = GaussianDiffusion(course_betas)
    narrow = lambda x, t: torch.zeros(x.shape[0], 1)  # noqa: E731 - broadcasts against (8, 2)
    message = r"the model must return noise of x's shape \(8, 2\), got \(8, 1\)"
    with pytest.raises(ValueError, match=message):
        ddim_sample(d, narrow, (8, 2), 5)
    with pytest.raises(ValueError, match=message):
        ddim_encode(d, narrow, torch.zeros(8, 2), 5)
    with pytest.raises(ValueError, match=message):
        d.p_sample_loop(narrow, (8, 2))
    with pytest.raises(ValueError, match=r"x_start and eps must have the same shape, got \(8, 2\) and \(8, 1\)"):
        ddim_step(torch.zeros(8, 2), torch.zeros(8, 1), 0.5)
    with pytest.raises(ValueError, match=r"x_start and noise must have the same shape, got \(8, 2\) and \(2,\)"):
        ddim_step(torch.zeros(8, 2), torch.zeros(8, 2), 0.5, 0.1, torch.zeros(2))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_model_returning_nan_is_named_with_its_step(course_betas, bad):
    d = GaussianDiffusion(course_betas)

    def broken_below_10(x, t):      # fine at high noise, NaN in rows 0 and 2 from t = 9 down
        eps = 0.1 * x
        eps[[0, 2]] = torch.where(t[[0, 2], None] < 10, bad, eps[[0, 2]])
        return eps
    message = r"the model returned NaN or infinite noise for 2 of 5 rows at t = 9: check its weights"
    with pytest.raises(ValueError, match=message):
        d.p_sample_loop(broken_below_10, (5, 2))
    with pytest.raises(ValueError, match=r"for 2 of 5 rows at t = 1\b"):          # grid 40, 27, 14, 1
        ddim_sample(d, broken_below_10, (5, 2), 4)
    with pytest.raises(ValueError, match=r"for 2 of 5 rows at t = 1\b"):          # grid 1, 14, 27, 40
        ddim_encode(d, broken_below_10, torch.zeros(5, 2), 4)


# ------------------------------------------------------------------ ᾱ out of range
@pytest.mark.parametrize("alpha_bar, alpha_bar_prev, match", [
    (0.5, 0.3, r"ᾱ_prev must lie in \[ᾱ, 1\].*got \(ᾱ, ᾱ_prev\) = \(0.5, 0.3\)"),
    (0.5, 1.2, r"ᾱ_prev must lie in \[ᾱ, 1\].*got \(ᾱ, ᾱ_prev\) = \(0.5, 1.2\)"),
    (1.0, 1.0, r"ᾱ must lie in \(0, 1\), got ᾱ = 1 \(ᾱ_t < 1 for every t >= 1"),
    (0.0, 0.5, r"ᾱ must lie in \(0, 1\), got ᾱ = 0\b"),
    (float("nan"), 0.5, r"ᾱ must lie in \(0, 1\), got ᾱ = nan"),
])
def test_sigma_outside_its_domain(alpha_bar, alpha_bar_prev, match):
    with pytest.raises(ValueError, match=match):
        ddim_sigma(alpha_bar, alpha_bar_prev, 1.0)
    with pytest.raises(ValueError, match=match):        # tensors: the first bad entry is named
        ddim_sigma(torch.tensor([0.1, alpha_bar]), torch.tensor([0.2, alpha_bar_prev]), 0.0)


def test_sigma_at_the_ends_of_its_domain():
    assert ddim_sigma(0.3, 0.3, 1.0) == 0.0                      # a step of no length
    assert ddim_sigma(0.3, 1.0, 1.0) == 0.0                      # the last step, to ᾱ_0 = 1
    # ᾱ tiny: σ(1)² = (1 - ᾱ_prev)/(1 - ᾱ) · (1 - ᾱ/ᾱ_prev), by hand with ᾱ = 1e-12, ᾱ_prev = 0.5
    assert ddim_sigma(1e-12, 0.5, 1.0) ** 2 == pytest.approx(0.5 / (1 - 1e-12) * (1 - 2e-12), rel=1e-15)


@pytest.mark.parametrize("alpha_bar_prev", [1.5, 0.0, -0.2, float("nan")])
def test_step_refuses_alpha_bar_prev_outside_0_1(alpha_bar_prev):
    x = torch.zeros(3, 2)
    with pytest.raises(ValueError, match=r"alpha_bar_prev must lie in \(0, 1\], got"):
        ddim_step(x, x, alpha_bar_prev)
    with pytest.raises(ValueError, match=r"alpha_bar_prev must lie in \(0, 1\], got"):
        ddim_step(x, x, torch.tensor(alpha_bar_prev))


def test_step_refuses_sigma_above_the_direction_it_takes_from():
    x0, eps, z = (torch.full((2, 2), v, dtype=torch.float64) for v in (1.0, 0.5, -0.7))
    with pytest.raises(ValueError,
                       match=r"sigma² must not exceed 1 - ᾱ_prev .* got \(ᾱ_prev, σ\) = \(0.64, 0.61\)"):
        ddim_step(x0, eps, 0.64, 0.61, z)
    with pytest.raises(ValueError, match=r"sigma must be >= 0, got -0.1"):
        ddim_step(x0, eps, 0.64, -0.1, z)
    # σ = √(1 - ᾱ_prev) itself, rounded to float32: the direction term is 0 to that rounding,
    # x = √ᾱ_prev x0 + σ z.
    a_prev = torch.tensor(0.64, dtype=torch.float32)
    sigma = (1 - a_prev).sqrt()
    torch.testing.assert_close(ddim_step(x0, eps, a_prev, sigma, z),
                               math.sqrt(float(a_prev)) * x0 + float(sigma) * z, rtol=0, atol=1e-7)
    with pytest.raises(ValueError, match=r"this needs η <= 1"):
        ddim_sample(GaussianDiffusion(np.array(cosine_betas_by_hand(100))), ConstantModel(0.0), (3, 2), 10,
                    eta=2.0)


@pytest.mark.parametrize("grid", [[0], [3, 0], [41], [41, 20, 1], [1, 4], [4, 4, 1], [4.0, 1.0], [], [[4, 1]]])
def test_grid_alphas_cumprod_refuses_what_is_not_a_grid_from_T_down(course_betas, grid):
    alphas_cumprod = GaussianDiffusion(course_betas).alphas_cumprod
    with pytest.raises(ValueError, match=r"timesteps must be a grid of distinct integers in 1\.\.40 from the largest "
                                         r"down \(as sampling_timesteps returns; t = 0 is x_0"):
        grid_alphas_cumprod(alphas_cumprod, np.array(grid))


@pytest.mark.parametrize("k, match", [
    (0, r"t must be in 1\.\.3, got 0 \(time steps count from 1 here"),
    (torch.tensor([1, 0]), r"t must be in 1\.\.3, got values from 0 to 1 \(time steps count from 1"),
    (torch.tensor([4, 2]), r"t must be in 1\.\.3, got values from 2 to 4$"),
])
def test_respaced_model_refuses_a_step_outside_1_n(k, match):
    model = RespacedModel(lambda x, t: torch.zeros_like(x), np.array([40, 20, 3]))
    with pytest.raises(ValueError, match=match):
        model(torch.zeros(2, 2), k)


def test_respaced_model_takes_one_int_for_the_batch_and_refuses_a_bad_grid():
    seen = []
    model = RespacedModel(lambda x, t: seen.append(t.tolist()) or torch.zeros_like(x), np.array([40, 20, 3]))
    model(torch.zeros(2, 2), 3)
    assert seen == [[40, 40]]
    for grid in ([0, 5], [5, 5], [2.0, 1.0], []):
        with pytest.raises(ValueError, match=r"timesteps must be distinct integers >= 1"):
            RespacedModel(lambda x, t: x, np.array(grid))
