"""The checkable questions of the exercise notebooks, by number ("4.2").

Numbers are computed by the package's tested functions when they come from
the course's formulas; formulas are sympy expressions in the symbols that the
question names (see :mod:`.questions`).
"""
from __future__ import annotations

import sympy

from ..normal import normal_pdf
from ..schedules import alphas_cumprod, cosine_beta_schedule, linear_beta_schedule

_S = {name: sympy.Symbol(name, positive=True) for name in (
    "sigma", "sigma_1", "sigma_2", "v", "alpha_1", "alpha_2", "alpha_3", "beta_1", "beta_2", "beta_3",
    "alpha_t", "beta_t", "abar_t", "abar_prev")}
_R = {name: sympy.Symbol(name, real=True) for name in ("x", "mu", "mu_1", "mu_2", "x_0", "x_t")}


def _q():
    from .questions import Question  # noqa: PLC0415 - questions imports this module
    return Question


def _bank() -> dict:
    Question = _q()
    s, r = _S, _R
    return {
        # ------------------------------------------------------------------ chapter 1
        "1.2": Question("number", lambda: float(normal_pdf(0.0, 0.0, 0.1)), rtol=1e-3,
                        why="A density may exceed 1: only its area must be 1."),
        "1.3": Question("formula", (r["mu_1"] - r["mu_2"], s["sigma_1"] ** 2 + s["sigma_2"] ** 2),
                        symbols=("mu_1", "mu_2", "sigma_1", "sigma_2"),
                        why="Var(-Y) = (-1)² Var(Y): the variances still add."),
        "1.4": Question("formula",
                        sympy.exp(-(r["x"] - r["mu"]) ** 2 / (2 * s["sigma"] ** 2)) / sympy.sqrt(2 * sympy.pi * s["sigma"] ** 2),
                        symbols=("x", "mu", "sigma"),
                        why="p_X(x) = p_Z((x - μ)/σ) · |dz/dx| = p_Z((x - μ)/σ) / σ, which is eq. (1.1)."),
        "1.5": Question("number", 10.0, rtol=0.35,
                        why="The gap shrinks like 1/√n: 100 times more samples, about 10 times smaller gap "
                            "(measured values scatter around 10)."),
        # ------------------------------------------------------------------ chapter 2
        "2.2": Question("choice", "b", options={
            "a": "no: ᾱ_40 ≈ 0.67 is far from 0, so x_40 is not close to N(0, I).",
            "b": "ᾱ_40 ≈ 0.67, so x_40 keeps √0.67 ≈ 82 % of the signal; a sampler that starts from pure noise "
                 "starts from a distribution the model was never trained on.",
            "c": "no: β_t < 1 keeps every step's variance finite; the variance stays at 1 for unit-variance data.",
        }),
        "2.4": Question("number", lambda: float(alphas_cumprod(cosine_beta_schedule(40))[-1]), rtol=1e-2,
                        why="The cosine schedule is built so that ᾱ_T is close to 0 whatever T."),
        "2.5": Question("formula",
                        (1 - s["beta_1"]) * (1 - s["beta_2"]) * s["v"] + (1 - s["beta_2"]) * s["beta_1"] + s["beta_2"],
                        symbols=("beta_1", "beta_2", "alpha_1", "alpha_2", "v"),
                        substitutions={"alpha_1": 1 - s["beta_1"], "alpha_2": 1 - s["beta_2"]},
                        why="With v = 1 it is 1: each step keeps unit variance, as eq. (2.3) is designed to."),
        "2.6": Question("number", lambda: float(alphas_cumprod(linear_beta_schedule(40, 1e-4, 0.02, rescale=False))[-1]),
                        rtol=1e-2, why="About 0.67: without the 1000/T rescaling, 40 steps add far too little noise."),
        # ------------------------------------------------------------------ chapter 3
        "3.1": Question("number", 500.5, rtol=1e-5,
                        why="With t uniform on 1 … 1000, iterating costs (T + 1)/2 updates on average; the "
                            "shortcut costs one."),
        "3.3": Question("formula", s["abar_t"] * s["v"] + 1 - s["abar_t"], symbols=("abar_t", "v"),
                        why="For v = 1 the variance stays 1 at every t; for v ≫ 1 the data dominate until ᾱ_t is tiny."),
        "3.4": Question("formula", 1 - s["alpha_1"] * s["alpha_2"] * s["alpha_3"],
                        symbols=("alpha_1", "alpha_2", "alpha_3", "beta_1", "beta_2", "beta_3"),
                        substitutions={"beta_1": 1 - s["alpha_1"], "beta_2": 1 - s["alpha_2"], "beta_3": 1 - s["alpha_3"]},
                        why="The three noise variances α₂α₃β₁ + α₃β₂ + β₃ add up to 1 - ᾱ₃, as eq. (3.4) says."),
        # ------------------------------------------------------------------ chapter 4
        "4.1": Question("formula", r["x_0"], symbols=("x_0", "x_t"),
                        why="At t = 1, ᾱ_0 = 1 makes the x_t coefficient vanish and the x_0 coefficient 1."),
        "4.4": Question("formula", s["alpha_t"] / s["beta_t"] + 1 / (1 - s["abar_prev"]),
                        symbols=("alpha_t", "beta_t", "abar_prev"), substitutions={"alpha_t": 1 - s["beta_t"]},
                        why="Its inverse is β̃_t = β_t (1 - ᾱ_{t-1}) / (1 - ᾱ_t), eq. (4.6), since ᾱ_t = α_t ᾱ_{t-1}."),
        "4.5": Question("formula", -s["beta_t"] / (sympy.sqrt(1 - s["abar_t"]) * sympy.sqrt(1 - s["beta_t"])),
                        symbols=("beta_t", "alpha_t", "abar_t"), substitutions={"alpha_t": 1 - s["beta_t"]},
                        why="That is the ε coefficient of eq. (4.9)."),
        # ------------------------------------------------------------------ chapter 5
        "5.2": Question("choice", "b", options={
            "a": "no: W [x; e] + b splits into W_x x + W_e e + b, which is exactly the conditioned layer.",
            "b": "the two are the same family of functions: W [x; e] + b = W_x x + W_e e + b (with b = b_x + b_t). "
                 "Keeping two Linears only makes the time projection easy to read.",
            "c": "no: the time part is not less expressive; any W_t e + b_t is a block of one bigger W.",
        }),
        "5.3": Question("choice", "c", options={
            "a": "no: without t it cannot tell a slightly noisy point from a very noisy one.",
            "b": "no: it can still learn something, an average over the noise levels.",
            "c": "it learns the noise prediction averaged over all t, E_t[ε | x_t = x]: right on average, wrong at "
                 "every particular noise level, so the samples blur.",
        }),
        # ------------------------------------------------------------------ chapter 6
        "6.4": Question("choice", "a", options={
            "a": "β̃_t is the right variance if the data were one point x_0, β_t if the data were standard normal; "
                 "β̃_t ≤ β_t, and Ho et al. found similar samples with both.",
            "b": "no: β_t is not always smaller; β̃_t ≤ β_t at every t.",
            "c": "no: both choices are used in practice; neither is a mistake.",
        }),
        # ------------------------------------------------------------------ chapter 8
        "8.5": Question("formula", -sympy.Symbol("epsilon", real=True) / sympy.sqrt(1 - s["abar_t"]),
                        symbols=("epsilon", "abar_t"),
                        why="Averaged over x0 given x_t, this gives ∇ log q_t = −E[ε | x_t] / √(1 − ᾱ_t), eq. (8.3)."),
        # ------------------------------------------------------------------ chapter 7
        "7.2": Question("choice", "b", options={
            "a": "no: the collapsed samples are exactly on the curve, so their mean distance is 0.",
            "b": "coverage: all t* are equal, the empirical CDF is one jump and the KS distance is near 1. Mean "
                 "distance measures precision, coverage measures recall; each misses what the other sees.",
            "c": "no: mean distance cannot see it, the points lie on the curve.",
        }),
        "7.3": Question("choice", "over", options={
            "over": "a listed point is never closer than the nearest point of the whole curve, so the brute force "
                    "can only overestimate, by at most about half the spacing of the listed points.",
            "under": "no: the nearest listed point cannot be closer than the nearest point of the curve.",
            "either": "no: the error always has the same sign.",
        }),
        # ------------------------------------------------------------------ chapter 9
        "9.4": Question("formula",
                        (1 - s["abar_prev"]) * sympy.sqrt(s["abar_t"] / s["abar_prev"]) / (1 - s["abar_t"]),
                        symbols=("abar_t", "abar_prev"),
                        why="It is the coefficient of x_t in the posterior mean (4.5) of the respaced chain, "
                            "with α' = ᾱ_t/ᾱ_prev: with σ² = β̃' the DDIM step is the strided DDPM step."),
        "9.5": Question("choice", "b", options={
            "a": "no: one step is not a full DDPM run; with σ = 0 at the final step nothing random is added.",
            "b": "one step returns x̂_0 = (x_T - √(1 - ᾱ_T) ε_θ(x_T, T)) / √ᾱ_T. A perfect network would give "
                 "E[x_0 | x_T], close to the mean of the data; the real one's small errors are multiplied by "
                 "1/√ᾱ_T ≈ 2000, so the clipping puts nearly every sample on a corner of [-1, 1]².",
            "c": "no: the output is not x_T: the last step returns x̂_0, which removes the predicted noise.",
        }),
    }


class _LazyBank(dict):
    """The bank is built on first use (the question type imports this module)."""

    def _fill(self):
        if not super().__len__():
            self.update(_bank())

    def __contains__(self, key):
        self._fill()
        return super().__contains__(key)

    def __getitem__(self, key):
        self._fill()
        return super().__getitem__(key)

    def __iter__(self):
        self._fill()
        return super().__iter__()

    def keys(self):
        self._fill()
        return super().keys()


QUESTIONS = _LazyBank()
