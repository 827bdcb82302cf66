"""Every caption of §1 task_strategy and §2 critical_points follows from its numbers.

Each test hands a caption function a numbers dict built by hand with the keys its claim
produces (no training), at the edges a run can reach; its comment says what the numbers
allow the caption to say, and what a careless wording would state instead.
"""

import math

import caption_numbers
import numpy as np
import pytest

from jaxtrain.lecture import critical_points as cp
from jaxtrain.lecture import task_strategy as ts

_flowchart = caption_numbers.flowchart


def test_budget_words_say_one_seed_in_the_singular():
    caption = ts._model_bias_caption(
        _flowchart("model_bias", {"linear": 0.9, "mlp": 0.1}, points=600)
    )
    assert "1 seed)" in caption and "1 seeds" not in caption
    assert "gets it below the threshold" in caption


def test_model_bias_a_loss_at_the_threshold_is_not_large():
    # 'large' means above the threshold (0.2 here), as the flowchart reads it: an MLP at 0.2
    # exactly is not large (audit, 2026-12-07: "<" for "<=" passed every caption test).
    caption = ts._model_bias_caption(
        _flowchart("model_bias", {"linear": 0.9, "mlp": 0.2}, points=600)
    )
    assert "gets it below the threshold" in caption and "though not below" not in caption


def test_model_bias_does_not_say_the_mlp_got_lower_when_it_did_not():
    # decide() returns "model_bias" also when no more flexible candidate trains better (its
    # "No candidate gets the training loss down" reason); the comparisons record better=False.
    # Here the MLP's loss is *higher* (0.95 > 0.90), yet the caption says it "gets it lower".
    # So: branch on comparisons[mlp]["better"] / train[mlp] < train[linear], e.g. "neither
    # model gets it down (MLP 0.95): no candidate fits, model bias by elimination".
    numbers = _flowchart("model_bias", {"linear": 0.90, "mlp": 0.95}, points=600)
    numbers["comparisons"] = {"mlp": {"difference": -0.05, "standard_error": math.nan}}
    numbers["comparisons"]["mlp"]["better"] = False
    assert "gets it lower" not in ts._model_bias_caption(numbers)


def test_deep_vs_shallow_small_losses_were_never_compared_by_a_margin():
    # Both training losses are below the 'large' threshold (0.2), so decide() never compares
    # the candidates (comparisons is empty) and the verdict is "ok". The deep net is 0.14 B
    # worse, beyond min_difference (0.05): "not beyond the flowchart's margin" is false.
    # So: "both training losses are small (below 0.2 B), so the flowchart does not compare
    # them; the deep net trains worse here (…), verdict “ok”".
    numbers = _flowchart("ok", {"shallow": 0.01, "deep": 0.15}, depth=6)
    caption = ts._deep_vs_shallow_caption(numbers)
    assert "not beyond the flowchart's margin" not in caption


def _wrong(**changes):
    return ts._what_went_wrong_caption(caption_numbers.what_went_wrong(**changes))


def test_what_went_wrong_states_a_lower_loss_only_above_one():
    # Pinned: the top cause needs soft_ge(probe_gain, 1.5) ≥ ½, so the gain is ≥ 1.5 here.
    assert "had a 3.00 × lower loss" in _wrong()


def test_what_went_wrong_compares_the_re_run_where_it_was_compared():
    # Review (2026-12-07): "The training loss ends at 0.30 × B ... the same run at 0.025·η
    # ended with a 23.69 × lower loss" read as the two runs' ends, but the re-run lasts half
    # the run and the gain compares the two over the re-run's last tenth of steps (10.8×
    # against the run's end). The caption now says how long and where.
    caption = _wrong(probe_steps=198)
    assert (
        "on the same batches for the first 198 of its 396 steps, had a 3.00 × lower loss" in caption
    )
    assert "than the run over the last tenth of those steps" in caption
    assert "ended with" not in caption


def test_what_went_wrong_a_diverged_run_prints_no_inf():
    # numbers["diverged"] is recorded but ignored: a diverged run has final loss inf (so
    # loss_over_baseline inf), loss_rise inf, and probe_gain inf when the probe survived its
    # window (unstable() is 1 and soft_ge(inf) is 1, so this is the top cause). The caption
    # prints "ends at inf × the baseline B", "climbed back to inf ×", "a inf × lower loss".
    # So: "the loss diverged (at step k)"; "the re-run at 0.05·η did not diverge".
    caption = _wrong(diverged=True, loss_over_baseline=math.inf, loss_rise=math.inf,
                     probe_gain=math.inf)  # fmt: skip
    assert "inf" not in caption


def test_what_went_wrong_an_unmeasured_sharpness_prints_no_nan():
    # sharpness_ratio is NaN when no measurement was finite (e.g. an early divergence);
    # explain's own text drops the clause then. So: leave the sharpness sentence out.
    assert "nan" not in _wrong(sharpness_over_threshold=math.nan, diverged=True).lower()


def test_what_went_wrong_a_loss_that_never_rose_did_not_climb_back():
    # unstable() is a max over the sharpness, the loss rise and the step size, so the top
    # cause can stand on the sharpness alone with loss_rise = 0. "climbed back to 1.00 × its
    # lowest value" then says a rise that did not happen. So: state the rise only when
    # loss_rise > 0 ("the smoothed loss never rose above its lowest value" otherwise).
    assert "climbed back to 1.00" not in _wrong(loss_rise=0.0)


def _spectrum(**changes):
    return cp._spectrum_caption(caption_numbers.spectrum(**changes))


def test_spectrum_a_point_above_the_gradient_test_is_no_minimum():
    # ‖g‖ = 0.05 > 1e-3: the caption itself says "still above the critical-point test" (the
    # report's kind is "not_critical"), then calls the point "a strict local minimum". A point
    # with g ≠ 0 is no minimum. So: "every eigenvalue positive, but ‖g‖ is above the test,
    # so the Hessian test does not apply" (verdict conditioned on grad_norm ≤ grad_tol).
    caption = _spectrum()
    assert "still above the critical-point test" in caption
    assert "strict local minimum" not in caption


def _ratio(critical, negative, zero, **changes):
    critical = np.asarray(critical)
    negative, zero = np.asarray(negative), np.asarray(zero)
    numbers = {
        "runs": critical.size,
        "width": 8,
        "n_params": 97,
        "n_examples": 64,
        "adam_steps": 400,
        "grad_tol": 1e-3,
        "critical": critical,
        "losses": np.linspace(0.5, 0.01, critical.size),
        "minimum_ratios": (97 - negative - zero) / 97,
        "ratios_without_tolerance": (97 - negative) / 97,
        "num_negative": negative,
        "num_zero": zero,
        "num_critical": int(critical.sum()),
        "num_strict_minima": int((critical & (negative == 0) & (zero == 0)).sum()),
        "correlation": None,
        "slope_per_decade": None,
    }
    return cp._ratio_caption({**numbers, **changes})


def test_ratio_caption_agrees_in_number_for_one_point():
    # One critical saddle and one critical point without negative curvature (2 reach the
    # test) print "1 are saddles" and "1 have no negative eigenvalue"; one critical point
    # prints "1 reach". So: "1 is a saddle", "1 has no negative eigenvalue", "1 reaches"
    # (jaxtrain._text.counted, or the is/are switch the strict-minimum clause already has).
    caption = _ratio([True, True, False], [2, 0, 0], [0, 3, 0])
    assert "1 are saddles" not in caption and "1 have no negative" not in caption
    assert "1 reach ‖g‖" not in _ratio([True, False], [2, 0], [0, 0])


def test_ratio_caption_a_strict_minimum_has_no_ratio_below_one():
    # Both critical points without negative curvature are strict minima (0 near-zero
    # eigenvalues, ratio 97/97 = 1), yet the caption says "their ratio below 1 because 0 of
    # the 97 eigenvalues are near zero". So: say "ratio below 1" only for the points with
    # num_zero > 0 (or drop the clause when every such point has num_zero == 0).
    caption = _ratio([True, True, True], [3, 0, 0], [0, 0, 0])
    assert "1 are strict local minima" not in caption  # pinned: 2 → "are", fine
    assert "their ratio below 1 because 0 of" not in caption


def test_ratio_caption_the_printed_r_matches_its_reading():
    # r = −0.2996 prints as "r = -0.30" and is then read as "no clear trend (|r| < 0.3)":
    # the printed value contradicts the words. So: classify on the printed (rounded) r,
    # or print it with the digits that show |r| < 0.3 (as _above does for the escape ratio).
    caption = _ratio([True] * 4, [0] * 4, [3] * 4, correlation=-0.2996, slope_per_decade=-0.01)
    assert not ("r = -0.30" in caption and "|r| < 0.3" in caption)


def _gauss_newton(hessian_negative, gn_negative, lowest_h, lowest_gn):
    return cp._gauss_newton_caption(
        {
            "num_negative": {"hessian": hessian_negative, "gauss_newton": gn_negative},
            "lowest": {"hessian": lowest_h, "gauss_newton": lowest_gn, "difference": -0.2},
            "highest": {"hessian": 4.0, "gauss_newton": 4.0, "difference": 0.2},
            "eig_tol": 1e-4,
            "grad_norm": 1e-5,
            "grad_tol": 1e-3,
            "kind": "saddle" if hessian_negative else "degenerate",
            "width": 8,
            "n_params": 97,
            "n_examples": 64,
            "loss": 0.02,
        }
    )


def test_gauss_newton_caption_without_a_negative_hessian_eigenvalue():
    # Without a critical saddle, hessian_vs_gauss_newton picks the point of lowest λmin; it can
    # have no λ < −tol. The caption then reads "the Hessian has 0, down to 2e-05" and ends
    # "G cannot show this point's ways down", a way down its numbers do not have. So: "the
    # Hessian has none (its smallest is 2.0e-05)" and no ways-down sentence at such a point.
    caption = _gauss_newton(0, 0, 2e-5, 1e-7)
    assert "has 0, down to" not in caption
    assert "cannot show this point's ways down" not in caption


def _escapes(steps, meets):
    methods = ["gradient descent", "GD + small noise", *meets]
    name = "toy"
    return {
        "cases": [name],
        "methods": methods,
        "lambda_min": {name: -2.0},
        "learning_rate": {name: 0.1},
        "budget": {name: 400},
        "steps": {name: dict(zip(methods, steps, strict=True))},
        "cost": {name: dict(zip(methods, steps, strict=True))},
        "meets_target": {name: meets},
        "perturbations": {name: dict.fromkeys(methods, 1)},
        "perturbation_settings": {
            name: {"gradient_threshold": 0.01, "radius": 0.001, "escape_steps": 300}
        },
    }


def test_saddle_escapes_a_fifth_exactly_meets_the_target():
    # Pinned: meets_target is 5·steps ≤ descent, the caption's "at most a fifth": 10 of 50.
    meets = {"perturbed GD": True, "negative-curvature descent": True, "saddle-free Newton": True}
    caption = cp._saddle_escapes_caption(_escapes([50, 40, 10, 3, 2], meets))
    assert "Each transform met the target on toy, the one case run." in caption
    assert "gradient descent 50, GD + small noise 40, perturbed GD 10" in caption


def test_augmentation_a_gain_that_prints_as_zero_is_not_help():
    # 5 seeds of ~650 validation digits: a mean gain of one digit in 3,250 is 0.03 points.
    # "The shift helps ... (+0.0 points" states help its printed number does not show.
    # So: print enough digits (as _above does) or call a gain that rounds to 0 "no gain".
    none = np.full(5, 0.90)
    shift = none + np.array([1 / 650, 0, 0, 0, 0])
    caption = ts._augmentation_caption(
        {
            "epochs": 30,
            "seeds": [0, 1, 2, 3, 4],
            "val_accuracy": {"none": none, "shift": none - 0.01, "upside down": none - 0.05},
            "shifted_val_accuracy": {"none": none, "shift": shift, "upside down": none - 0.05},
        }
    )
    assert "helps where the test digits are shifted (+0.0" not in caption
    assert "does not help even on shifted digits (0.0 points)" in caption  # no sign on zero


@pytest.mark.parametrize(
    ("gain", "said", "not_said"),
    [
        (0.5, "2.00 × higher loss", "lower loss"),
        (0.0, "of its 396 steps, diverged", "lower loss"),
        (math.nan, "no lower-η re-run was made", "nan"),
    ],
)
def test_what_went_wrong_says_what_the_probe_did_whatever_its_gain(gain, said, not_said):
    # "ended with a 0.50 × lower loss" read a worse re-run as a better one, and NaN printed.
    caption = _wrong(probe_gain=gain)
    assert said in caption and not_said not in caption


@pytest.mark.parametrize("diverged", [False, True])
def test_what_went_wrong_a_gain_of_one_is_no_higher_loss(diverged):
    # probe_gain = 1: the re-run ended with the run's own loss (or, for a diverged run,
    # diagnose's "both diverged"), yet the caption said "ended with a 1.00 × higher loss".
    # So: the same loss, or the re-run diverged too, as diagnose's own text says.
    caption = _wrong(probe_gain=1.0, diverged=diverged)
    assert "higher loss" not in caption and "lower loss" not in caption
    said = "diverged too" if diverged else "had the run's loss over the last tenth of those"
    assert said in caption


def test_model_bias_a_non_finite_mlp_loss_prints_as_in_the_list():
    # The listing prints a NaN MLP loss "n/a"; the outcome clause printed the same number as
    # a bare "(nan)": one number, two spellings, one of them Python's.
    caption = ts._model_bias_caption(
        _flowchart("model_bias", {"linear": 0.9, "mlp": math.nan}, points=600)
    )
    assert "MLP n/a" in caption
    assert "does not get it lower either (n/a)" in caption and "nan" not in caption


def test_augmentation_states_the_differences_its_printed_means_give():
    # Review (2026-12-07), the full tour's accuracies: means printed 0.968, 0.909, 0.947 and
    # "costs 6.0 points", "2.2 points lower" (unrounded differences); the printed means give
    # 5.9 and 2.1.
    val = {
        "none": np.array([0.95822, 0.96657, 0.96936, 0.97493, 0.97214]),
        "shift": np.array([0.92201, 0.88579, 0.89136, 0.92479, 0.91922]),
        "upside down": np.array([0.94429, 0.93872, 0.94429, 0.96100, 0.94429]),
    }
    shifted = {
        "none": np.array([0.38719, 0.37326, 0.33983, 0.37604, 0.39833]),
        "shift": np.array([0.86630, 0.87187, 0.87187, 0.91365, 0.90808]),
        "upside down": np.array([0.35097, 0.35376, 0.32869, 0.35933, 0.33983]),
    }
    numbers = {"epochs": 30, "seeds": [0, 1, 2, 3, 4]}
    numbers |= {"val_accuracy": val, "shifted_val_accuracy": shifted}
    caption = ts._augmentation_caption(numbers)
    assert "none 0.968, shift 0.909, upside down 0.947;" in caption
    assert "none 0.375, shift 0.886, upside down 0.347." in caption
    assert "(+51.1 points, on 5 of 5 seeds) and costs 5.9 points" in caption
    assert "Upside down helps on neither: 2.1 points lower" in caption
    assert "2.8 on shifted ones" in caption


def test_augmentation_an_unchanged_accuracy_prints_no_minus_sign():
    # Equal accuracies with and without the shift on centered digits, and upside down equal to
    # no augmentation on both sets: the caption printed "-0.0 points", a sign on no change.
    none = np.array([0.90, 0.92])
    caption = ts._augmentation_caption(
        {
            "epochs": 8,
            "seeds": [0, 1],
            "val_accuracy": {"none": none, "shift": none, "upside down": none},
            "shifted_val_accuracy": {
                "none": none - 0.10,
                "shift": none - 0.02,
                "upside down": none - 0.10,
            },
        }
    )
    assert "-0.0" not in caption
    assert "costs nothing on centered digits here (0.0 points)" in caption
    assert "(0.0 points centered, 0.0 shifted)" in caption


@pytest.mark.parametrize(
    ("growth", "said"),
    [
        (1.2000004, "grows 1.200× per step, as 1 − ηλ = 1.200 predicts"),
        (1.05, "grows 1.050× per step, not the 1.200× that 1 − ηλ predicts"),
        (0.8, "shrinks, by 0.800× per step, not the 1.200× that 1 − ηλ predicts"),
        (math.nan, "growth along u was not measured (n/a); 1 − ηλ predicts 1.200×"),
    ],
)
def test_escape_the_nudge_grows_as_predicted_only_where_it_does(growth, said):
    # "grows 1.050× per step, as 1 − ηλ = 1.200 predicts" whatever the measured growth was:
    # a factor that shrinks the nudge, or a NaN ("grows nan×"), was called the prediction.
    # So: "as … predicts" only where both print the same; otherwise say how they differ.
    caption = cp._escape_caption(caption_numbers.escape(growth_per_step=growth))
    assert said in caption
    assert ("as 1 − ηλ" in caption) == (growth == 1.2000004)


def test_escape_growth_and_prediction_print_in_the_same_digits():
    # A growth just above 1 printed with the digits that show it above 1 (1.0005) beside a
    # prediction in 3 decimals (1.000) read "not the 1.000× that 1 − ηλ predicts" for equal
    # numbers.
    assert cp._growth_text(1.0005, 1.0005) == (
        "The nudge's component along u grows 1.0005× per step, as 1 − ηλ = 1.0005 predicts."
    )
    assert "not the 1.0010×" in cp._growth_text(1.0005, 1.001)


def test_ratio_caption_every_saddle_higher_shows_in_the_printed_losses():
    # Saddles at losses 0.5 and 0.01249, the other critical points at 0.01246 and 0.001: every
    # saddle is higher, but 2 significant digits print the spans "0.012 to 0.5" and "0.001 to
    # 0.012", the same 0.012 at both ends of the comparison. The spans must print apart.
    losses = np.array([0.5, 0.01249, 0.01246, 0.001])
    caption = _ratio([True] * 4, [2, 2, 0, 0], [0, 0, 3, 0], losses=losses)
    assert "Every saddle has a higher loss than every point without negative curvature" in caption
    assert "(a λ < −tol; loss 0.01249 to 0.5)" in caption
    assert "no negative eigenvalue (loss 0.001 to 0.01246)" in caption


def test_ratio_caption_every_saddle_lower_is_not_an_overlap():
    # Saddles at losses 0.01-0.02, the points without negative curvature at 0.4-0.5: apart,
    # the other way round from the lecture's picture, and the caption said they overlap.
    losses = np.array([0.5, 0.4, 0.02, 0.01])
    caption = _ratio([True] * 4, [0, 0, 2, 2], [0, 0, 0, 0], losses=losses)
    assert "overlap in loss" not in caption, caption
    assert "Every saddle has a lower loss than every point without negative curvature" in caption
    # Equal ends overlap.
    caption = _ratio([True] * 2, [2, 0], [0, 0], losses=np.array([0.3, 0.3]))
    assert "overlap in loss" in caption, caption


def test_gauss_newton_caption_negative_eigenvalues_of_g_are_not_no_way_down():
    # H has no λ < −tol, G has 2 (down to −0.003): the caption listed G's two, then ended
    # "here neither shows a way down". JᵀH_ℓJ ⪰ 0 in exact arithmetic, so the caption says
    # that G has them where H has none, and no more.
    caption = _gauss_newton(0, 2, 2e-5, -3e-3)
    assert "the same point has 2, down to -0.003" in caption
    assert "neither shows a way down" not in caption
    assert "here G has eigenvalues below −tol where H has none" in caption


def test_what_went_wrong_a_probe_without_a_step_count_or_with_a_negative_gain():
    # Review (2026-12-07): a NaN step count raised in int(), and a negative gain (a loss below
    # 0 on one side) printed "a -0.50 × higher loss".
    assert "for the first" not in _wrong(probe_steps=math.nan)
    assert "had a 3.00 × lower loss" in _wrong(probe_steps=math.nan)
    assert "150 of its 396 steps" not in _wrong(probe_steps=150.7)
    assert "151 of its 396 steps" in _wrong(probe_steps=150.7)
    negative = _wrong(probe_gain=-2.0)
    assert "which no ratio compares" in negative and "-0.50" not in negative
