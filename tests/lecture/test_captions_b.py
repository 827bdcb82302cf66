"""Captions of §3, §4, §5 and §6 against hand-built numbers: every caption states only what its
own numbers show. No training runs; each dict has the keys its claim builds."""

import math

import caption_numbers
import numpy as np

from jaxtrain.lecture import adaptive_learning_rate as alr
from jaxtrain.lecture import batch_and_momentum as bm
from jaxtrain.lecture import batch_normalization as bn
from jaxtrain.lecture import loss_functions as lf

NAN, INF = math.nan, math.inf


def _critical(steps, noise, b_simple, b_crit=NAN, s_min=NAN):
    return {
        "batch_size": np.asarray([1, 16, 1000]),
        "steps": np.asarray(steps, np.float64),
        "noise_scale": np.asarray(noise, np.float64),
        "learning_rate": 0.05,
        "num_examples": 1000,
        "target_loss": 0.2,
        "b_crit": b_crit,
        "s_min": s_min,
        "b_simple": b_simple,
    }


def test_critical_caption_a_knee_above_b_simple_is_its_ratio_above_it():
    # B_crit = 50 against B_simple = 10: the knee sits 5× above B_simple (never "0.2× above").
    numbers = _critical([480, 60, 50], [NAN, 10.0, 10.0], 10.0, b_crit=50.0, s_min=40.0)
    caption = bm._critical_caption(numbers)
    assert "B_simple = 10.00: the knee sits 5.0× above it, far from" in caption
    numbers = _critical([480, 60, 50], [NAN, 10.0, 10.0], 10.0, b_crit=2.0, s_min=40.0)
    assert "the knee sits 5.0× below it, far from" in bm._critical_caption(numbers)


def test_critical_caption_with_one_reached_size_does_not_go_from_it_to_itself():
    # The runs after the first are capped at 1.5·S + window, so only B = 1 may reach the target:
    # the caption then gives that one count ("are 480 at B = 1") and names the sizes that
    # missed, instead of a range from a size to itself.
    caption = bm._critical_caption(_critical([480, NAN, NAN], [NAN, 50.0, 60.0], 60.0))
    assert "to 480 at B = 1 " not in caption and "to 480 at B = 1(" not in caption


def test_critical_caption_does_not_print_an_infinite_median_as_inf():
    # A smaller batch's median may be +inf (|G|² not resolved above the noise); the caption
    # says what that means, as it does for B_simple, rather than printing a bare "inf".
    numbers = _critical([480, 300, 250], [NAN, INF, 60.0], 60.0, b_crit=20.0, s_min=240.0)
    assert "median of inf" not in bm._critical_caption(numbers)


def test_critical_caption_median_is_not_up_to_a_target_the_run_missed():
    # When the largest batch misses the target its median is over the whole run, so the
    # caption does not call it a median up to the target.
    caption = bm._critical_caption(_critical([480, 300, NAN], [NAN, 40.0, 60.0], 60.0))
    assert "not reached within the cap at B = 1000" in caption
    assert "median up to the target" not in caption


def test_critical_caption_a_zero_noise_scale_gives_the_knee_no_scale():
    # The whole set as one batch has no sampling noise: B_simple = 0 beside a fitted B_crit
    # raised ZeroDivisionError (the knee "sits 1/0× above it"). So: say B_simple gives no
    # scale to compare the knee with.
    numbers = _critical([614, 73, 73], [NAN, 60.2, 0.0], 0.0, b_crit=8.4, s_min=58.0)
    caption = bm._critical_caption(numbers)
    assert "B_simple = 0.00: the estimate of tr(Σ) is not positive there" in caption
    assert "the knee sits" not in caption


def _ridge_numbers(plain, momentum, large):
    numbers = {"start": 2.5, "steps": 150, "learning_rate": 0.01, "momentum": 0.9}
    numbers |= {"ridge_theta": 0.13, "gd_final_theta": 1.35, "gd_final_loss": -2.6}
    numbers |= {"momentum_final_theta": -1.47, "momentum_final_loss": -5.4, "digits_epochs": 5}
    numbers |= {"digits_batch_size": 16, "digits_learning_rate": 0.01}
    numbers |= {"digits_large_learning_rate": 0.1, "digits_seeds": np.asarray([0, 1])}
    numbers["digits_sgd_final_loss"] = np.asarray(plain)
    numbers["digits_momentum_final_loss"] = np.asarray(momentum)
    numbers["digits_sgd_large_final_loss"] = np.asarray(large)
    return numbers


def test_momentum_caption_claims_no_gain_when_momentum_is_worse():
    # Momentum ends higher than plain SGD in every seed and within 10% of the larger step:
    # with no gain to explain, the caption says momentum is not lower and states no gain.
    caption = bm._momentum_caption(_ridge_numbers([0.5, 0.5], [0.6, 0.6], [0.6, 0.6]))
    assert "momentum is not lower than plain SGD" in caption
    assert "its gain" not in caption


def test_batch_caption_at_exactly_equal_epoch_times_is_not_faster():
    # Equal epoch times are "not faster", and equal accuracies are counted as ties.
    acc = np.asarray([0.9, 0.9])
    numbers = {"learning_rate": 0.1, "epochs": 5, "n_train": 1437, "seeds": np.asarray([0, 1])}
    numbers |= {"batch_16_seconds_per_epoch": 0.01, "full_batch_seconds_per_epoch": 0.01}
    for key, updates in (("batch_16", 445), ("full_equal_epochs", 5), ("full_equal_updates", 445)):
        numbers[f"{key}_updates"] = updates
        numbers[f"{key}_train_accuracy"] = numbers[f"{key}_val_accuracy"] = acc
    numbers["full_equal_epochs_val_accuracy"] = np.asarray([0.3, 0.3])
    caption = bm._batch_caption(numbers)
    assert "is not faster" in caption and "× faster" not in caption
    assert "tied in 2 of 2 seeds" in caption and "does not show in these runs" in caption


def _edge_run(start_ratio, lowest, lowest_step, edge_step):
    return caption_numbers.edge_run(
        learning_rate=0.1,
        loss=np.linspace(1.0, 0.01, 3000),
        threshold=20.0,
        sharpness_start=20.0 * start_ratio,
        lowest_ratio=lowest,
        lowest_step=lowest_step,
        edge_step=edge_step,
        hover_from=1500,
        hover_to=2975,
    )


def test_edge_caption_does_not_say_fell_and_back_for_progressive_sharpening():
    # λmax·η/2 starts at 0.40 (its lowest, at step 0) and rises to ≥ 0.95 by step 600: Cohen et
    # al.'s progressive sharpening. The ratio rose; it "fell … and was back" only when the first
    # measured ratio (sharpness_start/threshold) was already ≥ 0.95.
    numbers = {"num_examples": 1000, "runs": {"gd η=0.1": _edge_run(0.4, 0.4, 0, 600)}}
    caption = alr._edge_caption(numbers)
    assert "fell to 0.40 at step 0" not in caption and "was back at" not in caption


def test_edge_caption_does_not_say_never_back_for_a_ratio_never_at_the_edge():
    # The ratio starts at 0.30 and never reaches 0.95; "never back at" would say it had been
    # there.
    run = _edge_run(0.3, 0.2, 100, None) | {"hover_min": 0.6, "hover_max": 0.8}
    caption = alr._edge_caption({"num_examples": 1000, "runs": {"gd η=0.1": run}})
    assert "never back at" not in caption


def _stuck(start, end, ratio=1.2):
    return caption_numbers.stuck(
        loss_at_half=start,
        loss_end=end,
        last_half_fall=start - end,
        last_half_sharpness_ratio_median=ratio,
    )


def test_stuck_caption_does_not_call_a_rise_a_negative_percent_lower():
    # Over the last half the loss rose 0.1 → 0.11: that is 10% higher, not "-10% lower".
    caption = alr._stuck_caption(_stuck(0.1, 0.11))
    assert "(10% higher)" in caption and "rose by 0.01 instead" in caption
    assert "-10% lower" not in caption
    assert "a stalling loss does not mean a small gradient" in caption


def test_stuck_caption_below_one_does_not_present_the_bounce_as_the_explanation():
    # With λmax·η/2 = 0.60 a step does not overshoot, so the lecture's explanation (the
    # parameters bounce between the walls of a valley) is not presented as what the run shows.
    caption = alr._stuck_caption(_stuck(0.2, 0.1, ratio=0.6))
    assert "does not overshoot along the sharpest direction (the lecture's" not in caption


def test_stuck_caption_at_the_edge_keeps_the_explanation():
    # At λmax·η/2 ≥ 1 a step overshoots, and the caption gives the lecture's explanation.
    caption = alr._stuck_caption(_stuck(0.2, 0.1, ratio=1.2))
    assert "(50% lower)" in caption and "a step of η overshoots" in caption


def test_bn_caption_within_two_percent_of_ln10_means_within_on_both_sides():
    # A deep sigmoid net at initialization can start above ln 10 (random logits). A plain loss
    # of 2.60 → 2.45 is 13% → 6% above ln 10 = 2.30: not within 2% of it, though it never
    # falls more than 2% below.
    numbers = {
        "epochs": 3,
        "depth": 4,
        "learning_rate": 0.5,
        "plain_train_loss": np.asarray([2.60, 2.50, 2.45]),
        "bn_train_loss": np.asarray([1.0, 0.3, 0.1]),
        "bn_final_val_accuracy": 0.95,
        "plain_final_val_accuracy": 0.10,
        "bn_val_accuracy": np.asarray([0.9, 0.94, 0.95]),
        "plain_val_accuracy": np.asarray([0.1, 0.1, 0.1]),
    }
    assert "stays within 2% of" not in bn._training_caption(numbers)


def _bn_training(plain, with_bn):
    numbers = {"epochs": len(plain), "depth": 4, "learning_rate": 0.5}
    numbers |= {"plain_train_loss": np.asarray(plain), "bn_train_loss": np.asarray(with_bn)}
    numbers |= {"plain_final_val_accuracy": 0.1, "bn_final_val_accuracy": 0.95}
    numbers |= {"plain_val_accuracy": np.full(len(plain), 0.1)}
    numbers |= {"bn_val_accuracy": np.full(len(plain), 0.95)}
    return bn._training_caption(numbers)


def test_bn_caption_a_last_epoch_blip_is_read_beside_the_median():
    # Review (2026-12-07): "validation accuracy 0.98 with it, 0.19 without", where the plain
    # network sat at 0.10 in 28 of its 30 epochs and reached 0.19 in the last alone.
    plain = np.full(30, 0.1003)
    plain[[21, 29]] = 0.1476, 0.1894
    numbers = {"epochs": 30, "depth": 4, "learning_rate": 0.5}
    numbers |= {"plain_train_loss": np.full(30, 2.31), "bn_train_loss": np.linspace(1, 0.02, 30)}
    numbers |= {"plain_val_accuracy": plain, "plain_final_val_accuracy": plain[-1]}
    numbers |= {"bn_val_accuracy": np.full(30, 0.96), "bn_final_val_accuracy": 0.98}
    caption = bn._training_caption(numbers)
    assert (
        "validation accuracy in the last epoch 0.98 with it, 0.19 without (medians over the "
        "30 epochs: 0.96 and 0.10)"
    ) in caption


def test_bn_caption_a_diverged_run_does_not_end_the_same():
    # A NaN final loss compares neither lower nor higher, and fell through to "both training
    # losses end the same (0.100 vs n/a)". A loss that is not finite is said to be so.
    plain_diverged = _bn_training([2.31, 2.30, NAN], [1.0, 0.5, 0.1])
    assert "BatchNorm's training loss ends finite, the plain network's does not (0.100 vs n/a)" in (
        plain_diverged
    )
    bn_diverged = _bn_training([2.0, 1.0, 0.5], [1.0, NAN, INF])
    assert "BatchNorm does not help: its training loss does not end finite (∞ vs 0.500)" in (
        bn_diverged
    )
    both = _bn_training([2.0, 1.0, NAN], [1.0, NAN, NAN])
    assert "neither training loss ends finite (n/a vs n/a)" in both
    for caption in (plain_diverged, bn_diverged, both):
        assert "end the same" not in caption


def test_bn_caption_a_loss_far_above_chance_is_not_near_chance():
    # 6.00 → 4.50 never falls more than 2% below ln 10 = 2.30, but it is 2 to 2.6× ln 10:
    # "stays near chance" says it is close to the loss of guessing. It is worse.
    caption = _bn_training([6.0, 5.0, 4.5], [1.0, 0.5, 0.1])
    assert "near chance" not in caption
    assert "the plain network's training loss stays at chance or worse" in caption


def test_scales_caption_concludes_only_what_the_two_descents_show():
    # "one learning rate suits every direction only when the curvatures are alike" ended the
    # caption whatever the descents left: here the standardized (round) surface keeps 40% of
    # its excess loss and the raw one under 10⁻⁶.
    numbers = caption_numbers.input_scales()
    assert bn._scales_caption(numbers).endswith(
        "and under 10⁻⁶ on the standardized ones: one learning rate suits every direction only "
        "when the curvatures are alike."
    )
    numbers["raw"]["excess_left"], numbers["standardized"]["excess_left"] = 1e-7, 0.4
    caption = bn._scales_caption(numbers)
    assert ": one learning rate suits every direction" not in caption
    assert "these two descents do not show that one learning rate suits every direction" in (
        caption
    )


def test_scales_caption_names_the_steep_axis_the_hessian_has():
    # "a surface steep along w₂ (x₂ is large) and flat along w₁" was fixed text: with the
    # Hessian of a surface steep along w₁ it named the wrong axis (and w₁ as the slow one).
    numbers = caption_numbers.input_scales()
    assert "steep along w₂ (x₂ is large) and flat along w₁" in bn._scales_caption(numbers)
    raw = numbers["raw"]
    raw["hessian"] = raw["hessian"][::-1, ::-1]
    raw["best_weights"], raw["path"] = raw["best_weights"][::-1], raw["path"][:, ::-1]
    caption = bn._scales_caption(numbers)
    assert "steep along w₁ and flat along w₂" in caption
    assert "w₂ has moved from 0 to 0.01 of its optimum 1.99" in caption


def _curvature(plain_share, bn_share, plain_negative, bn_negative):
    return caption_numbers.bn_curvature(plain_share, bn_share, plain_negative, bn_negative)


def test_bn_curvature_caption_says_more_negative_curvature_only_when_there_is():
    # BatchNorm has 1.0% of its eigenvalues below −λmax/100 against 3.0% without: the caption
    # compares the two shares and does not call BatchNorm's the larger.
    numbers = _curvature([0.05] * 3, [0.2] * 3, [0.03] * 3, [0.01] * 3)
    assert "also has more negative curvature" not in bn._curvature_caption(numbers)


def test_bn_curvature_caption_does_not_measure_the_claim_on_one_seed_of_three():
    # BatchNorm's share is higher in 1 of 3 seeds and 1.0× as many on the mean: the lecture's
    # 'one learning rate suits all directions' is measured only when the share is higher in
    # every seed, so here the caption reports the seed count and makes no such claim.
    numbers = _curvature([0.05, 0.05, 0.05], [0.06, 0.045, 0.046], [0.01] * 3, [0.02] * 3)
    caption = bn._curvature_caption(numbers)
    assert "more in 1 of 3 seeds" in caption
    assert "suits all directions' measured" not in caption


def test_bn_curvature_caption_counts_seeds_and_names_a_zero_share_without_inf():
    numbers = _curvature([0.0] * 3, [0.04] * 3, [0.01] * 3, [0.01] * 3)
    caption = bn._curvature_caption(numbers)
    assert "inf" not in caption and "none without" in caption
    assert "suits all directions' measured" in caption
    one = {**numbers, "seeds": [0]}
    one = {
        **one,
        **{key: {k: v[:1] for k, v in one[key].items()} for key in ("plain", "bn")},
    }
    caption = bn._curvature_caption(one)
    assert "(s)" not in caption and "mean over 1 seed." in caption


def test_test_time_caption_different_is_not_what_testing_needs():
    # Running statistics that give different accuracies for the whole set and one example at
    # a time are not what testing needs: testing needs the same answer for any batch size.
    accuracy = {name: 0.95 for name, _, _ in bn._TEST_MODES}
    accuracy["running statistics, batches of one"] = 0.947
    accuracy["batch statistics, batches of one"] = 0.1
    caption = bn._test_time_caption({"accuracy": accuracy, "running_momentum": 0.9})
    assert "different, as testing needs" not in caption


def test_training_caption_with_no_better_cross_entropy_says_so():
    # At equal accuracies cross-entropy does not do better, and the caption says so.
    numbers = {"epochs": 3, "learning_rate": 0.5, "wrong_bias": 10.0, "wrong_class": 9}
    numbers |= {"start_train_accuracy": 0.1, "mse_grad_norm_at_start": 1e-9}
    numbers |= {"ce_grad_norm_at_start": 1.2, "mse_train_accuracy": 0.5, "ce_train_accuracy": 0.5}
    numbers |= {"mse_first_loss": 1.8, "mse_last_loss": 1.8, "ce_first_loss": 9, "ce_last_loss": 1}
    caption = lf._training_caption(numbers)
    assert "does not do better (0.50 vs 0.50)" in caption and "has vanished" in caption
