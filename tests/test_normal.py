"""Chapter 1: the normal distribution, eq. (1.1)-(1.3)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import Z_TOL
from ddpm_lessons.normal import normal_pdf, sample_normal, sum_of_normals


def normal_cdf(x: float, mu: float, sigma: float) -> float:
    return 0.5 * (1.0 + math.erf((x - mu) / (sigma * math.sqrt(2.0))))


@pytest.mark.parametrize("mu, sigma", [(0.0, 1.0), (1.5, 0.3), (-2.0, 4.0)])
def test_pdf_integrates_to_one(mu, sigma):
    # Composite Simpson's rule over ±12σ (the tails beyond carry < 1e-32).
    n = 20_000
    x = np.linspace(mu - 12 * sigma, mu + 12 * sigma, n + 1)
    y = normal_pdf(x, mu, sigma)
    h = x[1] - x[0]
    integral = h / 3 * (y[0] + y[-1] + 4 * y[1:-1:2].sum() + 2 * y[2:-1:2].sum())
    assert integral == pytest.approx(1.0, abs=1e-10)


def test_pdf_values_by_hand():
    # N(0, 1) at 0 is 1/√(2π); at 1 it is e^{-1/2}/√(2π); N(2, 0.5²) at 3 is e^{-2}/(0.5√(2π)).
    assert normal_pdf(0.0) == pytest.approx(0.3989422804014327, rel=1e-15)
    assert normal_pdf(1.0) == pytest.approx(0.24197072451914337, rel=1e-14)
    assert normal_pdf(3.0, 2.0, 0.5) == pytest.approx(math.exp(-2.0) / (0.5 * math.sqrt(2 * math.pi)), rel=1e-14)
    # Array in, array out, symmetric about μ.
    x = np.array([-1.3, 0.2, 2.7])
    np.testing.assert_allclose(normal_pdf(1.0 + x, 1.0, 2.0), normal_pdf(1.0 - x, 1.0, 2.0), rtol=1e-15)


@pytest.mark.parametrize("mu, sigma, a, b", [(0.0, 1.0, -1.0, 1.0), (1.5, 0.3, 1.2, 1.9), (-2.0, 4.0, 0.0, 5.0)])
def test_pdf_integral_matches_erf_cdf(mu, sigma, a, b):
    # ∫_a^b pdf by the trapezoid rule vs Φ(b) - Φ(a) from math.erf.
    x = np.linspace(a, b, 200_001)
    y = normal_pdf(x, mu, sigma)
    integral = float(np.sum((y[1:] + y[:-1]) * np.diff(x)) / 2)
    assert integral == pytest.approx(normal_cdf(b, mu, sigma) - normal_cdf(a, mu, sigma), abs=1e-9)


@pytest.mark.parametrize("mu, sigma", [(0.0, 1.0), (3.0, 0.25), (-1.0, 2.0)])
def test_sample_normal_mean_and_variance(mu, sigma):
    n = 200_000
    x = sample_normal(mu, sigma, n, np.random.default_rng(1))
    assert x.shape == (n,)
    # SE of the mean: σ/√n; SE of the sample variance: σ²√(2/(n-1)).
    assert abs(x.mean() - mu) < Z_TOL * sigma / math.sqrt(n)
    assert abs(x.var(ddof=1) - sigma**2) < Z_TOL * sigma**2 * math.sqrt(2 / (n - 1))
    # The fraction within one σ is Φ(1) - Φ(-1) = erf(1/√2).
    p = math.erf(1 / math.sqrt(2))
    frac = np.mean(np.abs(x - mu) < sigma)
    assert abs(frac - p) < Z_TOL * math.sqrt(p * (1 - p) / n)


def test_sample_normal_is_mu_plus_sigma_z_and_seeded():
    a = sample_normal(2.0, 3.0, (4, 5), np.random.default_rng(11))
    z = np.random.default_rng(11).standard_normal((4, 5))
    np.testing.assert_array_equal(a, 2.0 + 3.0 * z)
    assert sample_normal(0.0, 0.0, 3, np.random.default_rng(0)).tolist() == [0.0, 0.0, 0.0]


def test_sum_of_normals_closed_form_and_monte_carlo():
    mu1, var1, mu2, var2 = 1.0, 0.5, -3.0, 2.0
    mean, var = sum_of_normals(mu1, var1, mu2, var2)
    assert (mean, var) == (-2.0, 2.5)
    rng = np.random.default_rng(5)
    n = 200_000
    s = rng.normal(mu1, math.sqrt(var1), n) + rng.normal(mu2, math.sqrt(var2), n)
    assert abs(s.mean() - mean) < Z_TOL * math.sqrt(var / n)
    assert abs(s.var(ddof=1) - var) < Z_TOL * var * math.sqrt(2 / (n - 1))
    # Compare the whole law: fraction below the mean + 1 sd is Φ(1).
    p = normal_cdf(1.0, 0.0, 1.0)
    assert abs(np.mean(s < mean + math.sqrt(var)) - p) < Z_TOL * math.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize("sigma", [0.0, -1.0, float("nan")])
def test_normal_pdf_rejects_bad_sigma(sigma):
    with pytest.raises(ValueError, match="sigma must be > 0"):
        normal_pdf(0.0, 0.0, sigma)


@pytest.mark.parametrize("mu, sigma, match", [(0.0, -1.0, "sigma must be a finite number >= 0"),
                                              (0.0, float("inf"), "sigma must be a finite"),
                                              (float("nan"), 1.0, "mu must be finite")])
def test_sample_normal_rejects_bad_parameters(mu, sigma, match):
    with pytest.raises(ValueError, match=match):
        sample_normal(mu, sigma, 3, np.random.default_rng(0))


def test_sum_of_normals_rejects_negative_variance():
    with pytest.raises(ValueError, match="variances must be >= 0, got -1.0 and 1.0"):
        sum_of_normals(0.0, -1.0, 0.0, 1.0)
