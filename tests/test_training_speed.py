"""The fast path of the training loop: the default optimiser, and threads set by the recipe."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from ddpm_lessons import recipes, training
from ddpm_lessons.diffusion import GaussianDiffusion
from ddpm_lessons.recipes import SOURCE_RECIPE, train_recipe
from ddpm_lessons.schedules import linear_beta_schedule
from ddpm_lessons.spiral import make_spiral

TINY = replace(SOURCE_RECIPE, n_train=128, n_val=32, epochs=1, batch_size=64, hidden=8, depth=1)


def fresh_model(seed=0):
    return replace(SOURCE_RECIPE, hidden=16, depth=2).model(seed)


def test_default_optimizer_is_adam_over_every_weight():
    model = fresh_model()
    optimizer = training.default_optimizer(model, lr=1e-3)
    assert isinstance(optimizer, torch.optim.Adam) and optimizer.param_groups[0]["lr"] == 1e-3
    assert [id(p) for p in optimizer.param_groups[0]["params"]] == [id(p) for p in model.parameters()]


def test_default_optimizer_matches_the_loop_version_of_adam():
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
    seen = []
    real_train = recipes.train

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real_train(*args, **kwargs)

    monkeypatch.setattr(recipes, "train", spy)
    assert recipes.COURSE_RECIPE.num_threads == 1 and TINY.num_threads == 1
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        train_recipe(TINY, progress=False)
        assert torch.get_num_threads() == 2                     # restored
        train_recipe(replace(TINY, num_threads=None), progress=False)
    finally:
        torch.set_num_threads(before)
    assert seen == [1, 2]


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_train_recipe_rejects_bad_thread_counts(bad):
    with pytest.raises(ValueError, match=f"num_threads must be None or an integer >= 1, got {bad!r}"):
        train_recipe(replace(SOURCE_RECIPE, num_threads=bad), progress=False)
