"""optimize_trajectory: the path and losses of a jitted lax.scan run, cached per optimizer."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from optim_cases import narrow_parabola

from jaxtrain import optim
from jaxtrain.optim import _trajectory, optimize_trajectory


def test_path_equals_a_python_loop():
    opt = optim.adam(0.1)
    start = jnp.array([3.0, 1.0])
    path, losses = optimize_trajectory(opt, narrow_parabola, start, 25)
    assert path.shape == (26, 2) and losses.shape == (26,)

    @jax.jit
    def step(params, state):
        updates, state = opt.update(jax.grad(narrow_parabola)(params), state, params)
        return optax.apply_updates(params, updates), state

    params, state = start, opt.init(start)
    for t in range(25):
        np.testing.assert_allclose(path[t], params, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(losses[t], narrow_parabola(path[t]), rtol=1e-6)
        params, state = step(params, state)
    np.testing.assert_allclose(path[-1], params, rtol=1e-6, atol=1e-7)


def test_pytree_params_and_zero_steps():
    def loss(p):
        return jnp.sum(p["a"] ** 2) + p["b"] ** 2

    start = {"a": jnp.ones(3), "b": jnp.array(2.0)}
    path, losses = optimize_trajectory(optim.sgd(0.1), loss, start, 4)
    assert path["a"].shape == (5, 3) and path["b"].shape == (5,)
    np.testing.assert_allclose(path["b"], 2.0 * 0.8 ** np.arange(5), rtol=1e-6)
    path, losses = optimize_trajectory(optim.sgd(0.1), loss, start, 0)
    assert path["a"].shape == (1, 3) and float(losses[0]) == 7.0


def test_compiled_run_is_reused_for_the_same_optimizer_and_loss():
    def loss(p):
        return jnp.sum(p**2)

    opt = optim.rmsprop(0.01)
    optimize_trajectory(opt, loss, jnp.ones(2), 10)
    compiled = _trajectory._scan_trajectory._cache_size()
    optimize_trajectory(opt, loss, jnp.zeros(2), 10)
    assert _trajectory._scan_trajectory._cache_size() == compiled


def test_a_loss_closing_over_changed_data_is_read_anew():
    # Before: the loss was a static argument, compiled with its first call's target.
    target = jnp.array([1.0, 2.0])

    def loss(p):
        return jnp.sum((p - target) ** 2)

    opt = optim.sgd(0.25)
    optimize_trajectory(opt, loss, jnp.zeros(2), 3)
    compiled = _trajectory._scan_trajectory._cache_size()
    target = jnp.array([3.0, 4.0])
    path, losses = optimize_trajectory(opt, loss, jnp.zeros(2), 3)
    assert _trajectory._scan_trajectory._cache_size() == compiled  # new data, same program
    np.testing.assert_allclose(losses[0], 25.0)
    np.testing.assert_allclose(path[1], [1.5, 2.0])  # θ − η·2(θ − target) = target / 2


def _saddle(w):
    return (1.0 - w[0] * w[1]) ** 2  # the lecture's toy: a strict saddle at 0


@pytest.mark.parametrize(
    "make",
    [
        lambda: optim.negative_curvature_descent(optim.sgd(0.1)),
        lambda: optim.perturbed_gd(0.1),
        lambda: optim.saddle_free_newton(2, learning_rate=0.5),
        lambda: optax.chain(
            optax.clip_by_global_norm(10.0), optim.negative_curvature_descent(optim.sgd(0.1))
        ),
        lambda: optax.scale(-0.1),  # a plain GradientTransformation, no extra arguments
    ],
    ids=["negative_curvature_descent", "perturbed_gd", "saddle_free_newton", "chain", "plain"],
)
def test_escape_transforms_get_the_loss_as_obj_fn(make):
    # Before: "negative_curvature_descent's update needs the loss as an extra argument".
    tx = make()
    start = jnp.array([0.0, 0.0])  # the saddle itself: only an escape step moves
    path, losses = optimize_trajectory(tx, _saddle, start, 8)
    opt = optax.with_extra_args_support(tx)

    @jax.jit
    def step(params, state):
        grads = jax.grad(_saddle)(params)
        updates, state = opt.update(grads, state, params, obj_fn=_saddle)
        return optax.apply_updates(params, updates), state

    params, state = start, opt.init(start)
    for t in range(8):
        np.testing.assert_allclose(path[t], params, rtol=1e-6, atol=1e-7)
        params, state = step(params, state)
    np.testing.assert_allclose(path[-1], params, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(losses[-1], _saddle(params), rtol=1e-6)
    if isinstance(tx, optax.GradientTransformationExtraArgs):  # the escape transforms
        assert losses[-1] < losses[0]  # left the saddle, where the gradient is 0


def test_optax_lbfgs_and_reduce_on_plateau_get_their_extra_arguments():
    # Only obj_fn was passed: optax.lbfgs (value, grad, value_fn) and reduce_on_plateau
    # (value) raised TypeError. The path equals optax's own loop step for step.
    def loss(p):
        return jnp.sum((p - 1.0) ** 2 * jnp.array([1.0, 10.0]))

    start = jnp.array([-1.0, 2.0])
    for opt in (optax.lbfgs(), optax.chain(optim.sgd(0.01), optax.contrib.reduce_on_plateau())):
        path, losses = optim.optimize_trajectory(opt, loss, start, 5)
        params, state, expected = start, opt.init(start), []
        for _ in range(5):
            value, grad = jax.value_and_grad(loss)(params)
            expected.append(value)
            updates, state = opt.update(grad, state, params, value=value, grad=grad, value_fn=loss)
            params = optax.apply_updates(params, updates)
        np.testing.assert_allclose(losses[:-1], expected, rtol=1e-5)
        np.testing.assert_allclose(path[-1], params, rtol=1e-5, atol=1e-6)
