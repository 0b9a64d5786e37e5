"""Checks of the guidance exercises of chapter 10: the guided noise of eq. (10.7) and label dropout.

The pattern checks of the same chapter are in :mod:`.ch10`.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from .. import guidance
from .common import TENSOR_HINT, float32_tensor, outcome_problem
from .engine import FAIL, PASS, Case, Exercise, report, run_check, type_name, variant
from .kernel import in_clean_state
from .sandbox import call_limited


def _cases_guided_noise(rng):
    cases = []
    for k, w in enumerate([0.0, float(rng.uniform(0.2, 0.9)), 1.0, float(rng.uniform(2.0, 6.0))]):
        n = int(rng.integers(3, 9))
        cond, uncond = float32_tensor(rng, (n, 2)), float32_tensor(rng, (n, 2))
        if k % 2:   # as they come out of the network: attached to a graph
            cond.requires_grad_(True)
        cases.append(Case((cond, uncond, w), f"w = {w:.3g}, {n} points"))
    return cases


def _attached(out, args, case):
    if isinstance(out, Tensor) and args[0].requires_grad and out.grad_fn is None:
        return ("your result is cut off from the graph of `eps_cond` (detach(), .data, torch.no_grad or a numpy "
                "round trip). Guidance is also used where gradients flow: keep it one torch expression.")
    return None


GUIDED_NOISE = Exercise(
    name="guided noise",
    make_cases=_cases_guided_noise,
    reference=lambda c, u, w: guidance.guided_noise(c, u, w),
    own_work=(guidance.guided_noise,),
    arg_names=("eps_cond", "eps_uncond", "w"),
    mistakes=[
        variant("the weights are swapped: the conditional prediction gets 1 + w and the unconditional one −w "
                "(at w = 0 the result must be the conditional prediction).",
                lambda c, u, w: w * c - (1 + w) * u),
        variant("the unconditional prediction is subtracted: the score of p(x)^(−w) enters with a minus sign.",
                lambda c, u, w: (1 + w) * c + w * u),
        variant("the conditional prediction is weighted by 1 + w, not 1: ∇log p(x|c)^(1+w) = (1 + w) ∇log p(x|c).",
                lambda c, u, w: c - w * u),
        variant("this interpolates between the two predictions; guidance extrapolates beyond the conditional one, "
                "away from the unconditional one.",
                lambda c, u, w: (1 - w) * c + w * u),
        variant("the roles of the two predictions are swapped: the conditional prediction gets 1 + w.",
                lambda c, u, w: (1 + w) * u - w * c),
        variant("the weight of the difference is w, not 1 + w: ε_c + w (ε_c − ε_∅).",
                lambda c, u, w: c + (1 + w) * (c - u)),
        variant("that is ε_∅ + w (ε_c − ε_∅), the form with a guidance scale s = 1 + w (as in Ho & Salimans' "
                "code and many libraries): with this chapter's w, ε̃ = ε_∅ + (1 + w)(ε_c − ε_∅).",
                lambda c, u, w: u + w * (c - u)),
        variant("the conditional prediction itself is missing: w (ε_c − ε_∅) is only the push; add it to ε_c.",
                lambda c, u, w: w * (c - u)),
    ],
    validators=[_attached],
    type_hint=TENSOR_HINT,
)


def check_guided_noise(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(eps_cond, eps_uncond, w)``: the guided noise of eq. (10.7)."""
    return run_check(GUIDED_NOISE, fn, seed)


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / math.sqrt((a * a).sum() * (b * b).sum()))


def _dependence_problem(dropped: np.ndarray) -> str | None:
    """Why the 0/1 mask ``dropped`` is not independent across positions, or None.

    For independent draws the correlation of the mask with the position, and of neighbouring entries
    (lag 1, a runs test), are about N(0, 1/n): beyond 6/√n (0.019 for n = 10⁵) only by a 1e-9 chance.
    """
    limit = 6 / math.sqrt(dropped.size)
    trend = _correlation(dropped, np.arange(dropped.size, dtype=np.float64))
    neighbours = _correlation(dropped[:-1], dropped[1:])
    if abs(trend) > max(limit, 0.3 * abs(neighbours)):     # blocks at random places trend only a little
        return (f"the dropped labels gather towards one end of the batch (correlation {trend:.2f} with the position): "
                "e.g. always the first k labels, or sorted random numbers. Each label is dropped independently of "
                "the others: compare one random number per label, in its own position, with p.")
    if abs(neighbours) > limit:
        return (f"neighbouring labels are dropped together (correlation {neighbours:.2f} between neighbours), as in "
                "pairs or blocks: each label is dropped independently of the others, with one random number per "
                "label.")
    return None


def _drop_problem(fn: Callable, labels: Tensor, p: float, null: int, seeds: tuple[int, int]) -> str | None:
    """Why ``fn`` does not drop labels to ``null`` independently at rate ``p`` with the given generator."""
    before = labels.clone()
    outputs = [fn(labels, p, null, torch.Generator().manual_seed(s)) for s in (seeds[0], seeds[0], seeds[1])]
    if not torch.equal(labels, before):
        return ("your function changed `labels` in place. The caller's batch keeps its true labels (the next "
                "epoch reuses them): build a new tensor, e.g. with torch.where.")
    out = outputs[0]
    if out is None:
        return "your function returned None. Did you forget the `return` statement?"
    if not isinstance(out, Tensor):
        return f"returned a {type_name(out)}; return a torch tensor of labels, like `labels`."
    if out.shape != labels.shape or out.dtype != labels.dtype:
        return (f"expected a tensor of shape {tuple(labels.shape)} and dtype {labels.dtype} (labels, not a "
                f"mask), got shape {tuple(out.shape)} and dtype {out.dtype}.")
    dropped = out == null
    stray = out[~(dropped | (out == labels))].unique()
    if stray.numel() == 1:
        return (f"dropped labels became {stray.item()}, but null_label was {null}: you used a fixed label instead "
                "of the `null_label` argument.")
    if stray.numel():
        return "some labels became something other than themselves or the null label: only replace by `null_label`."
    rate, n = dropped.double().mean().item(), labels.numel()
    spread = 5 * math.sqrt(p * (1 - p) / n) + 1e-9
    if rate in (0.0, 1.0) and 0 < p < 1:
        return ("all the labels or none were dropped: draw one random number per label (shape labels.shape), "
                "not one for the whole batch.")
    if abs(rate - (1 - p)) < spread and abs(p - 0.5) > 0.05:
        return f"you dropped {rate:.1%} of the labels with p = {p}: a label is dropped with probability p, kept with 1 − p."
    if abs(rate - p) > spread:
        return f"you dropped {rate:.1%} of the labels with p = {p}; expected {p:.0%} ± {spread:.1%}."
    if 0 < p < 1:
        problem = _dependence_problem(dropped.double().numpy())
        if problem:
            return problem
    if not torch.equal(outputs[1], out):
        return ("two calls with generators of the same seed gave different labels: draw the random numbers with the "
                "`generator` you are given (torch.rand(..., generator=generator)).")
    if 0 < p < 1 and torch.equal(outputs[2], out):
        return "generators with different seeds gave the same labels: draw the random numbers from `generator`."
    return None


@in_clean_state
def check_drop_labels(fn: Callable, seed: int | None = None, time_limit: float = 10.0) -> bool:
    """Check ``fn(labels, p, null_label, generator)``: a new tensor with each label replaced by the null label
    with probability p, drawn from ``generator``; ``labels`` unchanged."""
    title = "label dropout"
    if not callable(fn):
        report(FAIL, title, f"expected a function, got a {type_name(fn)}.")
        return False
    rng = np.random.default_rng(seed)
    labels = torch.from_numpy(rng.integers(0, 4, size=100_000))
    seeds = tuple(int(s) for s in rng.integers(2**31, size=2))

    def run():
        nulls = (4, int(rng.integers(5, 100)), 4, -1)   # more than one: a fixed null label cannot pass
        for p, null in zip((0.15, float(rng.uniform(0.55, 0.8)), 0.0, 1.0), nulls):
            problem = _drop_problem(fn, labels, p, null, seeds)
            if problem is not None:
                return problem
        return None

    outcome = call_limited(run, (), time_limit)
    if outcome_problem(outcome, title, time_limit):
        return False
    if outcome.value is not None:
        report(FAIL, title, outcome.value, outcome.printed)
        return False
    report(PASS, title, "a new tensor, each label dropped independently at rate p, reproducible from the generator")
    return True


__all__ = ["check_guided_noise", "check_drop_labels"]
