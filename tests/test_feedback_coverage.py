"""Every coding exercise is tried with at least 8 wrong answers and 2 right ones (the tests per chapter).

Run with ``-s`` to print the table of answers tried per notebook.
"""
from __future__ import annotations

import importlib

import pytest

from ddpm_lessons import feedback as fb

CHAPTERS = ["01", "02", "03", "04", "05", "06", "07", "08", "09"]


def _tables(chapter: str):
    module = importlib.import_module(f"test_feedback_ch{chapter}")
    return module.RIGHT, module.WRONG


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_exercise_has_enough_answers(chapter):
    right, wrong = _tables(chapter)
    assert set(right) == set(wrong)
    for name in right:
        assert hasattr(fb, f"check_{name}")
        assert len(wrong[name]) >= 8, f"{name}: only {len(wrong[name])} wrong answers"
        assert len(right[name]) >= 2, f"{name}: only {len(right[name])} right answers"


def test_stretch_exercises_have_enough_answers():
    module = importlib.import_module("test_feedback_ch10")
    assert len(module.WRONG) >= 16 and len(module.WRONG_COVERAGE) >= 8 and len(module.RIGHT_COVERAGE) >= 2


def test_table(capsys):
    questions = importlib.import_module("test_feedback_questions")
    rows = []
    for chapter in CHAPTERS:
        right, wrong = _tables(chapter)
        q_right = sum(1 for k, _ in questions.RIGHT if k.startswith(chapter[1] + "."))
        q_wrong = sum(1 for k, *_ in questions.WRONG + questions.MALFORMED if k.startswith(chapter[1] + "."))
        rows.append((chapter, len(right), sum(map(len, wrong.values())), sum(map(len, right.values())), q_wrong, q_right))
    module = importlib.import_module("test_feedback_ch10")
    wrong = sum(len(getattr(module, f"WRONG{k}")) for k in ("", "_COVERAGE", "_GUIDED", "_DROP", "_SHARES"))
    right = sum(len(getattr(module, f"RIGHT{k}")) for k in ("", "_COVERAGE", "_GUIDED", "_DROP", "_SHARES"))
    rows.append(("10", 6, wrong, right, 0, 0))
    with capsys.disabled():
        print("\nnotebook  exercises  wrong rejected/tried  right accepted/tried  question wrong/tried  right/tried")
        for chapter, n, w, r, qw, qr in rows:
            print(f"{chapter:>8}  {n:>9}  {w:>9}/{w:<9}  {r:>9}/{r:<9}  {qw:>9}/{qw:<9}  {qr:>5}/{qr}")
    assert all(w >= 8 * n for _, n, w, *_ in rows[:-1])
