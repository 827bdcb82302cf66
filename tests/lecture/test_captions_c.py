"""Captions of §5 loss_functions and of §2's saddle escapes follow from their numbers.

Each test hands a caption function a numbers dict built by hand with the keys its claim
produces (no training), at an edge a run can reach; its comment says what the numbers allow
the caption to say, and what the current wording states instead.
"""

import math

import numpy as np

from jaxtrain.lecture import critical_points as cp
from jaxtrain.lecture import loss_functions as lf


def _two_class(probability=3e-8, loss=6e-8, gradient=6e-8, gradient_sum=0.0, largest=48.0):
    return lf._two_class_caption(
        {
            "num_pairs": 2000,
            "logit_scale": 10.0,
            "tolerance": 1e-5,
            "probability_max_difference": probability,
            "loss_max_relative_difference": loss,
            "gradient_max_difference": gradient,
            "gradient_sum_max": gradient_sum,
            "largest_loss": largest,
        }
    )


def test_two_class_a_nan_loss_difference_is_not_equality():
    # A sigmoid BCE that overflows to inf gives |ce − inf|/(1 + inf) = NaN as the largest
    # relative difference. Python's max() skips a NaN after the first item, so the verdict is
    # "equal up to float32 rounding" beside "at most nan relative". So: test with
    # math.isfinite and say the losses are not finite ("not equal here: a loss is inf").
    caption = _two_class(loss=math.nan, largest=math.inf)
    assert "equal up to float32 rounding" not in caption
    assert "nan" not in caption.lower()


def test_two_class_a_difference_just_above_the_tolerance_does_not_print_as_it():
    # 1.04e-5 > 1e-5, so the verdict is "not equal", but ".1e" prints the largest difference
    # as 1.0e-05, the tolerance itself: "1.0e-05, exceeds 1e-05". So: print it with the digits
    # that show it is above (jaxtrain._text.beside(value, tolerance), "1.04e-05").
    caption = _two_class(gradient=1.04e-5)
    assert "not equal here" in caption
    assert "1.0e-05, exceeds" not in caption


def _surfaces(mse=(2.0, 2.0), ce=(20.0, 0.05), mse_norm=1e-9, ce_norm=1.41):
    return lf._surfaces_caption(
        {
            "start_logits": np.asarray((-10.0, 10.0)),
            "pinned_logit": -1000.0,
            "steps": 200,
            "learning_rate": 1.0,
            "mse_grad_norm_at_start": mse_norm,
            "ce_grad_norm_at_start": ce_norm,
            "mse_loss_at_start": mse[0],
            "mse_loss_after": mse[1],
            "ce_loss_at_start": ce[0],
            "ce_loss_after": ce[1],
        }
    )


def test_surfaces_a_loss_that_rose_does_not_stay():
    # Any end above 0.9 × the start takes the "stays" branch, a rise included: 1.0 → 1.6
    # prints "stays at 1.6 (it started at 1)". So: "rises from 1 to 1.6" when last > first.
    assert "stays at 1.6" not in _surfaces(mse=(1.0, 1.6))


def test_surfaces_a_loss_that_starts_and_ends_at_zero_does_not_fall():
    # A start already right in float32 has loss exactly 0 (log-sum-exp rounds e^-20 away); a
    # loss that stays 0 is not above 0.9 × 0, so the caption says "falls from 0 to 0". So: a
    # fall only when last < first ("stays at 0" otherwise).
    assert "falls from 0 to 0" not in _surfaces(ce=(0.0, 0.0))


def test_surfaces_a_ratio_just_below_the_plateau_threshold_does_not_print_as_it():
    # ce/mse = 999.6 < 1000 (the 1e-3 rule), so "no plateau", but ".2g" prints the ratio as
    # 1e+03, the value that the plateau branch prints as "1.0e+03× flatter". So: print the
    # ratio with the digits that show it is below 1000 ("a ratio of 999.6, no plateau").
    caption = _surfaces(mse_norm=1.41 / 999.6)
    assert "no plateau" in caption
    assert "ratio of 1e+03" not in caption


def _training(mse_acc, ce_acc):
    numbers = {"epochs": 3, "learning_rate": 0.5, "wrong_bias": 10.0, "wrong_class": 9}
    numbers |= {"start_train_accuracy": 0.1, "mse_grad_norm_at_start": 0.4}
    numbers |= {"ce_grad_norm_at_start": 1.2, "mse_first_loss": 1.8, "mse_last_loss": 0.1}
    numbers |= {"ce_first_loss": 9.0, "ce_last_loss": 0.1}
    numbers |= {"mse_train_accuracy": mse_acc, "ce_train_accuracy": ce_acc}
    return lf._training_caption(numbers)


def test_training_a_gain_of_one_digit_does_not_print_as_zero_higher():
    # Both losses train; cross-entropy gets one more of ~1,200 training digits right (0.0008).
    # The caption says it "ends 0.00 higher in training accuracy (0.97 vs 0.97)", a gain its
    # printed numbers do not show. So: print enough digits, or call it "about the same".
    caption = _training(0.9700, 0.9700 + 1 / 1200)
    assert "0.00 higher" not in caption


def _escapes(steps, meets, *, learning_rate=0.1, lambda_min=-2.0, kicks=1):
    methods = ["gradient descent", "GD + small noise", *meets]
    name = "toy"
    return {
        "cases": [name],
        "methods": methods,
        "lambda_min": {name: lambda_min},
        "learning_rate": {name: learning_rate},
        "budget": {name: 400},
        "steps": {name: dict(zip(methods, steps, strict=True))},
        "cost": {name: dict(zip(methods, steps, strict=True))},
        "meets_target": {name: meets},
        "perturbations": {name: {**dict.fromkeys(methods, 0), "perturbed GD": kicks}},
        "perturbation_settings": {
            name: {"gradient_threshold": 0.01, "radius": 0.001, "escape_steps": 300}
        },
    }


_PERTURBED_MISSES = {
    "perturbed GD": False,
    "negative-curvature descent": True,
    "saddle-free Newton": True,
}


def test_saddle_escapes_a_missed_target_in_one_step_is_singular():
    # A transform misses the target in 1 step when gradient descent needs 2 to 4 (5·1 > 4):
    # the missed list prints "(1 steps vs gradient descent's 4)". So: counted(steps, "step").
    meets = dict.fromkeys(_PERTURBED_MISSES, False)
    caption = cp._saddle_escapes_caption(_escapes([4, 4, 1, 1, 1], meets))
    assert "saddle-free Newton on toy" in caption
    assert "(1 steps" not in caption


def test_perturbed_gd_one_e_folding_step_is_singular():
    # ηℓ < 2 and ℓ ≥ |λmin| allow 1/(η|λmin|) anywhere above ½; at η = 0.5, λmin = −2 it is
    # 1, printed "1/(η|λmin|) = 1 steps". So: counted() on the rounded value, or "1 step".
    numbers = _escapes([100, 90, 30, 10, 5], _PERTURBED_MISSES, learning_rate=0.5)
    caption = cp._saddle_escapes_caption(numbers)
    assert "1/(η|λmin|) = 1" in caption
    assert "= 1 steps" not in caption


def test_perturbed_gd_a_fifth_of_the_steps_does_not_print_as_zero_e_foldings():
    # On a shallow saddle (λmin = −0.005, η = 1: an e-folding takes 200 steps) gradient descent
    # can fall below the target in 40 steps, pushed by the gradient: a fifth of its steps is 8,
    # 0.04 e-foldings, printed "is 0.0 of them". So: ".2g", or "less than 0.1 of them".
    numbers = _escapes([40, 40, 10, 5, 3], _PERTURBED_MISSES, learning_rate=1.0, lambda_min=-0.005)
    caption = cp._saddle_escapes_caption(numbers)
    assert "1/(η|λmin|) = 200 steps" in caption
    assert "is 0.0 of them" not in caption


def _escapes_of_the_full_tour():
    # Steps to half the start loss in the full tour (2026-12-07); None: never in the budget.
    steps = {
        "toy": [None, 35, 40, 4, 2],
        "deep linear": [None, 28, 30, 5, 3],
        "XOR": [None, 35, 66, 11, 3],
        "digits": [1536, 1503, 1536, 204, 9],
    }
    met = dict.fromkeys(_PERTURBED_MISSES, True)
    cases = {
        name: _escapes(case_steps, _PERTURBED_MISSES if name == "digits" else met)
        for name, case_steps in steps.items()
    }
    numbers = {"cases": list(steps), "methods": cases["toy"]["methods"]}
    for key in cases["toy"].keys() - numbers.keys():
        numbers[key] = {name: case[key]["toy"] for name, case in cases.items()}
    return numbers


def test_saddle_escapes_where_descent_never_moves_compares_with_the_noisy_baseline():
    # Review (2026-12-07): started at g = 0, gradient descent never escapes the toy, deep
    # linear and XOR saddles, so the target is met by any escape, perturbed GD's too, though
    # it took more steps than plain GD with small noise on all three. The caption says so.
    caption = cp._saddle_escapes_caption(_escapes_of_the_full_tour())
    assert (
        "Where gradient descent never escapes (toy, deep linear, XOR) any escape meets the "
        "target, so compare with GD + small noise, which escapes there in 35, 28, 35 steps: "
        "perturbed GD took more steps on all 3 (40, 30, 66), negative-curvature descent took "
        "fewer steps on all 3 (4, 5, 11), saddle-free Newton took fewer steps on all 3 (2, 3, 3)."
    ) in caption


def test_surfaces_caption_a_loss_that_became_nan_does_not_fall():
    # Every comparison with NaN is False, so the last branch ("falls from 2 to nan") won.
    caption = _surfaces(mse=(2.0, float("nan")))
    assert "falls from 2 to nan" not in caption and "(not finite)" in caption


def test_two_class_draws_its_conclusion_only_where_the_two_are_equal():
    # "Only the difference z₁ − z₀ matters, so a two-class network can use one output" ended
    # the caption after "not equal here" too.
    assert "can use one output and a sigmoid" in _two_class()
    assert "can use one output" not in _two_class(probability=0.3)
    assert "can use one output" not in _two_class(probability=math.nan)


def test_two_class_a_non_finite_probability_difference_blames_no_loss():
    # A NaN in the probabilities' difference was put down to "a loss overflowed".
    caption = _two_class(probability=math.nan)
    assert "a loss overflowed" not in caption and "not finite" in caption


def test_surfaces_caption_prints_a_non_finite_loss_as_the_other_captions_do():
    # "goes from 2 to nan": report.json has null there and the numbers panel "n/a".
    caption = _surfaces(mse=(2.0, float("nan")))
    assert "to nan" not in caption and "to n/a (not finite)" in caption


def test_saddle_escapes_count_the_line_searches_loss_evaluations():
    # "(cost 7)" counted gradients and Hessian-vector products only: saddle-free Newton's 5
    # loss evaluations on the toy went unsaid.
    numbers = _escapes([500, 35, 40, 4, 2], dict.fromkeys(_PERTURBED_MISSES, True))
    numbers["cost"]["toy"].update({"negative-curvature descent": 7, "saddle-free Newton": 7})
    numbers["loss_evaluations"] = {
        "toy": {
            **dict.fromkeys(numbers["methods"], 0),
            "negative-curvature descent": 3,
            "saddle-free Newton": 5,
        }
    }
    caption = cp._saddle_escapes_caption(numbers)
    assert "saddle-free Newton 2 (cost 7; 5 loss evaluations)" in caption
    assert "perturbed GD 40," in caption  # no cost where there is nothing beyond its steps


def test_saddle_escapes_a_single_case_is_not_called_every_case():
    # The quick run has the toy only: "Each transform met the target on every case."
    numbers = _escapes([500, 35, 40, 4, 2], dict.fromkeys(_PERTURBED_MISSES, True))
    caption = cp._saddle_escapes_caption(numbers)
    assert "on every case" not in caption and "met the target on toy" in caption


def test_saddle_escapes_a_transform_that_never_escaped_did_not_take_more_steps():
    # Review (2026-12-07): "never" was counted as "took more steps (never)".
    numbers = _escapes_of_the_full_tour()
    numbers["steps"]["XOR"]["perturbed GD"] = None
    caption = cp._saddle_escapes_caption(numbers)
    assert "perturbed GD took more steps on 2 and never escaped on 1 of the 3 (40, 30, never)" in (
        caption
    )
