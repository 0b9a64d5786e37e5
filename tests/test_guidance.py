"""Chapter 10: the conditional model, label dropout, the guided noise and guided sampling."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from ddpm_lessons import guidance, recipes
from ddpm_lessons.diffusion import GaussianDiffusion
from ddpm_lessons.model import TimeConditionedMLP
from ddpm_lessons.schedules import cosine_beta_schedule
from ddpm_lessons.training import load_checkpoint, save_checkpoint

T = 20


@pytest.fixture
def model():
    torch.manual_seed(0)
    net = guidance.ConditionalMLP(T, num_classes=3, hidden=16, depth=2, fourier_bands=2)
    with torch.no_grad():   # a label table with clearly different rows
        net.label_embedding.weight.normal_(generator=torch.Generator().manual_seed(1))
    return net.eval()


@pytest.fixture
def diffusion():
    return GaussianDiffusion(cosine_beta_schedule(T))


def test_labels_change_the_prediction_and_null_is_its_own_label(model):
    x = torch.randn(5, 2, generator=torch.Generator().manual_seed(2))
    outputs = [model(x, 7, c) for c in range(4)]
    for a in range(4):
        for b in range(a + 1, 4):
            assert not torch.allclose(outputs[a], outputs[b])
    # one int label is the same as a tensor of it
    torch.testing.assert_close(model(x, 7, torch.full((5,), 2)), outputs[2], rtol=0, atol=0)
    assert model.null_label == 3


def test_trunk_sees_time_plus_label_embedding(model):
    x = torch.randn(4, 2, generator=torch.Generator().manual_seed(3))
    labels = torch.tensor([0, 1, 2, 3])
    by_hand = model.trunk(x, model.embedding(torch.full((4,), 5), 4) + model.label_embedding.weight[labels])
    torch.testing.assert_close(model(x, 5, labels), by_hand, rtol=0, atol=0)


@pytest.mark.parametrize("labels", [4, -1, torch.tensor([0, 1, 9]), torch.tensor([0.0, 1.0, 2.0]),
                                    torch.tensor([0, 1]), True])
def test_unknown_or_malformed_labels_raise(model, labels):
    with pytest.raises((ValueError, TypeError)):
        model(torch.zeros(3, 2), 1, labels)


def test_guided_noise_by_hand_and_linear_in_w():
    rng = torch.Generator().manual_seed(4)
    cond, uncond = torch.randn(6, 2, generator=rng), torch.randn(6, 2, generator=rng)
    torch.testing.assert_close(guidance.guided_noise(cond, uncond, 0.0), cond, rtol=0, atol=0)
    torch.testing.assert_close(guidance.guided_noise(cond, uncond, 2.0), 3 * cond - 2 * uncond)
    # ε̃ is affine in w with slope ε_c − ε_∅: extrapolated to w = −1 it is the unconditional ε_∅
    g0, g1 = guidance.guided_noise(cond, uncond, 0.0), guidance.guided_noise(cond, uncond, 1.0)
    torch.testing.assert_close(g0 - (g1 - g0), uncond)
    # the libraries' form, ε_∅ + s (ε_c − ε_∅) with guidance scale s = 1 + w
    for w in (0.0, 0.5, 3.0):
        s = 1 + w
        torch.testing.assert_close(guidance.guided_noise(cond, uncond, w), uncond + s * (cond - uncond))


@pytest.mark.parametrize("w", [-1.0, -0.1, float("nan"), float("inf"), "2", True])
def test_negative_or_bad_guidance_scale_is_rejected(model, w):
    with pytest.raises(ValueError, match="guidance scale"):
        guidance.guided_noise(torch.zeros(2, 2), torch.zeros(2, 2), w)
    with pytest.raises(ValueError, match="guidance scale"):
        guidance.GuidedDenoiser(model, 0, w)


def test_guided_denoiser_equals_the_formula_on_two_separate_calls(model):
    x = torch.randn(8, 2, generator=torch.Generator().manual_seed(5))
    t = torch.arange(1, 9)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    for w in (0.0, 0.5, 3.0):
        by_hand = (1 + w) * model(x, t, labels) - w * model(x, t, torch.full((8,), 3))
        torch.testing.assert_close(guidance.GuidedDenoiser(model, labels, w)(x, t), by_hand,
                                   rtol=1e-5, atol=1e-6)


def test_w_zero_step_is_the_conditional_step(model, diffusion):
    x = torch.randn(10, 2, generator=torch.Generator().manual_seed(6))
    guided = diffusion.p_sample(guidance.GuidedDenoiser(model, 1, 0.0), x, 9,
                                generator=torch.Generator().manual_seed(7))[0]
    conditional = diffusion.p_sample(lambda x_t, t: model(x_t, t, 1), x, 9,
                                     generator=torch.Generator().manual_seed(7))[0]
    torch.testing.assert_close(guided, conditional, rtol=0, atol=0)
    # and a positive w moves the step
    moved = diffusion.p_sample(guidance.GuidedDenoiser(model, 1, 1.0), x, 9,
                               generator=torch.Generator().manual_seed(7))[0]
    assert not torch.allclose(moved, conditional)


def test_sample_runs_p_sample_loop_with_the_guided_denoiser(model, diffusion):
    ours = guidance.sample(model, diffusion, 2, 30, 1.5, torch.Generator().manual_seed(8))
    theirs = diffusion.p_sample_loop(lambda x, t: (2.5 * model(x, t, 2) - 1.5 * model(x, t, 3)),
                                     (30, 2), generator=torch.Generator().manual_seed(8))
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError):
        guidance.sample(model, diffusion, 7, 30)


def test_drop_labels_rate_by_monte_carlo_and_no_in_place_change():
    labels = torch.randint(0, 4, (200_000,), generator=torch.Generator().manual_seed(9))
    before = labels.clone()
    for p in (0.0, 0.15, 0.5, 1.0):
        dropped = guidance.drop_labels(labels, p, 4, torch.Generator().manual_seed(10))
        assert torch.equal(labels, before)
        rate = (dropped == 4).double().mean().item()
        assert abs(rate - p) < 5 * math.sqrt(p * (1 - p) / labels.numel()) + 1e-12
        kept = dropped != 4
        assert torch.equal(dropped[kept], labels[kept])
    a = guidance.drop_labels(labels, 0.3, 4, torch.Generator().manual_seed(11))
    b = guidance.drop_labels(labels, 0.3, 4, torch.Generator().manual_seed(11))
    assert torch.equal(a, b)
    for p in (-0.1, 1.5, float("nan"), True):
        with pytest.raises(ValueError):
            guidance.drop_labels(labels, p, 4)


def test_training_drops_labels_at_the_recipe_rate(monkeypatch, diffusion):
    seen = []
    original = guidance.drop_labels

    def spy(labels, p, null_label, generator=None):
        out = original(labels, p, null_label, generator)
        seen.append(out.clone())
        return out

    monkeypatch.setattr(guidance, "drop_labels", spy)
    model = guidance.ConditionalMLP(T, 2, hidden=8, depth=1)
    points = np.random.default_rng(0).standard_normal((4000, 2)).astype(np.float32)
    labels = np.repeat([0, 1], 2000)
    history = guidance.train_conditional(model, diffusion, points, labels, label_dropout=0.2,
                                         epochs=2, batch_size=500, lr=1e-3)
    assert history.steps == 16 and len(history.batch_loss) == 16 and len(history.train_loss) == 2
    rate = torch.cat(seen).eq(2).double().mean().item()
    assert abs(rate - 0.2) < 5 * math.sqrt(0.2 * 0.8 / 8000)
    with pytest.raises(ValueError, match="null label"):
        guidance.train_conditional(model, diffusion, points, np.full(4000, 2), label_dropout=0.1)


def test_training_is_deterministic_and_its_loss_falls(diffusion):
    recipe = dataclasses.replace(guidance.GUIDANCE_RECIPE, num_timesteps=T, hidden=16, depth=2,
                                 n_train=800, epochs=8, batch_size=100, patterns=("moons", "circles"))
    a, _, history_a = recipe.train(seed=3)
    b, _, history_b = recipe.train(seed=3)
    assert history_a.batch_loss == history_b.batch_loss
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
    assert history_a.train_loss[-1] < 0.9 * history_a.train_loss[0]
    points, labels = recipe.data(0)
    assert points.shape == (800, 2) and np.bincount(labels).tolist() == [400, 400]


def test_checkpoint_of_another_model_is_rejected(tmp_path):
    plain = TimeConditionedMLP(T, 16, 2)
    save_checkpoint(plain, tmp_path / "plain.pt")
    with pytest.raises(ValueError):
        load_checkpoint(guidance.ConditionalMLP(T, 3, 16, 2), tmp_path / "plain.pt")
    four = guidance.ConditionalMLP(T, 4, 16, 2)
    save_checkpoint(four, tmp_path / "four.pt")
    with pytest.raises(ValueError):
        load_checkpoint(guidance.ConditionalMLP(T, 3, 16, 2), tmp_path / "four.pt")


def test_trained_model_caches_the_conditional_recipe(tmp_path, monkeypatch):
    monkeypatch.setenv("DDPM_LESSONS_CACHE", str(tmp_path))
    recipe = dataclasses.replace(guidance.GUIDANCE_RECIPE, name="tiny guidance", num_timesteps=T,
                                 hidden=8, depth=1, n_train=400, epochs=1, batch_size=100)
    first, _, history = recipes.trained_model(recipe, progress=False)
    assert isinstance(first, guidance.ConditionalMLP)
    files = list(tmp_path.glob("tiny_guidance-seed0-*.pt"))
    assert len(files) == 1
    second, _, again = recipes.trained_model(recipe, progress=False)
    assert again.batch_loss == history.batch_loss
    for p, q in zip(first.parameters(), second.parameters()):
        assert torch.equal(p, q)
    # the conditional recipe's fingerprint covers its own modules; another recipe differs
    assert recipes.recipe_fingerprint(recipe) != recipes.recipe_fingerprint(
        dataclasses.replace(recipe, label_dropout=0.2))
    assert "guidance" in type(recipe).modules and "guidance" not in recipes.Recipe.modules


def test_interval_guides_inside_and_is_conditional_outside(model):
    x = torch.randn(6, 2, generator=torch.Generator().manual_seed(12))
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    w = 2.5
    by_hand_guided = {t: (1 + w) * model(x, t, labels) - w * model(x, t, 3) for t in (4, 8, 15)}
    denoiser = guidance.GuidedDenoiser(model, labels, w, interval=(4, 15))
    for t in (4, 8, 15):   # both ends included, as an int or as a tensor
        torch.testing.assert_close(denoiser(x, t), by_hand_guided[t], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(denoiser(x, torch.full((6,), t)), by_hand_guided[t],
                                   rtol=1e-5, atol=1e-6)
    for t in (1, 3, 16, T):   # outside: the conditional prediction, w = 0
        torch.testing.assert_close(denoiser(x, t), model(x, t, labels), rtol=0, atol=0)
        torch.testing.assert_close(denoiser(x, torch.full((6,), t)), model(x, t, labels),
                                   rtol=1e-6, atol=1e-6)


def test_interval_is_applied_row_by_row(model):
    x = torch.randn(7, 2, generator=torch.Generator().manual_seed(13))
    t = torch.tensor([1, 4, 5, 9, 10, 11, 20])
    labels = torch.tensor([2, 0, 1, 2, 0, 1, 2])
    w, (lo, hi) = 1.5, (5, 10)
    denoiser = guidance.GuidedDenoiser(model, labels, w, interval=(lo, hi))
    out = denoiser(x, t)
    for row in range(7):   # each row alone, through the formula or the conditional model
        xr, tr, cr = x[row:row + 1], int(t[row]), labels[row:row + 1]
        expected = ((1 + w) * model(xr, tr, cr) - w * model(xr, tr, 3) if lo <= tr <= hi
                    else model(xr, tr, cr))
        torch.testing.assert_close(out[row:row + 1], expected, rtol=1e-5, atol=1e-6)
    inside = (t >= lo) & (t <= hi)
    assert inside.tolist() == [False, False, True, True, True, False, False]


def test_full_interval_is_no_interval_and_w_zero_ignores_it(model, diffusion):
    x = torch.randn(5, 2, generator=torch.Generator().manual_seed(14))
    t = torch.tensor([1, 6, 11, 17, T])
    full = guidance.GuidedDenoiser(model, 1, 2.0, interval=(1, T))
    torch.testing.assert_close(full(x, t), guidance.GuidedDenoiser(model, 1, 2.0)(x, t),
                               rtol=0, atol=0)
    a = guidance.sample(model, diffusion, 1, 40, 2.0, torch.Generator().manual_seed(15), (1, T))
    b = guidance.sample(model, diffusion, 1, 40, 2.0, torch.Generator().manual_seed(15))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    c = guidance.sample(model, diffusion, 1, 40, 0.0, torch.Generator().manual_seed(15), (3, 9))
    d = guidance.sample(model, diffusion, 1, 40, 0.0, torch.Generator().manual_seed(15))
    torch.testing.assert_close(c, d, rtol=0, atol=0)


def test_sampling_with_an_interval_switches_the_denoiser_by_step(model, diffusion):
    lo, hi, w = 6, 12, 2.0

    def by_hand(x, t):   # t is a tensor of one step for the whole batch in p_sample_loop
        step = int(t[0])
        if lo <= step <= hi:
            return (1 + w) * model(x, t, 0) - w * model(x, t, 3)
        return model(x, t, 0)

    ours = guidance.sample(model, diffusion, 0, 30, w, torch.Generator().manual_seed(16), (lo, hi))
    theirs = diffusion.p_sample_loop(by_hand, (30, 2), generator=torch.Generator().manual_seed(16))
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    # and the interval matters: guiding every step gives other samples
    every = guidance.sample(model, diffusion, 0, 30, w, torch.Generator().manual_seed(16))
    assert not torch.allclose(ours, every, atol=1e-4)


@pytest.mark.parametrize("interval", [(0, 5), (3, T + 1), (7, 6), (2.0, 5), (True, 5), (1, 2, 3),
                                      (4,), 5, "1-5", torch.tensor([1, 5]), [-1, 3]])
def test_bad_intervals_are_rejected(model, diffusion, interval):
    with pytest.raises(ValueError, match="interval"):
        guidance.GuidedDenoiser(model, 0, 1.0, interval=interval)
    with pytest.raises(ValueError, match="interval"):
        guidance.sample(model, diffusion, 0, 4, 1.0, interval=interval)


def test_good_intervals_are_normalised(model):
    assert guidance.GuidedDenoiser(model, 0, 1.0, interval=[np.int64(2), 9]).interval == (2, 9)
    assert guidance.GuidedDenoiser(model, 0, 1.0, interval=(5, 5)).interval == (5, 5)
    assert guidance.GuidedDenoiser(model, 0, 1.0).interval is None


def test_conditional_recipe_refuses_options_its_loop_does_not_have():
    """train_conditional has no weight average, warm-up or loss weights: asking for one is an
    error, not a recipe that silently trains without it."""
    base = dataclasses.replace(guidance.GUIDANCE_RECIPE, num_timesteps=T, hidden=8, depth=1, n_train=400,
                               epochs=1, batch_size=100)
    for change in ({"ema_decay": 0.99}, {"warmup_steps": 10}, {"min_snr_gamma": 5.0}):
        with pytest.raises(ValueError, match="train_conditional has no weight average"):
            dataclasses.replace(base, **change).train()
    assert guidance.GUIDANCE_RECIPE.ema_decay is None


def _calls(model):
    """Record (batch size, number of null-label rows) of every call of ``model``."""
    seen = []
    model.register_forward_pre_hook(
        lambda module, args: seen.append((args[0].shape[0], int((torch.as_tensor(args[2]) == 3).sum()))))
    return seen


def test_null_branch_only_inside_the_interval_when_t_is_a_tensor(model):
    x = torch.randn(6, 2, generator=torch.Generator().manual_seed(17))
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    denoiser = guidance.GuidedDenoiser(model, labels, 2.0, interval=(5, 10))
    seen = _calls(model)
    outside = denoiser(x, torch.full((6,), 12))
    assert seen == [(6, 0)]                           # one call, no null rows
    torch.testing.assert_close(outside, model(x, 12, labels), rtol=0, atol=0)
    seen.clear()
    t = torch.tensor([1, 5, 7, 10, 11, 20])           # rows 1, 2, 3 inside
    mixed = denoiser(x, t)
    assert seen == [(9, 3)]                           # the null prediction for those three rows only
    for row in range(6):                              # each row against the formula on its own
        tr, cr = int(t[row]), labels[row:row + 1]
        cond = model(x[row:row + 1], tr, cr)
        expected = 3.0 * cond - 2.0 * model(x[row:row + 1], tr, 3) if 5 <= tr <= 10 else cond
        torch.testing.assert_close(mixed[row:row + 1], expected, rtol=1e-5, atol=1e-6)
    seen.clear()
    denoiser(x, torch.full((6,), 7))
    assert seen == [(12, 6)]                          # all inside: one call on the doubled batch


def test_sampling_with_an_interval_calls_the_null_label_inside_it_only(model, diffusion):
    seen = _calls(model)
    guidance.sample(model, diffusion, 1, 8, 2.0, torch.Generator().manual_seed(18), (4, 9))
    assert len(seen) == T
    assert sum(null for _, null in seen) == 8 * 6     # steps 4 … 9, eight rows each
    assert sorted(size for size, _ in seen) == [8] * (T - 6) + [16] * 6


def test_a_model_with_nan_weights_is_named_through_the_guided_denoiser(model, diffusion):
    with torch.no_grad():
        model.label_embedding.weight[3] = float("nan")          # the null label's row
    # w = 0 never calls the null label: no NaN reaches the samples
    assert torch.isfinite(guidance.sample(model, diffusion, 1, 5, 0.0, torch.Generator().manual_seed(19))).all()
    with pytest.raises(ValueError, match=rf"the model returned NaN or infinite noise for 5 of 5 rows at t = {T}\b"):
        guidance.sample(model, diffusion, 1, 5, 2.0, torch.Generator().manual_seed(19))
    with pytest.raises(ValueError, match=r"for 5 of 5 rows at t = 9\b"):       # the first guided step
        guidance.sample(model, diffusion, 1, 5, 2.0, torch.Generator().manual_seed(19), (4, 9))
    with torch.no_grad():
        model.label_embedding.weight[1] = float("nan")
    with pytest.raises(ValueError, match=rf"for 5 of 5 rows at t = {T}\b"):
        guidance.sample(model, diffusion, 1, 5, 0.0)
