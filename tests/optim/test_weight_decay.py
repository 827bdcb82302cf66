"""add_decayed_weights against optax (constant, zero, scheduled and masked decay)."""

import chex
import jax
import jax.numpy as jnp
import optax
import pytest
from optim_cases import mixed_params

from jaxtrain.optim import AddDecayedWeightsState, adamw, add_decayed_weights
from jaxtrain.optim.schedules import linear


def _two_steps(tx, params, grads):
    state = tx.init(params)
    update = jax.jit(tx.update)
    first, state = update(grads, state, params)
    second, state = update(grads, state, params)
    return first, second


@pytest.mark.parametrize(
    "weight_decay,mask",
    [
        (0.1, None),
        (0.0, None),
        (linear(0.1, 0.0, transition_steps=1), None),
        (0.1, lambda p: {k: k != "b" for k in p}),
    ],
    ids=["constant", "zero", "schedule", "mask"],
)
def test_add_decayed_weights_equals_optax(weight_decay, mask):
    params, grads = mixed_params(), mixed_params(seed=5)
    theirs_decay = weight_decay
    if callable(weight_decay):
        theirs_decay = optax.linear_schedule(0.1, 0.0, transition_steps=1)
    ours = _two_steps(add_decayed_weights(weight_decay, mask), params, grads)
    theirs = _two_steps(optax.add_decayed_weights(theirs_decay, mask), params, grads)
    chex.assert_trees_all_equal(ours, theirs)


def test_add_decayed_weights_state_and_missing_params():
    tx = add_decayed_weights(0.1)
    state = tx.init(jnp.zeros(2))
    assert isinstance(state, AddDecayedWeightsState)
    with pytest.raises(ValueError, match="needs the parameters"):
        tx.update(jnp.ones(2), state)


def _mask(params):
    return {k: k != "b" for k in params}


@pytest.mark.parametrize("use_jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize(
    "ours,theirs",
    [
        (
            lambda: adamw(0.1, weight_decay=lambda c: 0.1 / (c + 1)),
            lambda: optax.adamw(0.1, weight_decay=lambda c: 0.1 / (c + 1)),
        ),
        (
            lambda: add_decayed_weights(lambda c: -0.3 / (c + 1), _mask),
            lambda: optax.add_decayed_weights(lambda c: -0.3 / (c + 1), _mask),
        ),
    ],
    ids=["adamw", "add_decayed_weights"],
)
def test_a_checked_weight_decay_schedule_keeps_optaxs_numbers(ours, theirs, use_jit):
    # A scheduled λ is checked wherever it is concrete; the check changes no number.
    params, grads = mixed_params(), mixed_params(seed=5)
    results = []
    for tx in (ours(), theirs()):
        update = jax.jit(tx.update) if use_jit else tx.update
        state = tx.init(params)
        for _ in range(3):
            updates, state = update(grads, state, params)
        results.append((updates, state))
    chex.assert_trees_all_equal(*results)
