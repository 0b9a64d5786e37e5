"""The Gaussian diffusion process: forward noising, posterior and reverse sampling.

Chapters 2–4 and 6 of the book derive every formula here; each docstring names
its equation.  The model (the noise predictor ε_θ) is a separate object that is
passed in: it never knows about β.

**Time steps.**  The book writes ``t = 1 … T``; so does every method here.  A
``t`` is a Python ``int`` or an integer tensor of shape ``(batch,)`` with values
in ``1 … T``; anything else raises ``ValueError``.  The precomputed buffers are
indexed by ``t - 1``: ``diffusion.betas[t - 1]`` is β_t.  ``x_0`` is the data,
and ``ᾱ_0 = 1`` (``alphas_cumprod_prev[0]``).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .schedules import alphas_cumprod as cumulative_alphas
from .schedules import validate_betas
from .validation import time_indices

TimeStep = int | Tensor
Denoiser = Callable[[Tensor, Tensor], Tensor]


def extract(a: Tensor, index: Tensor, x_shape: torch.Size) -> Tensor:
    """Gather ``a[index]`` and reshape it to ``(batch, 1, …, 1)``
    so that it broadcasts against ``x``."""
    ones = (1,) * (len(x_shape) - 1)
    return a.gather(0, index).reshape(index.shape[0], *ones)


class GaussianDiffusion(nn.Module):
    """All schedule-derived coefficients, computed once in float64 (chapter 3).

    Args:
        betas: the schedule β_1 … β_T (see :mod:`ddpm_lessons.schedules`).
        dtype: working dtype of the stored coefficients (float32 by default).
        variance_type: ``"posterior"`` samples with β̃_t (eq. (4.6)), ``"beta"``
            with β_t; Ho et al. (2020, §3.2) found both to work.
    """

    def __init__(
        self,
        betas: np.ndarray,
        dtype: torch.dtype = torch.float32,
        variance_type: str = "posterior",
    ) -> None:
        super().__init__()
        if variance_type not in ("posterior", "beta"):
            raise ValueError(f"variance_type must be 'posterior' or 'beta', got {variance_type!r}")
        betas = validate_betas(betas)
        self.num_timesteps = int(betas.size)
        self.variance_type = variance_type

        alphas = 1.0 - betas                                            # eq. (2.3)
        alphas_cumprod = cumulative_alphas(betas)                       # eq. (3.3)
        alphas_cumprod_prev = np.append(1.0, alphas_cumprod[:-1])       # ᾱ_{t-1}, ᾱ_0 = 1
        posterior_variance = betas * (1.0 - alphas_cumprod_prev) / (1.0 - alphas_cumprod)  # eq. (4.6)

        def register(name: str, value: np.ndarray) -> None:
            self.register_buffer(name, torch.as_tensor(value, dtype=dtype))

        register("betas", betas)
        register("alphas", alphas)
        register("alphas_cumprod", alphas_cumprod)
        register("alphas_cumprod_prev", alphas_cumprod_prev)
        register("sqrt_alphas", np.sqrt(alphas))
        register("sqrt_betas", np.sqrt(betas))
        register("sqrt_alphas_cumprod", np.sqrt(alphas_cumprod))
        register("sqrt_one_minus_alphas_cumprod", np.sqrt(1.0 - alphas_cumprod))
        register("sqrt_recip_alphas_cumprod", np.sqrt(1.0 / alphas_cumprod))
        register("sqrt_recipm1_alphas_cumprod", np.sqrt(1.0 / alphas_cumprod - 1.0))
        register("posterior_variance", posterior_variance)
        # β̃_1 = 0, so the log is clipped to β̃_2 at t = 1 (as in Ho et al.'s code).
        register("posterior_log_variance_clipped",
                 np.log(np.append(posterior_variance[1] if betas.size > 1 else betas[0],
                                  posterior_variance[1:])))
        register("posterior_mean_coef1", betas * np.sqrt(alphas_cumprod_prev) / (1.0 - alphas_cumprod))
        register("posterior_mean_coef2", (1.0 - alphas_cumprod_prev) * np.sqrt(alphas) / (1.0 - alphas_cumprod))
        register("eps_coef", betas / np.sqrt(1.0 - alphas_cumprod))    # eq. (4.9)
        register("sqrt_recip_alphas", 1.0 / np.sqrt(alphas))

    def extra_repr(self) -> str:
        return f"T={self.num_timesteps}, variance_type={self.variance_type!r}"

    # ------------------------------------------------------------------ checks
    def time_index(self, t: TimeStep, x: Tensor) -> Tensor:
        """Validate ``t`` (book convention 1 … T) and return the array index ``t - 1``
        as a long tensor of shape ``(batch,)`` on ``x``'s device."""
        return time_indices(t, self.num_timesteps, x.shape[0], x.device)

    def check_model(self, model: Denoiser) -> None:
        """Refuse a model built for another number of time steps than this process."""
        model_steps = getattr(model, "num_timesteps", None)
        if model_steps is not None and model_steps != self.num_timesteps:
            raise ValueError(f"the model was built for T = {model_steps} time steps but the "
                             f"diffusion has T = {self.num_timesteps}: build both with the same T")

    @staticmethod
    def check_input(x: Tensor, name: str = "x") -> None:
        """Reject non-tensors, tensors without a batch axis and NaN/inf values."""
        if not isinstance(x, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        if x.ndim < 2 or x.shape[0] < 1:
            raise ValueError(f"{name} must have shape (batch, features…) with batch >= 1, "
                             f"got {tuple(x.shape)}")
        if not torch.isfinite(x).all():
            raise ValueError(f"{name} contains NaN or infinite values")

    @staticmethod
    def check_model_output(eps: Tensor, x_t: Tensor, i: Tensor) -> Tensor:
        """Refuse a predicted noise ``eps`` of another shape than ``x_t`` (no silent
        broadcasting) or holding NaN/inf values; ``i`` holds the steps' indices t - 1."""
        if not isinstance(eps, Tensor) or eps.shape != x_t.shape:
            shape = tuple(eps.shape) if isinstance(eps, Tensor) else type(eps).__name__
            raise ValueError(f"the model must return noise of x's shape {tuple(x_t.shape)}, got {shape}")
        bad = ~torch.isfinite(eps).reshape(eps.shape[0], -1).all(dim=1)
        if bool(bad.any()):
            steps = sorted({int(t) + 1 for t in i[bad]})
            raise ValueError(f"the model returned NaN or infinite noise for {int(bad.sum())} of "
                             f"{eps.shape[0]} rows at t = {', '.join(map(str, steps[:5]))}"
                             f"{' …' if len(steps) > 5 else ''}: check its weights (a diverged "
                             "training run leaves NaN in them)")
        return eps

    def _same_shape(self, a: Tensor, b: Tensor, what: str) -> None:
        if a.shape != b.shape:
            raise ValueError(f"{what}: shapes must match, got {tuple(a.shape)} and {tuple(b.shape)}")

    def _noise_like(self, x: Tensor, noise: Tensor | None, generator: torch.Generator | None) -> Tensor:
        if noise is None:
            return torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        self.check_input(noise, "noise")
        self._same_shape(x, noise, "x and noise")
        return noise

    # --------------------------------------------------------- forward process
    def q_step(self, x_prev: Tensor, t: TimeStep, noise: Tensor | None = None,
               generator: torch.Generator | None = None) -> Tensor:
        """One forward step, eq. (2.3):
        x_t ~ q(x_t | x_{t-1}) = N(√(1-β_t) x_{t-1}, β_t I)."""
        self.check_input(x_prev, "x_prev")
        i = self.time_index(t, x_prev)
        noise = self._noise_like(x_prev, noise, generator)
        return (extract(self.sqrt_alphas, i, x_prev.shape) * x_prev
                + extract(self.sqrt_betas, i, x_prev.shape) * noise)

    def q_mean_variance(self, x_start: Tensor, t: TimeStep) -> tuple[Tensor, Tensor]:
        """Mean √ᾱ_t x_0 and variance 1 - ᾱ_t of q(x_t | x_0), eq. (3.4)."""
        self.check_input(x_start, "x_start")
        i = self.time_index(t, x_start)
        mean = extract(self.sqrt_alphas_cumprod, i, x_start.shape) * x_start
        var = extract(1.0 - self.alphas_cumprod, i, x_start.shape).expand_as(x_start)
        return mean, var

    def q_sample(self, x_start: Tensor, t: TimeStep,
                 noise: Tensor | None = None,
                 generator: torch.Generator | None = None) -> Tensor:
        """The shortcut x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε, eq. (3.5)."""
        self.check_input(x_start, "x_start")
        i = self.time_index(t, x_start)
        noise = self._noise_like(x_start, noise, generator)
        return self._q_sample(x_start, i, noise)

    def _q_sample(self, x_start: Tensor, i: Tensor, noise: Tensor) -> Tensor:
        return (extract(self.sqrt_alphas_cumprod, i, x_start.shape) * x_start
                + extract(self.sqrt_one_minus_alphas_cumprod, i, x_start.shape)
                * noise)

    # --------------------------------------------------------------- posterior
    def predict_start_from_noise(self, x_t: Tensor, t: TimeStep, noise: Tensor) -> Tensor:
        """x̂_0 = (x_t - √(1-ᾱ_t) ε) / √ᾱ_t = √(1/ᾱ_t) x_t - √(1/ᾱ_t - 1) ε, eq. (4.8)."""
        self.check_input(x_t, "x_t")
        self.check_input(noise, "noise")
        self._same_shape(x_t, noise, "x_t and noise")
        i = self.time_index(t, x_t)
        return self._predict_start(x_t, i, noise)

    def _predict_start(self, x_t: Tensor, i: Tensor, noise: Tensor) -> Tensor:
        return (extract(self.sqrt_recip_alphas_cumprod, i, x_t.shape) * x_t
                - extract(self.sqrt_recipm1_alphas_cumprod, i, x_t.shape)
                * noise)

    def _predict_noise(self, x_t: Tensor, i: Tensor, x_start: Tensor) -> Tensor:
        """eq. (4.8) solved for the noise: ε = (x_t - √ᾱ_t x_0) / √(1-ᾱ_t)."""
        return ((x_t - extract(self.sqrt_alphas_cumprod, i, x_t.shape) * x_start)
                / extract(self.sqrt_one_minus_alphas_cumprod, i, x_t.shape))

    def q_posterior_mean_variance(self, x_start: Tensor, x_t: Tensor, t: TimeStep
                                  ) -> tuple[Tensor, Tensor, Tensor]:
        """Mean μ̃_t, variance β̃_t and clipped log β̃_t of q(x_{t-1} | x_t, x_0), eq. (4.5)–(4.6):

        μ̃_t = β_t √ᾱ_{t-1} / (1-ᾱ_t) · x_0 + (1-ᾱ_{t-1}) √α_t / (1-ᾱ_t) · x_t,
        β̃_t = β_t (1-ᾱ_{t-1}) / (1-ᾱ_t).
        """
        self.check_input(x_start, "x_start")
        self.check_input(x_t, "x_t")
        self._same_shape(x_start, x_t, "x_start and x_t")
        return self._q_posterior(x_start, x_t, self.time_index(t, x_t))

    def _q_posterior(self, x_start: Tensor, x_t: Tensor, i: Tensor
                     ) -> tuple[Tensor, Tensor, Tensor]:
        shape = x_t.shape
        mean = (extract(self.posterior_mean_coef1, i, shape) * x_start
                + extract(self.posterior_mean_coef2, i, shape) * x_t)
        var = extract(self.posterior_variance, i, shape).expand_as(x_t)
        log_var = extract(self.posterior_log_variance_clipped, i, shape)
        log_var = log_var.expand_as(x_t)
        return mean, var, log_var

    def posterior_mean_from_noise(self, x_t: Tensor, t: TimeStep,
                                  noise: Tensor) -> Tensor:
        """The ε-form of the posterior mean, eq. (4.9):
        μ̃_t = (x_t - β_t / √(1-ᾱ_t) · ε) / √α_t."""
        self.check_input(x_t, "x_t")
        self.check_input(noise, "noise")
        self._same_shape(x_t, noise, "x_t and noise")
        i = self.time_index(t, x_t)
        return extract(self.sqrt_recip_alphas, i, x_t.shape) * (
            x_t - extract(self.eps_coef, i, x_t.shape) * noise)

    # --------------------------------------------------------- reverse process
    def p_mean_variance(self, model: Denoiser, x_t: Tensor, t: TimeStep, clip_denoised: bool = True
                        ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Mean, variance, log-variance of p_θ(x_{t-1} | x_t) and the estimate x̂_0, eq. (6.6).

        The model predicts ε; x̂_0 follows from eq. (4.8), is clipped to [-1, 1]
        if ``clip_denoised``, and the mean is μ̃_t(x_t, x̂_0) of eq. (4.5).
        Without clipping this equals the ε-form eq. (4.9).
        """
        self.check_input(x_t, "x_t")
        i = self.time_index(t, x_t)
        return self._p_mean_variance(model, x_t, i, clip_denoised)

    def _p_mean_variance(self, model: Denoiser, x_t: Tensor, i: Tensor, clip_denoised: bool):
        self.check_model(model)
        eps = self.check_model_output(model(x_t, i + 1), x_t, i)
        x_start = self._predict_start(x_t, i, eps)
        if clip_denoised:
            x_start = x_start.clamp(-1.0, 1.0)
        mean, var, log_var = self._q_posterior(x_start, x_t, i)
        if self.variance_type == "beta":
            var = extract(self.betas, i, x_t.shape).expand_as(x_t)
            log_var = var.log()
        return mean, var, log_var, x_start

    @torch.no_grad()
    def p_sample(self, model: Denoiser, x_t: Tensor, t: int, generator: torch.Generator | None = None,
                 clip_denoised: bool = True, add_noise: bool = True) -> tuple[Tensor, Tensor]:
        """One reverse step x_{t-1} = μ_θ(x_t, t) + σ_t z, eq. (6.7); returns ``(x_{t-1}, x̂_0)``.

        No noise is added where ``t = 1`` (the last step), nor anywhere if
        ``add_noise=False``.  ``t`` may also be a tensor of shape ``(batch,)``.
        """
        self.check_input(x_t, "x_t")
        i = self.time_index(t, x_t)
        return self._p_sample(model, x_t, i, generator, clip_denoised, add_noise)

    def _p_sample(self, model, x_t, i, generator, clip_denoised, add_noise):
        mean, _, log_var, x_start = self._p_mean_variance(model, x_t, i, clip_denoised)
        if not add_noise or bool((i == 0).all()):
            return mean, x_start
        z = torch.randn(x_t.shape, generator=generator, dtype=x_t.dtype, device=x_t.device)
        not_last = (i > 0).to(x_t.dtype).reshape(i.shape[0], *((1,) * (x_t.ndim - 1)))
        return mean + not_last * (0.5 * log_var).exp() * z, x_start

    def _start(self, shape_or_x: tuple[int, ...] | Tensor, generator, device, dtype) -> Tensor:
        if isinstance(shape_or_x, Tensor):
            self.check_input(shape_or_x, "x_T")
            return shape_or_x
        shape = tuple(shape_or_x)
        if len(shape) < 2 or any(int(s) < 1 for s in shape):
            raise ValueError(f"shape must be (batch, features…) with positive sizes, got {shape}")
        return torch.randn(shape, generator=generator, device=device, dtype=dtype)

    @torch.no_grad()
    def p_sample_loop(self, model: Denoiser, shape: tuple[int, ...] | Tensor,
                      generator: torch.Generator | None = None, clip_denoised: bool = True,
                      add_noise: bool = True, device: torch.device | str = "cpu") -> Tensor:
        """Algorithm 2 of Ho et al.: x_T ~ N(0, I), then ``p_sample`` for t = T … 1.

        ``shape`` is the shape of the samples, or a tensor x_T to start from.
        Returns x_0.
        """
        x = self._start(shape, generator, device, self.betas.dtype)
        for t in range(self.num_timesteps, 0, -1):
            i = torch.full((x.shape[0],), t - 1, dtype=torch.long, device=x.device)
            x, _ = self._p_sample(model, x, i, generator, clip_denoised, add_noise)
        return x

    @torch.no_grad()
    def p_sample_loop_all(self, model: Denoiser, shape: tuple[int, ...] | Tensor,
                          generator: torch.Generator | None = None, clip_denoised: bool = True,
                          add_noise: bool = True, device: torch.device | str = "cpu"
                          ) -> tuple[Tensor, Tensor]:
        """Like :meth:`p_sample_loop`, keeping every step (for plots and animations).

        Returns ``(xs, x_starts)``, both of shape ``(T + 1, *shape)`` with time as
        the first axis, indexed by the book's t: ``xs[t]`` is x_t (``xs[T]`` the
        starting noise, ``xs[0]`` the final sample) and ``x_starts[t]`` is the
        estimate x̂_0 made from x_t (``x_starts[0]`` is the final sample itself).
        """
        x = self._start(shape, generator, device, self.betas.dtype)
        T = self.num_timesteps
        xs = x.new_empty((T + 1, *x.shape))
        x_starts = x.new_empty((T + 1, *x.shape))
        xs[T] = x
        for t in range(T, 0, -1):
            i = torch.full((x.shape[0],), t - 1, dtype=torch.long, device=x.device)
            x, x_starts[t] = self._p_sample(model, x, i, generator, clip_denoised, add_noise)
            xs[t - 1] = x
        x_starts[0] = x
        return xs, x_starts

    @torch.no_grad()
    def ddim_sample_loop(self, model: Denoiser, shape: tuple[int, ...] | Tensor,
                         num_sampling_steps: int, eta: float = 0.0,
                         generator: torch.Generator | None = None,
                         clip_denoised: bool = True, device: torch.device | str = "cpu",
                         spacing: str = "uniform") -> Tensor:
        """DDIM sampling (Song et al. 2021, eq. (12)) on ``num_sampling_steps`` time steps
        (at most T) of the same trained model, evenly spaced by default; ``eta = 0`` is
        deterministic and ``eta = 1`` recovers DDPM-like noise.  Chapter 9 derives it:
        see :func:`ddpm_lessons.sampling.ddim_sample`."""
        from .sampling import ddim_sample  # noqa: PLC0415 - sampling imports this module
        return ddim_sample(self, model, shape, num_sampling_steps, eta, generator, clip_denoised,
                           spacing, device)

    # -------------------------------------------------------------------- loss
    def p_losses(self, model: Denoiser, x_start: Tensor, t: TimeStep | None = None,
                 noise: Tensor | None = None, loss_fn: Callable[[Tensor, Tensor], Tensor] = F.mse_loss,
                 generator: torch.Generator | None = None) -> Tensor:
        """The simplified loss of Ho et al., eq. (6.5): ``loss_fn(ε_θ(x_t, t), ε)`` with
        ``t ~ U{1, …, T}`` and ``ε ~ N(0, I)`` unless given; MSE by default, e.g.
        ``torch.nn.functional.l1_loss`` for L1."""
        self.check_input(x_start, "x_start")
        if t is None:
            i = torch.randint(0, self.num_timesteps, (x_start.shape[0],), generator=generator,
                              device=x_start.device)
        else:
            i = self.time_index(t, x_start)
        noise = self._noise_like(x_start, noise, generator)
        return self._p_losses(model, x_start, i, noise, loss_fn)

    def _p_losses(self, model, x_start, i, noise, loss_fn=F.mse_loss) -> Tensor:
        """Core of :meth:`p_losses` for the training loop (``i = t - 1``, not checked)."""
        self.check_model(model)
        x_t = self._q_sample(x_start, i, noise)
        return loss_fn(model(x_t, i + 1), noise)
