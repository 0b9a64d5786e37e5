"""Feedback for the exercises: run the learner's function or read their answer, and say what is wrong.

Every ``check_*`` function takes the learner's function, calls it on fresh
random inputs (``seed=`` repeats a run), compares the results with the
package's tested functions, prints one verdict and returns ``True`` only for a
correct function; :func:`check_answer` does the same for the questions.  The
engine is :mod:`.engine` (with :mod:`.sandbox` and :mod:`.diagnose`); each
chapter's exercises are described in their own module (``ch01`` … ``ch10``, with
``ch10_guidance``).
"""
from .ch01 import (check_histogram_gap, check_normal_pdf, check_sample_normal, check_sum_of_normals,
                   check_weighted_sum)
from .ch02 import check_alphas_cumprod, check_forward_step, check_linear_schedule, check_steps_needed
from .ch03 import check_iterate_forward, check_q_sample, check_shortcut_coefficients, check_standardise
from .ch04 import (check_posterior_mean_from_noise, check_posterior_mean_variance, check_posterior_on_grid,
                   check_predict_x0)
from .ch05 import check_conditioned_layer, check_embedding_matrix, check_parameter_count
from .ch06 import check_p_sample_step, check_simplified_loss, check_train_step, check_training_loss
from .ch07 import check_coverage_ks, check_distance_derivatives, check_mean_distance, check_newton_step
from .ch07 import reference_mean_distance
from .ch08 import check_ideal_noise, check_noise_at_step, check_posterior_weights, check_tweedie_x0
from .ch09 import check_ddim_update, check_encode, check_step_alphas
from .ch10 import (check_curve_coverage, check_pattern_curve, check_pattern_data, check_pattern_shares,
                   reference_curve_coverage)
from .ch10_guidance import check_drop_labels, check_guided_noise
from .engine import Case, Exercise, Mistake, run_check, variant
from .questions import check_answer

__all__ = [
    "Case", "Exercise", "Mistake", "run_check", "variant", "check_answer",
    "check_sample_normal", "check_normal_pdf", "check_sum_of_normals", "check_weighted_sum", "check_histogram_gap",
    "check_forward_step", "check_linear_schedule", "check_alphas_cumprod", "check_steps_needed",
    "check_shortcut_coefficients", "check_q_sample", "check_iterate_forward", "check_standardise",
    "check_posterior_mean_variance", "check_predict_x0", "check_posterior_mean_from_noise",
    "check_posterior_on_grid",
    "check_embedding_matrix", "check_conditioned_layer", "check_parameter_count",
    "check_simplified_loss", "check_training_loss", "check_train_step", "check_p_sample_step",
    "check_distance_derivatives", "check_newton_step", "check_mean_distance", "check_coverage_ks",
    "check_posterior_weights", "check_ideal_noise", "check_tweedie_x0", "check_noise_at_step",
    "check_step_alphas", "check_ddim_update", "check_encode",
    "check_pattern_data", "check_pattern_curve", "check_curve_coverage", "check_guided_noise",
    "check_drop_labels", "check_pattern_shares",
    "reference_mean_distance", "reference_curve_coverage",
]
