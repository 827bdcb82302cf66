"""effective_step_size: η/σᵢᵗ per parameter, checked against the update each optimizer made."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from optim_cases import grads_like_params, mixed_params

from jaxtrain import optim
from jaxtrain.optim import effective_step_size, learning_rate_from_state
from jaxtrain.optim.schedules import inverse_sqrt


def _last_step(opt, num_steps=7):
    """Runs a few steps; returns (last gradients, last updates, final state)."""
    params = mixed_params()
    state = opt.init(params)
    update = jax.jit(opt.update)
    for _ in range(num_steps):
        grads = grads_like_params(params)
        updates, state = update(grads, state, params)
        params = optax.apply_updates(params, updates)
    return grads, updates, state


def _close(a, b, rtol=1e-5):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(x, y, rtol=rtol, atol=1e-7)


@pytest.mark.parametrize(
    "opt",
    [
        optim.adagrad(0.1),
        optim.adagrad(0.1, initial_accumulator_value=0.0),
        optax.chain(
            optim.scale_by_root_mean_square_history(),
            optim.scale_by_learning_rate(inverse_sqrt(1, 0, scale=0.1)),
        ),
        optim.rmsprop(0.01),
        optim.rmsprop(0.01, eps_in_sqrt=False, bias_correction=True, initial_scale=0.5),
        optim.rmsprop(0.01, centered=True),
    ],
    ids=[
        "adagrad",
        "adagrad_zero_init",
        "lecture_mean_form",
        "rmsprop",
        "rmsprop_opts",
        "centered",
    ],
)
def test_update_is_minus_effective_step_times_gradient(opt):
    grads, updates, state = _last_step(opt)
    expected = jax.tree.map(lambda u, g: -u / g, updates, grads)
    _close(effective_step_size(opt, state), expected)


@pytest.mark.parametrize("name", ["adam", "radam"])
@pytest.mark.parametrize("num_steps", [3, 7])
def test_adam_and_radam_step_is_minus_effective_step_times_m_hat(name, num_steps):
    # With β₂ = 0.9 RAdam switches to its rectified step at t = 3 (3 steps: before; 7: after).
    opt = getattr(optim, name)(0.01, b2=0.9)
    _, updates, state = _last_step(opt, num_steps)
    adam_state = state[0]
    m_hat = jax.tree.map(lambda m: m / (1 - 0.9**num_steps), adam_state.mu)
    expected = jax.tree.map(lambda u, m: -u / m, updates, m_hat)
    _close(effective_step_size(opt, state), expected, rtol=1e-4)


def test_adam_formula_with_bias_correction():
    opt = optim.adam(0.1, b2=0.99, eps=1e-3)
    _, _, state = _last_step(opt, 4)
    nu_hat = jax.tree.map(lambda v: v / (1 - 0.99**4), state[0].nu)
    expected = jax.tree.map(lambda v: 0.1 / (jnp.sqrt(v) + 1e-3), nu_hat)
    _close(effective_step_size(opt, state), expected)


def test_inside_wrappers_and_with_an_explicit_learning_rate():
    opt = optax.inject_hyperparams(optim.adam)(learning_rate=0.05)
    wrapped = optim.skip_nonfinite(optax.chain(optax.clip(10.0), opt))
    _, _, state = _last_step(wrapped)
    eta = learning_rate_from_state(state)
    assert float(eta) == pytest.approx(0.05)
    by_default = effective_step_size(wrapped, state)
    doubled = effective_step_size(wrapped, state, learning_rate=0.1)
    _close(doubled, jax.tree.map(lambda s: 2 * s, by_default))
    assert jax.tree.structure(by_default) == jax.tree.structure(mixed_params())


def test_before_any_update_is_finite():
    opt = optim.adam(0.1)
    state = opt.init(mixed_params())
    for leaf in jax.tree.leaves(effective_step_size(opt, state)):
        assert np.all(np.isfinite(leaf))


def test_inside_jit():
    opt = optim.rmsprop(0.01)
    _, _, state = _last_step(opt)
    _close(jax.jit(lambda s: effective_step_size(opt, s))(state), effective_step_size(opt, state))


@pytest.mark.parametrize(
    "opt",
    [optim.sgd(0.1), optim.sgd(0.1, momentum=0.9), optax.sgd(0.1, 0.9)],
    ids=["sgd", "momentum", "optax_momentum"],
)
def test_states_without_a_second_moment_raise(opt):
    state = opt.init(mixed_params())
    with pytest.raises(ValueError, match="second moment"):
        effective_step_size(opt, state, learning_rate=0.1)


def test_a_state_without_its_owning_transform_raises():
    state = optax.adam(0.1).init(mixed_params())
    with pytest.raises(ValueError, match="not the transform that owns it"):
        effective_step_size(optim.sgd(0.1), state)


@pytest.mark.parametrize(
    "opt",
    [
        optax.inject_hyperparams(optax.adam)(0.1, b2=0.9, eps=1e-3),
        optax.inject_hyperparams(optim.adam)(0.1, b2=0.9, eps=1e-3),
        optax.inject_hyperparams(optim.rmsprop)(0.1, 0.5, 1e-2),
        optax.inject_hyperparams(optax.adagrad)(0.1, eps=1e-2),
    ],
    ids=["optax_adam", "adam", "rmsprop", "optax_adagrad"],
)
def test_injected_hyperparameters_are_read_inside_jit(opt):
    # Inside jit the state's β₂ and ε are tracers; they were once dropped for optax's
    # defaults (RMSProp's η/σ 83× off).
    _, _, state = _last_step(opt)
    _close(jax.jit(lambda s: effective_step_size(opt, s))(state), effective_step_size(opt, state))


def test_numpy_scalar_hyperparameters_are_read_like_python_numbers():
    # A config's np.array(0.9) was dropped for the default β₂ = 0.999 (10× off).
    from_numpy = optim.adam(1.0, b2=np.array(0.9), eps=np.array(1e-3))
    from_python = optim.adam(1.0, b2=0.9, eps=1e-3)
    _, _, state = _last_step(from_python)
    _close(effective_step_size(from_numpy, state), effective_step_size(from_python, state))
