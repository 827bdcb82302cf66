"""Adagrad: both σ forms against NumPy and optax, and the lecture's mean form ≡ the sum form."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optim_numpy_references as ref
import pytest
from hypothesis import given
from hypothesis import strategies as st
from optim_cases import assert_trees_close, mixed_params, run_pair, x64_enabled
from optim_strategies import PROPERTY, epsilons, gradient_sequences

from jaxtrain import optim
from jaxtrain.optim import (
    ScaleByAdagradState,
    ScaleByRootMeanSquareHistoryState,
    scale_by_adagrad,
    scale_by_learning_rate,
    scale_by_root_mean_square_history,
)
from jaxtrain.optim.schedules import inverse_sqrt


@PROPERTY
@given(grads=gradient_sequences(), eps=epsilons, init=st.sampled_from([0.0, 0.1, 1.0]))
def test_sum_form_matches_numpy_reference(grads, eps, init):
    with x64_enabled():
        ours = ref.transform_directions(scale_by_adagrad(init, eps), grads)
    np.testing.assert_allclose(ours, ref.adagrad_sum(grads, init, eps), rtol=1e-12, atol=1e-14)


@PROPERTY
@given(grads=gradient_sequences(), eps=epsilons)
def test_mean_form_matches_numpy_reference(grads, eps):
    with x64_enabled():
        ours = ref.transform_directions(scale_by_root_mean_square_history(eps), grads)
    np.testing.assert_allclose(ours, ref.adagrad_mean(grads, eps), rtol=1e-12, atol=1e-14)


def test_sum_form_equals_optax_scale_by_rss():
    grads = jax.random.normal(jax.random.key(1), (8, 4)).at[0, 0].set(0.0)
    ours = ref.transform_directions(scale_by_adagrad(0.0, 1e-7), grads, use_jit=True)
    theirs = ref.transform_directions(optax.scale_by_rss(0.0, 1e-7), grads, use_jit=True)
    np.testing.assert_array_equal(ours, theirs)


def _lecture_adagrad(eta, eps):
    """The lecture's Adagrad: σ a root mean square, with the decay ηᵗ = η/√(t+1)."""
    return optax.chain(
        scale_by_root_mean_square_history(eps=eps),
        scale_by_learning_rate(inverse_sqrt(model_dim=1, warmup_steps=0, scale=eta)),
    )


@pytest.mark.parametrize("eps", [1e-7, 1e-3])
def test_lecture_mean_form_with_decay_equals_sum_form(eps):
    """ηᵗ/σᵗ (mean) = η/√(Σg² + ε) (sum with s₀ = 0): the same 100 iterates.

    optax's defaults would not match: its accumulator starts at s₀ = 0.1, which the mean
    form has no counterpart for, so the sum form is taken with ``initial_accumulator_value=0``
    and the same ε (added to the running sum in both forms).
    """
    sum_form = optim.adagrad(0.1, initial_accumulator_value=0.0, eps=eps)
    params = mixed_params(jnp.float32)
    (lecture, _), (summed, _) = run_pair(_lecture_adagrad(0.1, eps), sum_form, params)
    assert_trees_close(lecture, summed, rtol=2e-6, atol=1e-6)
    with x64_enabled():
        params = mixed_params(jnp.float64)
        (lecture, _), (summed, _) = run_pair(_lecture_adagrad(0.1, eps), sum_form, params)
        assert_trees_close(lecture, summed, rtol=1e-13, atol=1e-14)


def test_optax_default_accumulator_breaks_the_equality():
    params = mixed_params(jnp.float32)
    (lecture, _), (default, _) = run_pair(
        _lecture_adagrad(0.1, 1e-7), optax.adagrad(0.1), params, num_steps=20
    )
    gap = max(
        float(jnp.max(jnp.abs(a - b)))
        for a, b in zip(jax.tree.leaves(lecture), jax.tree.leaves(default), strict=True)
    )
    assert gap > 1e-3


def test_states_hold_what_they_document():
    tx = scale_by_root_mean_square_history(eps=1e-6)
    state = tx.init({"a": jnp.zeros(2)})
    assert isinstance(state, ScaleByRootMeanSquareHistoryState)
    _, state = tx.update({"a": jnp.array([1.0, 2.0])}, state)
    _, state = tx.update({"a": jnp.array([3.0, 0.0])}, state)
    assert int(state.count) == 2
    np.testing.assert_allclose(state.sum_of_squares["a"], [10.0, 4.0])
    sum_state = scale_by_adagrad(0.5).init(jnp.zeros(3))
    assert isinstance(sum_state, ScaleByAdagradState)
    np.testing.assert_allclose(sum_state.sum_of_squares, 0.5)


@pytest.mark.parametrize(
    "transform",
    [
        lambda: scale_by_adagrad(0.0, eps=1e-45),
        lambda: scale_by_root_mean_square_history(eps=1e-45),
    ],
)
def test_zero_gradients_keep_a_zero_step_with_an_eps_that_flushes_to_zero(transform):
    # ε = 1e-45 is a float32 subnormal, which XLA's CPU code flushes to 0: a parameter that
    # has seen only zero gradients must get the zero step of optax's guard, not 0·rsqrt(0) =
    # NaN (audit, 2026-12-07: the guard's "total > 0" as ">= 0" passed every Adagrad test).
    opt = transform()
    zeros = jnp.zeros(3)
    updates, _ = jax.jit(opt.update)(zeros, opt.init(zeros))
    np.testing.assert_array_equal(updates, zeros)
