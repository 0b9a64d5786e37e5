"""Tests of ddpm_lessons.validation: integers, time steps and point arrays."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from ddpm_lessons.validation import check_int, check_points, check_time_step, time_indices


@pytest.mark.parametrize("value", [0, 7, np.int64(7), np.int32(-2), np.uint8(3)])
def test_check_int_returns_a_python_int(value):
    out = check_int(value, "n")
    assert type(out) is int and out == int(value)


@pytest.mark.parametrize("value, minimum, maximum, message", [
    (0, 1, None, "n must be an integer >= 1, got 0"),
    (2.0, 1, None, "n must be an integer >= 1, got 2.0"),
    (True, 0, None, "n must be an integer >= 0, got True"),
    ("3", None, None, "n must be an integer, got '3'"),
    (None, None, None, "n must be an integer, got None"),
    (41, 1, 40, r"n must be an integer in 1\.\.40, got 41"),
    (6, None, 5, "n must be an integer <= 5, got 6"),
    (np.int64(0), 1, 40, r"n must be an integer in 1\.\.40, got np.int64\(0\)"),
])
def test_check_int_says_what_it_expected_and_got(value, minimum, maximum, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        check_int(value, "n", minimum, maximum)


def test_check_time_step_counts_from_one_unless_told():
    assert check_time_step(40, 40) == 40
    assert check_time_step(0, 40, first=0) == 0
    with pytest.raises(ValueError, match=r"t must be an integer in 1\.\.40, got 0"):
        check_time_step(0, 40)


def test_time_indices_of_an_int_and_of_a_tensor():
    index = time_indices(5, 40, 3)
    assert index.dtype == torch.long and index.tolist() == [4, 4, 4]
    index = time_indices(torch.tensor([1, 40, 7], dtype=torch.int32), 40, 3)
    assert index.dtype == torch.long and index.tolist() == [0, 39, 6]
    assert time_indices(np.int64(2), 40, 1).tolist() == [1]


@pytest.mark.parametrize("t, message", [
    (0, r"t must be in 1\.\.40, got 0 \(time steps count from 1 here: a 0-based t"),
    (41, r"t must be in 1\.\.40, got 41$"),
    (True, "t must be an integer in 1..40, got True"),
    (2.0, "t must be an int or an integer tensor, got float 2.0"),
    (torch.tensor([0, 3]), r"t must be in 1\.\.40, got values from 0 to 3 \(time steps count from 1"),
    (torch.tensor([2, 41]), r"t must be in 1\.\.40, got values from 2 to 41$"),
    (torch.tensor([1.0, 2.0]), "t must hold integers, got dtype torch.float32"),
    (torch.tensor([True, False]), "t must hold integers, got dtype torch.bool"),
    (torch.tensor([[1, 2]]), re.escape("t must have shape (batch,) = (2,), got t of shape (1, 2)")),
    (torch.tensor([1, 2, 3]), re.escape("t must have shape (batch,) = (2,), got t of shape (3,)")),
])
def test_time_indices_refuse_what_would_index_the_wrong_row(t, message):
    with pytest.raises(ValueError, match=message):
        time_indices(t, 40, 2)


def test_time_indices_refuse_an_empty_batch_of_time_steps():
    with pytest.raises(ValueError, match="t is empty"):
        time_indices(torch.zeros(0, dtype=torch.long), 40, 0)


def test_check_points_converts_lists_and_tensors_to_float64():
    out = check_points([[1, 2], [3, 4]])
    assert out.dtype == np.float64 and out.shape == (2, 2)
    tensor = torch.ones(3, 2, requires_grad=True)
    np.testing.assert_array_equal(check_points(tensor * 2, ndim=2), np.full((3, 2), 2.0))
    assert check_points(np.zeros((5, 4, 2)), ndim=3).shape == (5, 4, 2)


@pytest.mark.parametrize("points, ndim, message", [
    (np.zeros((3, 3)), None, r"points must have shape \(\.\.\., 2\) with x, y on the last axis, got shape \(3, 3\)"),
    (np.zeros(()), None, r"got shape \(\)"),
    (np.zeros((4, 2)), 3, r"points must have shape \(K, n, 2\) .*got shape \(4, 2\)"),
    (np.array([[0.0, np.nan], [np.inf, 1.0]]), None, r"points must be finite, got 2 NaN or infinite value\(s\)"),
])
def test_check_points_refuses_bad_arrays(points, ndim, message):
    with pytest.raises(ValueError, match=message):
        check_points(points, ndim=ndim)
