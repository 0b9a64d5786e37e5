"""Helpers for the tests of ``ddpm_lessons.feedback``: run a check quietly and read its verdict."""
from __future__ import annotations

import contextlib
import io
from typing import Callable

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
