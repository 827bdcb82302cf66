"""optimize_trajectory: the path and losses of a jitted lax.scan run, cached per optimizer."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
from optim_cases import narrow_parabola

from jaxtrain import optim
from jaxtrain.optim import optimize_trajectory


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
    traces = []

    def loss(p):
        traces.append(None)
        return jnp.sum(p**2)

    opt = optim.rmsprop(0.01)
    optimize_trajectory(opt, loss, jnp.ones(2), 10)
    first = len(traces)
    optimize_trajectory(opt, loss, jnp.zeros(2), 10)
    assert len(traces) == first
