"""Reading a learner's result and comparing it with the reference, in every form the text allows.

A result becomes a list of :class:`Leaf` arrays shaped like the reference:
numpy or torch, float32 or float64, a tuple or a stacked array are all read;
a wrong form (``None``, a list where an array is asked, a tensor where a
Python number is asked) raises :class:`WrongForm` with the message to show.
The snapshots tell whether a function changed one of its inputs in place.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor


class WrongForm(Exception):
    """A result whose form (type, structure) is wrong."""


@dataclass
class Leaf:
    """One array of a (possibly nested) result, as float64 values."""

    path: str
    values: np.ndarray
    dtype: torch.dtype | None = None
    is_tensor: bool = False


@dataclass
class Raised:
    error: BaseException


def type_name(value: Any) -> str:
    if isinstance(value, Tensor):
        return "torch.Tensor"
    if isinstance(value, np.ndarray):
        return "numpy.ndarray"
    module = type(value).__module__
    return type(value).__name__ if module == "builtins" else f"{module}.{type(value).__name__}"


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def where(path: str) -> str:
    return f"{path}: " if path else ""


def _tensor_values(value: Tensor) -> np.ndarray:
    return value.detach().cpu().to(torch.float64).numpy()


def _array_like(value: Any) -> np.ndarray:
    """A numpy array from an array, a tensor or a (nested) list/tuple of them (stacked)."""
    if isinstance(value, Tensor):
        return _tensor_values(value)
    if isinstance(value, (list, tuple)):
        return np.stack([_array_like(v) for v in value]) if value else np.zeros(0)
    return np.asarray(value, dtype=np.float64)


def _complex(value: Any) -> bool:
    if isinstance(value, Tensor):
        return value.is_complex()
    return isinstance(value, (complex, np.complexfloating)) or (isinstance(value, np.ndarray)
                                                                 and np.iscomplexobj(value))


def flatten(value: Any, ref: Any, path: str = "", parts: tuple[str, ...] | None = None,
            strict: bool = True, python_number: bool = False) -> list[Leaf]:
    """Turn a result into leaves shaped like ``ref``; raise :class:`WrongForm` if it cannot be.

    Equivalent forms are accepted: a numpy array or a tensor where an array is
    expected (float32 or float64), a list of arrays that stacks into one.  A
    tensor is required where the reference is a tensor (the later cells compute
    with it).  ``strict=False`` (for the known mistakes) accepts any array-like.
    """
    at = where(path)
    if value is None:
        raise WrongForm(f"{at}your function returned None. Did you forget the `return` statement?")
    if strict and _complex(value) and not _complex(ref):
        raise WrongForm(f"{at}your values are complex numbers where real ones are expected (a square root or a "
                        "power of a negative number, or a complex constant such as 1j?)")
    if isinstance(ref, tuple):
        names = f" ({', '.join(parts)})" if parts else ""
        if isinstance(value, (np.ndarray, Tensor)) and value.ndim >= 1 and len(value) == len(ref):
            value = tuple(value)   # a stacked array stands for the tuple of its rows
        if not isinstance(value, (tuple, list)):
            raise WrongForm(f"{at}expected a tuple of {len(ref)} values{names}, got a {type_name(value)}")
        if len(value) != len(ref):
            raise WrongForm(f"{at}expected {len(ref)} values{names}, got {len(value)}")
        leaves = []
        for k, (v, r) in enumerate(zip(value, ref)):
            name = parts[k] if parts and k < len(parts) else (f"{path}[{k}]" if path else f"value {k + 1}")
            leaves.extend(flatten(v, r, name, None, strict, python_number))
        return leaves
    if isinstance(ref, Tensor):
        if isinstance(value, Tensor):
            return [Leaf(path, _tensor_values(value), value.dtype, True)]
        if strict:
            raise WrongForm(f"{at}returned a {type_name(value)} where a torch.Tensor was expected")
        return [Leaf(path, _array_like(value))]
    if is_number(ref) or (isinstance(ref, np.ndarray) and ref.ndim == 0):
        if is_number(value) or (isinstance(value, np.ndarray) and value.ndim == 0):
            return [Leaf(path, np.asarray(value, dtype=np.float64))]
        if isinstance(value, Tensor) and value.ndim == 0 and not (strict and python_number):
            return [Leaf(path, _tensor_values(value))]
        if not strict:
            return [Leaf(path, _array_like(value))]
        if isinstance(value, Tensor) and value.ndim == 0:
            raise WrongForm(f"{at}returned a 0-d torch.Tensor where a Python number was expected: "
                            "use .item() (a tensor keeps the graph and memory alive)")
        if isinstance(value, (np.ndarray, Tensor)):
            raise WrongForm(f"{at}expected a single number, got a {type_name(value)} of shape "
                            f"{tuple(value.shape)}")
        raise WrongForm(f"{at}expected a number, got a {type_name(value)}")
    if isinstance(ref, np.ndarray):
        if isinstance(value, (list, tuple)) and strict:
            raise WrongForm(f"{at}returned a {type_name(value)} where a numpy array was expected: wrap it in "
                            "np.array(...) or compute with whole arrays")
        if isinstance(value, (np.ndarray, Tensor, list, tuple)) or is_number(value):
            try:
                return [Leaf(path, _array_like(value))]
            except (TypeError, ValueError, RuntimeError) as error:
                raise WrongForm(f"{at}cannot read the result as numbers: {error}") from None
        raise WrongForm(f"{at}returned a {type_name(value)} where a numpy array was expected")
    raise TypeError(f"unsupported reference type {type(ref).__name__}")  # a bug in the check


def close(a: Leaf, b: Leaf, rtol: float, atol: float) -> bool:
    if a.values.shape != b.values.shape:
        return False
    if a.values.size == 0:
        return True
    scale = max(1.0, float(np.max(np.abs(b.values)))) if np.all(np.isfinite(b.values)) else 1.0
    return bool(np.allclose(a.values, b.values, rtol=rtol, atol=atol * scale))


def leaves_close(a: list[Leaf], b: list[Leaf], rtol: float, atol: float) -> bool:
    return len(a) == len(b) and all(close(x, y, rtol, atol) for x, y in zip(a, b))


# ----------------------------------------------------------------------------- inputs changed in place
@dataclass(frozen=True)
class Plain:
    """The snapshot of an immutable value kept in a container (a number or a string in a list)."""

    value: Any


@dataclass
class Mapping:
    """The snapshot of a dict: its keys in order and the snapshots of its values."""

    keys: list
    values: list


def _plain(value: Any) -> bool:
    return isinstance(value, (bool, int, float, complex, str, bytes, np.generic))


def snapshot(value: Any) -> Any:
    """A copy of an argument's state, to tell later whether the function changed it.

    Tensors, arrays, modules and the contents of lists, tuples and dicts are
    copied (so that ``grid.reverse()`` on a list of ints is seen); an object of
    another kind gives ``None`` (not compared).
    """
    if isinstance(value, Tensor):
        return value.detach().clone()
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, torch.nn.Module):
        return {k: v.detach().clone() for k, v in value.state_dict().items()}
    if isinstance(value, (list, tuple)):
        return [snapshot(v) for v in value]
    if isinstance(value, dict):
        return Mapping(list(value), [snapshot(v) for v in value.values()])
    if _plain(value):
        return Plain(value)
    return None


def _same_plain(before: Any, after: Any) -> bool:
    if type(before) is not type(after):
        return False
    both_nan = isinstance(before, (float, np.floating)) and before != before and after != after
    return both_nan or bool(before == after)


def unchanged(before: Any, after: Any) -> bool:
    """Whether ``after`` still has the state :func:`snapshot` recorded in ``before``."""
    if before is None:
        return True
    if isinstance(before, Plain):
        return _same_plain(before.value, after)
    if isinstance(before, Tensor):
        return (isinstance(after, Tensor) and before.shape == after.shape
                and bool(torch.equal(before, after.detach())))
    if isinstance(before, np.ndarray):
        return (isinstance(after, np.ndarray) and before.shape == after.shape
                and bool(np.array_equal(before, after, equal_nan=True)))
    if isinstance(after, torch.nn.Module):
        now = after.state_dict()
        return before.keys() == now.keys() and all(torch.equal(before[k], now[k]) for k in before)
    if isinstance(before, Mapping):
        return (isinstance(after, dict) and before.keys == list(after)
                and all(unchanged(b, a) for b, a in zip(before.values, after.values())))
    if isinstance(before, list):
        return (isinstance(after, (list, tuple)) and len(before) == len(after)
                and all(unchanged(b, a) for b, a in zip(before, after)))
    return True
