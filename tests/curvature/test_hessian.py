"""The dense Hessian: exact on the lecture's toy, equal to jax.hessian, guarded by max_bytes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from curvature_problems import make_mlp_problem, mlp_loss
from jax.flatten_util import ravel_pytree

from jaxtrain.curvature import DEFAULT_MAX_BYTES, _hessian, hessian


def test_toy_hessian_is_the_lectures_matrix(toy):
    H = hessian(toy, jnp.zeros(2))
    np.testing.assert_array_equal(np.asarray(H), [[0.0, -2.0], [-2.0, 0.0]])
    H_min = hessian(toy, jnp.ones(2))
    np.testing.assert_allclose(np.asarray(H_min), [[2.0, 2.0], [2.0, 2.0]], atol=1e-6)


@pytest.fixture(scope="module")
def jax_reference():
    """``(params, x, y, H)``: the default MLP problem and jax.hessian's H, compiled once for
    every chunk size."""
    params, x, y = make_mlp_problem()
    flat, unravel = ravel_pytree(params)
    return params, x, y, jax.jit(jax.hessian(lambda f: mlp_loss(unravel(f), x, y)))(flat)


@pytest.mark.parametrize("chunk_size", [None, 1, 7, 1000])
def test_matches_jax_hessian_on_an_mlp(jax_reference, chunk_size):
    params, x, y, reference = jax_reference
    flat = ravel_pytree(params)[0]
    H = hessian(mlp_loss, params, x, y, chunk_size=chunk_size)
    assert H.shape == (flat.size, flat.size) and H.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(H), np.asarray(reference), atol=2e-5, rtol=1e-4)
    np.testing.assert_array_equal(np.asarray(H), np.asarray(H).T)


def test_float64_when_x64_is_enabled(x64, mlp_problem):
    params, x, y = mlp_problem()  # float32 leaves: the Hessian is still computed in float64
    H = hessian(mlp_loss, params, x, y)
    assert H.dtype == jnp.float64
    p64, x64_, y64 = jax.tree.map(lambda a: a.astype(jnp.float64), (params, x, y))
    flat, unravel = ravel_pytree(p64)
    reference = jax.jit(jax.hessian(lambda f: mlp_loss(unravel(f), x64_, y64)))(flat)
    np.testing.assert_allclose(np.asarray(H), np.asarray(reference), atol=1e-12, rtol=1e-10)


def test_float32_stays_float32_with_explicit_dtype(x64, mlp_problem):
    params, x, y = mlp_problem()
    assert hessian(mlp_loss, params, x, y, dtype=jnp.float32).dtype == jnp.float32


def test_too_large_a_hessian_is_refused_before_allocating(mlp_problem):
    params, x, y = mlp_problem()
    n = ravel_pytree(params)[0].size
    with pytest.raises(ValueError, match=rf"{n * n * 4:,} bytes.*Lanczos.*eigenvalues"):
        hessian(mlp_loss, params, x, y, max_bytes=n * n * 4 - 1)
    hessian(mlp_loss, params, x, y, max_bytes=n * n * 4)  # exactly at the limit is fine
    assert DEFAULT_MAX_BYTES == 2 * 1024**3


def test_a_huge_model_fails_fast_without_computing():
    calls = []

    def loss(p):
        calls.append(1)
        return jnp.sum(p**2)

    big = jax.ShapeDtypeStruct((100_000,), jnp.float32)
    with pytest.raises(ValueError, match=r"40,000,000,000 bytes \(37\.25 GiB\)"):
        hessian(loss, jnp.zeros(big.shape, big.dtype))
    assert not calls


@pytest.mark.parametrize("bad", [0, -3])
def test_bad_chunk_size(toy, bad):
    with pytest.raises(ValueError, match="chunk_size"):
        hessian(toy, jnp.zeros(2), chunk_size=bad)


def test_no_parameters():
    with pytest.raises(ValueError, match="no array leaves"):
        hessian(lambda p: 0.0, {})


def test_no_recompilation_on_a_second_call(mlp_problem):
    params, x, y = mlp_problem()
    hessian(mlp_loss, params, x, y)
    compiled = _hessian._dense_hessian._cache_size()
    hessian(mlp_loss, jax.tree.map(lambda a: a + 1.0, params), x + 1.0, y)
    assert _hessian._dense_hessian._cache_size() == compiled


def test_under_jit(mlp_problem):
    params, x, y = mlp_problem()
    H = jax.jit(lambda p: hessian(mlp_loss, p, x, y))(params)
    np.testing.assert_allclose(np.asarray(H), np.asarray(hessian(mlp_loss, params, x, y)))


def test_integer_leaves_are_refused_as_hvp_refuses_them():
    params = {"a": jnp.ones(2), "i": jnp.ones(1, jnp.int32)}
    with pytest.raises(ValueError, match="floating-point"):
        hessian(lambda p: jnp.sum(p["a"] ** 2) * p["i"][0], params)


@pytest.mark.parametrize("chunk_size", [2.5, True, "2", 0])
def test_a_bad_chunk_size_is_refused_naming_it(chunk_size):
    # 2.5 and True were refused as "batch_size must be a positive int or None" (a name the
    # caller never gave), "2" with a bare TypeError.
    with pytest.raises(ValueError, match="chunk_size must be a positive integer or None"):
        hessian(lambda w: jnp.sum(w**2), jnp.ones(3), chunk_size=chunk_size)


def test_a_numpy_integer_chunk_size_is_an_int():
    dense = hessian(lambda w: jnp.sum(w**2), jnp.ones(3), chunk_size=np.int64(2))
    np.testing.assert_allclose(dense, 2 * np.eye(3))
