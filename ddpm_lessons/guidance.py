"""One model for several patterns, and classifier-free guidance (chapter 10).

:class:`ConditionalMLP` is chapter 5's ε_θ(x, t) with a learned embedding of
a label c added to the time embedding: ε_θ(x, t, c).  Label ``num_classes``
is the *null* label ∅, "no pattern given".  :func:`train_conditional`
replaces each training label by ∅ with probability p (:func:`drop_labels`,
Ho & Salimans 2022; the loss is eq. (10.2)), so the one network learns both
ε(x, t, c) and ε(x, t, ∅).  Sampling with guidance scale w uses

    ε̃ = (1 + w) ε(x, t, c) − w ε(x, t, ∅),          eq. (10.7)

(:func:`guided_noise`) inside :class:`GuidedDenoiser`, a denoiser ``(x, t) ↦ ε̃``
that chapter 6's ``GaussianDiffusion.p_sample_loop`` runs unchanged.  Given a
guidance *interval* ``(lo, hi)`` it uses ε̃ only at the steps lo ≤ t ≤ hi and the
conditional ε(x, t, c) elsewhere (guidance in a limited interval, Kynkäänniemi
et al. 2024).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from .diffusion import GaussianDiffusion
from .model import TimeConditionedMLP
from .patterns import PATTERN_NAMES, check_name, make_pattern
from .recipes import COURSE_RECIPE, Recipe, torch_threads
from .training import History, default_optimizer, draw_t_and_noise, lr_scheduler, per_step_values
from .validation import check_int


class ConditionalMLP(TimeConditionedMLP):
    """ε_θ(x, t, c): the time-conditioned MLP whose layers see time embedding + label embedding.

    Labels are integers ``0 … num_classes − 1``; ``num_classes`` (:attr:`null_label`)
    is ∅.  The other arguments are those of :class:`~ddpm_lessons.model.TimeConditionedMLP`.
    """

    def __init__(self, num_timesteps: int, num_classes: int, hidden: int = 64, depth: int = 3,
                 data_dim: int = 2, fourier_bands: int = 0) -> None:
        super().__init__(num_timesteps, hidden, depth, data_dim, fourier_bands)
        self.num_classes = self.config["num_classes"] = check_int(num_classes, "num_classes", 1)
        self.label_embedding = nn.Embedding(self.num_classes + 1, hidden)

    @property
    def null_label(self) -> int:
        """The label ∅ ("no pattern"): ``num_classes``."""
        return self.num_classes

    def check_labels(self, labels: Tensor | int, batch_size: int) -> Tensor:
        """``labels`` as a long tensor ``(batch_size,)`` with values in ``0 … num_classes`` (∅ included)."""
        if isinstance(labels, bool):
            raise ValueError(f"labels must be integers, got {labels!r}")
        if isinstance(labels, (int, np.integer)):
            labels = torch.full((batch_size,), int(labels), dtype=torch.long)
        if not isinstance(labels, Tensor):
            raise TypeError(f"labels must be an int or a torch.Tensor, got {type(labels).__name__}")
        if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
            raise ValueError(f"labels must hold integers, got dtype {labels.dtype}")
        if labels.shape != (batch_size,):
            raise ValueError(f"labels must have shape ({batch_size},), got {tuple(labels.shape)}")
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) > self.num_classes):
            raise ValueError(f"unknown label: labels must be in 0..{self.num_classes} "
                             f"({self.num_classes} is the null label), got values from "
                             f"{int(labels.min())} to {int(labels.max())}")
        return labels.long()

    def forward(self, x: Tensor, t: Tensor | int, labels: Tensor | int) -> Tensor:
        """Predict the noise in ``x`` ``(batch, data_dim)`` at steps ``t`` for the labels ``labels``."""
        self.check_input(x)
        labels = self.check_labels(labels, x.shape[0]).to(x.device)
        condition = self.embedding(t, batch_size=x.shape[0]) + self.label_embedding(labels)
        return self.trunk(x, condition)


def check_guidance_scale(w: float) -> float:
    """``w`` as a float, if it is a finite number >= 0."""
    if isinstance(w, bool) or not isinstance(w, (int, float, np.floating, np.integer)) \
            or not math.isfinite(w) or w < 0:
        raise ValueError(f"the guidance scale w must be a finite number >= 0, got {w!r} "
                         "(w = 0 is the conditional model; w = -1 would be the unconditional one: "
                         "sample that with the null label instead)")
    return float(w)


def guided_noise(eps_cond: Tensor, eps_uncond: Tensor, w: float) -> Tensor:
    """ε̃ = (1 + w) ε(x, t, c) − w ε(x, t, ∅), eq. (10.7) (Ho & Salimans 2022), for w >= 0.

    Libraries such as diffusers (``guidance_scale``) and the Imagen paper write the same
    line as ε(x, t, ∅) + s (ε(x, t, c) − ε(x, t, ∅)) with s = 1 + w: their s = 1 is w = 0.
    """
    w = check_guidance_scale(w)
    if eps_cond.shape != eps_uncond.shape:
        raise ValueError(f"the two noise predictions must have the same shape, got "
                         f"{tuple(eps_cond.shape)} and {tuple(eps_uncond.shape)}")
    return (1.0 + w) * eps_cond - w * eps_uncond


def check_guidance_interval(interval: tuple[int, int] | None, num_timesteps: int
                            ) -> tuple[int, int] | None:
    """``interval`` as a pair of ints ``(lo, hi)`` with 1 <= lo <= hi <= T, or ``None`` (every step)."""
    if interval is None:
        return None
    if isinstance(interval, (str, bytes, Tensor, np.ndarray)) or not hasattr(interval, "__len__") \
            or len(interval) != 2:
        raise ValueError(f"the guidance interval must be a pair (lo, hi) of time steps, or None "
                         f"for every step, got {interval!r}")
    lo = check_int(interval[0], "the guidance interval's lower end", 1, num_timesteps)
    hi = check_int(interval[1], "the guidance interval's upper end", 1, num_timesteps)
    if lo > hi:
        raise ValueError(f"the guidance interval (lo, hi) must have lo <= hi, got ({lo}, {hi})")
    return lo, hi


class GuidedDenoiser(nn.Module):
    """The denoiser ``(x, t) ↦ ε̃`` of eq. (10.7) for fixed labels and guidance scale w.

    With ``w = 0`` it is the conditional model ε(x, t, c), one network call;
    otherwise the conditional and null predictions come from one call on a
    doubled batch.  ``labels`` is one int for the whole batch or a tensor
    ``(batch,)``.  ``interval = (lo, hi)`` applies ε̃ only for lo <= t <= hi
    (both ends included, 1 <= lo <= hi <= T) and the conditional ε elsewhere,
    row by row when ``t`` is a tensor; ``None`` guides every step.  Pass it to
    ``GaussianDiffusion.p_sample_loop`` like a model.
    """

    def __init__(self, model: ConditionalMLP, labels: Tensor | int, w: float = 0.0,
                 interval: tuple[int, int] | None = None) -> None:
        super().__init__()
        if not isinstance(model, ConditionalMLP):
            raise TypeError(f"model must be a ConditionalMLP, got {type(model).__name__}")
        if isinstance(labels, (int, np.integer)) and not isinstance(labels, bool):
            model.check_labels(int(labels), 1)
        self.model, self.labels, self.w = model, labels, check_guidance_scale(w)
        self.num_timesteps = model.num_timesteps
        self.interval = check_guidance_interval(interval, model.num_timesteps)

    def forward(self, x: Tensor, t: Tensor | int) -> Tensor:
        labels = self.model.check_labels(self.labels, x.shape[0])
        inside = self._inside(t, x.shape[0])
        if self.w == 0.0 or not bool(inside.any()):
            return self.model(x, t, labels)
        if bool(inside.all()):       # every row guided: one call on the doubled batch
            both_t = torch.cat([t, t]) if isinstance(t, Tensor) else t
            null = torch.full_like(labels, self.model.null_label)
            eps_cond, eps_uncond = self.model(torch.cat([x, x]), both_t, torch.cat([labels, null])).chunk(2)
            return guided_noise(eps_cond, eps_uncond, self.w)
        # Some rows outside the interval: the null prediction only for the rows inside.
        rows = inside.nonzero().squeeze(1)
        null = torch.full((rows.shape[0],), self.model.null_label, dtype=labels.dtype, device=labels.device)
        eps = self.model(torch.cat([x, x[rows]]), torch.cat([t, t[rows]]), torch.cat([labels, null]))
        eps_cond, eps_uncond = eps[:x.shape[0]], eps[x.shape[0]:]
        return eps_cond.index_copy(0, rows, guided_noise(eps_cond[rows], eps_uncond, self.w))

    def _inside(self, t: Tensor | int, batch_size: int) -> Tensor:
        """One flag per row: is its step inside the guidance interval (every step without one)?"""
        if isinstance(t, Tensor):
            t = t.reshape(-1).expand(batch_size) if t.numel() == 1 else t
            lo, hi = self.interval or (1, self.num_timesteps)
            return (t >= lo) & (t <= hi)
        inside = self.interval is None or self.interval[0] <= t <= self.interval[1]
        return torch.full((batch_size,), bool(inside))


def drop_labels(labels: Tensor, p: float, null_label: int, generator: torch.Generator | None = None
                ) -> Tensor:
    """A copy of ``labels`` with each entry replaced by ``null_label`` with probability ``p``
    (classifier-free training, Ho & Salimans 2022); ``labels`` is not changed."""
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"the label dropout p must be a probability in [0, 1], got {p!r}")
    drop = torch.rand(labels.shape, generator=generator, device=labels.device) < p
    return torch.where(drop, torch.full_like(labels, null_label), labels)


def sample(model: ConditionalMLP, diffusion: GaussianDiffusion, label: int | Tensor, n: int,
           w: float = 0.0, generator: torch.Generator | None = None,
           interval: tuple[int, int] | None = None) -> Tensor:
    """``n`` samples of the pattern ``label`` (or one label per sample, a tensor ``(n,)``) with
    guidance scale ``w`` (∅: ``model.null_label``, w = 0), applied at the steps of ``interval``
    (``None``: every step): chapter 6's ``p_sample_loop`` with the denoiser of eq. (10.7)."""
    n = check_int(n, "n", 1)
    return diffusion.p_sample_loop(GuidedDenoiser(model, label, w, interval), (n, model.data_dim),
                                   generator=generator)


def train_conditional(model: ConditionalMLP, diffusion: GaussianDiffusion, points: np.ndarray,
                      labels: np.ndarray, *, label_dropout: float, epochs: int = 10,
                      batch_size: int = 256, lr: float = 1e-3, lr_schedule: str | None = None,
                      t_probabilities: np.ndarray | None = None, seed: int = 0,
                      progress: bool = False) -> History:
    """Algorithm 1 with labels: each step draws a batch of (x_0, c), drops labels to ∅ at rate
    ``label_dropout`` and takes an Adam step on chapter 6's loss (``GaussianDiffusion.p_losses``,
    eq. (6.5)) of the denoiser ε(·, ·, c)."""
    x = torch.as_tensor(np.asarray(points), dtype=torch.float32)
    if x.ndim != 2 or x.shape[0] < 1:
        raise ValueError(f"points must have shape (n, d) with n >= 1, got {tuple(x.shape)}")
    c = model.check_labels(torch.as_tensor(np.asarray(labels)), x.shape[0])
    if int(c.max()) >= model.null_label:
        raise ValueError("the training labels must be patterns, not the null label")
    epochs, batch_size = check_int(epochs, "epochs", 1), check_int(batch_size, "batch_size", 1)
    T = diffusion.num_timesteps
    probabilities = per_step_values(t_probabilities, "t_probabilities", T, "cpu")
    generator, shuffle = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
    optimizer = default_optimizer(model, lr)
    total = epochs * math.ceil(x.shape[0] / batch_size)
    scheduler = lr_scheduler(optimizer, lr_schedule, 0, total)
    losses, step, start = torch.empty(total), 0, time.perf_counter()
    model.train()
    for _ in range(epochs):
        for rows in torch.randperm(x.shape[0], generator=shuffle).split(batch_size):
            t, noise = draw_t_and_noise(rows.shape[0], (x.shape[1],), T, probabilities, generator)
            kept = drop_labels(c[rows], label_dropout, model.null_label, generator)
            loss = diffusion.p_losses(GuidedDenoiser(model, kept), x[rows], t, noise=noise)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            losses[step] = loss.detach()
            step += 1
    model.eval()
    steps_per_epoch = total // epochs
    return History(train_loss=losses.reshape(epochs, steps_per_epoch).mean(dim=1).tolist(),
                   seconds=time.perf_counter() - start, steps=step, batch_loss=losses.tolist())


@dataclass(frozen=True)
class GuidanceRecipe(Recipe):
    """The course recipe for a :class:`ConditionalMLP` on several patterns (chapter 10).

    ``n_train`` points are split equally between ``patterns`` (label k is
    ``patterns[k]``); ``label_dropout`` is the rate p at which labels become ∅.
    """

    patterns: tuple[str, ...] = PATTERN_NAMES
    label_dropout: float = 0.15
    modules = Recipe.modules + ("guidance", "patterns")

    def network(self) -> ConditionalMLP:
        return ConditionalMLP(self.num_timesteps, len(self.patterns), self.hidden, self.depth,
                              fourier_bands=self.fourier_bands)

    def model(self, seed: int = 0) -> ConditionalMLP:
        """Seeded weights (:meth:`Recipe.model`) and a label table drawn from N(0, 1) with seed + 1."""
        model = super().model(seed)
        with torch.no_grad():
            model.label_embedding.weight.normal_(generator=torch.Generator().manual_seed(seed + 1))
        return model

    def data(self, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """``(points, labels)``: ``n_train // len(patterns)`` points of each pattern, in order."""
        rng = np.random.default_rng(seed)
        per = self.n_train // len(self.patterns)
        points = np.concatenate([make_pattern(check_name(name), per, rng) for name in self.patterns])
        return points, np.repeat(np.arange(len(self.patterns)), per)

    def train(self, seed: int = 0, progress: bool = False
              ) -> tuple[ConditionalMLP, GaussianDiffusion, History]:
        if self.ema_decay is not None or self.warmup_steps or self.min_snr_gamma is not None:
            raise ValueError("train_conditional has no weight average, warm-up or loss weights: "
                             "set ema_decay=None, warmup_steps=0 and min_snr_gamma=None")
        points, labels = self.data(seed)
        model, diffusion = self.model(seed), self.diffusion()
        with torch_threads(self.num_threads):
            history = train_conditional(
                model, diffusion, points, labels, label_dropout=self.label_dropout,
                epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                lr_schedule=self.lr_schedule, t_probabilities=self.t_probabilities(), seed=seed)
        return model, diffusion, history


GUIDANCE_RECIPE = GuidanceRecipe(
    **{**COURSE_RECIPE.__dict__, "name": "guidance", "epochs": 125, "batch_size": 250, "lr": 6e-3,
       "ema_decay": None}, label_dropout=0.15)
"""Chapter 10's recipe: chapter 6's schedule and network (width 64, depth 3, 6 Fourier
bands) and law of t, trained for 5000 Adam steps of 250 points at learning rate 6e-3
(cosine decay, no weight average), for a conditional model on 2500 points of each of the
four patterns, with label dropout p = 0.15."""
