"""Training recipes: everything needed to reproduce a trained model (chapters 6–7).

``SOURCE_RECIPE`` is the recipe of the blog post this course follows;
``COURSE_RECIPE`` is the one the chapters use, chosen by the benchmark in
``benchmarks/recipes.py`` (results in ``benchmarks/RESULTS.md``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
import torch

from .diffusion import GaussianDiffusion
from .model import TimeConditionedMLP
from .schedules import cosine_beta_schedule, linear_beta_schedule
from .spiral import make_spiral
from .training import History, train


@dataclass(frozen=True)
class Recipe:
    """A schedule, a model and a training loop, fully specified."""

    name: str
    num_steps: int = 40
    schedule: str = "linear"          # "linear" (rescaled by 1000/T) or "cosine"
    beta_start: float = 8e-6
    beta_end: float = 9e-5
    hidden: int = 32
    depth: int = 3
    fourier_bands: int = 0
    n_train: int = 10_000
    n_val: int = 2_000
    epochs: int = 100
    batch_size: int = 32
    lr: float = 1e-3
    lr_schedule: str | None = None
    ema_decay: float | None = None
    variance_type: str = "posterior"
    clip_denoised: bool = True
    num_threads: int | None = 1       # torch threads while training (None: leave torch's setting)

    def betas(self) -> np.ndarray:
        if self.schedule == "linear":
            return linear_beta_schedule(self.num_steps, self.beta_start, self.beta_end)
        if self.schedule == "cosine":
            return cosine_beta_schedule(self.num_steps)
        raise ValueError(f"schedule must be 'linear' or 'cosine', got {self.schedule!r}")

    def diffusion(self) -> GaussianDiffusion:
        return GaussianDiffusion(self.betas(), variance_type=self.variance_type)

    def model(self, seed: int = 0) -> TimeConditionedMLP:
        torch.manual_seed(seed)
        return TimeConditionedMLP(self.num_steps, self.hidden, self.depth,
                                  fourier_bands=self.fourier_bands)

    def data(self, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        return make_spiral(self.n_train, rng), make_spiral(self.n_val, rng)

    def as_dict(self) -> dict:
        return asdict(self)

    def with_(self, **changes) -> "Recipe":
        return replace(self, **changes)


SOURCE_RECIPE = Recipe(name="source post")

COURSE_RECIPE = Recipe(
    name="course",
    num_steps=100, schedule="cosine",
    hidden=64, depth=3, fourier_bands=6,
    n_train=10_000, epochs=300, batch_size=250,
    lr=3e-3, lr_schedule="cosine",
)
"""The recipe of chapters 6–7, chosen by ``benchmarks/recipes.py`` (see ``benchmarks/RESULTS.md``).

* **Schedule:** the cosine schedule, eq. (2.7), with T = 100 steps (``beta_start``
  and ``beta_end`` are not used).  Near t = 0 its steps are small (β_1 ≈ 6e-4,
  √(1-ᾱ_5) ≈ 0.09), so the last reverse steps, which decide how precisely the
  samples land on the curve, are fine; at t = T it still reaches pure noise
  (ᾱ_T ≈ 0), which is what makes the samples cover the whole spiral.
* **Model:** width 64, depth 3, with 6 bands of Fourier input features
  ``sin(2^k π x), cos(2^k π x)``: an MLP on raw (x, y) cannot draw the sharp
  change of ε near the curve at small t, and its samples stay blurred.
* **Training:** 12 000 Adam steps (300 epochs of 10 000 points in batches of 250)
  at learning rate 3e-3 with cosine decay to 0.  The number of steps is the
  largest lever after the input features; width 64 makes each step about twice
  as cheap as width 128, and spending the time on more steps pays more than width.

Measured (1000 samples, Algorithm 2 with σ² = β̃_t, seeds fixed): mean distance to
the spiral ≈ 0.003–0.004 (target ≤ 0.015) and coverage KS ≈ 0.03 (target ≤ 0.05;
1000 true points give ≈ 0.026), trained in 16–30 s on a 2-core CPU shared with
other work (one thread, ``num_threads=1``).
"""


def train_recipe(recipe: Recipe, seed: int = 0, progress: bool = True
                 ) -> tuple[TimeConditionedMLP, GaussianDiffusion, History]:
    """Build and train the model of ``recipe`` with fixed seeds; returns (model, diffusion, history).

    Training runs with ``recipe.num_threads`` torch threads (the previous setting
    is restored afterwards).
    """
    n = recipe.num_threads
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"num_threads must be None or an integer >= 1, got {n!r}")
    x_train, x_val = recipe.data(seed)
    model, diffusion = recipe.model(seed), recipe.diffusion()
    threads = torch.get_num_threads()
    if recipe.num_threads is not None:
        # For these small models one thread is about as fast as two on an idle machine,
        # and it does not collapse when other programs share the cores (benchmarks/RESULTS.md).
        torch.set_num_threads(recipe.num_threads)
    try:
        history = train(model, diffusion, x_train, x_val, epochs=recipe.epochs,
                        batch_size=recipe.batch_size, lr=recipe.lr, lr_schedule=recipe.lr_schedule,
                        ema_decay=recipe.ema_decay, seed=seed, progress=progress)
    finally:
        torch.set_num_threads(threads)
    model.eval()
    return model, diffusion, history
