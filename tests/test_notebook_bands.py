"""The tolerance bands of the stored notebook outputs (``scripts/nbval_approx.py``).

A cell tagged ``nbval-approx`` compares its numbers within a band, so that a
notebook reproduces on any processor. These tests show that the bands are
still tight enough to catch what they are for: chapter 9's figures of the
course model are recomputed with a broken training loop, a wrong noise
schedule and a sampler with the wrong seed, and each fails the comparison with
the stored outputs that the notebook check makes. The models are trained here,
with no checkpoint cache, so a cached good model cannot stand in for a broken one.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ddpm_lessons.diffusion import GaussianDiffusion
from ddpm_lessons.optimal import coverage_ks, mean_distance
from ddpm_lessons.recipes import COURSE_RECIPE, Recipe, train_recipe
from ddpm_lessons.sampling import ddim_sample

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from scripts.nbval_approx import (DEFAULT_BAND, TAG, Band, band_mismatches, band_of,  # noqa: E402
                                  split_numbers)

CHAPTER_9 = ROOT / "book" / "09_fewer_steps.ipynb"
SAMPLING_SEED = 1          # chapter 9 draws its sampler comparison with seed 1 (``draw``)


# ------------------------------------------------------------ the comparison itself

def test_numbers_within_the_band_pass_and_outside_fail():
    band = Band(rtol=0.3, atol=1e-3)
    stored = "spiral  0.0037  0.039 0.952\n"
    assert band_mismatches("spiral  0.0041  0.036 0.948\n", stored, band) == []
    out = band_mismatches("spiral  0.0137  0.039 0.952\n", stored, band)
    assert len(out) == 1 and out[0].startswith("0.0137 where 0.0037 is stored")


def test_text_around_the_numbers_must_match_exactly():
    band = Band(rtol=0.3, atol=1e-3)
    assert band_mismatches("moons 0.0037\n", "spiral 0.0037\n", band) is None
    assert band_mismatches("0.0037 0.01\n", "0.0037\n", band) is None   # one number more


def test_integers_are_counts_and_compare_exactly():
    band = Band(rtol=0.3, atol=1e-3)
    assert band_mismatches("5 ≤ t ≤ 40: 0.0021", "5 ≤ t ≤ 40: 0.0024", band) == []
    assert band_mismatches("5 ≤ t ≤ 50: 0.0021", "5 ≤ t ≤ 40: 0.0021", band) == ["50 where 40 is stored"]
    assert band_mismatches("10,000 points", "10,001 points", band) == ["000 where 001 is stored"]


def test_signs_names_and_embedded_images():
    band = Band(rtol=0, atol=0.1)
    assert band_mismatches("(-0.02, +0.51)", "(+0.03, +0.48)", band) == []
    assert band_mismatches("(−0.52, +0.51)", "(+0.03, +0.48)", band)[0].startswith("−0.52 where +0.03 is stored")
    pieces, numbers = split_numbers("x_0 and h1 at t = 3")
    assert numbers == ["3"] and pieces[0] == "x_0 and h1 at t = "
    frame = '<img src="data:image/png;base64,iVBORw0KGgo+/=">'
    other = '<img src="data:image/png;base64,AAAA1234">'
    assert band_mismatches(frame * 2, other * 2, band) == []
    assert band_mismatches(frame * 2, other, band) is None        # the number of frames counts


def test_band_from_the_cell_metadata():
    assert band_of({"tags": [TAG]}) == DEFAULT_BAND
    assert band_of({TAG: {"atol": 0.1}}) == Band(rtol=0.0, atol=0.1)
    for bad in ({"rtol": -1}, {"rtol": 0.1, "width": 2}, {}, [0.1], {"rtol": 0, "atol": 0}):
        with pytest.raises(ValueError):
            band_of({TAG: bad})


def _notebook_cell(source: str, stored: str, tags: list[str]) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source, execution_count=1, metadata={"tags": tags})
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=stored)]
    return cell


def test_plugin_loaded_by_make_compares_tagged_cells_within_their_band(tmp_path):
    """``pytest --nbval -p scripts.nbval_approx``, as ``make test-notebooks`` runs it."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        _notebook_cell("print(0.0105)", "0.01\n", ["nbval-approx"]),           # within: passes
        _notebook_cell("print(0.05)", "0.01\n", ["nbval-approx"]),             # outside: fails
        _notebook_cell("print(1.001)", "1.0\n", []),                           # untagged: exact, fails
    ]
    for count, cell in enumerate(nb.cells, 1):
        cell.execution_count = count
    path = tmp_path / "bands.ipynb"
    nbformat.write(nb, path)
    report = tmp_path / "report.json"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env", "-p", "scripts.nbval_approx",
         "-p", "no:cacheprovider", "-q", str(path), "--rootdir", str(tmp_path),
         "-o", "junit_family=xunit2", f"--junitxml={report}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    outcome = {name: ("failed" if "<failure" in body else "passed")
               for name, body in _junit_cases(report.read_text())}
    assert outcome == {"Cell 0": "passed", "Cell 1": "failed", "Cell 2": "failed"}, run.stdout[-3000:]
    assert "0.05 where 0.01 is stored" in run.stdout


def _junit_cases(xml: str) -> list[tuple[str, str]]:
    import xml.etree.ElementTree as ET
    root = ET.fromstring(xml)
    return [(case.get("name"), ET.tostring(case, encoding="unicode")) for case in root.iter("testcase")]


# ------------------------------------------------------------ broken on purpose

def _chapter_9_outputs() -> dict[str, tuple[str, Band]]:
    """Stored outputs of chapter 9 that the course model's DDIM (η = 1, 100 steps) decides:
    the glued mean distance and coverage KS, and the guard print of the first samples."""
    nb = nbformat.read(CHAPTER_9, as_version=4)
    found: dict[str, tuple[str, Band]] = {}
    for cell in nb.cells:
        if cell.cell_type != "code" or TAG not in cell.metadata.get("tags", []):
            continue
        for output in cell.outputs:
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            if name in ("ddim1_100", "ddim1_100_ks"):
                found[name] = (output["data"]["application/papermill.record/text/plain"], band_of(cell.metadata))
        if 'runs["DDIM η = 1", 100]' in cell.source:
            found["first samples"] = (cell.outputs[0]["text"], band_of(cell.metadata))
    assert set(found) == {"ddim1_100", "ddim1_100_ks", "first samples"}, set(found)
    return found


def _verdicts(model, diffusion: GaussianDiffusion, seed: int = SAMPLING_SEED) -> dict[str, list | None]:
    """Chapter 9's DDIM (η = 1, 100 steps, uniform grid) figures, compared with the stored ones:
    an empty list where a figure is within its band."""
    x = ddim_sample(diffusion, model, (1000, 2), 100, 1.0, torch.Generator().manual_seed(seed)).numpy()
    fresh = {"ddim1_100": repr(f"{mean_distance(x):.4f}"), "ddim1_100_ks": repr(f"{coverage_ks(x):.3f}"),
             "first samples": "  ".join(f"({a:+.2f}, {b:+.2f})" for a, b in x[:4]) + "\n"}
    return {name: band_mismatches(fresh[name], stored, band)
            for name, (stored, band) in _chapter_9_outputs().items()}


@pytest.fixture(scope="module")
def course_model():
    model, diffusion, _ = train_recipe(COURSE_RECIPE, seed=0, progress=False)
    return model, diffusion


def test_the_course_model_reproduces_chapter_9_within_its_bands(course_model):
    assert _verdicts(*course_model) == {"ddim1_100": [], "ddim1_100_ks": [], "first samples": []}


def _p_losses_against_fresh_noise(self, model, x_start, t=None, noise=None, loss_fn=F.mse_loss,
                                  generator=None):
    """A broken training step: x_t is made with one draw of ε, the loss compares with another."""
    x_t = self.q_sample(x_start, t, noise)
    return loss_fn(model(x_t, t), torch.randn(noise.shape, generator=torch.Generator().manual_seed(int(t[0]))))


def _uniform_t(self):
    """A broken training loop's law of t: uniform, whatever the recipe says (eq. (6.8))."""
    return None


@pytest.mark.parametrize("where, broken", [
    (GaussianDiffusion, ("p_losses", _p_losses_against_fresh_noise)),
    (Recipe, ("t_probabilities", _uniform_t)),
], ids=["loss against other noise", "t drawn uniformly"])
def test_a_broken_training_loop_fails_the_bands(monkeypatch, where, broken):
    """The blatant bug (the loss compares with noise that did not make x_t) and a subtle one
    (t drawn uniformly, so t = 1, the step that decides precision most, gets 1 % of the
    examples instead of about 40 %): each moves the mean distance out of its band."""
    monkeypatch.setattr(where, *broken)
    model, diffusion, _ = train_recipe(COURSE_RECIPE, seed=0, progress=False)
    verdicts = _verdicts(model, diffusion)
    assert verdicts["ddim1_100"], verdicts        # the mean distance leaves its band
    assert verdicts["first samples"], verdicts


def test_a_wrong_noise_schedule_fails_the_bands(course_model):
    """The course model sampled with the linear schedule instead of the cosine one it learnt."""
    model, _ = course_model
    wrong = dataclasses.replace(COURSE_RECIPE, schedule="linear").diffusion()
    assert not np.allclose(wrong.betas.numpy(), COURSE_RECIPE.diffusion().betas.numpy())
    verdicts = _verdicts(model, wrong)
    assert verdicts["ddim1_100"] and verdicts["first samples"], verdicts


def test_a_sampler_with_the_wrong_seed_fails_the_bands(course_model):
    """Another seed gives samples as good as the stored ones, so the mean distance may stay in
    its band; the first samples land elsewhere."""
    verdicts = _verdicts(*course_model, seed=SAMPLING_SEED + 1)
    assert verdicts["first samples"], verdicts
