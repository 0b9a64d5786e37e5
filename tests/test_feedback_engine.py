"""The engine of the feedback: nothing an answer does stops or hangs the notebook, or leaks into the verdict."""
from __future__ import annotations

import math

import sys
import threading
import time

import numpy as np
import pytest

from ddpm_lessons import feedback as fb
from ddpm_lessons.diffusion import GaussianDiffusion
from ddpm_lessons.model import TimeConditionedMLP, parameter_count
from ddpm_lessons.normal import normal_pdf
from ddpm_lessons.optimal import squared_distance_derivatives
from ddpm_lessons.sampling import ddim_sigma, ddim_step, grid_alphas_cumprod
from ddpm_lessons.schedules import alphas_cumprod
from ddpm_lessons.score import posterior_weights
from ddpm_lessons.feedback import ch01, ch02
from ddpm_lessons.feedback.sandbox import call_limited, printed_excerpt
from feedback_harness import retry_with_bare_except, verdict


def _run(exercise, fn, limit=0.5):
    import contextlib
    import io
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        passed = fb.run_check(exercise, fn, seed=0, time_limit=limit)
    return passed, buffer.getvalue()


def test_sys_exit_is_caught_and_reported():
    passed, out = _run(ch01.SUM_OF_NORMALS, lambda *a: sys.exit(3))
    assert passed is False and "sys.exit()" in out and out.startswith("❌")


def test_exit_builtin_and_systemexit_in_the_middle_are_caught():
    def exits_later(m1, v1, m2, v2):
        print("about to leave")
        raise SystemExit
    passed, out = _run(ch01.SUM_OF_NORMALS, exits_later)
    assert passed is False and "sys.exit()" in out and "about to leave" in out


def test_endless_loop_stops_within_the_limit():
    def forever(*args):
        while True:
            pass
    start = time.perf_counter()
    passed, out = _run(ch01.SUM_OF_NORMALS, forever, limit=0.3)
    assert time.perf_counter() - start < 3
    assert passed is False and "did not finish within 0.3 s" in out


def test_an_endless_loop_that_swallows_exceptions_is_still_stopped():
    def stubborn(*args):
        while True:
            try:
                time.sleep(0.01)
            except Exception:  # noqa: BLE001 - the learner's code
                pass
    passed, out = _run(ch01.SUM_OF_NORMALS, stubborn, limit=0.3)
    assert passed is False and "did not finish" in out


@pytest.mark.parametrize("answer", ["right", "endless"])
def test_a_check_leaves_the_notebooks_tracer_in_place(answer):
    """A debugger's or coverage's tracer is still there after a check, also after a time limit."""
    def tracer(frame, event, arg):
        return None

    fn = (lambda m1, v1, m2, v2: (m1 + m2, v1 + v2)) if answer == "right" else retry_with_bare_except
    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        _run(ch01.SUM_OF_NORMALS, fn, limit=0.3)
        after = sys.gettrace()
    finally:
        sys.settrace(previous)
    assert after is tracer, f"the check left the tracer {after!r}"


def test_huge_print_is_kept_out_of_the_verdict():
    def chatty(m1, v1, m2, v2):
        print("x" * 100_000)
        for k in range(1000):
            print(k)
        return m1 + m2, v1 * v2
    passed, out = _run(ch01.SUM_OF_NORMALS, chatty)
    assert passed is False and len(out) < 2000
    assert "Your function printed" in out and "more lines" in out


def test_prints_of_a_right_answer_do_not_appear():
    def right_but_chatty(m1, v1, m2, v2):
        print("debug", m1)
        return m1 + m2, v1 + v2
    passed, out = _run(ch01.SUM_OF_NORMALS, right_but_chatty)
    assert passed is True and "debug" not in out and out.count("\n") == 1


def test_stub_reports_not_done_and_does_not_hint_at_the_answer():
    def stub(*args):
        raise NotImplementedError("Hint: think about what happens to the variance")
    passed, out = _run(ch02.FORWARD_STEP, stub)
    assert passed is False and out.startswith("⏳ not done yet")


def test_errors_name_the_learners_line_and_the_case():
    def broken(x, t, betas, noise):
        return x + betas[t + 100] * noise
    passed, out = _run(ch02.FORWARD_STEP, broken)
    assert passed is False and "IndexError" in out and "in your line `return x + betas[t + 100] * noise`" in out
    assert "t = 1" in out and "Hint:" in out


def test_not_a_function():
    passed, out = verdict(fb.check_forward_step, 3.0)
    assert passed is False and "expected a function" in out


def test_time_limit_falls_back_to_a_thread_outside_the_main_thread():
    results = {}

    def worker():
        results["slow"] = call_limited(lambda: time.sleep(1), (), 0.2)
        results["fast"] = call_limited(lambda: 42, (), 1.0)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(10)
    assert results["slow"].timed_out and results["fast"].value == 42


def test_printed_excerpt_is_short():
    text = "\n".join("y" * 500 for _ in range(50))
    excerpt = printed_excerpt(text)
    assert excerpt.count("\n") == 3 and "47 more lines" in excerpt and len(excerpt) < 500


def test_largest_errors_are_named_with_their_entries():
    def wrong_in_one_entry(x, t, betas, noise):
        out = math.sqrt(1 - betas[t - 1]) * x + math.sqrt(betas[t - 1]) * noise   # eq. (2.3), by hand
        out[2, 1] += 1.0
        return out
    passed, out = _run(ch02.FORWARD_STEP, wrong_in_one_entry)
    assert passed is False and "[2, 1]" in out


def test_the_check_never_changes_the_global_random_state():
    state = np.random.get_state()[1].copy()
    verdict(fb.check_sample_normal, lambda mu, s, size, rng: mu + s * rng.standard_normal(size), 0)
    assert np.array_equal(state, np.random.get_state()[1])


COPIES = [   # (check, an answer that calls the package's own version of the answer, its name)
    ("check_normal_pdf", lambda x, mu, s: normal_pdf(x, mu, s), "normal_pdf"),
    ("check_alphas_cumprod", alphas_cumprod, "alphas_cumprod"),
    ("check_q_sample", lambda x0, t, b, n: GaussianDiffusion(b).q_sample(x0, t, n), "GaussianDiffusion.q_sample"),
    ("check_posterior_weights", posterior_weights, "posterior_weights"),
    ("check_distance_derivatives", lambda q, t: squared_distance_derivatives(q, t)[1:], "squared_distance_derivatives"),
    ("check_step_alphas", grid_alphas_cumprod, "grid_alphas_cumprod"),
    ("check_ddim_update", lambda x, e, a, ap, eta, z: ddim_step((x - (1 - a) ** 0.5 * e) / a**0.5, e, ap,
                                                                ddim_sigma(a, ap, eta), z), "ddim_sigma"),
    ("check_parameter_count", lambda h, k, d: parameter_count(TimeConditionedMLP(10, h, k, d)), "parameter_count"),
    ("check_parameter_count", lambda h, k, d: sum(p.numel() for p in TimeConditionedMLP(10, h, k, d).parameters()),
     "`ddpm_lessons.model.TimeConditionedMLP`"),
]


@pytest.mark.parametrize("check,copy,name", COPIES)
def test_an_answer_that_calls_the_packages_own_version_is_told_to_derive_it(check, copy, name):
    passed, out = verdict(getattr(fb, check), copy, 0)
    assert passed is False and "calls the package's `ddpm_lessons." in out and name in out, out
    assert "Write the formula yourself" in out
    assert sys.getprofile() is None                  # the watch ends with the check


def test_a_decorated_answer_is_not_mistaken_for_the_decorated_package_function():
    """GaussianDiffusion.p_sample runs under @torch.no_grad(), as a learner's answer may: the watch
    compares the functions' own code, not the decorator's shared wrapper."""
    import torch

    @torch.no_grad()
    def p_sample_step(model, x_t, t, betas, z):
        mean, var, _, _ = fb.ch06.diffusion(betas).p_mean_variance(model, x_t, t, clip_denoised=False)
        return mean if t == 1 else mean + var.sqrt() * z

    passed, out = verdict(fb.check_p_sample_step, p_sample_step, 0)
    assert passed is True, out
    copied, out = verdict(fb.check_p_sample_step, torch.no_grad()(
        lambda m, x, t, b, z: fb.ch06.diffusion(b).p_sample(m, x, t)), 0)
    assert copied is False and "GaussianDiffusion.p_sample" in out, out
