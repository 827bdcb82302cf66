"""Composition both ways: jaxtrain inside optax's combinators and optax inside jaxtrain's."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from optim_cases import assert_trees_close, mixed_params, run_pair

from jaxtrain import optim
from jaxtrain.optim.schedules import warmup_cosine_decay

SCHEDULE = warmup_cosine_decay(0.0, 0.05, warmup_steps=10, decay_steps=100)


def test_ours_inside_optax_chain():
    ours = optax.chain(optax.clip_by_global_norm(1.0), optim.adam(0.01))
    theirs = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(0.01))
    (a, _), (b, _) = run_pair(ours, theirs, mixed_params())
    assert_trees_close(a, b, rtol=1e-6, atol=1e-7)


def test_optax_pieces_inside_ours():
    # optax's direction + jaxtrain's learning rate; optax's optimizer under skip_nonfinite.
    mixed = optax.chain(optax.scale_by_adam(), optim.scale_by_learning_rate(0.01))
    wrapped = optim.skip_nonfinite(optax.adam(0.01), max_consecutive_errors=2)
    (a, _), (b, _) = run_pair(mixed, optax.adam(0.01), mixed_params())
    assert_trees_close(a, b, rtol=1e-6, atol=1e-7)
    (a, _), (b, _) = run_pair(wrapped, optax.adam(0.01), mixed_params())
    assert_trees_close(a, b, rtol=1e-6, atol=1e-7)


def test_building_blocks_compose_into_the_optimizers():
    hand_made = optax.chain(
        optim.clip_by_global_norm(1.0),
        optim.scale_by_adam(),
        optim.add_decayed_weights(1e-3),
        optim.scale_by_learning_rate(SCHEDULE),
    )
    reference = optax.chain(
        optax.clip_by_global_norm(1.0),
        optax.adamw(optax.warmup_cosine_decay_schedule(0.0, 0.05, 10, 100), weight_decay=1e-3),
    )
    (a, _), (b, _) = run_pair(hand_made, reference, mixed_params())
    assert_trees_close(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("adam", dict(learning_rate=SCHEDULE, b1=0.8, eps=1e-6)),
        ("sgd", dict(learning_rate=0.02, momentum=0.9)),
        ("rmsprop", dict(learning_rate=0.01, decay=0.95, momentum=0.5)),
        ("adagrad", dict(learning_rate=0.1, initial_accumulator_value=0.2)),
        ("adamw", dict(learning_rate=0.01, weight_decay=1e-3)),
        ("radam", dict(learning_rate=0.01, b2=0.99)),
    ],
)
def test_inject_hyperparams_under_jit_matches_optax(name, kwargs):
    # Inside jit the hyperparameters arrive as tracers: the validators must let them through.
    theirs_kwargs = dict(kwargs)
    if name == "adam":
        theirs_kwargs["learning_rate"] = optax.warmup_cosine_decay_schedule(0.0, 0.05, 10, 100)
    ours = optax.inject_hyperparams(getattr(optim, name))(**kwargs)
    theirs = optax.inject_hyperparams(getattr(optax, name))(**theirs_kwargs)
    (a, state), (b, _) = run_pair(ours, theirs, mixed_params(), num_steps=50)
    assert_trees_close(a, b, rtol=1e-6, atol=1e-7)
    assert set(kwargs) <= set(state.hyperparams) | {"learning_rate"}


def test_inject_hyperparams_accepts_traced_values_it_cannot_check():
    # A negative value passed as a traced hyperparameter is not checked (its value is unknown
    # at trace time); the same value given concretely is rejected.
    opt = optax.inject_hyperparams(optim.sgd)(learning_rate=0.1)
    params = jnp.ones(2)
    state = opt.init(params)
    state.hyperparams["learning_rate"] = jnp.asarray(-0.1)
    updates, _ = jax.jit(opt.update)(jnp.ones(2), state, params)
    np.testing.assert_allclose(updates, 0.1)
    with pytest.raises(ValueError, match="learning_rate"):
        optax.inject_hyperparams(optim.sgd)(learning_rate=-0.1).init(params)


def test_multisteps_matches_optax():
    ours = optax.MultiSteps(optim.adam(SCHEDULE), every_k_schedule=3)
    theirs = optax.MultiSteps(
        optax.adam(optax.warmup_cosine_decay_schedule(0.0, 0.05, 10, 100)), every_k_schedule=3
    )
    (a, state), (b, _) = run_pair(ours, theirs, mixed_params(), num_steps=30)
    assert_trees_close(a, b, rtol=1e-6, atol=1e-7)
    assert int(optim.step_count_from_state(state)) == 10


def test_masked_matches_optax():
    def mask(params):
        return {name: name in ("w", "conv") for name in params}

    ours = optax.masked(optim.rmsprop(0.01, momentum=0.9), mask)
    theirs = optax.masked(optax.rmsprop(0.01, momentum=0.9), mask)
    (a, _), (b, _) = run_pair(ours, theirs, mixed_params())
    assert_trees_close(a, b, rtol=1e-6, atol=1e-7)
