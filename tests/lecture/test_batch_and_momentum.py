"""§3's claims at the quick size: equal updates close the batch-size gap, S(B) levels off above
a critical batch size, momentum crosses the ridge (and on digits matches the step η/(1 − λ))."""

import math

import numpy as np
import pytest

from jaxtrain import lecture
from jaxtrain.lecture import batch_and_momentum

QUICK = lecture.LectureConfig(quick=True)


@pytest.fixture(scope="module")
def claims():
    return {claim.id: claim for claim in batch_and_momentum.SECTION.claims(QUICK, seed=0)}


def test_equal_updates_close_the_gap_of_equal_epochs(claims):
    numbers = claims["batch_size"].numbers
    seeds = len(numbers["seeds"])
    assert seeds >= 2
    small = numbers["batch_16_updates"]
    assert small == numbers["epochs"] * (numbers["n_train"] // 16)
    assert numbers["full_equal_epochs_updates"] == numbers["epochs"]
    assert numbers["full_equal_updates_updates"] == small
    assert numbers["full_equal_updates_train_loss"].shape == (small,)
    small_val = numbers["batch_16_val_accuracy"]
    assert small_val.shape == (seeds,)
    # Equal epochs: batch 16 has made ~N/16 times more updates and is far ahead in every seed.
    assert np.all(small_val > numbers["full_equal_epochs_val_accuracy"] + 0.5)
    # Equal updates: the full batch catches up; the remaining gap is a small part of it.
    gap_updates = float((small_val - numbers["full_equal_updates_val_accuracy"]).mean())
    gap_epochs = float((small_val - numbers["full_equal_epochs_val_accuracy"]).mean())
    assert abs(gap_updates) < 0.1 * gap_epochs
    assert numbers["full_equal_updates_train_accuracy"].min() > 0.9
    # The equal-epochs full-batch run is the start of the equal-updates one (same seed, η, B).
    np.testing.assert_allclose(
        numbers["full_equal_epochs_train_loss"],
        numbers["full_equal_updates_train_loss"][: numbers["epochs"]],
        rtol=1e-5,
    )
    assert 0 < numbers["full_batch_seconds_per_epoch"] < 1
    assert 0 < numbers["batch_16_seconds_per_epoch"] < 1

    caption = claims["batch_size"].caption
    for key in ("batch_16", "full_equal_epochs", "full_equal_updates"):
        train = numbers[f"{key}_train_accuracy"].mean()
        assert f"{train:.3f}/{numbers[f'{key}_val_accuracy'].mean():.3f}" in caption
    assert "most of the equal-epochs gap is the number of updates" in caption
    noise_shows = np.all(small_val > numbers["full_equal_updates_val_accuracy"])
    assert ("does not show in these runs" in caption) is not noise_shows


def _batch_numbers(small_val, full_val):
    """Stand-in numbers for the batch-size caption: two seeds, val accuracies as given."""
    return {
        "learning_rate": 0.1,
        "epochs": 5,
        "n_train": 1438,
        "seeds": np.array([0, 1]),
        "batch_16_updates": 445,
        "full_equal_epochs_updates": 5,
        "full_equal_updates_updates": 445,
        "batch_16_train_accuracy": np.array([0.99, 0.98]),
        "batch_16_val_accuracy": np.asarray(small_val),
        "full_equal_epochs_train_accuracy": np.array([0.3, 0.2]),
        "full_equal_epochs_val_accuracy": np.array([0.3, 0.2]),
        "full_equal_updates_train_accuracy": np.array([0.97, 0.98]),
        "full_equal_updates_val_accuracy": np.asarray(full_val),
        "batch_16_seconds_per_epoch": 0.005,
        "full_batch_seconds_per_epoch": 0.010,
    }


def test_batch_caption_branches_on_the_measured_gap():
    caption = batch_and_momentum._batch_caption(_batch_numbers([0.95, 0.96], [0.60, 0.50]))
    assert "batch 16 is ahead in validation accuracy in every seed, by 40.5 points" in caption
    assert "is 57% of the one at equal epochs" in caption
    assert "the number of updates does not explain most of the equal-epochs gap" in caption
    assert "shows here as batch 16's lead at equal updates" in caption
    assert "training accuracy has no consistent winner (+1.0 points for batch 16" in caption
    assert "here the full batch's epoch is not faster" in caption

    caption = batch_and_momentum._batch_caption(_batch_numbers([0.95, 0.96], [0.96, 0.96]))
    assert (
        "validation accuracy has no consistent winner (-0.5 points for batch 16 on average; "
        "ahead in 0, behind in 1, tied in 1 of 2 seeds)"
    ) in caption
    assert "most of the equal-epochs gap is the number of updates" in caption
    assert "does not show in these runs" in caption


def test_steps_to_the_target_level_off_above_a_critical_batch_size(claims):
    numbers = claims["critical_batch_size"].numbers
    sizes, steps = numbers["batch_size"], numbers["steps"]
    np.testing.assert_array_equal(sizes, [1, 16, 1000])
    assert np.all(np.isfinite(steps))
    # More examples per step never cost steps, and B = 1 needs several times more.
    assert steps[0] > steps[1] >= 0.9 * steps[2]
    assert steps[0] > 4 * steps[2]
    # S(B) = S_min(1 + B_crit/B) fits every reached size within 30%, with a knee inside.
    s_min, b_crit = numbers["s_min"], numbers["b_crit"]
    assert 1 < b_crit < 1000 and 0 < s_min <= steps.min()
    np.testing.assert_allclose(s_min * (1 + b_crit / sizes), steps, rtol=0.3)
    # The first run trains to the cap; the last stops at 1.5·S(16) + 200/16 (one step an epoch).
    assert numbers["run_steps"][0] == 1000
    assert numbers["run_steps"][2] == min(1000, math.ceil(1.5 * steps[1]) + math.ceil(200 / 16))
    # B = 1 has no halves to compare; the others record B_simple, the largest batch's is kept.
    noise = numbers["noise_scale"]
    assert math.isnan(noise[0]) and np.all(noise[1:] > 1)
    assert numbers["b_simple"] == noise[-1]
    for size, run_steps in zip(sizes, numbers["run_steps"], strict=True):
        curve = numbers["curves"][f"B={size}"]
        assert len(curve["loss"]) <= 400 and np.all(np.diff(curve["loss_step"]) > 0)
        assert curve["noise_step"][-1] == run_steps - 1
    caption = claims["critical_batch_size"].caption
    assert f"B_simple = {numbers['b_simple']:.2f}" in caption
    assert f"B_crit = {b_crit:.2f}" in caption
    assert f"from {int(steps[0]):,} at B = 1 to {int(steps[2]):,} at B = 1000" in caption


def test_critical_caption_names_misses_a_failed_fit_and_an_unresolved_noise_scale():
    numbers = {
        "batch_size": np.array([1, 16, 1000]),
        "steps": np.array([np.nan, 120.0, 80.0]),
        "noise_scale": np.array([np.nan, 40.0, 90.0]),
        "s_min": math.nan,
        "b_crit": math.nan,
        "b_simple": 90.0,
        "target_loss": 0.2,
        "learning_rate": 0.05,
        "num_examples": 1000,
    }
    caption = batch_and_momentum._critical_caption(numbers)
    assert "from 120 at B = 16 to 80 at B = 1000" in caption
    assert "not reached within the cap at B = 1" in caption
    assert "does not fit" in caption and "B_simple = 90.00" in caption
    numbers.update(s_min=70.0, b_crit=5.0, b_simple=1000.0)
    caption = batch_and_momentum._critical_caption(numbers)
    assert "B_simple = 1000.00: the knee sits 200.0× below it, far from" in caption
    numbers.update(b_simple=10.0)
    caption = batch_and_momentum._critical_caption(numbers)
    assert "the knee sits 2.0× below it, close to McCandlish et al.'s B_crit ≈ B_simple" in caption
    numbers.update(b_simple=1000.0)
    caption = batch_and_momentum._critical_caption(numbers)
    assert "the run at B = 16 records a median of 40.0" in caption
    # A median record of +inf: |G|² was not resolved, and the caption says so.
    numbers.update(b_simple=math.inf, noise_scale=np.array([np.nan, 40.0, np.inf]))
    assert "is +inf: |G|² was not resolved" in batch_and_momentum._critical_caption(numbers)
    numbers.update(steps=np.full(3, np.nan))
    assert batch_and_momentum._critical_caption(numbers).endswith("not reached at any batch size.")


def test_momentum_crosses_the_ridge_where_gradient_descent_stops(claims):
    numbers = claims["momentum_ridge"].numbers
    ridge = numbers["ridge_theta"]
    for theta in (numbers["left_minimum_theta"], ridge, numbers["right_minimum_theta"]):
        assert 4 * theta**3 - 8 * theta + 1 == pytest.approx(0, abs=1e-9)
    gd, momentum = numbers["gd_theta"], numbers["momentum_theta"]
    assert gd.shape == momentum.shape == (numbers["steps"] + 1,)
    assert gd.min() > ridge  # never reaches the ridge
    assert numbers["gd_final_theta"] == pytest.approx(numbers["right_minimum_theta"], abs=1e-3)
    assert momentum.min() < ridge
    assert numbers["momentum_final_theta"] == pytest.approx(numbers["left_minimum_theta"], abs=1e-2)
    assert numbers["momentum_final_loss"] < numbers["gd_final_loss"] - 2
    caption = claims["momentum_ridge"].caption
    assert f"ends at θ = {numbers['gd_final_theta']:.2f}" in caption
    assert "in the shallow valley, short of the ridge" in caption
    assert "past the ridge, in the deeper valley" in caption


def test_momentum_on_digits_is_about_the_larger_step(claims):
    numbers = claims["momentum_ridge"].numbers
    plain = numbers["digits_sgd_final_loss"]
    momentum = numbers["digits_momentum_final_loss"]
    large = numbers["digits_sgd_large_final_loss"]
    assert numbers["digits_learning_rate"] / (1 - numbers["momentum"]) == pytest.approx(
        numbers["digits_large_learning_rate"]
    )
    assert np.all(momentum < 0.5 * plain)
    np.testing.assert_allclose(momentum, large, rtol=0.25)
    # Plain SGD at η/(1 − λ) is batch_size's batch-16 run, shared rather than trained again.
    np.testing.assert_array_equal(
        numbers["digits_sgd_large_train_loss"], claims["batch_size"].numbers["batch_16_train_loss"]
    )
    caption = claims["momentum_ridge"].caption
    assert f"{momentum.mean():.3f} with momentum" in caption
    assert f"{plain.mean() / momentum.mean():.1f}× lower than plain SGD" in caption


def test_claims_come_in_the_lecture_order_with_a_figure_each(claims):
    assert list(claims) == ["batch_size", "critical_batch_size", "momentum_ridge"]
    for claim in claims.values():
        assert claim.section == "batch_and_momentum"
        assert claim.figure.axes
        assert claim.caption.endswith(".")


def test_the_notebook_prints_numbers_its_claims_have(claims, check_notebook_numbers):
    check_notebook_numbers("batch_and_momentum", claims)
