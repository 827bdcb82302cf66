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
    """§4 ``stuck_is_not_small_gradient``'s numbers: over the last half of 240 steps the loss
    halves, 0.2 → 0.1, where its gradient's first-order fall Σ η‖g_t‖² is 10 (1%); over the
    first half 0.8 of 2 (40%); λmax·η/2 at 1.2."""
    numbers = {
        "learning_rate": 0.5,
        "steps": 240,
        "last_half_from": 120,
        "loss_start": 1.0,
        "loss_at_half": 0.2,
        "loss_end": 0.1,
        "last_half_loss_rises": 0.5,
        "last_half_grad_norm_min": 0.5,
        "last_half_sharpness_ratio_median": 1.2,
        "first_half_fall": 0.8,
        "first_half_first_order_fall": 2.0,
        "first_half_grad_norm_median": 0.3,
        "last_half_fall": 0.1,
        "last_half_first_order_fall": 10.0,
        "last_half_grad_norm_median": 2.0,
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
        "probe_steps": 198,
    }
    return {**numbers, **changes}


def escape(**changes):
    """§2 ``escaping_a_saddle``'s numbers: gradient descent stays at the saddle for 80 steps,
    the other three runs leave it; the nudge grows 1.2× per step, as 1 − ηλ = 1.2 predicts."""
    from jaxtrain.lecture.critical_points import _STARTS

    numbers = {
        "learning_rate": 0.1,
        "momentum": 0.9,
        "steps": 80,
        "saddle_loss": 1.0,
        "escape_step": 0.5,
        "nudge_norm": 1e-3,
        "losses": {name: np.ones(81) for name in _STARTS},
        "steps_to_leave": {_STARTS[0]: None, _STARTS[1]: 3, _STARTS[2]: 38, _STARTS[3]: 18},
        "final_loss": {_STARTS[0]: 1.0, _STARTS[1]: 1e-14, _STARTS[2]: 1e-14, _STARTS[3]: 1e-3},
        "growth_per_step": 1.2,
        "predicted_growth_per_step": 1.2,
    }
    return numbers | changes


def input_scales():
    """§6 ``input_scales``'s numbers as a run measures them: x₂ on a 100× larger scale makes
    the raw surface steep along w₂ (κ ≈ 20,000); standardized, κ ≈ 1.3. Gradient descent at
    η = 1/λmax leaves 8.6% of the excess loss on the raw inputs, 1e-10 on the standardized."""

    def surface(hessian, best, excess_left, slow, last):
        hessian = np.asarray(hessian)
        low, high = np.linalg.eigvalsh(hessian)
        return {
            "hessian": hessian,
            "eigenvalues": np.array([low, high]),
            "condition_number": high / low,
            "best_weights": np.asarray(best),
            "learning_rate": 1.0 / high,
            "path": np.array([[0.0, 0.0], last]),
            "excess_left": excess_left,
            "predicted_slow_factor": slow,
        }

    return {
        "examples": 200,
        "scales": [1.0, 100.0],
        "steps": 100,
        "raw": surface([[0.76, 54.1], [54.1, 7117.2]], [1.99, 0.03], 0.086, 0.995, [0.01, 0.045]),
        "standardized": surface(
            [[2.0, -0.25], [-0.25, 2.0]], [0.59, 0.91], 1.3e-10, 1e-65, [0.59, 0.91]
        ),
    }
