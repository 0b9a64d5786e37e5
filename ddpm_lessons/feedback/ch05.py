"""Checks of the exercises of chapter 5: the model."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..model import ConditionedLayer, SinusoidalEmbedding, TimeConditionedMLP, parameter_count
from ..model import sinusoidal_embedding_matrix
from .common import TENSOR_HINT, float32_tensor
from .engine import Case, Exercise, run_check, variant


# ----------------------------------------------------------------------------- 5.1 the embedding matrix
def _cases_embedding(rng):
    cases = []
    for dim in (4, 6, 8, 16):
        T = int(rng.integers(5, 60))
        T += T == dim
        cases.append(Case((T, dim), f"T = {T}, dim = {dim}"))
    return cases


def _reference_embedding(T, dim):
    return sinusoidal_embedding_matrix(T, dim)


# Wrong matrices, written with the package's matrix: a wrong exponent is the right formula with another base.
def _times_from_zero(T, d):
    first = np.tile([0.0, 1.0], d // 2)[:, None]               # sin 0, cos 0
    return np.concatenate([first, sinusoidal_embedding_matrix(T, d)[:, :T - 1]], axis=1)


def _pairs_swapped(T, d):
    return sinusoidal_embedding_matrix(T, d).reshape(d // 2, 2, T)[:, ::-1].reshape(d, T)


EMBEDDING_MATRIX = Exercise(
    name="sinusoidal embedding matrix",
    make_cases=_cases_embedding,
    reference=_reference_embedding,
    own_work=(sinusoidal_embedding_matrix,),
    arg_names=("T", "dim"),
    mistakes=[
        variant("column t - 1 must embed time step t = 1 … T; yours embeds t - 1 = 0 … T - 1 (use "
                "np.arange(1, T + 1)).", _times_from_zero),
        variant("the exponent is r / (dim - 2), so that the last pair of rows reaches base^1; you divided by dim.",
                lambda T, d: sinusoidal_embedding_matrix(T, d, 10_000.0 ** ((d - 2) / d))),
        variant("use the row index r = 0, 2, 4, … in the exponent r / (dim - 2), not the pair index 0, 1, 2, ….",
                lambda T, d: sinusoidal_embedding_matrix(T, d, 100.0)),
        variant("sin and cos are swapped: even rows (0, 2, …) hold the sines, odd rows the cosines.",
                _pairs_swapped),
        variant("the sines and cosines must be interleaved (row r: sin, row r + 1: cos, for r = 0, 2, …); you "
                "stacked all sines, then all cosines.",
                lambda T, d: np.concatenate([sinusoidal_embedding_matrix(T, d)[0::2],
                                             sinusoidal_embedding_matrix(T, d)[1::2]])),
        variant("divide t by base^(r / (dim - 2)), do not multiply: the periods grow with r.",
                lambda T, d: sinusoidal_embedding_matrix(T, d, 1e-4)),
    ],
    type_hint="Return an array of shape (dim, T) (numpy, or a torch tensor).",
)


def check_embedding_matrix(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(T, dim)``: the (dim, T) sinusoidal embedding matrix, eq. (5.1)."""
    return run_check(EMBEDDING_MATRIX, fn, seed)


# ----------------------------------------------------------------------------- 5.2 the conditioned layer
def _cases_conditioned_layer(rng):
    cases = []
    for _ in range(4):
        n, fan_in, fan_out = int(rng.integers(3, 7)), int(rng.integers(2, 6)), int(rng.integers(6, 10))
        emb = int(rng.choice([4, 12]))
        x, e = float32_tensor(rng, (n, fan_in)), float32_tensor(rng, (n, emb))
        w_x, b_x = float32_tensor(rng, (fan_out, fan_in), 0.5), float32_tensor(rng, (fan_out,), 0.5)
        w_t, b_t = float32_tensor(rng, (fan_out, emb), 0.5), float32_tensor(rng, (fan_out,), 0.5)
        cases.append(Case((x, e, w_x, b_x, w_t, b_t), f"batch = {n}, in = {fan_in}, out = {fan_out}, "
                                                       f"embedding dim = {emb}"))
    return cases


@torch.no_grad()
def _layer(x, emb, w_x, b_x, w_t, b_t):
    layer = ConditionedLayer(w_x.shape[1], w_x.shape[0], SinusoidalEmbedding(10, w_t.shape[1]))
    layer.linear.weight.copy_(w_x)
    layer.linear.bias.copy_(b_x)
    layer.time_projection.weight.copy_(w_t)
    layer.time_projection.bias.copy_(b_t)
    return layer(x, emb)


def _zero(v):
    return torch.zeros_like(v)


CONDITIONED_LAYER = Exercise(
    name="conditioned layer",
    make_cases=_cases_conditioned_layer,
    reference=_layer,
    arg_names=("x", "time_embedding", "weight_x", "bias_x", "weight_t", "bias_t"),
    mistakes=[
        variant("both biases are missing: each Linear is W x + b, eq. (5.2).",
                lambda x, e, wx, bx, wt, bt: _layer(x, e, wx, _zero(bx), wt, _zero(bt))),
        variant("the bias of the x part is missing: W_x x + b_x.",
                lambda x, e, wx, bx, wt, bt: _layer(x, e, wx, _zero(bx), wt, bt)),
        variant("the bias of the time part is missing: W_t e + b_t.",
                lambda x, e, wx, bx, wt, bt: _layer(x, e, wx, bx, wt, _zero(bt))),
        variant("the time embedding is missing: the layer is (W_x x + b_x) + (W_t e + b_t), eq. (5.2).",
                lambda x, e, wx, bx, wt, bt: _layer(x, e, wx, bx, _zero(wt), _zero(bt))),
        variant("the x part is missing: the layer is (W_x x + b_x) + (W_t e + b_t), eq. (5.2).",
                lambda x, e, wx, bx, wt, bt: _layer(x, e, _zero(wx), _zero(bx), wt, bt)),
        variant("the two parts are added, not multiplied: (W_x x + b_x) + (W_t e + b_t).",
                lambda x, e, wx, bx, wt, bt: _layer(x, e, wx, bx, _zero(wt), _zero(bt))
                * _layer(x, e, _zero(wx), _zero(bx), wt, bt)),
        variant("the layer itself is affine; the activation (SiLU) comes after it, in the model.",
                lambda x, e, wx, bx, wt, bt: F.silu(_layer(x, e, wx, bx, wt, bt))),
        variant("the layer itself is affine; no activation belongs inside it.",
                lambda x, e, wx, bx, wt, bt: F.relu(_layer(x, e, wx, bx, wt, bt))),
    ],
    type_hint=TENSOR_HINT,
    error_hints=[("cannot be multiplied", "a weight of shape (out, in) acts on a batch of rows as x @ W.T + b "
                  "(or torch.nn.functional.linear(x, W, b))."),
                 ("must match the size", "a weight of shape (out, in) acts on a batch of rows as x @ W.T + b.")],
)


def check_conditioned_layer(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(x, time_embedding, weight_x, bias_x, weight_t, bias_t)``, eq. (5.2)."""
    return run_check(CONDITIONED_LAYER, fn, seed)


# ----------------------------------------------------------------------------- 5.3 counting parameters (challenge)
def _cases_parameter_count(rng):
    cases = []
    for depth, data_dim in ((1, 1), (3, 3), (int(rng.integers(2, 6)), int(rng.integers(1, 4)))):
        hidden = int(rng.integers(2, 33)) * 2   # data_dim 1 and 3 always: a hard-coded 2 cannot pass
        cases.append(Case((hidden, depth, data_dim), f"hidden = {hidden}, depth = {depth}, data_dim = {data_dim}"))
    hidden = int(rng.integers(2, 33)) * 2
    cases.append(Case((hidden, 2, 2), f"hidden = {hidden}, depth = 2, data_dim = 2"))
    return cases


def _mlp(hidden, depth, data_dim):
    with torch.random.fork_rng(devices=[]):
        return TimeConditionedMLP(5, hidden=hidden, depth=depth, data_dim=data_dim)


def _count_without(hidden, depth, data_dim, leave_out: Callable[[str], bool]) -> int:
    """The package's count minus the parameters whose name ``leave_out`` selects."""
    model = _mlp(hidden, depth, data_dim)
    return parameter_count(model) - sum(p.numel() for n, p in model.named_parameters() if leave_out(n))


def _ref_parameter_count(hidden, depth, data_dim):
    return parameter_count(_mlp(hidden, depth, data_dim))


PARAMETER_COUNT = Exercise(
    name="parameter count",
    make_cases=_cases_parameter_count,
    reference=_ref_parameter_count,
    own_work=(parameter_count, TimeConditionedMLP.__init__),   # counting by hand, not by building the model
    arg_names=("hidden", "depth", "data_dim"),
    mistakes=[
        variant("the biases are missing: every Linear(in, out) has in·out weights plus out biases.",
                lambda h, k, d: _count_without(h, k, d, lambda n: n.endswith("bias"))),
        variant("each conditioned layer has a second Linear, hidden → hidden, for the time embedding (eq. (5.2)); "
                "count it too.", lambda h, k, d: _count_without(h, k, d, lambda n: "time_projection" in n)),
        variant("the output layer Linear(hidden → data_dim) is missing.",
                lambda h, k, d: _count_without(h, k, d, lambda n: n.startswith("output"))),
        variant("the first layer takes data_dim inputs (the point x), not hidden.",
                lambda h, k, d: _ref_parameter_count(h, k, d) + (h - d) * h),
        variant("you counted one conditioned layer too many: there are `depth` of them.",
                lambda h, k, d: _ref_parameter_count(h, k + 1, d)),
        variant("you counted one conditioned layer too few: there are `depth` of them.",
                lambda h, k, d: _ref_parameter_count(h, k - 1, d) if k > 1 else None),
        variant("you used data_dim = 2 (the 2-D points of the course) instead of the `data_dim` argument: the "
                "first layer takes data_dim inputs and the output layer gives data_dim values.",
                lambda h, k, d: _ref_parameter_count(h, k, 2)),
    ],
    type_hint="Return an integer.",
    rtol=0.0, atol=0.0,   # a count is exact
)


def check_parameter_count(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(hidden, depth, data_dim)``: the trainable parameters of ``TimeConditionedMLP``."""
    return run_check(PARAMETER_COUNT, fn, seed)
