"""Chapters 2-4 and 6: forward process, posterior, reverse sampling and the loss.

Formulas are checked against Monte Carlo, Bayes' theorem on a grid, regression,
an oracle denoiser and coefficients recomputed here from the β's.
"""
from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import Z_TOL, OracleModel, cumprod_by_hand, ks_two_sample
from ddpm_lessons.diffusion import GaussianDiffusion
from ddpm_lessons.schedules import linear_beta_schedule

N_MC = 200_000


def coefficients(betas, t: int) -> dict[str, float]:
    """β_t, α_t, ᾱ_t, ᾱ_{t-1} and the posterior quantities eq. (4.5)-(4.6), recomputed with math."""
    abar = cumprod_by_hand(betas)
    beta = float(betas[t - 1])
    a, a_prev = abar[t - 1], (abar[t - 2] if t > 1 else 1.0)
    return {
        "beta": beta, "alpha": 1 - beta, "abar": a, "abar_prev": a_prev,
        "coef_x0": beta * math.sqrt(a_prev) / (1 - a),
        "coef_xt": (1 - a_prev) * math.sqrt(1 - beta) / (1 - a),
        "post_var": beta * (1 - a_prev) / (1 - a),
    }


class ConstantModel:
    """ε_θ(x, t) = a constant (zeros by default)."""

    def __init__(self, value: float = 0.0) -> None:
        self.value = value

    def __call__(self, x, t):
        return torch.full_like(x, self.value)


class AffineModel:
    """A fixed, non-trivial deterministic "noise predictor" ε_θ(x, t) = 0.3 x + 0.01 t - 0.2."""

    def __call__(self, x, t):
        return 0.3 * x + 0.01 * t.to(x.dtype)[:, None] - 0.2


def repeated(point, n=N_MC, dtype=torch.float64):
    return torch.tensor(point, dtype=dtype).expand(n, len(point)).clone()


def check_moments(samples: torch.Tensor, mean, var) -> None:
    """Per-coordinate sample mean and variance within Z_TOL standard errors."""
    x = samples.double()
    n = x.shape[0]
    mean = torch.as_tensor(mean, dtype=torch.float64).expand(x.shape[1:])
    var = torch.as_tensor(var, dtype=torch.float64).expand(x.shape[1:])
    assert torch.all((x.mean(0) - mean).abs() < Z_TOL * (var / n).sqrt()), (x.mean(0), mean)
    assert torch.all((x.var(0) - var).abs() < Z_TOL * var * math.sqrt(2 / (n - 1))), (x.var(0), var)


# --------------------------------------------------------------- forward
def test_buffers_are_stored_in_the_requested_dtype(course_betas):
    d32, d64 = GaussianDiffusion(course_betas), GaussianDiffusion(course_betas, dtype=torch.float64)
    assert d32.betas.dtype == torch.float32 and d64.betas.dtype == torch.float64
    assert d32.num_timesteps == 40 and "T=40" in repr(d32)
    # float32 buffers are the float64 values rounded once (computed in float64 first).
    for name, buf in d64.named_buffers():
        torch.testing.assert_close(getattr(d32, name), buf.float(), rtol=0, atol=0, msg=name)
    np.testing.assert_allclose(d64.alphas_cumprod.numpy(), cumprod_by_hand(course_betas), rtol=1e-13)


def test_q_step_formula(diffusion64, course_betas):
    x = torch.randn(5, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    eps = torch.randn(5, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    for t in (1, 17, 40):
        beta = course_betas[t - 1]
        expected = math.sqrt(1 - beta) * x + math.sqrt(beta) * eps
        torch.testing.assert_close(diffusion64.q_step(x, t, noise=eps), expected, rtol=1e-14, atol=1e-15)


def test_q_sample_formula_and_mean_variance(diffusion64, course_betas):
    x0 = torch.tensor([[0.5, -0.2], [0.1, 0.9], [-1.0, 0.0]], dtype=torch.float64)
    eps = torch.tensor([[1.0, 0.5], [-0.3, 2.0], [0.0, -1.5]], dtype=torch.float64)
    t = torch.tensor([1, 20, 40])
    abar = torch.tensor([coefficients(course_betas, int(k))["abar"] for k in t], dtype=torch.float64)[:, None]
    torch.testing.assert_close(diffusion64.q_sample(x0, t, noise=eps), abar.sqrt() * x0 + (1 - abar).sqrt() * eps,
                               rtol=1e-13, atol=1e-15)
    mean, var = diffusion64.q_mean_variance(x0, t)
    torch.testing.assert_close(mean, abar.sqrt() * x0, rtol=1e-13, atol=1e-15)
    torch.testing.assert_close(var, (1 - abar).expand(3, 2), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("t", [1, 10, 40])
def test_q_sample_monte_carlo(diffusion64, course_betas, t):
    x0 = repeated([0.7, -0.4])
    xt = diffusion64.q_sample(x0, t, generator=torch.Generator().manual_seed(t))
    c = coefficients(course_betas, t)
    check_moments(xt, math.sqrt(c["abar"]) * x0[0], 1 - c["abar"])
    # The two coordinates are independent.
    r = torch.corrcoef(xt.T)[0, 1]
    assert abs(r) < Z_TOL / math.sqrt(N_MC)


@pytest.mark.parametrize("t", [1, 3, 15, 40])
def test_iterated_q_step_matches_the_shortcut(t):
    # The source schedule (small β) and a float32 diffusion: the defaults the book uses.
    betas = linear_beta_schedule(40, 1e-4, 0.02)
    d = GaussianDiffusion(betas)
    x0 = repeated([0.6, -0.9], n=100_000, dtype=torch.float32)
    g = torch.Generator().manual_seed(100 + t)
    x = x0
    for k in range(1, t + 1):
        x = d.q_step(x, k, generator=g)
    abar = cumprod_by_hand(betas)[t - 1]
    check_moments(x, math.sqrt(abar) * x0[0].double(), 1 - abar)
    shortcut = d.q_sample(x0, t, generator=torch.Generator().manual_seed(999))
    for j in range(2):
        stat, critical = ks_two_sample(x[:, j].numpy(), shortcut[:, j].numpy())
        assert stat < critical
        # Quantiles of the iterated chain vs N(√ᾱ_t x0, 1 - ᾱ_t) by the inverse CDF.
        law = NormalDist(math.sqrt(abar) * float(x0[0, j]), math.sqrt(1 - abar))
        probs = [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99]
        empirical = np.quantile(x[:, j].numpy(), probs)
        for p, q in zip(probs, empirical):
            # SE of a sample quantile: √(p(1-p)/n) / density at the quantile.
            se = math.sqrt(p * (1 - p) / x.shape[0]) / law.pdf(law.inv_cdf(p))
            assert abs(q - law.inv_cdf(p)) < Z_TOL * se


# ------------------------------------------------------------ posterior
def test_predict_start_from_noise_inverts_q_sample(diffusion64, spiral_x0):
    g = torch.Generator().manual_seed(3)
    eps = torch.randn(spiral_x0.shape, generator=g, dtype=torch.float64)
    t = torch.randint(1, 41, (spiral_x0.shape[0],), generator=g)
    xt = diffusion64.q_sample(spiral_x0, t, noise=eps)
    torch.testing.assert_close(diffusion64.predict_start_from_noise(xt, t, eps), spiral_x0, rtol=0, atol=1e-12)
    for k in (1, 40):
        xt = diffusion64.q_sample(spiral_x0, k, noise=eps)
        torch.testing.assert_close(diffusion64.predict_start_from_noise(xt, k, eps), spiral_x0, rtol=0, atol=1e-12)


def test_posterior_mean_forms_agree(diffusion64, course_betas, spiral_x0):
    g = torch.Generator().manual_seed(4)
    eps = torch.randn(spiral_x0.shape, generator=g, dtype=torch.float64)
    for t in (1, 2, 25, 40):
        c = coefficients(course_betas, t)
        xt = diffusion64.q_sample(spiral_x0, t, noise=eps)
        x0_hat = diffusion64.predict_start_from_noise(xt, t, eps)
        mean, var, log_var = diffusion64.q_posterior_mean_variance(x0_hat, xt, t)
        eps_form = diffusion64.posterior_mean_from_noise(xt, t, eps)
        torch.testing.assert_close(mean, eps_form, rtol=1e-10, atol=1e-12)
        # Both against eq. (4.5) and eq. (4.9) written out here.
        by_hand = c["coef_x0"] * spiral_x0 + c["coef_xt"] * xt
        torch.testing.assert_close(mean, by_hand, rtol=1e-10, atol=1e-12)
        by_hand_eps = (xt - c["beta"] / math.sqrt(1 - c["abar"]) * eps) / math.sqrt(c["alpha"])
        torch.testing.assert_close(eps_form, by_hand_eps, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(var, torch.full_like(xt, c["post_var"]), rtol=1e-12, atol=0)
        clipped = c["post_var"] if t > 1 else coefficients(course_betas, 2)["post_var"]
        torch.testing.assert_close(log_var, torch.full_like(xt, math.log(clipped)), rtol=1e-12, atol=0)


def test_posterior_at_t1_is_the_data(diffusion64, spiral_x0):
    xt = diffusion64.q_sample(spiral_x0, 1, generator=torch.Generator().manual_seed(0))
    mean, var, _ = diffusion64.q_posterior_mean_variance(spiral_x0, xt, 1)
    torch.testing.assert_close(mean, spiral_x0, rtol=0, atol=1e-13)
    assert torch.all(var == 0)


@pytest.mark.parametrize("schedule", ["course", "source"])
@pytest.mark.parametrize("t", [2, 10, 40])
def test_posterior_matches_bayes_on_a_grid(schedule, t, course_betas, source_betas):
    """p(x_{t-1} | x_t, x_0) ∝ q(x_t | x_{t-1}) q(x_{t-1} | x_0), eq. (4.1), normalised numerically."""
    betas = course_betas if schedule == "course" else source_betas
    c = coefficients(betas, t)
    x0 = 0.6
    xt = math.sqrt(c["abar"]) * x0 + 0.8 * math.sqrt(1 - c["abar"])     # a plausible x_t
    grid = np.linspace(-10.0, 10.0, 1_000_001)                          # spacing 2e-5, ±14 sd
    log_lik = -((xt - math.sqrt(c["alpha"]) * grid) ** 2) / (2 * c["beta"])
    log_prior = -((grid - math.sqrt(c["abar_prev"]) * x0) ** 2) / (2 * (1 - c["abar_prev"]))
    w = np.exp(log_lik + log_prior - np.max(log_lik + log_prior))
    w /= w.sum()
    grid_mean = float(np.sum(w * grid))
    grid_var = float(np.sum(w * (grid - grid_mean) ** 2))

    d = GaussianDiffusion(betas, dtype=torch.float64)
    mean, var, _ = d.q_posterior_mean_variance(torch.tensor([[x0]], dtype=torch.float64),
                                               torch.tensor([[xt]], dtype=torch.float64), t)
    assert float(mean) == pytest.approx(grid_mean, rel=1e-8, abs=1e-10)
    assert float(var) == pytest.approx(grid_var, rel=1e-6)


@pytest.mark.parametrize("t", [2, 10, 40])
def test_posterior_by_regression(diffusion64, course_betas, t):
    """Sample (x_{t-1}, x_t) given x_0; the regression of x_{t-1} on x_t is linear with
    slope coef_xt, intercept coef_x0·x_0 and residual variance β̃_t."""
    c = coefficients(course_betas, t)
    x0 = repeated([0.5])
    g = torch.Generator().manual_seed(20 + t)
    x_prev = diffusion64.q_sample(x0, t - 1, generator=g)
    x_t = diffusion64.q_step(x_prev, t, generator=g)
    u, v = x_t[:, 0].numpy(), x_prev[:, 0].numpy()
    n = u.size
    slope, intercept = np.polyfit(u, v, 1)
    resid = v - (slope * u + intercept)
    s_res = math.sqrt(resid.var(ddof=2))
    se_slope = s_res / (u.std() * math.sqrt(n))
    se_intercept = s_res * math.sqrt(1 / n + u.mean() ** 2 / (n * u.var()))
    assert abs(slope - c["coef_xt"]) < Z_TOL * se_slope
    assert abs(intercept - c["coef_x0"] * 0.5) < Z_TOL * se_intercept
    assert abs(s_res**2 - c["post_var"]) < Z_TOL * c["post_var"] * math.sqrt(2 / n)


# ---------------------------------------------------- reverse process
@pytest.mark.parametrize("add_noise", [True, False])
@pytest.mark.parametrize("dtype, atol", [(torch.float32, 1e-5), (torch.float64, 1e-12)])
def test_oracle_reverse_loop_recovers_x0(course_betas, spiral_x0, add_noise, dtype, atol):
    d = GaussianDiffusion(course_betas, dtype=dtype)
    x0 = spiral_x0.to(dtype)
    oracle = OracleModel(course_betas, x0)
    xs, x_starts = d.p_sample_loop_all(oracle, x0.shape, generator=torch.Generator().manual_seed(1),
                                       clip_denoised=False, add_noise=add_noise)
    torch.testing.assert_close(xs[0], x0, rtol=0, atol=atol)
    # Every estimate x̂_0 made along the way is x_0 itself, up to rounding amplified by √(1/ᾱ_t)
    # in eq. (4.8) (≈ 158 at t = T in this schedule).
    amplification = torch.tensor([1.0] + [1 / math.sqrt(a) for a in cumprod_by_hand(course_betas)])
    tolerance = atol + 32 * torch.finfo(dtype).eps * amplification
    error = (x_starts - x0).abs().amax(dim=(1, 2)).double()
    assert torch.all(error <= tolerance), (error, tolerance)
    # The model was called at t = T, …, 1 in that order, with t in the book's convention.
    assert [int(t[0]) for t in oracle.calls] == list(range(40, 0, -1))
    # p_sample_loop, from the same noise, agrees.
    out = d.p_sample_loop(oracle, xs[40].clone(), generator=torch.Generator().manual_seed(1),
                          clip_denoised=False, add_noise=add_noise)
    torch.testing.assert_close(out, x0, rtol=0, atol=atol)


def test_oracle_with_clipping_for_data_inside_the_box(course_betas):
    x0 = torch.tensor([[0.9, -0.95], [0.0, 0.3], [-1.0, 1.0]], dtype=torch.float64)
    d = GaussianDiffusion(course_betas, dtype=torch.float64)
    out = d.p_sample_loop(OracleModel(course_betas, x0), x0.shape, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, x0, rtol=0, atol=1e-12)
    # Outside [-1, 1] clipping bites: x̂_0 is clamped, so the loop returns the clamped point.
    outside = torch.tensor([[0.2, -1.0036]], dtype=torch.float64)
    out = d.p_sample_loop(OracleModel(course_betas, outside), outside.shape,
                          generator=torch.Generator().manual_seed(0), add_noise=False)
    torch.testing.assert_close(out, torch.tensor([[0.2, -1.0]], dtype=torch.float64), rtol=0, atol=1e-12)


def test_p_sample_loop_all_shapes_and_ends(course_betas):
    d = GaussianDiffusion(course_betas)
    model = AffineModel()
    xs, x_starts = d.p_sample_loop_all(model, (7, 2), generator=torch.Generator().manual_seed(5))
    assert xs.shape == (41, 7, 2) and x_starts.shape == (41, 7, 2)
    noise = torch.randn((7, 2), generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(xs[40], noise, rtol=0, atol=0)
    final = d.p_sample_loop(model, (7, 2), generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(xs[0], final, rtol=0, atol=0)
    torch.testing.assert_close(x_starts[0], xs[0], rtol=0, atol=0)
    # x_starts[t] is x̂_0 computed from xs[t] (eq. (4.8), clipped).
    for t in (40, 13, 1):
        c = coefficients(course_betas, t)
        eps = model(xs[t], torch.full((7,), t))
        x0_hat = ((xs[t].double() - math.sqrt(1 - c["abar"]) * eps.double()) / math.sqrt(c["abar"])).clamp(-1, 1)
        torch.testing.assert_close(x_starts[t].double(), x0_hat, rtol=1e-5, atol=1e-5)


def test_p_sample_loop_all_without_noise_is_a_chain_of_means(course_betas):
    d = GaussianDiffusion(course_betas, dtype=torch.float64)
    model = AffineModel()
    xs, _ = d.p_sample_loop_all(model, (6, 2), generator=torch.Generator().manual_seed(2),
                                clip_denoised=False, add_noise=False)
    for t in (40, 20, 2, 1):
        c = coefficients(course_betas, t)
        eps = model(xs[t], torch.full((6,), t))
        expected = (xs[t] - c["beta"] / math.sqrt(1 - c["abar"]) * eps) / math.sqrt(c["alpha"])   # eq. (4.9)
        torch.testing.assert_close(xs[t - 1], expected, rtol=1e-12, atol=1e-12)


def test_no_noise_is_added_at_t1(diffusion64):
    x = torch.randn(9, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    model = AffineModel()
    a, _ = diffusion64.p_sample(model, x, 1, generator=torch.Generator().manual_seed(1))
    b, _ = diffusion64.p_sample(model, x, 1, generator=torch.Generator().manual_seed(2))
    mean, _, _, _ = diffusion64.p_mean_variance(model, x, 1)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.testing.assert_close(a, mean, rtol=0, atol=0)
    # At t = 2 the two generators give different samples.
    a2, _ = diffusion64.p_sample(model, x, 2, generator=torch.Generator().manual_seed(1))
    b2, _ = diffusion64.p_sample(model, x, 2, generator=torch.Generator().manual_seed(2))
    assert (a2 - b2).abs().min() > 0


def test_p_sample_with_a_tensor_of_time_steps(diffusion64):
    # Per-row t: rows with t = 1 get no noise, the others get σ_t z with their own σ_t.
    x = torch.randn(4, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    t = torch.tensor([1, 5, 1, 40])
    model = AffineModel()
    out, _ = diffusion64.p_sample(model, x, t, generator=torch.Generator().manual_seed(3))
    for row, k in enumerate(t.tolist()):
        mean_row, _ = diffusion64.p_sample(model, x[row:row + 1], k, add_noise=False)
        if k == 1:
            torch.testing.assert_close(out[row:row + 1], mean_row, rtol=0, atol=0)
        else:
            assert (out[row:row + 1] - mean_row).abs().min() > 0
    z = torch.randn(4, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    sigma = torch.tensor([0.0, math.sqrt(diffusion64.posterior_variance[4]), 0.0,
                          math.sqrt(diffusion64.posterior_variance[39])], dtype=torch.float64)[:, None]
    mean, _, _, _ = diffusion64.p_mean_variance(model, x, t)
    torch.testing.assert_close(out, mean + sigma * z, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("variance_type", ["beta", "posterior"])
def test_one_reverse_step_distribution(course_betas, variance_type):
    """With ε_θ ≡ 0 and no clipping, x_{t-1} ~ N(x_t / √α_t, σ_t²), σ_t² = β_t or β̃_t."""
    t = 10
    c = coefficients(course_betas, t)
    d = GaussianDiffusion(course_betas, dtype=torch.float64, variance_type=variance_type)
    x = repeated([0.4, -1.3])
    out, x0_hat = d.p_sample(ConstantModel(0.0), x, t, generator=torch.Generator().manual_seed(8),
                             clip_denoised=False)
    expected_var = c["beta"] if variance_type == "beta" else c["post_var"]
    check_moments(out, x[0] / math.sqrt(c["alpha"]), expected_var)
    torch.testing.assert_close(x0_hat, x / math.sqrt(c["abar"]), rtol=1e-13, atol=0)
    _, var, log_var, _ = d.p_mean_variance(ConstantModel(0.0), x[:3], t)
    torch.testing.assert_close(var, torch.full((3, 2), expected_var, dtype=torch.float64), rtol=1e-13, atol=0)
    torch.testing.assert_close(log_var, var.log(), rtol=1e-13, atol=0)
    assert c["post_var"] < c["beta"]


def test_variance_type_beta_at_t1_is_beta1(course_betas):
    d = GaussianDiffusion(course_betas, dtype=torch.float64, variance_type="beta")
    _, var, log_var, _ = d.p_mean_variance(ConstantModel(), torch.zeros(2, 2, dtype=torch.float64), 1)
    assert torch.all(var == course_betas[0]) and torch.allclose(log_var, torch.log(var))


def test_p_mean_variance_without_clipping_is_the_eps_form(diffusion64, course_betas):
    x = torch.randn(8, 2, generator=torch.Generator().manual_seed(6), dtype=torch.float64) * 3
    model = AffineModel()
    for t in (1, 2, 30, 40):
        mean, _, _, x0_hat = diffusion64.p_mean_variance(model, x, t, clip_denoised=False)
        eps = model(x, torch.full((8,), t))
        torch.testing.assert_close(mean, diffusion64.posterior_mean_from_noise(x, t, eps), rtol=1e-10, atol=1e-12)
        _, _, _, clipped = diffusion64.p_mean_variance(model, x, t, clip_denoised=True)
        torch.testing.assert_close(clipped, x0_hat.clamp(-1, 1), rtol=0, atol=0)
    assert (x0_hat.abs() > 1).any()          # so that the clip test above is not empty


# ------------------------------------------------------------------ DDIM
@pytest.mark.parametrize("num_steps", [1, 2, 3, 7, 40])
@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_ddim_with_the_oracle_recovers_x0(course_betas, spiral_x0, num_steps, eta):
    oracle = OracleModel(course_betas, spiral_x0)
    d = GaussianDiffusion(course_betas, dtype=torch.float64)
    out = d.ddim_sample_loop(oracle, spiral_x0.shape, num_sampling_steps=num_steps, eta=eta,
                             generator=torch.Generator().manual_seed(0), clip_denoised=False)
    torch.testing.assert_close(out, spiral_x0, rtol=0, atol=1e-10)
    visited = [int(t[0]) for t in oracle.calls]
    # num_steps evenly spaced steps, starting from T; the last is t = 1 unless there is only one.
    assert len(visited) == num_steps and visited[0] == 40 and visited[-1] == (1 if num_steps > 1 else 40)
    assert all(a > b for a, b in zip(visited, visited[1:]))
    expected = sorted({int(np.round(1 + k * 39 / (num_steps - 1))) for k in range(num_steps)}, reverse=True) \
        if num_steps > 1 else [40]
    assert visited == expected


def test_ddim_single_step_is_x0_hat_from_x_T(course_betas):
    # One step: x_0 = x̂_0(x_T, T) by eq. (4.8), no other term.
    d = GaussianDiffusion(course_betas, dtype=torch.float64)
    model = AffineModel()
    x_T = torch.randn(6, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    out = d.ddim_sample_loop(model, x_T.clone(), num_sampling_steps=1, clip_denoised=False)
    abar = cumprod_by_hand(course_betas)[-1]
    eps = model(x_T, torch.full((6,), 40))
    torch.testing.assert_close(out, (x_T - math.sqrt(1 - abar) * eps) / math.sqrt(abar), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("clip", [False, True])
def test_ddim_eta1_on_all_steps_is_ddpm(course_betas, clip):
    """With η = 1 and every step, σ_t² = (1-ᾱ_{t-1})/(1-ᾱ_t)·(1-ᾱ_t/ᾱ_{t-1}) = β̃_t and the DDIM mean is
    μ̃_t(x_t, x̂_0): DDIM is then the ancestral sampler of Ho et al. (Song et al. 2021, §4.1). Both draw one
    z per step for t = T … 2, so the same seed gives the same samples."""
    d = GaussianDiffusion(course_betas, dtype=torch.float64)
    model = AffineModel()
    x_T = 2 * torch.randn(50, 2, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    ddim = d.ddim_sample_loop(model, x_T.clone(), num_sampling_steps=40, eta=1.0, clip_denoised=clip,
                              generator=torch.Generator().manual_seed(6))
    ddpm = d.p_sample_loop(model, x_T.clone(), clip_denoised=clip, generator=torch.Generator().manual_seed(6))
    torch.testing.assert_close(ddim, ddpm, rtol=1e-9, atol=1e-9)


def test_ddim_eta0_with_a_zero_model_rescales(course_betas):
    # ε_θ ≡ 0: each step multiplies x by √ᾱ_prev / √ᾱ_t, so the end result is x_T / √ᾱ_T.
    d = GaussianDiffusion(course_betas, dtype=torch.float64)
    x_T = torch.randn(5, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 1e-3
    out = d.ddim_sample_loop(ConstantModel(0.0), x_T.clone(), num_sampling_steps=5, clip_denoised=False)
    torch.testing.assert_close(out, x_T / math.sqrt(cumprod_by_hand(course_betas)[-1]), rtol=1e-10, atol=0)


def test_ddim_seeding(course_betas):
    d = GaussianDiffusion(course_betas)
    model = AffineModel()
    run = lambda seed, eta: d.ddim_sample_loop(model, (6, 2), num_sampling_steps=10, eta=eta,  # noqa: E731
                                               generator=torch.Generator().manual_seed(seed))
    torch.testing.assert_close(run(1, 1.0), run(1, 1.0), rtol=0, atol=0)
    assert not torch.allclose(run(1, 1.0), run(2, 1.0))
    # eta = 0 is deterministic given x_T: the same x_T gives the same sample.
    x_T = torch.randn(6, 2, generator=torch.Generator().manual_seed(3))
    a = d.ddim_sample_loop(model, x_T.clone(), num_sampling_steps=10, generator=torch.Generator().manual_seed(4))
    b = d.ddim_sample_loop(model, x_T.clone(), num_sampling_steps=10, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(a, b, rtol=0, atol=0)


# ------------------------------------------------------------------ loss
def test_p_losses_hand_computed(diffusion64, course_betas, spiral_x0):
    model = AffineModel()
    eps = torch.randn(spiral_x0.shape, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    x0, e = spiral_x0.numpy(), eps.numpy()
    for t in (1, 23, 40):
        abar = cumprod_by_hand(course_betas)[t - 1]
        xt = math.sqrt(abar) * x0 + math.sqrt(1 - abar) * e
        pred = 0.3 * xt + 0.01 * t - 0.2
        mse = float(np.mean((pred - e) ** 2))
        l1 = float(np.mean(np.abs(pred - e)))
        assert float(diffusion64.p_losses(model, spiral_x0, t, noise=eps)) == pytest.approx(mse, rel=1e-12)
        assert float(diffusion64.p_losses(model, spiral_x0, t, noise=eps, loss_fn=F.l1_loss)) == pytest.approx(
            l1, rel=1e-12)
    # A tensor of per-row time steps.
    t = torch.arange(1, 65) % 40 + 1
    abar = np.array(cumprod_by_hand(course_betas))[t.numpy() - 1][:, None]
    xt = np.sqrt(abar) * x0 + np.sqrt(1 - abar) * e
    pred = 0.3 * xt + 0.01 * t.numpy()[:, None] - 0.2
    assert float(diffusion64.p_losses(model, spiral_x0, t, noise=eps)) == pytest.approx(
        float(np.mean((pred - e) ** 2)), rel=1e-12)


def test_p_losses_of_the_oracle_is_zero_and_random_t_is_seeded(diffusion64, course_betas, spiral_x0):
    oracle = OracleModel(course_betas, spiral_x0)
    loss = diffusion64.p_losses(oracle, spiral_x0, generator=torch.Generator().manual_seed(0))
    assert float(loss) < 1e-20
    model = AffineModel()
    a = diffusion64.p_losses(model, spiral_x0, generator=torch.Generator().manual_seed(1))
    b = diffusion64.p_losses(model, spiral_x0, generator=torch.Generator().manual_seed(1))
    c = diffusion64.p_losses(model, spiral_x0, generator=torch.Generator().manual_seed(2))
    assert float(a) == float(b) and float(a) != float(c)
    ts = torch.cat(oracle.calls)
    assert ts.min() >= 1 and ts.max() <= 40


def test_p_losses_gradient_flows(course_betas):
    d = GaussianDiffusion(course_betas)
    w = torch.tensor(0.5, requires_grad=True)
    loss = d.p_losses(lambda x, t: w * x, torch.ones(4, 2), 40, noise=torch.zeros(4, 2))
    loss.backward()
    # x_t = √ᾱ_T, loss = (w √ᾱ_T)², d/dw = 2 w ᾱ_T.
    abar = cumprod_by_hand(course_betas)[-1]
    assert float(w.grad) == pytest.approx(2 * 0.5 * abar, rel=1e-4)


# ---------------------------------------------------------------- device
@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device"))])
def test_device_agnostic(course_betas, device):
    d = GaussianDiffusion(course_betas).to(device)
    model = AffineModel()
    x = d.p_sample_loop(model, (5, 2), generator=torch.Generator(device=device).manual_seed(0), device=device)
    assert x.device.type == device and x.shape == (5, 2)
    xs, _ = d.p_sample_loop_all(model, (5, 2), generator=torch.Generator(device=device).manual_seed(0),
                                device=device)
    torch.testing.assert_close(xs[0], x, rtol=0, atol=0)
    y = d.ddim_sample_loop(model, (5, 2), num_sampling_steps=4, device=device)
    assert y.device.type == device
    x0 = torch.zeros(5, 2, device=device)
    assert d.q_sample(x0, torch.tensor([1, 2, 3, 4, 5], device=device)).device.type == device
    assert d.p_losses(model, x0).device.type == device
