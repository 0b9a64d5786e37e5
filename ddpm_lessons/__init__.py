"""ddpm_lessons: the tested helper package of *Denoising Diffusion from First Principles*.

One module per idea, in the order the book meets them:

- :mod:`~ddpm_lessons.normal` (chapter 1): the normal distribution;
- :mod:`~ddpm_lessons.spiral` (chapter 2): the data;
- :mod:`~ddpm_lessons.schedules` (chapter 2): β schedules;
- :mod:`~ddpm_lessons.diffusion` (chapters 2–4, 6): forward process, posterior, sampling, loss;
- :mod:`~ddpm_lessons.model` (chapter 5): the time-conditioned MLP;
- :mod:`~ddpm_lessons.training` (chapter 6): the training loop and checkpoints;
- :mod:`~ddpm_lessons.recipes` (chapters 6–7): reproducible training recipes;
- :mod:`~ddpm_lessons.closest_point`, :mod:`~ddpm_lessons.optimal` (chapter 7): closest points;
  distances, the optimal path and coverage;
- :mod:`~ddpm_lessons.score`, :mod:`~ddpm_lessons.score_view` (chapter 8): the score, Tweedie's
  formula and the ideal denoiser of a finite training set; its score field;
- :mod:`~ddpm_lessons.sampling` (chapter 9): fewer sampling steps: time grids, DDIM, strided DDPM,
  DDIM inversion;
- :mod:`~ddpm_lessons.patterns`, :mod:`~ddpm_lessons.guidance`, :mod:`~ddpm_lessons.pattern_views`
  (chapter 10): several patterns with exact curves, the conditional model and guidance;
- :mod:`~ddpm_lessons.style`, :mod:`~ddpm_lessons.plotting`, :mod:`~ddpm_lessons.animation`:
  the book's look, its figures and its animations;
- :mod:`~ddpm_lessons.views`, :mod:`~ddpm_lessons.liveview`: sliders and the data behind them;
- :mod:`~ddpm_lessons.validation`: checks of integers, time steps and point arrays;
- :mod:`~ddpm_lessons.feedback`: feedback for the exercises (one module per chapter).

Time steps follow the book everywhere: ``t = 1 … T``; array index ``t - 1``.
"""
from .diffusion import GaussianDiffusion
from .model import TimeConditionedMLP, describe, parameter_count, sinusoidal_embedding_matrix
from .normal import normal_pdf, sample_normal, sum_of_normals
from .schedules import (alphas_cumprod, cosine_beta_schedule, linear_beta_schedule, prior_kl,
                        schedule_summary, validate_betas)
from .spiral import make_spiral, spiral_curve
from .training import History, load_checkpoint, save_checkpoint, train

__all__ = [
    "GaussianDiffusion", "TimeConditionedMLP", "describe", "parameter_count",
    "sinusoidal_embedding_matrix", "normal_pdf", "sample_normal", "sum_of_normals",
    "alphas_cumprod", "cosine_beta_schedule", "linear_beta_schedule", "prior_kl",
    "schedule_summary", "validate_betas", "make_spiral", "spiral_curve", "History",
    "load_checkpoint", "save_checkpoint", "train",
]
