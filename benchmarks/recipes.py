"""Benchmark of the course's training recipe: quality over seeds, speed, the machine's limit,
and the fewest sampling steps.

Run from the repository root::

    python -m benchmarks.recipes              # the full benchmark (a few minutes on 2 cores)
    python -m benchmarks.recipes --quick      # the same pipeline, small: one seed, fewer steps (< 1 min)
    python -m benchmarks.recipes --ablations  # one lever at a time around the course recipe

The full run trains ``COURSE_RECIPE`` with several training seeds, draws 1000
samples with each of two sampling seeds (Algorithm 2, ``p_sample_loop``) and
reports the median and the worst of the mean distance to the spiral (eq. (7.1))
and of the coverage KS (eq. (7.4)), with the training time, the steps per second
and the 1-minute load average of the machine beside each training.  In the same
run it trains two earlier recipes on two of the same seeds (the course recipe before this
study, 12 000 steps with t uniform, and 5000 steps of 250 points with t ∝ t^-1.5), so that they
can be compared as ratios on the same load; searches the
fewest deterministic DDIM steps that keep the quality; and measures how much of
the machine the training loop uses (FLOP/s against a large matrix product).

Results are printed, written as JSON (``benchmarks/results.json``,
``benchmarks/ablations.json``) and into the marked tables of
``benchmarks/RESULTS.md``.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ddpm_lessons.diffusion import GaussianDiffusion
from ddpm_lessons.optimal import closest_points, coverage_ks, ks_floor
from ddpm_lessons.recipes import COURSE_RECIPE, Recipe, train_recipe
from ddpm_lessons.spiral import make_spiral
from ddpm_lessons.training import History, default_optimizer, min_snr_weights, train

HERE = Path(__file__).resolve().parent
FIGURES = HERE / "figures"
RESULTS_MD = HERE / "RESULTS.md"

TARGETS = {"worst_mean_distance": 0.002, "median_mean_distance": 0.0012, "worst_coverage_ks": 0.035,
           "median_train_seconds": 5.0}
"""What the course recipe must reach, over training seeds × sampling seeds."""
DDIM_TARGETS = {"worst_mean_distance": 0.003, "worst_coverage_ks": 0.04}
"""What the fewest DDIM steps must keep."""

TRAIN_SEEDS = (0, 1, 2, 3, 4)
SAMPLE_SEEDS = (1234, 1235)
TRUE_SEED = 2024
N_SAMPLES = 1000
DDIM_STEPS = (10, 20, 30, 50, 70, 100)
FEW_STEP_SAMPLERS = {"DDIM η = 0, uniform grid": (0.0, "uniform"),
                     "DDIM η = 0, quadratic grid": (0.0, "quadratic"),
                     "DDIM η = 0.3, quadratic grid": (0.3, "quadratic")}
"""The samplers of chapter 9 tried for item 4: (η, spacing of the time grid)."""
PREVIOUS_SEEDS = (0, 1)

PREVIOUS_COURSE_RECIPE = replace(COURSE_RECIPE, name="previous course", epochs=300, batch_size=250, lr=3e-3,
                                 t_power=0.0, ema_decay=None)
"""The course recipe before this study: 12 000 steps of 250 points at lr 3e-3 (cosine decay), t uniform."""
BATCH_250_RECIPE = replace(COURSE_RECIPE, name="batches of 250", epochs=125, batch_size=250, lr=6e-3,
                           ema_decay=None)
"""The first recipe of this study: t ∝ t^-1.5 as now, but 5000 steps of 250 points at lr 6e-3, no average."""
COMPARED_RECIPES = {"previous": PREVIOUS_COURSE_RECIPE, "batch 250": BATCH_250_RECIPE}
"""Trained on ``PREVIOUS_SEEDS`` in the same run as the course recipe, to compare times as ratios."""


def load_average() -> float:
    """The machine's 1-minute load average (other programs sharing the cores)."""
    return round(os.getloadavg()[0], 2)


# ------------------------------------------------------------------ measuring
def sample_quality(points: np.ndarray) -> dict[str, float]:
    """Mean and median distance to the spiral, the share of far points, and coverage KS."""
    _, _, distance = closest_points(points)
    return {"mean_distance": float(distance.mean()), "median_distance": float(np.median(distance)),
            "far_fraction": float((distance > 0.05).mean()), "coverage_ks": coverage_ks(points)}


def draw_samples(model: nn.Module, diffusion: GaussianDiffusion, seed: int, n: int = N_SAMPLES,
                 num_sampling_steps: int | None = None, eta: float = 0.0,
                 spacing: str = "uniform") -> tuple[np.ndarray, float]:
    """``n`` samples with a fixed seed (one thread) and the seconds they took: Algorithm 2
    (``p_sample_loop``), or DDIM (chapter 9) on ``num_sampling_steps`` steps with ``eta``
    and the time grid ``spacing``."""
    generator = torch.Generator().manual_seed(seed)
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        start = time.perf_counter()
        if num_sampling_steps is None:
            x = diffusion.p_sample_loop(model, (n, 2), generator=generator)
        else:
            x = diffusion.ddim_sample_loop(model, (n, 2), num_sampling_steps, eta, generator,
                                           spacing=spacing)
        seconds = time.perf_counter() - start
    finally:
        torch.set_num_threads(previous)
    return x.numpy(), seconds


def true_sample_floor(n: int = N_SAMPLES, seed: int = TRUE_SEED, repeats: int = 20,
                      runs: int = len(TRAIN_SEEDS) * len(SAMPLE_SEEDS), worst_repeats: int = 200
                      ) -> dict[str, float]:
    """The KS distance that ``n`` true spiral points score: one seeded draw, the median of
    ``repeats`` draws, and the asymptotic median of the Kolmogorov law (eq. (7.5)).

    The worst of ``runs`` such draws is what a perfect sampler would score in the seed
    table; its law, from ``worst_repeats`` repetitions, calibrates the target on the worst KS:
    the median and 95th percentile of the worst, and the share of repetitions within the target.
    """
    rng = np.random.default_rng(seed)
    draws = [coverage_ks(make_spiral(n, rng)) for _ in range(repeats)]
    worst = np.array([max(coverage_ks(make_spiral(n, rng)) for _ in range(runs))
                      for _ in range(worst_repeats)])
    return {"n": n, "ks_floor_median_asymptotic": ks_floor(n), "ks_floor_95_asymptotic": ks_floor(n, 0.95),
            "ks_true_sample": draws[0], "ks_true_median_of_draws": float(np.median(draws)), "draws": repeats,
            "worst_of_runs": runs, "worst_repeats": worst_repeats,
            "worst_ks_median": float(np.median(worst)), "worst_ks_95": float(np.quantile(worst, 0.95)),
            "worst_ks_share_within_target": float(np.mean(worst <= TARGETS["worst_coverage_ks"]))}


def seed_table(recipe: Recipe, train_seeds=TRAIN_SEEDS, sample_seeds=SAMPLE_SEEDS, verbose: bool = True
               ) -> tuple[list[dict], list[nn.Module]]:
    """Train ``recipe`` once per training seed and sample it once per sampling seed.

    Returns one row per (training seed, sampling seed) and the trained models.
    """
    rows, models = [], []
    for seed in train_seeds:
        load = load_average()
        model, diffusion, history = train_recipe(recipe, seed=seed, progress=False)
        models.append(model)
        for sample_seed in sample_seeds:
            points, sample_seconds = draw_samples(model, diffusion, sample_seed)
            rows.append({"train_seed": seed, "sample_seed": sample_seed, **sample_quality(points),
                         "train_seconds": history.seconds, "train_cpu_seconds": history.cpu_seconds,
                         "steps": history.steps,
                         "steps_per_second": history.steps_per_second, "load_average": load,
                         "sample_seconds": sample_seconds})
            if verbose:
                print(_row_line(recipe.name, rows[-1]), flush=True)
    return rows, models


def summarise(rows: list[dict]) -> dict:
    """Median and worst over all rows (times: median and slowest over trainings)."""
    trainings = {r["train_seed"]: r for r in rows}.values()      # one row per training for the timings
    md = [r["mean_distance"] for r in rows]
    ks = [r["coverage_ks"] for r in rows]
    seconds = [r["train_seconds"] for r in trainings]
    return {
        "runs": len(rows), "trainings": len(seconds),
        "median_mean_distance": statistics.median(md), "worst_mean_distance": max(md),
        "best_mean_distance": min(md),
        "median_coverage_ks": statistics.median(ks), "worst_coverage_ks": max(ks),
        "median_train_seconds": statistics.median(seconds), "slowest_train_seconds": max(seconds),
        "median_train_cpu_seconds": statistics.median(r["train_cpu_seconds"] for r in trainings),
        "median_steps_per_second": statistics.median(r["steps_per_second"] for r in trainings),
        "steps": rows[0]["steps"],
        "load_average": [min(r["load_average"] for r in trainings), max(r["load_average"] for r in trainings)],
        "median_sample_seconds": statistics.median(r["sample_seconds"] for r in rows),
    }


def meets(summary: dict, targets: dict) -> dict[str, bool]:
    return {k: summary[k] <= v for k, v in targets.items() if k in summary}


def fewest_ddim_steps(models: list[nn.Module], diffusion: GaussianDiffusion, sample_seeds=SAMPLE_SEEDS,
                      candidates=DDIM_STEPS, verbose: bool = True, eta: float = 0.0,
                      spacing: str = "uniform") -> dict:
    """The smallest number of DDIM steps (with ``eta`` and the grid ``spacing``) whose worst
    mean distance and KS over every model × sampling seed meet ``DDIM_TARGETS``; every
    candidate's figures are kept."""
    table = []
    for k in candidates:
        quality, seconds = [], []
        for model in models:
            for seed in sample_seeds:
                points, s = draw_samples(model, diffusion, seed, num_sampling_steps=k, eta=eta,
                                         spacing=spacing)
                quality.append(sample_quality(points))
                seconds.append(s)
        entry = {"num_sampling_steps": k,
                 "worst_mean_distance": max(q["mean_distance"] for q in quality),
                 "median_mean_distance": statistics.median(q["mean_distance"] for q in quality),
                 "worst_coverage_ks": max(q["coverage_ks"] for q in quality),
                 "median_sample_seconds": statistics.median(seconds), "load_average": load_average()}
        entry["meets_targets"] = all(meets(entry, DDIM_TARGETS).values())
        table.append(entry)
        if verbose:
            print(f"  DDIM {k:>3} steps: worst mean distance {entry['worst_mean_distance']:.4f}, "
                  f"worst KS {entry['worst_coverage_ks']:.3f}, {entry['median_sample_seconds']:.3f} s "
                  f"per 1000 samples {'ok' if entry['meets_targets'] else ''}", flush=True)
    passing = [e for e in table if e["meets_targets"]]
    # The smallest count from which every larger candidate passes too (not a lucky dip).
    fewest = None
    for e in reversed(table):
        if not e["meets_targets"]:
            break
        fewest = e
    return {"targets": DDIM_TARGETS, "eta": eta, "spacing": spacing, "table": table, "fewest": fewest,
            "any_passing": [e["num_sampling_steps"] for e in passing]}


# ---------------------------------------------------------- the machine's limit
def _best_seconds(fn, repeats: int, inner: int) -> float:
    """Best of ``repeats`` timings of ``inner`` calls of ``fn``, per call, in processor time
    (``time.process_time``: less disturbed than wall time by other programs on the cores)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        for _ in range(inner):
            fn()
        best = min(best, (time.process_time() - start) / inner)
    return best


def step_flops(model: nn.Module, diffusion: GaussianDiffusion, batch_size: int) -> tuple[int, list]:
    """FLOPs of one forward + backward pass of ``model`` on a batch, counted by torch's
    ``FlopCounterMode`` (matrix products; elementwise work is not counted), and the shapes
    of the matrix products of the forward pass."""
    x0 = torch.as_tensor(make_spiral(batch_size, np.random.default_rng(0)))
    t = torch.randint(1, diffusion.num_timesteps + 1, (batch_size,), generator=torch.Generator().manual_seed(0))
    shapes = []

    def record(module, inputs, output):
        shapes.append((inputs[0].shape[0], module.in_features, module.out_features))

    hooks = [m.register_forward_hook(record) for m in model.modules() if isinstance(m, nn.Linear)]
    with FlopCounterMode(display=False) as counter:
        diffusion.p_losses(model, x0, t).backward()
    for h in hooks:
        h.remove()
    model.zero_grad(set_to_none=True)
    return int(counter.get_total_flops()), shapes


def machine_limit(recipe: Recipe = COURSE_RECIPE, steps: int = 300, repeats: int = 3) -> dict:
    """The training loop's achieved FLOP/s against a large matrix product's, on one thread,
    and where the time of a step goes, measured in one go, all in processor time."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        load_before = load_average()
        model, diffusion = recipe.model(0), recipe.diffusion()
        flops, shapes = step_flops(model, diffusion, recipe.batch_size)
        hand = sum(2 * b * i * o for b, i, o in shapes)                  # forward multiply-adds × 2
        data = make_spiral(steps * recipe.batch_size, np.random.default_rng(0))

        # 1. The whole loop: train() on the recipe's model and batch.
        def whole():
            m = recipe.model(0)
            return train(m, diffusion, data, epochs=1, batch_size=recipe.batch_size, lr=recipe.lr,
                         lr_schedule=recipe.lr_schedule, t_probabilities=recipe.t_probabilities(),
                         ema_decay=recipe.ema_decay, seed=0, progress=False).cpu_seconds / steps
        step_seconds = min(whole() for _ in range(repeats))

        # 2. Forward + backward only, on a fixed batch (no data, no t draw, no optimiser).
        x0 = torch.as_tensor(data[:recipe.batch_size])
        g = torch.Generator().manual_seed(0)
        t = torch.randint(1, diffusion.num_timesteps + 1, (recipe.batch_size,), generator=g)
        noise = torch.randn(x0.shape, generator=g)
        x_t = diffusion.q_sample(x0, t, noise=noise)

        def forward_backward():
            model.zero_grad(set_to_none=True)
            ((model(x_t, t) - noise) ** 2).mean().backward()
        forward_backward()
        fb_seconds = _best_seconds(forward_backward, repeats, 100)

        # 3. The loss as train() computes it: p_losses, with its input checks and eq. (3.5).
        def forward_backward_loss():
            model.zero_grad(set_to_none=True)
            diffusion.p_losses(model, x0, t, noise=noise).backward()
        loss_seconds = _best_seconds(forward_backward_loss, repeats, 100)

        # 4. The weight average (EMA) of one step: train()'s update, alone.
        ema_seconds = 0.0
        if recipe.ema_decay is not None:
            params = list(model.parameters())
            average = [p.detach().clone() for p in params]

            def ema_update():
                for a, p in zip(average, params):
                    a.lerp_(p.detach(), 1.0 - recipe.ema_decay)
            ema_seconds = _best_seconds(ema_update, repeats, 200)

        # 5. The optimiser step alone: fused Adam (the default) and the for-each version.
        optimizer = default_optimizer(model, recipe.lr)
        adam_seconds = _best_seconds(optimizer.step, repeats, 200)
        foreach = torch.optim.Adam(model.parameters(), lr=recipe.lr, foreach=True)
        foreach_seconds = _best_seconds(foreach.step, repeats, 200)

        # 6. The same matrix products, bare, in a tight loop: the small-matrix ceiling.
        mats = [(torch.randn(b, i), torch.randn(i, o)) for b, i, o in shapes]

        def bare_products():
            for a, w in mats:
                torch.mm(a, w)
                torch.mm(a.T, torch.mm(a, w))        # weight gradient's shape: (i, b) @ (b, o)
        small_seconds = _best_seconds(bare_products, repeats, 100)
        small_flops = sum(2 * b * i * o * 3 for b, i, o in shapes)

        # 7. A large matrix product on the same thread(s): the machine's ceiling.
        n = 1024
        a, b = torch.randn(n, n), torch.randn(n, n)
        large = {1: 2 * n ** 3 / _best_seconds(lambda: torch.mm(a, b), repeats, 5)}
        if (os.cpu_count() or 1) > 1:            # two threads: wall time (processor time adds both up)
            torch.set_num_threads(2)
            best = float("inf")
            for _ in range(repeats):
                start = time.perf_counter()
                for _ in range(5):
                    torch.mm(a, b)
                best = min(best, (time.perf_counter() - start) / 5)
            large[2] = 2 * n ** 3 / best
            torch.set_num_threads(1)
    finally:
        torch.set_num_threads(previous)
    achieved = flops / step_seconds
    return {
        "model": model.config, "batch_size": recipe.batch_size, "threads": 1,
        "flops_per_step": flops, "forward_flops_by_hand": hand,
        "step_seconds": step_seconds, "steps_per_second": 1.0 / step_seconds,
        "achieved_flops_per_second": achieved,
        "large_matmul_flops_per_second": {str(k): v for k, v in large.items()},
        "share_of_one_thread_matmul": achieved / large[1],
        "small_matmul_flops_per_second": small_flops / small_seconds,
        "breakdown_seconds": {
            "matrix products at the model's sizes": small_seconds,
            "rest of forward + backward (autograd, elementwise, Python)": max(fb_seconds - small_seconds, 0.0),
            "input checks, forward-process formula and loss (p_losses)": max(loss_seconds - fb_seconds, 0.0),
            "optimiser step (fused Adam)": adam_seconds,
            "weight average (EMA)": ema_seconds,
            "rest of the loop (batches, t and noise draws, schedule, loss record)":
                max(step_seconds - loss_seconds - adam_seconds - ema_seconds, 0.0),
        },
        "forward_backward_seconds": fb_seconds, "foreach_adam_seconds": foreach_seconds,
        "load_average": [load_before, load_average()],
    }


def _spin(stop) -> None:
    """Keep one core busy until ``stop`` is set (another program on the learner's machine)."""
    while not stop.is_set():
        pass


def thread_check(recipe: Recipe = COURSE_RECIPE, steps: int = 200, repeats: int = 2) -> dict:
    """Steps per second of ``train`` with 1 and 2 threads, alternating (best of ``repeats``),
    on the idle machine and again while another process keeps one core busy."""
    previous = torch.get_num_threads()
    data = make_spiral(steps * recipe.batch_size, np.random.default_rng(0))
    options = sorted({1, min(2, os.cpu_count() or 1)})

    def speeds() -> dict[str, float]:
        speed = {n: 0.0 for n in options}
        for _ in range(repeats):
            for n in options:
                torch.set_num_threads(n)
                h = train(recipe.model(0), recipe.diffusion(), data, epochs=1, batch_size=recipe.batch_size,
                          lr=recipe.lr, t_probabilities=recipe.t_probabilities(),
                          ema_decay=recipe.ema_decay, seed=0, progress=False)
                speed[n] = max(speed[n], h.steps_per_second)
        return {str(k): v for k, v in speed.items()}

    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    busy = context.Process(target=_spin, args=(stop,), daemon=True)
    try:
        idle = speeds()
        busy.start()
        time.sleep(0.5)
        beside_busy = speeds()
    finally:
        stop.set()
        if busy.is_alive() or busy.pid is not None:
            busy.join(timeout=10)
        torch.set_num_threads(previous)
    return {"steps_per_second": idle, "beside_a_busy_core": beside_busy, "load_average": load_average()}


# ---------------------------------------------------------------- the full run
def _row_line(name: str, r: dict) -> str:
    return (f"  {name:<16} train seed {r['train_seed']}, sample seed {r['sample_seed']}: "
            f"mean distance {r['mean_distance']:.4f}, KS {r['coverage_ks']:.3f}, "
            f"{r['train_seconds']:.1f} s ({r['steps_per_second']:.0f} steps/s, load {r['load_average']})")


def run_benchmark(quick: bool = False) -> tuple[dict, dict]:
    """Everything of the full run; returns ``(results, samples)`` (samples for the figure)."""
    course = COURSE_RECIPE
    train_seeds, sample_seeds = TRAIN_SEEDS, SAMPLE_SEEDS
    ddim_candidates, limit_steps = DDIM_STEPS, 300
    if quick:
        train_seeds, sample_seeds = (0,), (SAMPLE_SEEDS[0],)
        course = replace(course, epochs=course.epochs // 2)
        ddim_candidates, limit_steps = (10, 50), 40
    load_start = load_average()
    print(f"load average at the start: {load_start}", flush=True)
    results = {"quick": quick, "targets": TARGETS, "ddim_targets": DDIM_TARGETS,
               "machine": {"cpu_count": os.cpu_count(), "torch": torch.__version__,
                           "python": platform.python_version(), "load_average_start": load_start},
               "seeds": {"train": list(train_seeds), "sample": list(sample_seeds), "true_points": TRUE_SEED},
               "n_samples": N_SAMPLES, "recipes": {}}
    samples = {}
    print(f"{course.name} recipe:", flush=True)
    rows, models = seed_table(course, train_seeds, sample_seeds)
    summary = summarise(rows)
    results["recipes"]["course"] = {"recipe": asdict(course), "rows": rows, "summary": summary,
                                    "meets_targets": meets(summary, TARGETS)}
    samples["course"] = draw_samples(models[0], course.diffusion(), sample_seeds[0])[0]
    if not quick:
        for key, other in COMPARED_RECIPES.items():
            print(f"{other.name} recipe (same seeds, same run):", flush=True)
            other_rows, other_models = seed_table(other, PREVIOUS_SEEDS, sample_seeds)
            results["recipes"][key] = {"recipe": asdict(other), "rows": other_rows,
                                       "summary": summarise(other_rows)}
            samples[key] = draw_samples(other_models[0], other.diffusion(), sample_seeds[0])[0]
            del other_models
            o, c = results["recipes"][key]["summary"], summary
            results[f"ratios_{key.replace(' ', '_')}_to_course"] = {
                "median_train_seconds": o["median_train_seconds"] / c["median_train_seconds"],
                "median_train_cpu_seconds": o["median_train_cpu_seconds"] / c["median_train_cpu_seconds"],
                "median_mean_distance": o["median_mean_distance"] / c["median_mean_distance"],
                "worst_mean_distance": o["worst_mean_distance"] / c["worst_mean_distance"]}
    results["ddim_samplers"] = {}
    for name, (eta, spacing) in FEW_STEP_SAMPLERS.items():
        print(f"fewest steps, {name}:", flush=True)
        results["ddim_samplers"][name] = fewest_ddim_steps(models, course.diffusion(), sample_seeds,
                                                           ddim_candidates, eta=eta, spacing=spacing)
    results["ddim"] = results["ddim_samplers"]["DDIM η = 0, uniform grid"]
    print("machine limit:", flush=True)
    results["machine_limit"] = machine_limit(course, steps=limit_steps, repeats=2 if quick else 3)
    results["threads"] = thread_check(course, steps=40 if quick else 200)
    results["floor"] = true_sample_floor(repeats=5 if quick else 20, worst_repeats=10 if quick else 200)
    results["machine"]["load_average_end"] = load_average()
    return results, samples


def print_report(results: dict) -> None:
    print()
    for name, entry in results["recipes"].items():
        s = entry["summary"]
        print(f"{name:<9} over {s['runs']} runs: mean distance median {s['median_mean_distance']:.4f}, "
              f"worst {s['worst_mean_distance']:.4f}; KS median {s['median_coverage_ks']:.3f}, worst "
              f"{s['worst_coverage_ks']:.3f}; training median {s['median_train_seconds']:.1f} s "
              f"(processor {s['median_train_cpu_seconds']:.1f} s; {s['steps']} steps, "
              f"{s['median_steps_per_second']:.0f} steps/s, load {s['load_average']})")
    course = results["recipes"]["course"]
    print("targets: " + ", ".join(f"{k} <= {v}: {'ok' if course['meets_targets'][k] else 'MISSED'}"
                                  for k, v in TARGETS.items()))
    f = results["floor"]
    print(f"exact samples, worst KS of {f['worst_of_runs']} runs ({f['worst_repeats']} repetitions): median "
          f"{f['worst_ks_median']:.3f}, 95th percentile {f['worst_ks_95']:.3f}, within "
          f"{TARGETS['worst_coverage_ks']} in {100 * f['worst_ks_share_within_target']:.0f} %")
    for key in COMPARED_RECIPES:
        r = results.get(f"ratios_{key.replace(' ', '_')}_to_course")
        if r:
            print(f"{key} / course, same run: training time {r['median_train_seconds']:.2f}x "
                  f"(processor time {r['median_train_cpu_seconds']:.2f}x), "
                  f"median mean distance {r['median_mean_distance']:.2f}x, worst {r['worst_mean_distance']:.2f}x")
    for name, entry in results.get("ddim_samplers", {"DDIM η = 0, uniform grid": results["ddim"]}).items():
        fewest = entry["fewest"]
        print(f"fewest steps meeting {DDIM_TARGETS}, {name}: " +
              (f"{fewest['num_sampling_steps']} ({fewest['median_sample_seconds']:.3f} s per 1000 samples)"
               if fewest else "none of the candidates"))
    lim = results["machine_limit"]
    print(f"training loop: {lim['flops_per_step'] / 1e6:.1f} MFLOP per step, {lim['steps_per_second']:.0f} steps/s "
          f"= {lim['achieved_flops_per_second'] / 1e9:.1f} GFLOP/s; a 1024² matmul: "
          + ", ".join(f"{v / 1e9:.0f} GFLOP/s on {k} thread(s)"
                      for k, v in lim["large_matmul_flops_per_second"].items())
          + f"; share {lim['share_of_one_thread_matmul']:.0%} (load {lim['load_average']})")
    total = lim["step_seconds"]
    for part, seconds in lim["breakdown_seconds"].items():
        print(f"  {part:<72} {seconds * 1e3:6.3f} ms ({seconds / total:4.0%})")
    print(f"threads: train() steps/s {results['threads']['steps_per_second']}, beside a busy core "
          f"{results['threads']['beside_a_busy_core']} (load {results['threads']['load_average']})")
    print(f"load average: start {results['machine']['load_average_start']}, "
          f"end {results['machine']['load_average_end']}")


# ------------------------------------------------------------------ RESULTS.md
def _replace_block(text: str, name: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- BEGIN {name} -->\n).*?(<!-- END {name} -->)", re.DOTALL)
    if not pattern.search(text):
        return text + f"\n<!-- BEGIN {name} -->\n{body}\n<!-- END {name} -->\n"
    return pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)


def seed_markdown(results: dict) -> str:
    lines = ["| recipe | runs | mean distance, median | worst | coverage KS, median | worst | "
             "training (s), median | slowest | processor time (s), median | steps | steps/s, median | "
             "load average |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for name, entry in results["recipes"].items():
        s = entry["summary"]
        lines.append(f"| {name} | {s['runs']} | {s['median_mean_distance']:.4f} | {s['worst_mean_distance']:.4f} | "
                     f"{s['median_coverage_ks']:.3f} | {s['worst_coverage_ks']:.3f} | "
                     f"{s['median_train_seconds']:.1f} | {s['slowest_train_seconds']:.1f} | "
                     f"{s['median_train_cpu_seconds']:.1f} | {s['steps']} | "
                     f"{s['median_steps_per_second']:.0f} | {s['load_average'][0]}–{s['load_average'][1]} |")
    lines += ["", "Every run of the course recipe:", "",
              "| training seed | sampling seed | mean distance | coverage KS | training (s) | steps/s | load |",
              "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results["recipes"]["course"]["rows"]:
        lines.append(f"| {r['train_seed']} | {r['sample_seed']} | {r['mean_distance']:.4f} | "
                     f"{r['coverage_ks']:.3f} | {r['train_seconds']:.1f} | {r['steps_per_second']:.0f} | "
                     f"{r['load_average']} |")
    f = results["floor"]
    lines += ["", f"1000 true spiral points score KS {f['ks_true_sample']:.3f} (median of {f['draws']} draws "
                  f"{f['ks_true_median_of_draws']:.3f}; asymptotic median {f['ks_floor_median_asymptotic']:.3f}). "
                  f"The worst of {f['worst_of_runs']} such exact draws, repeated {f['worst_repeats']} times: "
                  f"median {f['worst_ks_median']:.3f}, 95th percentile {f['worst_ks_95']:.3f}; "
                  f"≤ {TARGETS['worst_coverage_ks']} in {100 * f['worst_ks_share_within_target']:.0f} % "
                  f"of the repetitions."]
    return "\n".join(lines)


def ddim_markdown(results: dict) -> str:
    samplers = results.get("ddim_samplers", {"DDIM η = 0, uniform grid": results["ddim"]})
    lines = ["| sampler | steps | worst mean distance | median mean distance | worst coverage KS | "
             "sampling 1000 points (s) | meets both |", "|---|---:|---:|---:|---:|---:|:---:|"]
    for name, d in samplers.items():
        for e in d["table"]:
            lines.append(f"| {name} | {e['num_sampling_steps']} | {e['worst_mean_distance']:.4f} | "
                         f"{e['median_mean_distance']:.4f} | {e['worst_coverage_ks']:.3f} | "
                         f"{e['median_sample_seconds']:.3f} | {'yes' if e['meets_targets'] else 'no'} |")
    lines.append("\nFewest steps from which every larger candidate meets both targets: " + "; ".join(
        f"{name}: {d['fewest']['num_sampling_steps'] if d['fewest'] else 'none'}" for name, d in samplers.items())
        + ".")
    algo2 = results["recipes"]["course"]["summary"]["median_sample_seconds"]
    lines.append(f"\nAlgorithm 2 (T = {COURSE_RECIPE.num_timesteps} steps) takes {algo2:.3f} s for 1000 points "
                 "in the same run.")
    return "\n".join(lines)


def limit_markdown(results: dict) -> str:
    lim = results["machine_limit"]
    large = lim["large_matmul_flops_per_second"]
    lines = [f"One thread, model {lim['model']['hidden']} wide, depth {lim['model']['depth']}, batch "
             f"{lim['batch_size']}; load average {lim['load_average'][0]} → {lim['load_average'][1]}.", "",
             "| quantity | value |", "|---|---:|",
             f"| FLOPs per training step (forward + backward, counted by `FlopCounterMode`) | "
             f"{lim['flops_per_step'] / 1e6:.2f} M |",
             f"| training loop | {lim['steps_per_second']:.0f} steps/s = "
             f"{lim['achieved_flops_per_second'] / 1e9:.2f} GFLOP/s |",
             f"| the same matrix products, bare (small-matrix ceiling) | "
             f"{lim['small_matmul_flops_per_second'] / 1e9:.2f} GFLOP/s |"]
    for k, v in large.items():
        lines.append(f"| 1024 × 1024 matrix product, {k} thread(s) | {v / 1e9:.1f} GFLOP/s |")
    lines += [f"| share of the one-thread large product the loop achieves | "
              f"{lim['share_of_one_thread_matmul']:.1%} |", "", "Where one step's time goes:", "",
              "| part | ms per step | share |", "|---|---:|---:|"]
    for part, seconds in lim["breakdown_seconds"].items():
        lines.append(f"| {part} | {seconds * 1e3:.3f} | {seconds / lim['step_seconds']:.0%} |")
    lines.append(f"| whole step | {lim['step_seconds'] * 1e3:.3f} | 100% |")
    lines.append(f"\nAdam's for-each version takes {lim['foreach_adam_seconds'] * 1e3:.3f} ms per step against "
                 f"{lim['breakdown_seconds']['optimiser step (fused Adam)'] * 1e3:.3f} ms fused. "
                 f"`train()` with 1 and 2 threads: " + ", ".join(
                     f"{k} → {v:.0f} steps/s" for k, v in results["threads"]["steps_per_second"].items())
                 + "; while another process keeps one core busy: " + ", ".join(
                     f"{k} → {v:.0f} steps/s"
                     for k, v in results["threads"].get("beside_a_busy_core", {}).items())
                 + f" (load {results['threads']['load_average']}).")
    return "\n".join(lines)


def write_results_md(results: dict, path: Path = RESULTS_MD) -> None:
    text = path.read_text() if path.exists() else "# Training recipes\n"
    for name, body in (("seed-table", seed_markdown(results)), ("ddim-table", ddim_markdown(results)),
                       ("limit-table", limit_markdown(results))):
        text = _replace_block(text, name, body)
    path.write_text(text)


def plot_samples(samples: dict[str, np.ndarray], results: dict, path: Path) -> None:
    """Samples of each recipe (training seed 0, first sampling seed) next to true points."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    truth = make_spiral(N_SAMPLES, np.random.default_rng(TRUE_SEED))
    panels = [("1000 true spiral points", truth)] + [(name, pts) for name, pts in samples.items()]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.6), sharex=True, sharey=True)
    for ax, (name, pts) in zip(axes, panels):
        ax.scatter(pts[:, 0], pts[:, 1], s=1.5, alpha=0.6)
        if name in results["recipes"]:
            s = results["recipes"][name]["summary"]
            name = (f"{name}: {s['steps']} steps, {s['median_train_seconds']:.0f} s\n"
                    f"mean dist median {s['median_mean_distance']:.4f}")
        ax.set_title(name, fontsize=8)
        ax.set_xlabel("x")
        ax.set_aspect("equal")
        ax.set_xlim(-1.25, 1.25)
        ax.set_ylim(-1.25, 1.25)
    axes[0].set_ylabel("y")
    fig.suptitle("Samples (Algorithm 2, training seed 0, sampling seed 1234)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)


# ----------------------------------------------------------------- ablations
class PredictionTarget(nn.Module):
    """A network that predicts x_0 or v = √ᾱ_t ε - √(1-ᾱ_t) x_0 (Salimans & Ho 2022),
    turned into the ε the sampler expects:
    ε = (x_t - √ᾱ_t x̂_0) / √(1-ᾱ_t) (eq. (3.5) solved for ε), or ε = √ᾱ_t v + √(1-ᾱ_t) x_t."""

    def __init__(self, net: nn.Module, diffusion: GaussianDiffusion, target: str) -> None:
        super().__init__()
        if target not in ("x0", "v"):
            raise ValueError(f"target must be 'x0' or 'v', got {target!r}")
        self.net, self.target = net, target
        self.register_buffer("sqrt_abar", diffusion.sqrt_alphas_cumprod.clone())
        self.register_buffer("sqrt_one_minus_abar", diffusion.sqrt_one_minus_alphas_cumprod.clone())

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a, s = self.sqrt_abar[t - 1, None], self.sqrt_one_minus_abar[t - 1, None]
        out = self.net(x, t)
        return (x - a * out) / s if self.target == "x0" else a * out + s * x


def target_loss_weights(diffusion: GaussianDiffusion, target: str) -> np.ndarray:
    """Weights that turn the ε loss of a wrapped network into its own target's loss:
    ‖x_0 - x̂_0‖² = ‖ε - ε̂‖² (1-ᾱ_t)/ᾱ_t and ‖v - v̂‖² = ‖ε - ε̂‖² / ᾱ_t."""
    abar = diffusion.alphas_cumprod.double().numpy()
    return (1 - abar) / abar if target == "x0" else 1 / abar


def train_variant(recipe: Recipe, seed: int, target: str = "eps", optimizer: str = "fused",
                  compile_model: bool = False) -> tuple[nn.Module, GaussianDiffusion, History]:
    """``train_recipe`` with a prediction target, an optimiser variant or a compiled model."""
    if target == "eps" and optimizer == "fused" and not compile_model:
        return train_recipe(recipe, seed=seed, progress=False)
    x_train, x_val = recipe.data(seed)
    diffusion = recipe.diffusion()
    model = recipe.model(seed)
    weights = min_snr_weights(diffusion, recipe.min_snr_gamma) if recipe.min_snr_gamma else None
    if target != "eps":
        model = PredictionTarget(model, diffusion, target)
        weights = target_loss_weights(diffusion, target) * (1 if weights is None else weights)
    net = torch.compile(model) if compile_model else model
    opt = torch.optim.Adam(model.parameters(), lr=recipe.lr, foreach=optimizer == "foreach",
                           fused=optimizer == "fused" or None)
    previous = torch.get_num_threads()
    torch.set_num_threads(recipe.num_threads or previous)
    try:
        history = train(net, diffusion, x_train, x_val, epochs=recipe.epochs, batch_size=recipe.batch_size,
                        optimizer=opt, lr_schedule=recipe.lr_schedule, warmup_steps=recipe.warmup_steps,
                        ema_decay=recipe.ema_decay, t_probabilities=recipe.t_probabilities(),
                        loss_weights=weights, seed=seed, progress=False)
    finally:
        torch.set_num_threads(previous)
    model.eval()
    return model, diffusion, history


def ablation_variants(base: Recipe = COURSE_RECIPE) -> list[tuple[str, str, Recipe, dict]]:
    """``(lever, change, recipe, options)``: the course recipe with one thing changed at a time."""
    steps = base.epochs * -(-base.n_train // base.batch_size)
    v = [("baseline", "course recipe", base, {}),
         ("schedule", "linear schedule (Ho et al.), rescaled to T",
          replace(base, schedule="linear", beta_start=1e-4, beta_end=0.02), {}),
         ("input", "raw (x, y), no Fourier features", replace(base, fourier_bands=0), {}),
         ("law of t", "t uniform (Algorithm 1)", replace(base, t_power=0.0), {}),
         ("law of t", "p(t) ∝ t^-1", replace(base, t_power=1.0), {}),
         ("law of t", "p(t) ∝ t^-2", replace(base, t_power=2.0), {}),
         ("loss weight", "min-SNR-5, t uniform", replace(base, t_power=0.0, min_snr_gamma=5.0), {}),
         ("loss weight", "min-SNR-5 with p(t) ∝ t^-1.5", replace(base, min_snr_gamma=5.0), {}),
         ("target", "predict x_0 (x_0 loss)", base, {"target": "x0"}),
         ("target", "predict v (v loss)", base, {"target": "v"}),
         ("learning rate", f"Adam {base.lr * 0.3:.0e}", replace(base, lr=base.lr * 0.3), {}),
         ("learning rate", f"Adam {base.lr * 2:.0e}", replace(base, lr=base.lr * 2), {}),
         ("lr schedule", "constant (no decay)", replace(base, lr_schedule=None), {}),
         ("lr schedule", "warm-up 200 steps, then cosine", replace(base, warmup_steps=200), {}),
         ("steps", f"{steps * 3 // 4} steps", replace(base, epochs=base.epochs * 3 // 4), {}),
         ("batch", f"batch {base.batch_size // 2}, same steps", replace(
             base, batch_size=base.batch_size // 2, epochs=base.epochs // 2), {}),
         ("batch", f"batch {base.batch_size * 2}, same steps",
          replace(base, batch_size=base.batch_size * 2, epochs=base.epochs * 2), {}),
         ("weight average", "no EMA (the trained weights)", replace(base, ema_decay=None), {}),
         ("batch", "previous: batch 250, 5000 steps, Adam 6e-3, no EMA", BATCH_250_RECIPE, {}),
         ("width", "width 32", replace(base, hidden=32), {}),
         ("width", "width 128", replace(base, hidden=128), {}),
         ("depth", "depth 2", replace(base, depth=2), {}),
         ("overhead", "Adam for-each (not fused)", base, {"optimizer": "foreach"}),
]
    return [(lever, change, replace(r, name=change), options) for lever, change, r, options in v]


def run_ablations(quick: bool = False, output: Path = HERE / "ablations.json",
                  seeds: tuple[int, ...] = (0, 1, 2), sample_seed: int = SAMPLE_SEEDS[0]) -> list[dict]:
    """Train every variant with each training seed, sample once each; median and worst per variant."""
    variants = ablation_variants()
    if quick:
        variants = [(lever, change, replace(r, epochs=2), o) for lever, change, r, o in variants[:3]]
        seeds = seeds[:1]
        output = Path(tempfile.gettempdir()) / "ddpm_lessons_ablations_quick.json"
    rows = []
    for lever, change, recipe, options in variants:
        runs = []
        for seed in seeds:
            load = load_average()
            model, diffusion, history = train_variant(recipe, seed, **options)
            points, _ = draw_samples(model, diffusion, sample_seed)
            runs.append({"train_seed": seed, **sample_quality(points), "train_seconds": history.seconds,
                         "train_cpu_seconds": history.cpu_seconds,
                         "steps_per_second": history.steps_per_second, "load_average": load})
        md, ks = [r["mean_distance"] for r in runs], [r["coverage_ks"] for r in runs]
        rows.append({"lever": lever, "change": change, "recipe": asdict(recipe), "options": options,
                     "steps": history.steps, "median_mean_distance": statistics.median(md),
                     "worst_mean_distance": max(md), "median_coverage_ks": statistics.median(ks),
                     "worst_coverage_ks": max(ks),
                     "median_train_seconds": statistics.median(r["train_seconds"] for r in runs),
                     "median_train_cpu_seconds": statistics.median(r["train_cpu_seconds"] for r in runs),
                     "median_steps_per_second": statistics.median(r["steps_per_second"] for r in runs),
                     "load_average": [min(r["load_average"] for r in runs), max(r["load_average"] for r in runs)],
                     "runs": runs})
        r = rows[-1]
        print(f"{lever:<13}{change[:44]:<45}{r['median_mean_distance']:8.4f}{r['worst_mean_distance']:8.4f}"
              f"{r['worst_coverage_ks']:7.3f}{r['median_train_seconds']:7.1f} s{r['median_steps_per_second']:6.0f}/s"
              f"  load {r['load_average']}", flush=True)
    output.write_text(json.dumps({"quick": quick, "seeds": list(seeds), "sample_seed": sample_seed,
                                  "rows": rows}, indent=2) + "\n")
    print(f"wrote {output}")
    if not quick:
        text = RESULTS_MD.read_text() if RESULTS_MD.exists() else ""
        RESULTS_MD.write_text(_replace_block(text, "ablation-table", ablation_markdown(rows)))
        plot_pareto(rows, FIGURES / "pareto.png")
    return rows


def ablation_markdown(rows: list[dict]) -> str:
    base = rows[0]
    lines = ["| lever | change | steps | mean distance, median | worst | coverage KS, worst | "
             "training (s), median | processor time / baseline's | steps/s | load |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['lever']} | {r['change']} | {r['steps']} | {r['median_mean_distance']:.4f} | "
                     f"{r['worst_mean_distance']:.4f} | {r['worst_coverage_ks']:.3f} | "
                     f"{r['median_train_seconds']:.1f} | "
                     f"{r['median_train_cpu_seconds'] / base['median_train_cpu_seconds']:.2f} | "
                     f"{r['median_steps_per_second']:.0f} | {r['load_average'][0]}–{r['load_average'][1]} |")
    return "\n".join(lines)


def plot_pareto(rows: list[dict], path: Path) -> None:
    """Median mean distance against median training time for every variant (a small PNG)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for r in rows:
        colour = "C2" if r["worst_coverage_ks"] <= TARGETS["worst_coverage_ks"] else "C3"
        ax.scatter(r["median_train_seconds"], r["median_mean_distance"], color=colour, s=30,
                   edgecolor="k", linewidth=0.4)
        ax.annotate(r["change"][:30], (r["median_train_seconds"], r["median_mean_distance"]), fontsize=6,
                    xytext=(3, 3), textcoords="offset points")
    ax.axhline(TARGETS["median_mean_distance"], color="C7", linestyle="--", linewidth=1,
               label=f"target median {TARGETS['median_mean_distance']}")
    ax.set_yscale("log")
    ax.set_xlabel("median training time (s, shared machine)")
    ax.set_ylabel("median mean distance to the spiral")
    ax.set_title("One lever at a time (green: worst KS within target)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one seed, half the steps: check the pipeline")
    parser.add_argument("--output", type=Path, default=None,
                        help="JSON output (default benchmarks/results.json; with --quick a file in the temp dir)")
    parser.add_argument("--ablations", action="store_true",
                        help="run the one-lever-at-a-time study instead (benchmarks/ablations.json)")
    parser.add_argument("--seeds", type=int, default=3, help="training seeds per ablation variant (default 3)")
    args = parser.parse_args(argv)
    if args.ablations:
        run_ablations(quick=args.quick, seeds=tuple(range(args.seeds)))
        return 0
    output = args.output or (Path(tempfile.gettempdir()) / "ddpm_lessons_benchmark_quick.json"
                             if args.quick else HERE / "results.json")
    results, samples = run_benchmark(quick=args.quick)
    print_report(results)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {output}")
    if not args.quick:
        write_results_md(results)
        plot_samples(samples, results, FIGURES / "recipes_samples.png")
        print(f"wrote {RESULTS_MD} and {FIGURES / 'recipes_samples.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
