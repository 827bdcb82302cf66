"""The extra arguments an update is handed (``update_with_extra_args``), and the escape
transforms inside optax's wrappers: each gets the loss where it takes it, and no other."""

import functools

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxtrain import optim
from jaxtrain.optim import optimize_trajectory


def _saddle(w):
    return (1.0 - w[0] * w[1]) ** 2  # the lecture's toy: a strict saddle at 0


@pytest.mark.parametrize(
    "make",
    [
        lambda: optax.inject_hyperparams(
            optim.saddle_free_newton, static_args=("k", "max_halvings")
        )(k=2, learning_rate=0.5),
        lambda: optax.inject_hyperparams(
            optim.negative_curvature_descent, static_args=("num_iters", "max_halvings")
        )(optim.sgd(0.1)),
        lambda: optax.inject_hyperparams(
            functools.partial(optim.saddle_free_newton, 2), static_args=("max_halvings",)
        )(learning_rate=0.5),
    ],
    ids=["saddle_free_newton", "negative_curvature_descent", "partial"],
)
def test_an_escape_transform_under_inject_hyperparams_gets_the_loss(make):
    # Before: "needs the loss as an extra argument": the wrapper was not looked into.
    _, losses = optimize_trajectory(make(), _saddle, jnp.zeros(2), 6)
    assert losses[-1] < losses[0]  # left the saddle, where the gradient is 0


def test_negative_curvature_descent_hands_the_loss_on_only_to_an_optimizer_that_takes_it():
    # Before: obj_fn went to the wrapped optax.lbfgs, whose line search refuses it.
    def bowl(p):
        return jnp.sum((p - 1.0) ** 2 * jnp.array([1.0, 10.0]))

    start = jnp.array([-1.0, 2.0])
    wrapped, alone = (
        optimize_trajectory(opt, bowl, start, 5)
        for opt in (optim.negative_curvature_descent(optax.lbfgs()), optax.lbfgs())
    )
    # Far from any saddle (‖g‖ above the threshold) it is L-BFGS's own path.
    np.testing.assert_allclose(wrapped[0], alone[0], rtol=1e-6, atol=1e-7)


def test_an_update_with_keyword_arguments_of_its_own_gets_only_those():
    # optax.contrib.sam's update takes grad_fn= and no **kwargs: value= was a TypeError.
    opt = optax.contrib.sam(optax.sgd(0.1), optax.sgd(0.05), sync_period=2)
    path, _ = optimize_trajectory(opt, _saddle, jnp.array([0.5, 0.2]), 4)
    params, state = jnp.array([0.5, 0.2]), opt.init(jnp.array([0.5, 0.2]))
    for _ in range(4):
        grads = optax.tree.cast(jnp.asarray([-2 * (1 - params[0] * params[1]) * params[1],
                                             -2 * (1 - params[0] * params[1]) * params[0]]),
                                jnp.float32)  # fmt: skip
        updates, state = opt.update(grads, state, params)
        params = optax.apply_updates(params, updates)
    np.testing.assert_allclose(path[-1], params, rtol=1e-6)


@pytest.mark.parametrize("wrap", ["masked", "multi_transform"])
def test_an_escape_transform_on_part_of_the_parameters_is_refused_in_one_line(wrap):
    # Before: the loss got optax's MaskedNode holes: "unsupported operand ... 'MaskedNode'".
    escape = optim.negative_curvature_descent(optim.sgd(0.1))
    labels = {"a": True, "b": False}
    if wrap == "masked":
        opt = optax.masked(escape, labels)
    else:
        opt = optax.multi_transform({True: escape, False: optim.sgd(0.1)}, labels)

    def loss(p):
        return (1.0 - p["a"] * p["b"]) ** 2

    with pytest.raises(ValueError, match=r"needs every parameter.*optax\.masked"):
        optimize_trajectory(opt, loss, {"a": jnp.float32(0.5), "b": jnp.float32(0.5)}, 2)


def test_saddle_free_newton_moves_float16_parameters_of_small_steps():
    # Before: the line search took the direction's norm in float16, where entries below
    # ~2.4e-4 square to 0: every update was zero, the loss stayed 2.0e-6.
    def loss(w):
        return 0.5 * jnp.sum(w.astype(jnp.float32) ** 2)

    _, losses = optimize_trajectory(
        optim.saddle_free_newton(4), loss, jnp.full((400,), 1e-4, jnp.float16), 3
    )
    assert float(losses[-1]) < 1e-3 * float(losses[0])
