"""Bad input gets a ValueError that says what was expected and what was received."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from ddpm_lessons.diffusion import GaussianDiffusion
from ddpm_lessons.model import TimeConditionedMLP
from ddpm_lessons.schedules import (alphas_cumprod, cosine_beta_schedule, linear_beta_schedule, prior_kl,
                                    schedule_summary, validate_betas)
from ddpm_lessons.spiral import make_spiral
from ddpm_lessons.training import load_checkpoint, save_checkpoint, train


@pytest.fixture
def d(course_betas):
    return GaussianDiffusion(course_betas)


def zero_model(x, t):
    return torch.zeros_like(x)


X = torch.zeros(4, 2)


# ------------------------------------------------------------------- β
@pytest.mark.parametrize("bad, shown", [(0.0, "0.0"), (1.0, "1.0"), (-0.01, "-0.01"), (1.5, "1.5")])
@pytest.mark.parametrize("where", [validate_betas, GaussianDiffusion, alphas_cumprod, prior_kl, schedule_summary])
def test_beta_outside_open_unit_interval(bad, shown, where):
    betas = np.array([0.01, 0.02, bad, 0.03])
    with pytest.raises(ValueError, match=rf"every β_t must lie in \(0, 1\), got β_3 = .*{shown}"):
        where(betas)


def test_beta_nan_or_inf():
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="betas contain NaN or infinity"):
            validate_betas([0.1, bad])
        with pytest.raises(ValueError, match="betas contain NaN or infinity"):
            GaussianDiffusion(np.array([0.1, bad]))


@pytest.mark.parametrize("betas", [[], [[0.1, 0.2]], 0.1])
def test_betas_wrong_shape(betas):
    with pytest.raises(ValueError, match="betas must be a non-empty 1-D array, got shape"):
        validate_betas(betas)


def test_linear_schedule_bad_ends():
    with pytest.raises(ValueError, match=r"beta_start <= beta_end, got 0.02 > 0.0001"):
        linear_beta_schedule(40, beta_start=0.02, beta_end=1e-4)
    with pytest.raises(ValueError, match=r"every β_t must lie in \(0, 1\), got β_1 = .*0.0"):
        linear_beta_schedule(40, beta_start=0.0, beta_end=0.02)
    with pytest.raises(ValueError, match=r"every β_t must lie in \(0, 1\), got β_1 = .*-0.025"):
        linear_beta_schedule(40, beta_start=-1e-3, beta_end=0.02)
    # Rescaling by 1000/T pushes β_T = 0.02·1000/10 = 2 above 1.
    with pytest.raises(ValueError, match=r"every β_t must lie in \(0, 1\), got β_6 = "):
        linear_beta_schedule(10)
    for start, end in ((float("nan"), 0.02), (1e-4, float("nan")), (1e-4, float("inf"))):
        with pytest.raises(ValueError, match="beta_start and beta_end must be finite, got"):
            linear_beta_schedule(40, start, end)


@pytest.mark.parametrize("num_steps", [0, -3, 2.5, True, "40", None])
@pytest.mark.parametrize("schedule", [linear_beta_schedule, cosine_beta_schedule])
def test_number_of_steps_below_one_or_not_an_integer(schedule, num_steps):
    with pytest.raises(ValueError, match=rf"num_timesteps must be an integer >= 1, got {num_steps!r}"):
        schedule(num_steps)


@pytest.mark.parametrize("max_beta", [0.0, 1.0, 1.2])
def test_cosine_max_beta(max_beta):
    with pytest.raises(ValueError, match=rf"max_beta must lie in \(0, 1\), got {max_beta}"):
        cosine_beta_schedule(40, max_beta=max_beta)


def test_unknown_variance_type(course_betas):
    with pytest.raises(ValueError, match="variance_type must be 'posterior' or 'beta', got 'learned'"):
        GaussianDiffusion(course_betas, variance_type="learned")


# --------------------------------------------------------------------- t
BAD_T = [
    (0, r"t must be in 1\.\.40, got 0"),
    (41, r"t must be in 1\.\.40, got 41"),
    (-1, r"t must be in 1\.\.40, got -1"),
    (np.int64(41), r"t must be in 1\.\.40, got 41"),
    (True, r"t must be an integer in 1\.\.40, got True"),
    (2.5, r"t must be an int or an integer tensor, got float 2.5"),
    (torch.tensor([1.0, 2.0, 3.0, 4.0]), "t must hold integers, got dtype torch.float32"),
    (torch.tensor([True, False, True, True]), "t must hold integers, got dtype torch.bool"),
    (torch.tensor([1, 2, 3]), r"t must have shape \(batch,\) = \(4,\), got t of shape \(3,\)"),
    (torch.tensor(3), r"t must have shape \(batch,\) = \(4,\).*got t of shape \(\)"),
    (torch.tensor([[1, 2, 3, 4]]), r"got t of shape \(1, 4\)"),
    (torch.tensor([1, 2, 0, 4]), r"t must be in 1\.\.40, got values from 0 to 4"),
    (torch.tensor([1, 41, 3, 4]), r"t must be in 1\.\.40, got values from 1 to 41"),
    (torch.tensor([-2, 5, 3, 4]), r"t must be in 1\.\.40, got values from -2 to 5"),
]


@pytest.mark.parametrize("t, match", BAD_T)
@pytest.mark.parametrize("method", ["q_step", "q_sample", "q_mean_variance", "predict_start_from_noise",
                                    "posterior_mean_from_noise", "q_posterior_mean_variance", "p_mean_variance",
                                    "p_sample", "p_losses"])
def test_time_step_outside_range_or_of_wrong_type(d, method, t, match):
    calls = {
        "q_step": lambda: d.q_step(X, t),
        "q_sample": lambda: d.q_sample(X, t),
        "q_mean_variance": lambda: d.q_mean_variance(X, t),
        "predict_start_from_noise": lambda: d.predict_start_from_noise(X, t, X),
        "posterior_mean_from_noise": lambda: d.posterior_mean_from_noise(X, t, X),
        "q_posterior_mean_variance": lambda: d.q_posterior_mean_variance(X, X, t),
        "p_mean_variance": lambda: d.p_mean_variance(zero_model, X, t),
        "p_sample": lambda: d.p_sample(zero_model, X, t),
        "p_losses": lambda: d.p_losses(zero_model, X, t),
    }
    with pytest.raises(ValueError, match=match):
        calls[method]()


# ------------------------------------------------------------- x shapes
def test_x_and_t_batch_sizes_disagree(d):
    with pytest.raises(ValueError, match=r"t must have shape \(batch,\) = \(5,\), "
                                         r"got t of shape \(4,\)"):
        d.q_sample(torch.zeros(5, 2), torch.tensor([1, 2, 3, 4]))


@pytest.mark.parametrize("method", ["q_step", "q_sample", "p_sample", "p_losses", "q_mean_variance"])
def test_one_dimensional_x(d, method):
    x = torch.zeros(2)
    call = {"q_step": lambda: d.q_step(x, 1), "q_sample": lambda: d.q_sample(x, 1),
            "p_sample": lambda: d.p_sample(zero_model, x, 2), "p_losses": lambda: d.p_losses(zero_model, x),
            "q_mean_variance": lambda: d.q_mean_variance(x, 1)}[method]
    with pytest.raises(ValueError, match=r"must have shape \(batch, features…\) with batch >= 1, got \(2,\)"):
        call()


def test_noise_of_the_wrong_shape(d):
    with pytest.raises(ValueError, match=r"x and noise: shapes must match, got \(4, 2\) and \(4, 3\)"):
        d.q_sample(X, 1, noise=torch.zeros(4, 3))
    with pytest.raises(ValueError, match=r"x_t and noise: shapes must match, got \(4, 2\) and \(2, 2\)"):
        d.predict_start_from_noise(X, 1, torch.zeros(2, 2))
    with pytest.raises(ValueError, match=r"x_start and x_t: shapes must match"):
        d.q_posterior_mean_variance(X, torch.zeros(4, 1), 1)


def test_not_a_tensor(d):
    with pytest.raises(TypeError, match="x_start must be a torch.Tensor, got ndarray"):
        d.q_sample(np.zeros((4, 2)), 1)


# ------------------------------------------------------------------ NaN
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nan_inputs(d, bad):
    x = torch.zeros(4, 2)
    x[2, 1] = bad
    with pytest.raises(ValueError, match="x_start contains NaN or infinite values"):
        d.q_sample(x, 3)
    with pytest.raises(ValueError, match="noise contains NaN or infinite values"):
        d.q_sample(X, 3, noise=x)
    with pytest.raises(ValueError, match="x_t contains NaN or infinite values"):
        d.p_sample(zero_model, x, 3)
    with pytest.raises(ValueError, match="x_prev contains NaN or infinite values"):
        d.q_step(x, 3)
    with pytest.raises(ValueError, match="x_T contains NaN or infinite values"):
        d.p_sample_loop(zero_model, x)
    with pytest.raises(ValueError, match="data contain NaN or infinite values"):
        train(TimeConditionedMLP(40, hidden=8, depth=1), d, x.numpy(), epochs=1, progress=False)
    with pytest.raises(ValueError, match="data contain NaN or infinite values"):
        train(TimeConditionedMLP(40, hidden=8, depth=1), d, torch.zeros(8, 2), val_data=x, epochs=1,
              progress=False)


@pytest.mark.parametrize("data", [np.zeros(10), np.zeros((0, 2)), np.zeros((2, 3, 2))])
def test_train_data_of_the_wrong_shape(d, data):
    with pytest.raises(ValueError, match=r"data must have shape \(n, features\) with n >= 1, got"):
        train(TimeConditionedMLP(40, hidden=8, depth=1), d, data, epochs=1, progress=False)


@pytest.mark.parametrize("kwargs, match", [
    ({"epochs": 0}, "epochs must be an integer >= 1, got 0"),
    ({"epochs": 1.5}, "epochs must be an integer >= 1, got 1.5"),
    ({"batch_size": 0}, "batch_size must be an integer >= 1, got 0"),
    ({"lr_schedule": "linear"}, "lr_schedule must be None or 'cosine', got 'linear'"),
    ({"ema_decay": 1.0}, r"ema_decay must lie in \(0, 1\), got 1.0"),
    ({"ema_decay": 0.0}, r"ema_decay must lie in \(0, 1\), got 0.0"),
])
def test_train_bad_options(d, kwargs, match):
    with pytest.raises(ValueError, match=match):
        train(TimeConditionedMLP(40, hidden=8, depth=1), d, np.zeros((8, 2)), progress=False, **kwargs)


# ----------------------------------------------------------- the model
def test_model_returning_the_wrong_shape(d):
    with pytest.raises(ValueError, match=r"the model must return noise of x's shape \(4, 2\), got \(4, 1\)"):
        d.p_sample(lambda x, t: torch.zeros(4, 1), X, 5)
    with pytest.raises(ValueError, match=r"the model must return noise of x's shape \(4, 2\), got \(4,\)"):
        d.p_sample_loop(lambda x, t: torch.zeros(4), X.clone())


def test_loading_a_checkpoint_of_another_model(tmp_path):
    path = tmp_path / "deep.pt"
    save_checkpoint(TimeConditionedMLP(40, hidden=16, depth=3), path)
    with pytest.raises(ValueError, match=r"holds a TimeConditionedMLP with .*'hidden': 16.*but the model is a "
                                         r"TimeConditionedMLP with .*'hidden': 32"):
        load_checkpoint(TimeConditionedMLP(40, hidden=32, depth=3), path)
    with pytest.raises(ValueError, match=r"'num_timesteps': 40.*'num_timesteps': 100"):
        load_checkpoint(TimeConditionedMLP(100, hidden=16, depth=3), path)


# ------------------------------------------------------------ sampling
@pytest.mark.parametrize("shape", [(5,), (0, 2), (3, -1)])
def test_sampling_shape(d, shape):
    with pytest.raises(ValueError, match=r"shape must be \(batch, features…\) with positive sizes, got"):
        d.p_sample_loop(zero_model, shape)


@pytest.mark.parametrize("num_steps", [0, 41, 2.5, True, np.int64(41)])
def test_ddim_num_sampling_steps(d, num_steps):
    with pytest.raises(ValueError,
                       match=rf"num_sampling_steps must be an integer in 1\.\.40, got {re.escape(repr(num_steps))}"):
        d.ddim_sample_loop(zero_model, (3, 2), num_sampling_steps=num_steps)


def test_ddim_negative_eta(d):
    with pytest.raises(ValueError, match="eta must be >= 0, got -0.5"):
        d.ddim_sample_loop(zero_model, (3, 2), num_sampling_steps=5, eta=-0.5)


# -------------------------------------------------------------- spiral
def test_make_spiral_zero_points():
    with pytest.raises(ValueError, match="n must be an integer >= 1, got 0"):
        make_spiral(0, np.random.default_rng(0))


# ------------------------------------------------- inputs from other libraries
@pytest.fixture
def model():
    return TimeConditionedMLP(40, hidden=8, depth=1)


@pytest.mark.parametrize("t", [0, torch.zeros(4, dtype=torch.long), torch.tensor([1, 2, 0, 3])])
def test_model_refuses_a_zero_based_time_step(model, t):
    # t = 0 used to index the embedding row of t = T (table[-1]) without a word.
    with pytest.raises(ValueError, match=r"t must be in 1\.\.40, got (0|values from 0 to \d) \(time steps count from 1 here"):
        model(X, t)


def test_model_refuses_t_beyond_T_and_empty_t(model):
    with pytest.raises(ValueError, match=r"t must be in 1\.\.40, got values from 2 to 41$"):
        model(X, torch.tensor([2, 41, 3, 4]))
    with pytest.raises(ValueError, match=r"t must have shape \(batch,\) = \(4,\), got t of shape \(0,\)"):
        model(X, torch.zeros(0, dtype=torch.long))
    with pytest.raises(ValueError, match=r"t must have shape \(batch,\) = \(4,\), got t of shape \(3,\)"):
        model(X, torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match=r"t must hold integers, got dtype torch.float32"):
        model(X, torch.ones(4))


def test_diffusion_refuses_an_empty_t_tensor(d):
    with pytest.raises(ValueError, match="t is empty"):
        d.time_index(torch.zeros(0, dtype=torch.long), torch.zeros(0, 2))
    with pytest.raises(ValueError, match=r"x_start must have shape \(batch, features…\) with batch >= 1"):
        d.q_sample(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long))


def test_model_accepts_one_int_or_numpy_integer_for_the_batch(model):
    expected = model(X, torch.full((4,), 7))
    torch.testing.assert_close(model(X, 7), expected, rtol=0, atol=0)
    torch.testing.assert_close(model(X, np.int64(7)), expected, rtol=0, atol=0)


def test_float64_batch_into_a_float32_model(model):
    with pytest.raises(ValueError, match=r"x has dtype torch.float64 but the model's weights are "
                                         r"torch.float32: convert"):
        model(X.double(), torch.full((4,), 3))


@pytest.mark.parametrize("shape", [(4,), (4, 3), (0, 2)])
def test_model_refuses_a_batch_of_the_wrong_shape(model, shape):
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 2\) with batch >= 1, got"):
        model(torch.zeros(shape), 1)


def test_model_and_diffusion_built_for_different_T(d):
    other = TimeConditionedMLP(100, hidden=8, depth=1)
    message = r"the model was built for T = 100 time steps but the diffusion has T = 40"
    with pytest.raises(ValueError, match=message):
        d.p_losses(other, X)
    with pytest.raises(ValueError, match=message):
        d.p_sample_loop(other, (3, 2))
    with pytest.raises(ValueError, match=message):
        d.ddim_sample_loop(other, (3, 2), 5)
    with pytest.raises(ValueError, match=message):
        d._p_losses(other, X, torch.zeros(4, dtype=torch.long), torch.zeros_like(X))


def test_ddim_accepts_a_numpy_integer_number_of_sampling_steps(d):
    x_T = torch.randn(3, 2, generator=torch.Generator().manual_seed(0))
    a = d.ddim_sample_loop(zero_model, x_T.clone(), np.int64(5))
    b = d.ddim_sample_loop(zero_model, x_T.clone(), 5)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
