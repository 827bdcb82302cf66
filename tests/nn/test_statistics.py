"""mean_and_variance: masked statistics over a mapped axis are those of the pooled entries."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxtrain.nn._statistics import mean_and_variance

RTOL, ATOL = 1e-5, 1e-5

_RNG = np.random.default_rng(0)
# Two replicas of 5 examples × 3 features; the replicas keep different numbers of entries, so an
# equal-weight average of per-replica statistics differs from the pooled ones.
X = (2.0 + 3.0 * _RNG.standard_normal((2, 5, 3))).astype(np.float32)
MASK_PER_ENTRY = np.array(
    [
        [[1, 0, 1], [0, 0, 1], [0, 1, 1], [0, 0, 0], [0, 0, 0]],  # 1, 1, 3 kept per feature
        [[1, 1, 0], [1, 1, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1]],  # 4, 4, 4 kept per feature
    ],
    bool,
)
# One flag per example, broadcast over the features: 1 kept on replica 0, 4 on replica 1.
MASK_PER_EXAMPLE = np.array([[True, False, False, False, False], [True] * 4 + [False]])[..., None]


def _pooled_moments(x, mask, use_mean):
    """μ and σ² over every kept entry of all replicas, in float64 NumPy."""
    x = np.asarray(x, np.float64).reshape(-1, x.shape[-1])
    mask = np.broadcast_to(mask, (*mask.shape[:-1], x.shape[-1])).reshape(x.shape)
    count = mask.sum(0)
    mean = (x * mask).sum(0) / count if use_mean else np.zeros(x.shape[-1])
    var = (mask * (x - mean) ** 2).sum(0) / count
    return mean, var


@pytest.mark.parametrize("mask", [MASK_PER_ENTRY, MASK_PER_EXAMPLE], ids=["entry", "example"])
@pytest.mark.parametrize("use_fast_variance", [False, True])
@pytest.mark.parametrize("use_mean", [True, False])
def test_masked_statistics_over_a_mapped_axis_pool_the_kept_entries(
    mask, use_fast_variance, use_mean
):
    # Before: each replica's masked mean was pmean-ed with equal weight (flax.nnx does the same),
    # so mask=[1 kept, 4 kept] weighted the lone entry of replica 0 like the four of replica 1.
    def replica_moments(x, m):
        return mean_and_variance(
            x, 0, axis_name="r", use_fast_variance=use_fast_variance, use_mean=use_mean, mask=m
        )

    mean, var = jax.jit(jax.vmap(replica_moments, axis_name="r"))(X, mask)
    expected_mean, expected_var = _pooled_moments(X, mask, use_mean)
    for replica in range(2):
        np.testing.assert_allclose(mean[replica], expected_mean, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(var[replica], expected_var, rtol=RTOL, atol=ATOL)


def test_masked_statistics_over_a_mapped_axis_equal_one_replica_over_the_pooled_data():
    def moments(x, m):
        return mean_and_variance(x, 0, mask=m)

    def replica_moments(x, m):
        return mean_and_variance(x, 0, axis_name="r", mask=m)

    single = jax.jit(moments)(X.reshape(10, 3), MASK_PER_ENTRY.reshape(10, 3))
    mapped = jax.jit(jax.vmap(replica_moments, axis_name="r"))(X, MASK_PER_ENTRY)
    for ours, theirs in zip(mapped, single, strict=True):
        np.testing.assert_allclose(ours[0], theirs, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(ours[1], theirs, rtol=RTOL, atol=ATOL)


def test_bfloat16_statistics_are_computed_in_float32():
    # The docstring's float32 at least: bfloat16 statistics of values near 1,000 round to
    # whole numbers (mean 1012, variance 136 where NumPy's float32 gives 1011.33 and 135.56),
    # which every float32 test hid (mutation audit, 2026-12-07). A LayerNorm of bfloat16
    # parameters is flax.nnx's two-pass one bit for bit.
    from flax import nnx

    from jaxtrain.nn import LayerNorm

    x = jnp.array([[1000.0, 1001.0, 1005.0, 1013.0, 1021.0, 1029.0]], jnp.bfloat16)
    mean, variance = jax.jit(mean_and_variance, static_argnums=1)(x, -1)
    wide = np.asarray(x, np.float32)
    assert mean.dtype == variance.dtype == jnp.float32
    np.testing.assert_allclose(mean, wide.mean(-1), rtol=1e-6)
    np.testing.assert_allclose(variance, wide.var(-1), rtol=1e-5)
    settings = dict(rngs=nnx.Rngs(0), param_dtype=jnp.bfloat16)
    ours = LayerNorm(6, **settings)(x)
    theirs = nnx.LayerNorm(6, use_fast_variance=False, **settings)(x)
    np.testing.assert_array_equal(np.asarray(ours, np.float32), np.asarray(theirs, np.float32))
