"""The baseline loss: the best constant prediction, for classification and regression."""

import numpy as np
import pytest

from jaxtrain import losses
from jaxtrain.diagnose import baseline_loss, default_loss, infer_task


def test_cross_entropy_baseline_is_the_label_entropy():
    y = np.array([0, 0, 0, 1, 2, 2, 1, 0], dtype=np.int32)
    prior = np.bincount(y) / y.size
    entropy = -np.sum(prior * np.log(prior))
    got = baseline_loss(losses.softmax_cross_entropy, y, task="classification")
    np.testing.assert_allclose(got, entropy, rtol=1e-6)


def test_an_absent_class_keeps_the_baseline_finite():
    y = np.array([0, 1, 0, 1])
    got = baseline_loss(losses.softmax_cross_entropy, y, task="classification", num_classes=4)
    np.testing.assert_allclose(got, np.log(2.0), rtol=1e-5)


def test_mse_baseline_is_the_target_variance():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(200, 3)).astype(np.float32) * np.array([1.0, 2.0, 3.0], np.float32)
    got = baseline_loss(losses.mse, y, task="regression")
    np.testing.assert_allclose(got, y.astype(np.float64).var(axis=0).mean(), rtol=1e-5)


def test_infer_task_and_default_loss():
    assert infer_task(np.array([1, 2], np.uint8)) == "classification"
    assert infer_task(np.array([True, False])) == "classification"
    assert infer_task(np.array([0.5])) == "regression"
    assert default_loss("classification") is losses.softmax_cross_entropy
    assert default_loss("regression") is losses.mse
    with pytest.raises(ValueError, match="integer class labels or float"):
        infer_task(np.array(["a", "b"]))
    with pytest.raises(ValueError, match="unknown task"):
        default_loss("ranking")


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="empty"):
        baseline_loss(losses.mse, np.zeros((0, 1)), task="regression")
    with pytest.raises(ValueError, match=">= 0"):
        baseline_loss(losses.softmax_cross_entropy, np.array([-1, 0]), task="classification")
    with pytest.raises(ValueError, match="unknown task"):
        baseline_loss(losses.mse, np.zeros((2, 1)), task="ranking")


def test_constant_targets_have_no_baseline_to_judge_a_loss_against():
    # The constant predictor fits them exactly: floored to 1e-12, the baseline turned a
    # rounding error of 1e-9 into "1000 × the baseline" and a perfect fit into model bias.
    from jaxtrain import losses
    from jaxtrain.diagnose import baseline_loss

    with pytest.raises(ValueError, match="constant"):
        baseline_loss(losses.mse, np.full((50, 1), 0.1), task="regression")
    with pytest.raises(ValueError, match="constant"):
        baseline_loss(losses.softmax_cross_entropy, np.zeros(20, np.int32), task="classification")


def test_small_but_varying_regression_targets_are_no_constant():
    # Before: an absolute cut-off (B ≤ 1e-12) refused targets of spread 1e-7 as "constant",
    # and a NaN target got the same message.
    y = (1e-7 * np.random.default_rng(0).standard_normal((80, 1))).astype(np.float32)
    value = baseline_loss(losses.mse, y, task="regression")
    assert value == pytest.approx(float(np.var(y.astype(np.float64))), rel=1e-3)
    with pytest.raises(ValueError, match="constant"):
        baseline_loss(losses.mse, np.ones((5, 1), np.float32), task="regression")
    with pytest.raises(ValueError, match="not finite"):
        baseline_loss(losses.mse, np.array([[1.0], [np.nan]], np.float32), task="regression")


def test_a_non_finite_baseline_names_every_likely_reason():
    # Finite targets of ±1e20 have float32 squares that overflow: not "NaN targets".
    y = np.array([[1e20], [-1e20]], np.float32)
    with pytest.raises(ValueError, match="overflow float32, or the loss does not suit"):
        baseline_loss(losses.mse, y, task="regression")


@pytest.mark.parametrize(
    "y, prior",
    [
        (np.array([True, False, False, False]), [0.75, 0.25]),
        (np.array([[0], [1], [1], [2]]), [0.25, 0.5, 0.25]),
    ],
    ids=["bool", "column"],
)
def test_bool_and_column_labels_give_the_label_entropy(y, prior):
    # The constant prediction was given the raw labels, not the class labels counted: bool
    # labels read as one-hot and a column (N, 1), which the label check accepts, as the
    # wrong shape; both raised.
    assert infer_task(y) == "classification"
    got = baseline_loss(losses.softmax_cross_entropy, y, task="classification")
    np.testing.assert_allclose(got, -np.sum(np.log(prior) * prior), rtol=1e-6)


def test_one_logit_per_example_without_an_axis_gets_the_sigmoid_baseline():
    # A binary classifier whose outputs are (N,) (outputs=()) is trained as loss(z (N,), y);
    # the baseline built its constant logit as (N, 1) and sigmoid BCE refused y (N,).
    y = np.array([0, 1, 1, 1])
    entropy = -(0.75 * np.log(0.75) + 0.25 * np.log(0.25))
    loss = losses.sigmoid_binary_cross_entropy
    got = baseline_loss(loss, y, task="classification", outputs=())
    np.testing.assert_allclose(got, entropy, rtol=1e-6)
    column = baseline_loss(loss, y[:, None], task="classification", outputs=(1,))
    np.testing.assert_allclose(column, entropy, rtol=1e-6)
    with pytest.raises(ValueError, match="outputs"):
        baseline_loss(loss, y, task="classification", outputs=(2, 3))
