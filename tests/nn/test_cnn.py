"""CNN: shapes on 8×8 to 32×32 images, norms, the contract, a short fit, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from jaxtrain.losses import softmax_cross_entropy
from jaxtrain.nn import CNN, BatchNorm, GroupNorm, InstanceNorm, functional


@pytest.mark.parametrize(("size", "channels"), [(8, 1), (16, 3), (32, 3)])
def test_shapes(size, channels):
    x = jnp.ones((2, size, size, channels))
    # Built and run abstractly (shapes only): nothing to compile.
    y = nnx.eval_shape(lambda: CNN(channels, 10, channels=(4, 8, 8), rngs=nnx.Rngs(0))(x))
    assert y.shape == (2, 10)


def test_gray_images_without_channel_axis():
    model = CNN(1, 3, channels=(4,), rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(0), (2, 8, 8))
    np.testing.assert_allclose(model(x), model(x[..., None]), rtol=1e-6)


@pytest.mark.parametrize(
    ("norm", "kind"),
    [("batch", BatchNorm), ("group", GroupNorm), ("instance", InstanceNorm), ("layer", GroupNorm)],
)
def test_norm_choices(norm, kind):
    model = nnx.eval_shape(lambda: CNN(1, 3, channels=(4, 8), norm=norm, rngs=nnx.Rngs(0)))
    assert isinstance(model.blocks[0].norm, kind)
    apply, params, state = functional(model)
    y, new_state = jax.eval_shape(
        lambda p, s: apply(p, s, jnp.ones((2, 8, 8, 1)), train=True), params, state
    )
    assert y.shape == (2, 3)
    assert (state != {}) == (norm == "batch")
    assert jax.tree.structure(new_state) == jax.tree.structure(state)


def test_fits_a_small_batch():
    x = jax.random.normal(jax.random.key(0), (64, 8, 8, 1))
    # A learnable rule: the label is the brightest 4×4 quadrant.
    quadrants = x.reshape(64, 2, 4, 2, 4).mean(axis=(2, 4)).reshape(64, 4)
    y = jnp.argmax(quadrants, axis=-1)
    apply, params, state = functional(CNN(1, 4, channels=(4, 8), norm="batch", rngs=nnx.Rngs(0)))
    optimizer = optax.adam(1e-2)

    def step(carry, _):
        params, state, opt_state = carry

        def loss(p):
            logits, new_state = apply(p, state, x, train=True)
            return softmax_cross_entropy(logits, y), new_state

        (value, state), grads = jax.value_and_grad(loss, has_aux=True)(params)
        updates, opt_state = optimizer.update(grads, opt_state)
        return (optax.apply_updates(params, updates), state, opt_state), value

    _, losses = jax.jit(lambda c: jax.lax.scan(step, c, None, length=40))(
        (params, state, optimizer.init(params))
    )
    assert float(losses[-1]) < 0.5 * float(losses[0])


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: CNN(1, 10, channels=(), rngs=nnx.Rngs(0)), "at least one"),
        (lambda: CNN(1, 10, dropout=-0.1, rngs=nnx.Rngs(0)), "dropout"),
        (
            lambda: nnx.eval_shape(lambda: CNN(3, 10, rngs=nnx.Rngs(0))(jnp.ones((2, 8, 8, 1)))),
            "NHWC",
        ),
        (lambda: nnx.eval_shape(lambda: CNN(1, 10, rngs=nnx.Rngs(0))(jnp.ones((2, 64)))), "NHWC"),
        (lambda: CNN(1, 10, norm="weird", rngs=nnx.Rngs(0)), "unknown norm"),
    ],
)
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_one_unbatched_gray_image_is_refused_not_read_as_a_batch():
    # Before: one [28, 28, 1] image became a batch of 28 images of 28×1 pixels, and the
    # model returned 28 rows of logits.
    model = CNN(1, 10, channels=(4,), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"one image\? .*x\[None\]"):
        model(jnp.zeros((28, 28, 1)))
    assert model(jnp.zeros((2, 28, 28))).shape == (2, 10)  # [N, H, W] gray batches still work
