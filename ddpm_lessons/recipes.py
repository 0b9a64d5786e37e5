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
    num_steps=100, beta_start=1e-4, beta_end=0.02,
    hidden=128, depth=3, n_train=10_000,
    epochs=100, batch_size=256, lr=1e-3, lr_schedule="cosine",
)
"""Provisional until the benchmark settles it."""


def train_recipe(recipe: Recipe, seed: int = 0, progress: bool = True
                 ) -> tuple[TimeConditionedMLP, GaussianDiffusion, History]:
    """Build and train the model of ``recipe`` with fixed seeds; returns (model, diffusion, history)."""
    x_train, x_val = recipe.data(seed)
    model, diffusion = recipe.model(seed), recipe.diffusion()
    history = train(model, diffusion, x_train, x_val, epochs=recipe.epochs,
                    batch_size=recipe.batch_size, lr=recipe.lr, lr_schedule=recipe.lr_schedule,
                    ema_decay=recipe.ema_decay, seed=seed, progress=progress)
    model.eval()
    return model, diffusion, history
