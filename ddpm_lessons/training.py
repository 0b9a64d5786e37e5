"""Training the noise predictor with the simplified loss (chapter 6, Algorithm 1).

``train`` runs Algorithm 1 of Ho et al. (2020): draw x_0 from the data,
t ~ U{1, …, T}, ε ~ N(0, I), and take a gradient step on ‖ε - ε_θ(x_t, t)‖²
(eq. (6.5)).  Two options change which terms of the loss count most: drawing t
from another distribution, p(t) ∝ t^(-power) (:func:`timestep_probabilities`,
eq. (6.8)), and weighting each term (e.g. :func:`min_snr_weights`, Hang et al.
2023).  ``train`` is seeded and device-agnostic (CPU by default); losses stay on
the device and are read back once per epoch (and every ``refresh_every`` steps
for the progress bar).
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from .diffusion import GaussianDiffusion

LR_SCHEDULES = (None, "cosine")


@dataclass
class History:
    """What happened during training.

    ``batch_loss`` has one entry per optimiser step; ``train_loss`` and
    ``val_loss`` one per epoch (``val_loss`` is empty without validation data).
    ``seconds`` is the wall-clock time of the loop, ``cpu_seconds`` the processor
    time this process spent in it (less sensitive to other programs sharing the cores).
    """

    batch_loss: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.seconds if self.seconds > 0 else float("nan")


def as_tensor_data(data: np.ndarray | Tensor, device: torch.device | str = "cpu") -> Tensor:
    """Check a data set of shape ``(n, d)`` with finite values and return it as float32."""
    x = torch.as_tensor(np.asarray(data) if not isinstance(data, Tensor) else data)
    if x.ndim != 2 or x.shape[0] < 1:
        raise ValueError(f"data must have shape (n, features) with n >= 1, got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError("data contain NaN or infinite values")
    return x.to(device=device, dtype=torch.float32)


def timestep_probabilities(num_timesteps: int, power: float = 0.0) -> np.ndarray:
    """The probabilities p(t) ∝ t^(-power) of drawing t = 1 … T in training, eq. (6.8).

    ``power = 0`` is the uniform law of Algorithm 1.  A positive power draws the
    low-noise steps more often: with T = 100 and ``power = 1.5``, t = 1 is drawn
    1000 times as often as t = 100.  Element ``t - 1`` is p(t); the array sums to 1.
    """
    if isinstance(num_timesteps, bool) or not isinstance(num_timesteps, (int, np.integer)) \
            or num_timesteps < 1:
        raise ValueError(f"num_timesteps must be an integer >= 1, got {num_timesteps!r}")
    if isinstance(power, bool) or not isinstance(power, (int, float, np.floating)) \
            or not math.isfinite(power):
        raise ValueError(f"power must be a finite number, got {power!r}")
    weights = np.arange(1, int(num_timesteps) + 1, dtype=np.float64) ** (-float(power))
    return weights / weights.sum()


def min_snr_weights(diffusion: GaussianDiffusion, gamma: float) -> np.ndarray:
    """Min-SNR-γ loss weights for the noise loss, min(SNR_t, γ) / SNR_t with
    SNR_t = ᾱ_t / (1 - ᾱ_t) (Hang et al. 2023); element ``t - 1`` weights step t."""
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not gamma > 0:
        raise ValueError(f"gamma must be a number > 0, got {gamma!r}")
    abar = diffusion.alphas_cumprod.double().cpu().numpy()
    snr = abar / (1.0 - abar)
    return np.minimum(snr, gamma) / snr


def per_step_values(values: np.ndarray | Tensor | None, name: str, T: int, device) -> Tensor | None:
    """Check a per-time-step array (length T, finite, >= 0, not all 0); float32 on ``device``."""
    if values is None:
        return None
    v = torch.as_tensor(np.asarray(values, dtype=np.float64) if not isinstance(values, Tensor)
                        else values.double())
    if v.shape != (T,):
        raise ValueError(f"{name} must have one entry per time step, shape ({T},), got {tuple(v.shape)}")
    if not torch.isfinite(v).all() or (v < 0).any() or not v.sum() > 0:
        raise ValueError(f"{name} must be finite, >= 0 and not all 0")
    return v.to(device=device, dtype=torch.float32)


def _model_num_timesteps(model: nn.Module) -> int | None:
    config = getattr(model, "config", None)
    if not isinstance(config, dict):
        return None
    return config.get("num_timesteps")


def draw_t_and_noise(n: int, shape: tuple[int, ...], num_timesteps: int, probabilities: Tensor | None,
                     generator: torch.Generator, device: torch.device | str = "cpu",
                     dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    """Step 3 of Algorithm 1 for ``n`` examples: t ~ U{1, …, T} (or ``probabilities``,
    eq. (6.8)) and ε ~ N(0, I) of shape ``(n, *shape)``."""
    if probabilities is None:
        t = torch.randint(1, num_timesteps + 1, (n,), generator=generator, device=device)
    else:
        t = torch.multinomial(probabilities, n, replacement=True, generator=generator) + 1
    return t, torch.randn((n, *shape), generator=generator, device=device, dtype=dtype)


def _epoch(data: Tensor | Iterable, batch_size: int, num_timesteps: int, probabilities: Tensor | None,
           generator: torch.Generator, shuffle_generator: torch.Generator, device
           ) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
    """One epoch of ``(x_0, t, ε)`` batches.  For a tensor, every draw of the epoch is made
    at once (the order of the data, then a t and an ε per example) and sliced into batches:
    a few large calls to the random generators instead of three small ones per step.
    A ``DataLoader``'s batches get their t and ε one batch at a time."""
    if isinstance(data, Tensor):
        shuffled = data[torch.randperm(data.shape[0], generator=shuffle_generator).to(data.device)]
        t, noise = draw_t_and_noise(data.shape[0], tuple(data.shape[1:]), num_timesteps, probabilities,
                                    generator, device)
        yield from zip(shuffled.split(batch_size), t.split(batch_size), noise.split(batch_size))
        return
    for batch in data:
        x_start = (batch[0] if isinstance(batch, (list, tuple)) else batch).to(device)
        t, noise = draw_t_and_noise(x_start.shape[0], tuple(x_start.shape[1:]), num_timesteps,
                                    probabilities, generator, device, x_start.dtype)
        yield x_start, t, noise


def _num_batches(data: Tensor | Iterable, batch_size: int) -> int:
    if isinstance(data, Tensor):
        return math.ceil(data.shape[0] / batch_size)
    return len(data)  # type: ignore[arg-type]


def default_optimizer(model: nn.Module, lr: float) -> torch.optim.Optimizer:
    """``Adam(model.parameters(), lr)``, with PyTorch's fused kernel when every weight is a
    floating-point tensor on the CPU or a CUDA device.

    The fused kernel updates all tensors in one call instead of a Python loop over
    them; for the course's small MLPs that makes a whole training step about 15–30 %
    faster on a CPU (measured in ``benchmarks/RESULTS.md``).  It is the same
    algorithm; the last bits of the weights may differ from the loop version.
    """
    params = list(model.parameters())
    fused = bool(params) and all(p.is_floating_point() and p.device.type in ("cpu", "cuda")
                                 for p in params)
    return torch.optim.Adam(params, lr=lr, fused=fused or None)


@torch.no_grad()
def validation_loss(model: nn.Module, diffusion: GaussianDiffusion, data: Tensor, seed: int = 0,
                    loss_fn: Callable[[Tensor, Tensor], Tensor] = F.mse_loss) -> float:
    """The loss eq. (6.5) on ``data`` with t and ε drawn from a fixed seed, so that
    successive calls on the same model give the same number."""
    g = torch.Generator(device=data.device).manual_seed(seed)
    i = torch.randint(0, diffusion.num_timesteps, (data.shape[0],), generator=g, device=data.device)
    noise = torch.randn(data.shape, generator=g, device=data.device, dtype=data.dtype)
    was_training = model.training
    model.eval()
    loss = diffusion.p_losses(model, data, i + 1, noise=noise, loss_fn=loss_fn).item()
    model.train(was_training)
    return loss


def train(
    model: nn.Module,
    diffusion: GaussianDiffusion,
    train_data: np.ndarray | Tensor | torch.utils.data.DataLoader,
    val_data: np.ndarray | Tensor | None = None,
    *,
    epochs: int = 10,
    batch_size: int = 256,
    lr: float = 1e-3,
    optimizer: torch.optim.Optimizer | None = None,
    lr_schedule: str | None = None,
    warmup_steps: int = 0,
    ema_decay: float | None = None,
    t_probabilities: np.ndarray | Tensor | None = None,
    loss_weights: np.ndarray | Tensor | None = None,
    loss_fn: Callable[[Tensor, Tensor], Tensor] = F.mse_loss,
    seed: int = 0,
    progress: bool = True,
    refresh_every: int = 25,
    checkpoint_path: str | Path | None = None,
    device: torch.device | str = "cpu",
) -> History:
    """Train ``model`` to predict the noise, Algorithm 1 (eq. (6.5)).

    Args:
        train_data: an ``(n, d)`` array or tensor (shuffled and sliced into
            batches of ``batch_size``, the fast path), or a ``DataLoader``
            yielding batches (``batch_size`` is then ignored).
        val_data: optional ``(m, d)`` data for the per-epoch validation loss.
        optimizer: defaults to ``Adam(model.parameters(), lr)`` (its fused
            kernel where available, see :func:`default_optimizer`).
        lr_schedule: ``None`` (constant) or ``"cosine"`` (decay to 0 over all steps).
        warmup_steps: raise the learning rate linearly from ``lr / warmup_steps``
            to ``lr`` over the first steps (0: no warm-up).
        t_probabilities: the law of t, one probability per step 1 … T (e.g.
            :func:`timestep_probabilities`); ``None`` is U{1, …, T} (Algorithm 1).
        loss_weights: a weight per step 1 … T multiplying each example's loss
            (e.g. :func:`min_snr_weights`); ``loss_fn`` must then accept
            ``reduction="none"``, as ``F.mse_loss`` and ``F.l1_loss`` do.
        ema_decay: if given (e.g. 0.995), keep an exponential moving average of
            the weights and copy it into ``model`` at the end.
        seed: seeds the time steps, the noise and the shuffling.
        progress: show a tqdm bar with the batch loss (works in Jupyter and terminals).
        checkpoint_path: if given, save the model there after every epoch
            (see :func:`save_checkpoint`).

    Returns:
        A :class:`History`.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be an integer >= 1, got {epochs!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"lr_schedule must be None or 'cosine', got {lr_schedule!r}")
    if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 0:
        raise ValueError(f"warmup_steps must be an integer >= 0, got {warmup_steps!r}")
    T = diffusion.num_timesteps
    model_T = _model_num_timesteps(model)
    if model_T is not None and model_T != T:
        raise ValueError(f"the model is built for T = {model_T} time steps but the diffusion has "
                         f"T = {T}; build both with the same number of steps")
    if ema_decay is not None and not 0.0 < ema_decay < 1.0:
        raise ValueError(f"ema_decay must lie in (0, 1), got {ema_decay!r}")
    model.to(device).train()
    diffusion.to(device)
    if not isinstance(train_data, torch.utils.data.DataLoader):
        train_data = as_tensor_data(train_data, device)
    val = as_tensor_data(val_data, device) if val_data is not None else None

    generator = torch.Generator(device=device).manual_seed(seed)
    shuffle_generator = torch.Generator().manual_seed(seed)
    optimizer = optimizer or default_optimizer(model, lr)
    steps_per_epoch = _num_batches(train_data, batch_size)
    total_steps = epochs * steps_per_epoch
    scheduler = lr_scheduler(optimizer, lr_schedule, warmup_steps, total_steps)
    probabilities = per_step_values(t_probabilities, "t_probabilities", T, device)
    step_weights = per_step_values(loss_weights, "loss_weights", T, device)
    params = [p for p in model.parameters() if p.requires_grad]
    ema = [p.detach().clone() for p in params] if ema_decay is not None else None

    history = History()
    losses = torch.empty(total_steps, device=device)
    bar = tqdm(total=total_steps, disable=not progress, unit="step", desc="training")
    start, cpu_start = time.perf_counter(), time.process_time()
    step = 0
    for epoch in range(epochs):
        first = step
        for x_start, t, noise in _epoch(train_data, batch_size, T, probabilities, generator,
                                        shuffle_generator, device):
            loss = diffusion.p_losses(model, x_start, t, noise=noise,
                                      loss_fn=loss_fn if step_weights is None
                                      else _weighted(loss_fn, step_weights[t - 1]))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            if ema is not None:
                for average, p in zip(ema, params):
                    average.lerp_(p.detach(), 1.0 - ema_decay)
            losses[step] = loss.detach()
            step += 1
            if progress and step % refresh_every == 0:
                bar.set_postfix(loss=f"{losses[step - refresh_every:step].mean().item():.4f}", epoch=epoch + 1)
                bar.update(refresh_every)
        epoch_losses = losses[first:step]
        history.train_loss.append(epoch_losses.mean().item())
        if val is not None:
            history.val_loss.append(validation_loss(model, diffusion, val, seed=seed + 1, loss_fn=loss_fn))
        if checkpoint_path is not None:
            save_checkpoint(model, checkpoint_path)
    bar.update(step - bar.n)
    bar.close()
    if ema is not None:
        with torch.no_grad():
            for p, e in zip(params, ema):
                p.copy_(e)
        if val is not None:
            history.val_loss[-1] = validation_loss(model, diffusion, val, seed=seed + 1, loss_fn=loss_fn)
        if checkpoint_path is not None:
            save_checkpoint(model, checkpoint_path)
    history.seconds = time.perf_counter() - start
    history.cpu_seconds = time.process_time() - cpu_start
    history.steps = step
    history.batch_loss = losses[:step].tolist()
    return history


def lr_scheduler(optimizer: torch.optim.Optimizer, lr_schedule: str | None, warmup_steps: int,
                 total_steps: int) -> torch.optim.lr_scheduler.LRScheduler | None:
    """Linear warm-up over ``warmup_steps``, then constant or a cosine decay to 0 at ``total_steps``."""
    if lr_schedule is None and warmup_steps == 0:
        return None
    if lr_schedule == "cosine" and warmup_steps == 0:
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        if lr_schedule == "cosine":
            decay_steps = max(total_steps - warmup_steps, 1)
            return 0.5 * (1.0 + math.cos(math.pi * (step - warmup_steps) / decay_steps))
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _weighted(loss_fn: Callable[..., Tensor], weights: Tensor) -> Callable[[Tensor, Tensor], Tensor]:
    """``loss_fn`` with each example's loss (a row of the batch) multiplied by its weight."""
    def loss(prediction: Tensor, target: Tensor) -> Tensor:
        per_element = loss_fn(prediction, target, reduction="none")
        return (weights.reshape(-1, *([1] * (per_element.ndim - 1))) * per_element).mean()
    return loss


def save_checkpoint(model: nn.Module, path: str | Path, **extra) -> None:
    """Save the model's class name, configuration and ``state_dict`` with ``torch.save``,
    and any ``extra`` plain values (numbers, strings, lists, dicts) under ``"extra"``.

    The file is written to a temporary name first and then renamed, so that a
    reader never sees a half-written checkpoint.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    torch.save({"model": type(model).__name__, "config": dict(getattr(model, "config", {})),
                "state_dict": model.state_dict(), "extra": extra}, partial)
    os.replace(partial, path)


def load_checkpoint(model: nn.Module, path: str | Path) -> nn.Module:
    """Load a checkpoint written by :func:`save_checkpoint` into ``model``
    (``torch.load(weights_only=True)``: no code is executed).

    Raises ``ValueError`` if the checkpoint belongs to another kind or shape of model.
    """
    checkpoint = torch.load(Path(path), map_location="cpu", weights_only=True)
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ValueError(f"{path} is not a checkpoint written by save_checkpoint")
    kind, config = checkpoint.get("model"), checkpoint.get("config", {})
    own_config = dict(getattr(model, "config", {}))
    if kind != type(model).__name__ or config != own_config:
        raise ValueError(
            f"{path} holds a {kind} with {config}, but the model is a "
            f"{type(model).__name__} with {own_config}")
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as error:
        raise ValueError(f"{path} does not fit this model: {error}") from None
    return model


def checkpoint_extra(path: str | Path) -> dict:
    """The ``extra`` values stored by :func:`save_checkpoint` (``weights_only=True``)."""
    checkpoint = torch.load(Path(path), map_location="cpu", weights_only=True)
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ValueError(f"{path} is not a checkpoint written by save_checkpoint")
    return dict(checkpoint.get("extra", {}))
