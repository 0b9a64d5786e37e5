"""Helpers for the tests of ``ddpm_lessons.feedback``: run a check quietly and read its verdict."""
from __future__ import annotations

import contextlib
import io
import time
from typing import Callable

import pytest

SEEDS_RIGHT = (0, 1, 2)
SEEDS_WRONG = (0, 1)


def verdict(check: Callable, fn, seed: int | None = None, **kwargs) -> tuple[bool, str]:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        passed = check(fn, seed=seed, **kwargs)
    return passed, buffer.getvalue()


def assert_rejected(check: Callable, fn, fragment: str, seeds=SEEDS_WRONG, **kwargs) -> None:
    for seed in seeds:
        passed, out = verdict(check, fn, seed, **kwargs)
        assert passed is False, f"accepted a wrong answer (seed {seed}): {out}"
        assert out.startswith("❌"), out
        assert fragment.lower() in out.lower(), f"seed {seed}: expected {fragment!r} in: {out}"


def assert_accepted(check: Callable, fn, seeds=SEEDS_RIGHT, **kwargs) -> None:
    for seed in seeds:
        passed, out = verdict(check, fn, seed, **kwargs)
        assert passed is True and out.startswith("✅"), f"rejected a right answer (seed {seed}): {out}"


def answer_table_tests(right: dict, wrong: dict):
    """The two tests of a chapter's table of answers, for its module to bind: every answer in
    ``right[name]`` is accepted by ``fb.check_<name>``, and every ``(answer, fragment)`` in
    ``wrong[name]`` is rejected with a message that contains ``fragment``."""
    from ddpm_lessons import feedback as fb

    @pytest.mark.parametrize("name,fn", [(n, f) for n, fs in right.items() for f in fs])
    def test_right_answers_are_accepted(name, fn):
        assert_accepted(getattr(fb, f"check_{name}"), fn)

    @pytest.mark.parametrize("name,fn,fragment", [(n, f, m) for n, fs in wrong.items() for f, m in fs])
    def test_wrong_answers_are_rejected_with_their_message(name, fn, fragment):
        assert_rejected(getattr(fb, f"check_{name}"), fn, fragment)

    return test_right_answers_are_accepted, test_wrong_answers_are_rejected_with_their_message


def retry_with_bare_except(*args):
    """A learner's retry loop whose bare ``except:`` would swallow any exception, a time limit's too."""
    while True:
        try:
            time.sleep(0.01)
        except:  # noqa: E722 - the learner's code
            pass
