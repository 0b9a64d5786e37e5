"""The question checks: right, wrong and malformed answers (numbers, formulas, choices)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import sympy

from ddpm_lessons.feedback import check_answer
from ddpm_lessons.feedback.question_bank import QUESTIONS
from ddpm_lessons.normal import normal_pdf
from ddpm_lessons.schedules import alphas_cumprod, cosine_beta_schedule


def answer(key, value):
    import contextlib
    import io
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        passed = check_answer(key, value)
    return passed, buffer.getvalue()


RIGHT = [
    ("1.2", 1 / math.sqrt(2 * math.pi * 0.01)),
    ("1.3", ("mu_1 - mu_2", "sigma_1^2 + sigma_2**2")),
    ("1.3", (sympy.Symbol("mu_1") - sympy.Symbol("mu_2"), "(sigma_1**2 + sigma_2**2)")),
    ("1.4", "exp(-(x - mu)**2 / (2*sigma**2)) / (sigma*sqrt(2*pi))"),
    ("1.4", "1/sigma * exp(-((x - mu)/sigma)**2/2) / sqrt(2*pi)"),
    ("1.5", 9.2),
    ("2.2", "b"),
    ("2.2", "(B)"),
    ("2.4", float(alphas_cumprod(cosine_beta_schedule(40))[-1])),
    ("2.5", "alpha_1*alpha_2*v + alpha_2*beta_1 + beta_2"),
    ("2.5", "(1-beta_2)*((1-beta_1)*v + beta_1) + beta_2"),
    ("2.6", 0.67),
    ("3.1", 500.5),
    ("3.3", "abar_t*v + 1 - abar_t"),
    ("3.4", "alpha_2*alpha_3*beta_1 + alpha_3*beta_2 + beta_3"),
    ("3.4", "1 - alpha_1*alpha_2*alpha_3"),
    ("4.1", "x_0"),
    ("4.4", "alpha_t/beta_t + 1/(1 - abar_prev)"),
    ("4.4", "(alpha_t*(1-abar_prev) + beta_t)/(beta_t*(1-abar_prev))"),
    ("4.5", "-beta_t / (sqrt(1 - abar_t) * sqrt(alpha_t))"),
    ("4.5", "-(1 - alpha_t)/sqrt(alpha_t*(1 - abar_t))"),
    ("5.2", "b"), ("5.3", "c"), ("6.4", "a"), ("7.2", "b"), ("7.3", "over"),
]

WRONG = [
    ("1.2", 1 / math.sqrt(2 * math.pi * 0.1), "too small"),
    ("1.2", 0.399, "too small"),
    ("1.3", ("mu_1 + mu_2", "sigma_1**2 + sigma_2**2"), "formula 1"),
    ("1.3", ("mu_1 - mu_2", "sigma_1**2 - sigma_2**2"), "formula 2"),
    ("1.3", ("mu_1 - mu_2", "sigma_1 + sigma_2"), "formula 2"),
    ("1.4", "exp(-(x - mu)**2 / (2*sigma)) / sqrt(2*pi*sigma**2)", "not right"),
    ("1.4", "exp(-(x - mu)**2 / (2*sigma**2)) / sqrt(2*pi)", "not right"),
    ("1.4", "-exp(-(x - mu)**2 / (2*sigma**2)) / sqrt(2*pi*sigma**2)", "sign is flipped"),
    ("1.5", 100, "too large"),
    ("2.2", "a", "not quite"),
    ("2.2", "c", "not quite"),
    ("2.5", "alpha_1*alpha_2*v + beta_1 + beta_2", "not right"),
    ("2.5", "sqrt(alpha_1*alpha_2)*v + alpha_2*beta_1 + beta_2", "not right"),
    ("3.3", "abar_t*v", "not right"),
    ("3.4", "(1 - alpha_1*alpha_2*alpha_3)**2", "square of the right one"),
    ("3.4", "beta_1 + beta_2 + beta_3", "not right"),
    ("4.1", "x_t", "not right"),
    ("4.4", "beta_t/alpha_t + 1/(1 - abar_prev)", "not right"),
    ("4.5", "beta_t / (sqrt(1 - abar_t) * sqrt(alpha_t))", "sign is flipped"),
    ("4.5", "-beta_t / ((1 - abar_t) * sqrt(alpha_t))", "not right"),
    ("7.3", "under", "not quite"),
    # Right only where every symbol is positive, or only near the points a narrow range would draw:
    ("4.1", "Abs(x_0)", "not right"),
    ("4.1", "x_0 + Abs(x_t) - x_t", "not right"),
    ("1.4", "exp(-(Abs(x) - Abs(mu))**2 / (2*sigma**2)) / sqrt(2*pi*sigma**2)", "not right"),
    ("1.4", "exp(-(x - mu)**2 / (2*sigma**2)) / sqrt(2*pi*sigma**2) * (1 + (x - mu)**40)", "not right"),
    ("8.5", "-Abs(epsilon)/sqrt(1 - abar_t)", "not right"),
    ("3.1", 500, "too small"),                                  # T/2: the classic near miss
    ("3.1", 501, "too large"),
    ("4.4", "beta_t*(1 - abar_prev)/(1 - (1 - beta_t)*abar_prev)", "reciprocal"),   # β̃_t itself
]

MALFORMED = [
    ("1.2", float("nan"), "finite number"),
    ("1.2", "three", "expected a number"),
    ("1.3", ("mu_1 - ", "sigma_1**2"), "could not read"),
    ("1.4", "exp(-(x - m)**2)", "does not have"),
    ("1.4", float("nan"), "not a formula"),
    ("1.4", "", "empty"),
    ("1.3", "mu_1 - mu_2", "expected 2 formulas"),
    ("2.2", "d", "choose one of"),
    ("9.9", 1.0, "no checkable question"),
    ("1.4", [1, 2], "expected 1 formula"),
    ("1.4", None, "None"),
    ("1.4", "p_Z((x - mu)/sigma)/sigma", "write the formula out in full (p_Z)"),   # the hint's own words
    ("4.1", "f(x_0)", "write the formula out in full (f)"),
    ("4.1", "Integral(x_0, (x_t, 0, 1))", "no named functions, integrals or derivatives"),
]


@pytest.mark.parametrize("key,value", RIGHT)
def test_right_answers(key, value):
    passed, out = answer(key, value)
    assert passed is True and out.startswith("✅"), out


@pytest.mark.parametrize("key,value,fragment", WRONG)
def test_wrong_answers(key, value, fragment):
    passed, out = answer(key, value)
    assert passed is False and out.startswith("❌") and fragment in out, out


@pytest.mark.parametrize("key,value,fragment", MALFORMED)
def test_malformed_answers(key, value, fragment):
    passed, out = answer(key, value)
    assert passed is False and out.startswith("❌") and fragment in out, out


def test_every_choice_has_an_explanation_and_one_is_right():
    for key, question in QUESTIONS.items():
        if question.kind == "choice":
            assert question.answer in question.options and len(question.options) >= 3
            assert all(len(text) > 30 for text in question.options.values())
            for option in question.options:
                passed, out = answer(key, option)
                assert passed is (option == question.answer)
                assert question.options[option] in out


def test_a_function_as_answer_runs_under_the_engine():
    def stub():
        raise NotImplementedError("write the formula")
    passed, out = answer("1.3", stub)
    assert passed is False and out.startswith("⏳")
    passed, out = answer("1.3", lambda: ("mu_1 - mu_2", "sigma_1**2 + sigma_2**2"))
    assert passed is True


def test_numbers_from_the_package():
    assert QUESTIONS["1.2"].answer() == pytest.approx(float(normal_pdf(0.0, 0.0, 0.1)))
    assert QUESTIONS["1.2"].answer() == pytest.approx(3.989, abs=1e-3)


def test_numpy_and_torch_numbers_are_accepted():
    import torch
    assert answer("3.1", np.float64(500.5))[0] and answer("3.1", torch.tensor(500.5, dtype=torch.float64))[0]


def test_a_number_outside_the_tolerance_says_the_tolerance_in_percent():
    passed, out = answer("1.2", 3.9)
    assert passed is False and "(the tolerance is 0.1 % of the answer)" in out, out
