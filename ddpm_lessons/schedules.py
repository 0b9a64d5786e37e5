"""Noise schedules β_1 … β_T (chapter 2, eq. (2.4)–(2.6)).

A schedule is a 1-D float64 numpy array ``betas`` with ``betas[t - 1] = β_t``
for the book's time steps ``t = 1 … T``.
"""
from __future__ import annotations

import math

import numpy as np

from .validation import check_int


def validate_betas(betas: np.ndarray) -> np.ndarray:
    """Return ``betas`` as a float64 array after checking it is a schedule.

    A schedule is a non-empty 1-D array of finite numbers in the open interval
    (0, 1).  Anything else raises ``ValueError`` saying what was received.
    """
    betas = np.asarray(betas, dtype=np.float64)
    if betas.ndim != 1 or betas.size < 1:
        raise ValueError(f"betas must be a non-empty 1-D array, got shape {betas.shape}")
    if not np.all(np.isfinite(betas)):
        raise ValueError("betas contain NaN or infinity")
    bad = (betas <= 0) | (betas >= 1)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"every β_t must lie in (0, 1), got β_{i + 1} = {betas[i]!r}")
    return betas


def linear_beta_schedule(
    num_timesteps: int,
    beta_start: float = 1e-4,
    beta_end: float = 0.02,
    rescale: bool = True,
) -> np.ndarray:
    """Linearly increasing β_t from ``beta_start`` to ``beta_end``, eq. (2.5).

    With ``rescale=True`` both ends are multiplied by ``1000 / T`` (eq. (2.6)),
    so that a schedule tuned for T = 1000 steps (Ho et al. 2020 use 1e-4 … 0.02)
    destroys the data to the same degree with fewer, larger steps.
    """
    num_timesteps = check_int(num_timesteps, "num_timesteps", 1)
    if not (np.isfinite(beta_start) and np.isfinite(beta_end)):
        raise ValueError(f"beta_start and beta_end must be finite, got {beta_start!r} and {beta_end!r}")
    if not beta_start <= beta_end:
        raise ValueError(
            f"a linear schedule needs beta_start <= beta_end, got {beta_start!r} > {beta_end!r}"
        )
    scale = 1000.0 / num_timesteps if rescale else 1.0
    betas = np.linspace(scale * beta_start, scale * beta_end, num_timesteps, dtype=np.float64)
    return validate_betas(betas)


def cosine_beta_schedule(num_timesteps: int, s: float = 0.008,
                         max_beta: float = 0.999) -> np.ndarray:
    """The cosine schedule of Nichol & Dhariwal (2021), eq. (2.7).

    ``ᾱ_t = f(t) / f(0)`` with ``f(t) = cos²(((t/T) + s) / (1 + s) · π/2)``, and
    ``β_t = 1 - ᾱ_t / ᾱ_{t-1}`` clipped to at most ``max_beta``.
    """
    num_timesteps = check_int(num_timesteps, "num_timesteps", 1)
    if not 0 < max_beta < 1:
        raise ValueError(f"max_beta must lie in (0, 1), got {max_beta!r}")
    steps = np.arange(num_timesteps + 1, dtype=np.float64) / num_timesteps
    f = np.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    alphas_cumprod = f / f[0]
    betas = 1.0 - alphas_cumprod[1:] / alphas_cumprod[:-1]
    return validate_betas(np.clip(betas, 1e-12, max_beta))


def alphas_cumprod(betas: np.ndarray) -> np.ndarray:
    """ᾱ_t = ∏_{i ≤ t} (1 - β_i), eq. (3.3); element ``t - 1`` holds ᾱ_t."""
    return np.cumprod(1.0 - validate_betas(betas))


def prior_kl(betas: np.ndarray, x0: np.ndarray | float = 1.0) -> np.ndarray:
    """KL( q(x_T | x_0) ‖ N(0, I) ) per coordinate, eq. (6.3): the prior-matching term.

    ``q(x_T | x_0) = N(√ᾱ_T x_0, (1 - ᾱ_T) I)``, so for one coordinate
    ``KL = ½ (ᾱ_T x_0² + (1 - ᾱ_T) - 1 - log(1 - ᾱ_T))``  (in nats).
    With the default ``x0 = 1`` it is the worst case for data in [-1, 1].
    """
    abar = alphas_cumprod(betas)[-1]
    x0 = np.asarray(x0, dtype=np.float64)
    return 0.5 * (abar * x0**2 + (1.0 - abar) - 1.0 - np.log1p(-abar))


def schedule_summary(betas: np.ndarray) -> dict[str, float]:
    """What a schedule does to the data: T, its β range, ᾱ_T and the worst prior KL.

    ``signal_std_T`` is √ᾱ_T, the fraction of x_0 still present in x_T;
    ``prior_kl_max`` is :func:`prior_kl` at |x_0| = 1 (nats per coordinate).
    """
    betas = validate_betas(betas)
    abar = alphas_cumprod(betas)
    return {
        "T": int(betas.size),
        "beta_1": float(betas[0]),
        "beta_T": float(betas[-1]),
        "alpha_bar_T": float(abar[-1]),
        "signal_std_T": float(math.sqrt(abar[-1])),
        "prior_kl_max": float(prior_kl(betas, 1.0)),
    }
