"""§5's claims at the quick size: two-class softmax is a sigmoid; MSE after softmax has a plateau
where the prediction is confidently wrong, cross-entropy a slope; a network started there trains
with cross-entropy and not with MSE."""

import math

import numpy as np
import pytest

from jaxtrain import lecture
from jaxtrain.lecture import loss_functions

QUICK = lecture.LectureConfig(quick=True)


@pytest.fixture(scope="module")
def claims():
    return {claim.id: claim for claim in loss_functions.SECTION.claims(QUICK, seed=0)}


def test_two_class_softmax_is_the_sigmoid_of_the_difference(claims):
    numbers = claims["two_class_softmax"].numbers
    assert numbers["probability_max_difference"] < 1e-6
    assert numbers["loss_max_relative_difference"] < 1e-5
    assert numbers["gradient_max_difference"] < 1e-5
    # ∂e/∂z₀ = −∂e/∂z₁: the loss depends on z₁ − z₀ only.
    assert numbers["gradient_sum_max"] < 1e-5
    # The random logits reach deep into saturation, where a naive log(1 − σ) would fail.
    assert numbers["largest_loss"] > 20
    for offset in (-5, 0, 5):
        np.testing.assert_allclose(
            numbers[f"curve_softmax z0={offset}"], numbers["curve_sigmoid"], atol=1e-6
        )
    caption = claims["two_class_softmax"].caption
    assert "equal up to float32 rounding" in caption
    assert f"{numbers['probability_max_difference']:.1e}" in caption


def test_mse_sits_on_a_plateau_where_cross_entropy_has_a_slope(claims):
    numbers = claims["error_surfaces"].numbers
    # ŷ − y = (−1, 1, 0) at the start: cross-entropy's gradient is √2 there.
    assert numbers["ce_grad_norm_at_start"] == pytest.approx(math.sqrt(2), rel=1e-3)
    assert numbers["mse_grad_norm_at_start"] < 1e-6
    # The lecture's e = Σᵢ (yᵢ − ŷᵢ)², summed over the classes (the mean would give 2/3).
    assert numbers["mse_loss_at_start"] == pytest.approx(2.0, abs=1e-6)
    assert numbers["ce_loss_at_start"] == pytest.approx(20.0, rel=1e-4)
    assert numbers["mse_surface"].max() <= 2.0 + 1e-6
    assert numbers["ce_surface"].min() >= 0
    # Gradient descent leaves cross-entropy's start and does not move on MSE's plateau.
    assert numbers["ce_loss_after"] < 0.01
    assert numbers["mse_loss_after"] == pytest.approx(2.0, abs=1e-6)
    np.testing.assert_allclose(numbers["mse_path"][-1], numbers["start_logits"], atol=1e-5)
    assert numbers["mse_path"].shape == (numbers["steps"] + 1, 2)
    caption = claims["error_surfaces"].caption
    assert "sits on a plateau" in caption
    assert "the MSE loss stays at 2" in caption
    assert f"falls from 20 to {numbers['ce_loss_after']:.3g}" in caption


def test_cross_entropy_trains_from_a_confidently_wrong_start_and_mse_does_not(claims):
    numbers = claims["training"].numbers
    assert numbers["mse_losses"].shape == numbers["ce_losses"].shape
    assert numbers["start_train_accuracy"] == pytest.approx(0.1, abs=0.02)
    assert numbers["mse_grad_norm_at_start"] < 1e-6 * numbers["ce_grad_norm_at_start"]
    assert numbers["ce_train_accuracy"] > numbers["mse_train_accuracy"] + 0.5
    assert numbers["ce_last_loss"] < 0.1 * numbers["ce_first_loss"]
    # MSE has not moved: its accuracy is still the start's (class 9 for every digit).
    assert numbers["mse_train_accuracy"] == pytest.approx(numbers["start_train_accuracy"], abs=0.01)
    caption = claims["training"].caption
    assert "MSE's gradient has vanished" in caption
    assert f"({numbers['ce_train_accuracy']:.2f} vs {numbers['mse_train_accuracy']:.2f})" in caption


def test_captions_follow_the_numbers_not_the_lecture(claims):
    surfaces = dict(claims["error_surfaces"].numbers)
    surfaces.update(mse_grad_norm_at_start=0.5, mse_loss_after=0.1)
    caption = loss_functions._surfaces_caption(surfaces)
    assert "sits on a plateau" not in caption and "the MSE loss falls from 2 to 0.1" in caption

    training = dict(claims["training"].numbers)
    training.update(mse_grad_norm_at_start=1.0, mse_train_accuracy=0.97)
    caption = loss_functions._training_caption(training)
    assert "vanished" not in caption and "does not do better" in caption

    two_class = dict(claims["two_class_softmax"].numbers, loss_max_relative_difference=0.01)
    assert "not equal here" in loss_functions._two_class_caption(two_class)


def test_claims_carry_their_section_and_a_figure(claims):
    assert list(claims) == ["two_class_softmax", "error_surfaces", "training"]
    for claim in claims.values():
        assert claim.section == "loss_functions"
        assert claim.figure.axes


def test_the_notebook_prints_numbers_its_claims_have(claims, check_notebook_numbers):
    check_notebook_numbers("loss_functions", claims)
