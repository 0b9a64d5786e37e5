"""Chapters 2, 3 and 6: β schedules, ᾱ_t and the prior-matching term, eq. (2.5)-(2.7), (3.3), (6.3)-(6.4)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from conftest import Z_TOL, cosine_betas_by_hand, cumprod_by_hand, linear_betas_by_hand
from ddpm_lessons.diffusion import GaussianDiffusion
from ddpm_lessons.schedules import (alphas_cumprod, cosine_beta_schedule, linear_beta_schedule,
                                    prior_kl, schedule_summary, validate_betas)


def kl_normal(mu1: float, var1: float, mu2: float, var2: float) -> float:
    """KL(N(μ₁, σ₁²) ‖ N(μ₂, σ₂²)), eq. (6.4)."""
    return 0.5 * math.log(var2 / var1) + (var1 + (mu1 - mu2) ** 2) / (2 * var2) - 0.5


# ----------------------------------------------------------------- linear
@pytest.mark.parametrize("T", [1, 25, 40, 100, 1000])
def test_linear_endpoints_and_rescaling_exact(T):
    betas = linear_beta_schedule(T)
    assert betas.dtype == np.float64 and betas.shape == (T,)
    assert betas[0] == 1e-4 * (1000.0 / T)
    if T > 1:
        assert betas[-1] == 0.02 * (1000.0 / T)
        np.testing.assert_allclose(np.diff(betas), (betas[-1] - betas[0]) / (T - 1), rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(betas, linear_betas_by_hand(T, 1e-4, 0.02), rtol=1e-13)


def test_linear_without_rescaling():
    betas = linear_beta_schedule(40, 1e-3, 5e-3, rescale=False)
    assert (betas[0], betas[-1]) == (1e-3, 5e-3)
    np.testing.assert_allclose(betas, linear_betas_by_hand(40, 1e-3, 5e-3, rescale=False), rtol=1e-13)
    # Rescaling for T = 1000 is the identity.
    np.testing.assert_array_equal(linear_beta_schedule(1000), linear_beta_schedule(1000, rescale=False))


def test_constant_linear_schedule():
    np.testing.assert_array_equal(linear_beta_schedule(5, 0.01, 0.01, rescale=False), [0.01] * 5)


# ----------------------------------------------------------------- cosine
@pytest.mark.parametrize("T", [1, 2, 40, 1000])
def test_cosine_matches_formula(T):
    np.testing.assert_allclose(cosine_beta_schedule(T), cosine_betas_by_hand(T), rtol=1e-12, atol=1e-15)


def test_cosine_other_offset_and_clip():
    np.testing.assert_allclose(cosine_beta_schedule(50, s=0.02, max_beta=0.5),
                               cosine_betas_by_hand(50, s=0.02, max_beta=0.5), rtol=1e-12)
    betas = cosine_beta_schedule(50, max_beta=0.5)
    assert betas.max() == 0.5           # the last step would be β_T = 1 without the clip


def test_cosine_alpha_bar_is_the_squared_cosine():
    # Before clipping, ᾱ_t = cos²((t/T + s)/(1 + s)·π/2) / cos²(s/(1 + s)·π/2) exactly.
    T, s = 100, 0.008
    abar = alphas_cumprod(cosine_beta_schedule(T))
    for t in (1, 10, 50, 90):
        expected = (math.cos((t / T + s) / (1 + s) * math.pi / 2) / math.cos(s / (1 + s) * math.pi / 2)) ** 2
        assert abar[t - 1] == pytest.approx(expected, rel=1e-12)


# ----------------------------------------------------------- ᾱ and the KL
def test_alphas_cumprod_vs_python_loop(course_betas):
    np.testing.assert_allclose(alphas_cumprod(course_betas), cumprod_by_hand(course_betas), rtol=1e-13)
    assert alphas_cumprod([0.5, 0.5, 0.2]).tolist() == pytest.approx([0.5, 0.25, 0.2])


def test_source_schedule_alpha_bar(source_betas):
    assert source_betas[0] == pytest.approx(2e-4, rel=1e-12)
    assert source_betas[-1] == pytest.approx(2.25e-3, rel=1e-12)
    abar_T = cumprod_by_hand(source_betas)[-1]
    assert abar_T == pytest.approx(0.952, abs=5e-4)
    assert alphas_cumprod(source_betas)[-1] == pytest.approx(abar_T, rel=1e-13)
    # ≈ exp(-Σβ) since the β are small: Σβ = 40·(2e-4 + 2.25e-3)/2 = 0.049.
    assert abar_T == pytest.approx(math.exp(-0.049), abs=1e-4)


@pytest.mark.parametrize("x0", [0.0, 0.5, 1.0])
def test_prior_kl_closed_form(source_betas, course_betas, x0):
    for betas in (source_betas, course_betas):
        abar = cumprod_by_hand(betas)[-1]
        expected = kl_normal(math.sqrt(abar) * x0, 1 - abar, 0.0, 1.0)
        assert float(prior_kl(betas, x0)) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_prior_kl_vectorised_over_x0(course_betas):
    x0 = np.array([-1.0, 0.0, 0.3])
    np.testing.assert_allclose(prior_kl(course_betas, x0), [float(prior_kl(course_betas, v)) for v in x0])


@pytest.mark.parametrize("x0", [0.3, 1.0])
def test_prior_kl_monte_carlo(source_betas, x0):
    # KL(q ‖ p) = E_q[log q(x) - log p(x)] with q = N(√ᾱ_T x0, 1 - ᾱ_T), p = N(0, 1).
    abar = cumprod_by_hand(source_betas)[-1]
    mu, var = math.sqrt(abar) * x0, 1 - abar
    x = np.random.default_rng(12).normal(mu, math.sqrt(var), 400_000)
    log_q = -0.5 * (x - mu) ** 2 / var - 0.5 * math.log(2 * math.pi * var)
    log_p = -0.5 * x**2 - 0.5 * math.log(2 * math.pi)
    ratio = log_q - log_p
    se = ratio.std(ddof=1) / math.sqrt(x.size)
    assert abs(ratio.mean() - float(prior_kl(source_betas, x0))) < Z_TOL * se


def test_schedule_summary(source_betas):
    summary = schedule_summary(source_betas)
    abar = cumprod_by_hand(source_betas)[-1]
    assert summary["T"] == 40 and isinstance(summary["T"], int)
    assert summary["beta_1"] == pytest.approx(2e-4) and summary["beta_T"] == pytest.approx(2.25e-3)
    assert summary["alpha_bar_T"] == pytest.approx(abar, rel=1e-13)
    assert summary["signal_std_T"] == pytest.approx(math.sqrt(abar), rel=1e-13)
    assert summary["prior_kl_max"] == pytest.approx(kl_normal(math.sqrt(abar), 1 - abar, 0, 1), rel=1e-12)
    # A strong schedule leaves almost no signal and almost no prior KL.
    strong = schedule_summary(linear_beta_schedule(1000))
    assert strong["signal_std_T"] < 7e-3 and strong["prior_kl_max"] < 1e-4


def test_validate_betas_returns_float64():
    out = validate_betas([0.1, 0.2])
    assert out.dtype == np.float64 and out.tolist() == [0.1, 0.2]


# ------------------------------------------------------ property tests
linear_params = st.tuples(st.integers(1, 1000), st.floats(1e-6, 0.05), st.floats(1e-6, 0.05), st.booleans())


def check_schedule(betas: np.ndarray) -> None:
    betas = np.asarray(betas)
    assert np.all((betas > 0) & (betas < 1))
    abar = alphas_cumprod(betas)
    assert np.all((abar > 0) & (abar < 1))
    assert np.all(np.diff(abar) < 0)
    prev = np.append(1.0, abar[:-1])
    np.testing.assert_allclose(abar, prev * (1 - betas), rtol=1e-14)            # ᾱ_t = ᾱ_{t-1}(1 - β_t)

    d = GaussianDiffusion(betas, dtype=torch.float64)
    b = d.betas.numpy()
    ab, ab_prev = d.alphas_cumprod.numpy(), d.alphas_cumprod_prev.numpy()
    np.testing.assert_allclose(ab, abar, rtol=1e-14)
    assert ab_prev[0] == 1.0
    # β̃_t ≤ β_t, β̃_1 = 0, and 1/β̃_t = α_t/β_t + 1/(1 - ᾱ_{t-1}) (completing the square, eq. (4.2)-(4.4)).
    pv = d.posterior_variance.numpy()
    assert pv[0] == 0.0 and np.all(pv <= b * (1 + 1e-12))
    if b.size > 1:
        np.testing.assert_allclose(1 / pv[1:], (1 - b[1:]) / b[1:] + 1 / (1 - ab_prev[1:]), rtol=1e-9)
        np.testing.assert_allclose(d.posterior_log_variance_clipped.numpy()[1:], np.log(pv[1:]), rtol=1e-12)
        assert d.posterior_log_variance_clipped[0] == d.posterior_log_variance_clipped[1]
    # √ᾱ² + √(1-ᾱ)² = 1 and (1/√ᾱ)² - (√(1/ᾱ - 1))² = 1.
    np.testing.assert_allclose(d.sqrt_alphas_cumprod.numpy() ** 2 + d.sqrt_one_minus_alphas_cumprod.numpy() ** 2,
                               1.0, rtol=1e-14)
    r, rm1 = d.sqrt_recip_alphas_cumprod.numpy(), d.sqrt_recipm1_alphas_cumprod.numpy()
    assert np.all(np.abs(r**2 - rm1**2 - 1) <= 1e-12 * r**2)
    c1, c2 = d.posterior_mean_coef1.numpy(), d.posterior_mean_coef2.numpy()
    # Noise-free x_t = √ᾱ_t x0 has posterior mean √ᾱ_{t-1} x0: coef1 + coef2·√ᾱ_t = √ᾱ_{t-1}.
    np.testing.assert_allclose(c1 + c2 * np.sqrt(ab), np.sqrt(ab_prev), rtol=1e-10)
    # μ̃(x_t, x̂_0(ε)) = ε-form (eq. (4.9)): the coefficients of x_t and of ε agree.
    sra = d.sqrt_recip_alphas.numpy()
    np.testing.assert_allclose(c1 * r + c2, sra, rtol=1e-10)
    np.testing.assert_allclose(c1 * rm1, sra * d.eps_coef.numpy(), rtol=1e-10)
    np.testing.assert_allclose(sra, 1 / np.sqrt(1 - b), rtol=1e-14)
    np.testing.assert_allclose(d.sqrt_alphas.numpy() * d.sqrt_recip_alphas.numpy(), 1.0, rtol=1e-14)
    np.testing.assert_allclose(d.sqrt_betas.numpy() ** 2, b, rtol=1e-14)


@settings(max_examples=40, deadline=None)
@given(linear_params)
def test_linear_schedule_properties(params):
    T, a, b, rescale = params
    beta_start, beta_end = min(a, b), max(a, b)
    scale = 1000.0 / T if rescale else 1.0
    assume(beta_end * scale < 1)
    betas = linear_beta_schedule(T, beta_start, beta_end, rescale=rescale)
    np.testing.assert_allclose(betas, linear_betas_by_hand(T, beta_start, beta_end, rescale), rtol=1e-12)
    check_schedule(betas)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 1000), st.floats(1e-4, 0.1), st.floats(0.5, 0.999))
def test_cosine_schedule_properties(T, s, max_beta):
    betas = cosine_beta_schedule(T, s=s, max_beta=max_beta)
    np.testing.assert_allclose(betas, cosine_betas_by_hand(T, s, max_beta), rtol=1e-9, atol=1e-15)
    assert betas.max() <= max_beta
    check_schedule(betas)
