"""The time-conditioned noise predictor ε_θ(x_t, t) (chapter 5).

The model knows nothing about β: it maps a batch of points ``x`` of shape
``(batch, 2)`` and their time steps ``t`` (integers in ``1 … T``, the book's
convention) to a prediction of the noise, of the same shape as ``x``.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

from .validation import check_int, time_indices


def sinusoidal_embedding_matrix(num_timesteps: int, dim: int, base: float = 10_000.0) -> np.ndarray:
    """The sinusoidal position embedding of Vaswani et al. (2017), eq. (5.1).

    Returns a ``(dim, num_timesteps)`` float64 matrix whose column ``t - 1`` embeds
    time step ``t``: for each even row ``r`` (0, 2, …) the pair of rows is

        M[r, t-1] = sin(t / base^(r / (dim - 2))),   M[r+1, t-1] = cos(t / base^(r / (dim - 2))),

    so the period grows from 2π (row 0) to 2π·base (last pair).  ``dim`` must
    be even and at least 2.
    """
    num_timesteps = check_int(num_timesteps, "num_timesteps", 1)
    dim = check_int(dim, "dim", 2)
    if dim % 2:
        raise ValueError(f"dim must be even (rows pair sin and cos), got {dim}")
    rows = np.arange(0, dim, 2, dtype=np.float64)
    inv_freq = base ** (-rows / max(dim - 2, 1))                 # 1 / base^(r/(d-2))
    angles = np.outer(inv_freq, np.arange(1, num_timesteps + 1))  # (dim/2, T)
    matrix = np.empty((dim, num_timesteps))
    matrix[0::2] = np.sin(angles)
    matrix[1::2] = np.cos(angles)
    return matrix


class SinusoidalEmbedding(nn.Module):
    """Non-trainable lookup ``t ↦ M[:, t-1]`` of :func:`sinusoidal_embedding_matrix`.

    ``t`` holds the book's time steps ``1 … T``; anything outside raises ``ValueError``
    (a 0-based t would otherwise index the row of t = T).
    """

    def __init__(self, num_timesteps: int, dim: int) -> None:
        super().__init__()
        self.num_timesteps, self.dim = num_timesteps, dim
        table = torch.as_tensor(sinusoidal_embedding_matrix(num_timesteps, dim).T, dtype=torch.float32)
        self.register_buffer("table", table, persistent=False)   # (T, dim), not a parameter

    def forward(self, t: Tensor | int, batch_size: int | None = None) -> Tensor:
        """Rows ``M[:, t-1]`` for ``t`` of shape ``(batch,)``, or one int repeated ``batch_size`` times."""
        if batch_size is None:
            batch_size = t.shape[0] if isinstance(t, Tensor) and t.ndim == 1 else 1
        rows = time_indices(t, self.num_timesteps, batch_size, self.table.device)
        return self.table.index_select(0, rows)      # table[rows], without the slower general indexing

    def extra_repr(self) -> str:
        return f"{self.num_timesteps} => {self.dim}"


class ConditionedLayer(nn.Module):
    """``Linear(x) + Linear(embedding(t))``: a layer whose output is shifted by a
    learned projection of the time embedding (eq. (5.2))."""

    def __init__(self, in_features: int, out_features: int, embedding: SinusoidalEmbedding) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)
        self.time_projection = nn.Linear(embedding.dim, out_features)

    def forward(self, x: Tensor, time_embedding: Tensor) -> Tensor:
        return self.linear(x) + self.time_projection(time_embedding)


class FourierFeatures(nn.Module):
    """Optional fixed input features ``[x, sin(2^k π x), cos(2^k π x)]`` for k < ``num_bands``."""

    def __init__(self, in_features: int, num_bands: int) -> None:
        super().__init__()
        self.num_bands = num_bands
        self.register_buffer("freqs", math.pi * 2.0 ** torch.arange(num_bands, dtype=torch.float32),
                             persistent=False)
        self.out_features = in_features * (1 + 2 * num_bands)

    def forward(self, x: Tensor) -> Tensor:
        angles = (x[..., None] * self.freqs).flatten(-2)
        return torch.cat([x, angles.sin(), angles.cos()], dim=-1)

    def extra_repr(self) -> str:
        return f"bands={self.num_bands}"


class TimeConditionedMLP(nn.Module):
    """ε_θ(x, t): ``depth`` conditioned layers with SiLU (swish), then a linear read-out.

    Args:
        num_timesteps: T, the number of time steps the embedding covers.
        hidden: width of every hidden layer (and of the time embedding).
        depth: number of conditioned hidden layers (3 in chapter 5).
        data_dim: dimension of a data point (2 for the spiral).
        fourier_bands: number of sinusoidal input-feature bands (0: raw x, y).
    """

    def __init__(self, num_timesteps: int, hidden: int = 32, depth: int = 3, data_dim: int = 2,
                 fourier_bands: int = 0) -> None:
        super().__init__()
        self.config = {name: check_int(value, name, low) for name, value, low in (
            ("num_timesteps", num_timesteps, 1), ("hidden", hidden, 2), ("depth", depth, 1),
            ("data_dim", data_dim, 1), ("fourier_bands", fourier_bands, 0))}
        if hidden % 2:
            raise ValueError(f"hidden must be even (the embedding pairs sin and cos), got {hidden}")
        self.num_timesteps, self.data_dim = self.config["num_timesteps"], self.config["data_dim"]
        self.embedding = SinusoidalEmbedding(self.num_timesteps, hidden)
        self.features = FourierFeatures(data_dim, fourier_bands) if fourier_bands else nn.Identity()
        in_features = self.features.out_features if fourier_bands else data_dim
        widths = [in_features] + [hidden] * depth
        self.layers = nn.ModuleList(
            ConditionedLayer(a, b, self.embedding) for a, b in zip(widths[:-1], widths[1:]))
        self.activation = nn.SiLU()
        self.output = nn.Linear(hidden, data_dim)

    def forward(self, x: Tensor, t: Tensor | int) -> Tensor:
        """Predict the noise in ``x`` (shape ``(batch, data_dim)``)
        at time steps ``t`` (shape ``(batch,)`` or one int, values 1 … T)."""
        self.check_input(x)
        return self.trunk(x, self.embedding(t, batch_size=x.shape[0]))

    def trunk(self, x: Tensor, condition: Tensor) -> Tensor:
        """The layers of eq. (5.2), each shifted by a projection of ``condition`` ``(batch, hidden)``:
        the time embedding here, the time plus a label embedding in chapter 10."""
        h = self.features(x)
        for layer in self.layers:
            h = self.activation(layer(h, condition))
        return self.output(h)

    def check_input(self, x: Tensor) -> None:
        """Refuse a batch the layers would misread: wrong type, shape or dtype."""
        if not isinstance(x, Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
        if x.ndim != 2 or x.shape[1] != self.data_dim or x.shape[0] < 1:
            raise ValueError(f"x must have shape (batch, {self.data_dim}) with batch >= 1, "
                             f"got {tuple(x.shape)}")
        dtype = self.output.weight.dtype
        if x.dtype != dtype:
            raise ValueError(f"x has dtype {x.dtype} but the model's weights are {dtype}: "
                             f"convert the batch with x.to({dtype}) or the model with "
                             f"model.to({x.dtype})")


def parameter_count(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _layer_summary(module: nn.Module) -> str:
    if isinstance(module, nn.Linear):
        return f"Linear({module.in_features} → {module.out_features})"
    extra = module.extra_repr()
    return f"{type(module).__name__}({extra})"


def describe(model: nn.Module) -> str:
    """A readable listing: one line per leaf layer with its parameter count, and the total."""
    lines = [f"{type(model).__name__}", f"  {'layer':<26}{'kind':<32}{'parameters':>12}"]
    for name, module in model.named_modules():
        if name and not list(module.children()) and not isinstance(module, nn.Identity):
            n = sum(p.numel() for p in module.parameters(recurse=False))
            lines.append(f"  {name:<26}{_layer_summary(module):<32}{n:>12,d}")
    lines.append(f"  {'total (trainable)':<58}{parameter_count(model):>12,d}")
    return "\n".join(lines)
