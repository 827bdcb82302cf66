"""jaxtrain.losses accepts what optax.losses accepts: ``axis=``, ``where=``, soft-label gradients.

A user switching from optax calls ``loss(logits, labels, axis, where)`` (positionally, as
optax's signatures allow) and gets optax's per-example values with ``reduction="none"``.
Every comparison runs under ``jax.jit`` against optax 0.2.8 on random inputs; tolerance 1e-5
relative (float32, different summation orders).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.test_util import check_grads

from jaxtrain.losses import mse, sigmoid_binary_cross_entropy, softmax_cross_entropy

RTOL, ATOL = 1e-5, 1e-6
SHAPE = (3, 4, 5)


def _class_axes(axis):
    if axis is None:
        return tuple(range(len(SHAPE)))
    return tuple(a % len(SHAPE) for a in (axis if isinstance(axis, tuple) else (axis,)))


def _inputs(axis, seed=0):
    """Logits, soft labels, integer labels, a per-class mask and a per-example mask (NumPy)."""
    rng = np.random.default_rng(seed)
    axes = _class_axes(axis)
    batch_shape = tuple(n for i, n in enumerate(SHAPE) if i not in axes)
    classes = int(np.prod([SHAPE[i] for i in axes]))
    logits = (3.0 * rng.standard_normal(SHAPE)).astype(np.float32)
    soft = np.exp(rng.standard_normal(SHAPE))
    soft = (soft / soft.sum(axis=axes, keepdims=True)).astype(np.float32)
    labels = rng.integers(0, classes, batch_shape).astype(np.int32)
    per_logit = rng.random(SHAPE) < 0.6
    per_example = rng.random(batch_shape) < 0.6
    if batch_shape:
        # One example with every class masked out: optax gives it loss 0.
        per_logit[tuple(slice(None) if i in axes else 0 for i in range(len(SHAPE)))] = False
        per_example[(0,) * len(batch_shape)] = False
    return logits, soft, labels, per_logit, per_example


def _value_and_grads(loss, logits, labels, wrt):
    """The per-example values and the gradient of their sum w.r.t. the arguments ``wrt``."""
    values = loss(logits, labels)
    grads = jax.grad(lambda z, y: jnp.sum(loss(z, y)), wrt)(logits, labels)
    return values, grads


@functools.partial(jax.jit, static_argnames=("axis", "grads"))
def _ours_and_optax(logits, soft, labels, masks, axis, grads):
    """(ours, optax's) values for soft and integer labels under each mask, and gradients.

    Gradients under the per-class mask (the last) only: it contains the other masks' cases
    (whole rows kept or dropped). One compiled program per axis: compiling is most of the time,
    and the gradients are most of the program.
    """
    ref_integer = optax.losses.softmax_cross_entropy_with_integer_labels
    # optax's integer version has no axis=None; every axis as a tuple is the same thing.
    axis_ref = tuple(range(len(SHAPE))) if axis is None else axis
    values = []
    for where in masks:
        for y, ref, ref_axis in (
            (soft, optax.losses.softmax_cross_entropy, axis),
            (labels, ref_integer, axis_ref),
        ):
            values.append(
                (
                    softmax_cross_entropy(logits, y, axis, where, reduction="none"),
                    ref(logits, y, ref_axis, where),
                )
            )
    if not grads:
        return values, None
    where = masks[-1]

    def ours(z, y):
        return softmax_cross_entropy(z, y, axis, where, reduction="none")

    def theirs_soft(z, y):
        return optax.losses.softmax_cross_entropy(z, y, axis, where)

    def theirs_integer(z, y):
        return ref_integer(z, y, axis_ref, where)

    return values, (
        (
            _value_and_grads(ours, logits, soft, (0, 1))[1],
            _value_and_grads(theirs_soft, logits, soft, (0, 1))[1],
        ),
        (
            _value_and_grads(ours, logits, labels, 0)[1],
            _value_and_grads(theirs_integer, logits, labels, 0)[1],
        ),
    )


# The class axes last (no transpose), moved (a tuple, negative and out of order), and all.
# Gradients for the moved axes (the one path that reaches every line the others do); those on
# the last axis are compared in test_fully_masked_examples_equal_optax_with_finite_gradients.
@pytest.mark.parametrize(("axis", "grads"), [(-1, False), ((-1, -3), True), (None, False)], ids=str)
def test_axis_and_where_equal_optax_under_jit(axis, grads):
    """Random logits, soft and integer labels; no mask, a per-example and a per-class mask."""
    logits, soft, labels, per_logit, per_example = _inputs(axis)
    # With every axis a class axis there are no examples to mask one by one.
    masks = (None, per_example, per_logit) if per_example.ndim else (None, per_logit)
    values, grads = _ours_and_optax(logits, soft, labels, masks, axis, grads)
    for ours, theirs in values:
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL)
    if grads is None:
        return
    ((dz_ours, dy_ours), (dz_theirs, dy_theirs)), (dz_int_ours, dz_int_theirs) = grads
    np.testing.assert_allclose(dz_ours, dz_theirs, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(dz_int_ours, dz_int_theirs, rtol=RTOL, atol=ATOL)
    # d/dy of a masked class: optax gives NaN (0·log 0 in its product rule), jaxtrain the
    # true 0 (the loss does not depend on it); on kept classes they agree.
    kept = np.asarray(per_logit)
    np.testing.assert_allclose(dy_ours[kept], dy_theirs[kept], rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(np.asarray(dy_ours)[~kept], 0.0)


def test_fully_masked_examples_equal_optax_with_finite_gradients():
    """optax's test_gradient and test_per_logit_mask: an example with no class kept gives 0."""
    logits = jnp.array([[10.0, 1.0, -2.0], [1.0, 4.0, 0.2]])
    soft = jnp.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    labels = jnp.array([1, 0])
    masks = (jnp.array([True, False]), jnp.array([[True, False, False], [False] * 3]))

    @jax.jit
    def cases(logits):
        out = []
        for where in masks:
            for y, ref in (
                (soft, optax.losses.softmax_cross_entropy),
                (labels, optax.losses.softmax_cross_entropy_with_integer_labels),
            ):
                ours = functools.partial(softmax_cross_entropy, where=where, reduction="none")
                theirs = functools.partial(ref, where=where)
                out.append(
                    (
                        _value_and_grads(ours, logits, y, 0),
                        _value_and_grads(theirs, logits, y, 0),
                    )
                )
        return out

    for (values, grads), (ref_values, ref_grads) in cases(logits):
        assert values[1] == 0.0
        assert np.all(np.isfinite(grads)) and np.all(grads[1] == 0.0)
        np.testing.assert_allclose(values, ref_values, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(grads, ref_grads, rtol=RTOL, atol=ATOL)


def test_empty_class_axis_gives_optax_zeros():
    logits, soft = jnp.zeros((4, 0)), jnp.zeros((4, 0))
    ref = optax.losses.softmax_cross_entropy(logits, soft)
    for kwargs in ({}, {"label_smoothing": 0.1}):
        ours = jax.jit(lambda z, y, kw=kwargs: softmax_cross_entropy(z, y, reduction="none", **kw))
        np.testing.assert_array_equal(ours(logits, soft), ref)
        np.testing.assert_array_equal(ours(logits, soft), jnp.zeros(4))
    # No integer label lies in [0, 0): concrete labels are refused, as any out-of-range label.
    with pytest.raises(ValueError, match="0 classes"):
        softmax_cross_entropy(logits, jnp.zeros((4,), jnp.int32))


def test_gradient_with_respect_to_soft_labels_equals_optax():
    logits, soft, _, _, _ = _inputs(-1, seed=3)
    logits, soft = logits[0], soft[0]

    @jax.jit
    def grads(z, y):
        def dy(loss):
            return jax.grad(lambda y: jnp.sum(loss(z, y)))(y)

        return (
            (
                dy(functools.partial(softmax_cross_entropy, reduction="none")),
                dy(optax.losses.softmax_cross_entropy),
            ),
            (
                dy(functools.partial(sigmoid_binary_cross_entropy, reduction="none")),
                dy(optax.losses.sigmoid_binary_cross_entropy),
            ),
        )

    for ours, theirs in grads(logits, soft):
        np.testing.assert_allclose(ours, theirs, rtol=RTOL)
    # Finite differences step soft labels out of [0, 1] (y = 0 − ε): float labels are targets
    # the loss is linear in, so no value check stands in the way (optax's test_gradient).
    one_hot = np.eye(5, dtype=np.float32)[[1, 0, 4, 2]]
    check_grads(jax.jit(softmax_cross_entropy), (logits, one_hot), order=1)
    check_grads(jax.jit(sigmoid_binary_cross_entropy), (logits, one_hot), order=1)


def test_default_reduction_is_the_mean_where_optax_returns_per_example_values():
    """The one documented difference: jaxtrain reduces by default, ``reduction="none"`` doesn't."""
    logits, soft, _, per_logit, _ = _inputs(-1, seed=5)

    @jax.jit
    def cases(z, y, where):
        return (
            (
                softmax_cross_entropy(z, y, where=where),
                optax.losses.softmax_cross_entropy(z, y, where=where).mean(),
            ),
            (
                softmax_cross_entropy(z, y, where=where, reduction="none"),
                optax.losses.softmax_cross_entropy(z, y, where=where),
            ),
            (mse(z), optax.losses.squared_error(z).mean()),
            (mse(z, reduction="none"), optax.losses.squared_error(z)),
            (mse(z, None), mse(z, jnp.zeros_like(z))),
            (0.5 * mse(z, y, reduction="none"), optax.losses.l2_loss(z, y)),
        )

    results = cases(logits, soft, per_logit)
    assert results[0][0].shape == () and results[2][0].shape == ()
    for ours, theirs in results:
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, rtol=RTOL)


@pytest.mark.parametrize("axis", [-1, (-1, -3)], ids=str)
def test_label_smoothing_with_where_equals_optax_smooth_labels(axis):
    """optax smooths over the kept classes: ``smooth_labels(y, α, where=where)``, α/K for K kept.

    Soft labels equal that exactly. Integer labels equal (1 − α)·(optax's integer loss) plus
    the same uniform term, which is optax's smoothed soft loss wherever the label's class is
    kept; where it is masked out, the integer term keeps its logit (as at α = 0) instead of
    dropping it, so that α = 0 gives the integer loss, whether α is traced or not.
    """
    logits, soft, labels, per_logit, _ = _inputs(axis, seed=11)
    axis_tuple = axis if isinstance(axis, tuple) else (axis,)

    def optax_soft(z, y, alpha):
        smoothed = optax.smooth_labels(y, alpha, axis=axis_tuple, where=per_logit)
        return optax.losses.softmax_cross_entropy(z, smoothed, axis, per_logit)

    def optax_integer(z, alpha):
        integer = optax.losses.softmax_cross_entropy_with_integer_labels(z, labels, axis, per_logit)
        return (1.0 - alpha) * integer + optax_soft(z, jnp.zeros_like(z), alpha)

    def ours(z, y, alpha):
        return softmax_cross_entropy(z, y, axis, per_logit, label_smoothing=alpha, reduction="none")

    @jax.jit
    def cases(z, alpha):
        pairs = (
            (lambda z: ours(z, soft, alpha), lambda z: optax_soft(z, soft, alpha)),
            (lambda z: ours(z, labels, alpha), lambda z: optax_integer(z, alpha)),
        )
        return [[(f(z), jax.grad(lambda z, f=f: jnp.sum(f(z)))(z)) for f in pair] for pair in pairs]

    for alpha in (0.1, 1.0):
        for (value, grad), (ref_value, ref_grad) in cases(logits, alpha):
            np.testing.assert_allclose(value, ref_value, rtol=RTOL, atol=ATOL)
            np.testing.assert_allclose(grad, ref_grad, rtol=RTOL, atol=ATOL)
