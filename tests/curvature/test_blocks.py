"""Per-block spectra: each block's H_bb by Lanczos against the dense Hessian's diagonal block."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from curvature_problems import make_mlp_problem, mlp_loss
from flax import nnx
from jax.flatten_util import ravel_pytree

from jaxtrain import curvature, nn


@pytest.fixture(scope="module")
def problem():
    # Two layers of 12 parameters each: both blocks share one compiled Lanczos program.
    params, x, y = make_mlp_problem(sizes=(3, 3, 3), num_examples=16)
    H = np.asarray(curvature.hessian(mlp_loss, params, x, y), np.float64)
    return params, curvature.hvp(mlp_loss, params, x, y), H


def test_each_layers_extremes_are_those_of_its_dense_diagonal_block(problem):
    params, matvec, H = problem
    spectra = curvature.block_eigenvalues(
        matvec, params, k=2, key=jax.random.key(0), return_vectors=True, tol=1e-5
    )
    assert list(spectra) == ["0", "1"]
    flat = ravel_pytree(params)[0]
    for name, block in zip(spectra, (slice(0, 12), slice(12, 24)), strict=True):
        result = spectra[name]
        H_bb = H[block, block]
        dense = np.linalg.eigvalsh(H_bb)
        assert result.size == 12 and result.converged
        # "both": the 2 smallest then the 2 largest, ascending.
        expected = np.concatenate([dense[:2], dense[-2:]])
        np.testing.assert_allclose(result.eigenvalues, expected, atol=1e-4 * np.abs(dense).max())
        # Ritz vectors live in the whole parameter space, zero outside the block.
        vectors = np.asarray(jax.vmap(lambda v: ravel_pytree(v)[0])(result.eigenvectors))
        outside = np.ones(flat.size, bool)
        outside[block] = False
        assert np.all(vectors[:, outside] == 0.0)
        residual = vectors[:, block] @ H_bb - result.eigenvalues[:, None] * vectors[:, block]
        assert np.abs(residual).max() < 1e-3 * np.abs(dense).max()
    # Interlacing: every block's extremes lie within the whole Hessian's.
    whole = np.linalg.eigvalsh(H)
    for result in spectra.values():
        assert (
            whole[0] - 1e-5 <= result.eigenvalues[0] <= result.eigenvalues[-1] <= whole[-1] + 1e-5
        )


def test_partitions_by_layer_leaf_labels_and_callable():
    _, params, _ = nn.functional(nn.MLP(2, 4, 3, depth=2, activation="tanh", rngs=nnx.Rngs(0)))
    # Leaves in jax.tree.leaves order: head/{bias, kernel}, layers/0/linear/{...}, layers/1/...
    assert curvature.block_labels(params) == [
        "head",
        "head",
        "layers/0/linear",
        "layers/0/linear",
        "layers/1/linear",
        "layers/1/linear",
    ]
    assert curvature.block_labels(params, "leaf")[:3] == [
        "head/bias",
        "head/kernel",
        "layers/0/linear/bias",
    ]
    kinds = {"head": {"bias": "b", "kernel": "w"}}
    kinds["layers"] = {i: {"linear": {"bias": "b", "kernel": "w"}} for i in ("0", "1")}
    assert curvature.block_labels(params, kinds) == ["b", "w"] * 3
    by_rank = curvature.block_labels(params, lambda p: jax.tree.map(jnp.ndim, p))
    assert by_rank == [1, 2] * 3
    assert curvature.block_labels({"w": 1.0, "b": 2.0}) == ["b", "w"]  # top-level leaves


def test_nnx_states_are_partitioned_by_their_modules():
    # Before: an nnx.State's paths end in the Variable's .value, so "layer" stripped only
    # that and made every array its own block ("l1/bias", "l1/kernel", ...).
    class Two(nnx.Module):
        def __init__(self, rngs):
            self.l1 = nnx.Linear(2, 3, rngs=rngs)
            self.l2 = nnx.Linear(3, 1, rngs=rngs)

    state = nnx.state(Two(nnx.Rngs(0)), nnx.Param)
    assert curvature.block_labels(state) == ["l1", "l1", "l2", "l2"]
    assert curvature.block_labels(state, "leaf") == ["l1/bias", "l1/kernel", "l2/bias", "l2/kernel"]


def test_two_paths_that_read_the_same_are_refused():
    # Before: {"enc/dense": {"w"}} and {"enc": {"dense": {"w"}}} both read "enc/dense" and
    # were silently merged into one block.
    params = {"enc/dense": {"w": jnp.ones(2)}, "enc": {"dense": {"w": jnp.ones(3)}}}
    with pytest.raises(ValueError, match=r"2 different paths read 'enc/dense'"):
        curvature.block_labels(params)


def test_bad_partitions_and_k_are_refused_naming_the_argument():
    # (A one-parameter block, whose one value is both ends, is block_eigenvalues' doctest.)
    params = {"a": jnp.ones(2), "b": jnp.ones(1)}
    matvec, key = (
        curvature.hvp(lambda p: jnp.sum(p["a"] ** 2) * p["b"][0], params),
        jax.random.key(0),
    )
    with pytest.raises(ValueError, match=r"blocks must be one of .*got 'layers'"):
        curvature.block_eigenvalues(matvec, params, key=key, blocks="layers")
    with pytest.raises(ValueError, match="blocks: the labels' structure"):
        curvature.block_eigenvalues(matvec, params, key=key, blocks={"a": "x"})
    with pytest.raises(ValueError, match="k must be a positive int, got 0"):
        curvature.block_eigenvalues(matvec, params, key=key, k=0)


def test_a_plain_function_is_a_matvec_here_as_everywhere():
    params = {"a": jnp.ones(3), "b": jnp.ones(1)}
    results = curvature.block_eigenvalues(
        lambda v: jax.tree.map(lambda x: 2.0 * x, v), params, key=jax.random.key(0), blocks="leaf"
    )
    np.testing.assert_allclose(np.asarray(results["a"].eigenvalues), [2.0, 2.0], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(results["b"].eigenvalues), [2.0, 2.0], rtol=1e-6)


def test_a_one_parameter_block_says_when_its_value_is_no_number_and_works_in_float32():
    # Before: a 1 × 1 block always reported residual 0 and converged=True, NaN included, and
    # came back float16 for float16 parameters where the larger blocks came back float32.
    params = {"a": jnp.ones(1), "b": jnp.ones(3)}

    def nan_loss(p):
        return jnp.nan * (jnp.sum(p["a"] ** 2) + jnp.sum(p["b"] ** 2))

    spectra = curvature.block_eigenvalues(
        curvature.hvp(nan_loss, params), params, key=jax.random.key(0)
    )
    for result in spectra.values():
        assert not result.converged and np.all(np.isnan(np.asarray(result.residuals)))
    half = {"a": jnp.ones(1, jnp.float16), "b": jnp.ones(3, jnp.float16)}

    def half_loss(p):  # H = diag(3, 2, 2, 2): the one-parameter block's value is 3
        return 1.5 * jnp.sum(p["a"] ** 2) + jnp.sum(p["b"] ** 2)

    spectra = curvature.block_eigenvalues(
        curvature.hvp(half_loss, half), half, key=jax.random.key(0)
    )
    for result in spectra.values():
        assert result.eigenvalues.dtype == result.residuals.dtype == jnp.float32
        assert result.converged
    np.testing.assert_array_equal(np.asarray(spectra["a"].eigenvalues), [3.0, 3.0])
    np.testing.assert_array_equal(np.asarray(spectra["a"].residuals), [0.0, 0.0])


def test_a_numpy_integer_k_is_an_int():
    # Before: k=np.int64(1) was refused ("k must be a positive int"); NumPy ints count
    # everywhere else (jaxtrain._numbers.is_int).
    params = {"a": jnp.ones(2), "b": jnp.ones(1)}
    matvec = curvature.hvp(lambda p: jnp.sum(p["a"] ** 2) + 3.0 * p["b"][0] ** 2, params)
    spectra = curvature.block_eigenvalues(matvec, params, key=jax.random.key(0), k=np.int64(1))
    np.testing.assert_allclose(np.asarray(spectra["a"].eigenvalues), [2.0, 2.0], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(spectra["b"].eigenvalues), [6.0, 6.0], rtol=1e-6)
