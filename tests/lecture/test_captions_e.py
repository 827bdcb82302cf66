"""Captions of §1, §2 and §6 print a number beside the threshold, or beside the other number,
it was compared with: with enough digits that the reader sees the comparison the code made.

Each test hands a caption function a numbers dict built by hand with the keys its claim
builds (no training), at a value just beside a threshold; it parses the printed numbers and
checks they lie on the side the code decided. jaxtrain._text.beside prints such values.
"""

import itertools
import re

import caption_numbers
import numpy as np
import pytest

from jaxtrain.lecture import batch_normalization as bn
from jaxtrain.lecture import critical_points as cp
from jaxtrain.lecture import task_strategy as ts

_NUMBER = r"([−+-]?\d+(?:\.\d*)?(?:e[+-]?\d+)?)"


def _after(caption, prefix, suffix=""):
    """The number printed right after ``prefix`` (and before ``suffix``), as a float."""
    match = re.search(re.escape(prefix) + _NUMBER + re.escape(suffix), caption)
    assert match, f"{prefix!r}…{suffix!r} not in: {caption}"
    return float(match.group(1).replace("−", "-"))


# ---- §1 task_strategy ----


_flowchart = caption_numbers.flowchart


@pytest.mark.parametrize(
    ("name", "train"),
    [("linear", {"linear": 0.2004, "mlp": 0.1}), ("MLP", {"linear": 0.9, "mlp": 0.2004})],
)
def test_model_bias_a_loss_just_above_large_is_not_shown_at_the_threshold(name, train):
    # 0.2004 > 0.2 is "large": the linear model's loss "stays large", or the MLP's is "not
    # below the threshold". ".2f" prints it as 0.20 beside "('large' above 0.2)", a value the
    # same sentence calls not large. The caption must print it above 0.2 (beside(v, 0.2)).
    caption = ts._model_bias_caption(_flowchart("model_bias", train, points=600))
    assert _after(caption, f" {name} ") > 0.2


def test_model_bias_a_lower_mlp_loss_is_not_printed_equal_to_the_linear_one():
    # 0.3004 < 0.3006: "the more flexible model gets it lower", yet both print as 0.30. The
    # printed MLP loss must be below the printed linear one.
    caption = ts._model_bias_caption(
        _flowchart("model_bias", {"linear": 0.3006, "mlp": 0.3004}, points=600)
    )
    assert "gets it lower" in caption
    assert _after(caption, " MLP ") < _after(caption, " linear ", ",")


@pytest.mark.parametrize("shallow", [0.1502, 0.3002])
def test_deep_vs_shallow_worse_is_not_printed_equal(shallow):
    # The deep net's 0.0002 B more is "the deep net trains worse" (both the small-loss branch
    # and the not-beyond-the-margin one), yet both losses print as 0.15 (0.30). The printed
    # deep loss must be above the printed shallow one.
    train = {"shallow": shallow, "deep": shallow + 2e-4}
    caption = ts._deep_vs_shallow_caption(_flowchart("ok", train, depth=6))
    assert "the deep net trains worse" in caption.lower()
    assert _after(caption, "deep ", ".") > _after(caption, "shallow ", ",")


def test_what_went_wrong_a_small_rise_is_not_printed_as_no_rise():
    # loss_rise 0.001 > 0, so the caption says the loss "climbed back", to "1.00 × its lowest
    # value": no rise at all as printed. The factor must print above 1.
    caption = ts._what_went_wrong_caption(caption_numbers.what_went_wrong(loss_rise=0.001))
    assert _after(caption, "climbed back to ") > 1.0


def test_overfitting_a_training_loss_just_above_the_threshold_is_not_shown_at_it():
    # 0.2004 > 0.2: "Not both models fit their training data (threshold 0.2 B)", then the
    # loss prints as "0.20 B", at the threshold. It must print above 0.2.
    numbers = {
        "few": 80,
        "large_train_loss": 0.2,
        "overfitting_case_verdict": "ok",
        "mismatch_case_verdict": "mismatch",
        "overfitting_case_loss_over_baseline": {"train": 0.2004, "heldout": 0.9, "val": 0.9},
        "mismatch_case_loss_over_baseline": {"train": 0.05, "heldout": 0.06, "val": 0.9},
    }
    caption = ts._overfitting_caption(numbers)
    assert "Not both models fit" in caption
    assert _after(caption, "(training loss ", " B") > 0.2


def _augmentation(none_shifted, shift_shifted, upside_centered):
    none = np.full(5, 0.95)
    return ts._augmentation_caption(
        {
            "epochs": 30,
            "seeds": [0, 1, 2, 3, 4],
            "val_accuracy": {
                "none": none,
                "shift": none - 0.01,
                "upside down": np.full(5, upside_centered),
            },
            "shifted_val_accuracy": {
                "none": np.full(5, none_shifted),
                "shift": np.full(5, shift_shifted),
                "upside down": np.full(5, none_shifted - 0.05),
            },
        }
    )


def test_augmentation_upside_down_a_loss_of_one_digit_is_not_zero_points_lower():
    # Upside down is 0.03 points (one digit in 3,250) lower on centered digits, so upside > 0
    # and the caption says "0.0 points lower", a drop its number does not show (the shift's
    # gain and cost are rounded as printed first; this one is not). It must print above 0.
    caption = _augmentation(0.80, 0.85, 0.95 - 1 / 3250)
    assert "Upside down helps on neither" in caption
    assert _after(caption, "helps on neither: ", " points lower") > 0


def test_augmentation_a_gain_of_a_tenth_of_a_point_is_not_printed_between_equal_accuracies():
    # On shifted digits the shift scores 2 digits in 3,250 more (0.8997 → 0.9003): "+0.1
    # points", beside "none 0.900, shift 0.900" for the same two means. The printed shift
    # accuracy must be above the printed one without augmentation.
    caption = _augmentation(2924 / 3250, 2926 / 3250, 0.90)
    assert "The shift helps where the test digits are shifted (+0.1" in caption
    shifted = caption.split("on the same digits shifted by up to a pixel:")[1]
    assert _after(shifted, "shift ", ",") > _after(shifted, "none ", ",")


def _selection(test, train, choice, best):
    names = ["linear", "mlp16", "mlp128"]
    return ts._selection_caption(
        {
            "candidates": names,
            "points": 120,
            "test_points": 2000,
            "noise": 0.2,
            "folds": 3,
            "steps": 300,
            "learning_rate": 0.01,
            "fold_val_loss": dict(zip(names, [0.9, 0.45, 0.5], strict=True)),
            "fold_val_loss_std": dict.fromkeys(names, 0.02),
            "train_loss": dict(zip(names, train, strict=True)),
            "test_loss": dict(zip(names, test, strict=True)),
            "choice": choice,
            "test_best": best,
        }
    )


def test_selection_a_disagreeing_test_loss_is_not_printed_equal_to_the_choice():
    # mlp128's test loss 0.4001 is lower than the choice's 0.4003: "The fresh test disagrees
    # … (0.400 against 0.400 for the choice)". The printed best must be below the choice's.
    caption = _selection([0.9, 0.4003, 0.4001], [0.8, 0.3, 0.01], "mlp16", "mlp128")
    assert "The fresh test disagrees" in caption
    assert _after(caption, "lowest test loss (", " against") < _after(caption, "against ", " ")


def test_selection_a_higher_test_loss_is_not_printed_equal_to_the_best():
    # mlp128 has the lowest training loss and a test loss 0.0002 above mlp16's: "a higher test
    # loss than mlp16", with both printed "test 0.400". The printed losses must differ.
    caption = _selection([0.9, 0.4001, 0.4003], [0.8, 0.3, 0.01], "mlp16", "mlp16")
    assert "has the lowest training loss and a higher test loss" in caption
    assert _after(caption, "mlp128: training 0.010, folds 0.500 ± 0.020, test ") > _after(
        caption, "mlp16: training 0.300, folds 0.450 ± 0.020, test "
    )


def test_selection_a_lowest_training_loss_is_not_printed_as_a_tie():
    # mlp128's training loss 0.0001 is below mlp16's 0.0004, and the caption says "the most
    # flexible … has the lowest training loss", beside "training 0.000" for both. The printed
    # losses must differ in that order; an exact tie is no lowest.
    caption = _selection([0.6, 0.3, 0.5], [0.6, 0.0004, 0.0001], "mlp16", "mlp16")
    assert "The most flexible, mlp128, has the lowest training loss" in caption
    assert _after(caption, "mlp128: training ", ",") < _after(caption, "mlp16: training ", ",")
    tied = _selection([0.6, 0.3, 0.5], [0.6, 0.0, 0.0], "mlp16", "mlp16")
    assert "has the lowest training loss" not in tied


# ---- §2 critical_points ----


def test_escape_a_run_that_moves_is_not_printed_from_a_value_to_itself():
    # The loss at the saddle is not constant (1 → 0.9999999), so the caption says gradient
    # descent "moves: its loss goes from 1.000 to 1", the same value twice. The two printed
    # losses must differ.
    numbers = caption_numbers.escape()
    numbers["losses"][cp._STARTS[0]] = np.array([1.0] * 79 + [0.9999999])
    caption = cp._escape_caption(numbers)
    assert "moves: its loss goes from" in caption
    assert _after(caption, "its loss goes from ", " to") != _after(caption, " to ", " in 80")


def _spectrum(**changes):
    return cp._spectrum_caption(caption_numbers.spectrum(**{"grad_norm": 5e-4, **changes}))


def test_spectrum_a_gradient_just_above_the_test_is_not_shown_at_it():
    # ‖g‖ = 1.04e-3 > 1e-3: "bring it to 1.0e-03 …, still above the critical-point test
    # ‖g‖ ≤ 1e-03", a value the test passes as printed. It must print above 1e-3.
    caption = _spectrum(grad_norm=1.04e-3)
    assert "still above the critical-point test" in caption
    assert _after(caption, "bring it to ", " (loss") > 1e-3


def test_spectrum_a_near_zero_eigenvalue_is_not_printed_beyond_the_tolerance():
    # tol = 1.7449e-3 (√ε·λmax for λmax ≈ 5) prints as "1.7e-03"; the lowest eigenvalue
    # −1.744e-3 is within it (near zero, 0 negative) yet prints as −0.00174, beyond the printed
    # tolerance. The printed |λ| must be at most the printed tol.
    eigenvalues = np.linspace(-1.744e-3, 5.0, 97)
    caption = _spectrum(
        eig_tol=1.7449e-3, eigenvalues=eigenvalues, num_positive=96, num_zero=1, minimum_ratio=0.99
    )
    assert "0 negative and 1 near-zero" in caption
    tol = _after(caption, "(|λ| ≤ ", ")")
    assert abs(_after(caption, "eigenvalues, from ", " to")) <= tol


def _gauss_newton(grad_norm=1e-5, eig_tol=1e-4, lowest_h=-0.2):
    return cp._gauss_newton_caption(
        {
            "num_negative": {"hessian": 1, "gauss_newton": 0},
            "lowest": {"hessian": lowest_h, "gauss_newton": 1e-7, "difference": -0.2},
            "highest": {"hessian": 4.0, "gauss_newton": 4.0, "difference": 0.2},
            "eig_tol": eig_tol,
            "grad_norm": grad_norm,
            "grad_tol": 1e-3,
            "kind": "saddle",
            "width": 8,
            "n_params": 97,
            "n_examples": 64,
            "loss": 0.02,
        }
    )


def test_gauss_newton_a_gradient_just_above_the_test_is_not_shown_at_it():
    # ‖g‖ = 1.04e-3: "a point above the critical test ‖g‖ ≤ 1e-03 (‖g‖ = 1.0e-03", a value
    # the test passes as printed. It must print above 1e-3.
    caption = _gauss_newton(grad_norm=1.04e-3)
    assert "a point above the critical test" in caption
    assert _after(caption, "(‖g‖ = ", ",") > 1e-3


def test_gauss_newton_a_negative_eigenvalue_is_not_printed_inside_the_tolerance():
    # tol = 1.76e-3 prints as "−tol = −1.8e-03"; the Hessian's one eigenvalue below it,
    # −1.77e-3, prints as "down to -0.00177", above the printed −tol. The printed λ must lie
    # below the printed −tol.
    caption = _gauss_newton(eig_tol=1.76e-3, lowest_h=-1.77e-3)
    tol = _after(caption, "−tol = −", ":")
    assert _after(caption, "the Hessian has 1, down to ", ";") < -tol


# ---- §6 batch_normalization ----


def _training(bn_loss, plain_loss):
    return bn._training_caption(
        {
            "epochs": 3,
            "depth": 4,
            "learning_rate": 0.5,
            "plain_train_loss": np.asarray([1.0, 0.7, plain_loss]),
            "bn_train_loss": np.asarray([1.0, 0.6, bn_loss]),
            "bn_final_val_accuracy": 0.9,
            "plain_final_val_accuracy": 0.88,
            "bn_val_accuracy": np.asarray([0.5, 0.8, 0.9]),
            "plain_val_accuracy": np.asarray([0.5, 0.8, 0.88]),
        }
    )


def test_training_a_lower_loss_is_not_shown_as_1x_lower():
    # 0.520 / 0.500 = 1.04: "a training loss 1.0× lower", no factor at all. The printed
    # factor must be above 1.
    caption = _training(0.500, 0.520)
    assert _after(caption, "a training loss ", "× lower") > 1.0


def test_training_a_lower_loss_is_not_printed_equal_to_the_plain_one():
    # 0.1002 < 0.1004: BatchNorm "ends with a training loss … lower (0.100 vs 0.100)". The
    # printed BatchNorm loss must be below the printed plain one.
    caption = _training(0.1002, 0.1004)
    assert "lower" in caption
    assert _after(caption, "(", " vs") < _after(caption, " vs ", ")")


def test_training_a_higher_loss_is_not_shown_as_1x_higher():
    # 0.520 / 0.500 = 1.04: "its training loss ends 1.0× higher". The printed factor must be
    # above 1.
    caption = _training(0.520, 0.500)
    assert _after(caption, "its training loss ends ", "× higher") > 1.0


def test_training_equal_losses_are_not_called_higher():
    # bn_loss == plain_loss takes the else branch: "its training loss ends 1.0× higher" for
    # two equal losses. The caption must call a loss higher only when it is.
    assert "higher" not in _training(0.5, 0.5)


def _curvature(plain_share, bn_share, plain_negative, bn_negative):
    numbers = caption_numbers.bn_curvature(plain_share, bn_share, plain_negative, bn_negative)
    return bn._curvature_caption(numbers)


def test_curvature_more_negative_curvature_is_not_printed_as_equal_shares():
    # 4/3 against 5/3 eigenvalues of 1,400 below −λmax/100 (0.095% and 0.119%): more than _SAME
    # apart, so "more negative curvature", yet both print "0.1%". The printed shares must
    # differ in the direction stated (jaxtrain._text.percent prints 0.095% and 0.12%).
    plain, with_bn = np.array([1, 1, 2]) / 1400, np.array([2, 1, 2]) / 1400
    caption = _curvature([0.05] * 3, [0.2] * 3, plain, with_bn)
    assert "has more negative curvature" in caption
    shown = _after(caption, "negative curvature (", "% of")
    assert shown > _after(caption, "against ", "% without).")


def test_curvature_many_more_directions_are_not_printed_as_equal_shares():
    # 0.11% against 0.10% of the eigenvalues within 100× of λmax in every seed, 1.1× as many:
    # "many more directions", with both shares printed "0.1%". The printed BatchNorm share
    # must be above the plain one.
    caption = _curvature([0.0010] * 3, [0.0011] * 3, [0.01] * 3, [0.01] * 3)
    assert "many more directions" in caption
    assert _after(caption, "with BatchNorm ", "% of") > _after(caption, "against ", "% without (")


def test_test_time_different_accuracies_are_not_printed_equal():
    # Running statistics give 0.95 for the whole set and 0.947 one example at a time:
    # "0.95 for the whole set and 0.95 one example at a time: different". The two printed
    # accuracies must differ.
    accuracy = {name: 0.95 for name, _, _ in bn._TEST_MODES}
    accuracy["running statistics, batches of one"] = 0.947
    accuracy["batch statistics, batches of one"] = 0.1
    caption = bn._test_time_caption({"accuracy": accuracy, "running_momentum": 0.9})
    assert "different" in caption
    assert _after(caption, "the accuracy is ", " for the whole") != _after(
        caption, "whole set and ", " one example"
    )


def test_curvature_a_branch_without_a_difference_is_not_led_in_as_one():
    # "What differs is the spread below λmax: here BatchNorm makes no consistent difference"
    # contradicted itself.
    for bn_share in ([0.06, 0.045, 0.046], [0.04] * 3):
        caption = _curvature([0.05] * 3, bn_share, [0.01] * 3, [0.01] * 3)
        assert "What differs" not in caption


def test_curvature_more_in_every_seed_but_by_little_is_not_no_consistent_difference():
    # Higher in 3 of 3 seeds, 1.02× as many: "no consistent difference … (1.0× as many, more in
    # 3 of 3 seeds)" contradicted itself.
    caption = _curvature([0.100] * 3, [0.102] * 3, [0.01] * 3, [0.01] * 3)
    assert "no consistent difference" not in caption
    assert "consistently, but only slightly" in caption
    assert "suits all directions' measured" not in caption


def _ratio_runs(runs, n=97):
    """§2 minimum_ratio_vs_loss's numbers for ``runs`` runs of n parameters, losses 1e-6 to 1,
    runs 3 and 40 (where they exist) with ‖g‖ above the tolerance."""
    losses = np.logspace(-6, 0, runs)
    negative, zero = np.where(losses > 0.1, 7, 0), np.full(runs, 88)
    critical = np.ones(runs, bool)
    critical[[row for row in (3, 40) if row < runs]] = False
    return {
        "losses": losses,
        "minimum_ratios": (n - negative - zero) / n,
        "critical": critical,
        "num_negative": negative,
        "num_zero": zero,
        "num_positive": n - negative - zero,
        "grad_tol": 1e-3,
        "ratios_without_tolerance": np.full(runs, 0.5),
        "runs": runs,
        "width": 8,
        "n_params": n,
    }


def test_ratio_figure_labels_of_48_runs_do_not_overlap():
    # Review (2026-12-07): at the full size (48 runs) the right panel labelled every run in
    # 7-pt type on 6-px rows, every label on its neighbours. A label every few rows instead.
    import matplotlib.pyplot as plt

    fig = cp._ratio_figure(_ratio_runs(48))
    fig.canvas.draw()
    boxes = [label.get_window_extent() for label in fig.axes[1].get_yticklabels()]
    assert 2 <= len(boxes) <= 18
    assert not any(a.overlaps(b) for a, b in itertools.pairwise(boxes))
    plt.close(fig)


def test_ratio_figure_keeps_every_non_critical_label_and_draws_no_runs():
    # Review (2026-12-07): thinning the labels dropped run 40's ", ‖g‖ > tol", and 0 runs
    # raised in rows[::0].
    import matplotlib.pyplot as plt

    fig = cp._ratio_figure(_ratio_runs(48))
    labels = [label.get_text() for label in fig.axes[1].get_yticklabels()]
    assert sum(label.endswith("‖g‖ > tol") for label in labels) == 2
    plt.close(fig)
    plt.close(cp._ratio_figure(_ratio_runs(0)))
