"""The fast path of the training loop: the default optimiser is Adam's fused kernel."""
from __future__ import annotations

import numpy as np
import torch

from ddpm_lessons import training
from ddpm_lessons.diffusion import GaussianDiffusion
from ddpm_lessons.model import TimeConditionedMLP
from ddpm_lessons.schedules import linear_beta_schedule
from ddpm_lessons.spiral import make_spiral


def fresh_model(seed=0):
    torch.manual_seed(seed)
    return TimeConditionedMLP(40, hidden=16, depth=2)


def test_default_optimizer_is_fused_adam():
    optimizer = training.default_optimizer(fresh_model(), lr=1e-3)
    assert isinstance(optimizer, torch.optim.Adam)
    assert optimizer.defaults["fused"] is True and optimizer.param_groups[0]["lr"] == 1e-3
    assert sum(p.numel() for p in optimizer.param_groups[0]["params"]) == sum(
        p.numel() for p in fresh_model().parameters())


def test_fused_default_matches_the_loop_version_of_adam():
    diffusion = GaussianDiffusion(linear_beta_schedule(40, 1e-4, 0.02))
    data = make_spiral(512, np.random.default_rng(0))
    a, b = fresh_model(), fresh_model()
    training.train(a, diffusion, data, epochs=2, batch_size=64, seed=0, progress=False)
    training.train(b, diffusion, data, epochs=2, batch_size=64, seed=0, progress=False,
                   optimizer=torch.optim.Adam(b.parameters(), lr=1e-3, foreach=False))
    # Same algorithm: after 16 steps the weights agree to float32 rounding, and they moved.
    for p, q, p0 in zip(a.parameters(), b.parameters(), fresh_model().parameters()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)
        assert (p - p0).abs().max() > 1e-4


def test_train_recipe_uses_the_recipe_threads_and_restores_them(monkeypatch):
    from ddpm_lessons import recipes

    seen = []
    real_train = recipes.train

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real_train(*args, **kwargs)

    monkeypatch.setattr(recipes, "train", spy)
    tiny = recipes.SOURCE_RECIPE.with_(n_train=128, n_val=32, epochs=1, batch_size=64, hidden=8, depth=1)
    assert recipes.COURSE_RECIPE.num_threads == 1 and tiny.num_threads == 1
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        recipes.train_recipe(tiny, progress=False)
        assert torch.get_num_threads() == 2                     # restored
        recipes.train_recipe(tiny.with_(num_threads=None), progress=False)
    finally:
        torch.set_num_threads(before)
    assert seen == [1, 2]


def test_train_recipe_rejects_bad_thread_counts():
    import pytest

    from ddpm_lessons.recipes import SOURCE_RECIPE, train_recipe

    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match=f"num_threads must be None or an integer >= 1, got {bad!r}"):
            train_recipe(SOURCE_RECIPE.with_(num_threads=bad), progress=False)
