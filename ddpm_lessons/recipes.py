"""Training recipes: everything needed to reproduce a trained model (chapters 6–7).

``SOURCE_RECIPE`` is the recipe of the blog post this course follows;
``COURSE_RECIPE`` is the one the chapters use, chosen by the benchmark in
``benchmarks/recipes.py`` (results in ``benchmarks/RESULTS.md``).  Change a
recipe with ``dataclasses.replace(COURSE_RECIPE, epochs=5)``.

:func:`trained_model` trains a recipe once and keeps the result in a checkpoint
outside the repository, so that the chapters after the one that trains it load
the same weights instead of training again.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar, Iterator

import numpy as np
import torch
from torch import nn

from .diffusion import GaussianDiffusion
from .model import TimeConditionedMLP
from .schedules import cosine_beta_schedule, linear_beta_schedule
from .spiral import make_spiral
from .training import (History, checkpoint_extra, load_checkpoint, min_snr_weights, save_checkpoint,
                       timestep_probabilities, train)


_TRAINING_MODULES = ("diffusion", "model", "recipes", "schedules", "spiral", "training")


@dataclass(frozen=True)
class Recipe:
    """A schedule, a model and a training loop, fully specified.

    ``t_power`` sets the law of t in training, p(t) ∝ t^(-t_power) (eq. (6.8));
    0 is Algorithm 1's uniform law.  ``min_snr_gamma`` (``None``: unweighted)
    weights each example's loss by min(SNR_t, γ)/SNR_t (Hang et al. 2023).
    """

    name: str
    num_timesteps: int = 40
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
    warmup_steps: int = 0
    ema_decay: float | None = None
    t_power: float = 0.0
    min_snr_gamma: float | None = None
    variance_type: str = "posterior"
    num_threads: int | None = 1       # torch threads while training (None: leave torch's setting)
    modules: ClassVar[tuple[str, ...]] = _TRAINING_MODULES   # their source enters the fingerprint

    def betas(self) -> np.ndarray:
        if self.schedule == "linear":
            return linear_beta_schedule(self.num_timesteps, self.beta_start, self.beta_end)
        if self.schedule == "cosine":
            return cosine_beta_schedule(self.num_timesteps)
        raise ValueError(f"schedule must be 'linear' or 'cosine', got {self.schedule!r}")

    def diffusion(self) -> GaussianDiffusion:
        return GaussianDiffusion(self.betas(), variance_type=self.variance_type)

    def model(self, seed: int = 0) -> TimeConditionedMLP:
        """The untrained model, its weights drawn from ``torch.Generator().manual_seed(seed)``.

        The weights follow PyTorch's default initialisation of ``nn.Linear``
        (uniform on ±1/√fan_in for weights and biases); torch's global random
        generator is neither used nor changed.
        """
        with torch.random.fork_rng(devices=[]):       # construction draws from the global generator
            model = self.network()
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, torch.nn.Linear):
                    bound = 1.0 / math.sqrt(module.in_features)
                    module.weight.uniform_(-bound, bound, generator=generator)
                    if module.bias is not None:
                        module.bias.uniform_(-bound, bound, generator=generator)
        return model

    def network(self) -> nn.Module:
        """The model's architecture (weights as constructed; :meth:`model` seeds them)."""
        return TimeConditionedMLP(self.num_timesteps, self.hidden, self.depth,
                                  fourier_bands=self.fourier_bands)

    def train(self, seed: int = 0, progress: bool = True) -> tuple[nn.Module, GaussianDiffusion, History]:
        """:func:`train_recipe`; a recipe for another kind of model overrides it (chapter 10)."""
        return train_recipe(self, seed=seed, progress=progress)

    def data(self, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        return make_spiral(self.n_train, rng), make_spiral(self.n_val, rng)

    def t_probabilities(self) -> np.ndarray | None:
        """The law of t in training (``None``: uniform, Algorithm 1)."""
        return timestep_probabilities(self.num_timesteps, self.t_power) if self.t_power else None


SOURCE_RECIPE = Recipe(name="source post")

COURSE_RECIPE = Recipe(
    name="course",
    num_timesteps=100, schedule="cosine",
    hidden=64, depth=3, fourier_bands=6,
    n_train=10_000, epochs=200, batch_size=1000,
    lr=1e-2, lr_schedule="cosine", t_power=1.5, ema_decay=0.995,
)
"""The recipe of chapters 6–7, chosen by ``benchmarks/recipes.py`` (see ``benchmarks/RESULTS.md``).

* **Schedule:** the cosine schedule, eq. (2.7), with T = 100 steps (``beta_start``
  and ``beta_end`` are not used).  Near t = 0 its steps are small, so the last
  reverse steps, which decide how precisely the samples land on the curve, are
  fine; at t = T it still reaches pure noise (ᾱ_T ≈ 0), which is what makes the
  samples cover the whole spiral.
* **Model:** width 64, depth 3, with 6 bands of Fourier input features
  ``sin(2^k π x), cos(2^k π x)``: an MLP on raw (x, y) cannot draw the sharp
  change of ε near the curve at small t, and its samples stay blurred.
* **Training:** 2000 Adam steps (200 epochs of 10 000 points in batches of 1000)
  at learning rate 1e-2 with cosine decay to 0, with t drawn with probability
  ∝ t^(-1.5) (eq. (6.8)): the low-noise steps, which decide precision, get most
  of the training.  The model returned is the exponential moving average of the
  weights (decay 0.995, about the last 200 steps).  For a model this small a step
  costs mostly fixed overhead, so 1000 points per step cost about twice as much
  as 250 and give as much precision in 2000 steps as 250 do in 5000.

The benchmark's median and worst figures over training and sampling seeds are
in ``benchmarks/results.json`` (one thread, ``num_threads=1``).
"""


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch threads (``None``: leave the setting), restoring the
    previous number afterwards."""
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"num_threads must be None or an integer >= 1, got {n!r}")
    threads = torch.get_num_threads()
    if n is not None:
        # For these small models two threads are about 15 % faster than one on an idle
        # machine, but less than half as fast when another program keeps a core busy;
        # one thread is not disturbed (benchmarks/RESULTS.md, "Why one thread").
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def train_recipe(recipe: Recipe, seed: int = 0, progress: bool = True
                 ) -> tuple[TimeConditionedMLP, GaussianDiffusion, History]:
    """Build and train the model of ``recipe`` with fixed seeds; returns (model, diffusion, history).

    Training runs with ``recipe.num_threads`` torch threads (the previous setting
    is restored afterwards).
    """
    x_train, x_val = recipe.data(seed)
    model, diffusion = recipe.model(seed), recipe.diffusion()
    weights = min_snr_weights(diffusion, recipe.min_snr_gamma) if recipe.min_snr_gamma else None
    with torch_threads(recipe.num_threads):
        history = train(model, diffusion, x_train, x_val, epochs=recipe.epochs,
                        batch_size=recipe.batch_size, lr=recipe.lr, lr_schedule=recipe.lr_schedule,
                        warmup_steps=recipe.warmup_steps, ema_decay=recipe.ema_decay,
                        t_probabilities=recipe.t_probabilities(), loss_weights=weights,
                        seed=seed, progress=progress)
    model.eval()
    return model, diffusion, history


# ------------------------------------------------------------ shared checkpoints

def checkpoint_dir() -> Path:
    """Where :func:`trained_model` keeps its checkpoints: ``$DDPM_LESSONS_CACHE`` if set,
    else ``~/.cache/ddpm_lessons`` (outside the repository)."""
    return Path(os.environ.get("DDPM_LESSONS_CACHE", Path.home() / ".cache" / "ddpm_lessons"))


def recipe_fingerprint(recipe: Recipe, seed: int = 0) -> str:
    """A hash of the recipe, the seed, torch's version and the source of the modules that
    train it (``recipe.modules``): it changes whenever the trained weights could."""
    digest = hashlib.sha256(json.dumps({"recipe": asdict(recipe), "seed": seed,
                                        "torch": torch.__version__}, sort_keys=True).encode())
    package = Path(__file__).resolve().parent
    for name in recipe.modules:
        digest.update((package / f"{name}.py").read_bytes())
    return digest.hexdigest()[:16]


def trained_model(recipe: Recipe, seed: int = 0, progress: bool = True, retrain: bool = False
                  ) -> tuple[TimeConditionedMLP, GaussianDiffusion, History]:
    """``train_recipe(recipe, seed)``, kept in a checkpoint and loaded from it the next time.

    The checkpoint's name holds :func:`recipe_fingerprint`, so a changed recipe
    or training code trains afresh.  It is loaded with ``weights_only=True``
    (no code runs).  Training is deterministic (fixed seeds, one thread), so a
    loaded model equals a freshly trained one; the returned history, including
    ``seconds``, is that of the training that wrote the checkpoint.  With
    ``retrain=True`` the model is trained and the checkpoint rewritten.
    """
    path = checkpoint_dir() / f"{recipe.name.replace(' ', '_')}-seed{seed}-{recipe_fingerprint(recipe, seed)}.pt"
    if path.exists() and not retrain:
        model = load_checkpoint(recipe.model(seed), path)
        model.eval()
        stored = checkpoint_extra(path)["history"]
        return model, recipe.diffusion(), History(**stored)
    model, diffusion, history = recipe.train(seed=seed, progress=progress)
    save_checkpoint(model, path, history=asdict(history), recipe=asdict(recipe), seed=seed)
    return model, diffusion, history
