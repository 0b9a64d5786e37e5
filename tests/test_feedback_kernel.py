"""Every check leaves the notebook's kernel as it found it, judges in a clean state, and cannot be hung or
ended by the learner's function."""
from __future__ import annotations

import importlib
import os
import random
import signal
import sys
import time

import numpy as np
import pytest
import torch

from ddpm_lessons import feedback as fb
from ddpm_lessons.feedback import ch01, ch06
from ddpm_lessons.feedback.sandbox import call_limited
from feedback_harness import retry_with_bare_except, verdict

CHAPTERS = ["01", "02", "03", "04", "05", "06", "07", "08", "09"]


def _right_answers():
    """(check, one right answer) for every check: the first right answer of each chapter's table."""
    pairs = []
    for chapter in CHAPTERS:
        module = importlib.import_module(f"test_feedback_ch{chapter}")
        pairs += [(getattr(fb, f"check_{name}"), answers[0]) for name, answers in module.RIGHT.items()]
    ch10 = importlib.import_module("test_feedback_ch10")
    pairs += [(check, fn) for check, fn in ch10.RIGHT[::3]]
    pairs += [(fb.check_curve_coverage, ch10.RIGHT_COVERAGE[0]), (fb.check_drop_labels, ch10.RIGHT_DROP[0]),
              (fb.check_pattern_shares, ch10.RIGHT_SHARES[0]), (fb.check_guided_noise, ch10.RIGHT_GUIDED[0])]
    return pairs


RIGHT = _right_answers()
IDS = [f"{getattr(c, '__name__', 'lambda')}-{i}" for i, (c, _) in enumerate(RIGHT)]


def _state(model=None):
    return (torch.is_grad_enabled(), torch.get_default_dtype(), torch.get_num_threads(),
            torch.get_rng_state().clone(), np.random.get_state()[1].copy(), random.getstate(),
            None if model is None else [p.requires_grad for p in model.parameters()])


def _same(a, b):
    return (a[:3] == b[:3] and torch.equal(a[3], b[3]) and np.array_equal(a[4], b[4]) and a[5] == b[5]
            and a[6] == b[6])


def _vandal(fn):
    """``fn`` after switching off gradients, changing the default dtype, reseeding every global generator and
    freezing any model it is given: each leaks into the notebook unless the check restores it."""
    def vandal(*args):
        for a in args:
            if isinstance(a, torch.nn.Module):
                a.requires_grad_(False)
        torch.set_grad_enabled(False)
        torch.set_default_dtype(torch.float64)
        torch.manual_seed(1234)
        np.random.seed(1234)
        random.seed(1234)
        return fn(*args)
    return vandal


@pytest.fixture
def unusual_kernel():
    """A learner's kernel with float64 as the default dtype and its own random state; restored afterwards."""
    saved = _state()
    torch.set_default_dtype(torch.float64)
    torch.manual_seed(7)
    np.random.seed(7)
    random.seed(7)
    yield
    torch.set_default_dtype(saved[1])
    torch.set_grad_enabled(saved[0])


@pytest.mark.parametrize("check,fn", RIGHT, ids=IDS)
def test_every_check_restores_the_kernel_and_a_float64_default_changes_nothing(check, fn, unusual_kernel):
    before = _state()
    passed, out = verdict(check, fn, 0)
    assert passed is True, out                       # judged in a clean state: float64 default or not
    assert _same(before, _state())
    passed, out = verdict(check, _vandal(fn), 0)
    assert passed is False and out.startswith("❌"), out
    assert "for the whole notebook" in out and "put it back" in out, out
    assert _same(before, _state()), "the check left the kernel changed"


@pytest.mark.parametrize("check,fn", [(fb.check_p_sample_step, None), (fb.check_encode, None),
                                      (fb.check_training_loss, None)])
def test_a_function_that_freezes_the_model_is_named_and_the_model_restored(check, fn):
    module = importlib.import_module("test_feedback_ch09" if check is fb.check_encode else "test_feedback_ch06")
    name = check.__name__.removeprefix("check_")
    right = module.RIGHT[name][0]

    def freezes(model, *args):
        model.requires_grad_(False)
        return right(model, *args)
    passed, out = verdict(check, freezes, 0)
    assert passed is False and "switched off gradients of the model's parameters" in out, out
    assert "torch.no_grad()" in out


def test_grad_mode_switched_off_inside_p_sample_step_is_named_and_restored():
    right = importlib.import_module("test_feedback_ch06").RIGHT["p_sample_step"][0]

    def switches_off(*args):
        torch.set_grad_enabled(False)
        return right(*args)
    passed, out = verdict(fb.check_p_sample_step, switches_off, 0)
    assert passed is False and "switched off gradients for the whole notebook" in out, out
    assert torch.is_grad_enabled()
    passed, out = verdict(fb.check_training_loss, importlib.import_module("test_feedback_ch06").RIGHT[
        "training_loss"][0], 0)
    assert passed is True, out                        # the next check is not affected


def test_a_default_dtype_set_inside_a_function_is_named_and_later_checks_still_pass():
    right = importlib.import_module("test_feedback_ch06").RIGHT["training_loss"][0]

    def sets_float64(*args):
        torch.set_default_dtype(torch.float64)
        return right(*args)
    passed, out = verdict(fb.check_training_loss, sets_float64, 0)
    assert passed is False and "default dtype" in out, out
    assert torch.get_default_dtype() == torch.float32
    assert verdict(fb.check_training_loss, right, 1)[0]


# ----------------------------------------------------------------------------- the time limit
def _run(exercise, fn, limit):
    import contextlib
    import io
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        passed = fb.run_check(exercise, fn, seed=0, time_limit=limit)
    return passed, buffer.getvalue()


def _retry_base(*args):
    while True:
        try:
            sum(range(1000))
        except BaseException:  # noqa: BLE001 - the learner's code
            continue


def _retry_nested(*args):
    while True:
        try:
            try:
                time.sleep(0.001)
            except:  # noqa: E722
                pass
        except:  # noqa: E722
            pass
        finally:
            pass


def _loop_inside_a_try(*args):
    try:
        while True:
            try:
                sum(range(100))
            except:  # noqa: E722
                pass
    except:  # noqa: E722
        pass
    return 0.0, 1.0


@pytest.mark.parametrize("stubborn", [retry_with_bare_except, _retry_base, _retry_nested, _loop_inside_a_try])
def test_a_retry_loop_with_a_bare_except_gets_the_time_limit_within_one_second(stubborn):
    tracer = sys.gettrace()      # None, or coverage's when the tests measure it
    start = time.perf_counter()
    passed, out = _run(ch01.SUM_OF_NORMALS, stubborn, 0.5)
    elapsed = time.perf_counter() - start
    assert passed is False and "time limit" in out, out
    assert elapsed < 0.5 + 1.0, elapsed
    assert sys.gettrace() is tracer and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    # the next check runs normally
    assert _run(ch01.SUM_OF_NORMALS, lambda m1, v1, m2, v2: (m1 + m2, v1 + v2), 2.0)[0]


class Custom(BaseException):
    pass


def _raises(error):
    def fn(*args):
        raise error
    return fn


@pytest.mark.parametrize("error,fragment", [(KeyboardInterrupt(), "KeyboardInterrupt"),
                                            (GeneratorExit(), "GeneratorExit"),
                                            (Custom("mine"), "Custom: mine")])
def test_escaping_base_exceptions_become_messages(error, fragment):
    passed, out = _run(ch01.SUM_OF_NORMALS, _raises(error), 2.0)
    assert passed is False and out.startswith("❌") and fragment in out, out


def test_os_exit_is_stopped_and_named():
    passed, out = _run(ch01.SUM_OF_NORMALS, lambda *a: os._exit(0), 2.0)
    assert passed is False and "os._exit()" in out and "end the notebook's kernel" in out, out
    assert os._exit.__module__ == "posix"             # the real one is back


def test_the_state_of_a_bare_call_is_restored():
    threads = torch.get_num_threads()
    outcome = call_limited(lambda: torch.set_num_threads(threads + 1), (), 2.0)
    assert outcome.changes and "number of threads" in outcome.changes[0]
    assert torch.get_num_threads() == threads


def test_the_training_step_optimiser_has_a_smooth_step():
    """The Adam of the train_step check has a large ε, so its step is a Lipschitz function of the gradient."""
    cases = ch06.TRAIN_STEP.make_cases(np.random.default_rng(0))
    adams = [c.args[1] for c in cases if isinstance(c.args[1], torch.optim.Adam)]
    assert adams and all(a.defaults["eps"] >= 0.1 for a in adams)


def test_a_float32_result_is_not_told_about_float64_promotion():
    from ddpm_lessons.feedback.engine import dtype_message
    assert "default dtype, float32" in dtype_message(torch.float32, torch.float64)
    assert "promotes" not in dtype_message(torch.float32, torch.float64)
    assert "promotes" in dtype_message(torch.float64, torch.float32)
