"""Chapter 9 checks: plausible wrong answers are rejected with the intended message, right ones accepted."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from ddpm_lessons import feedback as fb
from ddpm_lessons.sampling import ddim_step
from feedback_harness import assert_accepted, assert_rejected


# ----------------------------------------------------------------------------- 9.1 ᾱ along the grid
def _pairs(a, grid, last=lambda a, grid, x: torch.ones(1, dtype=a.dtype), index=lambda g: g - 1):
    x = a[index(torch.tensor(grid))]
    return x, torch.cat([x[1:], last(a, grid, x).reshape(1)])


def _pairs_loop(a, grid):
    abar, prev = [], []
    for k, t in enumerate(grid):
        abar.append(a[t - 1])
        prev.append(a[grid[k + 1] - 1] if k + 1 < len(grid) else torch.tensor(1.0, dtype=a.dtype))
    return torch.stack(abar), torch.stack(prev)


def _pairs_padded(a, grid):
    padded = torch.cat([torch.ones(1, dtype=a.dtype), a])       # padded[t] = ᾱ_t, ᾱ_0 = 1
    times = torch.tensor(list(grid) + [0])
    return padded[times[:-1]], padded[times[1:]]


def _pairs_inplace(a, grid):
    a[0] = 1.0
    return _pairs(a, grid)


def _pairs_sorting_the_grid(a, grid):
    result = _pairs(a, list(grid))
    grid.sort()                                                  # changes the caller's list
    return result


STEP_ALPHAS_WRONG = [
    (lambda a, g: _pairs(a, g, last=lambda a, g, x: x[-1]), "ᾱ_0 = 1"),
    (lambda a, g: _pairs(a, g, last=lambda a, g, x: a[0]), "alphas_cumprod[0]"),
    (lambda a, g: _pairs(a, g, last=lambda a, g, x: torch.zeros(1, dtype=a.dtype)), "ᾱ_0 = 1"),
    (lambda a, g: (a[torch.tensor(g) - 1], torch.cat([torch.ones(1, dtype=a.dtype), a])[torch.tensor(g) - 1]),
     "τ_{k-1}"),
    (lambda a, g: tuple(v.flip(0) for v in _pairs(a, g)), "keep the order"),
    (lambda a, g: _pairs(a, g)[::-1], "swapped"),
    (lambda a, g: _pairs(a, g, index=lambda g: g), "t runs from 1 to T"),
    (_pairs_inplace, "alphas_cumprod"),
    (_pairs_sorting_the_grid, "changed its input `timesteps` in place"),
    (lambda a, g: tuple(v.numpy() for v in _pairs(a, g)), "tensor"),
    (lambda a, g: (_pairs(a, g)[0], _pairs(a, g)[1][:-1]), "shape"),
]


@pytest.mark.parametrize("fn, fragment", STEP_ALPHAS_WRONG)
def test_step_alphas_rejects(fn, fragment):
    assert_rejected(fb.check_step_alphas, fn, fragment)


@pytest.mark.parametrize("fn", [_pairs, _pairs_loop, _pairs_padded])
def test_step_alphas_accepts(fn):
    assert_accepted(fb.check_step_alphas, fn)


# ----------------------------------------------------------------------------- 9.2 one DDIM step
def _update(x, e, a, ap, eta, z, sigma=None, direction=None, x0=None, noise=1.0):
    x_start = (x - math.sqrt(1 - a) * e) / math.sqrt(a) if x0 is None else x0(x, e, a)
    s = (eta * math.sqrt((1 - ap) / (1 - a) * (1 - a / ap)) if eta > 0 else 0.0) if sigma is None else sigma(a, ap, eta)
    d = math.sqrt(max(1 - ap - s * s, 0.0)) if direction is None else direction(ap, s)
    return math.sqrt(ap) * x_start + d * e + noise * s * z


def _update_torch(x, e, a, ap, eta, z, sigma_always=False):
    a, ap = torch.tensor(a), torch.tensor(ap)
    x0 = (x - torch.sqrt(1 - a) * e) / torch.sqrt(a)
    beta_step = 1 - a / ap                                        # β' of the step
    sigma = eta * torch.sqrt((1 - ap) / (1 - a) * beta_step) if eta > 0 or sigma_always else torch.zeros(())
    return torch.sqrt(ap) * x0 + torch.sqrt(1 - ap - sigma**2) * e + sigma * z


def _update_coefficients(x, e, a, ap, eta, z):
    var = eta**2 * (1 - ap) * (1 - a / ap) / (1 - a) if eta > 0 else 0.0
    c_x = math.sqrt(ap / a)
    c_e = math.sqrt(1 - ap - var) - math.sqrt(ap * (1 - a) / a)
    return c_x * x + c_e * e + math.sqrt(var) * z


def _update_package(x, e, a, ap, eta, z):
    sigma = eta * ((1 - ap) / (1 - a)) ** 0.5 * (1 - a / ap) ** 0.5
    return ddim_step((x - (1 - a) ** 0.5 * e) / a**0.5, e, ap, sigma, z)


def _update_inplace(x, e, a, ap, eta, z):
    x -= math.sqrt(1 - a) * e
    x /= math.sqrt(a)
    s = eta * math.sqrt((1 - ap) / (1 - a) * (1 - a / ap))
    return math.sqrt(ap) * x + math.sqrt(1 - ap - s * s) * e + s * z


def _update_sigma_always(x, e, a, ap, eta, z):
    """σ's factor (1 - ᾱ_prev)/(1 - ᾱ) formed even at η = 0: ZeroDivisionError at ᾱ = 1."""
    return _update(x, e, a, ap, eta, z, sigma=lambda a, ap, eta: eta * math.sqrt((1 - ap) / (1 - a) * (1 - a / ap)))


def _solution(name: str):
    """The function ``name`` as the solution notebook of chapter 9 defines it."""
    nb = json.loads((Path(__file__).parents[1] / "solutions" / "09_fewer_steps.ipynb").read_text(encoding="utf-8"))
    source = next(s for s in ("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
                  if s.startswith(f"def {name}(") or f"\ndef {name}(" in s)
    namespace = {"math": math, "torch": torch}
    exec(source, namespace)  # noqa: S102 - the course's own notebook
    return namespace[name]


UPDATE_WRONG = [
    (_update_sigma_always, "compute σ only when η > 0"),
    (lambda *a: _update_torch(*a, sigma_always=True), "compute σ only when η > 0"),
    (lambda x, e, a, ap, eta, z: _update(x, e, a, ap, eta, z, sigma=lambda a, ap, eta: math.sqrt(
        eta * (1 - ap) / (1 - a) * (1 - a / ap))), "you put η under the root"),
    (_update_package, "calls the package's `ddpm_lessons.sampling.ddim_step`"),   # eq. (9.3) copied, not written
    (lambda x, e, a, ap, eta, z: _update(x, e, a, ap, eta, z,
                                         x0=lambda x, e, a: ((x - math.sqrt(1 - a) * e) / math.sqrt(a)).clamp(-1, 1)),
     "clipped x̂_0"),
    (lambda *a: _update(*a, sigma=lambda a, ap, eta: eta * (1 - ap) / (1 - a) * (1 - a / ap)), "you used the variance"),
    (lambda *a: _update(*a, direction=lambda ap, s: math.sqrt(1 - ap)), "you left out σ²"),
    (lambda *a: _update(*a, direction=lambda ap, s: 1 - ap - s * s), "square root is missing"),
    (lambda x, e, a, ap, eta, z: _update(x, e, a, ap, eta**2, z), "η²"),
    (lambda *a: _update(*a, sigma=lambda a, ap, eta: eta * math.sqrt(1 - a / ap)), "ratio (1 - ᾱ_prev)/(1 - ᾱ) is missing"),
    (lambda *a: _update(*a, sigma=lambda a, ap, eta: eta * math.sqrt((1 - a) / (1 - ap) * (1 - a / ap)) if ap < 1 else 0.0),
     "upside down"),
    (lambda *a: _update(*a, x0=lambda x, e, a: (x - (1 - a) * e) / math.sqrt(a)), "eq. (4.8): a square root"),
    (lambda *a: _update(*a, x0=lambda x, e, a: (x - math.sqrt(1 - a) * e) / a), "divide by √ᾱ"),
    (lambda *a: _update(*a, noise=-1.0), "+ σ z"),
    (lambda *a: _update(*a, noise=0.0), "left out the noise"),
    (lambda x, e, a, ap, eta, z: (x - math.sqrt(1 - a) * e) / math.sqrt(a), "x̂_0"),
    (_update_inplace, "x_t"),
    (lambda *a: _update(*a).numpy(), "tensor"),
]


@pytest.mark.parametrize("fn, fragment", UPDATE_WRONG)
def test_ddim_update_rejects(fn, fragment):
    assert_rejected(fb.check_ddim_update, fn, fragment)


@pytest.mark.parametrize("fn", [_update, _update_torch, _update_coefficients])
def test_ddim_update_accepts(fn):
    assert_accepted(fb.check_ddim_update, fn)


def test_ddim_update_of_the_solution_is_accepted_and_takes_alpha_bar_one():
    """The solution's step is accepted, and the encoder's first step (ᾱ = 1, η = 0) leaves x̂_0 = x_t."""
    update = _solution("ddim_update")
    assert_accepted(fb.check_ddim_update, update)
    x, eps = torch.tensor([[0.3, -0.2]]), torch.tensor([[1.0, 2.0]])
    expected = math.sqrt(0.5) * x + math.sqrt(0.5) * eps
    torch.testing.assert_close(update(x, eps, 1.0, 0.5, 0.0, 0), expected)


def test_encode_of_the_solution_is_accepted():
    assert_accepted(fb.check_encode, _solution("encode"))


# ----------------------------------------------------------------------------- 9.3 the encoder
def _encode(model, x0, grid, ac, eps_time="next", x0_time="now", skip_first=False, ascending=True,
            keep_all=False, grad=False):
    with torch.set_grad_enabled(grad):
        a = torch.cat([torch.ones(1, dtype=ac.dtype), ac])
        times = list(reversed(grid)) if ascending else list(grid)
        x, now = x0, 0
        if skip_first:
            now, times = times[0], times[1:]
        path = [x]
        for t in times:
            label = t if eps_time == "next" else max(now, 1)
            eps = model(x, torch.full((x.shape[0],), label, dtype=torch.long))
            a_x0 = a[now] if x0_time == "now" else a[t]
            x_start = (x - (1 - a_x0).sqrt() * eps) / a_x0.sqrt()
            x, now = a[t].sqrt() * x_start + (1 - a[t]).sqrt() * eps, t
            path.append(x)
        return torch.stack(path) if keep_all else x


@torch.no_grad()
def _encode_indices(model, x0, grid, ac):
    up = [0] + sorted(grid)
    x = x0.clone()
    for prev, t in zip(up[:-1], up[1:]):
        abar_prev = 1.0 if prev == 0 else float(ac[prev - 1])
        abar = float(ac[t - 1])
        eps = model(x, torch.tensor([t] * len(x)))
        x0_hat = (x - math.sqrt(1 - abar_prev) * eps) / math.sqrt(abar_prev)
        x = math.sqrt(abar) * x0_hat + math.sqrt(1 - abar) * eps
    return x


def _encode_package_step(model, x0, grid, ac):
    with torch.no_grad():
        x, abar_prev = x0, torch.tensor(1.0)
        for t in grid[::-1]:
            eps = model(x, torch.full((len(x),), t))
            x = ddim_step((x - (1 - abar_prev).sqrt() * eps) / abar_prev.sqrt(), eps, ac[t - 1])
            abar_prev = ac[t - 1]
        return x


def _encode_inplace(model, x0, grid, ac):
    with torch.no_grad():
        x0 *= 1.0 + 1e-3
        return _encode(model, x0, grid, ac)


def _encode_reversing_the_grid(model, x0, grid, ac):
    grid.reverse()                                               # changes the caller's list
    return _encode(model, x0, grid, ac, ascending=False)


ENCODE_WRONG = [
    (lambda *a: _encode(*a, eps_time="now"), "heading to"),
    (lambda *a: _encode(*a, x0_time="next"), "its own time"),
    (lambda *a: _encode(*a, skip_first=True), "skipped that step"),
    (lambda *a: _encode(*a, ascending=False), "smallest time up"),
    (lambda *a: _encode(*a, grad=True), "records gradients"),
    (lambda *a: _encode(*a, keep_all=True), "shape"),
    (lambda *a: _encode(*a).numpy(), "tensor"),
    (_encode_inplace, "x0"),
    (_encode_reversing_the_grid, "changed its input `timesteps` in place"),
]


@pytest.mark.parametrize("fn, fragment", ENCODE_WRONG)
def test_encode_rejects(fn, fragment):
    assert_rejected(fb.check_encode, fn, fragment)


@pytest.mark.parametrize("fn", [_encode, _encode_indices, _encode_package_step])
def test_encode_accepts(fn):
    assert_accepted(fb.check_encode, fn)


# ----------------------------------------------------------------------------- the tables
WRONG = {"step_alphas": STEP_ALPHAS_WRONG, "ddim_update": UPDATE_WRONG, "encode": ENCODE_WRONG}
def _pairs_python_floats(a, grid):
    """ᾱ read off as Python floats into torch.tensor (float32 by default)."""
    values = [float(a[t - 1]) for t in grid]
    return torch.tensor(values), torch.tensor(values[1:] + [1.0])


def _encode_with_update(model, x0, timesteps, alphas_cumprod):
    """The encoder built on a DDIM step that handles ᾱ = 1 (σ only when η > 0), as its hint suggests."""
    def update(x, eps, a, a_next, eta, z):
        sigma = eta * ((1 - a_next) / (1 - a) * (1 - a / a_next)) ** 0.5 if eta > 0 else 0.0
        x0_hat = (x - (1 - a) ** 0.5 * eps) / a ** 0.5
        return a_next ** 0.5 * x0_hat + (1 - a_next - sigma**2) ** 0.5 * eps + sigma * z
    x, a = x0, 1.0
    with torch.no_grad():
        for t in reversed(timesteps):
            eps = model(x, torch.full((x.shape[0],), t, dtype=torch.long))
            x, a = update(x, eps, a, float(alphas_cumprod[t - 1]), 0.0, 0), float(alphas_cumprod[t - 1])
    return x


def _encode_zero_division(model, x0, timesteps, alphas_cumprod):
    """The same, with a DDIM step that computes σ's factor even when η = 0: it divides by 1 - ᾱ = 0."""
    x, a = x0, 1.0
    with torch.no_grad():
        for t in reversed(timesteps):
            eps = model(x, torch.full((x.shape[0],), t, dtype=torch.long))
            a_next = float(alphas_cumprod[t - 1])
            sigma = 0.0 * ((1 - a_next) / (1 - a) * (1 - a / a_next)) ** 0.5
            x = a_next ** 0.5 * (x - (1 - a) ** 0.5 * eps) / a ** 0.5 + (1 - a_next - sigma**2) ** 0.5 * eps
            a = a_next
    return x


ENCODE_WRONG.append((_encode_zero_division, "compute σ only when η > 0"))

RIGHT = {"step_alphas": [_pairs, _pairs_loop, _pairs_padded, _pairs_python_floats],
         "ddim_update": [_update, _update_torch, _update_coefficients],
         "encode": [_encode, _encode_indices, _encode_package_step, _encode_with_update]}


# ----------------------------------------------------------------------------- questions
@pytest.mark.parametrize("answer", ["(1 - abar_prev) * sqrt(abar_t / abar_prev) / (1 - abar_t)",
                                    "sqrt(abar_t) * (1 - abar_prev) / (sqrt(abar_prev) * (1 - abar_t))"])
def test_question_9_4_right(answer):
    assert fb.check_answer("9.4", answer)


@pytest.mark.parametrize("answer", ["sqrt(1 - abar_prev) / sqrt(1 - abar_t)",               # σ = 0: DDIM's
                                    "(1 - abar_prev) * sqrt(abar_t) / (1 - abar_t)",
                                    "(1 - abar_prev) / (1 - abar_t)"])
def test_question_9_4_wrong(answer):
    assert not fb.check_answer("9.4", answer)


def test_question_9_5():
    assert fb.check_answer("9.5", "b")
    assert not fb.check_answer("9.5", "a") and not fb.check_answer("9.5", "c")
