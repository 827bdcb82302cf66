"""Hand-built ``numbers`` dicts with the keys a claim records, for the caption tests
(``test_captions_*.py``): each test changes the few values its edge needs."""

import numpy as np


def edge_run(**changes):
    """One full-batch gradient-descent run of §4's ``edge_of_stability``: λmax·η/2 rises from
    0.4 to the edge by step 60 and hovers at 0.97–1.04 over the last half of 240 steps."""
    run = {
        "optimizer": "gd",
        "learning_rate": 0.5,
        "loss": np.linspace(1.0, 0.01, 240),
        "threshold": 4.0,
        "sharpness_start": 4.0 * 0.4,
        "lowest_ratio": 0.4,
        "lowest_step": 0,
        "edge_step": 60,
        "hover_from": 120,
        "hover_to": 239,
        "hover_min": 0.97,
        "hover_max": 1.04,
        "hover_median": 1.0,
        "loss_start": 1.0,
        "loss_end": 0.01,
        "loss_rises": 0.3,
    }
    return run | changes


def stuck(**changes):
    """§4 ``stuck_is_not_small_gradient``'s numbers: the loss halves over the last half of
    240 steps while ‖g‖ stays 10× above the first half's smallest, λmax·η/2 at 1.2."""
    numbers = {
        "learning_rate": 0.5,
        "steps": 240,
        "last_half_from": 120,
        "loss_at_half": 0.2,
        "loss_end": 0.1,
        "last_half_fall_per_step": 0.1 / 119,
        "last_half_loss_rises": 0.5,
        "last_half_grad_norm_median": 2.0,
        "last_half_grad_norm_min": 0.5,
        "first_half_smallest_grad_norm": 0.2,
        "first_half_smallest_grad_norm_step": 40,
        "fall_per_step_before_smallest": 0.01,
        "last_half_sharpness_ratio_median": 1.2,
    }
    return numbers | changes


def flowchart(verdict, train, **extra):
    """A §1 flowchart claim's numbers: the verdict and each candidate's training loss / B."""
    return {
        "candidates": list(train),
        "train_loss_over_baseline": train,
        "verdict": verdict,
        "large_train_loss": 0.2,
        "comparisons": {},
        "steps": 200,
        "learning_rate": 0.03,
        "seeds": 1,
        **extra,
    }


def spectrum(**changes):
    """§2 ``trained_spectrum``'s numbers: a 97-parameter MLP near a minimum, ‖g‖ above the
    critical test."""
    numbers = {
        "n_params": 97,
        "eig_tol": 1e-4,
        "eigenvalues": np.linspace(0.01, 5.0, 97),
        "grad_norm": 5e-2,
        "grad_tol": 1e-3,
        "num_positive": 97,
        "num_negative": 0,
        "num_zero": 0,
        "minimum_ratio": 1.0,
        "slice_t": np.linspace(-0.1, 0.1, 61),
        "steepest_eigenvalue": 5.0,
        "flattest_eigenvalue": 0.01,
        "slice_steepest": np.full(61, 0.035),
        "slice_flattest": np.full(61, 0.01),
        "loss": 0.01,
        "width": 8,
        "n_examples": 64,
        "adam_steps": 400,
        "grad_norm_after_adam": 0.1,
        "gradient_steps": 40,
        "lanczos_iters": 40,
        "lanczos_min": 0.01,
        "lanczos_max": 5.0,
        "lanczos_minimum_ratio": 1.0,
    }
    return {**numbers, **changes}


def bn_curvature(plain_share, bn_share, plain_negative, bn_negative):
    """§6 ``network_curvature``'s numbers over three seeds, with the shares of eigenvalues near
    λmax and of negative ones near −λmax per seed, without and with BatchNorm."""

    def model(share, negative):
        return {
            "share_near_top": share,
            "share_negative_near_top": negative,
            "positive_condition_number": [1e5] * 3,
            "condition_number_bound": [1e7] * 3,
            "n_params": [1400] * 3,
            "max": [2.0] * 3,
            "min": [-0.1] * 3,
            "median_relative": [1e-4] * 3,
        }

    return {
        "width": 12,
        "depth": 4,
        "near_top": 100.0,
        "seeds": [0, 1, 2],
        "examples": 1437,
        "plain": model(plain_share, plain_negative),
        "bn": model(bn_share, bn_negative),
    }


def what_went_wrong(**changes):
    """§1 ``what_went_wrong``'s numbers: a run at too large a learning rate, its top cause
    found, the lower-η probe 3× lower."""
    numbers = {
        "learning_rate": 10.0,
        "depth": 2,
        "steps": 396,
        "batch_size": 64,
        "loss_over_baseline": 0.8,
        "top_cause": "learning_rate_too_high",
        "top_section": "§4",
        "top_score": 0.9,
        "report_score": 0.5,
        "diverged": False,
        "sharpness_over_threshold": 1.4,
        "loss_rise": 0.9,
        "probe_factor": 0.05,
        "probe_gain": 3.0,
    }
    return {**numbers, **changes}
