"""Tests of ``ddpm_lessons.checks``: the feedback the exercises print.

For every check: a correct solution written here independently of the package
passes (on several seeds and on fresh random inputs), and typical wrong answers
each get their own message.  The engine's handling of unfinished stubs,
exceptions, ``None``, NaN, wrong types and non-callables is tested on its own.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ddpm_lessons import checks
from ddpm_lessons.optimal import mean_distance as newton_mean_distance
from ddpm_lessons.spiral import T_MAX, T_MIN, spiral_curve, spiral_curve_derivatives

SEEDS = (0, 1, 2)


# =============================================================================
# Correct solutions, written as a learner would (no package formulas)
# =============================================================================
def sample_normal(mu, sigma, size, rng):
    return mu + sigma * rng.standard_normal(size)


def normal_pdf(x, mu, sigma):
    return np.exp(-(x - mu) ** 2 / (2 * sigma**2)) / np.sqrt(2 * np.pi * sigma**2)


def sum_of_normals(mu1, var1, mu2, var2):
    return mu1 + mu2, var1 + var2


def forward_step(x_prev, t, betas, noise):
    beta = float(betas[t - 1])
    return math.sqrt(1 - beta) * x_prev + math.sqrt(beta) * noise


def linear_schedule(T, beta_start=1e-4, beta_end=0.02):
    scale = 1000 / T
    return np.array([scale * (beta_start + (beta_end - beta_start) * k / (T - 1)) for k in range(T)])


def alphas_cumprod(betas):
    out, prod = [], 1.0
    for beta in betas:
        prod *= 1 - beta
        out.append(prod)
    return np.array(out)


def shortcut_coefficients(t, betas):
    abar = float(np.prod(1 - np.asarray(betas[:t])))
    return math.sqrt(abar), math.sqrt(1 - abar)


def q_sample(x0, t, betas, noise):
    a, b = shortcut_coefficients(t, betas)
    return a * x0 + b * noise


def iterate_forward(x0, t, betas, noises):
    x = x0
    for s in range(1, t + 1):
        x = forward_step(x, s, betas, noises[s - 1])
    return x


def posterior_mean_variance(x0, x_t, t, betas):
    abar = np.cumprod(1 - betas)
    abar_t, abar_prev, beta = abar[t - 1], (abar[t - 2] if t > 1 else 1.0), betas[t - 1]
    c1 = beta * math.sqrt(abar_prev) / (1 - abar_t)
    c2 = (1 - abar_prev) * math.sqrt(1 - beta) / (1 - abar_t)
    return c1 * x0 + c2 * x_t, beta * (1 - abar_prev) / (1 - abar_t)


def predict_x0(x_t, t, betas, eps):
    abar = float(np.cumprod(1 - betas)[t - 1])
    return (x_t - math.sqrt(1 - abar) * eps) / math.sqrt(abar)


def posterior_mean_from_noise(x_t, t, betas, eps):
    abar, beta = float(np.cumprod(1 - betas)[t - 1]), float(betas[t - 1])
    return (x_t - beta / math.sqrt(1 - abar) * eps) / math.sqrt(1 - beta)


def embedding_matrix(T, dim):
    M = np.zeros((dim, T))
    for t in range(1, T + 1):
        for r in range(0, dim, 2):
            angle = t / 10000 ** (r / (dim - 2))
            M[r, t - 1], M[r + 1, t - 1] = math.sin(angle), math.cos(angle)
    return M


def conditioned_layer(x, emb, w_x, b_x, w_t, b_t):
    return x @ w_x.T + b_x + emb @ w_t.T + b_t


def parameter_count(hidden, depth, data_dim):
    n, fan_in = 0, data_dim
    for _ in range(depth):
        n += fan_in * hidden + hidden + hidden * hidden + hidden
        fan_in = hidden
    return n + hidden * data_dim + data_dim


def simplified_loss(eps_pred, eps):
    return ((eps_pred - eps) ** 2).mean()


def training_loss(model, x0, t, betas, noise):
    abar = torch.tensor(np.cumprod(1 - betas), dtype=x0.dtype)[t - 1][:, None]
    x_t = abar.sqrt() * x0 + (1 - abar).sqrt() * noise
    return simplified_loss(model(x_t, t), noise)


def train_step(model, optimizer, x0, t, betas, noise):
    loss = training_loss(model, x0, t, betas, noise)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


@torch.no_grad()
def p_sample_step(model, x_t, t, betas, z):
    eps = model(x_t, torch.full((x_t.shape[0],), t))
    mean = posterior_mean_from_noise(x_t, t, betas, eps)
    if t == 1:
        return mean
    _, var = posterior_mean_variance(x_t, x_t, t, betas)
    return mean + math.sqrt(var) * z


def distance_derivatives(q, t):
    p, (d1, d2) = spiral_curve(t), spiral_curve_derivatives(t)
    r = p - q
    return 2 * (d1 * r).sum(-1), 2 * ((d1 * d1).sum(-1) + (d2 * r).sum(-1))


def newton_step(q, t):
    slope, curvature = distance_derivatives(q, t)
    return t - slope / curvature


def mean_distance(points, curve):
    d = np.linalg.norm(points[:, None, :] - curve[None, :, :], axis=-1)
    return float(d.min(axis=1).mean())


def coverage_ks(t_star, t_min, t_max):
    u = np.sort((np.asarray(t_star) - t_min) / (t_max - t_min))
    n = len(u)
    i = np.arange(1, n + 1)
    return float(max(np.max(i / n - u), np.max(u - (i - 1) / n)))


def curve_coverage(points, curve):
    d = np.linalg.norm(points[:, None, :] - curve[None, :, :], axis=-1)
    return coverage_ks(d.argmin(axis=1) / (len(curve) - 1), 0.0, 1.0)


def make_moons(n, rng):
    n1 = n // 2
    a, b = rng.uniform(0, np.pi, n1), rng.uniform(0, np.pi, n - n1)
    pts = np.concatenate([np.stack([np.cos(a), np.sin(a)], 1),
                          np.stack([1 - np.cos(b), 0.5 - np.sin(b)], 1)])
    return (2 * (pts - np.array([-1.0, -0.5])) / 3.0 - 1).astype(np.float32)


CORRECT = {
    "sample_normal": sample_normal, "normal_pdf": normal_pdf, "sum_of_normals": sum_of_normals,
    "forward_step": forward_step, "linear_schedule": linear_schedule, "alphas_cumprod": alphas_cumprod,
    "shortcut_coefficients": shortcut_coefficients, "q_sample": q_sample,
    "iterate_forward": iterate_forward, "posterior_mean_variance": posterior_mean_variance,
    "predict_x0": predict_x0, "posterior_mean_from_noise": posterior_mean_from_noise,
    "embedding_matrix": embedding_matrix, "conditioned_layer": conditioned_layer,
    "parameter_count": parameter_count, "simplified_loss": simplified_loss,
    "training_loss": training_loss, "train_step": train_step, "p_sample_step": p_sample_step,
    "distance_derivatives": distance_derivatives, "newton_step": newton_step,
    "mean_distance": mean_distance, "coverage_ks": coverage_ks, "curve_coverage": curve_coverage,
}


def run(name, fn, seed=None):
    return getattr(checks, f"check_{name}")(fn, seed=seed)


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


# =============================================================================
# Correct answers pass
# =============================================================================
@pytest.mark.parametrize("name", sorted(CORRECT))
@pytest.mark.parametrize("seed", SEEDS + (None,))
def test_correct_solution_passes(name, seed, capsys):
    assert run(name, CORRECT[name], seed) is True
    out = capsys.readouterr().out
    assert out.startswith("✅ ") and "correct on" in out and out.count("\n") == 1


def test_the_reference_itself_passes(capsys):
    """Each exercise's own reference (built from the package) passes its check."""
    exercises = [v for v in vars(checks).values() if isinstance(v, checks.Exercise)]
    assert len(exercises) == len(CORRECT)
    for exercise in exercises:
        if exercise.call is None:  # the training step's check also inspects the model afterwards
            assert checks.run_check(exercise, exercise.reference, seed=0) is True, exercise.name
    assert capsys.readouterr().out.count("✅") == len(exercises) - 1


def test_an_error_inside_the_package_is_not_shown_as_the_learners_line(capsys):
    from ddpm_lessons.diffusion import GaussianDiffusion

    def uses_package(x_prev, t, betas, noise):
        return GaussianDiffusion(betas).q_step(x_prev, t + 100, noise)

    assert checks.check_forward_step(uses_package, seed=0) is False
    out = capsys.readouterr().out
    assert "ValueError: t must be in 1.." in out
    assert "in your line `return GaussianDiffusion(betas).q_step(x_prev, t + 100, noise)`" in out


def test_every_check_has_a_correct_solution_here():
    names = {n[len("check_"):] for n in checks.__all__ if n.startswith("check_")}
    assert names - {"pattern_data", "pattern_curve"} == set(CORRECT)


def test_pattern_data_correct(capsys):
    for seed in SEEDS + (None,):
        assert checks.check_pattern_data(make_moons, "moons", seed=seed) is True
    assert "✅ moons data" in capsys.readouterr().out


def test_checks_use_fresh_inputs_without_seed():
    """Without a seed, two runs see different inputs."""
    seen = []

    def spy(x, mu, sigma):
        seen.append(float(mu))
        return normal_pdf(x, mu, sigma)

    checks.check_normal_pdf(spy)
    checks.check_normal_pdf(spy)
    assert len(seen) == 8 and len(set(seen)) == 8


def test_checks_do_not_touch_global_torch_rng():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    checks.check_training_loss(training_loss, seed=0)
    checks.check_p_sample_step(p_sample_step, seed=0)
    assert torch.equal(torch.rand(3), expected)


# =============================================================================
# Wrong answers get their specific message
# =============================================================================
def _np(x):
    return np.asarray(x)


def _abar(betas):
    return np.cumprod(1 - np.asarray(betas))


WRONG: list[tuple[str, str, object, str]] = [
    # ---- chapter 1 -----------------------------------------------------------
    ("sample_normal", "variance", lambda m, s, size, rng: m + s**2 * rng.standard_normal(size), "σ², the variance"),
    ("sample_normal", "sqrt sigma", lambda m, s, size, rng: m + np.sqrt(s) * rng.standard_normal(size), "√σ"),
    ("sample_normal", "no mean", lambda m, s, size, rng: s * rng.standard_normal(size), "the mean is missing"),
    ("sample_normal", "unscaled", lambda m, s, size, rng: m + rng.standard_normal(size), "z is not scaled"),
    ("sample_normal", "swapped", lambda m, s, size, rng: s + m * rng.standard_normal(size), "swapped"),
    ("sample_normal", "scales mean", lambda m, s, size, rng: s * (m + rng.standard_normal(size)), "also scales the mean"),
    ("sample_normal", "global rng", lambda m, s, size, rng: np.random.default_rng(99).normal(m, s, size),
     "right mean and spread"),
    ("sample_normal", "list", lambda m, s, size, rng: list(m + s * rng.standard_normal(size)),
     "returned a list where a numpy array was expected"),
    ("normal_pdf", "no sqrt", lambda x, m, s: np.exp(-(x - m) ** 2 / (2 * s**2)) / (2 * np.pi * s**2),
     "lacks its square root"),
    ("normal_pdf", "no constant", lambda x, m, s: np.exp(-(x - m) ** 2 / (2 * s**2)), "is missing"),
    ("normal_pdf", "sigma in exponent", lambda x, m, s: np.exp(-(x - m) ** 2 / (2 * s)) / np.sqrt(2 * np.pi * s**2),
     "not by 2σ"),
    ("normal_pdf", "no half", lambda x, m, s: np.exp(-(x - m) ** 2 / s**2) / np.sqrt(2 * np.pi * s**2),
     "factor 1/2"),
    ("normal_pdf", "positive exponent", lambda x, m, s: np.exp((x - m) ** 2 / (2 * s**2)) / np.sqrt(2 * np.pi * s**2),
     "must be negative"),
    ("normal_pdf", "x plus mu", lambda x, m, s: np.exp(-(x + m) ** 2 / (2 * s**2)) / np.sqrt(2 * np.pi * s**2),
     "not (x + μ)"),
    ("normal_pdf", "sigma squared", lambda x, m, s: np.exp(-(x - m) ** 2 / (2 * s**2)) / (np.sqrt(2 * np.pi) * s**2),
     "σ² √(2π)"),
    ("normal_pdf", "factor 2", lambda x, m, s: 2 * normal_pdf(x, m, s), "constant factor: your values are 2 ×"),
    ("normal_pdf", "tensor", lambda x, m, s: torch.as_tensor(normal_pdf(x, m, s)),
     "torch.Tensor where a numpy array was expected"),
    ("sum_of_normals", "std", lambda m1, v1, m2, v2: (m1 + m2, math.sqrt(v1 + v2)), "standard deviation √(var1 + var2)"),
    ("sum_of_normals", "add stds", lambda m1, v1, m2, v2: (m1 + m2, math.sqrt(v1) + math.sqrt(v2)),
     "you added the standard deviations"),
    ("sum_of_normals", "average", lambda m1, v1, m2, v2: ((m1 + m2) / 2, (v1 + v2) / 2), "you averaged"),
    ("sum_of_normals", "multiply", lambda m1, v1, m2, v2: (m1 + m2, v1 * v2), "do not multiply"),
    ("sum_of_normals", "order", lambda m1, v1, m2, v2: (v1 + v2, m1 + m2), "wrong order"),
    ("sum_of_normals", "difference", lambda m1, v1, m2, v2: (m1 - m2, v1 + v2), "the means add"),
    ("sum_of_normals", "one value", lambda m1, v1, m2, v2: m1 + m2, "expected a tuple of 2 values"),
    ("sum_of_normals", "three values", lambda m1, v1, m2, v2: (m1 + m2, v1 + v2, 0.0), "expected 2 values"),
    ("sum_of_normals", "variance x2", lambda m1, v1, m2, v2: (m1 + m2, 2 * (v1 + v2)),
     "the mean is right; the variance: off by a constant factor"),
    # ---- chapter 2 -----------------------------------------------------------
    ("forward_step", "noise beta", lambda x, t, b, n: math.sqrt(1 - b[t - 1]) * x + b[t - 1] * n,
     "scale it by the standard deviation √(β_t)"),
    ("forward_step", "signal 1-beta", lambda x, t, b, n: (1 - b[t - 1]) * x + math.sqrt(b[t - 1]) * n,
     "x_prev is scaled by 1 - β_t"),
    ("forward_step", "no sqrt", lambda x, t, b, n: (1 - b[t - 1]) * x + b[t - 1] * n, "both coefficients need"),
    ("forward_step", "swapped", lambda x, t, b, n: math.sqrt(b[t - 1]) * x + math.sqrt(1 - b[t - 1]) * n,
     "coefficients are swapped"),
    ("forward_step", "no noise", lambda x, t, b, n: math.sqrt(1 - b[t - 1]) * x, "no noise was added"),
    ("forward_step", "no shrink", lambda x, t, b, n: x + math.sqrt(b[t - 1]) * n, "must be shrunk"),
    ("forward_step", "t+1", lambda x, t, b, n: math.sqrt(1 - b[t]) * x + math.sqrt(b[t]) * n, "β_{t+1}"),
    ("forward_step", "t-1", lambda x, t, b, n: math.sqrt(1 - b[t - 2]) * x + math.sqrt(b[t - 2]) * n,
     "values of step t - 1"),
    ("forward_step", "numpy", lambda x, t, b, n: forward_step(x, t, b, n).numpy(),
     "numpy.ndarray where a torch.Tensor was expected"),
    ("forward_step", "float64", lambda x, t, b, n: torch.as_tensor(np.sqrt(1 - b))[t - 1:t] * x
     + torch.as_tensor(np.sqrt(b))[t - 1:t] * n, "dtype torch.float64, expected torch.float32"),
    ("forward_step", "returns None", lambda x, t, b, n: None, "returned None"),
    ("linear_schedule", "no rescale", lambda T, s, e: np.linspace(s, e, T), "1000/T rescaling"),
    ("linear_schedule", "inverted", lambda T, s, e: np.linspace(s, e, T) * T / 1000, "T / 1000"),
    ("linear_schedule", "T+1 values", lambda T, s, e: np.linspace(s, e, T + 1) * 1000 / T, "T + 1 values"),
    ("linear_schedule", "late start", lambda T, s, e: np.linspace(s, e, T + 1)[1:] * 1000 / T, "starts one step late"),
    ("linear_schedule", "no endpoint", lambda T, s, e: np.arange(T) * (e - s) / T * 1000 / T + s * 1000 / T,
     "stops one step short"),
    ("linear_schedule", "reversed", lambda T, s, e: np.linspace(e, s, T) * 1000 / T, "runs backwards"),
    ("linear_schedule", "end only", lambda T, s, e: np.linspace(s, e * 1000 / T, T), "only beta_end"),
    ("linear_schedule", "list", lambda T, s, e: list(linear_schedule(T, s, e)), "returned a list"),
    ("alphas_cumprod", "betas", lambda b: np.cumprod(b), "you multiplied the β's"),
    ("alphas_cumprod", "prod", lambda b: np.prod(1 - b), "you returned one number"),
    ("alphas_cumprod", "shifted", lambda b: np.concatenate([[1.0], np.cumprod(1 - b)[:-1]]), "shifted by one step"),
    ("alphas_cumprod", "first order", lambda b: 1 - np.cumsum(b), "first-order approximation"),
    ("alphas_cumprod", "sqrt", lambda b: np.sqrt(np.cumprod(1 - b)), "that is √ᾱ_t"),
    ("alphas_cumprod", "1 - prod betas", lambda b: 1 - np.cumprod(b), "1 - (product of the β's)"),
    ("alphas_cumprod", "backwards", lambda b: np.cumprod((1 - b)[::-1]), "from the last step backwards"),
    # ---- chapter 3 -----------------------------------------------------------
    ("shortcut_coefficients", "no sqrt", lambda t, b: (_abar(b)[t - 1], 1 - _abar(b)[t - 1]),
     "both values need a square root"),
    ("shortcut_coefficients", "1 - sqrt", lambda t, b: (math.sqrt(_abar(b)[t - 1]), 1 - math.sqrt(_abar(b)[t - 1])),
     "is not 1 - √(ᾱ_t)"),
    ("shortcut_coefficients", "one step", lambda t, b: (math.sqrt(1 - b[t - 1]), math.sqrt(b[t - 1])),
     "one-step coefficients"),
    ("shortcut_coefficients", "swapped", lambda t, b: (math.sqrt(1 - _abar(b)[t - 1]), math.sqrt(_abar(b)[t - 1])),
     "swapped"),
    ("shortcut_coefficients", "t+1", lambda t, b: (math.sqrt(_abar(b)[t]), math.sqrt(1 - _abar(b)[t])), "ᾱ_{t+1}"),
    ("shortcut_coefficients", "t-1", lambda t, b: (math.sqrt(_abar(b)[t - 2]), math.sqrt(1 - _abar(b)[t - 2])),
     "values of step t - 1"),
    ("shortcut_coefficients", "noise only wrong", lambda t, b: (math.sqrt(_abar(b)[t - 1]), 1 - _abar(b)[t - 1]),
     "√ᾱ_t is right; √(1 - ᾱ_t): your values are the squares"),
    ("q_sample", "no sqrt", lambda x, t, b, n: _abar(b)[t - 1] * x + (1 - _abar(b)[t - 1]) * n,
     "both coefficients need a square root"),
    ("q_sample", "one step", lambda x, t, b, n: forward_step(x, t, b, n), "one-step coefficients"),
    ("q_sample", "swapped", lambda x, t, b, n: math.sqrt(1 - _abar(b)[t - 1]) * x + math.sqrt(_abar(b)[t - 1]) * n,
     "swapped"),
    ("q_sample", "unscaled x0", lambda x, t, b, n: x + math.sqrt(1 - _abar(b)[t - 1]) * n, "signal fades"),
    ("q_sample", "t+1", lambda x, t, b, n: math.sqrt(_abar(b)[t]) * x + math.sqrt(1 - _abar(b)[t]) * n, "ᾱ_{t+1}"),
    ("q_sample", "noise variance", lambda x, t, b, n: math.sqrt(_abar(b)[t - 1]) * x + (1 - _abar(b)[t - 1]) * n,
     "scale it by √(1 - ᾱ_t)"),
    ("q_sample", "numpy", lambda x, t, b, n: q_sample(x, t, b, n).numpy(), "where a torch.Tensor was expected"),
    ("iterate_forward", "t-1 steps", lambda x0, t, b, ns: iterate_forward(x0, t - 1, b, ns), "t - 1 steps"),
    ("iterate_forward", "t+1 steps", lambda x0, t, b, ns: iterate_forward(x0, t + 1, b, ns), "t + 1 steps"),
    ("iterate_forward", "same noise", lambda x0, t, b, ns: _loop(x0, t, b, lambda s: ns[0]), "the same noise"),
    ("iterate_forward", "shortcut", lambda x0, t, b, ns: q_sample(x0, t, b, ns[0]), "that is the shortcut"),
    ("iterate_forward", "restart", lambda x0, t, b, ns: forward_step(x0, t, b, ns[t - 1]), "previous step"),
    ("iterate_forward", "noise index", lambda x0, t, b, ns: _loop(x0, t, b, lambda s: ns[s]), "noise index"),
    ("iterate_forward", "backwards", lambda x0, t, b, ns: _loop(x0, t, b, lambda s: ns[s - 1], reverse=True),
     "steps run backwards"),
    # ---- chapter 4 -----------------------------------------------------------
    ("posterior_mean_variance", "swapped", lambda x0, xt, t, b: _post(x0, xt, t, b, swap=True), "are swapped"),
    ("posterior_mean_variance", "beta variance", lambda x0, xt, t, b: (_post(x0, xt, t, b)[0], float(b[t - 1])),
     "the variance is β̃_t"),
    ("posterior_mean_variance", "no sqrt abar", lambda x0, xt, t, b: _post(x0, xt, t, b, sqrt_prev=False),
     "needs √(ᾱ_{t-1})"),
    ("posterior_mean_variance", "no sqrt alpha", lambda x0, xt, t, b: _post(x0, xt, t, b, sqrt_alpha=False),
     "needs √(α_t)"),
    ("posterior_mean_variance", "abar_t", lambda x0, xt, t, b: _post(x0, xt, t, b, prev=lambda a, t: a[t - 1]),
     "you used ᾱ_t where"),
    ("posterior_mean_variance", "wraps at t=1", lambda x0, xt, t, b: _post(x0, xt, t, b, prev=lambda a, t: a[t - 2]),
     "wrong at t = 1 only"),
    ("posterior_mean_variance", "t+1", lambda x0, xt, t, b: _post(x0, xt, t + 1, b), "β_{t+1}"),
    ("posterior_mean_variance", "three values", lambda x0, xt, t, b: _post(x0, xt, t, b) + (0.0,),
     "expected 2 values (the mean, the variance), got 3"),
    ("posterior_mean_variance", "tensor variance",
     lambda x0, xt, t, b: (_post(x0, xt, t, b)[0], torch.full_like(xt, _post(x0, xt, t, b)[1])),
     "the variance: expected a single number"),
    ("predict_x0", "no sqrt", lambda xt, t, b, e: (xt - (1 - _abar(b)[t - 1]) * e) / _abar(b)[t - 1],
     "missing square roots"),
    ("predict_x0", "plus", lambda xt, t, b, e: (xt + math.sqrt(1 - _abar(b)[t - 1]) * e) / math.sqrt(_abar(b)[t - 1]),
     "subtract the noise"),
    ("predict_x0", "multiply", lambda xt, t, b, e: (xt - math.sqrt(1 - _abar(b)[t - 1]) * e) * math.sqrt(_abar(b)[t - 1]),
     "you multiplied by √(ᾱ_t)"),
    ("predict_x0", "no divide", lambda xt, t, b, e: xt - math.sqrt(1 - _abar(b)[t - 1]) * e, "division by √(ᾱ_t) is missing"),
    ("predict_x0", "one step", lambda xt, t, b, e: (xt - math.sqrt(b[t - 1]) * e) / math.sqrt(1 - b[t - 1]),
     "one-step coefficients"),
    ("predict_x0", "t-1", lambda xt, t, b, e: (xt - math.sqrt(1 - _abar(b)[t - 2]) * e) / math.sqrt(_abar(b)[t - 2]),
     "values of step t - 1"),
    ("posterior_mean_from_noise", "no sqrt", lambda xt, t, b, e: (xt - b[t - 1] / (1 - _abar(b)[t - 1]) * e)
     / math.sqrt(1 - b[t - 1]), "you divided by 1 - ᾱ_t"),
    ("posterior_mean_from_noise", "alpha", lambda xt, t, b, e: (xt - b[t - 1] / math.sqrt(1 - _abar(b)[t - 1]) * e)
     / (1 - b[t - 1]), "not by α_t"),
    ("posterior_mean_from_noise", "no divide", lambda xt, t, b, e: xt - b[t - 1] / math.sqrt(1 - _abar(b)[t - 1]) * e,
     "division by √(α_t)"),
    ("posterior_mean_from_noise", "abar divide", lambda xt, t, b, e: (xt - b[t - 1] / math.sqrt(1 - _abar(b)[t - 1]) * e)
     / math.sqrt(_abar(b)[t - 1]), "not by √(ᾱ_t)"),
    ("posterior_mean_from_noise", "x0 coef", lambda xt, t, b, e: (xt - math.sqrt(1 - _abar(b)[t - 1]) * e)
     / math.sqrt(1 - b[t - 1]), "a different formula"),
    ("posterior_mean_from_noise", "plus", lambda xt, t, b, e: (xt + b[t - 1] / math.sqrt(1 - _abar(b)[t - 1]) * e)
     / math.sqrt(1 - b[t - 1]), "subtract the predicted noise"),
    ("posterior_mean_from_noise", "t+1", lambda xt, t, b, e: (xt - b[t] / math.sqrt(1 - _abar(b)[t]) * e)
     / math.sqrt(1 - b[t]), "β_{t+1}"),
    # ---- chapter 5 -----------------------------------------------------------
    ("embedding_matrix", "transposed", lambda T, d: embedding_matrix(T, d).T, "transposed"),
    ("embedding_matrix", "t from 0", lambda T, d: _emb(T, d, times=np.arange(T)), "yours embeds t - 1"),
    ("embedding_matrix", "r/dim", lambda T, d: _emb(T, d, power=lambda r, d: r / d), "you divided by dim"),
    ("embedding_matrix", "pair index", lambda T, d: _emb(T, d, power=lambda r, d: (r // 2) / (d - 2)),
     "not the pair index"),
    ("embedding_matrix", "sin cos swapped", lambda T, d: _emb(T, d, swap=True), "sin and cos are swapped"),
    ("embedding_matrix", "stacked", lambda T, d: _emb(T, d, stacked=True), "interleaved"),
    ("embedding_matrix", "multiply", lambda T, d: _emb(T, d, multiply=True), "do not multiply"),
    ("conditioned_layer", "no biases", lambda x, e, wx, bx, wt, bt: x @ wx.T + e @ wt.T, "both biases are missing"),
    ("conditioned_layer", "no time", lambda x, e, wx, bx, wt, bt: x @ wx.T + bx, "time embedding is missing"),
    ("conditioned_layer", "product", lambda x, e, wx, bx, wt, bt: (x @ wx.T + bx) * (e @ wt.T + bt), "not multiplied"),
    ("conditioned_layer", "silu", lambda x, e, wx, bx, wt, bt: F.silu(conditioned_layer(x, e, wx, bx, wt, bt)),
     "activation (SiLU) comes after"),
    ("conditioned_layer", "time bias", lambda x, e, wx, bx, wt, bt: x @ wx.T + bx + e @ wt.T, "bias of the time part"),
    ("conditioned_layer", "no transpose", lambda x, e, wx, bx, wt, bt: x @ wx + bx + e @ wt + bt, "x @ W.T + b"),
    ("parameter_count", "no biases", lambda h, k, d: _pc(h, k, d, bias=0), "the biases are missing"),
    ("parameter_count", "no time", lambda h, k, d: _pc(h, k, d, time=False), "for the time embedding"),
    ("parameter_count", "no output", lambda h, k, d: _pc(h, k, d, output=False), "output layer"),
    ("parameter_count", "first hidden", lambda h, k, d: _pc(h, k, d, first=h), "first layer takes data_dim"),
    ("parameter_count", "depth+1", lambda h, k, d: _pc(h, k + 1, d), "one conditioned layer too many"),
    ("parameter_count", "depth-1", lambda h, k, d: _pc(h, k - 1, d), "one conditioned layer too few"),
    # ---- chapter 6 -----------------------------------------------------------
    ("simplified_loss", "sum", lambda p, e: ((p - e) ** 2).sum(), "you summed the squared errors"),
    ("simplified_loss", "norm", lambda p, e: ((p - e) ** 2).sum(1).mean(), "‖ε - ε_θ‖²"),
    ("simplified_loss", "l1", lambda p, e: (p - e).abs().mean(), "L1 loss"),
    ("simplified_loss", "rmse", lambda p, e: ((p - e) ** 2).mean().sqrt(), "square root too many"),
    ("simplified_loss", "square of mean", lambda p, e: (p - e).mean() ** 2, "square first, then average"),
    ("simplified_loss", "per point", lambda p, e: ((p - e) ** 2).mean(1), "one loss per point"),
    ("simplified_loss", "item", lambda p, e: ((p - e) ** 2).mean().item(), "not loss.item()"),
    ("simplified_loss", "detached", lambda p, e: ((p - e) ** 2).mean().detach(), "cut off from the computation graph"),
    ("training_loss", "x0 target", lambda m, x0, t, b, n: F.mse_loss(m(_xt(x0, t, b, n), t), x0), "not with x_0"),
    ("training_loss", "x0 input", lambda m, x0, t, b, n: F.mse_loss(m(x0, t), n), "not the clean x_0"),
    ("training_loss", "t-1 model", lambda m, x0, t, b, n: F.mse_loss(m(_xt(x0, t, b, n), t - 1), n), "not t - 1"),
    ("training_loss", "no sqrt", lambda m, x0, t, b, n: F.mse_loss(m(_xt(x0, t, b, n, root=False), t), n),
     "x_t needs the square roots"),
    ("training_loss", "sum", lambda m, x0, t, b, n: ((m(_xt(x0, t, b, n), t) - n) ** 2).sum(), "you summed"),
    ("training_loss", "index t", lambda m, x0, t, b, n: F.mse_loss(m(_xt(x0, t, b, n, shift=1), t), n),
     "off by one in the coefficients"),
    ("training_loss", "item", lambda m, x0, t, b, n: training_loss(m, x0, t, b, n).item(), "not loss.item()"),
    ("train_step", "no zero_grad", lambda m, o, x0, t, b, n: _step(m, o, x0, t, b, n, zero=False), "zero_grad() is missing"),
    ("train_step", "no step", lambda m, o, x0, t, b, n: _step(m, o, x0, t, b, n, step=False), "did not change"),
    ("train_step", "no backward", lambda m, o, x0, t, b, n: _step(m, o, x0, t, b, n, backward=False), "did not change"),
    ("train_step", "loss after", lambda m, o, x0, t, b, n: _step(m, o, x0, t, b, n) and
     training_loss(m, x0, t, b, n).item(), "loss after the step"),
    ("train_step", "returns None", lambda m, o, x0, t, b, n: (_step(m, o, x0, t, b, n), None)[1], "returned None"),
    ("train_step", "zero_grad late", lambda m, o, x0, t, b, n: _step(m, o, x0, t, b, n, zero_after_backward=True),
     "did not change"),
    ("p_sample_step", "beta variance", lambda m, x, t, b, z: _ps(m, x, t, b, z, sigma="beta"), "you used σ_t² = β_t"),
    ("p_sample_step", "variance as std", lambda m, x, t, b, z: _ps(m, x, t, b, z, sigma="var"),
     "scale it by the standard deviation"),
    ("p_sample_step", "no noise", lambda m, x, t, b, z: _ps(m, x, t, b, z, sigma="none"), "no noise was added"),
    ("p_sample_step", "no divide", lambda m, x, t, b, z: _ps(m, x, t, b, z, divide=False), "division is missing"),
    ("p_sample_step", "t-1 model", lambda m, x, t, b, z: _ps(m, x, t, b, z, model_t=-1), "not t - 1"),
    ("p_sample_step", "x0 hat", lambda m, x, t, b, z: predict_x0(x, t, b, m(x, torch.full((x.shape[0],), t))),
     "you returned the estimate x̂_0"),
    ("p_sample_step", "eps coef", lambda m, x, t, b, z: _ps(m, x, t, b, z, eps_root=False), "(4.9) (missing square root)"),
    # ---- chapter 7 -----------------------------------------------------------
    ("distance_derivatives", "no 2", lambda q, t: tuple(v / 2 for v in distance_derivatives(q, t)), "factor 2"),
    ("distance_derivatives", "q - p", lambda q, t: _dd(q, t, sign=-1), "the residual is p(t) - q"),
    ("distance_derivatives", "gauss newton", lambda q, t: _dd(q, t, accel=False), "Gauss–Newton"),
    ("distance_derivatives", "no speed", lambda q, t: _dd(q, t, speed=False), "lacks the term |p'(t)|²"),
    ("distance_derivatives", "D and D'", lambda q, t: (((spiral_curve(t) - q) ** 2).sum(-1),
                                                       distance_derivatives(q, t)[0]), "you returned (D, D')"),
    ("distance_derivatives", "order", lambda q, t: distance_derivatives(q, t)[::-1], "wrong order"),
    ("newton_step", "plus", lambda q, t: t + _ratio(q, t), "the wrong way"),
    ("newton_step", "root of D", lambda q, t: t - ((spiral_curve(t) - q) ** 2).sum(-1) / distance_derivatives(q, t)[0],
     "root of D itself"),
    ("newton_step", "inverted", lambda q, t: t - 1 / _ratio(q, t), "upside down"),
    ("newton_step", "gauss newton", lambda q, t: t - distance_derivatives(q, t)[0] / _dd(q, t, accel=False)[1],
     "Gauss–Newton"),
    ("newton_step", "gradient", lambda q, t: t - distance_derivatives(q, t)[0], "gradient-descent"),
    ("newton_step", "step only", lambda q, t: -_ratio(q, t), "return the new t"),
    ("mean_distance", "squared", lambda p, c: float((_pd(p, c) ** 2).min(1).mean()), "mean squared distance"),
    ("mean_distance", "rms", lambda p, c: float(np.sqrt((_pd(p, c) ** 2).min(1).mean())), "root-mean-square"),
    ("mean_distance", "wrong axis", lambda p, c: float(_pd(p, c).min(0).mean()), "over the wrong axis"),
    ("mean_distance", "no min", lambda p, c: float(_pd(p, c).mean()), "take the nearest curve point"),
    ("mean_distance", "sum", lambda p, c: float(_pd(p, c).min(1).sum()), "you summed"),
    ("mean_distance", "max", lambda p, c: float(_pd(p, c).min(1).max()), "largest nearest distance"),
    ("coverage_ks", "unsorted", lambda t, lo, hi: _ks(t, lo, hi, sort=False), "sort the values first"),
    ("coverage_ks", "raw t", lambda t, lo, hi: _ks(t, 0.0, 1.0), "not with t itself"),
    ("coverage_ks", "plus only", lambda t, lo, hi: _ks(t, lo, hi, sides="plus"), "also max of F - (i - 1)/n"),
    ("coverage_ks", "minus only", lambda t, lo, hi: _ks(t, lo, hi, sides="minus"), "also max of i/n - F"),
    ("coverage_ks", "abs rank", lambda t, lo, hi: _ks(t, lo, hi, sides="abs"), "misses the value just before"),
    ("coverage_ks", "array", lambda t, lo, hi: np.array([coverage_ks(t, lo, hi)]),
     "expected a single number, got a numpy.ndarray of shape (1,)"),
    # ---- chapter 8 -----------------------------------------------------------
    ("curve_coverage", "divide by m", lambda p, c: coverage_ks(_pd(p, c).argmin(1) / len(c), 0.0, 1.0), "k / (m - 1)"),
    ("curve_coverage", "distance", lambda p, c: coverage_ks(np.clip(_pd(p, c).min(1), 0, 1), 0.0, 1.0),
     "not at how far"),
]


# helpers for the wrong answers above ------------------------------------------
def _loop(x0, t, b, noise_of, reverse=False):
    x = x0
    for s in (range(t, 0, -1) if reverse else range(1, t + 1)):
        if s - 1 >= len(b):
            raise IndexError("index out of range")
        x = math.sqrt(1 - b[s - 1]) * x + math.sqrt(b[s - 1]) * noise_of(s)
    return x


def _post(x0, xt, t, b, swap=False, sqrt_prev=True, sqrt_alpha=True, prev=None):
    a = _abar(b)
    a_t = a[t - 1]
    a_prev = prev(a, t) if prev else (a[t - 2] if t > 1 else 1.0)
    beta = b[t - 1]
    c1 = beta * (math.sqrt(a_prev) if sqrt_prev else a_prev) / (1 - a_t)
    c2 = (1 - a_prev) * (math.sqrt(1 - beta) if sqrt_alpha else 1 - beta) / (1 - a_t)
    if swap:
        c1, c2 = c2, c1
    return c1 * x0 + c2 * xt, beta * (1 - a_prev) / (1 - a_t)


def _emb(T, d, times=None, power=None, swap=False, stacked=False, multiply=False):
    times = np.arange(1, T + 1) if times is None else times
    rows = np.arange(0, d, 2)
    p = rows / (d - 2) if power is None else power(rows, d)
    ang = np.outer(10000.0 ** (p if multiply else -p), times)
    s, c = (np.cos(ang), np.sin(ang)) if swap else (np.sin(ang), np.cos(ang))
    if stacked:
        return np.concatenate([s, c])
    M = np.empty((d, T))
    M[0::2], M[1::2] = s, c
    return M


def _pc(h, k, d, bias=1, time=True, output=True, first=None):
    if k < 1:
        return 0
    first = d if first is None else first
    n = first * h + bias * h + (k - 1) * (h * h + bias * h)
    n += k * (h * h + bias * h) if time else 0
    return n + ((h * d + bias * d) if output else 0)


def _xt(x0, t, b, n, root=True, shift=0):
    a = torch.tensor(_abar(b), dtype=x0.dtype)[t - 1 + shift][:, None]
    return (a.sqrt() * x0 + (1 - a).sqrt() * n) if root else (a * x0 + (1 - a) * n)


def _step(m, o, x0, t, b, n, zero=True, step=True, backward=True, zero_after_backward=False):
    loss = training_loss(m, x0, t, b, n)
    if zero and not zero_after_backward:
        o.zero_grad()
    if backward:
        loss.backward()
    if zero_after_backward:
        o.zero_grad()
    if step:
        o.step()
    return loss.item()


@torch.no_grad()
def _ps(m, x, t, b, z, sigma="tilde", divide=True, model_t=0, eps_root=True):
    a, beta = _abar(b), float(b[t - 1])
    a_t, a_prev = a[t - 1], (a[t - 2] if t > 1 else 1.0)
    eps = m(x, torch.full((x.shape[0],), t + model_t))
    coef = beta / (math.sqrt(1 - a_t) if eps_root else 1 - a_t)
    mean = (x - coef * eps) / (math.sqrt(1 - beta) if divide else 1.0)
    var = beta * (1 - a_prev) / (1 - a_t)
    std = {"tilde": math.sqrt(var), "beta": math.sqrt(beta), "var": var, "none": 0.0}[sigma]
    return mean if t == 1 else mean + std * z


def _dd(q, t, sign=1, speed=True, accel=True):
    p, (d1, d2) = spiral_curve(t), spiral_curve_derivatives(t)
    r = sign * (p - q)
    return 2 * (d1 * r).sum(-1), 2 * ((d1 * d1).sum(-1) * speed + (d2 * r).sum(-1) * accel)


def _ratio(q, t):
    slope, curvature = distance_derivatives(q, t)
    return slope / curvature


def _pd(p, c):
    return np.linalg.norm(p[:, None, :] - c[None, :, :], axis=-1)


def _ks(t, lo, hi, sort=True, sides="both"):
    u = (np.asarray(t) - lo) / (hi - lo)
    u = np.sort(u) if sort else u
    n = len(u)
    i = np.arange(1, n + 1)
    plus, minus = np.max(i / n - u), np.max(u - (i - 1) / n)
    return float({"both": max(plus, minus), "plus": plus, "minus": minus,
                  "abs": np.max(np.abs(i / n - u))}[sides])


@pytest.mark.parametrize("name,label,wrong,message", WRONG, ids=[f"{n}-{lab}" for n, lab, _, _ in WRONG])
def test_wrong_answer_gets_its_message(name, label, wrong, message, capsys):
    for seed in SEEDS:
        assert run(name, wrong, seed) is False
        out = capsys.readouterr().out
        assert out.startswith("❌ "), out
        assert message in out, f"seed {seed}: {out}"


def test_at_least_five_wrong_answers_per_check():
    counts: dict[str, int] = {}
    for name, *_ in WRONG:
        counts[name] = counts.get(name, 0) + 1
    too_few = {n: c for n, c in counts.items() if c < 5 and n != "curve_coverage"}
    assert not too_few and set(counts) == set(CORRECT)


def test_wrong_answers_never_print_a_traceback(capsys):
    for name, _, wrong, _ in WRONG:
        run(name, wrong, 0)
    out = capsys.readouterr().out
    assert "Traceback" not in out and 'File "' not in out


# =============================================================================
# The engine: unfinished stubs, exceptions, None, NaN, types
# =============================================================================
def _stub(*args):
    raise NotImplementedError("Write the forward step here.")


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_untouched_stub_is_not_done_yet(name, capsys):
    assert run(name, _stub) is False
    out = capsys.readouterr().out
    assert out.startswith("⏳ not done yet: ") and "NotImplementedError" in out


def test_pattern_data_stub_and_errors(capsys):
    assert checks.check_pattern_data(_stub, "moons") is False
    assert "⏳ not done yet: moons data" in capsys.readouterr().out

    def drops_one(n, rng):
        return make_moons(2 * (n // 2), rng)

    def raw(n, rng):
        return 3 * make_moons(n, rng)

    def small(n, rng):
        return 0.5 * make_moons(n, rng)

    def global_rng(n, rng):
        return make_moons(n, np.random.default_rng())

    def fixed(n, rng):
        return make_moons(n, np.random.default_rng(0))

    def as_list(n, rng):
        return make_moons(n, rng).tolist()

    def flat(n, rng):
        out = make_moons(n, rng)
        out[:, 1] = 0.0
        return out

    expected = {drops_one: "give the remainder", raw: "must lie in [-1, 1]", small: "fills [-1, 1]",
                global_rng: "same seed gave different points", fixed: "different seeds gave the same",
                as_list: "returned a list", flat: "hardly vary"}
    for fn, message in expected.items():
        assert checks.check_pattern_data(fn, "moons", seed=0) is False
        out = capsys.readouterr().out
        assert out.startswith("❌ moons data: ") and message in out, out


def moons_curve(m, first_share=0.5):
    k = int(first_share * m)
    a, b = np.linspace(0, np.pi, k), np.linspace(0, np.pi, m - k)
    pts = np.concatenate([np.stack([np.cos(a), np.sin(a)], 1), np.stack([1 - np.cos(b), 0.5 - np.sin(b)], 1)])
    return 2 * (pts - np.array([-1.0, -0.5])) / 3.0 - 1


def test_pattern_curve(capsys):
    for seed in SEEDS + (None,):
        assert checks.check_pattern_curve(make_moons, moons_curve, "moons", seed=seed) is True
    assert capsys.readouterr().out.startswith("✅ moons curve: the data lie on it and cover it evenly")

    assert checks.check_pattern_curve(make_moons, _stub, "moons") is False
    assert "⏳ not done yet: moons curve" in capsys.readouterr().out

    def top_heavy(m):  # two thirds of the curve points on the first arc
        return moons_curve(m, first_share=2 / 3)

    def unnormalised(m):
        return 1.5 * moons_curve(m)

    def even_only(m):
        return moons_curve(2 * (m // 2))

    def as_list(m):
        return moons_curve(m).tolist()

    expected = {top_heavy: "cover the curve unevenly", unnormalised: "do not lie on the curve",
                even_only: "give the remainder of m", as_list: "expected a numpy array of shape"}
    for fn, message in expected.items():
        assert checks.check_pattern_curve(make_moons, fn, "moons", seed=0) is False
        out = capsys.readouterr().out
        assert out.startswith("❌ moons curve: ") and message in out, out


def test_exception_is_reported_briefly_with_the_learners_line(capsys):
    def broken(x_prev, t, betas, noise):
        return x_prev * undefined_name  # noqa: F821

    assert checks.check_forward_step(broken, seed=0) is False
    out = capsys.readouterr().out
    assert out.startswith("❌ forward step: your function raised NameError: name 'undefined_name' is not defined")
    assert "in your line `return x_prev * undefined_name" in out
    assert "Traceback" not in out and out.count("\n") == 1


def test_error_hint_for_index_errors(capsys):
    def zero_based(x_prev, t, betas, noise):
        beta = float(betas[t])  # IndexError at t = T
        return math.sqrt(1 - beta) * x_prev + math.sqrt(beta) * noise

    assert checks.check_forward_step(zero_based, seed=0) is False
    out = capsys.readouterr().out
    # The other cases identify the mistake; the failing case is named too.
    assert "β_{t+1}" in out and "It also fails: your function raised IndexError" in out and "IndexError" in out


def test_error_hint_for_shape_errors(capsys):
    def untransposed(x, e, wx, bx, wt, bt):
        return x @ wx + bx + e @ wt + bt

    checks.check_conditioned_layer(untransposed, seed=0)
    out = capsys.readouterr().out
    assert "RuntimeError" in out and "Hint: a weight of shape (out, in)" in out


def test_none_nan_and_non_callable(capsys):
    assert checks.check_q_sample(lambda x, t, b, n: None, seed=0) is False
    assert "returned None. Did you forget the `return` statement?" in capsys.readouterr().out

    assert checks.check_q_sample(lambda x, t, b, n: q_sample(x, t, b, n) * float("nan"), seed=0) is False
    out = capsys.readouterr().out
    assert "contains NaN" in out and "square root or log of a negative number" in out

    with np.errstate(over="ignore"):
        assert checks.check_normal_pdf(lambda x, m, s: np.exp((x - m) ** 2 * 1e4), seed=0) is False
    assert "infinite values" in capsys.readouterr().out

    assert checks.check_q_sample(q_sample(torch.zeros(2, 2), 1, np.array([0.1]), torch.zeros(2, 2)), seed=0) is False
    assert "expected a function, got a torch.Tensor" in capsys.readouterr().out


def test_keyboard_interrupt_is_not_swallowed():
    def interrupted(*args):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        checks.check_normal_pdf(interrupted)


def test_generic_diagnoses(capsys):
    # sign flip
    assert checks.check_q_sample(lambda x, t, b, n: -q_sample(x, t, b, n), seed=0) is False
    assert "the sign is flipped" in capsys.readouterr().out
    # a constant factor that is not one of the known mistakes
    assert checks.check_alphas_cumprod(lambda b: 0.5 * alphas_cumprod(b), seed=0) is False
    assert "constant factor: your values are 0.5 ×" in capsys.readouterr().out
    # a factor that changes from case to case
    assert checks.check_q_sample(lambda x, t, b, n: (1 + t / 100) * q_sample(x, t, b, n), seed=0) is False
    assert "factor changes with the inputs" in capsys.readouterr().out
    # squares and square roots
    assert checks.check_alphas_cumprod(lambda b: alphas_cumprod(b) ** 2, seed=0) is False
    assert "squares of the expected ones" in capsys.readouterr().out
    # wrong shape, with the transposed diagnosis
    assert checks.check_q_sample(lambda x, t, b, n: q_sample(x, t, b, n)[:, :1], seed=0) is False
    assert "wrong shape: expected (" in capsys.readouterr().out
    # only an edge case wrong
    assert checks.check_forward_step(lambda x, t, b, n: forward_step(x, t, b, n) if t > 1 else x, seed=0) is False
    out = capsys.readouterr().out
    assert "correct on 4 of 5 cases, but wrong for t=1" in out
    # plain wrong values show expected and received numbers
    assert checks.check_normal_pdf(lambda x, m, s: np.cos(x), seed=0) is False
    out = capsys.readouterr().out
    assert "wrong values. For mu=" in out and "expected [" in out and "got [" in out


def test_learner_inputs_are_private_copies(capsys):
    """A function that changes its inputs in place does not change the reference's inputs."""
    def in_place(x_prev, t, betas, noise):
        beta = float(betas[t - 1])
        betas[:] = 0.5
        return x_prev.mul_(math.sqrt(1 - beta)).add_(math.sqrt(beta) * noise)

    assert checks.check_forward_step(in_place, seed=0) is True
    capsys.readouterr()


def test_reference_mean_distance_matches_newton_solution():
    """The dense nearest-point distance converges to the exact (Newton) one as the curve gets denser."""
    points = np.random.default_rng(3).uniform(-1, 1, size=(300, 2))
    exact = newton_mean_distance(points)
    curve = spiral_curve(np.linspace(T_MIN, T_MAX, 20_000))
    dense = checks.reference_mean_distance(points, curve)
    assert dense >= exact - 1e-12
    assert dense - exact < 1e-5


def test_reference_curve_coverage_of_uniform_points_is_small():
    rng = np.random.default_rng(4)
    s = np.linspace(0, 1, 1001)
    curve = np.stack([np.cos(np.pi * s), np.sin(np.pi * s)], axis=1)
    u = rng.uniform(size=2000)
    on_curve = np.stack([np.cos(np.pi * u), np.sin(np.pi * u)], axis=1)
    # KS of 2000 uniform values: below the 5 % critical value 1.358/√n ≈ 0.030.
    assert checks.reference_curve_coverage(on_curve, curve) < 0.0304
    # All the points on one half of the curve: KS = 0.5.
    half = on_curve[u < 0.5]
    assert checks.reference_curve_coverage(half, curve) == pytest.approx(0.5, abs=0.01)
