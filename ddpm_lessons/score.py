"""The score and the ideal denoiser of a finite training set (chapter 8).

A finite training set ``{x0_i}`` (``data``, shape ``(N, d)``) noised to step t
is a mixture of N Gaussians, ``q_t(x) = (1/N) Σ_i N(x; √ᾱ_t x0_i, (1 − ᾱ_t) I)``
(eq. (8.5)).  Everything about it is exact:

- :func:`log_posterior_weights`, :func:`posterior_weights`: the posterior
  ``w_i(x) = q(x0_i | x_t = x)``, a softmax, eq. (8.6), computed with
  log-sum-exp so that far points do not underflow;
- :func:`ideal_x0`: the posterior mean ``E[x0 | x_t] = Σ_i w_i x0_i``, eq. (8.7);
- :func:`score`: ``∇ log q_t(x) = (√ᾱ_t E[x0 | x_t] − x) / (1 − ᾱ_t)``, Tweedie's formula eq. (8.2);
- :func:`noise_from_score`, :func:`ideal_noise`: ``ε* = −√(1 − ᾱ_t) ∇ log q_t``, eq. (8.3),
  the minimiser of the simple loss over all functions;
- :func:`tweedie_x0`: ``E[x0 | x_t] = (x_t + (1 − ᾱ_t) ∇ log q_t) / √ᾱ_t``, eq. (8.2);
- :class:`IdealDenoiser`: ε* as a model ``forward(x, t)`` that
  :meth:`~ddpm_lessons.diffusion.GaussianDiffusion.p_sample_loop` samples with;
- :func:`nearest_distances`: how far samples are from the nearest training point.

``alpha_bar`` is ᾱ_t: one number in (0, 1), or a tensor of shape ``(batch,)``
(one ᾱ per row of ``x_t``).  Work is split into chunks of rows, so that no
intermediate array holds much more than :data:`CHUNK_ELEMENTS` numbers.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

from .diffusion import GaussianDiffusion
from .validation import check_points, time_indices

CHUNK_ELEMENTS = 1 << 22
"""Largest number of (row, training point) pairs handled at once (≈ 4 million)."""


# ----------------------------------------------------------------------------- checks
def _check_tensor(x, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"{name} must have shape (n, features) with n >= 1, got {tuple(x.shape)}")
    if not x.dtype.is_floating_point:
        raise TypeError(f"{name} must hold floating-point numbers, got dtype {x.dtype}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def _check_inputs(x_t: Tensor, data: Tensor, alpha_bar: float | Tensor) -> Tensor:
    """Validate ``x_t`` (batch, d), ``data`` (N, d) and ᾱ; return ᾱ as a ``(batch, 1)`` tensor."""
    _check_tensor(x_t, "x_t")
    if isinstance(data, Tensor) and data.ndim == 2 and data.shape[0] == 0:
        raise ValueError("data must hold at least one training point, got N = 0")
    _check_tensor(data, "data")
    if x_t.shape[1] != data.shape[1]:
        raise ValueError(f"x_t and data must have the same number of features, got x_t of shape "
                         f"{tuple(x_t.shape)} and data of shape {tuple(data.shape)}")
    if x_t.dtype != data.dtype:
        raise TypeError(f"x_t and data must have the same dtype, got {x_t.dtype} and {data.dtype}")
    return _alpha_column(alpha_bar, x_t)


def _alpha_column(alpha_bar: float | Tensor, x_t: Tensor) -> Tensor:
    """ᾱ (a number, or one per row of ``x_t``) checked to lie in (0, 1), as a ``(batch, 1)`` tensor."""
    if isinstance(alpha_bar, Tensor):
        a = alpha_bar.to(device=x_t.device, dtype=x_t.dtype)
        if a.ndim == 0:
            a = a.expand(x_t.shape[0])
        if a.shape != (x_t.shape[0],):
            raise ValueError(f"alpha_bar must be a number or a tensor of shape (batch,) = "
                             f"({x_t.shape[0]},), got shape {tuple(a.shape)}")
    elif isinstance(alpha_bar, (float, int, np.floating, np.integer)) and not isinstance(alpha_bar, bool):
        a = torch.full((x_t.shape[0],), float(alpha_bar), dtype=x_t.dtype, device=x_t.device)
    else:
        raise TypeError(f"alpha_bar must be a number or a tensor, got {type(alpha_bar).__name__}")
    if not bool(((a > 0) & (a < 1)).all()):
        raise ValueError(f"alpha_bar must lie in (0, 1) (ᾱ_t for t = 1 … T), got values from "
                         f"{float(a.min()):.6g} to {float(a.max()):.6g}")
    return a[:, None]


def _row_slices(batch: int, n_data: int) -> list[slice]:
    """Slices of at most ``CHUNK_ELEMENTS // n_data`` rows covering ``0 … batch − 1``."""
    rows = max(1, CHUNK_ELEMENTS // max(1, n_data))
    return [slice(start, start + rows) for start in range(0, batch, rows)]


def _logits(x_t: Tensor, data: Tensor, a: Tensor) -> Tensor:
    """``ℓ_i = −|x_t − √ᾱ_t x0_i|² / (2(1 − ᾱ_t))`` of eq. (8.6); ``a`` has shape ``(batch, 1)``.

    With ``|x − √ᾱ x0|² = |x|² − 2√ᾱ x·x0 + ᾱ|x0|²`` all ℓ come from one matrix
    product, instead of a ``(batch, N, d)`` array of differences.  The expansion costs
    about ``|x|² · eps / (1 − ᾱ)`` of accuracy in each ℓ (``eps`` ≈ 6e-8 in float32):
    negligible where samples live, so pass float64 tensors only for points far out.
    """
    scale = 1.0 / (1.0 - a)
    rows = torch.cat([a.sqrt() * scale * x_t, -0.5 * a * scale,
                      -0.5 * scale * (x_t * x_t).sum(1, keepdim=True)], dim=1)
    columns = torch.cat([data, (data * data).sum(1, keepdim=True), torch.ones_like(data[:, :1])], dim=1)
    return rows @ columns.T


def _log_weights(x_t: Tensor, data: Tensor, a: Tensor) -> Tensor:
    """Core of eq. (8.6) for checked inputs: ``ℓ_i − logsumexp_j ℓ_j``."""
    return torch.log_softmax(_logits(x_t, data, a), dim=1)


# ----------------------------------------------------------------------------- the mixture posterior
def log_posterior_weights(x_t: Tensor, data: Tensor, alpha_bar: float | Tensor) -> Tensor:
    """``log w_i(x_t)``, the log posterior probability of each training point, eq. (8.6).

    ``log w_i = ℓ_i − logsumexp_j ℓ_j`` with ``ℓ_i = −|x_t − √ᾱ_t x0_i|² / (2(1 − ᾱ_t))``;
    shape ``(batch, N)``.  Finite even where ``exp(ℓ_i)`` underflows to 0.
    """
    a = _check_inputs(x_t, data, alpha_bar)
    return _log_weights(x_t, data, a)


def log_density(x_t: Tensor, data: Tensor, alpha_bar: float | Tensor) -> Tensor:
    """``log q_t(x_t)`` of the noised training set, the mixture of eq. (8.5); shape ``(batch,)``.

    ``log q_t = logsumexp_i ℓ_i − log N − (d/2) log(2π(1 − ᾱ_t))`` with ℓ_i as in eq. (8.6).
    """
    a = _check_inputs(x_t, data, alpha_bar)
    out = x_t.new_empty(x_t.shape[0])
    for rows in _row_slices(x_t.shape[0], data.shape[0]):
        out[rows] = torch.logsumexp(_logits(x_t[rows], data, a[rows]), dim=1)
    d = x_t.shape[1]
    return (out - math.log(data.shape[0])
            - 0.5 * d * torch.log(2 * math.pi * (1.0 - a[:, 0])))


def posterior_weights(x_t: Tensor, data: Tensor, alpha_bar: float | Tensor) -> Tensor:
    """``w_i(x_t) = q(x0_i | x_t)``, eq. (8.6): a softmax over the training points; rows sum to 1."""
    return log_posterior_weights(x_t, data, alpha_bar).exp()


def ideal_x0(x_t: Tensor, data: Tensor, alpha_bar: float | Tensor) -> Tensor:
    """The posterior mean ``E[x0 | x_t] = Σ_i w_i(x_t) x0_i`` of eq. (8.7), in chunks of rows."""
    a = _check_inputs(x_t, data, alpha_bar)
    out = x_t.new_empty(x_t.shape)
    for rows in _row_slices(x_t.shape[0], data.shape[0]):
        out[rows] = torch.softmax(_logits(x_t[rows], data, a[rows]), dim=1) @ data
    return out


def score(x_t: Tensor, data: Tensor, alpha_bar: float | Tensor) -> Tensor:
    """The score ``∇_x log q_t(x_t)`` of the noised training set, eq. (8.2) solved for it:
    ``(√ᾱ_t E[x0 | x_t] − x_t) / (1 − ᾱ_t)``."""
    a = _check_inputs(x_t, data, alpha_bar)
    return (a.sqrt() * ideal_x0(x_t, data, alpha_bar) - x_t) / (1.0 - a)


def noise_from_score(score_values: Tensor, alpha_bar: float | Tensor) -> Tensor:
    """``ε* = −√(1 − ᾱ_t) ∇ log q_t``, eq. (8.3)."""
    a = _alpha_column(alpha_bar, _check_tensor(score_values, "score_values"))
    return -(1.0 - a).sqrt() * score_values


def tweedie_x0(x_t: Tensor, score_values: Tensor, alpha_bar: float | Tensor) -> Tensor:
    """Tweedie's formula, eq. (8.2): ``E[x0 | x_t] = (x_t + (1 − ᾱ_t) ∇ log q_t) / √ᾱ_t``."""
    _check_tensor(score_values, "score_values")
    a = _check_inputs(x_t, score_values, alpha_bar)
    if x_t.shape != score_values.shape:
        raise ValueError(f"x_t and score_values must have the same shape, got {tuple(x_t.shape)} "
                         f"and {tuple(score_values.shape)}")
    return (x_t + (1.0 - a) * score_values) / a.sqrt()


def ideal_noise(x_t: Tensor, data: Tensor, alpha_bar: float | Tensor) -> Tensor:
    """The ideal noise prediction ``ε*(x_t) = E[ε | x_t]`` for the training set, eq. (8.3) and (8.7):
    ``(x_t − √ᾱ_t E[x0 | x_t]) / √(1 − ᾱ_t)``."""
    return noise_from_score(score(x_t, data, alpha_bar), alpha_bar)


class IdealDenoiser(nn.Module):
    """ε* of eq. (8.3) for a finite training set, as a model: ``forward(x, t)`` with the
    book's time steps ``t = 1 … T`` (an int or a tensor of shape ``(batch,)``).

    It has no weights: it stores the training set and the ᾱ_t of ``diffusion``,
    so ``diffusion.p_sample_loop(IdealDenoiser(data, diffusion), shape)`` runs
    Algorithm 2 with the best possible noise predictor for this training set.
    """

    def __init__(self, data: np.ndarray | Tensor, diffusion: GaussianDiffusion,
                 dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        if not isinstance(diffusion, GaussianDiffusion):
            raise TypeError(f"diffusion must be a GaussianDiffusion, got {type(diffusion).__name__}")
        if isinstance(data, Tensor):
            data = data.detach().cpu().numpy()
        data = np.asarray(data, dtype=np.float64)
        if data.ndim == 2 and data.shape[0] == 0:
            raise ValueError("data must hold at least one training point, got N = 0")
        _check_tensor(torch.as_tensor(data), "data")
        self.num_timesteps = diffusion.num_timesteps
        self.register_buffer("data", torch.as_tensor(data, dtype=dtype))
        self.register_buffer("alphas_cumprod", diffusion.alphas_cumprod.to(dtype))

    def extra_repr(self) -> str:
        return f"N={self.data.shape[0]}, T={self.num_timesteps}"

    def forward(self, x: Tensor, t: int | Tensor) -> Tensor:
        _check_tensor(x, "x")
        i = time_indices(t, self.num_timesteps, x.shape[0], x.device)
        return ideal_noise(x.to(self.data.dtype), self.data, self.alphas_cumprod[i]).to(x.dtype)


# ----------------------------------------------------------------------------- memorisation
def nearest_distances(points, data) -> np.ndarray:
    """Distance from each point (shape ``(n, 2)``) to its nearest training point
    (``(N, 2)``), in float64 by direct differences (no cancellation), in chunks."""
    points, data = check_points(points, ndim=2), check_points(data, "data", ndim=2)
    if len(points) == 0 or len(data) == 0:
        raise ValueError(f"points and data must be non-empty, got shapes {points.shape} and {data.shape}")
    out = np.empty(len(points))
    rows = max(1, CHUNK_ELEMENTS // (4 * len(data)))
    for start in range(0, len(points), rows):
        diff = points[start:start + rows, None, :] - data[None, :, :]
        out[start:start + rows] = np.sqrt((diff * diff).sum(-1).min(axis=1))
    return out


def share_near_training(points, data, radius: float = 1e-3) -> float:
    """The share of ``points`` within ``radius`` of a training point (a measure of memorisation)."""
    if not (isinstance(radius, (int, float)) and math.isfinite(radius) and radius > 0):
        raise ValueError(f"radius must be a finite number > 0, got {radius!r}")
    return float(np.mean(nearest_distances(points, data) <= radius))
