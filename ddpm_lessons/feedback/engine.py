"""The engine of the exercise checks: run the learner's function, compare, explain.

Every ``check_*`` function of :mod:`ddpm_lessons.feedback` describes its
exercise with an :class:`Exercise` and calls :func:`run_check`, which

1. draws fresh random cases (pass ``seed=`` to repeat a run);
2. calls the learner's function on a private copy of each case, under a time
   limit, with its prints captured and ``SystemExit`` caught
   (:mod:`.sandbox`); an untouched stub (``NotImplementedError``) gives
   "⏳ not done yet";
3. checks that no input was changed in place (a copy taken before the call
   is compared with the input after it), and that the function did not call
   the package's own version of its answer (``own_work``, watched with
   ``sys.setprofile`` during the call): the exercise is to derive it;
4. checks the form of the result (not ``None``, the right type, no NaN) and
   the exercise's own conditions (``validators``: e.g. a loss attached to the
   graph, a Python float, a sample without autograd history);
5. compares the values with the reference, which is always computed by the
   package's tested functions;
6. explains a wrong answer: the exercise's known mistakes first, then the
   generic diagnoses of :mod:`.diagnose` (t off by one however it is written,
   swapped or missing terms, a missing or extra square root, a flipped sign, a
   constant factor, only some cases wrong), and finally the case and the
   entries with the largest error.

The verdict is one printed line (plus, at most, a few lines of what the
function printed); the check returns ``True`` only for a correct function.
"""
from __future__ import annotations

import copy
import inspect
import os
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

from .compare import Leaf, Raised, WrongForm, flatten, leaves_close, snapshot, type_name, unchanged, where
from .kernel import clean_state
from .sandbox import DEFAULT_TIME_LIMIT, ProcessExit, call_limited, printed_excerpt

PASS, NOT_DONE, FAIL = "✅", "⏳", "❌"


@dataclass
class Case:
    """One set of inputs: ``args`` are passed positionally; ``label`` names the case in messages."""

    args: tuple
    label: str


@dataclass
class Mistake:
    """A known wrong answer and its explanation.

    ``wrong(*args)`` computes the wrong answer (``None`` where it does not
    apply); it is diagnosed when the learner's results equal it on every case
    where it applies.  ``predicate(outputs, cases, expected)`` is an
    alternative for mistakes that are not a formula.
    """

    message: str
    wrong: Callable[..., Any] | None = None
    predicate: Callable[[list, list, list], bool] | None = None


def variant(message: str, wrong: Callable[..., Any]) -> Mistake:
    """Shorthand for a :class:`Mistake` given by its wrong result."""
    return Mistake(message, wrong=wrong)


@dataclass
class Exercise:
    """What a check needs to know about one exercise.

    Args:
        name: shown in every message.
        make_cases: ``rng -> list[Case]``.
        reference: the correct function, built from the tested package.
        arg_names: the names of the arguments, for messages ("changed its input x_prev").
        mistakes: known wrong answers, tried before the generic diagnoses.
        parts: names of the components when the result is a tuple.
        call: ``(fn, args) -> result`` when the function is not simply ``fn(*args)``.
        may_change: indices of arguments the function is meant to change (a model, an optimiser).
        validators: ``(output, args, case) -> message | None``, run on each raw output
            (``args`` are the very objects the function received).
        after_match: validators run once the values are right (e.g. the gradient of a loss).
        t_arg, betas_arg: where t and the schedule are, for the off-by-one diagnosis.
        linear: ``(index, name)`` of tensor arguments the result is a linear combination of,
            for the diagnosis of its coefficients.
        python_number: numbers must be Python/numpy numbers, not tensors.
        reference_mutates: the reference and the mistakes change their arguments (a training step),
            so they get private copies; otherwise they share the case's (never the learner's) inputs.
        time_limit: seconds for all the calls of one check.
        own_work: the package's functions that compute this very answer; a learner's function
            that calls one of them is told to write the formula itself (derive, not copy).
        any_float_dtype: right values are right as float32 or float64 tensors (e.g. ᾱ read off as Python
            floats into torch.tensor, which is float32 by default).
    """

    name: str
    make_cases: Callable[[np.random.Generator], list[Case]]
    reference: Callable[..., Any]
    arg_names: tuple[str, ...] = ()
    mistakes: Sequence[Mistake] = ()
    parts: tuple[str, ...] | None = None
    call: Callable[[Callable, tuple], Any] | None = None
    may_change: tuple[int, ...] = ()
    validators: Sequence[Callable[[Any, tuple, Case], str | None]] = ()
    after_match: Sequence[Callable[[Any, tuple, Case], str | None]] = ()
    error_hints: Sequence[tuple[str, str]] = ()
    type_hint: str = ""
    t_arg: int | None = None
    betas_arg: int | None = None
    linear: tuple[tuple[int, str], ...] = ()
    python_number: bool = False
    reference_mutates: bool = False
    rtol: float = 1e-4
    atol: float = 1e-5
    time_limit: float = DEFAULT_TIME_LIMIT
    own_work: tuple[Callable, ...] = ()
    any_float_dtype: bool = False


def short(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def learner_line(error: BaseException) -> str:
    """The last line of the learner's own code in the traceback (not a library's)."""
    roots = tuple({sys.prefix, sys.base_prefix, os.path.dirname(os.path.dirname(np.__file__)),
                   os.path.dirname(os.path.dirname(torch.__file__)),
                   os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep})
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if not os.path.abspath(f.filename).startswith(roots)]
    if frames and frames[-1].line:
        return f" (in your line `{short(frames[-1].line, 80)}`)"
    return ""


def error_text_plain(error: BaseException, label: str = "") -> str:
    """What the learner's function raised, in words (``os._exit`` and the stop button named as such)."""
    for_label = f" (for {label})" if label else ""
    if isinstance(error, ProcessExit):
        return f"{error}{for_label}"
    if isinstance(error, KeyboardInterrupt):
        return (f"the call was interrupted (KeyboardInterrupt: the stop button, or raised by your function)"
                f"{learner_line(error)}{for_label}. Run the check again; if it happens again, your function "
                "raises it.")
    message = short(str(error)) or "(no message)"
    return f"your function raised {type(error).__name__}: {message}{learner_line(error)}{for_label}"


def error_text(exercise: Exercise, error: BaseException, label: str) -> str:
    text = error_text_plain(error, label)
    if isinstance(error, (ProcessExit, KeyboardInterrupt)):
        return text
    for needle, hint in exercise.error_hints:
        if needle.lower() in str(error).lower():
            text += f"\n   Hint: {hint}"
            break
    return text


def report(symbol: str, name: str, message: str, printed: str = "") -> None:
    print(f"{symbol} {name}: {message}")
    if printed:
        print(f"   Your function printed:\n{printed_excerpt(printed)}")


def not_done(name: str) -> None:
    print(f"{NOT_DONE} not done yet: {name}. Replace the `raise NotImplementedError(...)` line with your "
          "code, run that cell, then run this check again.")


def changed_message(exercise: Exercise, index: int, label: str, value: Any = None) -> str:
    """The message for an input ``value`` (argument ``index``) that the learner's function changed in place."""
    name = exercise.arg_names[index] if index < len(exercise.arg_names) else f"argument {index + 1}"
    examples = ("`sorted(t)` or `t[::-1]`, not `t.sort()` or `t.reverse()`; `t + [0]`, not `t.append(0)`"
                if isinstance(value, list) else
                "`y = x - mu`, not `x -= mu`; `a * x`, not `x.mul_(a)`; `np.sort(t)`, not `t.sort()`")
    return (f"your function changed its input `{name}` in place (for {label}). Later cells reuse their inputs, "
            f"so they would silently go wrong: compute into a new variable ({examples}).")


# ----------------------------------------------------------------------------- running
def _watching(call: Callable, codes: dict, seen: set) -> Callable:
    """``call``, run with a profiler that notes any of the ``codes`` (package functions) it enters."""
    def profiler(frame, event, arg):
        if event == "call" and frame.f_code in codes:
            seen.add(codes[frame.f_code])

    def watched(*args):
        previous = sys.getprofile()
        sys.setprofile(profiler)         # this thread only: the one the learner's function runs in
        try:
            return call(*args)
        finally:
            sys.setprofile(previous)
    return watched


def copied_message(functions: set) -> str:
    names = ", ".join(sorted(f"`{f.__module__}.{f.__qualname__.removesuffix('.__init__')}`" for f in functions))
    return (f"your function calls the package's {names}, which computes the very answer this exercise asks for "
            "(the check compares with it). Write the formula yourself: that is the exercise; the package's "
            "version is there for the chapters after this one.")


def run_check(exercise: Exercise, fn: Any, seed: int | None = None, time_limit: float | None = None) -> bool:
    """Run ``fn`` on fresh cases of ``exercise``, print one verdict and return whether it passed.

    The check runs in a clean state (gradients on, float32 default dtype) and leaves the notebook's
    global state as it found it (:func:`.kernel.clean_state`).
    """
    with clean_state():
        return _run_check(exercise, fn, seed, time_limit)


def time_limit_message(limit: float, label: str = "") -> str:
    where_ = f" (for {label})" if label else ""
    return (f"your function exceeded the time limit: it did not finish within {limit:g} s{where_}. Look for a "
            "loop that never ends (a `while` whose condition never changes, or a retry loop whose `except:` "
            "catches every error) or far too much work.")


def state_message(outcome, label: str = "") -> str | None:
    """The first change the call made to the notebook's global state (:mod:`.kernel`), or None."""
    if not outcome.changes:
        return None
    more = len(outcome.changes) - 1
    where_ = f" (for {label})" if label else ""
    return (outcome.changes[0].rstrip(".") + where_ + ". The check has put it back."
            + (f" ({more} more such change{'s' if more > 1 else ''}.)" if more else ""))


def _run_check(exercise: Exercise, fn: Any, seed: int | None, time_limit: float | None) -> bool:
    if not callable(fn):
        report(FAIL, exercise.name, f"expected a function, got a {type_name(fn)}. Pass the function itself, "
               "e.g. check(my_function), not check(my_function(...)).")
        return False
    cases = exercise.make_cases(np.random.default_rng(seed))
    limit = exercise.time_limit if time_limit is None else time_limit
    deadline = time.monotonic() + limit
    call = exercise.call or (lambda f, args: f(*args))
    copied: set = set()
    if exercise.own_work:
        # the functions' own code, not a decorator's (torch.no_grad wraps many functions in one code object)
        call = _watching(call, {inspect.unwrap(f).__code__: f for f in exercise.own_work}, copied)
    results: list[Any] = []
    used_args: list[tuple] = []
    printed = ""
    for case in cases:
        args = copy.deepcopy(case.args)
        before = [snapshot(a) for a in args]
        outcome = call_limited(call, (fn, args), max(0.05, deadline - time.monotonic()), watch=args)
        printed += outcome.printed
        if outcome.timed_out:
            report(FAIL, exercise.name, time_limit_message(limit, case.label), printed)
            return False
        changed = state_message(outcome, case.label)
        if changed:
            report(FAIL, exercise.name, changed, printed)
            return False
        if outcome.exited:
            report(FAIL, exercise.name, f"your function called sys.exit() or exit() (for {case.label}); the "
                   "check stopped it so that the notebook goes on. Return a value instead.", printed)
            return False
        if isinstance(outcome.error, NotImplementedError):
            not_done(exercise.name)
            return False
        if outcome.error is not None:
            results.append(Raised(outcome.error))
            used_args.append(args)
            continue
        for index, (old, new) in enumerate(zip(before, args)):
            if index not in exercise.may_change and not unchanged(old, new):
                report(FAIL, exercise.name, changed_message(exercise, index, case.label, new), printed)
                return False
        results.append(outcome.value)
        used_args.append(args)
    if copied:
        report(FAIL, exercise.name, copied_message(copied), printed)
        return False
    try:
        passed, message = judge(exercise, cases, results, used_args)
    except Exception as error:  # noqa: BLE001 - last line of defence
        passed, message = False, f"could not judge your result ({type(error).__name__}: {short(str(error))})."
    report(PASS if passed else FAIL, exercise.name, message, "" if passed else printed)
    return passed


def _fresh(case: Case, exercise: Exercise | None = None) -> tuple:
    """The case's arguments for the reference or a mistake (copies only when they would be changed)."""
    return copy.deepcopy(case.args) if exercise is None or exercise.reference_mutates else case.args


def judge(exercise: Exercise, cases: list[Case], results: list[Any], used_args: list[tuple]
          ) -> tuple[bool, str]:
    """(passed, message) for the learner's ``results`` on ``cases``."""
    from .diagnose import diagnose  # noqa: PLC0415 - the diagnoses use this module's helpers

    expected = [exercise.reference(*_fresh(c, exercise)) for c in cases]
    ok = [i for i, r in enumerate(results) if not isinstance(r, Raised)]
    raised = [i for i, r in enumerate(results) if isinstance(r, Raised)]
    if not ok:
        return False, error_text(exercise, results[raised[0]].error, cases[raised[0]].label)
    also = ("\n   It also fails: " + error_text(exercise, results[raised[0]].error, cases[raised[0]].label)
            if raised else "")
    leaves: dict[int, list[Leaf]] = {}
    ref_leaves: dict[int, list[Leaf]] = {}
    for i in ok:
        try:
            leaves[i] = flatten(results[i], expected[i], parts=exercise.parts,
                                python_number=exercise.python_number)
        except WrongForm as problem:
            text = str(problem)
            text += "" if text.endswith(("?", ".")) else "."
            if exercise.type_hint and "returned None" not in text:
                text += f" {exercise.type_hint}"
            return False, text
        ref_leaves[i] = flatten(expected[i], expected[i], parts=exercise.parts)
    for validator in exercise.validators:
        for i in ok:
            message = validator(results[i], used_args[i], cases[i])
            if message:
                return False, message
    for i in ok:
        for leaf, ref in zip(leaves[i], ref_leaves[i]):
            if not np.all(np.isfinite(leaf.values)) and np.all(np.isfinite(ref.values)):
                kind = "NaN" if np.isnan(leaf.values).any() else "infinite values"
                return False, (f"{where(leaf.path)}your result contains {kind} (for {cases[i].label}). Look for "
                               "the square root or log of a negative number, 0/0, or a division by 0.")
    matched = {i: leaves_close(leaves[i], ref_leaves[i], exercise.rtol, exercise.atol) for i in ok}
    if all(matched.values()):
        if raised:
            return False, f"correct on {len(ok)} of {len(cases)} cases." + also
        for i in ok:
            for leaf, ref in zip(leaves[i], ref_leaves[i]):
                if (leaf.is_tensor and ref.is_tensor and leaf.dtype != ref.dtype
                        and not (exercise.any_float_dtype and leaf.dtype in (torch.float32, torch.float64))):
                    return False, f"{where(leaf.path)}" + dtype_message(leaf.dtype, ref.dtype)
        for validator in exercise.after_match:
            for i in ok:
                message = validator(results[i], used_args[i], cases[i])
                if message:
                    return False, message
        return True, f"correct on {len(cases)} random cases"
    for mistake in exercise.mistakes:
        if mistake_matches(mistake, exercise, cases, results, expected, leaves, matched, ok):
            return False, mistake.message + also
    return False, diagnose(exercise, cases, leaves, ref_leaves, matched, ok) + also


def dtype_message(got: torch.dtype, want: torch.dtype) -> str:
    """The right values in the wrong dtype: where that dtype usually comes from."""
    text = f"the values are right but the tensor has dtype {got}, expected {want} (the dtype of the inputs). "
    if got == torch.float64:
        return text + ("A float64 tensor made from a numpy array (or np.float64 numbers) promotes the result: use "
                       "Python floats, or torch.as_tensor(a, dtype=x.dtype).")
    if got == torch.float32:
        return text + ("torch.tensor([...]) of Python floats and torch.zeros(...) take torch's default dtype, "
                       "float32: give them dtype=x.dtype of the input, or build the result from the input itself.")
    return text + "Give the tensors you create dtype=x.dtype of the input."


def mistake_matches(mistake: Mistake, exercise: Exercise, cases, results, expected, leaves, matched,
                    ok) -> bool:
    if all(matched[i] for i in ok):
        return False
    if mistake.predicate is not None:
        try:
            return bool(mistake.predicate([results[i] for i in ok], [cases[i] for i in ok],
                                          [expected[i] for i in ok]))
        except Exception:  # noqa: BLE001 - a detector that cannot decide does not match
            return False
    applicable, wrong_somewhere = 0, False
    for i in ok:
        try:
            wrong = mistake.wrong(*_fresh(cases[i], exercise))
        except Exception:  # noqa: BLE001 - the mistake does not apply to this case
            continue
        if wrong is None:
            continue
        try:
            wrong_leaves = flatten(wrong, expected[i], parts=exercise.parts, strict=False)
        except WrongForm:
            continue
        if not leaves_close(leaves[i], wrong_leaves, exercise.rtol, exercise.atol):
            return False
        applicable += 1
        wrong_somewhere |= not matched[i]
    return applicable > 0 and wrong_somewhere
