"""Random inputs and messages shared by the exercise tables of several chapters."""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ..diffusion import GaussianDiffusion
from ..model import TimeConditionedMLP

TENSOR_HINT = ("The inputs are torch tensors: compute with them directly (Python floats times tensors stay "
               "tensors) rather than converting to numpy.")
T_RANGE_HINT = ("out of bounds", "t runs from 1 to T: β_t is betas[t - 1] and ᾱ_t is alphas_cumprod[t - 1] "
                "(ᾱ_0 = 1, the empty product).")


def float32_tensor(rng: np.random.Generator, shape: tuple[int, ...], scale: float = 1.0) -> Tensor:
    return torch.from_numpy((scale * rng.standard_normal(shape)).astype(np.float32))


def random_schedule(rng: np.random.Generator, low: int = 6, high: int = 30) -> np.ndarray:
    """A linear schedule with T in [low, high] and β from ~1e-3…2e-2 up to ~5e-2…0.2.

    β stays away from 0 and 1, so that β and √β, 1 - β and √(1 - β) differ
    clearly; ᾱ_T stays above ~0.01, so that float32 results are accurate.
    """
    T = int(rng.integers(low, high + 1))
    return np.linspace(rng.uniform(1e-3, 2e-2), rng.uniform(0.05, 0.2), T)


def times(rng: np.random.Generator, T: int, n_random: int = 3) -> list[int]:
    """t = 1, t = T and some t in between (the edges are where mistakes hide)."""
    middle = [int(t) for t in rng.integers(2, T, size=n_random)] if T > 2 else []
    return [1, T] + middle


def diffusion(betas: np.ndarray, dtype: torch.dtype = torch.float32, variance_type: str = "posterior"
              ) -> GaussianDiffusion:
    return GaussianDiffusion(np.asarray(betas, dtype=np.float64), dtype=dtype, variance_type=variance_type)


def tiny_model(T: int, seed: int) -> TimeConditionedMLP:
    """A small random noise predictor (outputs of order 1), built without touching the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = TimeConditionedMLP(T, hidden=16, depth=2).to(torch.float32)   # whatever the default dtype
        with torch.no_grad():
            model.output.weight.mul_(4.0)
    return model


def cases_x_t_betas(rng: np.random.Generator, label_t: str = "t"):
    """Argument tuples (x, t, betas, noise): x and noise (n, 2) float32 tensors, t an int in 1..T."""
    from .engine import Case  # noqa: PLC0415

    betas = random_schedule(rng)
    cases = []
    for t in times(rng, len(betas)):
        n = int(rng.integers(3, 8))
        x, noise = float32_tensor(rng, (n, 2)), float32_tensor(rng, (n, 2))
        cases.append(Case((x, t, betas, noise), f"{label_t} = {t}, T = {len(betas)}"))
    return cases


def outcome_problem(outcome, title: str, time_limit: float) -> bool:
    """Report a call (:func:`.sandbox.call_limited`) that did not return normally and return True;
    False when all is well.  For the checks that call the learner's function themselves."""
    from .engine import FAIL, error_text_plain, not_done, report, state_message, time_limit_message  # noqa: PLC0415

    if outcome.timed_out:
        report(FAIL, title, time_limit_message(time_limit), outcome.printed)
        return True
    changed = state_message(outcome)
    if changed:
        report(FAIL, title, changed, outcome.printed)
        return True
    if outcome.exited:
        report(FAIL, title, "your function called sys.exit() or exit(); return a value instead.", outcome.printed)
        return True
    if isinstance(outcome.error, NotImplementedError):
        not_done(title)
        return True
    if outcome.error is not None:
        report(FAIL, title, error_text_plain(outcome.error), outcome.printed)
        return True
    return False
