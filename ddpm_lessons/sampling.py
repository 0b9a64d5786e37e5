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

import numpy as np
import torch
from torch import Tensor, nn

from .diffusion import Denoiser, GaussianDiffusion
from .schedules import alphas_cumprod as cumulative_alphas
from .schedules import validate_betas
from .validation import check_int, time_indices

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


def _float64(value: Tensor | float) -> Tensor:
    """A float or a tensor of ᾱ or σ as a float64 tensor (coefficients are computed in float64)."""
    if isinstance(value, Tensor):
        return value.detach().to(torch.float64)
    return torch.tensor(float(value), dtype=torch.float64)


def _first_bad(bad: Tensor, *values: Tensor) -> str:
    """The first offending entry of ``values`` where ``bad`` holds, as text."""
    bad, *values = torch.broadcast_tensors(bad, *values)
    k = int(bad.flatten().nonzero()[0])
    return ", ".join(f"{float(v.flatten()[k]):.6g}" for v in values)


def check_alpha_bar_pair(alpha_bar: Tensor | float, alpha_bar_prev: Tensor | float) -> None:
    """Refuse ᾱ outside (0, 1) or ᾱ_prev outside [ᾱ, 1]: the pair (ᾱ_{τ_k}, ᾱ_{τ_{k-1}}) of a
    step of eq. (9.3) towards less noise.  Floats or tensors (checked entry by entry)."""
    a, a_prev = _float64(alpha_bar), _float64(alpha_bar_prev)
    bad = ~((a > 0) & (a < 1))
    if bool(bad.any()):
        raise ValueError(f"ᾱ must lie in (0, 1), got ᾱ = {_first_bad(bad, a)} (ᾱ_t < 1 for every "
                         "t >= 1; ᾱ = 1 is x_0 itself, with no noise to take out)")
    bad = ~((a_prev >= a) & (a_prev <= 1))
    if bool(bad.any()):
        raise ValueError(f"ᾱ_prev must lie in [ᾱ, 1]: a step goes to less noise, at most to ᾱ_0 = 1; "
                         f"got (ᾱ, ᾱ_prev) = ({_first_bad(bad, a, a_prev)})")


def ddim_sigma(alpha_bar: Tensor | float, alpha_bar_prev: Tensor | float, eta: float) -> Tensor | float:
    """σ_τ(η) = η √((1 - ᾱ_prev)/(1 - ᾱ) · (1 - ᾱ/ᾱ_prev)), eq. (9.4).

    η = 0 is DDIM (deterministic); η = 1 gives the posterior standard deviation
    of the process restricted to the grid (eq. (9.8)).  Needs 0 < ᾱ < 1 and
    ᾱ <= ᾱ_prev <= 1 (:func:`check_alpha_bar_pair`).  Computed in float64; a
    tensor result has the dtype of the tensor inputs.
    """
    if not eta >= 0:
        raise ValueError(f"eta must be >= 0, got {eta!r}")
    check_alpha_bar_pair(alpha_bar, alpha_bar_prev)
    a, a_prev = _float64(alpha_bar), _float64(alpha_bar_prev)
    sigma = eta * ((1 - a_prev) / (1 - a) * (1 - a / a_prev)).sqrt()
    tensors = [v for v in (alpha_bar, alpha_bar_prev) if isinstance(v, Tensor)]
    if not tensors:
        return float(sigma)
    dtype = tensors[0].dtype if len(tensors) == 1 else torch.promote_types(*(v.dtype for v in tensors))
    return sigma.to(dtype=dtype, device=tensors[0].device)


def ddim_step(x_start: Tensor, eps: Tensor, alpha_bar_prev: Tensor | float,
              sigma: Tensor | float = 0.0, noise: Tensor | None = None) -> Tensor:
    """One step of eq. (9.3): x_prev = √ᾱ_prev x̂_0 + √(1 - ᾱ_prev - σ²) ε̂ + σ z.

    ``x_start`` is x̂_0 (eq. (4.8)) and ``eps`` the noise ε̂ it was computed with,
    of the same shape (as ``noise``).  With σ = 0 and ``alpha_bar_prev`` the next,
    larger time's ᾱ, the same line is the inversion step of eq. (9.9).  Needs
    0 < ᾱ_prev <= 1 and 0 <= σ² <= 1 - ᾱ_prev (σ_τ(η) of eq. (9.4) with η <= 1);
    the coefficients are computed in float64, then x's dtype.
    """
    for name, value in (("eps", eps), ("noise", noise)):
        if value is not None and (not isinstance(value, Tensor) or value.shape != x_start.shape):
            shape = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
            raise ValueError(f"x_start and {name} must have the same shape, got {tuple(x_start.shape)} and {shape}")
    a_prev, s = _float64(alpha_bar_prev), _float64(sigma)
    bad = ~((a_prev > 0) & (a_prev <= 1))
    if bool(bad.any()):
        raise ValueError(f"alpha_bar_prev must lie in (0, 1], got {_first_bad(bad, a_prev)}")
    if bool((~(s >= 0)).any()):
        raise ValueError(f"sigma must be >= 0, got {_first_bad(~(s >= 0), s)}")
    direction_sq = 1 - a_prev - s**2
    # σ given in float32 may exceed √(1 - ᾱ_prev) by its rounding: that much is clamped to 0.
    given = [v.dtype for v in (alpha_bar_prev, sigma) if isinstance(v, Tensor)]
    slack = 8 * max([torch.finfo(d).eps for d in given if d.is_floating_point] or [2.0**-52])
    bad = direction_sq < -slack
    if bool(bad.any()):
        raise ValueError(f"sigma² must not exceed 1 - ᾱ_prev (the direction term is √(1 - ᾱ_prev - σ²)), "
                         f"got (ᾱ_prev, σ) = ({_first_bad(bad, a_prev, s)}); with σ_τ(η) of eq. (9.4) "
                         "this needs η <= 1")

    def coefficient(value: Tensor) -> Tensor:
        return value.to(dtype=x_start.dtype, device=x_start.device)

    x = coefficient(a_prev.sqrt()) * x_start + coefficient(direction_sq.clamp(min=0).sqrt()) * eps
    if noise is not None:
        x = x + coefficient(s) * noise
    return x


def grid_alphas_cumprod(alphas_cumprod: Tensor, timesteps: np.ndarray) -> tuple[Tensor, Tensor]:
    """ᾱ_{τ_k} and ᾱ_{τ_{k-1}} for each step of a grid from T down, eq. (9.6).

    ``alphas_cumprod`` holds ᾱ_1 … ᾱ_T; ``timesteps`` is a grid of
    :func:`sampling_timesteps`: distinct integers in 1 … T, from the largest down.
    The last step's ᾱ_prev is ᾱ_{τ_0} = ᾱ_0 = 1.
    """
    T = alphas_cumprod.shape[0]
    grid = np.asarray(timesteps)
    if (grid.ndim != 1 or grid.size == 0 or not np.issubdtype(grid.dtype, np.integer)
            or grid.min() < 1 or grid.max() > T or np.any(np.diff(grid) >= 0)):
        raise ValueError(f"timesteps must be a grid of distinct integers in 1..{T} from the largest down "
                         f"(as sampling_timesteps returns; t = 0 is x_0 and has no ᾱ_t to look up), "
                         f"got {timesteps!r}")
    index = torch.as_tensor(grid, dtype=torch.long, device=alphas_cumprod.device) - 1
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
    # ᾱ and σ in float64: √(1 - ᾱ_prev - σ²) cancels at the first step, where ᾱ_T is tiny.
    alpha_bars, alpha_bars_prev = grid_alphas_cumprod(diffusion.alphas_cumprod.double(), times)
    for k, t in enumerate(times):
        i = _indices(t, x)
        eps = diffusion.check_model_output(model(x, i + 1), x, i)
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
            eps = diffusion.check_model_output(model(y, i + 1), y, i)
            estimate = x if k == 0 else diffusion._predict_start(x, _indices(times[k - 1], x), eps)
            y = ddim_step(estimate, eps, diffusion.alphas_cumprod[t - 1].double())
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
        grid = np.sort(np.asarray(timesteps))
        if (grid.ndim != 1 or grid.size == 0 or not np.issubdtype(grid.dtype, np.integer)
                or grid[0] < 1 or np.any(np.diff(grid) == 0)):
            raise ValueError(f"timesteps must be distinct integers >= 1, got {timesteps!r}")
        self.model = model
        self.register_buffer("timesteps", torch.as_tensor(grid, dtype=torch.long))
        self.num_timesteps = int(self.timesteps.numel())

    def forward(self, x: Tensor, k: Tensor | int) -> Tensor:
        """ε_θ(x, τ_k) for the respaced steps k = 1 … n (a 0-based k is refused, not wrapped)."""
        index = time_indices(k, self.num_timesteps, x.shape[0], self.timesteps.device)
        return self.model(x, self.timesteps[index].to(x.device))


def strided_ddpm(betas: np.ndarray, model: Denoiser, timesteps: np.ndarray, variance_type: str = "posterior",
                 dtype: torch.dtype = torch.float32) -> tuple[GaussianDiffusion, RespacedModel]:
    """DDPM on the grid: the process with betas β'_k of eq. (9.7) and the model at τ_k.

    Sample with ``diffusion.p_sample_loop(respaced_model, shape)``; its variance
    is β̃'_k (``"posterior"``) or β'_k (``"beta"``).  The code of Nichol & Dhariwal
    (2021) calls this *respacing* (``respace.py`` in their improved-diffusion
    repository), whence the names here.
    """
    diffusion = GaussianDiffusion(respaced_betas(betas, timesteps), dtype=dtype, variance_type=variance_type)
    return diffusion, RespacedModel(model, timesteps)
