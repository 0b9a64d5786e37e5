"""Benchmark of the training recipes of chapter 6: the source post's against the course's.

Run from the repository root::

    python -m benchmarks.recipes              # the full benchmark (a few minutes on 2 cores)
    python -m benchmarks.recipes --quick      # the same pipeline with tiny trainings (< 1 minute)
    python -m benchmarks.recipes --ablations  # one lever at a time around the course recipe (~15 min)

The full run trains ``SOURCE_RECIPE`` and ``COURSE_RECIPE`` with fixed seeds,
draws 1000 samples from each (Algorithm 2, ``p_sample_loop``, fixed seed) and
measures how close the samples lie to the spiral (mean distance to the closest
point, eq. (7.1)) and how evenly they cover it (Kolmogorov–Smirnov distance of
their closest-point parameters t* to U(1.5π, 4.5π), eq. (7.4)–(7.5)), next to
the KS distance that 1000 true spiral points give.  It also measures the speed
of the training loop: a naive loop (a ``DataLoader``, ``loss.item()`` after
every step, torch's default number of threads) against
:func:`ddpm_lessons.training.train` on the same model and batch size.

Results are printed and written as JSON (``benchmarks/results.json`` for the
full run); ``--ablations`` writes ``benchmarks/ablations.json`` and the
figures in ``benchmarks/figures/``.  See ``benchmarks/RESULTS.md``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from ddpm_lessons.model import parameter_count
from ddpm_lessons.optimal import closest_points, coverage_ks, ks_floor
from ddpm_lessons.recipes import COURSE_RECIPE, SOURCE_RECIPE, Recipe, train_recipe
from ddpm_lessons.spiral import T_MAX, T_MIN, make_spiral
from ddpm_lessons.training import train

DEFAULT_THREADS: int = torch.get_num_threads()
"""torch's own choice of intra-op threads, read before this module changes it."""

HERE = Path(__file__).resolve().parent
FIGURES = HERE / "figures"

TARGETS = {"mean_distance": 0.015, "coverage_ks": 0.05, "train_seconds": 60.0}
"""What the course recipe must reach on a 2-core laptop CPU."""

TRAIN_SEED = 0       # data, initial weights, time steps, noise and shuffling
SAMPLE_SEED = 1234   # x_T and the noise of the reverse process
TRUE_SEED = 2024     # the true spiral points that give the KS floor
N_SAMPLES = 1000


# ------------------------------------------------------------------ measuring
def sample_quality(points: np.ndarray) -> dict[str, float]:
    """Mean (and median) distance to the spiral, the share of far points, and coverage KS."""
    _, _, distance = closest_points(points)
    return {
        "mean_distance": float(distance.mean()),
        "median_distance": float(np.median(distance)),
        "far_fraction": float((distance > 0.05).mean()),   # points more than 0.05 off the curve
        "coverage_ks": coverage_ks(points),
    }


def draw_samples(model: torch.nn.Module, recipe: Recipe, n: int = N_SAMPLES, seed: int = SAMPLE_SEED,
                 sampler: str = "ddpm", ddim_steps: int | None = None) -> tuple[np.ndarray, float]:
    """``n`` samples of a trained model with a fixed seed, and the seconds it took.

    ``sampler="ddpm"`` is Algorithm 2 (``p_sample_loop``) with the recipe's
    variance and clipping; ``"ddim"`` is deterministic DDIM on ``ddim_steps`` steps.
    """
    diffusion = recipe.diffusion()
    generator = torch.Generator().manual_seed(seed)
    previous = torch.get_num_threads()
    if recipe.num_threads is not None:     # sample with the threads the recipe trains with
        torch.set_num_threads(recipe.num_threads)
    start = time.perf_counter()
    if sampler == "ddpm":
        x = diffusion.p_sample_loop(model, (n, 2), generator=generator,
                                    clip_denoised=recipe.clip_denoised)
    elif sampler == "ddim":
        x = diffusion.ddim_sample_loop(model, (n, 2), ddim_steps or recipe.num_steps, eta=0.0,
                                       generator=generator, clip_denoised=recipe.clip_denoised)
    else:
        torch.set_num_threads(previous)
        raise ValueError(f"sampler must be 'ddpm' or 'ddim', got {sampler!r}")
    seconds = time.perf_counter() - start
    torch.set_num_threads(previous)
    return x.numpy(), seconds


def true_sample_floor(n: int = N_SAMPLES, seed: int = TRUE_SEED, repeats: int = 20) -> dict[str, float]:
    """What perfect samples score: the KS distance of ``n`` true spiral points.

    Returns the asymptotic median (:func:`ks_floor`), the value of one seeded
    draw of ``n`` points and the median over ``repeats`` seeded draws.
    """
    rng = np.random.default_rng(seed)
    draws = [coverage_ks(make_spiral(n, rng)) for _ in range(repeats)]
    return {"n": n, "ks_floor_median_asymptotic": ks_floor(n),
            "ks_floor_95_asymptotic": ks_floor(n, 0.95),
            "ks_true_sample": draws[0], "ks_true_median_of_draws": float(np.median(draws)),
            "draws": repeats, "mean_distance_true_sample": 0.0}


def bench_recipe(recipe: Recipe, seed: int = TRAIN_SEED, sample_seed: int = SAMPLE_SEED,
                 keep_samples: bool = False) -> dict:
    """Train ``recipe`` with ``train_recipe`` and measure its samples and timings."""
    model, _, history = train_recipe(recipe, seed=seed, progress=False)
    points, sample_seconds = draw_samples(model, recipe, seed=sample_seed)
    result = {
        "recipe": recipe.as_dict(),
        **sample_quality(points),
        "train_seconds": history.seconds,
        "steps": history.steps,
        "steps_per_second": history.steps_per_second,
        "parameters": parameter_count(model),
        "sample_seconds": sample_seconds,
        "final_train_loss": history.train_loss[-1],
        "final_val_loss": history.val_loss[-1] if history.val_loss else None,
        "threads": recipe.num_threads or torch.get_num_threads(),
    }
    result["meets_targets"] = {
        "mean_distance": result["mean_distance"] <= TARGETS["mean_distance"],
        "coverage_ks": result["coverage_ks"] <= TARGETS["coverage_ks"],
        "train_seconds": result["train_seconds"] <= TARGETS["train_seconds"],
    }
    if keep_samples:
        result["_samples"] = points
        result["_model"] = model
    return result


# ---------------------------------------------------------------- loop speed
def naive_train(model: torch.nn.Module, recipe: Recipe, x_train: np.ndarray, steps: int,
                seed: int = TRAIN_SEED) -> float:
    """The training loop as one might first write it; returns steps per second.

    A ``DataLoader`` over a ``TensorDataset``, the public ``p_losses`` (which
    validates its inputs on every call) and ``loss.item()`` after every step,
    which makes the host wait for each step to finish.
    """
    diffusion = recipe.diffusion()
    torch.manual_seed(seed)
    loader = DataLoader(TensorDataset(torch.as_tensor(x_train)), batch_size=recipe.batch_size,
                        shuffle=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    losses: list[float] = []
    start = time.perf_counter()
    while len(losses) < steps:
        for (x_start,) in loader:
            loss = diffusion.p_losses(model, x_start)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            if len(losses) == steps:
                break
    return steps / (time.perf_counter() - start)


def package_train(model: torch.nn.Module, recipe: Recipe, x_train: np.ndarray, steps: int,
                  seed: int = TRAIN_SEED) -> float:
    """:func:`ddpm_lessons.training.train` for ``steps`` steps; returns steps per second."""
    x = x_train[: steps * recipe.batch_size]
    history = train(model, recipe.diffusion(), x, epochs=1, batch_size=recipe.batch_size,
                    lr=recipe.lr, lr_schedule=recipe.lr_schedule, ema_decay=recipe.ema_decay,
                    seed=seed, progress=False)
    return history.steps_per_second


def _loop_data(recipe: Recipe, steps: int) -> np.ndarray:
    return make_spiral(steps * recipe.batch_size, np.random.default_rng(TRAIN_SEED))


def choose_threads(recipe: Recipe, steps: int, repeats: int = 2) -> tuple[int, dict[int, float]]:
    """Time ``train`` with 1 and 2 threads (best of ``repeats``); return the faster setting and the speeds.

    The recipes train with their own ``num_threads`` (1 for both); this measurement
    is the evidence for that choice.  torch's thread setting is restored afterwards.
    """
    previous = torch.get_num_threads()
    x = _loop_data(recipe, steps)
    options = sorted({1, min(2, os.cpu_count() or 1)})
    speed = {n: 0.0 for n in options}
    for _ in range(repeats):            # alternate, so that a burst of load hits both settings
        for n in options:
            torch.set_num_threads(n)
            speed[n] = max(speed[n], package_train(recipe.model(TRAIN_SEED), recipe, x, steps))
    best = max(options, key=lambda n: speed[n])
    torch.set_num_threads(previous)
    return best, speed


def loop_speed(recipe: Recipe, steps: int, threads: int, repeats: int = 2) -> dict:
    """Steps per second of the naive loop (default threads) and of ``train`` (default and chosen threads)."""
    previous = torch.get_num_threads()
    x = _loop_data(recipe, steps)
    naive = packaged_default = naive_chosen = packaged = 0.0
    for _ in range(repeats):            # alternate, so that a burst of load hits every variant
        torch.set_num_threads(DEFAULT_THREADS)
        naive = max(naive, naive_train(recipe.model(TRAIN_SEED), recipe, x, steps))
        packaged_default = max(packaged_default, package_train(recipe.model(TRAIN_SEED), recipe, x, steps))
        torch.set_num_threads(threads)
        naive_chosen = max(naive_chosen, naive_train(recipe.model(TRAIN_SEED), recipe, x, steps))
        packaged = max(packaged, package_train(recipe.model(TRAIN_SEED), recipe, x, steps))
    torch.set_num_threads(previous)
    return {
        "model": recipe.model(TRAIN_SEED).config, "batch_size": recipe.batch_size, "steps": steps,
        "repeats": repeats, "default_threads": DEFAULT_THREADS, "chosen_threads": threads,
        "naive_steps_per_second": naive,
        "train_steps_per_second_default_threads": packaged_default,
        "naive_steps_per_second_chosen_threads": naive_chosen,
        "train_steps_per_second": packaged,
        "ratio": packaged / naive,
        "ratio_same_threads": packaged_default / naive,
        "ratio_loop_only_chosen_threads": packaged / naive_chosen,
    }


# -------------------------------------------------------------------- report
def _row(name: str, r: dict) -> str:
    return (f"{name:<8}{r['mean_distance']:>10.4f}{r['median_distance']:>9.4f}{r['coverage_ks']:>8.3f}"
            f"{r['train_seconds']:>9.1f}{r['steps']:>8d}{r['steps_per_second']:>8.0f}"
            f"{r['parameters']:>9,d}{r['sample_seconds']:>10.2f}")


def print_report(results: dict) -> None:
    print()
    print(f"machine: {results['machine']['cpu_count']} CPUs, torch {results['machine']['torch']}, "
          f"threads: default {DEFAULT_THREADS}, recipes train with {results['threads']['chosen']}, "
          f"fastest measured {results['threads']['fastest_measured']} "
          f"(train() steps/s: " + ", ".join(f"{k} thread(s) {v:.0f}"
                                           for k, v in results['threads']['steps_per_second'].items()) + ")")
    print(f"load average before/after: {results['machine']['load_before']} / {results['machine']['load_after']}")
    print()
    print(f"{'recipe':<8}{'mean dist':>10}{'median':>9}{'KS':>8}{'train s':>9}{'steps':>8}"
          f"{'steps/s':>8}{'params':>9}{'sample s':>10}")
    for name, r in results["recipes"].items():
        print(_row(name, r))
    floor = results["floor"]
    print(f"{'true':<8}{0.0:>10.4f}{0.0:>9.4f}{floor['ks_true_sample']:>8.3f}   "
          f"(KS of {floor['n']} true points; median of {floor['draws']} draws "
          f"{floor['ks_true_median_of_draws']:.3f}; asymptotic median {floor['ks_floor_median_asymptotic']:.3f})")
    print(f"targets: mean distance <= {TARGETS['mean_distance']}, KS <= {TARGETS['coverage_ks']}, "
          f"training <= {TARGETS['train_seconds']:.0f} s")
    for name, r in results["recipes"].items():
        met = r["meets_targets"]
        print(f"  {name}: " + ", ".join(f"{k} {'ok' if v else 'MISSED'}" for k, v in met.items()))
    speed = results["loop_speed"]
    print()
    print(f"loop speed ({speed['model']['hidden']} wide, depth {speed['model']['depth']}, "
          f"batch {speed['batch_size']}, {speed['steps']} steps, best of {speed['repeats']}):")
    print(f"  naive loop, {speed['default_threads']} thread(s)     {speed['naive_steps_per_second']:7.0f} steps/s")
    print(f"  train(), {speed['default_threads']} thread(s)        "
          f"{speed['train_steps_per_second_default_threads']:7.0f} steps/s"
          f"   ratio {speed['ratio_same_threads']:.2f}x to the naive loop with {speed['default_threads']} thread(s)")
    print(f"  naive loop, {speed['chosen_threads']} thread(s)     "
          f"{speed['naive_steps_per_second_chosen_threads']:7.0f} steps/s")
    print(f"  train(), {speed['chosen_threads']} thread(s)        {speed['train_steps_per_second']:7.0f} steps/s"
          f"   ratio {speed['ratio']:.2f}x to the naive loop with {speed['default_threads']} thread(s), "
          f"{speed['ratio_loop_only_chosen_threads']:.2f}x to the naive loop with "
          f"{speed['chosen_threads']} thread(s)")


def plot_samples(results: dict, floor_points: np.ndarray, path: Path) -> None:
    """Samples of both recipes next to true points (a small PNG)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("1000 true spiral points", floor_points, None)]
    for name, r in results["recipes"].items():
        panels.append((f"{name}: {r['steps']} steps, {r['train_seconds']:.0f} s", r["_samples"], r))
    fig, axes = plt.subplots(1, len(panels) + 1, figsize=(3.3 * (len(panels) + 1), 3.6))
    cdf = axes[-1]   # the KS distance is the largest gap between the two CDFs
    for (title, pts, r), color in zip(panels, ("C0", "C1", "C2")):
        t_star = np.sort(closest_points(pts)[0])
        gap = np.arange(1, t_star.size + 1) / t_star.size - (t_star - T_MIN) / (T_MAX - T_MIN)
        cdf.plot(t_star, gap, color=color, linewidth=1,
                 label="true points" if r is None else title.split(":")[0])
    for level in (-TARGETS["coverage_ks"], TARGETS["coverage_ks"]):
        cdf.axhline(level, color="C3", linestyle="--", linewidth=0.8)
    cdf.axhline(0.0, color="k", linewidth=0.5)
    cdf.set_title("coverage: CDF of t* minus U(1.5π, 4.5π)\n(dashed: ± KS target)", fontsize=9)
    cdf.set_xlabel("closest-point parameter t*")
    cdf.set_ylabel("empirical CDF − uniform CDF")
    cdf.legend(fontsize=7)
    axes = axes[:-1]
    for ax, (title, pts, r), color in zip(axes, panels, ("C0", "C1", "C2")):
        ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.6, color=color)
        if r is not None:
            title += f"\nmean dist {r['mean_distance']:.3f}, KS {r['coverage_ks']:.3f}"
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("x")
        ax.set_aspect("equal")
        ax.set_xlim(-1.25, 1.25)
        ax.set_ylim(-1.25, 1.25)
        ax.set_ylabel("y")
    fig.suptitle("Samples of the source and the course recipe (Algorithm 2, seed 1234)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)


def _load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def _public(result: dict) -> dict:
    return {k: v for k, v in result.items() if not k.startswith("_")}


def run_benchmark(quick: bool = False, threads: int | None = None) -> tuple[dict, dict]:
    """Run everything; returns ``(results, extras)`` where ``extras`` keeps samples for plotting."""
    recipes = {"source": SOURCE_RECIPE, "course": COURSE_RECIPE}
    loop_steps, thread_steps = 400, 300
    if quick:
        # Same pipeline, trainings cut to a few hundred steps.
        recipes = {"source": SOURCE_RECIPE.with_(n_train=2_000, n_val=500, epochs=2),
                   "course": COURSE_RECIPE.with_(epochs=max(1, COURSE_RECIPE.epochs // 40))}
        loop_steps, thread_steps = 20, 20
    load_before = _load_average()
    fastest, speeds = choose_threads(recipes["course"], thread_steps)
    if threads is not None:
        recipes = {name: r.with_(num_threads=threads) for name, r in recipes.items()}
    chosen = recipes["course"].num_threads or DEFAULT_THREADS
    speed = loop_speed(recipes["course"], loop_steps, chosen)
    trained = {name: bench_recipe(recipe, keep_samples=True) for name, recipe in recipes.items()}
    floor = true_sample_floor(repeats=5 if quick else 20)
    results = {
        "quick": quick,
        "machine": {"cpu_count": os.cpu_count(), "torch": torch.__version__,
                    "python": platform.python_version(), "load_before": load_before,
                    "load_after": _load_average()},
        "targets": TARGETS,
        "seeds": {"train": TRAIN_SEED, "sample": SAMPLE_SEED, "true_points": TRUE_SEED},
        "n_samples": N_SAMPLES,
        "threads": {"default": DEFAULT_THREADS, "chosen": chosen, "fastest_measured": fastest,
                    "steps_per_second": {str(k): v for k, v in speeds.items()}},
        "floor": floor,
        "recipes": {name: _public(r) for name, r in trained.items()},
        "loop_speed": speed,
    }
    return results, trained


# ----------------------------------------------------------------- ablations
PROVISIONAL_RECIPE = Recipe(
    name="first attempt", num_steps=100, beta_start=1e-4, beta_end=0.02, hidden=128, depth=3,
    epochs=100, batch_size=256, lr=1e-3, lr_schedule="cosine")
"""Where the study started: Ho et al.'s linear schedule rescaled to T = 100, raw (x, y)
input, Adam 1e-3 with cosine decay, 4000 steps of 256."""


def ablation_variants(base: Recipe = COURSE_RECIPE) -> list[tuple[str, str, Recipe]]:
    """``(lever, change, recipe)``: the course recipe with one thing changed at a time."""
    steps = base.epochs * -(-base.n_train // base.batch_size)
    half, more = max(1, base.epochs // 2), base.epochs * 3 // 2
    variants = [
        ("baseline", "course recipe", base),
        ("start", "first attempt (linear, raw x, lr 1e-3, 4000 steps)", PROVISIONAL_RECIPE),
        ("schedule", "linear 1e-4…0.02 ×1000/T", base.with_(schedule="linear", beta_start=1e-4,
                                                             beta_end=0.02)),
        ("T", "T = 50", base.with_(num_steps=50)),
        ("T", "T = 200", base.with_(num_steps=200)),
        ("input features", "raw (x, y), no Fourier bands", base.with_(fourier_bands=0)),
        ("input features", "4 Fourier bands", base.with_(fourier_bands=4)),
        ("input features", "8 Fourier bands", base.with_(fourier_bands=8)),
        ("learning rate", "Adam 1e-3", base.with_(lr=1e-3)),
        ("learning rate", "Adam 1e-2", base.with_(lr=1e-2)),
        ("learning rate", "constant (no cosine decay)", base.with_(lr_schedule=None)),
        ("EMA", "EMA of weights, decay 0.999", base.with_(ema_decay=0.999)),
        ("steps", f"half the steps ({steps // 2})", base.with_(epochs=half)),
        ("steps", f"1.5× the steps ({steps * 3 // 2})", base.with_(epochs=more)),
        ("width", "width 32", base.with_(hidden=32)),
        ("width", "width 128", base.with_(hidden=128)),
        ("width", "width 256", base.with_(hidden=256)),
        ("depth", "depth 2", base.with_(depth=2)),
        ("depth", "depth 4", base.with_(depth=4)),
        ("batch", f"batch {base.batch_size * 2}, same epochs (half the steps)",
         base.with_(batch_size=base.batch_size * 2)),
        ("batch", f"batch {base.batch_size // 2}, same epochs (twice the steps)",
         base.with_(batch_size=base.batch_size // 2)),
    ]
    return [(lever, change, recipe.with_(name=change)) for lever, change, recipe in variants]


SAMPLER_VARIANTS: list[tuple[str, dict]] = [
    ("Algorithm 2, σ² = β̃_t (posterior)", {"sampler": "ddpm"}),
    ("Algorithm 2, σ² = β_t", {"sampler": "ddpm", "variance_type": "beta"}),
    ("Algorithm 2, no clipping of x̂_0", {"sampler": "ddpm", "clip_denoised": False}),
    ("DDIM (η = 0), 50 steps", {"sampler": "ddim", "ddim_steps": 50}),
    ("DDIM (η = 0), 20 steps", {"sampler": "ddim", "ddim_steps": 20}),
]
"""Ways of sampling from the same trained course model."""


def run_ablations(quick: bool = False, output: Path = HERE / "ablations.json",
                  seeds: tuple[int, ...] = (1, 2)) -> list[dict]:
    """Train every variant of :func:`ablation_variants` (and the course recipe with other
    seeds), try the samplers on the course model, print a Markdown table, write JSON and figures."""
    variants = ablation_variants()
    if quick:
        variants = [(lever, change, r.with_(epochs=1)) for lever, change, r in variants[:3]]
        seeds = seeds[:1]
        output = Path(tempfile.gettempdir()) / "ddpm_lessons_ablations_quick.json"
    rows, samples = [], {}
    for lever, change, recipe in variants:
        result = bench_recipe(recipe, keep_samples=True)
        samples[change] = result.pop("_samples")
        model = result.pop("_model")
        rows.append({"lever": lever, "change": change, "sampler": "Algorithm 2", **result})
        print(_ablation_line(rows[-1]), flush=True)
        if lever == "baseline":
            for label, options in SAMPLER_VARIANTS[1:]:
                recipe_s = recipe.with_(**{k: v for k, v in options.items()
                                           if k in ("variance_type", "clip_denoised")})
                points, seconds = draw_samples(model, recipe_s, sampler=options["sampler"],
                                               ddim_steps=options.get("ddim_steps"))
                rows.append({"lever": "sampler", "change": label, "sampler": label,
                             "recipe": recipe_s.as_dict(), **sample_quality(points),
                             "train_seconds": result["train_seconds"], "steps": result["steps"],
                             "sample_seconds": seconds, "parameters": result["parameters"]})
                print(_ablation_line(rows[-1]), flush=True)
    base = variants[0][2]
    for seed in seeds:
        result = bench_recipe(base, seed=seed)
        rows.append({"lever": "seed", "change": f"training seed {seed}", "sampler": "Algorithm 2", **result})
        print(_ablation_line(rows[-1]), flush=True)
    output.write_text(json.dumps({"quick": quick, "targets": TARGETS, "threads": COURSE_RECIPE.num_threads,
                                  "load_after": _load_average(), "rows": rows}, indent=2) + "\n")
    print(f"wrote {output}")
    print()
    print(markdown_table(rows))
    if not quick:
        plot_ablation_samples(samples, rows, FIGURES / "ablation_samples.png")
        plot_pareto(rows, FIGURES / "pareto.png")
    return rows


def _ablation_line(row: dict) -> str:
    return (f"{row['lever']:<15}{row['change'][:52]:<53}{row['mean_distance']:>8.4f}"
            f"{row['coverage_ks']:>7.3f}{row['train_seconds']:>7.1f}{row['steps']:>7d}")


def markdown_table(rows: list[dict]) -> str:
    """The ablation rows as a Markdown table (pasted into RESULTS.md)."""
    lines = ["| lever | change | mean distance | median distance | coverage KS | training (s) | steps |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        md = f"{r['mean_distance']:.4f}"
        ks = f"{r['coverage_ks']:.3f}"
        if r["mean_distance"] <= TARGETS["mean_distance"]:
            md = f"**{md}**"
        if r["coverage_ks"] <= TARGETS["coverage_ks"]:
            ks = f"**{ks}**"
        lines.append(f"| {r['lever']} | {r['change']} | {md} | {r['median_distance']:.4f} | {ks} | "
                     f"{r['train_seconds']:.0f} | {r['steps']} |")
    return "\n".join(lines)


def plot_ablation_samples(samples: dict[str, np.ndarray], rows: list[dict], path: Path,
                          which: tuple[str, ...] = ()) -> None:
    """Samples of a few variants side by side (a small PNG)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_change = {r["change"]: r for r in rows}
    names = list(which) or [name for name in samples
                            if by_change[name]["lever"] in ("baseline", "start", "schedule")
                            or name.startswith("raw") or name == "Adam 1e-3"]
    fig, axes = plt.subplots(1, len(names), figsize=(2.8 * len(names), 3.3), sharex=True, sharey=True)
    for ax, name in zip(np.atleast_1d(axes), names):
        pts, r = samples[name], by_change[name]
        ax.scatter(pts[:, 0], pts[:, 1], s=1.5, alpha=0.6, color="C1")
        ax.set_title(f"{name}\nmean dist {r['mean_distance']:.3f}, KS {r['coverage_ks']:.3f}", fontsize=8)
        ax.set_xlabel("x")
        ax.set_aspect("equal")
        ax.set_xlim(-1.25, 1.25)
        ax.set_ylim(-1.25, 1.25)
    np.atleast_1d(axes)[0].set_ylabel("y")
    fig.suptitle("One lever at a time: 1000 samples each (Algorithm 2, seed 1234)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)


def plot_pareto(rows: list[dict], path: Path) -> None:
    """Mean distance against training time, coloured by coverage KS (a small PNG)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    trained = [r for r in rows if r["lever"] != "sampler"]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for covered, marker, label in ((True, "o", f"KS ≤ {TARGETS['coverage_ks']}"),
                                   (False, "X", f"KS > {TARGETS['coverage_ks']}")):
        group = [r for r in trained if (r["coverage_ks"] <= TARGETS["coverage_ks"]) == covered]
        points = ax.scatter([r["train_seconds"] for r in group], [r["mean_distance"] for r in group],
                            c=[r["coverage_ks"] for r in group], cmap="viridis_r", vmin=0.02, vmax=0.07,
                            s=36, marker=marker, edgecolor="k", linewidth=0.4, label=label)
    for r in trained:
        if r["lever"] in ("baseline", "start", "schedule", "steps") or r["change"].startswith(
                ("raw", "Adam 1e-3", "constant")):
            ax.annotate(r["change"][:28], (r["train_seconds"], r["mean_distance"]), fontsize=6,
                        xytext=(3, 3), textcoords="offset points")
    ax.axhline(TARGETS["mean_distance"], color="C3", linestyle="--", linewidth=1,
               label=f"target mean distance {TARGETS['mean_distance']}")
    ax.axvline(TARGETS["train_seconds"], color="C7", linestyle=":", linewidth=1,
               label=f"training budget {TARGETS['train_seconds']:.0f} s")
    ax.set_yscale("log")
    ax.set_xlabel("training time (s, this machine, shared cores)")
    ax.set_ylabel("mean distance to the spiral")
    ax.set_title("Precision against training time (colour: coverage KS)")
    fig.colorbar(points, ax=ax, label="coverage KS")
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny trainings: check the pipeline (< 1 min)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads for training the recipes (default: the recipes' num_threads, 1)")
    parser.add_argument("--output", type=Path, default=None,
                        help="JSON output (default benchmarks/results.json; with --quick a file in the temp dir)")
    parser.add_argument("--ablations", action="store_true",
                        help="run the one-lever-at-a-time study instead (benchmarks/ablations.json, figures)")
    args = parser.parse_args(argv)
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    output = args.output or (Path(tempfile.gettempdir()) / "ddpm_lessons_benchmark_quick.json"
                             if args.quick else HERE / "results.json")

    if args.ablations:
        run_ablations(quick=args.quick)
        return 0
    results, trained = run_benchmark(quick=args.quick, threads=args.threads)
    print_report(results)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {output}")
    if not args.quick:
        truth = make_spiral(N_SAMPLES, np.random.default_rng(TRUE_SEED))
        plot_samples({"recipes": trained}, truth, FIGURES / "recipes_samples.png")
        print(f"wrote {FIGURES / 'recipes_samples.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
