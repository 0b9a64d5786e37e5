"""Feedback for the questions: numbers, formulas (checked symbolically) and multiple choice.

    >>> check_answer("1.3", ("mu_1 - mu_2", "sigma_1**2 + sigma_2**2"))   # doctest: +SKIP
    ✅ question 1.3: right.

A formula may be a string (read with ``sympy.parse_expr``; ``^`` also means a
power) or a sympy expression, written with the symbols the question lists
(:data:`SYMBOLS`).  It must first agree with the reference at random points
that span each symbol's range (both signs for a signed symbol such as ``x_0``,
(0, 1) for an α, β or ᾱ), then ``simplify(learner - reference) == 0``; when
sympy cannot reduce the difference, agreement at many more points decides.  A
function may be passed instead of a value: it is called under the same time
limit as the coding checks, and an untouched stub gives "⏳ not done yet".
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import sympy
from sympy.core.function import AppliedUndef

from .engine import FAIL, PASS, not_done, report, short, state_message
from .kernel import in_clean_state
from .question_bank import QUESTIONS
from .sandbox import call_limited

SYMBOL_NAMES = ("x", "z", "mu", "sigma", "mu_1", "mu_2", "sigma_1", "sigma_2", "v", "x_0", "x_t", "epsilon",
                "alpha_1", "alpha_2", "alpha_3", "beta_1", "beta_2", "beta_3",
                "alpha_t", "beta_t", "abar_t", "abar_prev")
FRACTIONS = ("alpha_1", "alpha_2", "alpha_3", "beta_1", "beta_2", "beta_3", "alpha_t", "beta_t", "abar_t", "abar_prev")
"""The α, β, ᾱ of the course: positive and below 1."""
SYMBOLS = {name: sympy.Symbol(name, real=True) for name in SYMBOL_NAMES}
for _name in ("sigma", "sigma_1", "sigma_2", "v") + FRACTIONS:
    SYMBOLS[_name] = sympy.Symbol(_name, positive=True)
LOCALS = {**SYMBOLS, "pi": sympy.pi, "e": sympy.E, "exp": sympy.exp, "sqrt": sympy.sqrt, "log": sympy.log}


@dataclass
class Question:
    """One checkable question: ``kind`` is "number", "formula" or "choice"."""

    kind: str
    answer: Any                                   # number, sympy expression(s) or the right option
    symbols: tuple[str, ...] = ()                 # for formulas: the symbols the answer may use
    substitutions: dict = field(default_factory=dict)   # e.g. alpha_t -> 1 - beta_t, applied to both sides
    rtol: float = 1e-3
    options: dict[str, str] = field(default_factory=dict)   # choice -> explanation
    why: str = ""                                 # said when the answer is right


def parse_formula(value: Any, allowed: tuple[str, ...]) -> sympy.Expr:
    """A sympy expression from a string or an expression; ValueError with a clear message otherwise."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ValueError(f"{value} is not a formula")
        return sympy.nsimplify(value)
    if isinstance(value, sympy.Basic):
        expr = value
    elif isinstance(value, str):
        text = value.strip().replace("^", "**").replace("√", "sqrt").replace("·", "*")
        if not text:
            raise ValueError("the answer is empty")
        try:
            expr = sympy.parse_expr(text, local_dict=LOCALS)
        except Exception as error:  # noqa: BLE001 - any parse failure is the learner's to fix
            raise ValueError(f"could not read {value!r} as a formula ({type(error).__name__}). Write it in Python "
                             "syntax, e.g. 'sqrt(1 - abar_t) * x_0 + beta_t**2'.") from None
    else:
        raise ValueError(f"expected a formula as a string (e.g. 'mu_1 + mu_2') or a sympy expression, got a "
                         f"{type(value).__name__}")
    if not isinstance(expr, sympy.Expr):
        raise ValueError(f"{value!r} is not a formula (it reads as {type(expr).__name__})")
    # Symbols typed by the learner are matched by name to the course's symbols (their assumptions differ).
    by_name = {s: SYMBOLS[s.name] for s in expr.free_symbols if s.name in SYMBOLS}
    expr = expr.xreplace(by_name)
    unknown = sorted(s.name for s in expr.free_symbols if s.name not in allowed)
    if unknown:
        raise ValueError(f"the formula uses {', '.join(unknown)}, which this question does not have; use "
                         f"{', '.join(allowed)}")
    if expr.has(sympy.nan, sympy.zoo, sympy.oo, -sympy.oo):
        raise ValueError("the formula contains NaN or infinity")
    unknown_functions = sorted({str(f.func) for f in expr.atoms(AppliedUndef)})
    if unknown_functions or expr.has(sympy.Integral, sympy.Derivative, sympy.Sum, sympy.Limit):
        named = f" ({', '.join(unknown_functions)})" if unknown_functions else ""
        raise ValueError(f"write the formula out in full{named}: with the symbols {', '.join(allowed)}, numbers, "
                         "+ - * / **, and exp, sqrt, log, pi (no named functions, integrals or derivatives).")
    return expr


def _sample_range(name: str) -> tuple[float, float]:
    """Where a symbol is drawn: (0, 1) for the α, β, ᾱ of the course, a positive range for σ and
    variances, both signs for the rest (x, μ, x_0, x_t, ε), so that |x_0| does not pass for x_0."""
    if name in FRACTIONS:
        return 0.05, 0.95
    return (0.2, 3.0) if SYMBOLS[name].is_positive else (-3.0, 3.0)


def _numerically_equal(a: sympy.Expr, b: sympy.Expr, symbols: tuple[str, ...], points: int = 40,
                       seed: int = 0) -> bool:
    """Whether ``a`` and ``b`` agree (to 1e-9, relative) at ``points`` random points of the symbols' ranges."""
    rng = np.random.default_rng(seed)
    names = [SYMBOLS[s] for s in symbols]
    low, high = np.array([_sample_range(s) for s in symbols]).reshape(-1, 2).T
    try:
        fa, fb = sympy.lambdify(names, a, "math"), sympy.lambdify(names, b, "math")
    except Exception as error:  # noqa: BLE001 - an expression sympy cannot turn into a function
        raise ValueError(f"could not evaluate this formula ({type(error).__name__}); write it with +, -, *, /, "
                         "**, exp, sqrt, log and pi.") from None
    for _ in range(points):
        point = rng.uniform(low, high)
        try:
            va, vb = complex(fa(*point)), complex(fb(*point))
        except (ZeroDivisionError, ValueError, TypeError, OverflowError):
            return False
        if not abs(va - vb) <= 1e-9 * max(1.0, abs(vb)):
            return False
    return True


def _equal(a: sympy.Expr, b: sympy.Expr, symbols: tuple[str, ...]) -> bool:
    """Agreement at random points (a wrong formula is rejected fast), then ``simplify(a - b) == 0``;
    where sympy cannot reduce the difference, agreement at 400 more points decides."""
    if not _numerically_equal(a, b, symbols):
        return False
    try:
        if sympy.simplify(a - b) == 0:
            return True
    except Exception:  # noqa: BLE001 - sympy could not decide: the points do
        pass
    return _numerically_equal(a, b, symbols, points=400, seed=1)


def _formula_hint(got: sympy.Expr, want: sympy.Expr) -> str:
    """A generic diagnosis of a wrong formula: sign, factor, square, square root."""
    try:
        ratio = sympy.simplify(got / want)
        if ratio.is_number:
            return " Its sign is flipped." if ratio == -1 else f" It is {ratio} times the right one: check a constant."
        if sympy.simplify(got - want**2) == 0:
            return " It is the square of the right one: a square root is missing (a variance for a standard deviation?)."
        if sympy.simplify(got**2 - want) == 0:
            return " It is the square root of the right one: a square root too many."
        if sympy.simplify(got * want - 1) == 0:
            return " It is the reciprocal of the right one (a variance where its inverse, a precision, belongs?)."
    except Exception:  # noqa: BLE001 - no hint then
        pass
    return ""


def _check_formula(question: Question, value: Any) -> tuple[bool, str]:
    answers = question.answer if isinstance(question.answer, tuple) else (question.answer,)
    values = value if isinstance(value, (tuple, list)) else (value,)
    if len(values) != len(answers):
        return False, f"expected {len(answers)} formula{'s' if len(answers) > 1 else ''}, got {len(values)}."
    sub = {SYMBOLS[k]: v for k, v in question.substitutions.items()}
    for k, (v, a) in enumerate(zip(values, answers)):
        got = parse_formula(v, question.symbols).subs(sub)
        want = a.subs(sub)
        if not _equal(got, want, question.symbols):
            which = f"formula {k + 1}" if len(answers) > 1 else "your formula"
            return False, f"{which} is not right.{_formula_hint(got, want)}"
    return True, "right." + (f" {question.why}" if question.why else "")


def _check_number(question: Question, value: Any) -> tuple[bool, str]:
    if hasattr(value, "item") and hasattr(value, "shape") and math.prod(value.shape) == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False, f"expected a number, got a {type(value).__name__}."
    if not math.isfinite(value):
        return False, f"your answer is {value}; expected a finite number."
    want = float(question.answer() if callable(question.answer) else question.answer)
    if abs(value - want) <= question.rtol * max(abs(want), 1e-12) or (want == 0 and abs(value) < 1e-9):
        return True, "right." + (f" {question.why}" if question.why else "")
    relation = "too large" if value > want else "too small"
    return False, f"{value:.6g} is {relation} (the tolerance is {question.rtol * 100:.3g} % of the answer)."


def _check_choice(question: Question, value: Any) -> tuple[bool, str]:
    key = str(value).strip().lower().strip("()")
    if key not in question.options:
        return False, f"choose one of {', '.join(repr(k) for k in question.options)}; got {value!r}."
    return key == question.answer, ("right. " if key == question.answer else "not quite. ") + question.options[key]


@in_clean_state
def check_answer(key: str, value: Any, time_limit: float = 10.0) -> bool:
    """Check the answer ``value`` to question ``key`` ("4.2"); print a verdict and return whether it is right."""
    name = f"question {key}"
    if key not in QUESTIONS:
        report(FAIL, name, f"there is no checkable question {key!r}; the checkable ones are "
               f"{', '.join(sorted(QUESTIONS))}.")
        return False
    question = QUESTIONS[key]
    if callable(value):
        outcome = call_limited(value, (), time_limit)
        if outcome.timed_out or outcome.exited:
            report(FAIL, name, "your function did not return (time limit or sys.exit()).", outcome.printed)
            return False
        changed = state_message(outcome)
        if changed:
            report(FAIL, name, changed, outcome.printed)
            return False
        if isinstance(outcome.error, NotImplementedError):
            not_done(name)
            return False
        if outcome.error is not None:
            report(FAIL, name, f"your function raised {type(outcome.error).__name__}: {short(str(outcome.error))}")
            return False
        value = outcome.value
    if value is None:
        report(FAIL, name, "the answer is None. Did you forget the `return` statement?")
        return False
    checker: Callable[[Question, Any], tuple[bool, str]] = {
        "number": _check_number, "formula": _check_formula, "choice": _check_choice}[question.kind]
    try:
        passed, message = checker(question, value)
    except ValueError as error:
        passed, message = False, str(error)
    except Exception as error:  # noqa: BLE001 - an answer the checker cannot read gets a message, not a traceback
        passed, message = False, (f"could not check this answer ({type(error).__name__}: {short(str(error))}). "
                                  "Write it with the question's symbols, numbers, + - * / ** and exp, sqrt, log, pi.")
    report(PASS if passed else FAIL, name, message)
    return passed
