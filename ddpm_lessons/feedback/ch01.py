"""Checks of the exercises of chapter 1: the normal distribution."""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from ..normal import normal_pdf, sample_normal, sum_of_normals
from .engine import Case, Exercise, Mistake, run_check, variant


def _sigma(rng: np.random.Generator) -> float:
    """A σ well away from 1, so that σ, σ² and √σ differ clearly."""
    return float(rng.uniform(0.3, 0.7) if rng.random() < 0.5 else rng.uniform(1.5, 3.0))


# ----------------------------------------------------------------------------- 1.1 sampling
def _cases_sample_normal(rng):
    cases = []
    for size in [(6,), (3, 2), (5,), (20_000,)]:
        mu, sigma = float(rng.uniform(-3, 3)), _sigma(rng)
        generator = np.random.default_rng(int(rng.integers(2**32)))
        cases.append(Case((mu, sigma, size, generator), f"mu = {mu:.3g}, sigma = {sigma:.3g}, size = {size}"))
    return cases


def _right_law_wrong_draws(outputs, cases, expected) -> bool:
    """Every case has the right shape and the big one the right mean and standard deviation, yet
    the values differ (a shape or a sign is said by the other diagnoses)."""
    if any(np.shape(out) != case.args[2] for out, case in zip(outputs, cases)):
        return False
    for out, case in zip(outputs, cases):
        mu, sigma, size, _ = case.args
        if size == (20_000,):
            out = np.asarray(out, dtype=np.float64)
            return (out.shape == size and abs(out.mean() - mu) < 6 * sigma / math.sqrt(out.size)
                    and abs(out.std() / sigma - 1) < 0.05)
    return False


def _not_normal(outputs, cases, expected) -> bool:
    """The big case's samples have the right mean and spread, but standardised they are far from N(0, 1) (KS
    distance above 0.03 for 20 000 draws; normal draws stay below 0.014 but for a 1e-3 chance)."""
    for out, case in zip(outputs, cases):
        mu, sigma, size, _ = case.args
        if size == (20_000,) and np.shape(out) == size:
            z = np.sort((np.asarray(out, dtype=np.float64) - mu) / sigma)
            if abs(z.mean()) > 6 / math.sqrt(z.size) or abs(z.std() - 1) > 0.05:
                return False           # a wrong mean or spread is said by the other diagnoses
            cdf = torch.special.ndtr(torch.from_numpy(z)).numpy()
            i = np.arange(1, z.size + 1) / z.size
            return bool(max(np.max(i - cdf), np.max(cdf - (i - 1 / z.size))) > 0.03)
    return False


SAMPLE_NORMAL = Exercise(
    name="sampling from N(μ, σ²)",
    make_cases=_cases_sample_normal,
    reference=sample_normal,
    own_work=(sample_normal,),
    arg_names=("mu", "sigma", "size", "rng"),
    reference_mutates=True,   # drawing advances the generator
    mistakes=[
        variant("you scaled z by σ², the variance. Scale it by the standard deviation σ: μ + σ z, eq. (1.2).",
                lambda mu, s, size, rng: sample_normal(mu, s**2, size, rng)),
        variant("you scaled z by √σ. σ is already the standard deviation: μ + σ z.",
                lambda mu, s, size, rng: sample_normal(mu, math.sqrt(s), size, rng)),
        variant("the mean is missing: add μ, i.e. μ + σ z.",
                lambda mu, s, size, rng: sample_normal(0.0, s, size, rng)),
        variant("z is not scaled: multiply it by σ, i.e. μ + σ z.",
                lambda mu, s, size, rng: sample_normal(mu, 1.0, size, rng)),
        variant("μ and σ are swapped: the mean μ is added, the standard deviation σ multiplies z.",
                lambda mu, s, size, rng: sample_normal(s, abs(mu), size, rng) if mu > 0 else None),
        variant("you computed σ (μ + z), which also scales the mean. Only z is scaled: μ + σ z.",
                lambda mu, s, size, rng: sample_normal(s * mu, s, size, rng)),
        variant("you computed μ - σ z: the same law, but not the samples of eq. (1.2), μ + σ z.",
                lambda mu, s, size, rng: mu - s * rng.standard_normal(size)),
        Mistake("your samples are not normal: z must be a standard normal draw, rng.standard_normal(size) (a "
                "uniform draw, rng.random or rng.uniform, has the wrong shape even when its mean and spread are "
                "right).", predicate=_not_normal),
        Mistake("your samples have the right mean and spread but are not the ones the generator you were given "
                "produces. Draw z with rng.standard_normal(size) from the `rng` argument (not np.random.randn "
                "or a new generator), so that results are reproducible.", predicate=_right_law_wrong_draws),
    ],
    type_hint="Return the numpy array of samples.",
)


def check_sample_normal(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(mu, sigma, size, rng)``: samples of N(μ, σ²) as μ + σ z, eq. (1.2)."""
    return run_check(SAMPLE_NORMAL, fn, seed)


# ----------------------------------------------------------------------------- 1.2 the density
def _cases_normal_pdf(rng):
    cases = []
    for _ in range(4):
        mu, sigma = float(rng.uniform(-2, 2)), _sigma(rng)
        x = mu + sigma * rng.uniform(-3, 3, size=int(rng.integers(4, 9)))
        cases.append(Case((x, mu, sigma), f"mu = {mu:.3g}, sigma = {sigma:.3g}"))
    return cases


# Wrong exponents, written with the package's density: exp(-(x-μ)²/(2s'²)) = normal_pdf(x, μ, s') √(2π) s'.
def _exponent_with(x, mu, s_prime, s):
    return normal_pdf(x, mu, s_prime) * s_prime / s


NORMAL_PDF = Exercise(
    name="normal density",
    make_cases=_cases_normal_pdf,
    reference=normal_pdf,
    own_work=(normal_pdf,),
    arg_names=("x", "mu", "sigma"),
    mistakes=[
        variant("in the exponent divide by 2σ² (twice the variance), not by 2σ.",
                lambda x, mu, s: _exponent_with(x, mu, math.sqrt(s), s)),
        variant("you used σ where σ² belongs, both in the exponent and under the root: that is the density of a "
                "normal with variance σ. σ is the standard deviation: exp(−(x − μ)² / (2σ²)) / √(2πσ²).",
                lambda x, mu, s: normal_pdf(x, mu, math.sqrt(s))),
        variant("the exponent lost its factor 1/2: it is −(x − μ)² / (2σ²).",
                lambda x, mu, s: _exponent_with(x, mu, s / math.sqrt(2), s)),
        variant("operator precedence: `-(x - mu)**2 / 2 * sigma**2` divides by 2 and then multiplies by σ². Put the "
                "denominator in parentheses: `-(x - mu)**2 / (2 * sigma**2)`.",
                lambda x, mu, s: np.exp(-(x - mu) ** 2 / 2 * s**2) / math.sqrt(2 * math.pi * s**2)),
        variant("operator precedence: `1 / np.sqrt(2 * np.pi) * sigma` multiplies by σ instead of dividing. Put the "
                "denominator in parentheses: `1 / (np.sqrt(2 * np.pi) * sigma)`.",
                lambda x, mu, s: normal_pdf(x, mu, s) * s**2),
        variant("the exponent must be negative: exp(−(x − μ)² / (2σ²)).",
                lambda x, mu, s: 1 / (2 * math.pi * s**2 * normal_pdf(x, mu, s))),
        variant("use the distance to the mean, (x − μ), not (x + μ).",
                lambda x, mu, s: normal_pdf(x, -mu, s)),
        variant("the normalising constant lacks its square root: it is 1 / √(2πσ²), not 1 / (2πσ²), eq. (1.1).",
                lambda x, mu, s: normal_pdf(x, mu, s) / math.sqrt(2 * math.pi * s**2)),
        variant("the normalising constant 1 / √(2πσ²) is missing; without it the density does not integrate to 1.",
                lambda x, mu, s: normal_pdf(x, mu, s) * math.sqrt(2 * math.pi * s**2)),
    ],
    type_hint="Return a numpy array (np.exp works on whole arrays).",
)


def check_normal_pdf(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(x, mu, sigma)``: the density of N(μ, σ²), eq. (1.1)."""
    return run_check(NORMAL_PDF, fn, seed)


# ----------------------------------------------------------------------------- 1.3 sum of two normals
def _cases_sum_of_normals(rng):
    cases = []
    for _ in range(4):
        mu1, mu2 = rng.uniform(-3, 3, size=2)
        var1, var2 = rng.uniform(0.2, 4.0, size=2)
        cases.append(Case((float(mu1), float(var1), float(mu2), float(var2)),
                          f"mu1 = {mu1:.3g}, var1 = {var1:.3g}, mu2 = {mu2:.3g}, var2 = {var2:.3g}"))
    return cases


SUM_OF_NORMALS = Exercise(
    name="sum of two normals",
    make_cases=_cases_sum_of_normals,
    reference=sum_of_normals,
    own_work=(sum_of_normals,),
    arg_names=("mu1", "var1", "mu2", "var2"),
    parts=("the mean", "the variance"),
    mistakes=[
        variant("you added the standard deviations. For independent normals the variances add: var1 + var2, "
                "eq. (1.3).", lambda m1, v1, m2, v2: (m1 + m2, math.sqrt(v1) + math.sqrt(v2))),
        variant("(√var1 + √var2)² adds standard deviations; for independent normals the variances add.",
                lambda m1, v1, m2, v2: (m1 + m2, (math.sqrt(v1) + math.sqrt(v2)) ** 2)),
        variant("you averaged. X + Y has mean μ₁ + μ₂ and variance var1 + var2.",
                lambda m1, v1, m2, v2: tuple(v / 2 for v in sum_of_normals(m1, v1, m2, v2))),
        variant("variances of independent normals add; they do not multiply.",
                lambda m1, v1, m2, v2: (m1 + m2, v1 * v2)),
        variant("variances never subtract: even X − Y has variance var1 + var2.",
                lambda m1, v1, m2, v2: (m1 + m2, v1 - v2)),
        variant("the means add: μ₁ + μ₂, not μ₁ − μ₂.",
                lambda m1, v1, m2, v2: sum_of_normals(m1, v1, -m2, v2)),
    ],
    type_hint="Return a tuple (mean, variance), e.g. `return mean, variance`.",
)


def check_sum_of_normals(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(mu1, var1, mu2, var2) -> (mean, variance)`` of X + Y, eq. (1.3)."""
    return run_check(SUM_OF_NORMALS, fn, seed)


# ----------------------------------------------------------------------------- 1.4 a weighted sum
def _cases_weighted_sum(rng):
    cases = []
    for k in range(5):
        a, b = rng.uniform(0.3, 2.5, size=2) * rng.choice([-1.0, 1.0], size=2)
        if k == 0:
            a, b = abs(a), -abs(b)   # one negative weight in every run
        mu1, mu2 = rng.uniform(-3, 3, size=2)
        var1, var2 = rng.uniform(0.2, 4.0, size=2)
        args = tuple(float(v) for v in (a, mu1, var1, b, mu2, var2))
        cases.append(Case(args, f"a = {a:.3g}, mu1 = {mu1:.3g}, var1 = {var1:.3g}, b = {b:.3g}, "
                                f"mu2 = {mu2:.3g}, var2 = {var2:.3g}"))
    return cases


def _ref_weighted_sum(a, mu1, var1, b, mu2, var2):
    # aX ~ N(a μ₁, a² σ₁²) (eq. (1.2) with σ z scaled by a), then eq. (1.3).
    return sum_of_normals(a * mu1, a * a * var1, b * mu2, b * b * var2)


WEIGHTED_SUM = Exercise(
    name="weighted sum of two normals",
    make_cases=_cases_weighted_sum,
    reference=_ref_weighted_sum,
    arg_names=("a", "mu1", "var1", "b", "mu2", "var2"),
    parts=("the mean", "the variance"),
    mistakes=[
        variant("the weights multiply the variances by a² and b², not by a and b: Var(aX) = a² Var(X).",
                lambda a, m1, v1, b, m2, v2: (a * m1 + b * m2, a * v1 + b * v2)),
        variant("the weights multiply the variances by a² and b² (squares are never negative), not by |a| "
                "and |b|.", lambda a, m1, v1, b, m2, v2: (a * m1 + b * m2, abs(a) * v1 + abs(b) * v2)),
        variant("a negative weight flips the mean but cannot make a variance negative: Var(bY) = b² Var(Y).",
                lambda a, m1, v1, b, m2, v2: (a * m1 + b * m2, a * abs(a) * v1 + b * abs(b) * v2)),
        variant("you scaled the variances by (a + b)²: each variance is scaled by its own weight squared.",
                lambda a, m1, v1, b, m2, v2: (a * m1 + b * m2, (a + b) ** 2 * (v1 + v2))),
        variant("the weights were left out of the variance: Var(aX + bY) = a² var1 + b² var2.",
                lambda a, m1, v1, b, m2, v2: (a * m1 + b * m2, v1 + v2)),
    ],
    type_hint="Return a tuple (mean, variance).",
)


def check_weighted_sum(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(a, mu1, var1, b, mu2, var2) -> (mean, variance)`` of aX + bY."""
    return run_check(WEIGHTED_SUM, fn, seed)


# ----------------------------------------------------------------------------- 1.5 histogram against density
def _cases_histogram_gap(rng):
    cases = []
    for n, bins in ((500, 10), (5_000, 25), (int(rng.integers(200, 3000)), int(rng.integers(8, 40)))):
        mu, sigma = float(rng.uniform(-2, 2)), _sigma(rng)
        samples = sample_normal(mu, sigma, n, rng)
        edges = np.linspace(samples.min(), samples.max(), bins + 1)   # every sample in a bin
        cases.append(Case((samples, edges, mu, sigma), f"{n} samples, {bins} bins"))
    return cases


def _ref_histogram_gap(samples, edges, mu, sigma):
    density, _ = np.histogram(samples, bins=edges, density=True)
    return float(np.max(np.abs(density - normal_pdf((edges[:-1] + edges[1:]) / 2, mu, sigma))))


def _counts_gap(samples, edges, mu, sigma, divide):
    counts, _ = np.histogram(samples, bins=edges)
    return float(np.max(np.abs(counts / divide(samples, edges) - normal_pdf((edges[:-1] + edges[1:]) / 2, mu, sigma))))


HISTOGRAM_GAP = Exercise(
    name="histogram against the density",
    make_cases=_cases_histogram_gap,
    reference=_ref_histogram_gap,
    arg_names=("samples", "edges", "mu", "sigma"),
    python_number=True,
    mistakes=[
        variant("the histogram holds counts: divide by the number of samples *and* the bin width to get a "
                "density (np.histogram(..., density=True) does both).",
                lambda s, e, mu, sg: _counts_gap(s, e, mu, sg, lambda s, e: 1.0)),
        variant("you divided the counts by the number of samples only; a density also divides by the bin "
                "width.", lambda s, e, mu, sg: _counts_gap(s, e, mu, sg, lambda s, e: len(s))),
        variant("compare each bar with the density at the centre of its bin, (edges[:-1] + edges[1:]) / 2, "
                "not at its left edge.",
                lambda s, e, mu, sg: float(np.max(np.abs(np.histogram(s, bins=e, density=True)[0]
                                                         - normal_pdf(e[:-1], mu, sg))))),
        variant("return the largest gap over the bins (max of |histogram - density|), not the mean gap.",
                lambda s, e, mu, sg: float(np.mean(np.abs(np.histogram(s, bins=e, density=True)[0]
                                                          - normal_pdf((e[:-1] + e[1:]) / 2, mu, sg))))),
    ],
    type_hint="Return one number (a Python float).",
)


def check_histogram_gap(fn: Callable, seed: int | None = None) -> bool:
    """Check ``fn(samples, edges, mu, sigma)``: the largest gap between the histogram and eq. (1.1)."""
    return run_check(HISTOGRAM_GAP, fn, seed)
