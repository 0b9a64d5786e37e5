"""Checks of the exercises of chapter 6: training and sampling."""
from __future__ import annotations

import copy
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from ..diffusion import GaussianDiffusion
from .common import T_RANGE_HINT, TENSOR_HINT, diffusion, float32_tensor, random_schedule, tiny_model, times
from .engine import Case, Exercise, run_check, variant

CUT_OFF = ("your loss is cut off from the computation graph (.item(), .detach(), numpy, torch.tensor(...) or "
           "torch.no_grad()), so loss.backward() cannot train the model. Return the tensor the computation "
           "produced.")
LOSS_TYPE_HINT = "Return the loss as a 0-d torch tensor (not loss.item()), so that loss.backward() can compute gradients."


def _gradients(loss: Tensor, inputs: list[Tensor]) -> list[Tensor] | None:
    """d loss / d inputs (zeros for unused inputs), or None when the loss is not attached to them."""
    if not isinstance(loss, Tensor) or loss.grad_fn is None:
        return None
    try:
        grads = torch.autograd.grad(loss.sum(), inputs, allow_unused=True, retain_graph=True)
    except RuntimeError:
        return None
    if all(g is None for g in grads):
        return None
    return [torch.zeros_like(x) if g is None else g for g, x in zip(grads, inputs)]


def _same_gradient(loss: Any, inputs: list[Tensor], reference: Tensor, reference_inputs: list[Tensor],
                   label: str) -> str | None:
    grads = _gradients(loss, inputs)
    if grads is None:
        return CUT_OFF
    want = torch.autograd.grad(reference, reference_inputs, allow_unused=True)
    for g, w in zip(grads, want):
        w = torch.zeros_like(g) if w is None else w
        if not torch.allclose(g.to(w.dtype), w, rtol=1e-3, atol=1e-6):
            return (f"the value of your loss is right but its gradient is not (for {label}): part of the "
                    "computation is cut off from the graph (e.g. a term computed from .item() or numpy), so "
                    "training would follow the wrong direction.")
    return None


# ----------------------------------------------------------------------------- 6.1 the simplified loss
def _cases_simplified_loss(rng):
    cases = []
    for _ in range(4):
        n = int(rng.integers(3, 9))
        cases.append(Case((float32_tensor(rng, (n, 2)).requires_grad_(True), float32_tensor(rng, (n, 2))),
                          f"a batch of {n} points"))
    return cases


def _loss_graph(out, args, case):
    pred = copy.deepcopy(args[0].detach()).requires_grad_(True)
    return _same_gradient(out, [args[0]], F.mse_loss(pred, args[1]), [pred], case.label)


SIMPLIFIED_LOSS = Exercise(
    name="simplified loss",
    make_cases=_cases_simplified_loss,
    reference=lambda pred, eps: F.mse_loss(pred, eps),
    arg_names=("eps_pred", "eps"),
    validators=[lambda out, args, case: CUT_OFF if isinstance(out, Tensor) and _gradients(out, [args[0]]) is None
                else None],
    after_match=[_loss_graph],
    mistakes=[
        variant("you summed the squared errors; eq. (6.5) averages them (mean over the batch and the "
                "coordinates), so the loss does not depend on the batch size.",
                lambda p, e: F.mse_loss(p, e, reduction="sum")),
        variant("you summed over the coordinates and averaged over the batch: that is Ho et al.'s ‖ε - ε_θ‖², "
                "twice F.mse_loss for 2-D points. Average over every entry, as F.mse_loss does.",
                lambda p, e: F.mse_loss(p, e) * p.shape[1]),
        variant("that is the L1 loss (absolute errors); eq. (6.5) squares the errors.",
                lambda p, e: F.l1_loss(p, e)),
        variant("there is a square root too many: the loss is the mean squared error, not its root.",
                lambda p, e: F.mse_loss(p, e).sqrt()),
        variant("you returned one loss per point; average over the batch too, to get one number.",
                lambda p, e: F.mse_loss(p, e, reduction="none").mean(dim=1)),
    ],
    type_hint=LOSS_TYPE_HINT,
)


def check_simplified_loss(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(eps_pred, eps)``: the mean squared error of eq. (6.5)."""
    return run_check(SIMPLIFIED_LOSS, fn, seed)


# ----------------------------------------------------------------------------- 6.2 the training loss
# Adam's step m / (√v + ε) is about lr · sign(g) where a gradient entry g is far below ε: there a right
# answer whose gradient differs from the reference's in the last bit (another build, another order of the
# sums) can move a parameter by 2 lr.  With ε = 0.1 the step is a smooth function of the gradient (slope
# at most lr / ε), so such differences stay far below the check's tolerance on every seed.
ADAM_EPS = 0.1


def _cases_training_loss(rng, with_optimizer: bool = False):
    betas = random_schedule(rng, 6, 20)
    T = len(betas)
    cases = []
    for k in range(4):
        n = int(rng.integers(5, 10))
        t = rng.integers(1, T, size=n)   # case 0 holds t = 1 and t = T; the others avoid T (for t + 1)
        if k == 0:
            t[0], t[1] = 1, T
        t = torch.as_tensor(t, dtype=torch.long)
        model = tiny_model(T, int(rng.integers(2**31)))
        args = (model, float32_tensor(rng, (n, 2)), t, betas, float32_tensor(rng, (n, 2)))
        if with_optimizer:
            optimizer = (torch.optim.Adam(model.parameters(), lr=0.01, eps=ADAM_EPS) if k % 2 == 0
                         else torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9))
            args = (model, optimizer) + args[1:]
        cases.append(Case(args, f"T = {T}, t = {t.tolist()}"))
    return cases


def _ref_training_loss(model, x0, t, betas, noise):
    return diffusion(betas).p_losses(model, x0, t, noise)


def _training_graph(out, args, case):
    reference_model = copy.deepcopy(case.args[0])
    reference = _ref_training_loss(reference_model, *copy.deepcopy(case.args[1:]))
    return _same_gradient(out, list(args[0].parameters()), reference, list(reference_model.parameters()),
                          case.label)


class _ShiftedModel(torch.nn.Module):
    """The model called with t + shift (a learner's off-by-one in the model's time argument)."""

    def __init__(self, model, shift):
        super().__init__()
        self.model, self.shift = model, shift

    def forward(self, x, t):
        return self.model(x, t + self.shift)


def _loss_with(model, x0, t, betas, noise, x_in=None, target=None, shift=0):
    d = diffusion(betas)
    x_t = d.q_sample(x0, t, noise)
    pred = _ShiftedModel(model, shift)(x0 if x_in == "x0" else x_t, t)
    return F.mse_loss(pred, {"x0": x0, "x_t": x_t}.get(target, noise))


TRAINING_LOSS = Exercise(
    name="training loss",
    make_cases=_cases_training_loss,
    reference=_ref_training_loss,
    own_work=(GaussianDiffusion.p_losses,),
    arg_names=("model", "x0", "t", "betas", "noise"),
    t_arg=2, betas_arg=3,
    validators=[lambda out, args, case: CUT_OFF if isinstance(out, Tensor)
                and _gradients(out, list(args[0].parameters())) is None else None],
    after_match=[_training_graph],
    mistakes=[
        variant("the model predicts the noise ε: compare its output with `noise`, not with x_0.",
                lambda m, x0, t, b, n: _loss_with(m, x0, t, b, n, target="x0")),
        variant("the model predicts the noise ε: compare its output with `noise`, not with x_t.",
                lambda m, x0, t, b, n: _loss_with(m, x0, t, b, n, target="x_t")),
        variant("feed the noisy x_t to the model, not the clean x_0: first x_t = √(ᾱ_t) x_0 + √(1 - ᾱ_t) ε, "
                "eq. (3.5).", lambda m, x0, t, b, n: _loss_with(m, x0, t, b, n, x_in="x0")),
        variant("the model must be called with the same t that made x_t (1 … T), not t - 1.",
                lambda m, x0, t, b, n: _loss_with(m, x0, t, b, n, shift=-1)),
        variant("you summed the squared errors; eq. (6.5) averages them (F.mse_loss).",
                lambda m, x0, t, b, n: _ref_training_loss(m, x0, t, b, n) * x0.numel()),
    ],
    type_hint=LOSS_TYPE_HINT,
    error_hints=[T_RANGE_HINT,
                 ("must match the size", "index the coefficients with t - 1 and add an axis, coefficient[:, None], "
                  "so that they broadcast against the (batch, 2) points.")],
)


def check_training_loss(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(model, x0, t, betas, noise)``: the loss of eq. (6.5) for given t and ε."""
    return run_check(TRAINING_LOSS, fn, seed)


# ----------------------------------------------------------------------------- 6.3 one training step
def _params(model) -> tuple[Tensor, ...]:
    return tuple(p.detach().clone() for p in model.parameters())


def _two_steps(step, args):
    """Two calls of ``step`` on the same model and optimiser (zero_grad before or after both work)."""
    first = step(*args)
    second = step(*args)
    return first, second, _params(args[0])


def _ref_step(model, optimizer, x0, t, betas, noise, zero_grad=True, backward=True):
    loss = _ref_training_loss(model, x0, t, betas, noise)
    if zero_grad:
        optimizer.zero_grad()
    if backward:
        loss.backward()
        optimizer.step()
    return loss.item()


def _optimizer_used(out, args, case):
    if not args[1].state:
        return ("the optimiser passed in took no step (its state is empty). Call optimizer.zero_grad() "
                "before loss.backward(), not between loss.backward() and optimizer.step() (that throws the "
                "gradients away), then optimizer.step(), all on the `optimizer` argument; do not create a new one.")
    return None


TRAIN_STEP = Exercise(
    name="one training step",
    make_cases=lambda rng: _cases_training_loss(rng, with_optimizer=True),
    reference=lambda *args: _two_steps(_ref_step, args),
    arg_names=("model", "optimizer", "x0", "t", "betas", "noise"),
    call=lambda fn, args: _two_steps(fn, args),
    may_change=(0, 1),
    python_number=True,
    reference_mutates=True,
    parts=("the loss of the first step", "the loss of the second step", "the parameters after two steps"),
    validators=[_optimizer_used],
    mistakes=[
        variant("optimizer.zero_grad() is missing: loss.backward() adds to the gradients left over from the step "
                "before. Call optimizer.zero_grad() before loss.backward() (or after optimizer.step()).",
                lambda *args: _two_steps(lambda *a: _ref_step(*a, zero_grad=False), args)),
        variant("the parameters did not change: call loss.backward() and then optimizer.step().",
                lambda *args: _two_steps(lambda *a: _ref_step(*a, backward=False), args)),
    ],
    type_hint="Return the loss as a Python float (loss.item()).",
)


def check_train_step(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(model, optimizer, x0, t, betas, noise)``: one gradient step on eq. (6.5), twice in a row."""
    return run_check(TRAIN_STEP, fn, seed)


# ----------------------------------------------------------------------------- 6.4 one reverse step
def _cases_p_sample(rng):
    betas = random_schedule(rng, 6, 20)
    T = len(betas)
    model = tiny_model(T, int(rng.integers(2**31)))
    cases = []
    for t in times(rng, T):
        n = int(rng.integers(3, 7))
        cases.append(Case((model, float32_tensor(rng, (n, 2)), t, betas, float32_tensor(rng, (n, 2))),
                          f"t = {t}, T = {T}"))
    return cases


@torch.no_grad()
def _reverse(model, x_t, t, betas, z, variance_type="posterior", sigma=None, noise_at_1=False):
    mean, var, _, _ = diffusion(betas, variance_type=variance_type).p_mean_variance(model, x_t, t,
                                                                                   clip_denoised=False)
    scale = var.sqrt() if sigma is None else sigma(var)
    return mean if (t == 1 and not noise_at_1) else mean + scale * z


def _model_output(args):
    model, x_t, t = args[0], args[1], args[2]
    with torch.no_grad():
        return model(x_t, torch.full((x_t.shape[0],), t, dtype=torch.long))


def _no_history(out, args, case):
    if isinstance(out, Tensor) and out.requires_grad:
        return ("your sample still records gradients (requires_grad=True): sampling needs no training, so "
                "compute it under `with torch.no_grad():` (or decorate the function with @torch.no_grad()); "
                "otherwise every step of a sampling loop keeps the whole graph in memory.")
    return None


P_SAMPLE_STEP = Exercise(
    name="one reverse step (p_sample)",
    make_cases=_cases_p_sample,
    reference=_reverse,
    own_work=(GaussianDiffusion.p_sample,),
    arg_names=("model", "x_t", "t", "betas", "z"),
    t_arg=2, betas_arg=3,
    linear=((1, "x_t"), (_model_output, "the model's output ε_θ"), (4, "z")),
    validators=[_no_history],
    mistakes=[
        variant("you used σ_t² = β_t. That choice also works (Ho et al. tried both; the package calls it "
                "variance_type='beta'), but this exercise asks for σ_t² = β̃_t, eq. (4.6).",
                lambda m, x, t, b, z: _reverse(m, x, t, b, z, variance_type="beta")),
        variant("you used σ_t² = β_t (and added noise at t = 1); this exercise asks for σ_t² = β̃_t, eq. (4.6), "
                "and no noise at t = 1.",
                lambda m, x, t, b, z: _reverse(m, x, t, b, z, variance_type="beta", noise_at_1=True)),
        variant("call the model with the current step t (the one x_t belongs to), not t - 1.",
                lambda m, x, t, b, z: None if t == 1 else _reverse(_ShiftedModel(m, -1), x, t, b, z)),
        variant("you returned the estimate x̂_0 of eq. (4.8); return x_{t-1} = μ_θ + σ_t z.",
                lambda m, x, t, b, z: diffusion(b).predict_start_from_noise(x, t, _model_output((m, x, t)))),
    ],
    type_hint=TENSOR_HINT,
    error_hints=[T_RANGE_HINT],
)


def check_p_sample_step(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(model, x_t, t, betas, z)``: x_{t-1} = μ_θ(x_t, t) + σ_t z with σ_t² = β̃_t, eq. (6.7)."""
    return run_check(P_SAMPLE_STEP, fn, seed)
