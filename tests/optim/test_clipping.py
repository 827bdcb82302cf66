"""clip_by_global_norm against optax, in float32 and bfloat16."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from optim_cases import mixed_params

from jaxtrain.optim import clip_by_global_norm


@pytest.mark.parametrize("max_norm", [0.5, 100.0])
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_clip_by_global_norm_equals_optax(max_norm, dtype):
    # Bit for bit in float32; bfloat16's norm is summed in float32 here, in bfloat16 by
    # optax: the same to bfloat16's resolution (2⁻⁸).
    grads = mixed_params(dtype, seed=7)
    ours, _ = jax.jit(clip_by_global_norm(max_norm).update)(grads, optax.EmptyState())
    theirs, _ = jax.jit(optax.clip_by_global_norm(max_norm).update)(grads, optax.EmptyState())
    if dtype == jnp.float32:
        chex.assert_trees_all_equal(ours, theirs)
    else:
        chex.assert_trees_all_equal_dtypes(ours, theirs)
        chex.assert_trees_all_close(ours, theirs, rtol=2**-7, atol=0)
    norm = float(optax.tree.norm(jax.tree.map(lambda g: g.astype(jnp.float32), ours)))
    assert norm <= max_norm * (1 + 1e-2)


def test_clip_leaves_small_updates_alone():
    updates = {"a": jnp.array([0.3]), "b": jnp.array([0.4])}
    clipped, _ = clip_by_global_norm(1.0).update(updates, optax.EmptyState())
    chex.assert_trees_all_equal(clipped, updates)
    clipped, _ = clip_by_global_norm(0.25).update(updates, optax.EmptyState())
    np.testing.assert_allclose([clipped["a"][0], clipped["b"][0]], [0.15, 0.2], rtol=1e-6)


@pytest.mark.parametrize("max_norm", [float("inf"), jnp.array(jnp.inf)], ids=["float", "array"])
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_clip_by_an_infinite_norm_leaves_updates_alone_as_optax(max_norm, dtype):
    # inf is the usual way to switch clipping off; before, it was refused.
    grads = jax.tree.map(lambda g: 1e3 * g, mixed_params(dtype, seed=8))
    for update in (lambda tx: tx.update, lambda tx: jax.jit(tx.update)):
        ours, _ = update(clip_by_global_norm(max_norm))(grads, optax.EmptyState())
        theirs, _ = update(optax.clip_by_global_norm(max_norm))(grads, optax.EmptyState())
        chex.assert_trees_all_equal(ours, theirs)
        chex.assert_trees_all_equal(ours, grads)


def test_an_infinite_bound_keeps_half_precision_updates_whose_norm_overflows():
    # ‖g‖² of float16 [3e4, 4e4] overflows to inf: inf < inf kept nothing and g/inf·inf is NaN.
    g = jnp.array([3e4, 4e4], jnp.float16)
    for bound in (float("inf"), jnp.asarray(jnp.inf, jnp.float16)):
        out, _ = jax.jit(clip_by_global_norm(bound).update)(g, optax.EmptyState())
        np.testing.assert_array_equal(out, g)


@pytest.mark.parametrize("norm", [300.0, 1e5])
def test_a_float16_update_whose_norm_overflows_float16_is_scaled_not_dropped(norm):
    # 100 entries of 30 (‖g‖ = 300): the float16 sum of squares, 90,000, passes 65504, so
    # ‖g‖ read inf and the update g/inf·c was 0, the step dropped (optax's still is). A norm
    # beyond float16 itself (1e5, from entries of 1e4) is scaled in float32 too.
    entry = norm / 10.0
    g = {"w": jnp.full((100,), entry, jnp.float16)}
    out, _ = jax.jit(clip_by_global_norm(1.0).update)(g, optax.EmptyState())
    assert out["w"].dtype == jnp.float16
    np.testing.assert_allclose(np.asarray(out["w"], np.float32), 0.1, rtol=1e-3)
