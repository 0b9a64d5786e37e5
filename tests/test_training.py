"""Chapter 6: the training loop (Algorithm 1), its options and checkpoints."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import Z_TOL, cumprod_by_hand
from ddpm_lessons import training
from ddpm_lessons.diffusion import GaussianDiffusion
from ddpm_lessons.model import TimeConditionedMLP
from ddpm_lessons.spiral import make_spiral
from ddpm_lessons.training import (History, checkpoint_extra, draw_t_and_noise, load_checkpoint,
                                   min_snr_weights, save_checkpoint, timestep_probabilities, train,
                                   validation_loss)


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


def fresh_model(seed=0, hidden=16, depth=2, num_timesteps=40):
    with torch.random.fork_rng(devices=[]):      # the caller's global generator is left alone
        torch.manual_seed(seed)
        return TimeConditionedMLP(num_timesteps, hidden=hidden, depth=depth)


class TimeRecorder(torch.nn.Module):
    """Wraps a model and records the time steps it is called with while training."""

    def __init__(self, model):
        super().__init__()
        self.model, self.seen = model, []

    def forward(self, x, t):
        if self.training:
            self.seen.append(t.detach().clone())
        return self.model(x, t)


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


def test_a_dataloader_batch_with_nan_is_refused(diffusion, data):
    """A DataLoader's batches are not checked in advance, so each one is checked when used."""
    x = torch.as_tensor(data[0], dtype=torch.float32).clone()
    x[130, 1] = float("nan")
    loader = torch.utils.data.DataLoader(x, batch_size=64, shuffle=False)
    with pytest.raises(ValueError, match="x_start contains NaN"):
        train(fresh_model(), diffusion, loader, epochs=1, seed=0, progress=False)


def test_draw_t_and_noise_follows_the_law_and_the_seed(diffusion):
    T = diffusion.num_timesteps
    p = torch.as_tensor(timestep_probabilities(T, 1.5), dtype=torch.float32)
    t, noise = draw_t_and_noise(4000, (2,), T, p, torch.Generator().manual_seed(3))
    again = draw_t_and_noise(4000, (2,), T, p, torch.Generator().manual_seed(3))
    assert torch.equal(t, again[0]) and torch.equal(noise, again[1])
    assert t.dtype == torch.long and t.min() >= 1 and t.max() <= T and noise.shape == (4000, 2)
    share_of_t1 = float((t == 1).float().mean())
    assert abs(share_of_t1 - float(p[0])) < 5 * math.sqrt(float(p[0]) * (1 - float(p[0])) / 4000)
    uniform, _ = draw_t_and_noise(4000, (2,), T, None, torch.Generator().manual_seed(3))
    assert uniform.min() >= 1 and uniform.max() <= T and len(uniform.unique()) == T
    _, noise64 = draw_t_and_noise(10, (3,), T, None, torch.Generator(), dtype=torch.float64)
    assert noise64.dtype == torch.float64 and noise64.shape == (10, 3)


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


def test_checkpoint_extra_values(tmp_path):
    path = tmp_path / "x.pt"
    save_checkpoint(fresh_model(), path, history={"steps": 3, "batch_loss": [0.5, 0.25]}, note="n")
    assert checkpoint_extra(path) == {"history": {"steps": 3, "batch_loss": [0.5, 0.25]}, "note": "n"}
    assert not list(tmp_path.glob("*.partial"))              # written under a temporary name, renamed
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(ValueError, match="is not a checkpoint written by save_checkpoint"):
        checkpoint_extra(tmp_path / "list.pt")


# ------------------------------------------------------- the law of t and weights
def test_timestep_probabilities_exact():
    for T, power in ((1, 1.5), (5, 0.0), (40, 1.5), (100, 2.0), (7, -1.0)):
        p = timestep_probabilities(T, power)
        norm = math.fsum(s ** -power for s in range(1, T + 1))
        expected = [t ** -power / norm for t in range(1, T + 1)]
        np.testing.assert_allclose(p, expected, rtol=1e-12)
    # T = 100, power 1.5: t = 1 is drawn 100^1.5 = 1000 times as often as t = 100.
    p = timestep_probabilities(100, 1.5)
    assert p[0] / p[-1] == pytest.approx(1000.0, rel=1e-12)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="num_timesteps must be an integer >= 1"):
            timestep_probabilities(bad, 1.0)
    for bad in (float("nan"), float("inf"), "1.5", None):
        with pytest.raises(ValueError, match="power must be a finite number"):
            timestep_probabilities(10, bad)


@pytest.mark.parametrize("power", [0.0, 1.5])
def test_train_draws_t_from_the_given_law(diffusion, power):
    """Monte Carlo: the counts of each t seen in training match n·p(t) within Z_TOL standard errors."""
    T = diffusion.num_timesteps
    recorder = TimeRecorder(fresh_model(hidden=8, depth=1))
    data = make_spiral(20_000, np.random.default_rng(3))
    probabilities = timestep_probabilities(T, power) if power else None
    train(recorder, diffusion, data, epochs=1, batch_size=2000, t_probabilities=probabilities,
          seed=0, progress=False)
    t = torch.cat(recorder.seen).numpy()
    n = t.size
    assert n == 20_000 and t.min() >= 1 and t.max() <= T
    p = timestep_probabilities(T, power)
    counts = np.bincount(t, minlength=T + 1)[1:]
    standard_error = np.sqrt(n * p * (1 - p))
    assert np.all(np.abs(counts - n * p) < Z_TOL * standard_error)
    # The Pearson statistic of T - 1 degrees of freedom stays below its 1e-6 tail (≈ 2.4 (T-1) for T = 40).
    assert ((counts - n * p) ** 2 / (n * p)).sum() < 2.4 * (T - 1)


def test_min_snr_weights_by_hand(diffusion, course_betas):
    abar = cumprod_by_hand(course_betas)
    for gamma in (1.0, 5.0):
        expected = [min(a / (1 - a), gamma) / (a / (1 - a)) for a in abar]
        # float32 buffers: ᾱ_t is stored to 6e-8 relative precision.
        np.testing.assert_allclose(min_snr_weights(diffusion, gamma), expected, rtol=1e-5)
    weights = min_snr_weights(diffusion, 5.0)
    assert weights[0] < 0.02 and weights[-1] == 1.0      # low-noise steps are down-weighted
    for bad in (0, -1.0, True, "5"):
        with pytest.raises(ValueError, match="gamma must be a number > 0"):
            min_snr_weights(diffusion, bad)


def test_weighted_loss_of_the_first_step_by_hand(diffusion, course_betas, data):
    """Rebuild the first batch from the seed (the epoch's order, then a t for every example of
    the epoch, then an ε for every example) and weight its squared errors by hand."""
    T, batch, seed = diffusion.num_timesteps, 64, 5
    weights = np.linspace(0.1, 2.0, T)
    model = fresh_model()
    reference = fresh_model()
    history = train(model, diffusion, data[0], epochs=1, batch_size=batch, loss_weights=weights,
                    seed=seed, progress=False)
    perm = torch.randperm(data[0].shape[0], generator=torch.Generator().manual_seed(seed))
    x0 = torch.as_tensor(data[0], dtype=torch.float32)[perm[:batch]]
    g = torch.Generator().manual_seed(seed)
    t = torch.randint(1, T + 1, (data[0].shape[0],), generator=g)[:batch]
    noise = torch.randn(data[0].shape, generator=g)[:batch].float()
    abar = torch.tensor(cumprod_by_hand(course_betas), dtype=torch.float32)[t - 1][:, None]
    with torch.no_grad():
        residual = reference(abar.sqrt() * x0 + (1 - abar).sqrt() * noise, t) - noise
    w = torch.tensor(weights, dtype=torch.float32)[t - 1][:, None]
    assert history.batch_loss[0] == pytest.approx(float((w * residual ** 2).mean()), rel=1e-5)
    l1 = train(fresh_model(), diffusion, data[0], epochs=1, batch_size=batch, loss_weights=weights,
               loss_fn=F.l1_loss, seed=seed, progress=False)
    assert l1.batch_loss[0] == pytest.approx(float((w * residual.abs()).mean()), rel=1e-5)


def test_bad_per_step_arrays_and_mismatched_T(diffusion, data):
    T = diffusion.num_timesteps
    for name in ("t_probabilities", "loss_weights"):
        for bad, message in ((np.ones(T - 1), f"one entry per time step, shape ({T},), got ({T - 1},)"),
                             (-np.ones(T), "must be finite, >= 0 and not all 0"),
                             (np.zeros(T), "must be finite, >= 0 and not all 0"),
                             (np.full(T, np.nan), "must be finite, >= 0 and not all 0")):
            with pytest.raises(ValueError) as error:
                train(fresh_model(), diffusion, data[0], epochs=1, **{name: bad}, progress=False)
            assert str(error.value).startswith(name) and message in str(error.value)
    with pytest.raises(ValueError, match="the model is built for T = 30 time steps but the diffusion has T = 40"):
        train(fresh_model(num_timesteps=30), diffusion, data[0], epochs=1, progress=False)


def test_warmup_then_cosine_learning_rate(diffusion, data):
    model = fresh_model()
    opt = RecordingAdam(model.parameters(), lr=2e-3)
    history = train(model, diffusion, data[0], epochs=2, batch_size=64, optimizer=opt, lr_schedule="cosine",
                    warmup_steps=4, seed=0, progress=False)
    n, w = history.steps, 4
    expected = [2e-3 * (k + 1) / w if k < w else 2e-3 * (1 + math.cos(math.pi * (k - w) / (n - w))) / 2
                for k in range(n)]
    np.testing.assert_allclose(opt.lrs, expected, rtol=1e-9, atol=1e-15)
    model = fresh_model()
    opt = RecordingAdam(model.parameters(), lr=1e-3)
    train(model, diffusion, data[0], epochs=1, batch_size=64, optimizer=opt, warmup_steps=2, seed=0,
          progress=False)
    np.testing.assert_allclose(opt.lrs, [5e-4] + [1e-3] * 7, rtol=1e-12)
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="warmup_steps must be an integer >= 0"):
            train(fresh_model(), diffusion, data[0], epochs=1, warmup_steps=bad, progress=False)
