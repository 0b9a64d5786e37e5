"""Generic diagnoses of a wrong answer, shared by every exercise.

Tried in order, after the exercise's own known mistakes:

* the wrong shape (and whether it is the transpose);
* the parts of a tuple in the wrong order;
* t off by one, however it was written: the reference itself is evaluated at
  t - 1 and t + 1, and on the schedule shifted by one step, so
  ``betas[t]``, ``betas[t - 2]``, ``alphas_cumprod[t]`` and
  ``np.prod(1 - betas[:t - 1])`` are all recognised;
* for a result that is a linear combination of tensor inputs (``a x + b ε``):
  the learner's coefficients are fitted and compared with those of the
  reference, term by term: swapped, missing, flipped, squared (a variance for
  a standard deviation), square-rooted, not scaled;
* a constant factor, a flipped sign, all zeros, squares or square roots of the
  right values, a factor that changes from case to case;
* only some cases wrong (naming them);
* otherwise the case with the largest error and its worst entries.
"""
from __future__ import annotations

import copy
import re

import numpy as np
import torch

from .compare import Leaf, close, flatten, leaves_close, where
from .engine import Exercise

OFF_BY_ONE = {
    -1: ("t is off by one: your values are those of step t - 1 (β_{t-1} or ᾱ_{t-1}, e.g. from betas[t - 2] or "
         "np.prod(1 - betas[:t - 1])). The book counts t = 1 … T: β_t is betas[t - 1] and "
         "ᾱ_t = (1 - β_1)…(1 - β_t) is alphas_cumprod[t - 1], the product over betas[:t]."),
    +1: ("t is off by one: your values are those of step t + 1 (β_{t+1} or ᾱ_{t+1}, e.g. from betas[t] or "
         "np.prod(1 - betas[:t + 1])). The book counts t = 1 … T: β_t is betas[t - 1] and "
         "ᾱ_t = (1 - β_1)…(1 - β_t) is alphas_cumprod[t - 1], the product over betas[:t]."),
}
TINY_BETA = 1e-12


def _t_values(t) -> np.ndarray:
    return np.atleast_1d(t.numpy() if isinstance(t, torch.Tensor) else np.asarray(t))


def _shifted_args(exercise: Exercise, args: tuple, shift: int, how: str) -> tuple | None:
    """The arguments of a case with t moved by ``shift``, either in t itself or in the schedule."""
    args = copy.deepcopy(args)
    t, betas = args[exercise.t_arg], np.asarray(args[exercise.betas_arg], dtype=np.float64)
    T = len(betas)
    values = _t_values(t)
    if how == "t":
        if values.min() + shift < 1 or values.max() + shift > T:
            return None
        new_t = t + shift
        return args[:exercise.t_arg] + (new_t,) + args[exercise.t_arg + 1:]
    if shift == -1:   # step t now sees β_{t-1} and ᾱ_{t-1} (ᾱ_0 = 1 at t = 1)
        new_betas = np.concatenate([[TINY_BETA], betas[:-1]])
    else:             # step t now sees β_{t+1} and ᾱ_{t+1}
        if values.max() >= T:
            return None
        new_betas = np.concatenate([betas[1:], betas[-1:]])
    return args[:exercise.betas_arg] + (new_betas,) + args[exercise.betas_arg + 1:]


def off_by_one(exercise: Exercise, cases, leaves, matched, ok) -> str | None:
    if exercise.t_arg is None or exercise.betas_arg is None:
        return None
    for shift in (-1, +1):
        for how in ("t", "schedule"):
            applicable, wrong_somewhere, wrapped = 0, False, False
            for i in ok:
                args = _shifted_args(exercise, cases[i].args, shift, how)
                if args is None:
                    continue
                try:
                    ref = exercise.reference(*args)
                    ref_leaves = flatten(ref, ref, parts=exercise.parts)
                except Exception:  # noqa: BLE001 - the shifted reference does not exist here
                    continue
                if not leaves_close(leaves[i], ref_leaves, exercise.rtol, exercise.atol):
                    if shift == -1 and how == "schedule" and _t_values(cases[i].args[exercise.t_arg]).min() == 1:
                        wrapped = True   # betas[t - 2] at t = 1 wraps round to β_T: still this mistake
                        continue
                    applicable = -1
                    break
                applicable += 1
                wrong_somewhere |= not matched[i]
            if applicable > 0 and wrong_somewhere:
                return OFF_BY_ONE[shift] + (" (At t = 1 an index t - 2 wraps round to the last entry.)"
                                            if wrapped else "")
    return None


def wrong_only_at_t_1(exercise: Exercise, cases, matched, ok) -> bool:
    """Every wrong case has t = 1 and some case without t = 1 is right (ᾱ_0 = 1 forgotten, say)."""
    if exercise.t_arg is None:
        return False
    has_1 = {i: _t_values(cases[i].args[exercise.t_arg]).min() == 1 for i in ok}
    wrong = [i for i in ok if not matched[i]]
    return bool(wrong) and all(has_1[i] for i in wrong) and any(not has_1[i] for i in ok)


def _fit(target: np.ndarray, columns: list[np.ndarray]) -> tuple[np.ndarray, float]:
    """Least-squares coefficients of ``target`` on ``columns`` and the relative residual."""
    design = np.stack([c.ravel() for c in columns], axis=1)
    coef, *_ = np.linalg.lstsq(design, target.ravel(), rcond=None)
    residual = np.linalg.norm(design @ coef - target.ravel()) / max(np.linalg.norm(target.ravel()), 1e-12)
    return coef, float(residual)


def _describe_coefficient(name: str, got: float, want: float) -> str | None:
    def near(a, b):
        return abs(a - b) <= 2e-3 * max(1.0, abs(b))
    if near(got, want):
        return None
    if near(got, 0.0):
        return f"the term in `{name}` is missing (its coefficient should be {want:.4g})"
    if near(got, -want):
        return f"the sign of the `{name}` term is flipped"
    if near(got, 1.0):
        return f"`{name}` is not scaled (coefficient 1; it should be {want:.4g})"
    if want > 0 and near(got, want**2):
        return (f"the coefficient of `{name}` is {got:.4g}, the square of the right one, {want:.4g}: a square "
                "root is missing (a variance where a standard deviation belongs?)")
    if want > 0 and got > 0 and near(got, want**0.5):
        return f"the coefficient of `{name}` is {got:.4g}, the square root of the right one, {want:.4g}: a square root too many"
    if abs(want) > 1e-9 and near(got, 1.0 / want):
        return f"the coefficient of `{name}` is 1 / {want:.4g}: you divided where you should multiply, or the reverse"
    return f"the coefficient of `{name}` is {got:.4g}, it should be {want:.4g}"


def _column(args: tuple, j) -> np.ndarray:
    """Argument ``j`` of a case (or ``j(args)`` for a derived input such as the model's output) as floats."""
    value = j(copy.deepcopy(args)) if callable(j) else args[j]
    return np.asarray(value.detach().numpy() if isinstance(value, torch.Tensor) else value, dtype=np.float64)


def linear_terms(exercise: Exercise, cases, leaves, ref_leaves, matched, ok) -> str | None:
    if not exercise.linear:
        return None
    wrong = [i for i in ok if not matched[i]]
    names = [name for _, name in exercise.linear]
    for i in wrong:
        got_leaf, want_leaf = leaves[i][0], ref_leaves[i][0]
        if got_leaf.values.shape != want_leaf.values.shape:
            return None
        columns = [_column(cases[i].args, j) for j, _ in exercise.linear]
        if columns[0].size < 3 * len(columns):
            continue
        got, res_got = _fit(got_leaf.values, columns)
        want, res_want = _fit(want_leaf.values, columns)
        got, want = (np.where(np.abs(c) < 1e-9, 0.0, c) for c in (got, want))   # rounding noise of an exact 0
        if res_want > 1e-5 or res_got > 1e-4:
            return None
        label = cases[i].label
        if len(names) == 2 and np.allclose(got, want[::-1], rtol=2e-3, atol=1e-6):
            return (f"{where(got_leaf.path)}the coefficients of `{names[0]}` and `{names[1]}` are swapped "
                    f"(for {label}: yours {got[0]:.4g} and {got[1]:.4g}, expected {want[0]:.4g} and {want[1]:.4g}).")
        problems = [p for p in (_describe_coefficient(n, g, w) for n, g, w in zip(names, got, want)) if p]
        if problems:
            return f"{where(got_leaf.path)}for {label}: " + "; ".join(problems) + "."
    return None


def _constant_ratio(got: np.ndarray, want: np.ndarray) -> float | None:
    """The constant c with got = c · want, if there is one (else None)."""
    if got.shape != want.shape or want.size == 0:
        return None
    big = np.abs(want) > 1e-6 * max(np.max(np.abs(want)), 1e-300)
    if not np.any(big):
        return None
    c = float(np.median(got[big] / want[big]))
    if not np.isfinite(c) or abs(c - 1) < 1e-4:
        return None
    if np.allclose(got, c * want, rtol=1e-4, atol=1e-7 * max(1.0, float(np.max(np.abs(want))))):
        return c
    return None


def fmt(values: np.ndarray, limit: int = 4) -> str:
    values = np.asarray(values)
    if values.ndim == 0:
        return f"{float(values):.4g}"
    flat = values.ravel()
    more = ", …" if flat.size > limit else ""
    return f"[{', '.join(f'{v:.4g}' for v in flat[:limit])}{more}] (shape {tuple(values.shape)})"


def largest_errors(pairs) -> str:
    """The case with the largest error and its (up to 3) worst entries."""
    case, got, want = max(pairs, key=lambda p: float(np.max(np.abs(p[1] - p[2]))) if p[1].size else 0.0)
    if want.ndim == 0:
        return f"for {case.label}: expected {float(want):.6g}, got {float(got):.6g}."
    error = np.abs(got - want)
    worst = np.argsort(error.ravel())[::-1][:3]
    entries = "; ".join(f"[{', '.join(str(int(k)) for k in np.unravel_index(w, want.shape))}]: expected "
                        f"{want.ravel()[w]:.6g}, got {got.ravel()[w]:.6g}" for w in worst)
    return f"largest errors for {case.label} at {entries}."


def _whole_parts(paths: list[str], right: list[bool]) -> list[str]:
    """The right leaves' paths, with "p[0]", "p[1]", … named once as "p" when all of p is right."""
    base = [re.sub(r"\[\d+\]$", "", path) for path in paths]
    whole = {b for b in base if all(r for b2, r in zip(base, right) if b2 == b)}
    named: list[str] = []
    for path, b, r in zip(paths, base, right):
        name = b if b in whole else path
        if r and name not in named:
            named.append(name)
    return named


def diagnose(exercise: Exercise, cases, leaves, ref_leaves, matched, ok) -> str:
    """The generic explanation of a wrong answer (see the module docstring)."""
    n_leaves = len(ref_leaves[ok[0]])
    leaf_ok = [all(close(leaves[i][k], ref_leaves[i][k], exercise.rtol, exercise.atol) for i in ok)
               for k in range(n_leaves)]
    prefix = ""
    if n_leaves > 1 and any(leaf_ok):
        right = _whole_parts([ref_leaves[ok[0]][k].path for k in range(n_leaves)], leaf_ok)
        if len(set(right)) == len(right):
            prefix = f"{', '.join(right)} {'is' if sum(leaf_ok) == 1 else 'are'} right; "
    k = leaf_ok.index(False)
    at = where(ref_leaves[ok[0]][k].path)
    pairs = [(cases[i], leaves[i][k].values, ref_leaves[i][k].values) for i in ok]
    for case, got, want in pairs:
        if got.shape != want.shape:
            text = f"{at}wrong shape: expected {want.shape}, got {got.shape} (for {case.label})."
            if got.ndim == 2 and got.shape == want.shape[::-1] and np.allclose(got.T, want, rtol=1e-4, atol=1e-6):
                text += " Your result is the transpose of the expected one."
            elif got.size == 1:
                text += " You returned a single number where an array was expected."
            return prefix + text
    if n_leaves == 2 and all(close(leaves[i][0], ref_leaves[i][1], exercise.rtol, exercise.atol)
                             and close(leaves[i][1], ref_leaves[i][0], exercise.rtol, exercise.atol) for i in ok):
        return f"the two values are in the wrong order: return ({ref_leaves[ok[0]][0].path}, {ref_leaves[ok[0]][1].path})."
    message = off_by_one(exercise, cases, leaves, matched, ok)
    if message:
        return message
    if k == 0 and not wrong_only_at_t_1(exercise, cases, matched, ok):   # t = 1 alone: said below
        message = linear_terms(exercise, cases, leaves, ref_leaves, matched, ok)
        if message:
            return prefix + message
    got_all = np.concatenate([g.ravel() for _, g, _ in pairs])
    want_all = np.concatenate([w.ravel() for _, _, w in pairs])
    factor = _constant_ratio(got_all, want_all)
    if factor is not None:
        if abs(factor + 1) < 1e-3:
            return prefix + f"{at}the sign is flipped: your values are minus the expected ones."
        if abs(factor) < 1e-12:
            return prefix + f"{at}your values are all 0."
        shown = f"{factor:.4g}" if abs(factor - 1) > 1e-3 else f"{factor:.7g}"    # 1.000507, not 1
        return prefix + (f"{at}off by a constant factor: your values are {shown} × the expected ones. "
                         "Check the constants in your formula.")
    if np.all(want_all >= 0) and np.any(want_all > 1e-6):
        if np.allclose(got_all, want_all**2, rtol=1e-4, atol=1e-9):
            return prefix + (f"{at}your values are the squares of the expected ones: a square root is missing "
                             "(a variance where a standard deviation belongs?).")
        if np.allclose(got_all, np.sqrt(want_all), rtol=1e-4, atol=1e-9):
            return prefix + (f"{at}your values are the square roots of the expected ones: a square root too "
                             "many (a standard deviation where a variance belongs?).")
    per_case = [_constant_ratio(g.ravel(), w.ravel()) if w.size > 1 else None for _, g, w in pairs]
    if all(r is not None for r in per_case) and len({round(r, 6) for r in per_case}) > 1:
        case, ratio = next((c, r) for (c, _, _), r in zip(pairs, per_case) if abs(r - 1) > 1e-3)
        return prefix + (f"{at}in each case your result is a multiple of the expected one, but the factor "
                         f"changes with the inputs (×{ratio:.4g} for {case.label}): a coefficient that depends "
                         "on the inputs is wrong.")
    wrong = [(c, g, w) for (c, g, w), i in zip(pairs, ok)
             if not close(Leaf("", g), Leaf("", w), exercise.rtol, exercise.atol)]
    if 0 < len(wrong) < len(pairs):
        labels = "; ".join(c.label for c, _, _ in wrong[:3])
        hint = ""
        if exercise.t_arg is not None and all(_t_values(c.args[exercise.t_arg]).min() == 1 for c, _, _ in wrong):
            hint = (" At t = 1, ᾱ_{t-1} = ᾱ_0 = 1 (the empty product): alphas_cumprod[t - 2] wraps round "
                    "to ᾱ_T there.")
        return prefix + (f"{at}correct on {len(pairs) - len(wrong)} of {len(pairs)} cases, but wrong for "
                         f"{labels}.{hint} Look at what is special about "
                         f"{'this case' if len(wrong) == 1 else 'these cases'}: " + largest_errors(wrong))
    return prefix + f"{at}wrong values; " + largest_errors(wrong or pairs)
