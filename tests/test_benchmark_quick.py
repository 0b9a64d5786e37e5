"""The recipe benchmark runs end to end (``python -m benchmarks.recipes --quick``)."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

RECIPE_FIELDS = {"recipe", "mean_distance", "median_distance", "far_fraction", "coverage_ks",
                 "train_seconds", "steps", "steps_per_second", "parameters", "sample_seconds",
                 "final_train_loss", "final_val_loss", "threads", "meets_targets"}


@pytest.mark.slow
def test_quick_benchmark_writes_sane_json(tmp_path):
    output = tmp_path / "results.json"
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.recipes", "--quick", "--output", str(output)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "loop speed" in completed.stdout and "ratio" in completed.stdout

    results = json.loads(output.read_text())
    assert results["quick"] is True
    assert results["targets"] == {"mean_distance": 0.015, "coverage_ks": 0.05, "train_seconds": 60.0}
    assert results["n_samples"] == 1000
    assert results["threads"]["chosen"] in (1, 2)
    assert set(results["threads"]["steps_per_second"]) <= {"1", "2"}

    floor = results["floor"]
    # √n·D_n has median 0.8276 (Kolmogorov distribution): 0.8276/√1000 = 0.02617.
    assert floor["ks_floor_median_asymptotic"] == pytest.approx(0.8276 / math.sqrt(1000), rel=1e-3)
    # True points: their KS distance is below the 99.9 % point 1.95/√1000 = 0.062.
    assert 0.0 < floor["ks_true_sample"] < 0.062
    assert 0.0 < floor["ks_true_median_of_draws"] < 0.062

    assert set(results["recipes"]) == {"source", "course"}
    for name, r in results["recipes"].items():
        assert RECIPE_FIELDS <= set(r), name
        assert r["steps"] >= 1 and r["train_seconds"] > 0
        assert r["steps_per_second"] == pytest.approx(r["steps"] / r["train_seconds"], rel=1e-9)
        assert 0.0 <= r["median_distance"] < 2.0 * math.sqrt(2.0)
        # Samples of any trained model stay within the clipped square, so the distance to the
        # spiral is below the square's diagonal; KS distances lie in (0, 1].
        assert 0.0 <= r["mean_distance"] < 2.0 * math.sqrt(2.0)
        assert 0.0 < r["coverage_ks"] <= 1.0
        assert 0.0 <= r["far_fraction"] <= 1.0
        assert r["parameters"] > 0 and r["sample_seconds"] > 0
        assert math.isfinite(r["final_train_loss"]) and 0.0 < r["final_train_loss"] < 5.0
        assert set(r["meets_targets"]) == {"mean_distance", "coverage_ks", "train_seconds"}
        assert r["meets_targets"]["coverage_ks"] == (r["coverage_ks"] <= 0.05)
    assert results["recipes"]["source"]["parameters"] == 5442   # width 32, depth 3, no Fourier features

    speed = results["loop_speed"]
    for key in ("naive_steps_per_second", "train_steps_per_second",
                "train_steps_per_second_default_threads", "naive_steps_per_second_chosen_threads"):
        assert speed[key] > 0, key
    assert speed["ratio"] == pytest.approx(speed["train_steps_per_second"] / speed["naive_steps_per_second"])
    assert speed["ratio_same_threads"] == pytest.approx(
        speed["train_steps_per_second_default_threads"] / speed["naive_steps_per_second"])
    assert speed["ratio_loop_only_chosen_threads"] == pytest.approx(
        speed["train_steps_per_second"] / speed["naive_steps_per_second_chosen_threads"])
    assert speed["chosen_threads"] == results["threads"]["chosen"] == 1   # the recipes' num_threads
