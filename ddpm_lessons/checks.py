"""Feedback for the exercises: run the learner's function and say what is wrong.

Every ``check_*`` function takes the learner's function, calls it on *fresh*
random inputs (pass ``seed=`` to repeat a run), compares the results with the
tested functions of this package, prints one verdict and returns ``True`` when
the function is correct::

    >>> check_forward_step(forward_step)          # doctest: +SKIP
    ✅ forward step: correct on 5 random cases

How a check decides (the engine, :func:`run_check`):

1. An untouched exercise raises ``NotImplementedError``: the check prints
   "⏳ not done yet" and returns ``False``.
2. Any other exception is reported by type and message (and the line of your
   code that raised it), never with a traceback.
3. The result must have the expected form: not ``None``, the right type
   (a ``torch.Tensor`` where tensors are expected, a numpy array or a number
   elsewhere), no NaN or infinity.
4. If every case agrees with the reference (to float32 accuracy), the check
   passes, unless a tensor has the wrong dtype.
5. Otherwise the known mistakes of that exercise are tried one by one (a
   missing square root, β_t in place of β̃_t, t off by one, …): a mistake is
   reported when your results equal the mistaken formula on every case.
6. Failing that, generic diagnoses: wrong shape, a constant factor or a
   flipped sign, squares or square roots of the right values, a wrong edge
   case (e.g. only t = 1 is wrong), and finally the first wrong values.

The checks never print the reference code, only values and hints.  They catch
``Exception`` (not ``KeyboardInterrupt``), so a check never stops a notebook.
"""
from __future__ import annotations

import copy
import math
import os
import sys
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .diffusion import GaussianDiffusion
from .model import ConditionedLayer, SinusoidalEmbedding, TimeConditionedMLP, parameter_count
from .model import sinusoidal_embedding_matrix
from .normal import normal_pdf, sample_normal, sum_of_normals
from .optimal import ks_statistic_uniform, squared_distance_derivatives
from .schedules import alphas_cumprod, linear_beta_schedule
from .spiral import T_MAX, T_MIN, spiral_curve, spiral_curve_derivatives

__all__ = [
    "Case", "Mistake", "Exercise", "run_check", "variant",
    "check_sample_normal", "check_normal_pdf", "check_sum_of_normals",
    "check_forward_step", "check_linear_schedule", "check_alphas_cumprod",
    "check_shortcut_coefficients", "check_q_sample", "check_iterate_forward",
    "check_posterior_mean_variance", "check_predict_x0", "check_posterior_mean_from_noise",
    "check_embedding_matrix", "check_conditioned_layer", "check_parameter_count",
    "check_simplified_loss", "check_training_loss", "check_train_step", "check_p_sample_step",
    "check_distance_derivatives", "check_newton_step", "check_mean_distance", "check_coverage_ks",
    "check_pattern_data", "check_pattern_curve", "check_curve_coverage",
    "reference_mean_distance", "reference_curve_coverage",
]

PASS, NOT_DONE, FAIL = "✅", "⏳", "❌"


# =============================================================================
# The engine
# =============================================================================
@dataclass
class Case:
    """One set of inputs: ``args`` are passed positionally; ``label`` names the case in messages."""

    args: tuple
    label: str


@dataclass
class Mistake:
    """A known wrong answer and the message that explains it.

    ``wrong`` computes the wrong answer from a case's arguments (return
    ``None`` where the mistake does not apply, e.g. t + 1 at t = T); the
    mistake is diagnosed when the learner's results equal it on every case
    where it applies.  ``predicate(outputs, cases, expected)`` is an
    alternative test for mistakes that are not a formula (e.g. the right
    distribution drawn from the wrong random generator).
    """

    message: str
    wrong: Callable[..., Any] | None = None
    predicate: Callable[[list, list[Case], list], bool] | None = None


def variant(message: str, wrong: Callable[..., Any]) -> Mistake:
    """Shorthand for a :class:`Mistake` given by its wrong formula."""
    return Mistake(message, wrong=wrong)


@dataclass
class Exercise:
    """What a check needs to know about one exercise.

    Args:
        name: shown in every message ("forward step").
        make_cases: ``rng -> list[Case]``; called with a fresh generator each time.
        reference: the correct function, built from the tested package.
        mistakes: known wrong answers, tried in order.
        parts: names of the components when the result is a tuple.
        call: how to call the learner's function (default ``fn(*args)``); it
            may also collect side effects (e.g. the parameters after a step).
        prepare: applied to every private copy of a case's arguments before
            use (e.g. to put stale gradients on a model).
        validators: ``(output, case) -> message | None``, run on each raw
            output before it is compared (e.g. "your loss is detached").
        error_hints: ``(substring of an error message, hint)`` pairs.
        type_hint: added to a wrong-type message.
        rtol, atol: tolerances; ``atol`` is relative to the largest expected value.
    """

    name: str
    make_cases: Callable[[np.random.Generator], list[Case]]
    reference: Callable[..., Any]
    mistakes: Sequence[Mistake] = ()
    parts: tuple[str, ...] | None = None
    call: Callable[[Callable, tuple], Any] | None = None
    prepare: Callable[[tuple], tuple] | None = None
    validators: Sequence[Callable[[Any, Case], str | None]] = ()
    error_hints: Sequence[tuple[str, str]] = ()
    type_hint: str = ""
    rtol: float = 1e-4
    atol: float = 1e-5


class _WrongForm(Exception):
    """Raised while flattening a result whose form (type, structure) is wrong."""


@dataclass
class _Leaf:
    path: str
    values: np.ndarray
    dtype: torch.dtype | None = None
    is_tensor: bool = False


@dataclass
class _Raised:
    error: Exception


def _type_name(value: Any) -> str:
    if isinstance(value, Tensor):
        return "torch.Tensor"
    if isinstance(value, np.ndarray):
        return "numpy.ndarray"
    module = type(value).__module__
    return type(value).__name__ if module == "builtins" else f"{module}.{type(value).__name__}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _describe_part(path: str) -> str:
    return f"{path}: " if path else ""


def _flatten(value: Any, ref: Any, path: str = "", parts: tuple[str, ...] | None = None,
             strict: bool = True) -> list[_Leaf]:
    """Turn a result into leaves shaped like ``ref``; raise :class:`_WrongForm` if it cannot be.

    With ``strict=False`` (for the wrong formulas of :class:`Mistake`) only the
    structure is followed and any array-like is accepted.
    """
    where = _describe_part(path)
    if value is None:
        raise _WrongForm(f"{where}your function returned None. Did you forget the `return` statement?")
    if isinstance(ref, tuple):
        if not isinstance(value, (tuple, list)):
            raise _WrongForm(f"{where}expected a tuple of {len(ref)} values"
                             f"{' (' + ', '.join(parts) + ')' if parts else ''}, got a {_type_name(value)}")
        if len(value) != len(ref):
            raise _WrongForm(f"{where}expected {len(ref)} values"
                             f"{' (' + ', '.join(parts) + ')' if parts else ''}, got {len(value)}")
        leaves = []
        for k, (v, r) in enumerate(zip(value, ref)):
            name = parts[k] if parts and k < len(parts) else (f"{path}[{k}]" if path else f"value {k + 1}")
            leaves.extend(_flatten(v, r, name, None, strict))
        return leaves
    if isinstance(ref, Tensor):
        if isinstance(value, Tensor):
            return [_Leaf(path, value.detach().cpu().to(torch.float64).numpy(), value.dtype, True)]
        if strict:
            raise _WrongForm(f"{where}returned a {_type_name(value)} where a torch.Tensor was expected")
        return [_Leaf(path, np.asarray(value, dtype=np.float64))]
    ref_is_number = _is_number(ref) or (isinstance(ref, np.ndarray) and ref.ndim == 0)
    if ref_is_number:
        if _is_number(value) or (isinstance(value, np.ndarray) and value.ndim == 0):
            return [_Leaf(path, np.asarray(value, dtype=np.float64))]
        if isinstance(value, Tensor) and value.ndim == 0:
            return [_Leaf(path, value.detach().cpu().to(torch.float64).numpy())]
        if not strict and isinstance(value, (np.ndarray, Tensor)):
            return [_Leaf(path, np.asarray(value.detach() if isinstance(value, Tensor) else value,
                                           dtype=np.float64))]
        if isinstance(value, (np.ndarray, Tensor)):
            raise _WrongForm(f"{where}expected a single number, got a {_type_name(value)} of shape "
                             f"{tuple(value.shape)}")
        raise _WrongForm(f"{where}expected a number, got a {_type_name(value)}")
    if isinstance(ref, np.ndarray):
        if isinstance(value, np.ndarray) or (not strict and not isinstance(value, Tensor)):
            try:
                return [_Leaf(path, np.asarray(value, dtype=np.float64))]
            except (TypeError, ValueError) as error:
                raise _WrongForm(f"{where}cannot read the result as numbers: {error}") from None
        if isinstance(value, Tensor):
            if not strict:
                return [_Leaf(path, value.detach().cpu().to(torch.float64).numpy())]
            raise _WrongForm(f"{where}returned a torch.Tensor where a numpy array was expected")
        if _is_number(value):
            return [_Leaf(path, np.asarray(value, dtype=np.float64))]   # shape is checked later
        raise _WrongForm(f"{where}returned a {_type_name(value)} where a numpy array was expected")
    raise TypeError(f"unsupported reference type {type(ref).__name__}")  # a bug in the check itself


def _close(a: _Leaf, b: _Leaf, rtol: float, atol: float) -> bool:
    if a.values.shape != b.values.shape:
        return False
    if a.values.size == 0:
        return True
    scale = max(1.0, float(np.max(np.abs(b.values)))) if np.all(np.isfinite(b.values)) else 1.0
    return bool(np.allclose(a.values, b.values, rtol=rtol, atol=atol * scale))


def _leaves_close(a: list[_Leaf], b: list[_Leaf], rtol: float, atol: float) -> bool:
    return len(a) == len(b) and all(_close(x, y, rtol, atol) for x, y in zip(a, b))


def _fmt_values(values: np.ndarray, limit: int = 4) -> str:
    values = np.asarray(values)
    if values.ndim == 0:
        return f"{float(values):.4g}"
    flat = values.ravel()
    shown = ", ".join(f"{v:.4g}" for v in flat[:limit])
    more = ", …" if flat.size > limit else ""
    return f"[{shown}{more}] (shape {tuple(values.shape)})"


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _learner_line(error: BaseException) -> str:
    """The last line of the learner's own code in the traceback (not the library's)."""
    library_roots = tuple({sys.prefix, sys.base_prefix, os.path.dirname(os.path.dirname(np.__file__)),
                           os.path.dirname(os.path.dirname(torch.__file__)),
                           os.path.dirname(os.path.abspath(__file__)) + os.sep})
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if not os.path.abspath(f.filename).startswith(library_roots)]
    if frames and frames[-1].line:
        return f" (in your line `{_short(frames[-1].line, 80)}`)"
    return ""


def _error_text(exercise: Exercise, error: Exception, label: str) -> str:
    message = _short(str(error)) or "(no message)"
    text = f"your function raised {type(error).__name__}: {message}{_learner_line(error)} (for {label})"
    for needle, hint in exercise.error_hints:
        if needle.lower() in str(error).lower():
            text += f"\n   Hint: {hint}"
            break
    return text


def _report(symbol: str, name: str, message: str) -> None:
    print(f"{symbol} {name}: {message}")


def _params_after(model: torch.nn.Module) -> tuple[Tensor, ...]:
    return tuple(p.detach().clone() for p in model.parameters())


def run_check(exercise: Exercise, fn: Any, seed: int | None = None) -> bool:
    """Run ``fn`` on fresh cases of ``exercise``, print one verdict and return whether it passed."""
    if not callable(fn):
        _report(FAIL, exercise.name,
                f"expected a function, got a {_type_name(fn)}. Pass the function itself, "
                "e.g. check(my_function), not check(my_function(...)).")
        return False
    rng = np.random.default_rng(seed)
    cases = exercise.make_cases(rng)

    def private(args: tuple) -> tuple:
        args = copy.deepcopy(args)
        return exercise.prepare(args) if exercise.prepare else args

    results: list[Any] = []
    for case in cases:
        try:
            args = private(case.args)
            out = exercise.call(fn, args) if exercise.call else fn(*args)
        except NotImplementedError:
            print(f"{NOT_DONE} not done yet: {exercise.name}. Replace the "
                  "`raise NotImplementedError(...)` line with your code, run that cell, then run this "
                  "check again.")
            return False
        except Exception as error:  # noqa: BLE001 - a check must never stop the notebook
            results.append(_Raised(error))
            continue
        results.append(out)
    try:
        return _judge(exercise, cases, results, private)
    except Exception as error:  # noqa: BLE001 - last line of defence
        _report(FAIL, exercise.name,
                f"could not judge your result ({type(error).__name__}: {_short(str(error))}).")
        return False


def _judge(exercise: Exercise, cases: list[Case], results: list[Any], private) -> bool:
    name = exercise.name
    expected = [exercise.reference(*private(c.args)) for c in cases]
    ok = [i for i, r in enumerate(results) if not isinstance(r, _Raised)]
    raised = [i for i, r in enumerate(results) if isinstance(r, _Raised)]
    if not ok:
        i = raised[0]
        _report(FAIL, name, _error_text(exercise, results[i].error, cases[i].label))
        return False
    also = ""
    if raised:
        i = raised[0]
        also = "\n   It also fails: " + _error_text(exercise, results[i].error, cases[i].label)

    # --- form: None, type, validators, NaN ---------------------------------
    if any(results[i] is None for i in ok):
        _report(FAIL, name, "your function returned None. Did you forget the `return` statement?")
        return False
    leaves: dict[int, list[_Leaf]] = {}
    ref_leaves: dict[int, list[_Leaf]] = {}
    for i in ok:
        try:
            leaves[i] = _flatten(results[i], expected[i], parts=exercise.parts)
        except _WrongForm as problem:
            text = str(problem)
            text += "" if text.endswith(("?", ".")) else "."
            if exercise.type_hint and "returned None" not in text:
                text += f" {exercise.type_hint}"
            _report(FAIL, name, text)
            return False
        ref_leaves[i] = _flatten(expected[i], expected[i], parts=exercise.parts)
    for validator in exercise.validators:
        for i in ok:
            message = validator(results[i], cases[i])
            if message:
                _report(FAIL, name, message)
                return False
    for i in ok:
        for leaf, ref in zip(leaves[i], ref_leaves[i]):
            if not np.all(np.isfinite(leaf.values)) and np.all(np.isfinite(ref.values)):
                kind = "NaN" if np.isnan(leaf.values).any() else "infinite values"
                _report(FAIL, name,
                        f"{_describe_part(leaf.path)}your result contains {kind} (for {cases[i].label}). "
                        "Look for the square root or log of a negative number, 0/0, or a division by "
                        "a number that is 0 here.")
                return False

    rtol, atol = exercise.rtol, exercise.atol
    matched = {i: _leaves_close(leaves[i], ref_leaves[i], rtol, atol) for i in ok}

    # --- everything right? ------------------------------------------------
    if all(matched.values()):
        if raised:
            _report(FAIL, name, f"correct on {len(ok)} of {len(cases)} cases." + also)
            return False
        for i in ok:
            for leaf, ref in zip(leaves[i], ref_leaves[i]):
                if leaf.is_tensor and ref.is_tensor and leaf.dtype != ref.dtype:
                    _report(FAIL, name,
                            f"{_describe_part(leaf.path)}the values are right but the tensor has dtype "
                            f"{leaf.dtype}, expected {ref.dtype} (the dtype of the inputs). A float64 "
                            "tensor made from a numpy array promotes the result: use Python floats, or "
                            "torch.as_tensor(a, dtype=x.dtype).")
                    return False
        _report(PASS, name, f"correct on {len(cases)} random cases")
        return True

    # --- known mistakes ---------------------------------------------------
    for mistake in exercise.mistakes:
        if _mistake_matches(mistake, exercise, cases, results, expected, leaves, matched, ok, private):
            _report(FAIL, name, mistake.message + also)
            return False

    # --- generic diagnoses ------------------------------------------------
    _report(FAIL, name, _generic_diagnosis(exercise, cases, leaves, ref_leaves, matched, ok) + also)
    return False


def _mistake_matches(mistake: Mistake, exercise: Exercise, cases, results, expected, leaves,
                     matched, ok, private) -> bool:
    if not any(not matched[i] for i in ok):
        return False
    if mistake.predicate is not None:
        try:
            return bool(mistake.predicate([results[i] for i in ok], [cases[i] for i in ok],
                                          [expected[i] for i in ok]))
        except Exception:  # noqa: BLE001 - a detector that cannot decide does not match
            return False
    applicable = 0
    wrong_somewhere = False
    for i in ok:
        try:
            wrong = mistake.wrong(*private(cases[i].args))
        except Exception:  # noqa: BLE001 - the mistake does not apply to this case
            continue
        if wrong is None:
            continue
        try:
            wrong_leaves = _flatten(wrong, expected[i], parts=exercise.parts, strict=False)
        except _WrongForm:
            continue
        if not _leaves_close(leaves[i], wrong_leaves, exercise.rtol, exercise.atol):
            return False
        applicable += 1
        wrong_somewhere |= not matched[i]
    return applicable > 0 and wrong_somewhere


def _generic_diagnosis(exercise: Exercise, cases, leaves, ref_leaves, matched, ok) -> str:
    n_leaves = len(ref_leaves[ok[0]])
    leaf_ok = [all(_close(leaves[i][k], ref_leaves[i][k], exercise.rtol, exercise.atol) for i in ok)
               for k in range(n_leaves)]
    prefix = ""
    if n_leaves > 1 and any(leaf_ok):
        right = [ref_leaves[ok[0]][k].path for k in range(n_leaves) if leaf_ok[k]]
        if len(set(right)) == len(right):  # only name distinct parts
            prefix = f"{', '.join(right)} {'is' if len(right) == 1 else 'are'} right; "
    k = leaf_ok.index(False)
    path = ref_leaves[ok[0]][k].path
    where = _describe_part(path)
    pairs = [(cases[i], leaves[i][k].values, ref_leaves[i][k].values) for i in ok]

    # shape
    for case, got, want in pairs:
        if got.shape != want.shape:
            text = f"{where}wrong shape: expected {want.shape}, got {got.shape} (for {case.label})."
            if got.ndim == 2 and got.shape == want.shape[::-1] and np.allclose(got.T, want, rtol=1e-4,
                                                                                 atol=1e-6):
                text += " Your result is the transpose of the expected one."
            elif got.ndim == 0 or got.size == 1:
                text += " You returned a single number where an array was expected."
            return prefix + text

    same = [(c, g, w) for c, g, w in pairs if not np.allclose(g, w, rtol=exercise.rtol, atol=exercise.atol
                                                               * max(1.0, float(np.max(np.abs(w))) if w.size else 1.0))]
    # constant factor (over all cases, then within each case)
    got_all = np.concatenate([g.ravel() for _, g, _ in pairs])
    want_all = np.concatenate([w.ravel() for _, _, w in pairs])
    factor = _constant_ratio(got_all, want_all)
    if factor is not None:
        if abs(factor + 1) < 1e-3:
            return prefix + f"{where}the sign is flipped: your values are minus the expected ones."
        if abs(factor) < 1e-12:
            return prefix + f"{where}your values are all 0."
        return prefix + (f"{where}off by a constant factor: your values are {factor:.4g} × the expected "
                         "ones. Check the constants in your formula.")
    # squares / square roots
    if np.all(want_all >= 0) and np.any(want_all > 1e-6):
        if np.allclose(got_all, want_all**2, rtol=1e-4, atol=1e-9):
            return prefix + (f"{where}your values are the squares of the expected ones: a square root "
                             "is missing.")
        if np.allclose(got_all, np.sqrt(want_all), rtol=1e-4, atol=1e-9):
            return prefix + (f"{where}your values are the square roots of the expected ones: there is "
                             "a square root too many.")
    # a factor that is constant within each case (of several values) but not across cases
    per_case = [_constant_ratio(g.ravel(), w.ravel()) if w.size > 1 else None for _, g, w in pairs]
    if all(r is not None for r in per_case) and len({round(r, 6) for r in per_case}) > 1:
        first = next((c, r) for (c, _, _), r in zip(pairs, per_case) if abs(r - 1) > 1e-3)
        return prefix + (f"{where}in each case your result is a multiple of the expected one, but the "
                         f"factor changes with the inputs (×{first[1]:.4g} for {first[0].label}): a "
                         "coefficient that depends on the inputs is wrong.")
    # only some cases wrong
    wrong_cases = [c for c, _, _ in same]
    if 0 < len(wrong_cases) < len(pairs):
        labels = "; ".join(c.label for c in wrong_cases[:3])
        case, got, want = same[0]
        return prefix + (f"{where}correct on {len(pairs) - len(wrong_cases)} of {len(pairs)} cases, but "
                         f"wrong for {labels}. Look at what is special about "
                         f"{'this case' if len(wrong_cases) == 1 else 'these cases'}: for {case.label} "
                         f"expected {_fmt_values(want)}, got {_fmt_values(got)}.")
    case, got, want = same[0] if same else pairs[0]
    return prefix + (f"{where}wrong values. For {case.label}: expected {_fmt_values(want)}, "
                     f"got {_fmt_values(got)}.")


def _constant_ratio(got: np.ndarray, want: np.ndarray) -> float | None:
    """The constant c with got = c · want, if there is one (else None)."""
    if got.shape != want.shape or want.size == 0:
        return None
    big = np.abs(want) > 1e-6 * max(np.max(np.abs(want)), 1e-300)
    if not np.any(big):
        return None
    ratio = got[big] / want[big]
    c = float(np.median(ratio))
    if not np.isfinite(c) or abs(c - 1) < 1e-4:
        return None
    if np.allclose(got, c * want, rtol=1e-4, atol=1e-7 * max(1.0, float(np.max(np.abs(want))))):
        return c
    return None


# =============================================================================
# Random inputs shared by several exercises
# =============================================================================
def _float32_tensor(rng: np.random.Generator, shape: tuple[int, ...], scale: float = 1.0) -> Tensor:
    return torch.from_numpy((scale * rng.standard_normal(shape)).astype(np.float32))


def _random_schedule(rng: np.random.Generator, low: int = 6, high: int = 30) -> np.ndarray:
    """A linear schedule with T in [low, high] and β from ~1e-3…2e-2 up to ~5e-2…0.2.

    β stays well away from 0 and 1 so that β and √β, 1 - β and √(1 - β) differ
    clearly; ᾱ_T stays above ~0.01 so that float32 results are accurate.
    """
    T = int(rng.integers(low, high + 1))
    return np.linspace(rng.uniform(1e-3, 2e-2), rng.uniform(0.05, 0.2), T)


def _times(rng: np.random.Generator, T: int, n_random: int = 3) -> list[int]:
    """t = 1, t = T and some t in between (the edges are where mistakes hide)."""
    middle = [int(t) for t in rng.integers(2, T, size=n_random)] if T > 2 else []
    return [1, T] + middle


def _diffusion(betas: np.ndarray, dtype: torch.dtype = torch.float32) -> GaussianDiffusion:
    return GaussianDiffusion(np.asarray(betas, dtype=np.float64), dtype=dtype)


def _abar(betas: np.ndarray) -> np.ndarray:
    return np.cumprod(1.0 - np.asarray(betas, dtype=np.float64))


def _abar_prev(betas: np.ndarray, t: int) -> float:
    return 1.0 if t == 1 else float(_abar(betas)[t - 2])


def _valid_t(t: int, betas: np.ndarray) -> bool:
    return 1 <= t <= len(betas)


OFF_BY_ONE_PLUS = ("t is off by one: you used β_{t+1}, i.e. betas[t]. The book counts t = 1 … T, so "
                   "β_t is betas[t - 1].")
OFF_BY_ONE_MINUS = ("t is off by one: you used the values of step t - 1 (e.g. betas[t - 2]). The book "
                    "counts t = 1 … T, so β_t is betas[t - 1] and ᾱ_t is alphas_cumprod[t - 1].")

TENSOR_HINT = ("The inputs are torch tensors: compute with them directly (Python floats times tensors "
               "stay tensors) rather than converting to numpy.")


# =============================================================================
# Chapter 1: the normal distribution
# =============================================================================
def _sigma(rng: np.random.Generator) -> float:
    """A σ well away from 1, so that σ, σ² and √σ differ clearly."""
    return float(rng.uniform(0.3, 0.7) if rng.random() < 0.5 else rng.uniform(1.5, 3.0))


def _cases_sample_normal(rng):
    cases = []
    for size in [(6,), (3, 2), (5,), (20_000,)]:
        mu, sigma = float(rng.uniform(-3, 3)), _sigma(rng)
        generator = np.random.default_rng(int(rng.integers(2**32)))
        cases.append(Case((mu, sigma, size, generator), f"mu={mu:.3g}, sigma={sigma:.3g}, size={size}"))
    return cases


def _right_law_wrong_draws(outputs, cases, expected) -> bool:
    """The big case has the right mean and standard deviation, yet other values."""
    for out, case in zip(outputs, cases):
        mu, sigma, size, _ = case.args
        if size == (20_000,):
            out = np.asarray(out, dtype=np.float64)
            n = out.size
            return (out.shape == size and abs(out.mean() - mu) < 6 * sigma / math.sqrt(n)
                    and abs(out.std() / sigma - 1) < 0.05)
    return False


_SAMPLE_NORMAL = Exercise(
    name="sampling from N(μ, σ²)",
    make_cases=_cases_sample_normal,
    reference=sample_normal,
    mistakes=[
        variant("you scaled z by σ², the variance. Scale it by the standard deviation σ: "
                "μ + σ z, eq. (1.2).",
                lambda mu, s, size, rng: mu + s**2 * rng.standard_normal(size)),
        variant("you scaled z by √σ. σ is already the standard deviation: μ + σ z.",
                lambda mu, s, size, rng: mu + math.sqrt(s) * rng.standard_normal(size)),
        variant("the mean is missing: add μ, i.e. μ + σ z.",
                lambda mu, s, size, rng: s * rng.standard_normal(size)),
        variant("z is not scaled: multiply it by σ, i.e. μ + σ z.",
                lambda mu, s, size, rng: mu + rng.standard_normal(size)),
        variant("μ and σ are swapped: the mean μ is added, the standard deviation σ multiplies z.",
                lambda mu, s, size, rng: s + mu * rng.standard_normal(size)),
        variant("you computed σ (μ + z), which also scales the mean. Only z is scaled: μ + σ z.",
                lambda mu, s, size, rng: s * (mu + rng.standard_normal(size))),
        Mistake("your samples have the right mean and spread but are not the ones the generator "
                "you were given produces. Draw z with rng.standard_normal(size) from the `rng` "
                "argument (not np.random.randn or a new generator), so that results are reproducible.",
                predicate=_right_law_wrong_draws),
    ],
    type_hint="Return the numpy array of samples.",
)


def check_sample_normal(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(mu, sigma, size, rng)``: samples of N(μ, σ²) as μ + σ z, eq. (1.2)."""
    return run_check(_SAMPLE_NORMAL, fn, seed)


def _cases_normal_pdf(rng):
    cases = []
    for _ in range(4):
        mu, sigma = float(rng.uniform(-2, 2)), _sigma(rng)
        x = mu + sigma * rng.uniform(-3, 3, size=int(rng.integers(4, 9)))
        cases.append(Case((x, mu, sigma), f"mu={mu:.3g}, sigma={sigma:.3g}"))
    return cases


def _pdf_parts(x, mu, s, numerator=None, denominator=None):
    numerator = np.exp(-((x - mu) ** 2) / (2 * s**2)) if numerator is None else numerator
    return numerator / (math.sqrt(2 * math.pi * s**2) if denominator is None else denominator)


_NORMAL_PDF = Exercise(
    name="normal density",
    make_cases=_cases_normal_pdf,
    reference=normal_pdf,
    mistakes=[
        variant("the normalising constant lacks its square root: it is 1 / √(2πσ²), "
                "not 1 / (2πσ²), eq. (1.1).",
                lambda x, mu, s: _pdf_parts(x, mu, s, denominator=2 * math.pi * s**2)),
        variant("the normalising constant 1 / √(2πσ²) is missing; without it the density "
                "does not integrate to 1.",
                lambda x, mu, s: _pdf_parts(x, mu, s, denominator=1.0)),
        variant("you divided by σ² √(2π); the constant is 1 / (σ √(2π)) = 1 / √(2πσ²).",
                lambda x, mu, s: _pdf_parts(x, mu, s, denominator=math.sqrt(2 * math.pi) * s**2)),
        variant("you multiplied by √(2πσ²) instead of dividing by it.",
                lambda x, mu, s: _pdf_parts(x, mu, s, denominator=1 / math.sqrt(2 * math.pi * s**2))),
        variant("in the exponent divide by 2σ² (twice the variance), not by 2σ.",
                lambda x, mu, s: _pdf_parts(x, mu, s, np.exp(-((x - mu) ** 2) / (2 * s)))),
        variant("the exponent lost its factor 1/2: it is −(x − μ)² / (2σ²).",
                lambda x, mu, s: _pdf_parts(x, mu, s, np.exp(-((x - mu) ** 2) / s**2))),
        variant("the exponent must be negative: exp(−(x − μ)² / (2σ²)).",
                lambda x, mu, s: _pdf_parts(x, mu, s, np.exp((x - mu) ** 2 / (2 * s**2)))),
        variant("use the distance to the mean, (x − μ), not (x + μ).",
                lambda x, mu, s: _pdf_parts(x, mu, s, np.exp(-((x + mu) ** 2) / (2 * s**2)))),
        variant("square the distance (x − μ) in the exponent.",
                lambda x, mu, s: _pdf_parts(x, mu, s, np.exp(-(x - mu) / (2 * s**2)))),
    ],
    type_hint="Return a numpy array (np.exp works on whole arrays).",
)


def check_normal_pdf(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(x, mu, sigma)``: the density of N(μ, σ²), eq. (1.1)."""
    return run_check(_NORMAL_PDF, fn, seed)


def _cases_sum_of_normals(rng):
    cases = []
    for _ in range(4):
        mu1, mu2 = rng.uniform(-3, 3, size=2)
        var1, var2 = rng.uniform(0.2, 4.0, size=2)
        cases.append(Case((float(mu1), float(var1), float(mu2), float(var2)),
                          f"mu1={mu1:.3g}, var1={var1:.3g}, mu2={mu2:.3g}, var2={var2:.3g}"))
    return cases


_SUM_OF_NORMALS = Exercise(
    name="sum of two normals",
    make_cases=_cases_sum_of_normals,
    reference=sum_of_normals,
    parts=("the mean", "the variance"),
    mistakes=[
        variant("you returned the standard deviation √(var1 + var2) as the second value; return "
                "the variance var1 + var2.",
                lambda m1, v1, m2, v2: (m1 + m2, math.sqrt(v1 + v2))),
        variant("you added the standard deviations. For independent normals the variances add: "
                "var1 + var2, eq. (1.3).",
                lambda m1, v1, m2, v2: (m1 + m2, math.sqrt(v1) + math.sqrt(v2))),
        variant("(√var1 + √var2)² adds standard deviations; for independent normals the "
                "variances add: var1 + var2.",
                lambda m1, v1, m2, v2: (m1 + m2, (math.sqrt(v1) + math.sqrt(v2)) ** 2)),
        variant("you averaged. X + Y has mean μ₁ + μ₂ and variance var1 + var2.",
                lambda m1, v1, m2, v2: ((m1 + m2) / 2, (v1 + v2) / 2)),
        variant("variances of independent normals add; they do not multiply.",
                lambda m1, v1, m2, v2: (m1 + m2, v1 * v2)),
        variant("variances never subtract: even X − Y has variance var1 + var2.",
                lambda m1, v1, m2, v2: (m1 + m2, v1 - v2)),
        variant("the means add: μ₁ + μ₂, not μ₁ − μ₂.",
                lambda m1, v1, m2, v2: (m1 - m2, v1 + v2)),
        variant("the two values are in the wrong order: return (mean, variance).",
                lambda m1, v1, m2, v2: (v1 + v2, m1 + m2)),
    ],
    type_hint="Return a tuple (mean, variance), e.g. `return mean, variance`.",
)


def check_sum_of_normals(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(mu1, var1, mu2, var2) -> (mean, variance)`` of X + Y, eq. (1.3)."""
    return run_check(_SUM_OF_NORMALS, fn, seed)


# =============================================================================
# Chapter 2: the forward process
# =============================================================================
def _cases_x_t_betas(rng, extra: Callable[[np.random.Generator, int, int], tuple] | None = None):
    """Cases (x, t, betas, noise): x and noise (n, 2) float32 tensors, t an int in 1..T."""
    betas = _random_schedule(rng)
    cases = []
    for t in _times(rng, len(betas)):
        n = int(rng.integers(3, 8))
        x, noise = _float32_tensor(rng, (n, 2)), _float32_tensor(rng, (n, 2))
        cases.append(Case((x, t, betas, noise), f"t={t}, T={len(betas)}"))
    return cases


def _one_step(x, t, betas, noise, a=None, b=None):
    """a(β_t) x + b(β_t) noise, with the right coefficients by default."""
    beta = float(betas[t - 1])
    a = math.sqrt(1 - beta) if a is None else a(beta)
    b = math.sqrt(beta) if b is None else b(beta)
    return a * x + b * noise


def _ref_forward_step(x_prev, t, betas, noise):
    return _diffusion(betas).q_step(x_prev, t, noise)


def _wrapped_index(t, betas, shift):
    """The values a learner gets from betas[t - 1 + shift] with Python's wrap-round indexing."""
    return float(betas[t - 1 + shift]) if -len(betas) <= t - 1 + shift < len(betas) else None


def _forward_step_at(shift):
    def wrong(x, t, betas, noise):
        beta = _wrapped_index(t, betas, shift)
        if beta is None:
            return None
        return math.sqrt(1 - beta) * x + math.sqrt(beta) * noise
    return wrong


_FORWARD_STEP = Exercise(
    name="forward step",
    make_cases=_cases_x_t_betas,
    reference=_ref_forward_step,
    mistakes=[
        variant("both coefficients need a square root: √(1 - β_t) * x_prev + √(β_t) * noise, "
                "eq. (2.3).",
                lambda x, t, b, n: _one_step(x, t, b, n, lambda v: 1 - v, lambda v: v)),
        variant("the noise is scaled by β_t, the variance; scale it by the standard deviation "
                "√(β_t) (missing square root).",
                lambda x, t, b, n: _one_step(x, t, b, n, b=lambda v: v)),
        variant("x_prev is scaled by 1 - β_t; it must be √(1 - β_t) (missing square root), so "
                "that the variance stays at 1.",
                lambda x, t, b, n: _one_step(x, t, b, n, a=lambda v: 1 - v)),
        variant("the coefficients are swapped: x_prev gets √(1 - β_t) and the noise √(β_t).",
                lambda x, t, b, n: _one_step(x, t, b, n, lambda v: math.sqrt(v), lambda v: math.sqrt(1 - v))),
        variant("no noise was added: x_t = √(1 - β_t) x_prev + √(β_t) noise.",
                lambda x, t, b, n: _one_step(x, t, b, n, b=lambda v: 0.0)),
        variant("x_prev must be shrunk by √(1 - β_t) before the noise is added; otherwise the "
                "variance grows at every step.",
                lambda x, t, b, n: _one_step(x, t, b, n, a=lambda v: 1.0)),
        variant(OFF_BY_ONE_PLUS, _forward_step_at(+1)),
        variant(OFF_BY_ONE_MINUS, _forward_step_at(-1)),
    ],
    type_hint=TENSOR_HINT,
    error_hints=[("out of bounds", "t runs from 1 to T, so β_t is betas[t - 1].")],
)


def check_forward_step(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(x_prev, t, betas, noise)``: one step of q(x_t | x_{t-1}), eq. (2.3)."""
    return run_check(_FORWARD_STEP, fn, seed)


def _cases_linear_schedule(rng):
    cases = [Case((int(T), 1e-4, 0.02), f"T={T}, beta_start=0.0001, beta_end=0.02")
             for T in (40, 1000, int(rng.integers(25, 500)))]
    for _ in range(2):
        T = int(rng.integers(25, 300))
        start, end = float(rng.uniform(5e-5, 5e-4)), float(rng.uniform(5e-3, 2e-2))
        cases.append(Case((T, start, end), f"T={T}, beta_start={start:.3g}, beta_end={end:.3g}"))
    return cases


_LINEAR_SCHEDULE = Exercise(
    name="linear schedule",
    make_cases=_cases_linear_schedule,
    reference=linear_beta_schedule,
    mistakes=[
        variant("the 1000/T rescaling of eq. (2.6) is missing: multiply both ends by 1000 / T.",
                lambda T, s, e: np.linspace(s, e, T)),
        variant("you multiplied by T / 1000; the factor is 1000 / T (fewer steps need larger β).",
                lambda T, s, e: np.linspace(s * T / 1000, e * T / 1000, T)),
        variant("only beta_end was rescaled; multiply both ends by 1000 / T.",
                lambda T, s, e: np.linspace(s, e * 1000 / T, T)),
        variant("only beta_start was rescaled; multiply both ends by 1000 / T.",
                lambda T, s, e: np.linspace(s * 1000 / T, e, T)),
        variant("your schedule starts one step late: np.linspace(start, end, T) gives T values that "
                "include both ends.",
                lambda T, s, e: np.linspace(s, e, T + 1)[1:] * 1000 / T),
        variant("your schedule stops one step short of beta_end * 1000 / T: use np.linspace, which "
                "includes the end point.",
                lambda T, s, e: np.linspace(s, e, T, endpoint=False) * 1000 / T),
        variant("you returned T + 1 values; there is one β_t per step t = 1 … T.",
                lambda T, s, e: np.linspace(s, e, T + 1) * 1000 / T),
        variant("the schedule runs backwards: β_t grows from beta_start to beta_end.",
                lambda T, s, e: np.linspace(e, s, T) * 1000 / T),
    ],
    type_hint="Return a 1-D numpy array (np.linspace makes one).",
)


def check_linear_schedule(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(T, beta_start, beta_end)``: the rescaled linear schedule, eq. (2.5)–(2.6)."""
    return run_check(_LINEAR_SCHEDULE, fn, seed)


def _cases_betas_only(rng):
    cases = []
    for _ in range(4):
        betas = _random_schedule(rng, 5, 40)
        cases.append(Case((betas,), f"T={len(betas)}"))
    return cases


_ALPHAS_CUMPROD = Exercise(
    name="alpha-bar (cumulative product)",
    make_cases=_cases_betas_only,
    reference=alphas_cumprod,
    mistakes=[
        variant("you multiplied the β's. ᾱ_t multiplies the α_i = 1 - β_i, eq. (3.3).",
                lambda b: np.cumprod(b)),
        variant("1 - (product of the β's) is not ᾱ_t: multiply the α_i = 1 - β_i.",
                lambda b: 1 - np.cumprod(b)),
        variant("you returned one number, the product of all the α_i (that is ᾱ_T). ᾱ_t is the running "
                "product: one value per t (np.cumprod).",
                lambda b: np.prod(1 - b)),
        variant("your values are shifted by one step: the first entry must be ᾱ_1 = 1 - β_1 "
                "(the book counts t from 1), not ᾱ_0 = 1.",
                lambda b: np.concatenate([[1.0], np.cumprod(1 - b)[:-1]])),
        variant("1 - (β_1 + … + β_t) is only the first-order approximation of the product "
                "(1 - β_1)…(1 - β_t): use a product, not a sum.",
                lambda b: 1 - np.cumsum(b)),
        variant("you summed the α_i; ᾱ_t is their product.",
                lambda b: np.cumsum(1 - b)),
        variant("that is √ᾱ_t, the signal coefficient of chapter 3; return ᾱ_t itself.",
                lambda b: np.cumprod(np.sqrt(1 - b))),
        variant("the product runs from the last step backwards; ᾱ_t multiplies α_1 … α_t.",
                lambda b: np.cumprod((1 - b)[::-1])),
    ],
    type_hint="Return a 1-D numpy array (np.cumprod makes one).",
)


def check_alphas_cumprod(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(betas)``: ᾱ_t = ∏_{i≤t} (1 - β_i) for every t, eq. (3.3)."""
    return run_check(_ALPHAS_CUMPROD, fn, seed)


# =============================================================================
# Chapter 3: the shortcut
# =============================================================================
def _cases_t_betas(rng):
    betas = _random_schedule(rng)
    return [Case((t, betas), f"t={t}, T={len(betas)}") for t in _times(rng, len(betas))]


def _ref_shortcut_coefficients(t, betas):
    d = _diffusion(betas, torch.float64)
    return (d.sqrt_alphas_cumprod[t - 1].item(), d.sqrt_one_minus_alphas_cumprod[t - 1].item())


def _abar_at(t, betas, shift=0):
    """ᾱ at t + shift, with Python's wrap-round indexing (as a learner's abar[t - 1 + shift] gives)."""
    index = t - 1 + shift
    abar = _abar(betas)
    return float(abar[index]) if -len(abar) <= index < len(abar) else None


def _coefficients_at(shift):
    def wrong(t, betas):
        a = _abar_at(t, betas, shift)
        return None if a is None else (math.sqrt(a), math.sqrt(1 - a))
    return wrong


_SHORTCUT_COEFFICIENTS = Exercise(
    name="shortcut coefficients",
    make_cases=_cases_t_betas,
    reference=_ref_shortcut_coefficients,
    parts=("√ᾱ_t", "√(1 - ᾱ_t)"),
    mistakes=[
        variant("both values need a square root: the coefficients of eq. (3.5) are √(ᾱ_t) and "
                "√(1 - ᾱ_t); ᾱ_t and 1 - ᾱ_t are the variance terms of eq. (3.4).",
                lambda t, b: (_abar(b)[t - 1], 1 - _abar(b)[t - 1])),
        variant("the noise coefficient is √(1 - ᾱ_t), which is not 1 - √(ᾱ_t).",
                lambda t, b: (math.sqrt(_abar(b)[t - 1]), 1 - math.sqrt(_abar(b)[t - 1]))),
        variant("these are the one-step coefficients √(1 - β_t), √(β_t) of eq. (2.3). The shortcut "
                "uses the cumulative product ᾱ_t = (1 - β_1)…(1 - β_t).",
                lambda t, b: (math.sqrt(1 - b[t - 1]), math.sqrt(b[t - 1]))),
        variant("the two values are swapped: return (√(ᾱ_t), √(1 - ᾱ_t)), signal first.",
                lambda t, b: (math.sqrt(1 - _abar(b)[t - 1]), math.sqrt(_abar(b)[t - 1]))),
        variant(OFF_BY_ONE_PLUS.replace("β_{t+1}, i.e. betas[t]", "ᾱ_{t+1}, i.e. alphas_cumprod[t]")
                .replace("β_t is betas[t - 1]", "ᾱ_t is alphas_cumprod[t - 1]"), _coefficients_at(+1)),
        variant(OFF_BY_ONE_MINUS, _coefficients_at(-1)),
    ],
    type_hint="Return a tuple of two numbers (signal coefficient, noise coefficient).",
    error_hints=[("out of bounds", "t runs from 1 to T, so ᾱ_t is alphas_cumprod[t - 1].")],
)


def check_shortcut_coefficients(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(t, betas) -> (sqrt(ᾱ_t), sqrt(1 - ᾱ_t))``, the coefficients of eq. (3.5)."""
    return run_check(_SHORTCUT_COEFFICIENTS, fn, seed)


def _ref_q_sample(x0, t, betas, noise):
    return _diffusion(betas).q_sample(x0, t, noise)


def _mix(x, noise, a, b):
    return float(a) * x + float(b) * noise


def _q_sample_at(shift):
    def wrong(x0, t, betas, noise):
        a = _abar_at(t, betas, shift)
        return None if a is None else _mix(x0, noise, math.sqrt(a), math.sqrt(1 - a))
    return wrong


_Q_SAMPLE = Exercise(
    name="q_sample (the shortcut)",
    make_cases=_cases_x_t_betas,
    reference=_ref_q_sample,
    mistakes=[
        variant("both coefficients need a square root: x_t = √(ᾱ_t) x_0 + √(1 - ᾱ_t) ε, eq. (3.5).",
                lambda x, t, b, n: _mix(x, n, _abar(b)[t - 1], 1 - _abar(b)[t - 1])),
        variant("the noise is scaled by 1 - ᾱ_t, the variance; scale it by √(1 - ᾱ_t) (missing "
                "square root).",
                lambda x, t, b, n: _mix(x, n, math.sqrt(_abar(b)[t - 1]), 1 - _abar(b)[t - 1])),
        variant("x_0 is scaled by ᾱ_t; it must be √(ᾱ_t) (missing square root).",
                lambda x, t, b, n: _mix(x, n, _abar(b)[t - 1], math.sqrt(1 - _abar(b)[t - 1]))),
        variant("the noise coefficient is √(1 - ᾱ_t), which is not 1 - √(ᾱ_t).",
                lambda x, t, b, n: _mix(x, n, math.sqrt(_abar(b)[t - 1]), 1 - math.sqrt(_abar(b)[t - 1]))),
        variant("you used the one-step coefficients √(1 - β_t), √(β_t). The shortcut uses "
                "ᾱ_t = (1 - β_1)…(1 - β_t).",
                lambda x, t, b, n: _mix(x, n, math.sqrt(1 - b[t - 1]), math.sqrt(b[t - 1]))),
        variant("the coefficients are swapped: x_0 gets √(ᾱ_t), the noise √(1 - ᾱ_t).",
                lambda x, t, b, n: _mix(x, n, math.sqrt(1 - _abar(b)[t - 1]), math.sqrt(_abar(b)[t - 1]))),
        variant("x_0 must be scaled by √(ᾱ_t): the signal fades as t grows.",
                lambda x, t, b, n: _mix(x, n, 1.0, math.sqrt(1 - _abar(b)[t - 1]))),
        variant(OFF_BY_ONE_PLUS.replace("β_{t+1}, i.e. betas[t]", "ᾱ_{t+1}, i.e. alphas_cumprod[t]")
                .replace("β_t is betas[t - 1]", "ᾱ_t is alphas_cumprod[t - 1]"), _q_sample_at(+1)),
        variant(OFF_BY_ONE_MINUS, _q_sample_at(-1)),
    ],
    type_hint=TENSOR_HINT,
    error_hints=[("out of bounds", "t runs from 1 to T, so ᾱ_t is alphas_cumprod[t - 1].")],
)


def check_q_sample(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(x0, t, betas, noise)``: x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε, eq. (3.5)."""
    return run_check(_Q_SAMPLE, fn, seed)


def _cases_iterate(rng):
    betas = _random_schedule(rng, 5, 15)
    T = len(betas)
    cases = []
    for t in _times(rng, T):
        n = int(rng.integers(3, 7))
        x0, noises = _float32_tensor(rng, (n, 2)), _float32_tensor(rng, (T, n, 2))
        cases.append(Case((x0, t, betas, noises), f"t={t}, T={T}"))
    return cases


def _iterate(x0, steps, betas, noise_of, beta_of=None):
    """Apply one-step updates for s in ``steps`` with noise ``noise_of(s)`` and β ``beta_of(s)``."""
    x = x0
    for s in steps:
        beta = float(betas[s - 1]) if beta_of is None else float(beta_of(s))
        x = math.sqrt(1 - beta) * x + math.sqrt(beta) * noise_of(s)
    return x


def _ref_iterate_forward(x0, t, betas, noises):
    d = _diffusion(betas)
    x = x0
    for s in range(1, t + 1):
        x = d.q_step(x, s, noises[s - 1])
    return x


_ITERATE_FORWARD = Exercise(
    name="iterating the forward process",
    make_cases=_cases_iterate,
    reference=_ref_iterate_forward,
    mistakes=[
        variant("you took t - 1 steps; x_t needs t steps, s = 1, 2, …, t (range(1, t + 1)).",
                lambda x0, t, b, ns: _iterate(x0, range(1, t), b, lambda s: ns[s - 1])),
        variant("you took t + 1 steps; x_t needs t steps, s = 1, 2, …, t (range(1, t + 1)).",
                lambda x0, t, b, ns: None if t == len(b) else
                _iterate(x0, range(1, t + 2), b, lambda s: ns[s - 1])),
        variant("every step used the same noise. Step s needs its own fresh noise, noises[s - 1].",
                lambda x0, t, b, ns: _iterate(x0, range(1, t + 1), b, lambda s: ns[0])),
        variant("the noise index is off by one: step s (s = 1 … t) uses noises[s - 1].",
                lambda x0, t, b, ns: None if t == len(b) else
                _iterate(x0, range(1, t + 1), b, lambda s: ns[s])),
        variant("the β index is off by one: step s (s = 1 … t) uses β_s = betas[s - 1].",
                lambda x0, t, b, ns: None if t == len(b) else
                _iterate(x0, range(1, t + 1), b, lambda s: ns[s - 1], lambda s: b[s])),
        variant("each step must start from the result of the previous step, not from x_0 again: "
                "update x inside the loop.",
                lambda x0, t, b, ns: _iterate(x0, [t], b, lambda s: ns[t - 1])),
        variant("that is the shortcut of eq. (3.5); this exercise asks for the step-by-step loop of "
                "eq. (2.3), with noises[s - 1] at step s.",
                lambda x0, t, b, ns: _mix(x0, ns[0], math.sqrt(_abar(b)[t - 1]), math.sqrt(1 - _abar(b)[t - 1]))),
        variant("that is the shortcut of eq. (3.5); this exercise asks for the step-by-step loop of "
                "eq. (2.3), with noises[s - 1] at step s.",
                lambda x0, t, b, ns: _mix(x0, ns[t - 1], math.sqrt(_abar(b)[t - 1]),
                                          math.sqrt(1 - _abar(b)[t - 1]))),
        variant("the steps run backwards; the forward process applies s = 1, 2, …, t in that order.",
                lambda x0, t, b, ns: _iterate(x0, range(t, 0, -1), b, lambda s: ns[s - 1])),
    ],
    type_hint=TENSOR_HINT,
    error_hints=[("out of bounds", "steps are s = 1 … t: use betas[s - 1] and noises[s - 1].")],
)


def check_iterate_forward(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(x0, t, betas, noises)``: t one-step updates of eq. (2.3), noises[s-1] at step s."""
    return run_check(_ITERATE_FORWARD, fn, seed)


# =============================================================================
# Chapter 4: the posterior
# =============================================================================
def _cases_posterior(rng):
    betas = _random_schedule(rng)
    cases = []
    for t in _times(rng, len(betas)):
        n = int(rng.integers(3, 7))
        x0, xt = _float32_tensor(rng, (n, 2)), _float32_tensor(rng, (n, 2))
        cases.append(Case((x0, xt, t, betas), f"t={t}, T={len(betas)}"))
    return cases


def _ref_posterior_mean_variance(x0, x_t, t, betas):
    mean, _, _ = _diffusion(betas).q_posterior_mean_variance(x0, x_t, t)
    variance = _diffusion(betas, torch.float64).posterior_variance[t - 1].item()
    return mean, variance


def _posterior(x0, xt, t, betas, abar_prev=None, abar_t=None, sqrt=math.sqrt, swap=False,
               variance=None, sqrt_alpha=None):
    """μ̃_t and β̃_t of eq. (4.5)–(4.6) with optional wrong ingredients."""
    beta = float(betas[t - 1])
    abar_t = _abar(betas)[t - 1] if abar_t is None else abar_t
    abar_prev = _abar_prev(betas, t) if abar_prev is None else abar_prev
    sqrt_alpha = math.sqrt(1 - beta) if sqrt_alpha is None else sqrt_alpha
    c1 = beta * sqrt(abar_prev) / (1 - abar_t)
    c2 = (1 - abar_prev) * sqrt_alpha / (1 - abar_t)
    if swap:
        c1, c2 = c2, c1
    var = beta * (1 - abar_prev) / (1 - abar_t) if variance is None else variance
    return c1 * x0 + c2 * xt, var


def _posterior_at(shift):
    def wrong(x0, xt, t, b):
        if not _valid_t(t + shift, b):
            return None
        return _posterior(x0, xt, t + shift, b)
    return wrong


_POSTERIOR_MEAN_VARIANCE = Exercise(
    name="posterior mean and variance",
    make_cases=_cases_posterior,
    reference=_ref_posterior_mean_variance,
    parts=("the mean", "the variance"),
    mistakes=[
        variant("the two coefficients of the mean are swapped: β_t √(ᾱ_{t-1}) / (1 - ᾱ_t) multiplies "
                "x_0 and (1 - ᾱ_{t-1}) √(α_t) / (1 - ᾱ_t) multiplies x_t, eq. (4.5).",
                lambda x0, xt, t, b: _posterior(x0, xt, t, b, swap=True)),
        variant("the mean is right, but the variance is β̃_t = (1 - ᾱ_{t-1}) / (1 - ᾱ_t) · β_t, eq. (4.6); "
                "β_t is the variance of the forward step.",
                lambda x0, xt, t, b: _posterior(x0, xt, t, b, variance=float(b[t - 1]))),
        variant("the x_0 coefficient needs √(ᾱ_{t-1}), not ᾱ_{t-1} (missing square root).",
                lambda x0, xt, t, b: _posterior(x0, xt, t, b, sqrt=lambda v: v)),
        variant("the x_t coefficient needs √(α_t), not α_t (missing square root).",
                lambda x0, xt, t, b: _posterior(x0, xt, t, b, sqrt_alpha=1 - float(b[t - 1]))),
        variant("you used ᾱ_t where eq. (4.5)–(4.6) have ᾱ_{t-1}, the product up to the previous step.",
                lambda x0, xt, t, b: _posterior(x0, xt, t, b, abar_prev=_abar(b)[t - 1])),
        variant("wrong at t = 1 only: there ᾱ_{t-1} = ᾱ_0 = 1 (the empty product). alphas_cumprod[t - 2] "
                "wraps round to ᾱ_T when t = 1; handle t = 1 separately, or prepend 1.0.",
                lambda x0, xt, t, b: _posterior(x0, xt, t, b, abar_prev=_abar(b)[t - 2])),
        variant(OFF_BY_ONE_PLUS, _posterior_at(+1)),
        variant(OFF_BY_ONE_MINUS, _posterior_at(-1)),
    ],
    type_hint="Return (mean, variance): the mean a tensor like x_t, the variance one number.",
    error_hints=[("out of bounds", "t runs from 1 to T; ᾱ_t is alphas_cumprod[t - 1] and ᾱ_0 = 1.")],
)


def check_posterior_mean_variance(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(x0, x_t, t, betas) -> (μ̃_t, β̃_t)``, eq. (4.5)–(4.6)."""
    return run_check(_POSTERIOR_MEAN_VARIANCE, fn, seed)


def _cases_xt_eps(rng):
    return [Case((c.args[0], c.args[1], c.args[2], c.args[3]), c.label) for c in _cases_x_t_betas(rng)]


def _ref_predict_x0(x_t, t, betas, eps):
    return _diffusion(betas).predict_start_from_noise(x_t, t, eps)


def _x0_from(xt, eps, a, b):
    return (xt - float(b) * eps) / float(a)


def _predict_x0_at(shift):
    def wrong(xt, t, b, eps):
        a = _abar_at(t, b, shift)
        return None if a is None else _x0_from(xt, eps, math.sqrt(a), math.sqrt(1 - a))
    return wrong


_PREDICT_X0 = Exercise(
    name="x0 from the noise",
    make_cases=_cases_xt_eps,
    reference=_ref_predict_x0,
    mistakes=[
        variant("missing square roots: x̂_0 = (x_t - √(1 - ᾱ_t) ε) / √(ᾱ_t), eq. (4.8).",
                lambda xt, t, b, e: _x0_from(xt, e, _abar(b)[t - 1], 1 - _abar(b)[t - 1])),
        variant("divide by √(ᾱ_t), not by ᾱ_t (missing square root).",
                lambda xt, t, b, e: _x0_from(xt, e, _abar(b)[t - 1], math.sqrt(1 - _abar(b)[t - 1]))),
        variant("the noise coefficient is √(1 - ᾱ_t), not 1 - ᾱ_t (missing square root).",
                lambda xt, t, b, e: _x0_from(xt, e, math.sqrt(_abar(b)[t - 1]), 1 - _abar(b)[t - 1])),
        variant("subtract the noise: solving x_t = √(ᾱ_t) x_0 + √(1 - ᾱ_t) ε for x_0 gives "
                "(x_t - √(1 - ᾱ_t) ε) / √(ᾱ_t).",
                lambda xt, t, b, e: _x0_from(xt, e, math.sqrt(_abar(b)[t - 1]), -math.sqrt(1 - _abar(b)[t - 1]))),
        variant("you multiplied by √(ᾱ_t); solving eq. (3.5) for x_0 divides by it.",
                lambda xt, t, b, e: math.sqrt(_abar(b)[t - 1]) * (xt - math.sqrt(1 - _abar(b)[t - 1]) * e)),
        variant("the division by √(ᾱ_t) is missing: x̂_0 = (x_t - √(1 - ᾱ_t) ε) / √(ᾱ_t).",
                lambda xt, t, b, e: xt - math.sqrt(1 - _abar(b)[t - 1]) * e),
        variant("you used the one-step coefficients (β_t, α_t); x_t was made from x_0 in one jump "
                "with ᾱ_t, eq. (3.5).",
                lambda xt, t, b, e: _x0_from(xt, e, math.sqrt(1 - b[t - 1]), math.sqrt(b[t - 1]))),
        variant("the noise coefficient is √(1 - ᾱ_t), which is not 1 - √(ᾱ_t).",
                lambda xt, t, b, e: _x0_from(xt, e, math.sqrt(_abar(b)[t - 1]), 1 - math.sqrt(_abar(b)[t - 1]))),
        variant(OFF_BY_ONE_PLUS.replace("β_{t+1}, i.e. betas[t]", "ᾱ_{t+1}, i.e. alphas_cumprod[t]")
                .replace("β_t is betas[t - 1]", "ᾱ_t is alphas_cumprod[t - 1]"), _predict_x0_at(+1)),
        variant(OFF_BY_ONE_MINUS, _predict_x0_at(-1)),
    ],
    type_hint=TENSOR_HINT,
    error_hints=[("out of bounds", "t runs from 1 to T, so ᾱ_t is alphas_cumprod[t - 1].")],
)


def check_predict_x0(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(x_t, t, betas, eps)``: x̂_0 = (x_t - √(1-ᾱ_t) ε) / √ᾱ_t, eq. (4.8)."""
    return run_check(_PREDICT_X0, fn, seed)


def _ref_posterior_mean_from_noise(x_t, t, betas, eps):
    return _diffusion(betas).posterior_mean_from_noise(x_t, t, eps)


def _mean_from_noise(xt, eps, t, b, coef=None, divisor=None, sign=-1.0, shift=0):
    beta = _wrapped_index(t, b, shift)
    abar = _abar_at(t, b, shift)
    if beta is None or abar is None:
        return None
    coef = beta / math.sqrt(1 - abar) if coef is None else coef(beta, abar)
    divisor = math.sqrt(1 - beta) if divisor is None else divisor(beta, abar)
    return (xt + sign * coef * eps) / divisor


_POSTERIOR_MEAN_FROM_NOISE = Exercise(
    name="posterior mean from the noise",
    make_cases=_cases_xt_eps,
    reference=_ref_posterior_mean_from_noise,
    mistakes=[
        variant("the noise coefficient is β_t / √(1 - ᾱ_t), eq. (4.9); you divided by 1 - ᾱ_t "
                "(missing square root).",
                lambda xt, t, b, e: _mean_from_noise(xt, e, t, b, coef=lambda be, a: be / (1 - a))),
        variant("divide by √(α_t), not by α_t (missing square root).",
                lambda xt, t, b, e: _mean_from_noise(xt, e, t, b, divisor=lambda be, a: 1 - be)),
        variant("the division by √(α_t) = √(1 - β_t) is missing, eq. (4.9).",
                lambda xt, t, b, e: _mean_from_noise(xt, e, t, b, divisor=lambda be, a: 1.0)),
        variant("divide by √(α_t) of this one step, not by √(ᾱ_t).",
                lambda xt, t, b, e: _mean_from_noise(xt, e, t, b, divisor=lambda be, a: math.sqrt(a))),
        variant("the noise coefficient is β_t / √(1 - ᾱ_t); √(1 - ᾱ_t) alone is the coefficient of "
                "x̂_0 in eq. (4.8), a different formula.",
                lambda xt, t, b, e: _mean_from_noise(xt, e, t, b, coef=lambda be, a: math.sqrt(1 - a))),
        variant("the noise coefficient is β_t / √(1 - ᾱ_t); you used √(β_t).",
                lambda xt, t, b, e: _mean_from_noise(xt, e, t, b, coef=lambda be, a: math.sqrt(be))),
        variant("subtract the predicted noise: μ̃_t = (x_t - β_t / √(1 - ᾱ_t) ε) / √(α_t).",
                lambda xt, t, b, e: _mean_from_noise(xt, e, t, b, sign=+1.0)),
        variant(OFF_BY_ONE_PLUS, lambda xt, t, b, e: _mean_from_noise(xt, e, t, b, shift=+1)
                if t < len(b) else None),
        variant(OFF_BY_ONE_MINUS, lambda xt, t, b, e: _mean_from_noise(xt, e, t, b, shift=-1)),
    ],
    type_hint=TENSOR_HINT,
    error_hints=[("out of bounds", "t runs from 1 to T, so β_t is betas[t - 1].")],
)


def check_posterior_mean_from_noise(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(x_t, t, betas, eps)``: μ̃_t = (x_t - β_t/√(1-ᾱ_t) ε) / √α_t, eq. (4.9)."""
    return run_check(_POSTERIOR_MEAN_FROM_NOISE, fn, seed)


# =============================================================================
# Chapter 5: the model
# =============================================================================
def _cases_embedding(rng):
    cases = []
    for dim in (4, 6, 8, 16):
        T = int(rng.integers(5, 60))
        if T == dim:
            T += 1
        cases.append(Case((T, dim), f"T={T}, dim={dim}"))
    return cases


def _embedding(T, dim, times=None, exponent=None, base=10_000.0, interleave=True, swap=False,
               multiply=False):
    rows = np.arange(0, dim, 2, dtype=np.float64)
    times = np.arange(1, T + 1) if times is None else times
    power = rows / (dim - 2) if exponent is None else exponent(rows, dim)
    freq = base**power if multiply else base ** (-power)
    angles = np.outer(freq, times)
    first, second = (np.cos(angles), np.sin(angles)) if swap else (np.sin(angles), np.cos(angles))
    if not interleave:
        return np.concatenate([first, second])
    out = np.empty((dim, T))
    out[0::2], out[1::2] = first, second
    return out


_EMBEDDING_MATRIX = Exercise(
    name="sinusoidal embedding matrix",
    make_cases=_cases_embedding,
    reference=sinusoidal_embedding_matrix,
    mistakes=[
        variant("your matrix is transposed: it has one row per embedding dimension and one column per "
                "time step, shape (dim, T).",
                lambda T, d: sinusoidal_embedding_matrix(T, d).T),
        variant("column t - 1 must embed time step t = 1 … T; yours embeds t - 1 = 0 … T - 1 "
                "(use np.arange(1, T + 1)).",
                lambda T, d: _embedding(T, d, times=np.arange(T))),
        variant("the exponent is r / (dim - 2), so that the last pair of rows reaches base^1; you "
                "divided by dim.",
                lambda T, d: _embedding(T, d, exponent=lambda r, dd: r / dd)),
        variant("use the row index r = 0, 2, 4, … in the exponent r / (dim - 2), not the pair index "
                "0, 1, 2, ….",
                lambda T, d: _embedding(T, d, exponent=lambda r, dd: (r / 2) / (dd - 2))),
        variant("sin and cos are swapped: even rows (0, 2, …) hold the sines, odd rows the cosines.",
                lambda T, d: _embedding(T, d, swap=True)),
        variant("the sines and cosines must be interleaved (row r: sin, row r + 1: cos, for r = 0, 2, …); "
                "you stacked all sines, then all cosines.",
                lambda T, d: _embedding(T, d, interleave=False)),
        variant("divide t by base^(r / (dim - 2)), do not multiply: the periods grow with r.",
                lambda T, d: _embedding(T, d, multiply=True)),
    ],
    type_hint="Return a numpy array of shape (dim, T).",
)


def check_embedding_matrix(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(T, dim)``: the (dim, T) sinusoidal embedding matrix, eq. (5.1)."""
    return run_check(_EMBEDDING_MATRIX, fn, seed)


def _cases_conditioned_layer(rng):
    cases = []
    for _ in range(4):
        n, fan_in = int(rng.integers(3, 7)), int(rng.integers(2, 6))
        fan_out = int(rng.integers(6, 10))
        emb = int(rng.choice([4, 12]))
        x, e = _float32_tensor(rng, (n, fan_in)), _float32_tensor(rng, (n, emb))
        w_x, b_x = _float32_tensor(rng, (fan_out, fan_in), 0.5), _float32_tensor(rng, (fan_out,), 0.5)
        w_t, b_t = _float32_tensor(rng, (fan_out, emb), 0.5), _float32_tensor(rng, (fan_out,), 0.5)
        cases.append(Case((x, e, w_x, b_x, w_t, b_t),
                          f"batch={n}, in={fan_in}, out={fan_out}, embedding dim={emb}"))
    return cases


@torch.no_grad()
def _ref_conditioned_layer(x, emb, w_x, b_x, w_t, b_t):
    layer = ConditionedLayer(w_x.shape[1], w_x.shape[0], SinusoidalEmbedding(10, w_t.shape[1]))
    layer.linear.weight.copy_(w_x)
    layer.linear.bias.copy_(b_x)
    layer.time_projection.weight.copy_(w_t)
    layer.time_projection.bias.copy_(b_t)
    return layer(x, emb)


_CONDITIONED_LAYER = Exercise(
    name="conditioned layer",
    make_cases=_cases_conditioned_layer,
    reference=_ref_conditioned_layer,
    mistakes=[
        variant("both biases are missing: each Linear is W x + b, eq. (5.2).",
                lambda x, e, wx, bx, wt, bt: x @ wx.T + e @ wt.T),
        variant("the bias of the x part is missing: W_x x + b_x.",
                lambda x, e, wx, bx, wt, bt: x @ wx.T + e @ wt.T + bt),
        variant("the bias of the time part is missing: W_t e + b_t.",
                lambda x, e, wx, bx, wt, bt: x @ wx.T + bx + e @ wt.T),
        variant("the time embedding is missing: the layer is (W_x x + b_x) + (W_t e + b_t), eq. (5.2).",
                lambda x, e, wx, bx, wt, bt: x @ wx.T + bx),
        variant("the x part is missing: the layer is (W_x x + b_x) + (W_t e + b_t), eq. (5.2).",
                lambda x, e, wx, bx, wt, bt: e @ wt.T + bt),
        variant("the two parts are added, not multiplied: (W_x x + b_x) + (W_t e + b_t).",
                lambda x, e, wx, bx, wt, bt: (x @ wx.T + bx) * (e @ wt.T + bt)),
        variant("the layer itself is affine; the activation (SiLU) comes after it, in the model.",
                lambda x, e, wx, bx, wt, bt: F.silu(x @ wx.T + bx + e @ wt.T + bt)),
        variant("the layer itself is affine; no activation belongs inside it.",
                lambda x, e, wx, bx, wt, bt: F.relu(x @ wx.T + bx + e @ wt.T + bt)),
    ],
    type_hint=TENSOR_HINT,
    error_hints=[("cannot be multiplied",
                  "a weight of shape (out, in) acts on a batch of rows as x @ W.T + b "
                  "(or torch.nn.functional.linear(x, W, b))."),
                 ("must match the size", "a weight of shape (out, in) acts on a batch of rows as x @ W.T + b.")],
)


def check_conditioned_layer(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(x, time_embedding, weight_x, bias_x, weight_t, bias_t)``, eq. (5.2)."""
    return run_check(_CONDITIONED_LAYER, fn, seed)


def _cases_parameter_count(rng):
    cases = []
    for depth in (1, 3, int(rng.integers(2, 6))):
        hidden = int(rng.integers(2, 33)) * 2
        data_dim = int(rng.integers(1, 4))
        cases.append(Case((hidden, depth, data_dim), f"hidden={hidden}, depth={depth}, data_dim={data_dim}"))
    hidden = int(rng.integers(2, 33)) * 2
    cases.append(Case((hidden, 2, 2), f"hidden={hidden}, depth=2, data_dim=2"))
    return cases


def _ref_parameter_count(hidden, depth, data_dim):
    with torch.random.fork_rng(devices=[]):
        return parameter_count(TimeConditionedMLP(5, hidden=hidden, depth=depth, data_dim=data_dim))


def _count(h, depth, d, bias=1, time=True, output=True, first_in=None):
    first_in = d if first_in is None else first_in
    x_parts = (first_in * h + bias * h) + (depth - 1) * (h * h + bias * h)
    t_parts = depth * (h * h + bias * h) if time else 0
    out = (h * d + bias * d) if output else 0
    return x_parts + t_parts + out


_PARAMETER_COUNT = Exercise(
    name="parameter count",
    make_cases=_cases_parameter_count,
    reference=_ref_parameter_count,
    mistakes=[
        variant("the biases are missing: every Linear(in, out) has in·out weights plus out biases.",
                lambda h, k, d: _count(h, k, d, bias=0)),
        variant("each conditioned layer has a second Linear, hidden → hidden, for the time embedding "
                "(eq. (5.2)); count it too.",
                lambda h, k, d: _count(h, k, d, time=False)),
        variant("the output layer Linear(hidden → data_dim) is missing.",
                lambda h, k, d: _count(h, k, d, output=False)),
        variant("the first layer takes data_dim inputs (the point x), not hidden.",
                lambda h, k, d: _count(h, k, d, first_in=h)),
        variant("you counted one conditioned layer too many: there are `depth` of them.",
                lambda h, k, d: _count(h, k + 1, d)),
        variant("you counted one conditioned layer too few: there are `depth` of them.",
                lambda h, k, d: _count(h, k - 1, d) if k > 1 else None),
    ],
    type_hint="Return an integer.",
)


def check_parameter_count(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(hidden, depth, data_dim)``: the trainable parameters of ``TimeConditionedMLP``."""
    return run_check(_PARAMETER_COUNT, fn, seed)


# =============================================================================
# Chapter 6: training and sampling
# =============================================================================
def _cases_simplified_loss(rng):
    cases = []
    for _ in range(4):
        n = int(rng.integers(3, 9))
        pred = _float32_tensor(rng, (n, 2)).requires_grad_(True)
        cases.append(Case((pred, _float32_tensor(rng, (n, 2))), f"batch of {n} points"))
    return cases


def _needs_graph(out: Any, case: Case) -> str | None:
    if isinstance(out, Tensor) and not out.requires_grad:
        return ("your loss is cut off from the computation graph (.item(), .detach(), numpy or "
                "torch.no_grad()), so loss.backward() cannot train the model. Return the tensor.")
    return None


_LOSS_TYPE_HINT = ("Return the loss as a 0-d torch tensor (not loss.item()), so that loss.backward() "
                   "can compute gradients.")

_SIMPLIFIED_LOSS = Exercise(
    name="simplified loss",
    make_cases=_cases_simplified_loss,
    reference=lambda pred, eps: F.mse_loss(pred, eps),
    validators=[_needs_graph],
    mistakes=[
        variant("you summed the squared errors; eq. (6.5) averages them (mean over the batch and the "
                "coordinates), so the loss does not depend on the batch size.",
                lambda p, e: ((p - e) ** 2).sum()),
        variant("you summed over the coordinates and averaged over the batch: that is Ho et al.'s "
                "‖ε - ε_θ‖², twice F.mse_loss for 2-D points. Average over every entry (as F.mse_loss "
                "does) so that the numbers match the book.",
                lambda p, e: ((p - e) ** 2).sum(dim=1).mean()),
        variant("that is the L1 loss (absolute errors); eq. (6.5) squares the errors.",
                lambda p, e: (p - e).abs().mean()),
        variant("there is a square root too many: the loss is the mean squared error, not its root.",
                lambda p, e: ((p - e) ** 2).mean().sqrt()),
        variant("square first, then average: mean((ε_θ - ε)²), not (mean(ε_θ - ε))².",
                lambda p, e: (p - e).mean() ** 2),
        variant("you returned one loss per point; average over the batch too, to get one number.",
                lambda p, e: ((p - e) ** 2).mean(dim=1)),
    ],
    type_hint=_LOSS_TYPE_HINT,
)


def check_simplified_loss(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(eps_pred, eps)``: the mean squared error of eq. (6.5)."""
    return run_check(_SIMPLIFIED_LOSS, fn, seed)


def _tiny_model(T: int, seed: int) -> TimeConditionedMLP:
    """A small random noise predictor (outputs of order 1), built without touching the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = TimeConditionedMLP(T, hidden=16, depth=2)
        with torch.no_grad():
            model.output.weight.mul_(4.0)
    return model


def _cases_training_loss(rng, with_optimizer: bool = False):
    betas = _random_schedule(rng, 6, 20)
    T = len(betas)
    cases = []
    for k in range(4):
        n = int(rng.integers(5, 10))
        # Case 0 holds t = 1 and t = T; the others avoid T so that "t + 1" can be tested.
        t = rng.integers(1, T, size=n)
        if k == 0:
            t[0], t[1] = 1, T
        t = torch.as_tensor(t, dtype=torch.long)
        model = _tiny_model(T, int(rng.integers(2**31)))
        x0, noise = _float32_tensor(rng, (n, 2)), _float32_tensor(rng, (n, 2))
        args = (model, x0, t, betas, noise)
        if with_optimizer:
            args = (model, torch.optim.SGD(model.parameters(), lr=0.1)) + args[1:]
        cases.append(Case(args, f"T={T}, t={t.tolist()}"))
    return cases


def _ref_training_loss(model, x0, t, betas, noise):
    return _diffusion(betas).p_losses(model, x0, t, noise)


def _x_t(x0, t, betas, noise, a_of=np.sqrt, b_of=lambda a: np.sqrt(1 - a), shift=0):
    """x_t of eq. (3.5) for a batch of t, with optional wrong coefficients or a shifted index
    (Python's wrap-round indexing, as a learner's alphas_cumprod[t - 1 + shift] gives)."""
    abar = _abar(betas)
    index = t.numpy() - 1 + shift
    if np.any(index >= len(abar)):
        return None
    a = abar[index][:, None]
    return (torch.as_tensor(a_of(a), dtype=x0.dtype) * x0
            + torch.as_tensor(b_of(a), dtype=x0.dtype) * noise)


def _loss_variant(x_in=None, target=None, shift_model=0, x_t_kwargs=None, reduce=None):
    def wrong(model, x0, t, betas, noise):
        xt = _x_t(x0, t, betas, noise, **(x_t_kwargs or {}))
        if xt is None:
            return None
        inputs = {"x_t": xt, "x0": x0}[x_in or "x_t"]
        pred = model(inputs, t + shift_model)
        goal = {"noise": noise, "x0": x0, "x_t": xt}[target or "noise"]
        return reduce(pred, goal) if reduce else F.mse_loss(pred, goal)
    return wrong


_TRAINING_LOSS_MISTAKES = [
    variant("the model predicts the noise ε: compare its output with `noise`, not with x_0.",
            _loss_variant(target="x0")),
    variant("the model predicts the noise ε: compare its output with `noise`, not with x_t.",
            _loss_variant(target="x_t")),
    variant("feed the noisy x_t to the model, not the clean x_0: first x_t = √(ᾱ_t) x_0 + "
            "√(1 - ᾱ_t) ε, eq. (3.5).",
            _loss_variant(x_in="x0")),
    variant("the model must be called with the same t that made x_t (1 … T), not t - 1.",
            _loss_variant(shift_model=-1)),
    variant("x_t needs the square roots: √(ᾱ_t) x_0 + √(1 - ᾱ_t) ε, eq. (3.5).",
            _loss_variant(x_t_kwargs={"a_of": lambda a: a, "b_of": lambda a: 1 - a})),
    variant("t is off by one in the coefficients: ᾱ_t is alphas_cumprod[t - 1].",
            _loss_variant(x_t_kwargs={"shift": 1})),
    variant("t is off by one in the coefficients: ᾱ_t is alphas_cumprod[t - 1].",
            _loss_variant(x_t_kwargs={"shift": -1})),
    variant("you summed the squared errors; eq. (6.5) averages them (F.mse_loss).",
            _loss_variant(reduce=lambda p, g: ((p - g) ** 2).sum())),
]

_TRAINING_LOSS = Exercise(
    name="training loss",
    make_cases=_cases_training_loss,
    reference=_ref_training_loss,
    validators=[_needs_graph],
    mistakes=_TRAINING_LOSS_MISTAKES,
    type_hint=_LOSS_TYPE_HINT,
    error_hints=[("out of bounds", "t holds values 1 … T, so the coefficients are alphas_cumprod[t - 1]."),
                 ("must match the size", "index the coefficients with t - 1 and add an axis, "
                  "coefficient[:, None], so that they broadcast against the (batch, 2) points.")],
)


def check_training_loss(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(model, x0, t, betas, noise)``: the loss of eq. (6.5) for given t and ε."""
    return run_check(_TRAINING_LOSS, fn, seed)


def _stale_gradients(args: tuple) -> tuple:
    """Leave gradients from an earlier computation on the model, as a real loop would."""
    model, _, x0, t = args[:4]
    model.zero_grad(set_to_none=True)
    (model(3.0 * x0, t) ** 2).sum().backward()
    return args


def _ref_train_step(model, optimizer, x0, t, betas, noise):
    loss = _diffusion(betas).p_losses(model, x0, t, noise)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item(), _params_after(model)


def _step_variant(zero_grad=True, backward=True, step=True, loss_after=False):
    def wrong(model, optimizer, x0, t, betas, noise):
        d = _diffusion(betas)
        loss = d.p_losses(model, x0, t, noise)
        if zero_grad:
            optimizer.zero_grad()
        if backward:
            loss.backward()
        if step:
            optimizer.step()
        value = d.p_losses(model, x0, t, noise).item() if loss_after else loss.item()
        return value, _params_after(model)
    return wrong


_TRAIN_STEP = Exercise(
    name="one training step",
    make_cases=lambda rng: _cases_training_loss(rng, with_optimizer=True),
    reference=_ref_train_step,
    prepare=_stale_gradients,
    call=lambda fn, args: (fn(*args), _params_after(args[0])),
    parts=("the returned loss", "the parameters after the step"),
    mistakes=[
        variant("optimizer.zero_grad() is missing: loss.backward() adds to the gradients left over from "
                "earlier steps. Call optimizer.zero_grad() before loss.backward().",
                _step_variant(zero_grad=False)),
        variant("the parameters did not change: call loss.backward() and then optimizer.step().",
                _step_variant(step=False)),
        variant("the parameters did not change: call loss.backward() and then optimizer.step().",
                _step_variant(backward=False)),
        variant("the step is right, but you returned the loss after the step; return loss.item() of the "
                "loss you called backward() on.",
                _step_variant(loss_after=True)),
    ],
    type_hint="Return the loss as a Python float (loss.item()).",
)


def check_train_step(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(model, optimizer, x0, t, betas, noise)``: one gradient step on eq. (6.5)."""
    return run_check(_TRAIN_STEP, fn, seed)


def _cases_p_sample(rng):
    betas = _random_schedule(rng, 6, 20)
    T = len(betas)
    model = _tiny_model(T, int(rng.integers(2**31)))
    cases = []
    for t in _times(rng, T):
        n = int(rng.integers(3, 7))
        x, z = _float32_tensor(rng, (n, 2)), _float32_tensor(rng, (n, 2))
        cases.append(Case((model, x, t, betas, z), f"t={t}, T={T}"))
    return cases


@torch.no_grad()
def _ref_p_sample_step(model, x_t, t, betas, z):
    mean, var, _, _ = _diffusion(betas).p_mean_variance(model, x_t, t, clip_denoised=False)
    return mean if t == 1 else mean + var.sqrt() * z


@torch.no_grad()
def _p_sample_variant(model, x_t, t, betas, z, sigma=None, eps_coef=None, divisor=None,
                      model_shift=0, noise_at_1=False, return_x0=False, coef_shift=0):
    beta, abar = _wrapped_index(t, betas, coef_shift), _abar_at(t, betas, coef_shift)
    if beta is None or abar is None or t + coef_shift < 1:
        return None
    tt = torch.full((x_t.shape[0],), t + model_shift, dtype=torch.long)
    eps = model(x_t, tt)
    if return_x0:
        return (x_t - math.sqrt(1 - abar) * eps) / math.sqrt(abar)
    abar_prev = 1.0 if t + coef_shift == 1 else _abar_at(t, betas, coef_shift - 1)
    c = beta / math.sqrt(1 - abar) if eps_coef is None else eps_coef(beta, abar)
    dv = math.sqrt(1 - beta) if divisor is None else divisor(beta, abar)
    mean = (x_t - c * eps) / dv
    var = beta * (1 - abar_prev) / (1 - abar)
    s = math.sqrt(var) if sigma is None else sigma(beta, var)
    return mean if (t == 1 and not noise_at_1) else mean + s * z


_P_SAMPLE_STEP = Exercise(
    name="one reverse step (p_sample)",
    make_cases=_cases_p_sample,
    reference=_ref_p_sample_step,
    mistakes=[
        variant("you used σ_t² = β_t. That choice also works (Ho et al. tried both; the package calls it "
                "variance_type='beta'), but this exercise asks for σ_t² = β̃_t, eq. (4.6).",
                lambda m, x, t, b, z: _p_sample_variant(m, x, t, b, z, sigma=lambda be, v: math.sqrt(be))),
        variant("you used σ_t² = β_t (and added noise at t = 1); this exercise asks for σ_t² = β̃_t, "
                "eq. (4.6), and no noise at t = 1.",
                lambda m, x, t, b, z: _p_sample_variant(m, x, t, b, z, sigma=lambda be, v: math.sqrt(be),
                                                        noise_at_1=True)),
        variant("the noise is scaled by β̃_t, the variance; scale it by the standard deviation "
                "σ_t = √(β̃_t) (missing square root).",
                lambda m, x, t, b, z: _p_sample_variant(m, x, t, b, z, sigma=lambda be, v: v)),
        variant("no noise was added: x_{t-1} = μ_θ(x_t, t) + σ_t z for t > 1, eq. (6.7).",
                lambda m, x, t, b, z: _p_sample_variant(m, x, t, b, z, sigma=lambda be, v: 0.0)),
        variant("the noise coefficient of the mean is β_t / √(1 - ᾱ_t), eq. (4.9) (missing square root).",
                lambda m, x, t, b, z: _p_sample_variant(m, x, t, b, z, eps_coef=lambda be, a: be / (1 - a))),
        variant("the mean divides by √(α_t) = √(1 - β_t), eq. (4.9); that division is missing.",
                lambda m, x, t, b, z: _p_sample_variant(m, x, t, b, z, divisor=lambda be, a: 1.0)),
        variant("divide by √(α_t), not by α_t (missing square root).",
                lambda m, x, t, b, z: _p_sample_variant(m, x, t, b, z, divisor=lambda be, a: 1 - be)),
        variant("call the model with the current step t (the one x_t belongs to), not t - 1.",
                lambda m, x, t, b, z: _p_sample_variant(m, x, t, b, z, model_shift=-1)),
        variant("you returned the estimate x̂_0 of eq. (4.8); return x_{t-1} = μ_θ + σ_t z.",
                lambda m, x, t, b, z: _p_sample_variant(m, x, t, b, z, return_x0=True)),
        variant(OFF_BY_ONE_PLUS, lambda m, x, t, b, z: None if t == len(b) else
                _p_sample_variant(m, x, t, b, z, coef_shift=1)),
        variant(OFF_BY_ONE_MINUS, lambda m, x, t, b, z: None if t == 1 else
                _p_sample_variant(m, x, t, b, z, coef_shift=-1)),
    ],
    type_hint=TENSOR_HINT,
    error_hints=[("out of bounds", "t runs from 1 to T: β_t is betas[t - 1], ᾱ_t alphas_cumprod[t - 1], "
                  "and ᾱ_0 = 1.")],
)


def check_p_sample_step(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(model, x_t, t, betas, z)``: x_{t-1} = μ_θ(x_t, t) + σ_t z with σ_t² = β̃_t, eq. (6.7)."""
    return run_check(_P_SAMPLE_STEP, fn, seed)


# =============================================================================
# Chapter 7: optimal solutions
# =============================================================================
def _cases_near_spiral(rng):
    cases = []
    for _ in range(4):
        n = int(rng.integers(4, 9))
        t0 = rng.uniform(T_MIN, T_MAX, size=n)
        q = spiral_curve(t0) + 0.15 * rng.standard_normal((n, 2))
        t = np.clip(t0 + rng.uniform(-0.3, 0.3, size=n), T_MIN, T_MAX)
        cases.append(Case((q, t), f"{n} points near the spiral"))
    return cases


def _ref_distance_derivatives(q, t):
    _, slope, curvature = squared_distance_derivatives(q, t)
    return slope, curvature


def _derivatives(q, t, sign=1.0, factor=2.0, speed=True, accel=True):
    p = spiral_curve(t)
    d1, d2 = spiral_curve_derivatives(t)
    r = sign * (p - q)
    slope = factor * np.sum(d1 * r, axis=-1)
    curvature = factor * ((np.sum(d1 * d1, axis=-1) if speed else 0.0)
                          + (np.sum(d2 * r, axis=-1) if accel else 0.0))
    return slope, curvature


_DISTANCE_DERIVATIVES = Exercise(
    name="derivatives of D(t)",
    make_cases=_cases_near_spiral,
    reference=_ref_distance_derivatives,
    parts=("D'(t)", "D''(t)"),
    mistakes=[
        variant("the factor 2 from differentiating the square is missing: D'(t) = 2 p'(t)·(p(t) - q) and "
                "D''(t) = 2 (|p'(t)|² + p''(t)·(p(t) - q)), eq. (7.2)–(7.3).",
                lambda q, t: _derivatives(q, t, factor=1.0)),
        variant("the residual is p(t) - q (curve minus point), eq. (7.1); with q - p(t) the signs of the "
                "p'(t)·(…) and p''(t)·(…) terms flip.",
                lambda q, t: _derivatives(q, t, sign=-1.0)),
        variant("D''(t) lacks the term p''(t)·(p(t) - q): that drops the curvature of the curve "
                "(the Gauss–Newton approximation), not eq. (7.3).",
                lambda q, t: _derivatives(q, t, accel=False)),
        variant("D''(t) lacks the term |p'(t)|² (the derivative of p'(t) in p'(t)·(p(t) - q) gives "
                "p''·(p - q), the derivative of (p(t) - q) gives p'·p').",
                lambda q, t: _derivatives(q, t, speed=False)),
        variant("you returned (D, D'); return (D', D''), the slope and the curvature.",
                lambda q, t: (np.sum((spiral_curve(t) - q) ** 2, axis=-1), _derivatives(q, t)[0])),
        variant("the two values are in the wrong order: return (D'(t), D''(t)).",
                lambda q, t: _derivatives(q, t)[::-1]),
    ],
    type_hint="Return a tuple of two numpy arrays (D', D''), one value per point.",
)


def check_distance_derivatives(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(q, t) -> (D'(t), D''(t))`` for D(t) = |p(t) - q|², eq. (7.1)–(7.3)."""
    return run_check(_DISTANCE_DERIVATIVES, fn, seed)


def _ref_newton_step(q, t):
    _, slope, curvature = squared_distance_derivatives(q, t)
    return t - slope / curvature


def _newton_variant(q, t, kind):
    value, slope, curvature = squared_distance_derivatives(q, t)
    d1, _ = spiral_curve_derivatives(t)
    return {"plus": t + slope / curvature, "on_D": t - value / slope, "inverted": t - curvature / slope,
            "gauss_newton": t - slope / (2 * np.sum(d1 * d1, axis=-1)), "gradient": t - slope,
            "no_t": -slope / curvature}[kind]


_NEWTON_STEP = Exercise(
    name="Newton step",
    make_cases=_cases_near_spiral,
    reference=_ref_newton_step,
    mistakes=[
        variant("the step goes the wrong way: t_new = t - D'(t) / D''(t), eq. (7.3).",
                lambda q, t: _newton_variant(q, t, "plus")),
        variant("that is Newton's method for a root of D itself (t - D/D'). The minimum is a root of D', "
                "so the step is t - D'(t) / D''(t).",
                lambda q, t: _newton_variant(q, t, "on_D")),
        variant("the fraction is upside down: t_new = t - D'(t) / D''(t).",
                lambda q, t: _newton_variant(q, t, "inverted")),
        variant("you divided by 2|p'(t)|² (Gauss–Newton). Eq. (7.3) divides by the full "
                "D''(t) = 2 (|p'|² + p''·(p - q)).",
                lambda q, t: _newton_variant(q, t, "gauss_newton")),
        variant("that is a gradient-descent step t - D'(t); Newton divides D'(t) by D''(t).",
                lambda q, t: _newton_variant(q, t, "gradient")),
        variant("you returned the step -D'/D''; return the new t = t - D'(t) / D''(t).",
                lambda q, t: _newton_variant(q, t, "no_t")),
    ],
    type_hint="Return a numpy array of the new t, one per point.",
)


def check_newton_step(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(q, t)``: one Newton update t - D'(t)/D''(t), eq. (7.3)."""
    return run_check(_NEWTON_STEP, fn, seed)


def _pairwise_distances(points: np.ndarray, curve: np.ndarray) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    curve = np.asarray(curve, dtype=np.float64)
    return np.sqrt(((points[:, None, :] - curve[None, :, :]) ** 2).sum(-1))


def reference_mean_distance(points: np.ndarray, curve: np.ndarray) -> float:
    """Mean over the points of the distance to the nearest of the dense curve points."""
    points = np.asarray(points, dtype=np.float64)
    curve = np.asarray(curve, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2 or curve.ndim != 2 or curve.shape[1] != 2:
        raise ValueError(f"points and curve must have shape (n, 2) and (m, 2), got {points.shape} and "
                         f"{curve.shape}")
    nearest = np.empty(len(points))
    for start in range(0, len(points), 2048):  # bounded memory
        nearest[start:start + 2048] = _pairwise_distances(points[start:start + 2048], curve).min(axis=1)
    return float(nearest.mean())


def _cases_mean_distance(rng):
    cases = []
    for k in range(4):
        n = int(rng.integers(5, 40))
        points = rng.uniform(-1, 1, size=(n, 2))
        if k % 2 == 0:
            m = int(rng.integers(60, 200))
            curve = spiral_curve(np.linspace(T_MIN, T_MAX, m))
            label = f"{n} points, spiral sampled at {m} points"
        else:
            m = int(rng.integers(41, 80))
            curve = np.cumsum(0.05 * rng.standard_normal((m, 2)), axis=0)
            label = f"{n} points, random polyline of {m} points"
        cases.append(Case((points, curve), label))
    return cases


_MEAN_DISTANCE = Exercise(
    name="mean distance to a curve",
    make_cases=_cases_mean_distance,
    reference=reference_mean_distance,
    mistakes=[
        variant("that is the mean squared distance: take the square root of each nearest squared "
                "distance before averaging.",
                lambda p, c: float((_pairwise_distances(p, c) ** 2).min(axis=1).mean())),
        variant("that is the root-mean-square distance; the chapter averages the distances themselves.",
                lambda p, c: float(np.sqrt((_pairwise_distances(p, c) ** 2).min(axis=1).mean()))),
        variant("you took the minimum over the wrong axis: for each *point* find its nearest curve "
                "point (min over the curve axis), then average over the points.",
                lambda p, c: float(_pairwise_distances(p, c).min(axis=0).mean())),
        variant("you averaged all point-to-curve-point distances; take the nearest curve point for each "
                "point (min) first.",
                lambda p, c: float(_pairwise_distances(p, c).mean())),
        variant("you summed the nearest distances; average them (divide by the number of points).",
                lambda p, c: float(_pairwise_distances(p, c).min(axis=1).sum())),
        variant("that is the largest nearest distance; the chapter's yardstick is the mean.",
                lambda p, c: float(_pairwise_distances(p, c).min(axis=1).max())),
    ],
    type_hint="Return one number (e.g. float(distances.mean())).",
)


def check_mean_distance(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(points, curve)``: mean distance from each point to its nearest curve point."""
    return run_check(_MEAN_DISTANCE, fn, seed)


def _cases_coverage(rng):
    cases = []
    # Shapes skewed both ways, so that D+ and D- each win somewhere.
    shapes = [(0.7, 2.0), (2.0, 0.7), tuple(rng.uniform(0.6, 2.5, size=2)), (1.0, 1.0)]
    for n, (a, b) in zip((12, 40, int(rng.integers(5, 60)), 400), shapes):
        t = T_MIN + (T_MAX - T_MIN) * rng.beta(a, b, size=n)
        cases.append(Case((t, T_MIN, T_MAX), f"{n} values of t"))
    return cases


def _ks_variant(t, low, high, kind):
    n = len(t)
    ordered = t if kind == "unsorted" else np.sort(t)
    cdf = (ordered - low) / (high - low) if kind != "raw" else ordered
    rank = np.arange(1, n + 1)
    plus, minus = np.max(rank / n - cdf), np.max(cdf - (rank - 1) / n)
    return float({"unsorted": max(plus, minus), "raw": max(plus, minus), "plus": plus, "minus": minus,
                  "abs_rank": np.max(np.abs(rank / n - cdf)),
                  "abs_prev": np.max(np.abs((rank - 1) / n - cdf))}[kind])


_COVERAGE_KS = Exercise(
    name="KS coverage statistic",
    make_cases=_cases_coverage,
    reference=ks_statistic_uniform,
    mistakes=[
        variant("sort the values first: the empirical CDF steps up at the sorted values t_(1) ≤ … ≤ t_(n).",
                lambda t, lo, hi: _ks_variant(t, lo, hi, "unsorted")),
        variant("compare with the uniform CDF F(t) = (t - t_min) / (t_max - t_min), not with t itself.",
                lambda t, lo, hi: _ks_variant(t, lo, hi, "raw")),
        variant("you only measured how far the empirical CDF rises above F (max of i/n - F). The KS "
                "distance is two-sided: also max of F - (i - 1)/n.",
                lambda t, lo, hi: _ks_variant(t, lo, hi, "plus")),
        variant("you only measured how far F rises above the empirical CDF (max of F - (i - 1)/n). The KS "
                "distance is two-sided: also max of i/n - F.",
                lambda t, lo, hi: _ks_variant(t, lo, hi, "minus")),
        variant("max |i/n - F(t_(i))| misses the value just before each step: the empirical CDF is "
                "(i - 1)/n just left of t_(i), so take max(max(i/n - F), max(F - (i - 1)/n)).",
                lambda t, lo, hi: _ks_variant(t, lo, hi, "abs_rank")),
        variant("max |(i - 1)/n - F(t_(i))| misses the value at each step: the empirical CDF is i/n at "
                "t_(i), so take max(max(i/n - F), max(F - (i - 1)/n)).",
                lambda t, lo, hi: _ks_variant(t, lo, hi, "abs_prev")),
    ],
    type_hint="Return one number (a Python float).",
)


def check_coverage_ks(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(t_star, t_min, t_max)``: the KS distance of t* to U(t_min, t_max)."""
    return run_check(_COVERAGE_KS, fn, seed)


# =============================================================================
# Chapter 8 (stretch): other patterns
# =============================================================================
def check_pattern_data(fn: Callable, name: str = "pattern", seed: int | None = None) -> bool:
    """Check a data generator ``fn(n, rng) -> (n, 2)`` numpy array for a 2-D pattern.

    There is no single right pattern, so this checks the contract: the shape
    for even and odd ``n``, finite values inside [-1, 1] that use the range,
    reproducibility from ``rng``, and points that are not all alike.
    """
    title = f"{name} data"
    if not callable(fn):
        _report(FAIL, title, f"expected a function, got a {_type_name(fn)}.")
        return False
    rng = np.random.default_rng(seed)
    seed_a, seed_b = (int(s) for s in rng.integers(2**32, size=2))
    results = {}
    try:
        for n in (200, 201, 7):
            results[n] = fn(n, np.random.default_rng(seed_a))
        again = fn(200, np.random.default_rng(seed_a))
        other = fn(200, np.random.default_rng(seed_b))
    except NotImplementedError:
        print(f"{NOT_DONE} not done yet: {title}. Replace the `raise NotImplementedError(...)` line with "
              "your code, run that cell, then run this check again.")
        return False
    except Exception as error:  # noqa: BLE001
        _report(FAIL, title, f"your function raised {type(error).__name__}: {_short(str(error))}"
                f"{_learner_line(error)}")
        return False
    for n, out in results.items():
        if out is None:
            _report(FAIL, title, "your function returned None. Did you forget the `return` statement?")
            return False
        if not isinstance(out, np.ndarray):
            _report(FAIL, title, f"returned a {_type_name(out)}; return a numpy array of shape (n, 2).")
            return False
        if out.shape != (n, 2):
            extra = (" When you split n between two parts, give the remainder to one of them "
                     "(n // 2 and n - n // 2)." if n % 2 and out.ndim == 2 and out.shape[0] == n - 1 else "")
            _report(FAIL, title, f"for n = {n} expected shape ({n}, 2), got {out.shape}.{extra}")
            return False
        if not np.all(np.isfinite(out)):
            _report(FAIL, title, f"the points contain NaN or infinite values (n = {n}).")
            return False
    big = np.asarray(results[200], dtype=np.float64)
    if np.max(np.abs(big)) > 1 + 1e-6:
        _report(FAIL, title, f"the points must lie in [-1, 1] (the diffusion's data range); the largest "
                f"|coordinate| is {np.max(np.abs(big)):.4g}. Normalise with one affine map.")
        return False
    if np.max(np.abs(big)) < 0.8:
        _report(FAIL, title, f"the points only reach |coordinate| = {np.max(np.abs(big)):.3g}: normalise "
                "the pattern so that it fills [-1, 1].")
        return False
    if np.min(big.std(axis=0)) < 0.05:
        _report(FAIL, title, "the points hardly vary: in one direction their spread is below 0.05.")
        return False
    if not np.array_equal(np.asarray(again), big):
        _report(FAIL, title, "two calls with generators of the same seed gave different points: draw all "
                "randomness from the `rng` argument.")
        return False
    if np.array_equal(np.asarray(other), big):
        _report(FAIL, title, "generators with different seeds gave the same points: draw the randomness "
                "from the `rng` argument.")
        return False
    _report(PASS, title, "right shape, inside [-1, 1], reproducible from rng")
    return True


def check_pattern_curve(data_fn: Callable, curve_fn: Callable, name: str = "pattern",
                        seed: int | None = None) -> bool:
    """Check a dense curve ``curve_fn(m) -> (m, 2)`` against the data ``data_fn(n, rng)`` it describes.

    The chapter-7 yardsticks need a curve that (1) passes through the data
    (mean distance of the data to it close to 0) and (2) is spaced like the
    data's sampling law, so that the positions ``k / (m - 1)`` of the data's
    nearest curve points are uniform on [0, 1] (coverage close to 0).
    """
    title = f"{name} curve"
    for fn in (data_fn, curve_fn):
        if not callable(fn):
            _report(FAIL, title, f"expected a function, got a {_type_name(fn)}.")
            return False
    n, m = 4000, 2001
    data_seed = int(np.random.default_rng(seed).integers(2**32))
    try:
        curve = curve_fn(m)
        data = data_fn(n, np.random.default_rng(data_seed))
    except NotImplementedError:
        print(f"{NOT_DONE} not done yet: {title}. Replace the `raise NotImplementedError(...)` line(s) with "
              "your code, run that cell, then run this check again.")
        return False
    except Exception as error:  # noqa: BLE001
        _report(FAIL, title, f"your function raised {type(error).__name__}: {_short(str(error))}"
                f"{_learner_line(error)}")
        return False
    if curve is None:
        _report(FAIL, title, "your curve function returned None. Did you forget the `return` statement?")
        return False
    if not isinstance(curve, np.ndarray) or curve.shape != (m, 2):
        shape = getattr(curve, "shape", None)
        _report(FAIL, title, f"for m = {m} expected a numpy array of shape ({m}, 2), got a {_type_name(curve)}"
                f"{f' of shape {tuple(shape)}' if shape is not None else ''}. With two parts, give the "
                "remainder of m to one of them.")
        return False
    if not np.all(np.isfinite(curve)):
        _report(FAIL, title, "the curve contains NaN or infinite values.")
        return False
    if not isinstance(data, np.ndarray) or data.shape != (n, 2):
        _report(FAIL, title, "the data function does not return an (n, 2) array: run its own check first.")
        return False
    spacing = float(np.median(np.linalg.norm(np.diff(curve, axis=0), axis=1)))
    distance = reference_mean_distance(data, curve)
    if distance > max(0.01, 2 * spacing):
        _report(FAIL, title, f"the data do not lie on the curve: their mean distance to it is {distance:.3g} "
                f"(neighbouring curve points are {spacing:.2g} apart). Use the same shapes and the same "
                "normalisation as in the data function.")
        return False
    coverage = reference_curve_coverage(data, curve)
    threshold = 1.95 / math.sqrt(n) + 2.0 / (m - 1)   # KS 0.1 % critical value, plus the grid
    if coverage > threshold:
        _report(FAIL, title, f"the data cover the curve unevenly (KS distance {coverage:.3g}, expected below "
                f"{threshold:.2g} for true data). Space the curve points the way the data are drawn: the same "
                "share of points on each part, equally spaced in the parameter the data draw uniformly.")
        return False
    _report(PASS, title, "the data lie on it and cover it evenly")
    return True


def reference_curve_coverage(points: np.ndarray, curve: np.ndarray) -> float:
    """KS distance to U(0, 1) of the positions k / (m - 1) of each point's nearest curve point."""
    points = np.asarray(points, dtype=np.float64)
    curve = np.asarray(curve, dtype=np.float64)
    nearest = np.empty(len(points), dtype=np.int64)
    for start in range(0, len(points), 2048):
        nearest[start:start + 2048] = _pairwise_distances(points[start:start + 2048], curve).argmin(axis=1)
    return ks_statistic_uniform(nearest / (len(curve) - 1), 0.0, 1.0)


def _cases_curve_coverage(rng):
    cases = []
    for _ in range(3):
        m = int(rng.integers(100, 300))
        s = np.linspace(0, 1, m)
        curve = np.stack([np.cos(np.pi * s), np.sin(np.pi * s)], axis=1)
        n = int(rng.integers(30, 120))
        u = rng.beta(*rng.uniform(0.7, 2.0, size=2), size=n)
        points = np.stack([np.cos(np.pi * u), np.sin(np.pi * u)], axis=1) + 0.05 * rng.standard_normal((n, 2))
        cases.append(Case((points, curve), f"{n} points, curve of {m} points"))
    return cases


def _coverage_variant(points, curve, kind):
    d = _pairwise_distances(points, curve)
    k = d.argmin(axis=1)
    if kind == "m":
        return ks_statistic_uniform(k / len(curve), 0.0, 1.0)
    if kind == "distance":
        return ks_statistic_uniform(np.clip(d.min(axis=1), 0, 1), 0.0, 1.0)
    return None


_CURVE_COVERAGE = Exercise(
    name="coverage of a curve",
    make_cases=_cases_curve_coverage,
    reference=reference_curve_coverage,
    mistakes=[
        variant("the position of curve point k is k / (m - 1), so that the first is 0 and the last is 1.",
                lambda p, c: _coverage_variant(p, c, "m")),
        variant("coverage looks at *where* along the curve the points land (the index of the nearest "
                "curve point), not at how far they are from it.",
                lambda p, c: _coverage_variant(p, c, "distance")),
    ],
    type_hint="Return one number.",
)


def check_curve_coverage(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(points, curve)``: KS distance of the nearest-point positions k/(m-1) to U(0, 1)."""
    return run_check(_CURVE_COVERAGE, fn, seed)
