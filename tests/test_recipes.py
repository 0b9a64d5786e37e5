"""Chapters 6-7: training recipes, their seeded models and the shared checkpoint."""
from __future__ import annotations

import math
from dataclasses import asdict, replace

import numpy as np
import pytest
import torch

from conftest import Z_TOL, cosine_betas_by_hand, cumprod_by_hand, linear_betas_by_hand
from ddpm_lessons import recipes
from ddpm_lessons.model import TimeConditionedMLP, parameter_count
from ddpm_lessons.recipes import (COURSE_RECIPE, SOURCE_RECIPE, Recipe, recipe_fingerprint, train_recipe,
                                  trained_model)
from ddpm_lessons.schedules import linear_beta_schedule

TINY = replace(SOURCE_RECIPE, name="tiny", n_train=256, n_val=64, epochs=2, batch_size=64, hidden=8, depth=2)


def test_source_recipe_fields():
    r = SOURCE_RECIPE
    assert (r.num_timesteps, r.schedule, r.beta_start, r.beta_end) == (40, "linear", 8e-6, 9e-5)
    assert (r.hidden, r.depth, r.fourier_bands) == (32, 3, 0)
    assert (r.n_train, r.epochs, r.batch_size, r.lr) == (10_000, 100, 32, 1e-3)
    assert (r.lr_schedule, r.ema_decay, r.variance_type) == (None, None, "posterior")
    assert (r.t_power, r.min_snr_gamma, r.warmup_steps) == (0.0, None, 0) and r.t_probabilities() is None
    assert asdict(r)["name"] == "source post"
    np.testing.assert_allclose(r.betas(), linear_betas_by_hand(40, 8e-6, 9e-5), rtol=1e-13)
    assert cumprod_by_hand(r.betas())[-1] == pytest.approx(0.952, abs=5e-4)
    assert parameter_count(r.model()) == 5442


def test_course_recipe_draws_low_noise_steps_more_often():
    p = COURSE_RECIPE.t_probabilities()
    norm = math.fsum(t ** -COURSE_RECIPE.t_power for t in range(1, COURSE_RECIPE.num_timesteps + 1))
    np.testing.assert_allclose(p, [t ** -COURSE_RECIPE.t_power / norm
                                   for t in range(1, COURSE_RECIPE.num_timesteps + 1)], rtol=1e-12)
    assert COURSE_RECIPE.t_power > 0 and p[0] > p[-1]


def test_recipe_betas_both_schedules():
    cosine = replace(SOURCE_RECIPE, schedule="cosine", num_timesteps=50)
    np.testing.assert_allclose(cosine.betas(), cosine_betas_by_hand(50), rtol=1e-12)
    linear = replace(COURSE_RECIPE, schedule="linear")
    np.testing.assert_allclose(linear.betas(),
                               linear_betas_by_hand(linear.num_timesteps, linear.beta_start, linear.beta_end),
                               rtol=1e-13)
    assert COURSE_RECIPE.schedule == "cosine"
    np.testing.assert_allclose(COURSE_RECIPE.betas(), cosine_betas_by_hand(COURSE_RECIPE.num_timesteps),
                               rtol=1e-12)
    with pytest.raises(ValueError, match="schedule must be 'linear' or 'cosine', got 'quadratic'"):
        replace(SOURCE_RECIPE, schedule="quadratic").betas()


def test_recipe_parts():
    r = replace(SOURCE_RECIPE, variance_type="beta", n_train=100, n_val=30, hidden=8, depth=1)
    d = r.diffusion()
    assert d.variance_type == "beta" and d.num_timesteps == 40
    np.testing.assert_allclose(d.betas.double().numpy(), linear_beta_schedule(40, 8e-6, 9e-5), rtol=1e-7)
    x_train, x_val = r.data(seed=3)
    assert x_train.shape == (100, 2) and x_val.shape == (30, 2)
    np.testing.assert_array_equal(r.data(seed=3)[0], x_train)
    assert not np.array_equal(r.data(seed=4)[0], x_train)


def test_recipe_model_is_seeded_without_touching_the_global_generator():
    r = replace(SOURCE_RECIPE, hidden=8, depth=1)
    state = torch.random.get_rng_state()
    m1, m2, m3 = r.model(seed=1), r.model(seed=1), r.model(seed=2)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert m1.config["hidden"] == 8 and m1.config["depth"] == 1 and m1.config["fourier_bands"] == 0
    assert all(torch.equal(p, q) for p, q in zip(m1.parameters(), m2.parameters()))
    assert not torch.equal(m1.output.weight, m3.output.weight)


def test_recipe_model_initialisation_is_uniform_on_one_over_root_fan_in():
    """Every weight and bias of a Linear layer is U(-b, b) with b = 1/√fan_in: bounds and variance b²/3."""
    model = replace(COURSE_RECIPE, hidden=256).model(seed=0)
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            b = 1.0 / math.sqrt(module.in_features)
            w = module.weight.detach().double().flatten()
            assert w.abs().max() <= b
            n = w.numel()
            # Var of U(-b, b) is b²/3; the sample variance has standard error ≈ b² √(4/45 / n).
            assert abs(float(w.var()) - b * b / 3) < Z_TOL * b * b * math.sqrt(4 / 45 / n)
            assert module.bias.detach().abs().max() <= b


def test_train_recipe_tiny():
    model, diffusion, history = train_recipe(TINY, seed=0, progress=False)
    assert isinstance(model, TimeConditionedMLP) and not model.training
    assert diffusion.num_timesteps == 40
    assert history.steps == 8 and len(history.train_loss) == 2 and len(history.val_loss) == 2
    _, _, again = train_recipe(TINY, seed=0, progress=False)
    assert again.batch_loss == history.batch_loss
    _, _, other = train_recipe(TINY, seed=1, progress=False)
    assert other.batch_loss != history.batch_loss


def test_train_recipe_options_reach_train(monkeypatch):
    seen = {}
    real_train = recipes.train

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real_train(*args, **kwargs)

    monkeypatch.setattr(recipes, "train", spy)
    r = replace(TINY, schedule="cosine", lr_schedule="cosine", warmup_steps=3, ema_decay=0.9, t_power=1.5,
                min_snr_gamma=5.0, epochs=1)
    _, diffusion, history = train_recipe(r, seed=0, progress=False)
    np.testing.assert_allclose(diffusion.betas.double().numpy(), cosine_betas_by_hand(40), rtol=1e-6)
    assert history.steps == 4 and all(math.isfinite(v) for v in history.batch_loss)
    assert (seen["lr_schedule"], seen["warmup_steps"], seen["ema_decay"]) == ("cosine", 3, 0.9)
    np.testing.assert_allclose(seen["t_probabilities"], [t ** -1.5 for t in range(1, 41)]
                               / np.sum([t ** -1.5 for t in range(1, 41)]), rtol=1e-12)
    abar = np.array(cumprod_by_hand(cosine_betas_by_hand(40)))
    snr = abar / (1 - abar)
    np.testing.assert_allclose(seen["loss_weights"], np.minimum(snr, 5.0) / snr, rtol=1e-5)


def test_trained_model_writes_then_loads_the_same_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("DDPM_LESSONS_CACHE", str(tmp_path))
    calls = []
    real = recipes.train_recipe
    monkeypatch.setattr(recipes, "train_recipe", lambda *a, **k: calls.append(1) or real(*a, **k))
    model, diffusion, history = trained_model(TINY, seed=0, progress=False)
    files = list(tmp_path.glob("*.pt"))
    assert len(calls) == 1 and len(files) == 1 and recipe_fingerprint(TINY, 0) in files[0].name
    loaded, loaded_diffusion, loaded_history = trained_model(TINY, seed=0, progress=False)
    assert len(calls) == 1                                          # loaded, not trained again
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), loaded.parameters()))
    assert not loaded.training and loaded_diffusion.num_timesteps == diffusion.num_timesteps
    assert loaded_history == history
    # A freshly trained model equals the stored one: training is deterministic.
    fresh, _, _ = train_recipe(TINY, seed=0, progress=False)
    assert all(torch.equal(p, q) for p, q in zip(fresh.parameters(), loaded.parameters()))
    # Another recipe or seed has its own checkpoint; retrain=True trains again.
    trained_model(replace(TINY, lr=2e-3), seed=0, progress=False)
    trained_model(TINY, seed=1, progress=False)
    trained_model(TINY, seed=0, progress=False, retrain=True)
    assert len(calls) == 4 and len(list(tmp_path.glob("*.pt"))) == 3


def test_recipe_fingerprint_changes_with_recipe_and_seed():
    a = recipe_fingerprint(TINY, 0)
    assert a == recipe_fingerprint(replace(TINY), 0)
    assert len({a, recipe_fingerprint(TINY, 1), recipe_fingerprint(replace(TINY, epochs=3), 0),
                recipe_fingerprint(replace(TINY, t_power=1.0), 0)}) == 4


def test_recipe_is_frozen_and_has_no_sampling_options():
    with pytest.raises(Exception):
        COURSE_RECIPE.lr = 1.0          # type: ignore[misc]
    assert not hasattr(Recipe, "as_dict") and not hasattr(Recipe, "with_")
    assert "clip_denoised" not in asdict(COURSE_RECIPE)


def test_torch_threads_sets_and_restores_the_thread_count_even_on_error():
    from ddpm_lessons.recipes import torch_threads
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError, match="inside"):
        with torch_threads(1):
            assert torch.get_num_threads() == 1
            raise RuntimeError("inside")
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="num_threads must be None or an integer >= 1"):
            with torch_threads(bad):
                pass
    assert torch.get_num_threads() == before
