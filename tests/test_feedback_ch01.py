"""Chapter 1 checks: plausible wrong answers are rejected with the intended message, right ones accepted.

The right answers are written here independently of the package (as a learner would).
"""
from __future__ import annotations

import math

import numpy as np

from ddpm_lessons import feedback as fb
from feedback_harness import answer_table_tests

# ----------------------------------------------------------------------------- 1.1 sampling


def _inplace_sample(mu, sigma, size, rng):
    z = rng.standard_normal(size)
    z *= sigma
    z += mu
    return z


RIGHT = {
    "sample_normal": [
        lambda mu, sigma, size, rng: mu + sigma * rng.standard_normal(size),
        lambda mu, sigma, size, rng: rng.normal(mu, sigma, size),
        _inplace_sample,   # changes only its own array: fine
        lambda mu, sigma, size, rng: np.asarray(mu + sigma * rng.standard_normal(size), dtype=np.float32),
    ],
    "normal_pdf": [
        lambda x, mu, sigma: np.exp(-(x - mu) ** 2 / (2 * sigma**2)) / np.sqrt(2 * np.pi * sigma**2),
        lambda x, mu, sigma: np.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi)),
        lambda x, mu, sigma: np.array([math.exp(-(v - mu) ** 2 / (2 * sigma**2)) / math.sqrt(2 * math.pi) / sigma
                                       for v in x]),
    ],
    "sum_of_normals": [
        lambda m1, v1, m2, v2: (m1 + m2, v1 + v2),
        lambda m1, v1, m2, v2: [m1 + m2, v1 + v2],
        lambda m1, v1, m2, v2: (np.float64(m1) + m2, np.float64(v1 + v2)),
    ],
    "weighted_sum": [
        lambda a, m1, v1, b, m2, v2: (a * m1 + b * m2, a**2 * v1 + b**2 * v2),
        lambda a, m1, v1, b, m2, v2: (a * m1 + b * m2, (abs(a) * math.sqrt(v1)) ** 2 + (b * math.sqrt(v2)) ** 2),
    ],
    "histogram_gap": [
        lambda s, e, mu, sg: float(np.max(np.abs(np.histogram(s, bins=e, density=True)[0]
                                                 - np.exp(-((e[:-1] + e[1:]) / 2 - mu) ** 2 / (2 * sg**2))
                                                 / math.sqrt(2 * math.pi * sg**2)))),
        lambda s, e, mu, sg: max(abs(np.sum((s >= lo) & (s < hi) if k < len(e) - 2 else (s >= lo) & (s <= hi))
                                     / (len(s) * (hi - lo))
                                     - math.exp(-((lo + hi) / 2 - mu) ** 2 / (2 * sg**2)) / math.sqrt(2 * math.pi) / sg)
                                 for k, (lo, hi) in enumerate(zip(e[:-1], e[1:]))),
    ],
}


def _shift_in_place(x, mu, sigma):
    x -= mu
    return np.exp(-x**2 / (2 * sigma**2)) / np.sqrt(2 * np.pi * sigma**2)


def _sort_in_place(s, e, mu, sg):
    s.sort()
    return RIGHT["histogram_gap"][0](s, e, mu, sg)


WRONG = {
    "sample_normal": [
        (lambda mu, sigma, size, rng: mu + sigma * rng.uniform(-math.sqrt(3), math.sqrt(3), size), "not normal"),
        (lambda mu, sigma, size, rng: mu + sigma**2 * rng.standard_normal(size), "variance"),
        (lambda mu, sigma, size, rng: mu + math.sqrt(sigma) * rng.standard_normal(size), "√σ"),
        (lambda mu, sigma, size, rng: sigma * rng.standard_normal(size), "mean is missing"),
        (lambda mu, sigma, size, rng: mu - sigma * rng.standard_normal(size), "you computed μ - σ z"),
        (lambda mu, sigma, size, rng: (mu + sigma * rng.standard_normal(size)).ravel(), "wrong shape"),
        (lambda mu, sigma, size, rng: mu + sigma * np.random.default_rng(0).standard_normal(size), "generator"),
        (lambda mu, sigma, size, rng: sigma * (mu + rng.standard_normal(size)), "also scales the mean"),
        (lambda mu, sigma, size, rng: 1.0 + 0.5 * rng.standard_normal(size), "wrong values"),   # hard-coded example
        (lambda mu, sigma, size, rng: None, "return"),
        (lambda mu, sigma, size, rng: list(mu + sigma * rng.standard_normal(size)), "numpy array"),
    ],
    "normal_pdf": [
        (lambda x, mu, s: np.exp(-(x - mu) ** 2 / 2 * s**2) / np.sqrt(2 * np.pi * s**2), "operator precedence"),
        (lambda x, mu, s: np.exp(-(x - mu) ** 2 / (2 * s**2)) * 1 / np.sqrt(2 * np.pi) * s, "operator precedence"),
        (_shift_in_place, "changed its input `x` in place"),
        (lambda x, mu, s: np.exp(-(x - mu) ** 2 / (2 * s**2)) / np.sqrt(2 * 3.14 * s**2), "1.000254 ×"),   # π ≈ 3.14
        (lambda x, mu, s: np.exp(-(x - mu) ** 2 / (2 * s**2)) / (2 * np.pi * s**2), "lacks its square root"),
        (lambda x, mu, s: np.exp(-(x - mu) ** 2 / (2 * s)) / np.sqrt(2 * np.pi * s), "both in the exponent and under"),
        (lambda x, mu, s: np.exp(-(x - mu) ** 2 / (2 * s**2)) / np.sqrt(2 * np.pi * s**2 + 0j), "complex numbers"),
        (lambda x, mu, s: np.exp(-(x - mu) ** 2 / (2 * s)) / np.sqrt(2 * np.pi * s**2), "2σ²"),
        (lambda x, mu, s: np.exp(-(x - mu) ** 2 / s**2) / np.sqrt(2 * np.pi * s**2), "factor 1/2"),
        (lambda x, mu, s: np.exp((x - mu) ** 2 / (2 * s**2)) / np.sqrt(2 * np.pi * s**2), "negative"),
        (lambda x, mu, s: np.exp(-(x + mu) ** 2 / (2 * s**2)) / np.sqrt(2 * np.pi * s**2), "(x + μ)"),
        (lambda x, mu, s: np.exp(-(x - mu) ** 2 / (2 * s**2)), "normalising constant"),
        (lambda x, mu, s: np.exp(-(x - mu) ** 2 / 2) / np.sqrt(2 * np.pi), "wrong values"),   # sigma = 1 hard-coded
        (lambda x, mu, s: np.exp(-(x - mu) ** 2 / (2 * s**2)) / np.sqrt(2 * np.pi) / s**2, "factor changes"),
        (lambda x, mu, s: [math.exp(-(v - mu) ** 2 / (2 * s**2)) / math.sqrt(2 * math.pi * s**2) for v in x],
         "numpy array"),
    ],
    "sum_of_normals": [
        (lambda m1, v1, m2, v2: (m1 + m2, math.sqrt(v1 + v2)), "square roots"),
        (lambda m1, v1, m2, v2: (m1 + m2, math.sqrt(v1) + math.sqrt(v2)), "standard deviations"),
        (lambda m1, v1, m2, v2: ((m1 + m2) / 2, (v1 + v2) / 2), "averaged"),
        (lambda m1, v1, m2, v2: (m1 + m2, v1 * v2), "multiply"),
        (lambda m1, v1, m2, v2: (m1 + m2, v1 - v2), "never subtract"),
        (lambda m1, v1, m2, v2: (m1 - m2, v1 + v2), "μ₁ + μ₂"),
        (lambda m1, v1, m2, v2: (v1 + v2, m1 + m2), "wrong order"),
        (lambda m1, v1, m2, v2: (m1 + m2, (v1 + v2) ** 2), "squares"),
        (lambda m1, v1, m2, v2: m1 + m2, "tuple"),
        (lambda m1, v1, m2, v2: (-1.0, 2.5), "wrong values"),   # the notebook's example, hard-coded
    ],
    "weighted_sum": [
        (lambda a, m1, v1, b, m2, v2: (a * m1 + b * m2, a * v1 + b * v2), "a²"),
        (lambda a, m1, v1, b, m2, v2: (a * m1 + b * m2, abs(a) * v1 + abs(b) * v2), "|a|"),
        (lambda a, m1, v1, b, m2, v2: (a * m1 + b * m2, a * abs(a) * v1 + b * abs(b) * v2), "negative"),
        (lambda a, m1, v1, b, m2, v2: (a * m1 + b * m2, v1 + v2), "left out"),
        (lambda a, m1, v1, b, m2, v2: (a * m1 + b * m2, (a + b) ** 2 * (v1 + v2)), "(a + b)²"),
        (lambda a, m1, v1, b, m2, v2: (a * m1 + b * m2, math.sqrt(a**2 * v1 + b**2 * v2)), "square roots"),
        (lambda a, m1, v1, b, m2, v2: (a * m1 - b * m2, a**2 * v1 + b**2 * v2), "wrong values"),
        (lambda a, m1, v1, b, m2, v2: (m1 + m2, a**2 * v1 + b**2 * v2), "the variance is right"),
        (lambda a, m1, v1, b, m2, v2: (a**2 * v1 + b**2 * v2, a * m1 + b * m2), "wrong order"),
    ],
    "histogram_gap": [
        (_sort_in_place, "changed its input `samples` in place"),
        (lambda s, e, mu, sg: float(np.max(np.abs(np.histogram(s, bins=e)[0]
                                                  - fb.ch01.normal_pdf((e[:-1] + e[1:]) / 2, mu, sg)))), "counts"),
        (lambda s, e, mu, sg: float(np.max(np.abs(np.histogram(s, bins=e)[0] / len(s)
                                                  - fb.ch01.normal_pdf((e[:-1] + e[1:]) / 2, mu, sg)))), "bin width"),
        (lambda s, e, mu, sg: float(np.max(np.abs(np.histogram(s, bins=e, density=True)[0]
                                                  - fb.ch01.normal_pdf(e[:-1], mu, sg)))), "centre"),
        (lambda s, e, mu, sg: float(np.mean(np.abs(np.histogram(s, bins=e, density=True)[0]
                                                   - fb.ch01.normal_pdf((e[:-1] + e[1:]) / 2, mu, sg)))), "mean gap"),
        (lambda s, e, mu, sg: np.abs(np.histogram(s, bins=e, density=True)[0]
                                     - fb.ch01.normal_pdf((e[:-1] + e[1:]) / 2, mu, sg)), "single number"),
        (lambda s, e, mu, sg: float(np.max(np.abs(np.histogram(s, bins=e, density=True)[0]
                                                  - fb.ch01.normal_pdf((e[:-1] + e[1:]) / 2, mu, sg**2)))), "wrong values"),
        (lambda s, e, mu, sg: float(np.max(np.abs(np.histogram(s, bins=20, density=True)[0]
                                                  - fb.ch01.normal_pdf(np.linspace(mu - 3 * sg, mu + 3 * sg, 20), mu, sg)))),
         "wrong values"),
    ],
}


test_right_answers_are_accepted, test_wrong_answers_are_rejected_with_their_message = answer_table_tests(RIGHT, WRONG)
