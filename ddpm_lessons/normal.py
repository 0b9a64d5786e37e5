"""The normal distribution (chapter 1, eq. (1.1)–(1.3))."""
from __future__ import annotations

import math

import numpy as np


def normal_pdf(x: np.ndarray | float, mu: float = 0.0, sigma: float = 1.0) -> np.ndarray:
    """Density of N(μ, σ²) at ``x``, eq. (1.1):
    ``exp(-(x - μ)² / (2σ²)) / √(2πσ²)``."""
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma!r}")
    x = np.asarray(x, dtype=np.float64)
    return np.exp(-0.5 * ((x - mu) / sigma) ** 2) / math.sqrt(2 * math.pi * sigma**2)


def sample_normal(
    mu: float,
    sigma: float,
    size: int | tuple[int, ...],
    rng: np.random.Generator,
) -> np.ndarray:
    """Draw from N(μ, σ²) as ``μ + σ z`` with ``z ~ N(0, 1)``, eq. (1.2)."""
    if not sigma >= 0 or not np.isfinite(sigma):
        raise ValueError(f"sigma must be a finite number >= 0, got {sigma!r}")
    if not np.isfinite(mu):
        raise ValueError(f"mu must be finite, got {mu!r}")
    return mu + sigma * rng.standard_normal(size)


def sum_of_normals(mu1: float, var1: float, mu2: float, var2: float) -> tuple[float, float]:
    """Law of X + Y for independent X ~ N(μ₁, σ₁²), Y ~ N(μ₂, σ₂²), eq. (1.3):
    N(μ₁ + μ₂, σ₁² + σ₂²).  Returns ``(mean, variance)``."""
    if var1 < 0 or var2 < 0:
        raise ValueError(f"variances must be >= 0, got {var1!r} and {var2!r}")
    return mu1 + mu2, var1 + var2
