"""The notebook's global state around a check: judge in a clean state, leave the kernel as it was found.

A learner's function can change settings that belong to the whole notebook:
torch's grad mode, its default dtype and number of threads, the global random
generators of torch, numpy and Python, or the ``requires_grad`` flags of a
model it was given.  Such a change is invisible in the function's result but
breaks later cells (a training step whose loss "does not require grad").

:func:`clean_state` runs a whole check with gradients on, float32 as the
default dtype and the caller's thread count, and restores the caller's
settings afterwards, so that a learner's ``torch.set_default_dtype(torch.float64)``
in an early cell changes nothing for a right answer.  :func:`changes` names
what one call of the learner's function changed (compared with the state just
before it), and :func:`restore` undoes it (the random generators too).
"""
from __future__ import annotations

import contextlib
import functools
import random
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np
import torch

CHECK_DTYPE = torch.float32


@dataclass
class KernelState:
    """The global settings a learner's function can change (see the module docstring)."""

    grad_enabled: bool
    default_dtype: torch.dtype
    threads: int
    torch_rng: torch.Tensor
    numpy_rng: tuple
    python_rng: tuple
    flags: list[tuple[torch.nn.Parameter, bool]]


def _modules(objects: Any) -> list[torch.nn.Module]:
    """The torch modules among ``objects`` (a tuple of arguments, possibly nested in lists/tuples)."""
    found: list[torch.nn.Module] = []
    stack = list(objects) if isinstance(objects, (tuple, list)) else [objects]
    while stack:
        item = stack.pop()
        if isinstance(item, torch.nn.Module):
            found.append(item)
        elif isinstance(item, (tuple, list)):
            stack.extend(item)
    return found


def capture(args: Any = ()) -> KernelState:
    """The current global state, and the ``requires_grad`` flags of the modules among ``args``."""
    flags = [(p, p.requires_grad) for m in _modules(args) for p in m.parameters()]
    return KernelState(torch.is_grad_enabled(), torch.get_default_dtype(), torch.get_num_threads(),
                       torch.get_rng_state(), np.random.get_state(), random.getstate(), flags)


def restore(state: KernelState) -> None:
    """Put every setting of ``state`` back."""
    torch.set_grad_enabled(state.grad_enabled)
    torch.set_default_dtype(state.default_dtype)
    if torch.get_num_threads() != state.threads:
        torch.set_num_threads(state.threads)
    torch.set_rng_state(state.torch_rng)
    np.random.set_state(state.numpy_rng)
    random.setstate(state.python_rng)
    for parameter, flag in state.flags:
        parameter.requires_grad_(flag)


def changes(before: KernelState, after: KernelState) -> list[str]:
    """What changed between ``before`` and ``after``, each named as the mistake it is for the notebook.

    The global random generators are left out: a right answer may draw from them (building a model draws its
    initial weights), so they are only restored, never reported.
    """
    found = []
    if before.grad_enabled and not after.grad_enabled:
        found.append("your function switched off gradients for the whole notebook (torch.set_grad_enabled(False) "
                     "or torch.autograd.set_grad_enabled): every later training cell would fail with \"does not "
                     "require grad\". Use `with torch.no_grad():` (or @torch.no_grad()), which switches them back on "
                     "when the block ends.")
    elif after.grad_enabled and not before.grad_enabled:
        found.append("your function switched gradients on for the whole notebook (torch.set_grad_enabled(True)); "
                     "use a `with` block, which restores the setting when it ends.")
    if after.default_dtype != before.default_dtype:
        found.append(f"your function changed torch's default dtype for the whole notebook (from "
                     f"{before.default_dtype} to {after.default_dtype}, torch.set_default_dtype): every tensor and "
                     "model made afterwards would change type. Give the dtype to the tensor you create instead "
                     "(dtype=x.dtype).")
    if after.threads != before.threads:
        found.append(f"your function changed the number of threads torch uses in the whole notebook (from "
                     f"{before.threads} to {after.threads}, torch.set_num_threads): leave that setting to the "
                     "notebook.")
    frozen = sum(1 for (p, was), (_, now) in zip(before.flags, after.flags) if was and not now)
    if frozen:
        found.append(f"your function switched off gradients of the model's parameters (requires_grad_(False) on "
                     f"{frozen} of {len(before.flags)} parameters): the model could no longer be trained. To "
                     "compute without gradients, use `with torch.no_grad():`, which leaves the model as it is.")
    elif any(now and not was for (_, was), (_, now) in zip(before.flags, after.flags)):
        found.append("your function changed which of the model's parameters require gradients: leave the model's "
                     "settings as they are.")
    return found


@contextlib.contextmanager
def clean_state() -> Iterator[KernelState]:
    """Run a check with gradients on and float32 as the default dtype; restore the caller's state afterwards.

    Yields the caller's state.  The global random generators are restored too,
    so a check neither consumes nor reseeds the notebook's random numbers.
    """
    caller = capture()
    torch.set_grad_enabled(True)
    torch.set_default_dtype(CHECK_DTYPE)
    try:
        yield caller
    finally:
        restore(caller)


def in_clean_state(check: Callable[..., bool]) -> Callable[..., bool]:
    """``check`` run inside :func:`clean_state` (for the checks that do not go through ``run_check``)."""
    @functools.wraps(check)
    def wrapped(*args, **kwargs):
        with clean_state():
            return check(*args, **kwargs)
    return wrapped
