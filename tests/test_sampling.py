"""Chapter 9: time grids, the DDIM step, strided DDPM and DDIM inversion.

Checked against cases done by hand (ᾱ = 0.64 and 0.36), the posterior variance
of the respaced process computed by GaussianDiffusion (eq. (4.6)), the ancestral
sampler run on that process, and round trips.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from conftest import cumprod_by_hand
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
