"""§6's claims at the quick size: BatchNorm trains the deep sigmoid net; a batch of one needs the
running statistics."""

import numpy as np
import pytest

from jaxtrain import lecture
from jaxtrain.lecture import batch_normalization

QUICK = lecture.LectureConfig(quick=True)


@pytest.fixture(scope="module")
def claims():
    return {claim.id: claim for claim in batch_normalization.SECTION.claims(QUICK, seed=0)}


def test_batchnorm_trains_the_deep_sigmoid_net_faster(claims):
    numbers = claims["with_and_without"].numbers
    assert numbers["plain_train_loss"].shape == (numbers["epochs"],)
    assert numbers["bn_train_loss"][-1] < 0.5 * numbers["plain_train_loss"][-1]
    assert numbers["bn_final_val_accuracy"] > numbers["plain_final_val_accuracy"]
    assert "lower" in claims["with_and_without"].caption


def test_a_batch_of_one_needs_running_statistics(claims):
    accuracy = claims["statistics_at_test_time"].numbers["accuracy"]
    assert accuracy["running statistics, whole validation set"] > 0.85
    # The running statistics do not depend on the batch: one at a time gives the same answer.
    assert accuracy["running statistics, batches of one"] == pytest.approx(
        accuracy["running statistics, whole validation set"], abs=1e-6
    )
    # x − μ = 0 for a batch of one, so every prediction is the same class: about chance.
    assert accuracy["batch statistics, batches of one"] < 0.2
    caption = claims["statistics_at_test_time"].caption
    assert f"{accuracy['batch statistics, batches of one']:.2f}" in caption
    assert ": the same, as testing needs" in caption


def test_claims_carry_their_section_and_a_figure(claims):
    for claim in claims.values():
        assert claim.section == "batch_normalization"
        assert claim.figure.axes
        assert claim.numbers and claim.caption


def test_standardizing_two_inputs_makes_the_surface_round(claims):
    numbers = claims["input_scales"].numbers
    raw, standardized = numbers["raw"], numbers["standardized"]
    # L = mean (y − w·x)² has the constant Hessian 2·mean xxᵀ; the claim's comes from autodiff.
    x, _ = batch_normalization._scale_data(0)["raw"]
    x = x.astype(np.float64)
    np.testing.assert_allclose(raw["hessian"], 2 * x.T @ x / len(x), rtol=1e-4)
    np.testing.assert_allclose(
        raw["eigenvalues"], np.linalg.eigvalsh(2 * x.T @ x / len(x)), rtol=1e-3
    )
    # x₂ is 100× larger than x₁: κ in the thousands; standardized features give H ≈ 2·I.
    assert raw["condition_number"] > 1e3
    assert standardized["condition_number"] < 2.0
    np.testing.assert_allclose(np.diag(standardized["hessian"]), [2.0, 2.0], rtol=1e-4)
    # At η = 1/λmax the flat axis shrinks by 1 − 1/κ per step: the raw descent barely moves w₁
    # and keeps a share of the excess loss; the standardized one converges.
    assert raw["predicted_slow_factor"] > 0.99
    assert raw["path"][-1, 0] < 0.05 * raw["best_weights"][0]
    assert raw["excess_left"] > 1e-2 and standardized["excess_left"] < 1e-6
    caption = claims["input_scales"].caption
    assert f"κ = λmax/λmin = {raw['condition_number']:,.0f}" in caption
    assert "under 10⁻⁶ on the standardized ones" in caption


def test_batchnorm_spreads_a_network_hessian_curvature(claims):
    numbers = claims["network_curvature"].numbers
    for key in ("plain", "bn"):
        run = {name: values[0] for name, values in numbers[key].items()}
        assert run["eigenvalues"].shape == (run["n_params"],)
        assert run["num_negative"] + run["num_zero"] + run["num_positive"] == run["n_params"]
        assert run["min"] < 0 < run["max"]  # a network's Hessian is indefinite at its start
        # κ of the positive part cannot pass λmax/tol, the float32 tolerance's bound.
        assert run["positive_condition_number"] <= run["condition_number_bound"] * (1 + 1e-9)
    # BatchNorm adds γ and β per hidden unit, and the linear layer before it drops its bias.
    assert numbers["bn"]["n_params"][0] == numbers["plain"]["n_params"][0] + 4 * 12
    # The invariant: with BatchNorm many more directions have curvature near λmax.
    plain, bn = numbers["plain"]["share_near_top"][0], numbers["bn"]["share_near_top"][0]
    assert bn > 3 * plain
    caption = claims["network_curvature"].caption
    assert f"{bn:.1%} of the eigenvalues are within 100× of λmax" in caption


def test_the_plain_deep_net_stays_at_chance(claims):
    numbers = claims["with_and_without"].numbers
    assert numbers["plain_train_loss"].min() > 0.98 * np.log(10.0)
    assert "the plain network's training loss stays" in claims["with_and_without"].caption
    assert "measured on the Hessian in network_curvature" in claims["with_and_without"].caption


def test_the_notebook_prints_numbers_its_claims_have(claims, check_notebook_numbers):
    check_notebook_numbers("batch_normalization", claims)


def test_section_6_captions_follow_their_numbers(claims):
    # Swapped models: the caption must say BatchNorm does not spread the curvature.
    numbers = dict(claims["network_curvature"].numbers)
    numbers["plain"], numbers["bn"] = numbers["bn"], numbers["plain"]
    caption = batch_normalization._curvature_caption(numbers)
    assert "BatchNorm does not spread the curvature" in caption
    assert "the lecture's 'one learning rate suits all directions' measured" not in caption
    # Standardizing that barely changes κ is reported as such.
    scales = dict(claims["input_scales"].numbers)
    scales["raw"] = dict(
        scales["raw"], condition_number=2.0 * scales["standardized"]["condition_number"]
    )
    assert "changes the condition number only 2.0-fold" in batch_normalization._scales_caption(
        scales
    )
    # Just short of the 10-fold that counts as lowering it: not printed as 10.0.
    scales["raw"] = dict(
        scales["raw"], condition_number=9.96 * scales["standardized"]["condition_number"]
    )
    assert "only 9.96-fold" in batch_normalization._scales_caption(scales)
    # Standardized contours are called round only where κ is near 1.
    assert "round contours" in batch_normalization._scales_caption(claims["input_scales"].numbers)
    scales["standardized"] = dict(scales["standardized"], condition_number=5.0)
    assert "contours still elongated" in batch_normalization._scales_caption(scales)
    # A plain run that learns is not called stuck at chance.
    training = dict(claims["with_and_without"].numbers)
    training["plain_train_loss"] = training["plain_train_loss"] * 0.5
    assert "plain network's training loss" not in batch_normalization._training_caption(training)
