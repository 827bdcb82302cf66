"""skip_nonfinite: optax.apply_if_finite parity, a clean state after NaN/inf, and counters."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxtrain import optim
from jaxtrain.optim import SkipNonfiniteState, skip_nonfinite

NAN, INF = float("nan"), float("inf")
# A gradient sequence with single and consecutive non-finite steps.
GRADS = [
    [1.0, 2.0],
    [NAN, 1.0],
    [0.5, -1.0],
    [INF, 0.0],
    [1.0, -INF],
    [NAN, NAN],
    [2.0, 1.0],
]


def _trajectory(opt):
    params = jnp.array([1.0, -1.0])
    state = opt.init(params)
    update = jax.jit(opt.update)
    outputs = []
    for g in GRADS:
        updates, state = update(jnp.array(g), state, params)
        params = optax.apply_updates(params, updates)
        outputs.append((np.asarray(updates), state))
    return outputs


@pytest.mark.parametrize("max_consecutive_errors", [0, 1, 2, 5])
def test_matches_optax_apply_if_finite(max_consecutive_errors):
    ours = _trajectory(skip_nonfinite(optim.adam(0.1), max_consecutive_errors))
    theirs = _trajectory(optax.apply_if_finite(optim.adam(0.1), max_consecutive_errors))
    for (u_ours, s_ours), (u_theirs, s_theirs) in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(u_ours, u_theirs)
        assert int(s_ours.notfinite_count) == int(s_theirs.notfinite_count)
        assert int(s_ours.total_notfinite) == int(s_theirs.total_notfinite)
        assert bool(s_ours.last_finite) == bool(s_theirs.last_finite)
        chex.assert_trees_all_equal(s_ours.inner_state, s_theirs.inner_state)


def test_default_never_lets_a_nonfinite_step_through():
    outputs = _trajectory(skip_nonfinite(optim.adam(0.1)))
    final_state = outputs[-1][1]
    assert isinstance(final_state, SkipNonfiniteState)
    assert int(final_state.total_notfinite) == 4
    for updates, state in outputs:
        assert np.all(np.isfinite(updates))
        assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(state.inner_state))
    # Only the 3 finite gradients reached Adam.
    assert int(optim.step_count_from_state(final_state)) == 3


def test_skipped_step_returns_zeros_and_keeps_the_inner_state():
    opt = skip_nonfinite(optim.sgd(0.1, momentum=0.9))
    state = opt.init({"a": jnp.zeros(2)})
    _, state = opt.update({"a": jnp.ones(2)}, state)
    updates, skipped = opt.update({"a": jnp.array([1.0, jnp.inf])}, state)
    np.testing.assert_array_equal(updates["a"], 0.0)
    chex.assert_trees_all_equal(skipped.inner_state, state.inner_state)
    assert not bool(skipped.last_finite) and int(skipped.notfinite_count) == 1


def test_the_largest_finite_gradients_are_applied_as_optax_applies_them():
    # A plain sum of these gradients overflows; the check must still call them finite.
    params = {"w": jnp.zeros((1000, 8), jnp.float32)}
    grads = {"w": jnp.full((1000, 8), jnp.finfo(jnp.float32).max)}
    ours, theirs = skip_nonfinite(optax.sgd(1e-3)), optax.apply_if_finite(optax.sgd(1e-3), 3)
    ours_updates, ours_state = jax.jit(ours.update)(grads, ours.init(params), params)
    theirs_updates, _ = jax.jit(theirs.update)(grads, theirs.init(params), params)
    assert bool(ours_state.last_finite) and int(ours_state.total_notfinite) == 0
    np.testing.assert_array_equal(ours_updates["w"], theirs_updates["w"])


def test_an_inner_update_of_another_dtype_is_skipped_in_that_dtype():
    # Mixed precision: bfloat16 parameters, Adam's moments (and so its updates) in float32.
    # The skip branch returned zeros of the gradient's bfloat16 and lax.cond refused the two
    # branches ("cond branches must have equal output types"; optax.apply_if_finite too).
    params = jnp.ones(3, jnp.bfloat16)
    opt = skip_nonfinite(optim.adam(1e-3, mu_dtype=jnp.float32))
    state = opt.init(params)
    update = jax.jit(opt.update)
    good, state = update(jnp.ones(3, jnp.bfloat16), state, params)
    bad, state = update(jnp.array([1.0, jnp.nan, 1.0], jnp.bfloat16), state, params)
    assert good.dtype == bad.dtype == jnp.float32
    np.testing.assert_array_equal(bad, 0.0)
    assert int(state.total_notfinite) == 1


@pytest.mark.parametrize(
    "limit", [np.int64(1), np.int32(1), 1], ids=["np.int64", "np.int32", "int"]
)
def test_a_numpy_integer_limit_is_an_integer(limit):
    # np.int64(3) was refused as "must be an integer"; optax.apply_if_finite takes it.
    opt = skip_nonfinite(optim.sgd(1.0), max_consecutive_errors=limit)
    state = opt.init(jnp.zeros(1))
    nan = jnp.array([jnp.nan])
    first, state = opt.update(nan, state)
    second, state = opt.update(nan, state)
    np.testing.assert_array_equal(first, 0.0)  # skipped: 1 in a row
    assert np.isnan(second).all()  # the second in a row is let through


def test_a_limit_beyond_the_int32_count_never_lets_one_through():
    # The count stops at 2³¹ − 1; 2⁴⁰ overflowed the comparison with it (OverflowError).
    opt = skip_nonfinite(optim.sgd(1.0), max_consecutive_errors=2**40)
    updates, _ = jax.jit(opt.update)(jnp.array([jnp.nan]), opt.init(jnp.zeros(1)))
    np.testing.assert_array_equal(updates, 0.0)
