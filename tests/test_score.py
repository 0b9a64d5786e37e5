"""The score and the ideal denoiser (chapter 8), each checked against an independent computation:
autodiff of the mixture density built from torch.distributions, Monte Carlo, cases by hand."""
from __future__ import annotations

import math

import matplotlib
import numpy as np
import pytest
import torch

from ddpm_lessons import score as sc
from ddpm_lessons.diffusion import GaussianDiffusion
from ddpm_lessons.recipes import COURSE_RECIPE
from ddpm_lessons.schedules import cosine_beta_schedule
from ddpm_lessons.score_view import draw_score_field, score_field_data, score_view
from ddpm_lessons.spiral import make_spiral

matplotlib.use("Agg")


def cdist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """All distances, one point at a time with math.dist (a brute-force oracle)."""
    return np.array([[math.dist(p, q) for q in b] for p in a])


def mixture_log_density(x: torch.Tensor, data: torch.Tensor, alpha_bar: float) -> torch.Tensor:
    """log (1/N) Σ_i N(x; √ᾱ x0_i, (1 − ᾱ) I), from torch.distributions (the oracle)."""
    components = torch.distributions.Independent(
        torch.distributions.Normal(math.sqrt(alpha_bar) * data, math.sqrt(1 - alpha_bar)), 1)
    log_probs = components.log_prob(x[:, None, :])                # (batch, N)
    return torch.logsumexp(log_probs, dim=1) - math.log(data.shape[0])


def autograd_score(x: torch.Tensor, data: torch.Tensor, alpha_bar: float) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    mixture_log_density(x, data, alpha_bar).sum().backward()
    return x.grad


@pytest.fixture
def small_mixture():
    rng = np.random.default_rng(3)
    data = torch.as_tensor(rng.uniform(-1, 1, size=(7, 2)))
    x = torch.as_tensor(rng.normal(size=(40, 2)) * 1.5)
    return data, x


@pytest.mark.parametrize("alpha_bar", [0.02, 0.3, 0.8, 0.995])
def test_score_is_the_gradient_of_the_mixture_log_density(small_mixture, alpha_bar):
    data, x = small_mixture
    expected = autograd_score(x, data, alpha_bar)
    assert torch.allclose(sc.score(x, data, alpha_bar), expected, rtol=1e-9, atol=1e-9)
    assert torch.allclose(sc.log_density(x, data, alpha_bar),
                          mixture_log_density(x, data, alpha_bar), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("alpha_bar", [0.05, 0.5, 0.97])
def test_ideal_noise_is_minus_sqrt_one_minus_abar_times_the_autograd_score(small_mixture, alpha_bar):
    data, x = small_mixture
    expected = -math.sqrt(1 - alpha_bar) * autograd_score(x, data, alpha_bar)
    assert torch.allclose(sc.ideal_noise(x, data, alpha_bar), expected, rtol=1e-9, atol=1e-9)


def test_tweedie_with_the_autograd_score_gives_the_posterior_mean(small_mixture):
    data, x = small_mixture
    for alpha_bar in (0.1, 0.6, 0.99):
        from_score = sc.tweedie_x0(x, autograd_score(x, data, alpha_bar), alpha_bar)
        # the posterior mean by Bayes' rule, written out with the normal density (a different route)
        likelihood = torch.exp(torch.distributions.Normal(math.sqrt(alpha_bar) * data, math.sqrt(1 - alpha_bar))
                               .log_prob(x[:, None, :]).sum(-1))
        bayes = (likelihood / likelihood.sum(1, keepdim=True)) @ data
        assert torch.allclose(from_score, bayes, atol=1e-9)
        assert torch.allclose(sc.ideal_x0(x, data, alpha_bar), bayes, atol=1e-12)


def test_posterior_mean_matches_monte_carlo_in_one_dimension():
    """Draw (x0, x_t) pairs, keep those with x_t in a narrow bin, average their x0."""
    rng = np.random.default_rng(0)
    data = np.array([-0.9, -0.2, 0.4, 1.0])
    alpha_bar, n = 0.5, 4_000_000
    x0 = data[rng.integers(0, len(data), n)]
    x_t = math.sqrt(alpha_bar) * x0 + math.sqrt(1 - alpha_bar) * rng.standard_normal(n)
    queries = np.array([-1.0, -0.3, 0.0, 0.5, 1.2])
    half_width = 0.01
    formula = sc.ideal_x0(torch.as_tensor(queries[:, None]), torch.as_tensor(data[:, None]), alpha_bar)
    for q, value in zip(queries, formula[:, 0].numpy()):
        inside = np.abs(x_t - q) < half_width
        mc = x0[inside].mean()
        stderr = x0[inside].std() / math.sqrt(inside.sum())
        assert abs(mc - value) < 4 * stderr + 2e-3, (q, mc, value)


def test_ideal_noise_is_orthogonal_like_the_true_noise():
    """E[ε* · x_t] = E[ε · x_t] = √(1 − ᾱ) for each coordinate (ε* = E[ε | x_t]), by Monte Carlo."""
    g = torch.Generator().manual_seed(1)
    data = torch.as_tensor(make_spiral(50, np.random.default_rng(2)), dtype=torch.float64)
    alpha_bar, n = 0.4, 200_000
    x0 = data[torch.randint(0, 50, (n,), generator=g)]
    eps = torch.randn(n, 2, generator=g, dtype=torch.float64)
    x_t = math.sqrt(alpha_bar) * x0 + math.sqrt(1 - alpha_bar) * eps
    eps_star = sc.ideal_noise(x_t, data, alpha_bar)
    moment = (eps_star * x_t).mean(0)
    assert torch.allclose(moment, torch.full((2,), math.sqrt(1 - alpha_bar), dtype=torch.float64), atol=0.01)
    # ε* has a smaller mean-square error than any other function tried: the true ε's loss is 2 (= d),
    # the best possible one is smaller, and adding a perturbation makes it worse
    best = ((eps_star - eps) ** 2).sum(1).mean()
    assert best < 1.9
    assert ((1.1 * eps_star - eps) ** 2).sum(1).mean() > best
    assert ((eps_star + 0.05 - eps) ** 2).sum(1).mean() > best


def test_one_training_point_is_the_deterministic_case():
    x0 = torch.tensor([[0.3, -0.7]], dtype=torch.float64)
    x = torch.tensor([[1.0, 2.0], [-3.0, 0.5]], dtype=torch.float64)
    a = 0.36
    assert torch.equal(sc.posterior_weights(x, x0, a), torch.ones(2, 1, dtype=torch.float64))
    assert torch.allclose(sc.ideal_x0(x, x0, a), x0.expand(2, 2))
    assert torch.allclose(sc.ideal_noise(x, x0, a), (x - 0.6 * x0) / 0.8)
    assert torch.allclose(sc.score(x, x0, a), -(x - 0.6 * x0) / 0.64)


def test_far_points_do_not_underflow():
    data = torch.tensor([[0.0, 0.0], [1.0, 0.0]], dtype=torch.float64)
    x = torch.tensor([[400.0, 0.0], [-400.0, 3.0]], dtype=torch.float64)
    a = 0.999
    naive = torch.exp(-((x[:, None] - math.sqrt(a) * data[None]) ** 2).sum(-1) / (2 * (1 - a)))
    assert (naive == 0).all()                            # the naive weights are 0 / 0
    w = sc.posterior_weights(x, data, a)
    # two points: w_1 = sigmoid(ℓ_1 − ℓ_0), ℓ_1 − ℓ_0 = √ᾱ (2 x₁ − √ᾱ) / (2 (1 − ᾱ)) by hand
    gap = math.sqrt(a) * (2 * x[:, 0] - math.sqrt(a)) / (2 * (1 - a))
    assert torch.allclose(w[:, 1], torch.sigmoid(gap), atol=1e-12)
    assert torch.isfinite(sc.ideal_noise(x, data, a)).all()
    assert torch.allclose(sc.ideal_x0(x, data, a), torch.tensor([[1.0, 0.0], [0.0, 0.0]], dtype=torch.float64))


def test_per_row_alpha_bar_and_chunks(monkeypatch, small_mixture):
    data, x = small_mixture
    abar = torch.linspace(0.05, 0.95, x.shape[0], dtype=torch.float64)
    rows = torch.stack([sc.ideal_noise(x[i:i + 1], data, float(abar[i]))[0] for i in range(x.shape[0])])
    whole = sc.ideal_noise(x, data, abar)
    monkeypatch.setattr(sc, "CHUNK_ELEMENTS", 20)        # three rows of 7 points per chunk
    assert len(sc._row_slices(x.shape[0], data.shape[0])) > 10
    chunked = sc.ideal_noise(x, data, abar)
    assert torch.allclose(whole, rows, atol=1e-12) and torch.allclose(chunked, rows, atol=1e-12)
    assert torch.allclose(sc.log_density(x, data, 0.3), mixture_log_density(x, data, 0.3), atol=1e-12)


def test_ideal_denoiser_samples_reproduce_a_single_training_point():
    diffusion = GaussianDiffusion(cosine_beta_schedule(30))
    x0 = np.array([[0.25, -0.5]])
    model = sc.IdealDenoiser(x0, diffusion)
    g = torch.Generator().manual_seed(0)
    samples = diffusion.p_sample_loop(model, (64, 2), generator=g)
    assert torch.allclose(samples, torch.tensor(x0, dtype=torch.float32).expand(64, 2), atol=1e-5)
    ddim = diffusion.ddim_sample_loop(model, (16, 2), num_sampling_steps=10, generator=g)
    assert torch.allclose(ddim, torch.tensor(x0, dtype=torch.float32).expand(16, 2), atol=1e-5)


def test_ideal_denoiser_uses_the_books_time_steps():
    diffusion = COURSE_RECIPE.diffusion()
    data = make_spiral(20, np.random.default_rng(0))
    model = sc.IdealDenoiser(data, diffusion, dtype=torch.float64)
    x = torch.randn(5, 2, generator=torch.Generator().manual_seed(0))
    for t in (1, 37, diffusion.num_timesteps):
        abar = float(diffusion.alphas_cumprod.double()[t - 1])
        expected = -math.sqrt(1 - abar) * autograd_score(x.double(), torch.as_tensor(data, dtype=torch.float64), abar)
        assert torch.allclose(model(x, t).double(), expected, atol=1e-5)
        assert model(x, t).dtype == torch.float32
    steps = torch.tensor([1, 2, 50, 99, 100])
    by_row = torch.cat([model(x[k:k + 1], int(steps[k])) for k in range(5)])
    assert torch.allclose(model(x, steps), by_row)


@pytest.mark.parametrize("call,error,fragment", [
    (lambda d, x: sc.ideal_noise(x, d[:0], 0.5), ValueError, "N = 0"),
    (lambda d, x: sc.ideal_noise(x, d[:, :1], 0.5), ValueError, "same number of features"),
    (lambda d, x: sc.ideal_noise(x.float(), d, 0.5), TypeError, "same dtype"),
    (lambda d, x: sc.ideal_noise(x * float("nan"), d, 0.5), ValueError, "NaN"),
    (lambda d, x: sc.ideal_noise(x, d * float("inf"), 0.5), ValueError, "NaN"),
    (lambda d, x: sc.ideal_noise(x, d, 1.0), ValueError, "(0, 1)"),
    (lambda d, x: sc.ideal_noise(x, d, 0.0), ValueError, "(0, 1)"),
    (lambda d, x: sc.ideal_noise(x, d, torch.full((3,), 0.5)), ValueError, "shape (batch,)"),
    (lambda d, x: sc.ideal_noise(x, d, "0.5"), TypeError, "alpha_bar"),
    (lambda d, x: sc.ideal_noise(x.numpy(), d, 0.5), TypeError, "torch.Tensor"),
    (lambda d, x: sc.ideal_noise(x[0], d, 0.5), ValueError, "shape (n, features)"),
    (lambda d, x: sc.tweedie_x0(x, x[:3], 0.5), ValueError, "same shape"),
    (lambda d, x: sc.IdealDenoiser(d[:0], COURSE_RECIPE.diffusion()), ValueError, "N = 0"),
    (lambda d, x: sc.IdealDenoiser(d, COURSE_RECIPE.diffusion())(x.float(), 0), ValueError, "1..100"),
    (lambda d, x: sc.IdealDenoiser(d, COURSE_RECIPE.diffusion())(x.float(), 101), ValueError, "1..100"),
    (lambda d, x: sc.IdealDenoiser(d, np.ones(3)), TypeError, "GaussianDiffusion"),
    (lambda d, x: sc.nearest_distances(x, d[:0]), ValueError, "non-empty"),
    (lambda d, x: sc.share_near_training(x, d, 0.0), ValueError, "radius"),
])
def test_bad_input_raises_clearly(small_mixture, call, error, fragment):
    data, x = small_mixture
    with pytest.raises(error, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        call(data, x)


def test_a_model_for_another_t_is_refused():
    model = sc.IdealDenoiser(np.zeros((3, 2)), GaussianDiffusion(cosine_beta_schedule(10)))
    with pytest.raises(ValueError, match="T = 10"):
        COURSE_RECIPE.diffusion().p_sample_loop(model, (4, 2))


def test_nearest_distances_and_share_against_scipy(monkeypatch):
    rng = np.random.default_rng(4)
    points, data = rng.uniform(-1, 1, (300, 2)), rng.uniform(-1, 1, (90, 2))
    expected = cdist(points, data).min(axis=1)
    monkeypatch.setattr(sc, "CHUNK_ELEMENTS", 1000)      # several chunks
    assert np.allclose(sc.nearest_distances(points, data), expected, rtol=0, atol=1e-15)
    near = np.concatenate([data[:10] + 5e-4, points[:30]])
    assert sc.share_near_training(near, data, 1e-3) == pytest.approx(
        np.mean(cdist(near, data).min(axis=1) <= 1e-3))
    assert sc.share_near_training(data[:10] + 5e-4, data) == 1.0


def test_score_field_arrows_end_at_the_scaled_posterior_mean():
    diffusion = COURSE_RECIPE.diffusion()
    data = make_spiral(30, np.random.default_rng(1))
    panel = score_field_data(20, data, diffusion, arrows=6, pixels=9)
    abar = float(diffusion.alphas_cumprod.double()[19])
    expected = (1 - abar) * autograd_score(torch.as_tensor(panel["grid"]), torch.as_tensor(data, dtype=torch.float64), abar)
    assert np.allclose(panel["arrows"], expected.numpy(), atol=1e-10)
    assert panel["log_density"].shape == (9, 9)
    last = score_field_data(100, data, diffusion, arrows=6, pixels=9)
    assert np.allclose(last["arrows"], -last["grid"], atol=0.01)    # ᾱ_T ≈ 0: every arrow points home
    fig = draw_score_field(panel)
    assert fig.axes[0].get_aspect() == 1.0 and fig.axes[0].get_title().startswith("t = 20")
    view = score_view(data, diffusion, t=5, arrows=5)
    assert "t = 5 of T = 100" in view.readout_text()
    view.controls["t"].value = 60
    assert "t = 60 of T = 100" in view.readout_text() and view.error is None
    with pytest.raises(ValueError, match="1..100"):
        score_field_data(0, data, diffusion)
