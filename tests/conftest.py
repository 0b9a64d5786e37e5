"""Shared fixtures for the unit tests of ``ddpm_lessons``.

Every numerical test compares the package with an independent computation
(closed forms written out again here, Python loops, Monte Carlo, quadrature).
Monte Carlo tolerances are stated as multiples of the standard error.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

torch.set_num_threads(1)

from ddpm_lessons.diffusion import GaussianDiffusion  # noqa: E402
from ddpm_lessons.schedules import linear_beta_schedule  # noqa: E402
from ddpm_lessons.spiral import make_spiral  # noqa: E402

# Monte Carlo checks allow this many standard errors (a 5σ miss has probability ~6e-7).
Z_TOL = 5.0


def linear_betas_by_hand(T: int, beta_start: float, beta_end: float, rescale: bool = True) -> list[float]:
    """Eq. (2.5)-(2.6) written out as a Python loop (independent of numpy.linspace)."""
    scale = 1000.0 / T if rescale else 1.0
    if T == 1:
        return [scale * beta_start]
    return [scale * (beta_start + (beta_end - beta_start) * k / (T - 1)) for k in range(T)]


def cosine_betas_by_hand(T: int, s: float = 0.008, max_beta: float = 0.999) -> list[float]:
    """Eq. (2.7) written out with ``math``: ᾱ_t = f(t)/f(0), β_t = 1 - ᾱ_t/ᾱ_{t-1}, clipped."""
    def f(t: int) -> float:
        return math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2
    out = []
    for t in range(1, T + 1):
        beta = 1.0 - (f(t) / f(0)) / (f(t - 1) / f(0))
        out.append(min(max(beta, 1e-12), max_beta))
    return out


def cumprod_by_hand(betas) -> list[float]:
    """ᾱ_t = ∏_{i ≤ t} (1 - β_i), eq. (3.3), as a Python loop."""
    out, prod = [], 1.0
    for beta in betas:
        prod *= 1.0 - float(beta)
        out.append(prod)
    return out


def ks_two_sample(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov statistic D and its critical value at level 1e-4.

    Critical value c(α) √((n + m) / (n m)) with c(α) = √(-½ log(α/2)).
    """
    a, b = np.sort(np.ravel(a)), np.sort(np.ravel(b))
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / a.size
    cdf_b = np.searchsorted(b, grid, side="right") / b.size
    d = float(np.max(np.abs(cdf_a - cdf_b)))
    c_alpha = math.sqrt(-0.5 * math.log(1e-4 / 2))
    return d, c_alpha * math.sqrt((a.size + b.size) / (a.size * b.size))


class OracleModel:
    """A "perfect" noise predictor for a known x_0: ε = (x_t - √ᾱ_t x_0) / √(1 - ᾱ_t).

    It uses its own ᾱ (from :func:`cumprod_by_hand`), not the diffusion's buffers.
    """

    def __init__(self, betas, x0: torch.Tensor) -> None:
        abar = torch.tensor(cumprod_by_hand(betas), dtype=torch.float64)
        self.sqrt_abar = abar.sqrt()
        self.sqrt_one_minus_abar = (1.0 - abar).sqrt()
        self.x0 = x0
        self.calls: list[torch.Tensor] = []

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.calls.append(t.clone())
        a = self.sqrt_abar[t - 1].to(x.dtype)[:, None]
        b = self.sqrt_one_minus_abar[t - 1].to(x.dtype)[:, None]
        return (x - a * self.x0.to(x.dtype)) / b


@pytest.fixture
def source_betas() -> np.ndarray:
    """The source post's schedule: T = 40, β 8e-6 … 9e-5, × 1000/T."""
    return linear_beta_schedule(40, 8e-6, 9e-5)


@pytest.fixture
def course_betas() -> np.ndarray:
    """A stronger schedule (Ho et al.'s 1e-4 … 0.02 rescaled to T = 40): ᾱ_T ≈ 4e-5."""
    return linear_beta_schedule(40, 1e-4, 0.02)


@pytest.fixture
def diffusion64(course_betas) -> GaussianDiffusion:
    return GaussianDiffusion(course_betas, dtype=torch.float64)


@pytest.fixture
def spiral_x0() -> torch.Tensor:
    return torch.as_tensor(make_spiral(64, np.random.default_rng(7)), dtype=torch.float64)


def trajectory(T: int = 6, n: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A made-up reverse process: x_t = spiral + t/T · noise, x̂_0 = the spiral."""
    rng = np.random.default_rng(seed)
    x0 = make_spiral(n, rng).astype(np.float64)
    noise = rng.standard_normal((n, 2))
    xs = np.stack([x0 + (t / T) * noise for t in range(T + 1)])
    return xs, np.broadcast_to(x0, xs.shape).copy()
