"""accuracy: integer labels, one-hot/soft targets, reductions, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxtrain.losses import accuracy


def test_integer_and_one_hot_labels_agree_with_numpy():
    logits = jax.random.normal(jax.random.key(0), (64, 7))
    labels = jax.random.randint(jax.random.key(1), (64,), 0, 7)
    expected = np.mean(np.argmax(np.asarray(logits), -1) == np.asarray(labels))
    np.testing.assert_allclose(jax.jit(accuracy)(logits, labels), expected, rtol=1e-6)
    np.testing.assert_allclose(accuracy(logits, jax.nn.one_hot(labels, 7)), expected, rtol=1e-6)
    as_bool = np.asarray(labels)[:, None] == np.arange(7)  # one-hot of any dtype, as optax's
    np.testing.assert_allclose(accuracy(logits, as_bool), expected, rtol=1e-6)
    per = accuracy(logits, labels, reduction="none")
    assert per.shape == (64,) and per.dtype == jnp.float32
    np.testing.assert_allclose(accuracy(logits, labels, reduction="sum"), per.sum())


def test_soft_targets_use_their_argmax():
    logits = jnp.array([[1.0, 0.0], [0.0, 1.0]])
    targets = jnp.array([[0.7, 0.3], [0.6, 0.4]])
    np.testing.assert_allclose(accuracy(logits, targets), 0.5)


@pytest.mark.parametrize(
    ("logits", "labels", "kwargs", "match"),
    [
        (jnp.zeros((4, 3)), jnp.array([0, 1, 3, 0]), {}, r"\[0, 3\)"),
        (jnp.zeros((4,)), jnp.array([0, 1, 1, 0]), {}, "shape"),
        (jnp.zeros((4, 3), jnp.int32), jnp.array([0, 1, 1, 0]), {}, "floating-point"),
        (jnp.zeros((4, 3)), jnp.zeros((4, 3), jnp.complex64), {}, "dtype"),
        (jnp.zeros((4, 3)), jnp.array([0, 1, 1, 0]), {"reduction": "batch"}, "reduction"),
    ],
)
def test_bad_input(logits, labels, kwargs, match):
    with pytest.raises(ValueError, match=match):
        accuracy(logits, labels, **kwargs)


def test_a_row_with_a_nan_logit_counts_as_wrong():
    # argmax returns the first NaN's index: a diverged model (all-NaN logits) scored the share
    # of class 0, and [0, NaN, 5] with label 1 counted as correct.
    logits = jnp.array(
        [[jnp.nan] * 3, [jnp.nan] * 3, [0.0, jnp.nan, 5.0], [0.0, jnp.nan, 5.0], [3.0, 1.0, 2.0]]
    )
    labels = jnp.array([0, 1, 1, 2, 0])
    per = jax.jit(lambda z, y: accuracy(z, y, reduction="none"))(logits, labels)
    np.testing.assert_array_equal(per, [0.0, 0.0, 0.0, 0.0, 1.0])
    np.testing.assert_allclose(accuracy(logits, labels), 0.2)
    np.testing.assert_allclose(accuracy(logits, jax.nn.one_hot(labels, 3)), 0.2)
    np.testing.assert_array_equal(accuracy(jnp.full((4, 3), jnp.nan), jnp.zeros(4, int)), 0.0)


def test_mean_over_an_empty_batch_is_refused():
    for acc in (accuracy, jax.jit(accuracy)):
        with pytest.raises(ValueError, match="empty batch"):
            acc(jnp.zeros((0, 3)), jnp.zeros((0,), jnp.int32))
    assert float(accuracy(jnp.zeros((0, 3)), jnp.zeros((0,), jnp.int32), reduction="sum")) == 0.0
