"""Checks of the inputs every module receives: integers, time steps, point arrays.

Each check returns the value in the form the caller needs (a Python ``int``,
a float64 array, a long tensor of array indices) or raises ``ValueError``
saying what was expected and what was received, e.g.
``ValueError: t must be in 1..40, got 41``.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


_ZERO_BASED = " (time steps count from 1 here: a 0-based t from another library needs t + 1)"


def check_int(value: int, name: str, minimum: int | None = None,
              maximum: int | None = None) -> int:
    """``value`` as a Python ``int``, after checking it is an integer in ``minimum..maximum``.

    ``bool`` is refused (``True`` is not a count); ``numpy`` integers are accepted.
    """
    if minimum is not None and maximum is not None:
        expected = f"an integer in {minimum}..{maximum}"
    elif minimum is not None:
        expected = f"an integer >= {minimum}"
    elif maximum is not None:
        expected = f"an integer <= {maximum}"
    else:
        expected = "an integer"
    if (isinstance(value, bool) or not isinstance(value, (int, np.integer))
            or (minimum is not None and value < minimum)
            or (maximum is not None and value > maximum)):
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return int(value)


def check_time_step(t: int, num_timesteps: int, name: str = "t", first: int = 1) -> int:
    """One time step of the book's convention, ``first..T`` (``first`` is 1, or 0 for x_0)."""
    return check_int(t, name, first, num_timesteps)


def time_indices(t: int | Tensor, num_timesteps: int, batch_size: int,
                 device: torch.device | str = "cpu") -> Tensor:
    """Validate the time steps ``t`` (the book's ``1 … T``) of a batch; return ``t - 1``.

    ``t`` is one integer for the whole batch, or an integer tensor of shape
    ``(batch_size,)``.  The result is a long tensor of shape ``(batch_size,)``
    on ``device``, holding the array indices ``t - 1``.  A 0-based ``t`` (as
    in libraries that count from 0) is refused rather than wrapped around.
    """
    steps = f"1..{num_timesteps}"
    if isinstance(t, bool):
        raise ValueError(f"t must be an integer in {steps}, got {t!r}")
    if isinstance(t, (int, np.integer)):
        if not 1 <= t <= num_timesteps:
            raise ValueError(f"t must be in {steps}, got {int(t)}{_ZERO_BASED if t == 0 else ''}")
        return torch.full((batch_size,), int(t) - 1, dtype=torch.long, device=device)
    if not isinstance(t, Tensor):
        raise ValueError(f"t must be an int or an integer tensor, got {type(t).__name__} {t!r}")
    if t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool:
        raise ValueError(f"t must hold integers, got dtype {t.dtype}")
    if t.ndim != 1 or t.shape[0] != batch_size:
        raise ValueError(f"t must have shape (batch,) = ({batch_size},), "
                         f"got t of shape {tuple(t.shape)}")
    if t.numel() == 0:
        raise ValueError("t is empty: a batch needs at least one time step")
    low, high = int(t.min()), int(t.max())
    if low < 1 or high > num_timesteps:
        raise ValueError(f"t must be in {steps}, got values from {low} to {high}"
                         f"{_ZERO_BASED if low == 0 else ''}")
    return t.to(device=device, dtype=torch.long) - 1


def check_points(points, name: str = "points", ndim: int | None = None) -> np.ndarray:
    """``points`` as a float64 array of shape ``(..., 2)``, finite, with ``ndim`` axes if given.

    Accepts numpy arrays, lists and torch tensors (detached and copied to the CPU).
    """
    if hasattr(points, "detach"):
        points = points.detach().cpu().numpy()
    array = np.asarray(points, dtype=np.float64)
    if array.ndim < 1 or array.shape[-1] != 2 or (ndim is not None and array.ndim != ndim):
        lead = ["..."] if ndim is None else {2: ["n"], 3: ["K", "n"]}.get(ndim, ["…"] * (ndim - 1))
        expected = "(" + ", ".join([*lead, "2"]) + ")"
        raise ValueError(f"{name} must have shape {expected} with x, y on the last axis, "
                         f"got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        n_bad = int(np.count_nonzero(~np.isfinite(array)))
        raise ValueError(f"{name} must be finite, got {n_bad} NaN or infinite value(s) "
                         f"in shape {array.shape}")
    return array
