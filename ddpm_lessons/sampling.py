"""Fewer sampling steps: time grids, the DDIM step, strided DDPM and DDIM inversion (chapter 9).

A model trained with the loss of eq. (6.5) only ever sees the marginals
q(x_t | x_0) of eq. (3.5).  Any process with the same marginals, such as the
non-Markovian processes of Song et al. (2021, "Denoising Diffusion Implicit
Models"), can therefore be sampled with it, and on a sub-sequence of the time
steps.

**Time grid.**  :func:`sampling_timesteps` returns the ``n`` steps visited,
τ_n = T > τ_{n-1} > … > τ_1 ≥ 1, from T down (book convention, 1 … T).  The
final step goes from τ_1 to x_0, with ᾱ_prev = 1 (ᾱ_0 = 1), so it returns
x̂_0 itself; a grid of one step jumps from T straight to x̂_0.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

from .diffusion import Denoiser, GaussianDiffusion
from .schedules import alphas_cumprod as cumulative_alphas
from .schedules import validate_betas
from .validation import check_int

SPACINGS = ("uniform", "quadratic")


def sampling_timesteps(num_timesteps: int, num_sampling_steps: int, spacing: str = "uniform") -> np.ndarray:
    """The time grid τ_n = T > … > τ_1 of eq. (9.6), as ``n`` distinct ints from T down.

    ``"uniform"`` spaces 1 … T evenly (rounded); ``"quadratic"`` puts
    τ_k ≈ 1 + (T - 1)·((k - 1)/(n - 1))², crowding the steps near t = 0 (as
    Song et al. 2021 did for CIFAR-10), and moves any step that would repeat
    one below it up by one.  Both start at T and, for n ≥ 2, end at τ_1 = 1;
    the step after τ_1 goes to ᾱ_prev = 1.
    """
    num_timesteps = check_int(num_timesteps, "num_timesteps", 1)
    n = check_int(num_sampling_steps, "num_sampling_steps", 1, num_timesteps)
    if spacing not in SPACINGS:
        raise ValueError(f"spacing must be one of {SPACINGS}, got {spacing!r}")
    if n == 1:
        return np.array([num_timesteps])
    if spacing == "uniform":
        raw = np.linspace(1, num_timesteps, n)
    else:
        raw = 1 + (num_timesteps - 1) * np.linspace(0.0, 1.0, n) ** 2
    raw = np.round(raw).astype(int)
    # Each step at least one above the one below it (t_k - k never decreases);
    # the top stays at T since n <= T and the grid is convex.
    steps = np.maximum.accumulate(raw - np.arange(n)) + np.arange(n)
    return steps[::-1].copy()


def ddim_sigma(alpha_bar: Tensor | float, alpha_bar_prev: Tensor | float, eta: float) -> Tensor | float:
    """σ_τ(η) = η √((1 - ᾱ_prev)/(1 - ᾱ) · (1 - ᾱ/ᾱ_prev)), eq. (9.4).

    η = 0 is DDIM (deterministic); η = 1 gives the posterior standard deviation
    of the process restricted to the grid (eq. (9.8)).
    """
    if not eta >= 0:
        raise ValueError(f"eta must be >= 0, got {eta!r}")
    variance = (1 - alpha_bar_prev) / (1 - alpha_bar) * (1 - alpha_bar / alpha_bar_prev)
    return eta * (variance.sqrt() if isinstance(variance, Tensor) else math.sqrt(variance))


def ddim_step(x_start: Tensor, eps: Tensor, alpha_bar_prev: Tensor | float,
              sigma: Tensor | float = 0.0, noise: Tensor | None = None) -> Tensor:
    """One step of eq. (9.3): x_prev = √ᾱ_prev x̂_0 + √(1 - ᾱ_prev - σ²) ε̂ + σ z.

    ``x_start`` is x̂_0 (eq. (4.8)) and ``eps`` the noise ε̂ it was computed with.
    With σ = 0 and ``alpha_bar_prev`` the next, larger time's ᾱ, the same line
    is the inversion step of eq. (9.9).
    """
    if isinstance(alpha_bar_prev, Tensor):
        direction = (1 - alpha_bar_prev - sigma**2).clamp(min=0).sqrt()
        x = alpha_bar_prev.sqrt() * x_start + direction * eps
    else:
        x = math.sqrt(alpha_bar_prev) * x_start + math.sqrt(max(1 - alpha_bar_prev - sigma**2, 0.0)) * eps
    if noise is not None:
        x = x + sigma * noise
    return x


def grid_alphas_cumprod(alphas_cumprod: Tensor, timesteps: np.ndarray) -> tuple[Tensor, Tensor]:
    """ᾱ_{τ_k} and ᾱ_{τ_{k-1}} for each step of a grid from T down, eq. (9.6).

    ``alphas_cumprod`` holds ᾱ_1 … ᾱ_T; ``timesteps`` is a grid of
    :func:`sampling_timesteps`.  The last step's ᾱ_prev is ᾱ_{τ_0} = ᾱ_0 = 1.
    """
    index = torch.as_tensor(np.asarray(timesteps), dtype=torch.long, device=alphas_cumprod.device) - 1
    alpha_bar = alphas_cumprod[index]
    return alpha_bar, torch.cat([alpha_bar[1:], alpha_bar.new_ones(1)])


def _top(diffusion: GaussianDiffusion, t_start: int | None) -> int:
    T = diffusion.num_timesteps
    return T if t_start is None else check_int(t_start, "t_start", 1, T)


def _indices(t: int, x: Tensor) -> Tensor:
    return torch.full((x.shape[0],), int(t) - 1, dtype=torch.long, device=x.device)


@torch.no_grad()
def ddim_sample(diffusion: GaussianDiffusion, model: Denoiser, shape: tuple[int, ...] | Tensor,
                num_sampling_steps: int, eta: float = 0.0, generator: torch.Generator | None = None,
                clip_denoised: bool = True, spacing: str = "uniform", device: torch.device | str = "cpu",
                keep_all: bool = False, t_start: int | None = None) -> Tensor:
    """DDIM sampling (Song et al. 2021, eq. (12)) on the grid of :func:`sampling_timesteps`.

    Each step predicts ε̂ = ε_θ(x_τ, τ), x̂_0 by eq. (4.8) (clipped to [-1, 1] if
    ``clip_denoised``, ε̂ then recomputed from it) and applies eq. (9.3) with
    σ_τ(η) of eq. (9.4).  Noise is drawn for every step but the last.  Returns
    x_0, or with ``keep_all`` every point visited, shape ``(n + 1, *shape)``, from
    x_T to x_0.  ``t_start`` (default T) starts from x_{t_start} instead: the grid
    then spaces 1 … t_start.
    """
    times = sampling_timesteps(_top(diffusion, t_start), num_sampling_steps, spacing)
    diffusion.check_model(model)
    if not eta >= 0:
        raise ValueError(f"eta must be >= 0, got {eta!r}")
    x = diffusion._start(shape, generator, device, diffusion.betas.dtype)
    xs = [x]
    alpha_bars, alpha_bars_prev = grid_alphas_cumprod(diffusion.alphas_cumprod, times)
    for k, t in enumerate(times):
        i = _indices(t, x)
        eps = model(x, i + 1)
        x_start = diffusion._predict_start(x, i, eps)
        if clip_denoised:
            x_start = x_start.clamp(-1.0, 1.0)
            eps = diffusion._predict_noise(x, i, x_start)
        sigma = ddim_sigma(alpha_bars[k], alpha_bars_prev[k], eta)
        noise = (torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
                 if eta > 0 and k + 1 < len(times) else None)
        alpha_bar_prev = alpha_bars_prev[k]
        x = ddim_step(x_start, eps, alpha_bar_prev, sigma, noise)
        xs.append(x)
    return torch.stack(xs) if keep_all else x


@torch.no_grad()
def ddim_encode(diffusion: GaussianDiffusion, model: Denoiser, x_start: Tensor, num_sampling_steps: int,
                spacing: str = "uniform", iterations: int = 0, keep_all: bool = False,
                t_start: int | None = None) -> Tensor:
    """Deterministic encoder x_0 → x_T: DDIM (η = 0) run backwards, eq. (9.9).

    On the grid τ_1 < … < τ_n = T, the step from x = x_{τ_{k-1}} (τ_0 = 0, ᾱ = 1)
    to τ_k takes ε̂ = ε_θ(y, τ_k), x̂_0 from x and ε̂ at τ_{k-1} (eq. (4.8); x itself
    at τ_0) and y = eq. (9.3) with σ = 0 towards ᾱ_{τ_k}.  The usual inversion
    (``iterations=0``) evaluates ε̂ at y = x; each extra iteration re-evaluates it
    at the new y, a fixed-point iteration towards the exact inverse of the DDIM
    step (eq. (9.10)).  Decode with :func:`ddim_sample` (``eta=0,
    clip_denoised=False``, same grid and ``t_start``).  No clipping.  ``t_start``
    (default T) stops the encoder at x_{t_start}.
    """
    diffusion.check_input(x_start, "x_start")
    diffusion.check_model(model)
    iterations = check_int(iterations, "iterations", 0)
    times = sampling_timesteps(_top(diffusion, t_start), num_sampling_steps, spacing)[::-1]
    x = x_start
    xs = [x]
    for k, t in enumerate(times):
        i = _indices(t, x)
        y = x
        for _ in range(iterations + 1):
            eps = model(y, i + 1)
            estimate = x if k == 0 else diffusion._predict_start(x, _indices(times[k - 1], x), eps)
            y = ddim_step(estimate, eps, diffusion.alphas_cumprod[t - 1])
        x = y
        xs.append(x)
    return torch.stack(xs) if keep_all else x


# ------------------------------------------------------------ strided DDPM
def respaced_betas(betas: np.ndarray, timesteps: np.ndarray) -> np.ndarray:
    """β'_k = 1 - ᾱ_{τ_k} / ᾱ_{τ_{k-1}} with ᾱ_{τ_0} = 1, eq. (9.7), in float64.

    ``timesteps`` is a grid from :func:`sampling_timesteps` (any order); the
    result is indexed by k = 1 … n, from the smallest τ up, so that its
    cumulative product is ᾱ at τ_1, …, τ_n.
    """
    betas = validate_betas(betas)
    grid = np.sort(np.asarray(timesteps))
    if (grid.ndim != 1 or grid.size == 0 or not np.issubdtype(grid.dtype, np.integer)
            or grid[0] < 1 or grid[-1] > betas.size or np.any(np.diff(grid) == 0)):
        raise ValueError(f"timesteps must be distinct integers in 1..{betas.size}, got {timesteps!r}")
    alpha_bar = cumulative_alphas(betas)[grid - 1]
    return 1.0 - alpha_bar / np.append(1.0, alpha_bar[:-1])


class RespacedModel(nn.Module):
    """The model seen from the respaced process: step k = 1 … n calls ε_θ(x, τ_k)."""

    def __init__(self, model: Denoiser, timesteps: np.ndarray) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("timesteps", torch.as_tensor(np.sort(np.asarray(timesteps)), dtype=torch.long))
        self.num_timesteps = int(self.timesteps.numel())

    def forward(self, x: Tensor, k: Tensor) -> Tensor:
        return self.model(x, self.timesteps.to(k.device)[k - 1])


def strided_ddpm(betas: np.ndarray, model: Denoiser, timesteps: np.ndarray, variance_type: str = "posterior",
                 dtype: torch.dtype = torch.float32) -> tuple[GaussianDiffusion, RespacedModel]:
    """DDPM on the grid: the process with betas β'_k of eq. (9.7) and the model at τ_k.

    Sample with ``diffusion.p_sample_loop(respaced_model, shape)``; its variance
    is β̃'_k (``"posterior"``) or β'_k (``"beta"``).
    """
    diffusion = GaussianDiffusion(respaced_betas(betas, timesteps), dtype=dtype, variance_type=variance_type)
    return diffusion, RespacedModel(model, timesteps)
