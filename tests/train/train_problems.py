"""Tiny problems shared by the training tests (imported as ``train_problems``).

Models are hand-written functional triples, so the tests compile in a fraction of a second;
the same optimizer, loss and apply objects are reused so that ``fit`` calls share their
compiled epochs (the first call compiles, later calls with the same settings do not).
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxtrain.losses import accuracy, softmax_cross_entropy

NUM_FEATURES, NUM_CLASSES = 4, 3


def linear_apply(params, state, x, *, train, rng=None):
    """A linear classifier z = x W + b (no state)."""
    del train, rng
    return x @ params["w"] + params["b"], state


def linear_params(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "w": jnp.asarray(0.1 * rng.standard_normal((NUM_FEATURES, NUM_CLASSES)), jnp.float32),
        "b": jnp.zeros(NUM_CLASSES, jnp.float32),
    }


def linear_triple(seed=0):
    return (linear_apply, linear_params(seed), {})


def sgd_state(params=None, *, step=5, key=42):
    """A :class:`~jaxtrain.train.TrainState` of the linear model (``params``: its own by
    default) under plain SGD, at ``step``: what a checkpoint test saves."""
    from jaxtrain.train import TrainState

    params = linear_params() if params is None else params
    return TrainState(
        apply=linear_apply,
        params=params,
        model_state={},
        opt_state=optax.sgd(0.1).init(params),
        step=jnp.int32(step),
        key=jax.random.key(key),
    )


def blobs(n=30, seed=0):
    """Three separable Gaussian blobs in 4-D, float32 inputs and int32 labels."""
    rng = np.random.default_rng(seed)
    y = np.arange(n, dtype=np.int32) % NUM_CLASSES
    centers = 2.0 * np.eye(NUM_CLASSES, NUM_FEATURES)
    x = centers[y] + 0.3 * rng.standard_normal((n, NUM_FEATURES))
    return x.astype(np.float32), y


@jax.jit
def linear_grad(params, x, y):
    """∇θ L(θ) of the linear classifier's mean cross-entropy on (x, y)."""

    def loss(p):
        return softmax_cross_entropy(linear_apply(p, {}, x, train=True)[0], y)

    return jax.grad(loss)(params)


def full_batch_descent(params, x, y, *, learning_rate, steps):
    """Plain gradient descent on the whole set, by hand: θ ← θ − η ∇L(θ)."""
    for _ in range(steps):
        grads = linear_grad(params, x, y)
        params = jax.tree.map(lambda p, g: p - learning_rate * g, params, grads)
    return params


def counting_apply(params, state, x, *, train, rng=None):
    """ŷ = x · c for one-hot x: each example reads its own counter."""
    del train, rng
    return x @ params, state


def negative_sum(predictions, targets):
    """L = −Σ ŷ: its gradient is −1 on every example of the batch, so SGD(1) counts visits."""
    del targets
    return -jnp.sum(predictions)


SGD = optax.sgd(0.5)
LOSS = softmax_cross_entropy
METRICS = (accuracy,)


def assert_trees_equal(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def assert_trees_close(a, b, **tolerance):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), **tolerance)


def sleepy_loss(predictions, targets):
    """The cross-entropy, after sleeping ``JAXTRAIN_TEST_STEP_SLEEP`` seconds per step.

    The sleep is a host callback read at run time, so a slow run (to be killed mid-way)
    and a fast one compile to the same program and compute the same numbers.
    """
    import os
    import time

    def pause():
        time.sleep(float(os.environ.get("JAXTRAIN_TEST_STEP_SLEEP", "0")))

    jax.debug.callback(pause)
    return softmax_cross_entropy(predictions, targets)
