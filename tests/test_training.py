"""Chapter 6: the training loop (Algorithm 1), checkpoints and recipes."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import cosine_betas_by_hand, cumprod_by_hand, linear_betas_by_hand
from ddpm_lessons import recipes, training
from ddpm_lessons.diffusion import GaussianDiffusion
from ddpm_lessons.model import TimeConditionedMLP, parameter_count
from ddpm_lessons.recipes import COURSE_RECIPE, SOURCE_RECIPE, train_recipe
from ddpm_lessons.schedules import linear_beta_schedule
from ddpm_lessons.spiral import make_spiral
from ddpm_lessons.training import History, load_checkpoint, save_checkpoint, train, validation_loss


class RecordingAdam(torch.optim.Adam):
    """Adam that remembers the learning rate of every step and the parameters after it."""

    def __init__(self, params, lr):
        super().__init__(params, lr=lr)
        self.lrs: list[float] = []
        self.snapshots: list[list[torch.Tensor]] = []

    def step(self, closure=None):
        self.lrs.append(self.param_groups[0]["lr"])
        out = super().step(closure)
        self.snapshots.append([p.detach().clone() for g in self.param_groups for p in g["params"]])
        return out


@pytest.fixture
def diffusion(course_betas):
    return GaussianDiffusion(course_betas)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return make_spiral(512, rng), make_spiral(256, rng)


def fresh_model(seed=0, hidden=16, depth=2):
    torch.manual_seed(seed)
    return TimeConditionedMLP(40, hidden=hidden, depth=depth)


def weights(model):
    return [p.detach().clone() for p in model.parameters()]


# ---------------------------------------------------------------- learning
def test_training_lowers_the_validation_loss(diffusion):
    rng = np.random.default_rng(1)
    x_train, x_val = make_spiral(4096, rng), make_spiral(1024, rng)
    model = fresh_model(hidden=32, depth=3)
    before = validation_loss(model, diffusion, torch.as_tensor(x_val), seed=1)
    assert before == pytest.approx(1.0, abs=0.15)      # an untrained net predicts ≈ 0: MSE ≈ E[ε²] = 1
    history = train(model, diffusion, x_train, x_val, epochs=5, batch_size=64, seed=0, progress=False)
    assert history.steps == 5 * 64
    # 320 steps: measured 1.05 → 0.16; require at least halving.
    assert history.val_loss[-1] < 0.5 * before
    assert np.mean(history.batch_loss[-50:]) < 0.5 * np.mean(history.batch_loss[:10])


def test_validation_loss_by_hand(diffusion, course_betas, data):
    model = fresh_model()
    val = torch.as_tensor(data[1])
    g = torch.Generator().manual_seed(7)
    t = torch.randint(1, 41, (val.shape[0],), generator=g)
    noise = torch.randn(val.shape, generator=g)
    abar = torch.tensor(cumprod_by_hand(course_betas), dtype=torch.float32)[t - 1][:, None]
    x_t = abar.sqrt() * val + (1 - abar).sqrt() * noise
    with torch.no_grad():
        expected = float(((model(x_t, t) - noise) ** 2).mean())
        expected_l1 = float((model(x_t, t) - noise).abs().mean())
    assert validation_loss(model, diffusion, val, seed=7) == pytest.approx(expected, rel=1e-5)
    assert validation_loss(model, diffusion, val, seed=7, loss_fn=F.l1_loss) == pytest.approx(expected_l1, rel=1e-5)
    assert model.training        # restored after evaluation


# ---------------------------------------------------------- reproducibility
def test_seeded_runs_are_identical_and_seeds_matter(diffusion, data):
    runs = {}
    for k, (key, seed) in enumerate((("a", 3), ("b", 3), ("c", 4))):
        model = fresh_model()
        torch.manual_seed(1000 + k)      # the global RNG must not matter: only `seed` does
        history = train(model, diffusion, data[0], data[1], epochs=2, batch_size=64, seed=seed, progress=False)
        runs[key] = (history, weights(model))
    assert runs["a"][0].batch_loss == runs["b"][0].batch_loss
    assert runs["a"][0].val_loss == runs["b"][0].val_loss
    assert all(torch.equal(p, q) for p, q in zip(runs["a"][1], runs["b"][1]))
    assert runs["a"][0].batch_loss != runs["c"][0].batch_loss
    assert not all(torch.equal(p, q) for p, q in zip(runs["a"][1], runs["c"][1]))


def test_history_fields(diffusion, data):
    history = train(fresh_model(), diffusion, data[0], data[1], epochs=3, batch_size=100, seed=0, progress=False)
    steps_per_epoch = math.ceil(512 / 100)
    assert isinstance(history, History)
    assert history.steps == 3 * steps_per_epoch == len(history.batch_loss)
    assert len(history.train_loss) == 3 and len(history.val_loss) == 3
    for epoch in range(3):
        chunk = history.batch_loss[epoch * steps_per_epoch:(epoch + 1) * steps_per_epoch]
        assert history.train_loss[epoch] == pytest.approx(sum(chunk) / len(chunk), rel=1e-6)
    assert all(isinstance(v, float) and math.isfinite(v) for v in history.batch_loss)
    assert history.seconds > 0
    assert history.steps_per_second == pytest.approx(history.steps / history.seconds)
    no_val = train(fresh_model(), diffusion, data[0], epochs=1, batch_size=512, seed=0, progress=False)
    assert no_val.val_loss == [] and no_val.steps == 1 and len(no_val.train_loss) == 1
    assert math.isnan(History().steps_per_second)


def test_tensor_and_array_data_give_the_same_run(diffusion, data):
    a = train(fresh_model(), diffusion, data[0], epochs=1, batch_size=64, seed=0, progress=False)
    b = train(fresh_model(), diffusion, torch.as_tensor(data[0]).double(), epochs=1, batch_size=64, seed=0,
              progress=False, device="cpu")
    assert a.batch_loss == b.batch_loss


def test_dataloader_path(diffusion, data):
    dataset = torch.utils.data.TensorDataset(torch.as_tensor(data[0]))
    loader = torch.utils.data.DataLoader(dataset, batch_size=50, shuffle=True,
                                         generator=torch.Generator().manual_seed(0))
    history = train(fresh_model(), diffusion, loader, data[1], epochs=2, seed=0, progress=False)
    assert isinstance(history, History)
    assert history.steps == 2 * math.ceil(512 / 50) == len(history.batch_loss)
    assert len(history.train_loss) == 2 and len(history.val_loss) == 2
    # A loader of plain tensors works too, and (same batches, same seed) gives the same losses.
    plain = torch.utils.data.DataLoader(torch.as_tensor(data[0]), batch_size=50, shuffle=False)
    tuples = torch.utils.data.DataLoader(dataset, batch_size=50, shuffle=False)
    h1 = train(fresh_model(), diffusion, plain, epochs=1, seed=0, progress=False)
    h2 = train(fresh_model(), diffusion, tuples, epochs=1, seed=0, progress=False)
    assert h1.batch_loss == h2.batch_loss


# -------------------------------------------------------------- options
def test_ema_is_the_moving_average_of_the_weights(diffusion, data):
    decay = 0.9
    model = fresh_model()
    start = weights(model)
    opt = RecordingAdam(model.parameters(), lr=1e-2)
    train(model, diffusion, data[0], epochs=2, batch_size=128, optimizer=opt, ema_decay=decay, seed=0,
          progress=False)
    assert len(opt.snapshots) == 8
    ema = [p.double() for p in start]
    for snap in opt.snapshots:
        ema = [decay * e + (1 - decay) * p.double() for e, p in zip(ema, snap)]
    for p, e, last in zip(model.parameters(), ema, opt.snapshots[-1]):
        torch.testing.assert_close(p.detach().double(), e, rtol=1e-5, atol=1e-6)
        assert not torch.allclose(p.detach(), last)      # the EMA is not the last iterate


def test_ema_run_is_reproducible_and_val_loss_uses_the_average(diffusion, data):
    results = []
    for _ in range(2):
        model = fresh_model()
        history = train(model, diffusion, data[0], data[1], epochs=2, batch_size=64, ema_decay=0.95, seed=1,
                        progress=False)
        results.append((history, weights(model)))
        assert history.val_loss[-1] == validation_loss(model, diffusion, torch.as_tensor(data[1]), seed=2)
    assert results[0][0].batch_loss == results[1][0].batch_loss
    assert all(torch.equal(p, q) for p, q in zip(results[0][1], results[1][1]))


def test_cosine_learning_rate(diffusion, data):
    model = fresh_model()
    opt = RecordingAdam(model.parameters(), lr=1e-3)
    history = train(model, diffusion, data[0], epochs=2, batch_size=64, optimizer=opt, lr_schedule="cosine",
                    seed=0, progress=False)
    n = history.steps
    expected = [1e-3 * (1 + math.cos(math.pi * k / n)) / 2 for k in range(n)]
    np.testing.assert_allclose(opt.lrs, expected, rtol=1e-9, atol=1e-15)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-15)
    # Reproducible, with the default optimiser too.
    runs = [train(fresh_model(), diffusion, data[0], epochs=2, batch_size=64, lr_schedule="cosine", seed=0,
                  progress=False) for _ in range(2)]
    assert runs[0].batch_loss == runs[1].batch_loss
    constant = train(fresh_model(), diffusion, data[0], epochs=2, batch_size=64, seed=0, progress=False)
    assert constant.batch_loss[:2] == runs[0].batch_loss[:2] and constant.batch_loss != runs[0].batch_loss


def test_constant_learning_rate_by_default(diffusion, data):
    model = fresh_model()
    opt = RecordingAdam(model.parameters(), lr=3e-3)
    train(model, diffusion, data[0], epochs=1, batch_size=64, optimizer=opt, seed=0, progress=False)
    assert opt.lrs == [3e-3] * 8


def test_l1_loss_option(diffusion, data):
    mse = train(fresh_model(), diffusion, data[0], epochs=1, batch_size=512, seed=0, progress=False)
    l1 = train(fresh_model(), diffusion, data[0], epochs=1, batch_size=512, seed=0, progress=False,
               loss_fn=F.l1_loss)
    # Same model, same batch: the first losses are the MSE and the mean |·| of the same residual.
    # For an untrained net both are close to those of a N(0, 1) residual: 1 and √(2/π).
    assert mse.batch_loss[0] == pytest.approx(1.0, abs=0.2)
    assert l1.batch_loss[0] == pytest.approx(math.sqrt(2 / math.pi), abs=0.15)
    assert l1.batch_loss[0] < mse.batch_loss[0]


def test_progress_false_prints_nothing(diffusion, data, capsys):
    train(fresh_model(), diffusion, data[0], data[1], epochs=1, batch_size=64, seed=0, progress=False)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    train(fresh_model(), diffusion, data[0], epochs=1, batch_size=64, seed=0, progress=True, refresh_every=2)
    captured = capsys.readouterr()
    assert "training" in captured.err and "8/8" in captured.err


# ---------------------------------------------------------- checkpoints
def test_checkpoint_every_epoch(diffusion, data, tmp_path, monkeypatch):
    saved = []
    original = training.save_checkpoint

    def counting_save(model, path):
        saved.append(weights(model))
        original(model, path)

    monkeypatch.setattr(training, "save_checkpoint", counting_save)
    path = tmp_path / "sub" / "model.pt"
    model = fresh_model()
    train(model, diffusion, data[0], epochs=3, batch_size=128, checkpoint_path=path, seed=0, progress=False)
    assert len(saved) == 3 and path.exists()
    assert not all(torch.equal(p, q) for p, q in zip(saved[0], saved[1]))      # weights changed between epochs
    restored = load_checkpoint(fresh_model(seed=99), path)
    assert all(torch.equal(p, q) for p, q in zip(restored.parameters(), model.parameters()))


def test_checkpoint_with_ema_holds_the_average(diffusion, data, tmp_path):
    path = tmp_path / "ema.pt"
    model = fresh_model()
    train(model, diffusion, data[0], epochs=1, batch_size=128, ema_decay=0.5, checkpoint_path=path, seed=0,
          progress=False)
    restored = load_checkpoint(fresh_model(seed=5), path)
    assert all(torch.equal(p, q) for p, q in zip(restored.parameters(), model.parameters()))


def test_load_checkpoint_round_trip(tmp_path):
    model = fresh_model(seed=1, hidden=32, depth=3)
    path = tmp_path / "a.pt"
    save_checkpoint(model, path)
    other = fresh_model(seed=2, hidden=32, depth=3)
    x = torch.randn(10, 2, generator=torch.Generator().manual_seed(0))
    t = torch.arange(1, 11)
    assert not torch.equal(other(x, t), model(x, t))
    assert load_checkpoint(other, path) is other
    assert torch.equal(other(x, t), model(x, t))
    checkpoint = torch.load(path, weights_only=True)
    assert checkpoint["model"] == "TimeConditionedMLP" and checkpoint["config"] == model.config


def test_load_checkpoint_of_another_shape(tmp_path):
    path = tmp_path / "h16.pt"
    save_checkpoint(fresh_model(hidden=16), path)
    with pytest.raises(ValueError, match=r"holds a TimeConditionedMLP with \{.*'hidden': 16.*\}, "
                                         r"but the model is a TimeConditionedMLP with \{.*'hidden': 32"):
        load_checkpoint(fresh_model(hidden=32), path)


def test_load_checkpoint_other_kinds_of_file(tmp_path):
    torch.save(torch.zeros(3), tmp_path / "tensor.pt")
    with pytest.raises(ValueError, match="is not a checkpoint written by save_checkpoint"):
        load_checkpoint(fresh_model(), tmp_path / "tensor.pt")
    save_checkpoint(torch.nn.Linear(2, 2), tmp_path / "linear.pt")
    with pytest.raises(ValueError, match="holds a Linear with {}, but the model is a TimeConditionedMLP"):
        load_checkpoint(fresh_model(), tmp_path / "linear.pt")
    # Right kind and configuration but tampered weights.
    model = fresh_model()
    state = model.state_dict()
    state.pop("output.bias")
    torch.save({"model": "TimeConditionedMLP", "config": model.config, "state_dict": state}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="does not fit this model"):
        load_checkpoint(fresh_model(), tmp_path / "bad.pt")


def test_copy_model_is_independent():
    model = fresh_model()
    snapshot = training.copy_model(model)
    with torch.no_grad():
        model.output.bias.add_(1.0)
    assert torch.equal(snapshot.output.bias + 1.0, model.output.bias)


# --------------------------------------------------------------- recipes
def test_source_recipe_fields():
    r = SOURCE_RECIPE
    assert (r.num_steps, r.schedule, r.beta_start, r.beta_end) == (40, "linear", 8e-6, 9e-5)
    assert (r.hidden, r.depth, r.fourier_bands) == (32, 3, 0)
    assert (r.n_train, r.epochs, r.batch_size, r.lr) == (10_000, 100, 32, 1e-3)
    assert (r.lr_schedule, r.ema_decay, r.variance_type, r.clip_denoised) == (None, None, "posterior", True)
    assert r.as_dict()["name"] == "source post"
    np.testing.assert_allclose(r.betas(), linear_betas_by_hand(40, 8e-6, 9e-5), rtol=1e-13)
    assert cumprod_by_hand(r.betas())[-1] == pytest.approx(0.952, abs=5e-4)
    assert parameter_count(r.model()) == 5442


def test_recipe_betas_both_schedules():
    cosine = SOURCE_RECIPE.with_(schedule="cosine", num_steps=50)
    np.testing.assert_allclose(cosine.betas(), cosine_betas_by_hand(50), rtol=1e-12)
    course = COURSE_RECIPE.with_(schedule="linear")
    np.testing.assert_allclose(course.betas(),
                               linear_betas_by_hand(course.num_steps, course.beta_start, course.beta_end),
                               rtol=1e-13)
    expected = (cosine_betas_by_hand(COURSE_RECIPE.num_steps) if COURSE_RECIPE.schedule == "cosine" else
                linear_betas_by_hand(COURSE_RECIPE.num_steps, COURSE_RECIPE.beta_start, COURSE_RECIPE.beta_end))
    np.testing.assert_allclose(COURSE_RECIPE.betas(), expected, rtol=1e-12)
    assert COURSE_RECIPE.schedule == "cosine"
    np.testing.assert_allclose(COURSE_RECIPE.betas(), cosine_betas_by_hand(COURSE_RECIPE.num_steps), rtol=1e-12)
    with pytest.raises(ValueError, match="schedule must be 'linear' or 'cosine', got 'quadratic'"):
        SOURCE_RECIPE.with_(schedule="quadratic").betas()
    assert SOURCE_RECIPE.schedule == "linear"            # with_ returns a copy


def test_recipe_parts():
    r = SOURCE_RECIPE.with_(variance_type="beta", n_train=100, n_val=30, hidden=8, depth=1)
    d = r.diffusion()
    assert d.variance_type == "beta" and d.num_timesteps == 40
    np.testing.assert_allclose(d.betas.double().numpy(), linear_beta_schedule(40, 8e-6, 9e-5), rtol=1e-7)
    m1, m2, m3 = r.model(seed=1), r.model(seed=1), r.model(seed=2)
    assert m1.config == {"num_steps": 40, "hidden": 8, "depth": 1, "data_dim": 2, "fourier_bands": 0}
    assert all(torch.equal(p, q) for p, q in zip(m1.parameters(), m2.parameters()))
    assert not torch.equal(m1.output.weight, m3.output.weight)
    x_train, x_val = r.data(seed=3)
    assert x_train.shape == (100, 2) and x_val.shape == (30, 2)
    np.testing.assert_array_equal(r.data(seed=3)[0], x_train)
    assert not np.array_equal(r.data(seed=4)[0], x_train)


def test_train_recipe_tiny():
    tiny = SOURCE_RECIPE.with_(n_train=256, n_val=64, epochs=2, batch_size=64, hidden=8, depth=2)
    model, diffusion, history = train_recipe(tiny, seed=0, progress=False)
    assert isinstance(model, TimeConditionedMLP) and not model.training
    assert diffusion.num_timesteps == 40
    assert history.steps == 8 and len(history.train_loss) == 2 and len(history.val_loss) == 2
    _, _, again = train_recipe(tiny, seed=0, progress=False)
    assert again.batch_loss == history.batch_loss
    _, _, other = recipes.train_recipe(tiny, seed=1, progress=False)
    assert other.batch_loss != history.batch_loss


def test_train_recipe_with_cosine_schedule_and_ema():
    tiny = SOURCE_RECIPE.with_(n_train=128, n_val=32, epochs=1, batch_size=64, hidden=8, depth=1,
                               schedule="cosine", lr_schedule="cosine", ema_decay=0.9)
    model, diffusion, history = train_recipe(tiny, seed=0, progress=False)
    np.testing.assert_allclose(diffusion.betas.double().numpy(), cosine_betas_by_hand(40), rtol=1e-6)
    assert history.steps == 2 and all(math.isfinite(v) for v in history.batch_loss)
