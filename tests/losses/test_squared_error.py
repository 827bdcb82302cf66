"""mse: optax equality, integer labels, the softmax plateau, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxtrain.losses import mse, softmax_cross_entropy


def test_equals_optax_squared_error():
    predictions = jax.random.normal(jax.random.key(0), (6, 4))
    targets = jax.random.normal(jax.random.key(1), (6, 4))
    per = jax.jit(lambda p, t: mse(p, t, reduction="none"))(predictions, targets)
    ref = optax.losses.squared_error(predictions, targets)
    np.testing.assert_allclose(per, ref, rtol=1e-6)
    np.testing.assert_allclose(mse(predictions, targets), ref.mean(), rtol=1e-6)
    np.testing.assert_allclose(mse(predictions, targets, reduction="sum"), ref.sum(), rtol=1e-6)


def test_targets_more_precise_than_the_predictions_are_not_rounded_to_them():
    # bfloat16 predictions near float32 targets: optax subtracts in float32, where the
    # errors (1e-4) survive; rounded to bfloat16 first, the targets equalled the predictions.
    targets = np.linspace(1.0, 2.0, 8, dtype=np.float32) + np.float32(1e-4)
    predictions = jnp.asarray(targets - np.float32(1e-4), jnp.bfloat16)
    per = mse(predictions, targets, reduction="none")
    ref = optax.losses.squared_error(predictions, targets)
    assert per.dtype == ref.dtype == jnp.float32
    np.testing.assert_allclose(per, ref, rtol=1e-6)
    assert float(jnp.max(per)) > 0


def test_integer_labels_are_one_hot():
    probs = jax.nn.softmax(jax.random.normal(jax.random.key(2), (5, 3)))
    labels = jnp.array([0, 2, 1, 1, 0])
    np.testing.assert_allclose(mse(probs, labels), mse(probs, jax.nn.one_hot(labels, 3)))


def test_gradient_vanishes_on_the_softmax_plateau():
    """REFERENCES.md: at logits (−10, 10, −1000), target 0, MSE's gradient ~1e-8, CE's ~1.4."""
    logits = jnp.array([[-10.0, 10.0, -1000.0]])
    labels = jnp.array([0])

    def mse_of_softmax(z):
        return mse(jax.nn.softmax(z), labels, reduction="sum")

    g_mse = jnp.linalg.norm(jax.grad(mse_of_softmax)(logits))
    g_ce = jnp.linalg.norm(jax.grad(softmax_cross_entropy)(logits, labels))
    assert g_mse < 1e-7
    np.testing.assert_allclose(g_ce, np.sqrt(2.0), rtol=1e-4)


@pytest.mark.parametrize(
    ("predictions", "targets", "kwargs", "match"),
    [
        (jnp.zeros((4, 3)), jnp.zeros((4, 2)), {}, "shape"),
        (jnp.zeros((4, 3), jnp.int32), jnp.zeros((4, 3), jnp.int32), {}, "floating-point"),
        (jnp.zeros((4, 3)), jnp.array([0, 1, 5, 0]), {}, r"\[0, 3\)"),
        (jnp.zeros((4, 3)), jnp.zeros((4, 3)), {"reduction": "max"}, "reduction"),
        # One output is a regression, not a classifier: integer targets of shape (4,) are a
        # shape mistake (targets[:, None]), not one-hot vectors of a single class.
        (jnp.zeros((4, 1)), jnp.zeros((4,), jnp.int32), {}, "shape"),
    ],
)
def test_bad_input(predictions, targets, kwargs, match):
    with pytest.raises(ValueError, match=match):
        mse(predictions, targets, **kwargs)


def test_mean_over_an_empty_batch_is_refused():
    # Static shape: an error at trace time, where the mean of no elements was NaN.
    for loss in (mse, jax.jit(mse)):
        with pytest.raises(ValueError, match="empty batch"):
            loss(jnp.zeros((0, 2)))
        with pytest.raises(ValueError, match="empty batch"):
            loss(jnp.zeros((0, 2)), jnp.zeros((0,), jnp.int32))
    assert float(mse(jnp.zeros((0, 2)), reduction="sum")) == 0.0
    assert mse(jnp.zeros((0, 2)), reduction="none").shape == (0, 2)


def test_bool_targets_of_the_label_shape_are_told_they_are_not_labels():
    # "got (3,) (integer class labels need shape (3,))": the shape it asked for was the one
    # given; the dtype was what was wrong.
    expected = r"got bool targets of shape \(3,\) \(class labels must be integers\)"
    with pytest.raises(ValueError, match=expected):
        mse(jnp.zeros((3, 2)), jnp.array([True, False, True]))
