"""Hessian-vector products: equal to H @ v, pytrees in and out, one compilation per loss."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from curvature_problems import mlp_loss
from jax.flatten_util import ravel_pytree

from jaxtrain.curvature import HessianVectorProduct, _hvp, eigenvalues, hessian, hvp


def _random_like(params, seed):
    flat, unravel = ravel_pytree(params)
    return unravel(jnp.asarray(np.random.default_rng(seed).standard_normal(flat.size), flat.dtype))


def test_toy_columns(toy):
    matvec = hvp(toy, jnp.zeros(2))
    np.testing.assert_array_equal(np.asarray(matvec(jnp.array([1.0, 0.0]))), [0.0, -2.0])
    np.testing.assert_array_equal(np.asarray(matvec(jnp.array([1.0, 1.0]))), [-2.0, -2.0])


def test_matches_the_dense_hessian_on_pytrees(mlp_problem):
    params, x, y = mlp_problem()
    H = hessian(mlp_loss, params, x, y)
    matvec = hvp(mlp_loss, params, x, y)
    assert isinstance(matvec, HessianVectorProduct)
    for seed in range(3):
        v = _random_like(params, seed)
        Hv = matvec(v)
        assert jax.tree.structure(Hv) == jax.tree.structure(params)
        expected = H @ ravel_pytree(v)[0]
        np.testing.assert_allclose(
            np.asarray(ravel_pytree(Hv)[0]), np.asarray(expected), rtol=1e-4, atol=1e-5
        )


@pytest.fixture
def linearizations(monkeypatch):
    """Counts the forward passes: every run of ``_linearize_program``, traced or compiled."""
    calls = []
    program = _hvp._linearize_program
    monkeypatch.setattr(_hvp, "_linearize_program", lambda p: calls.append(1) or program(p))
    return calls


def test_one_linearization_serves_every_call(mlp_problem, linearizations):
    params, x, y = mlp_problem()
    matvec = hvp(mlp_loss, params, x, y)
    assert len(linearizations) == 1 and matvec._linear is not None
    v = _random_like(params, 0)
    first = matvec(v)
    second = matvec(_random_like(params, 1))
    inside = jax.jit(lambda v: matvec(v))(v)  # closed over: the residuals become constants
    assert len(linearizations) == 1
    from_scratch = HessianVectorProduct(mlp_loss, params, (x, y))(v)  # jvp of grad, no cache
    expected = np.asarray(ravel_pytree(first)[0])
    for out in (from_scratch, inside):
        np.testing.assert_allclose(np.asarray(ravel_pytree(out)[0]), expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(np.asarray(ravel_pytree(first)[0]), np.asarray(ravel_pytree(second)[0]))


def test_algorithms_reuse_the_linearization_hvp_made(mlp_problem, linearizations):
    params, x, y = mlp_problem()
    matvec = hvp(mlp_loss, params, x, y)
    result = eigenvalues(matvec, params, k=1, key=jax.random.key(0), num_iters=20)
    assert len(linearizations) == 1  # the program took the residuals as arguments
    unlinearized = HessianVectorProduct(mlp_loss, params, (x, y))
    again = eigenvalues(unlinearized, params, k=1, key=jax.random.key(0), num_iters=20)
    assert len(linearizations) == 2  # linearized once, inside the program
    np.testing.assert_allclose(
        np.asarray(result.eigenvalues), np.asarray(again.eigenvalues), rtol=1e-5
    )


def test_a_loss_closing_over_a_tracer(mlp_problem):
    params, x, y = mlp_problem()
    v = _random_like(params, 3)
    out = jax.jit(lambda scale, v: hvp(lambda p, x, y: scale * mlp_loss(p, x, y), params, x, y)(v))(
        jnp.float32(3.0), v
    )
    expected = 3.0 * ravel_pytree(hvp(mlp_loss, params, x, y)(v))[0]
    np.testing.assert_allclose(
        np.asarray(ravel_pytree(out)[0]), np.asarray(expected), rtol=1e-5, atol=1e-6
    )


def test_is_a_pytree_so_jit_reuses_its_compilation(mlp_problem, trace_counter):
    params, x, y = mlp_problem()
    counted = trace_counter(mlp_loss)

    @jax.jit
    def apply(matvec, v):
        return matvec.linearize()(v)

    v = _random_like(params, 0)
    first = apply(hvp(counted, params, x, y), v)
    # New params and new data at the same loss function: same compiled program.
    shifted = jax.tree.map(lambda a: a + 0.5, params)
    matvec = hvp(counted, shifted, x * 2.0, y)
    traces = counted.count
    second = apply(matvec, v)
    assert counted.count == traces
    H = hessian(mlp_loss, shifted, x * 2.0, y)
    np.testing.assert_allclose(
        np.asarray(ravel_pytree(second)[0]),
        np.asarray(H @ ravel_pytree(v)[0]),
        rtol=1e-4,
        atol=1e-5,
    )
    assert not np.allclose(np.asarray(ravel_pytree(first)[0]), np.asarray(ravel_pytree(second)[0]))


def test_hvp_inside_a_users_jit(mlp_problem):
    params, x, y = mlp_problem()
    v = _random_like(params, 1)
    inside = jax.jit(lambda p, v: hvp(mlp_loss, p, x, y)(v))(params, v)
    outside = hvp(mlp_loss, params, x, y)(v)
    np.testing.assert_allclose(
        np.asarray(ravel_pytree(inside)[0]),
        np.asarray(ravel_pytree(outside)[0]),
        rtol=1e-5,
        atol=1e-6,
    )


def test_tree_round_trip_keeps_the_linearization(toy):
    matvec = hvp(toy, jnp.zeros(2))
    leaves, treedef = jax.tree.flatten(matvec)
    rebuilt = jax.tree.unflatten(treedef, leaves)
    assert rebuilt._linear is not None
    np.testing.assert_array_equal(
        np.asarray(rebuilt(jnp.array([1.0, 0.0]))), np.asarray(matvec(jnp.array([1.0, 0.0])))
    )
    bare = HessianVectorProduct(toy, jnp.zeros(2))
    rebuilt = jax.tree.unflatten(*reversed(jax.tree.flatten(bare)))
    assert rebuilt._linear is None
    np.testing.assert_array_equal(np.asarray(rebuilt(jnp.array([1.0, 0.0]))), [0.0, -2.0])


def test_an_integer_parameter_leaf_is_refused_by_name():
    # JAX's own TypeError came from inside the linearization, naming no leaf.
    params = {"w": jnp.ones(2), "n": jnp.int32(3)}
    with pytest.raises(ValueError, match=r"params\['n'\] is of dtype int32: curvature"):
        hvp(lambda p: jnp.sum(p["w"] ** 2), params)


def test_complex_parameters_are_refused_by_every_product():
    # L = Σ|z|² has Hessian 2I in (Re z, Im z); JAX's product for a complex leaf returned
    # conj(2v) = [2−2j, −2j] for v = [1+1j, 1j], silently, while hessian, eigenvalues and
    # trace refused complex parameters. hvp, ggn and empirical_fisher refuse them too.
    from jaxtrain.curvature import empirical_fisher, ggn

    z = jnp.array([1.0 + 0.5j, -0.3j], jnp.complex64)

    def loss(params):
        return jnp.sum(jnp.abs(params) ** 2)

    def apply(params, x):
        return x * params

    def outer(outputs, targets):
        return jnp.mean(jnp.abs(outputs - targets) ** 2)

    def example_loss(params, x, y):
        return outer(apply(params, x), y)

    x = jnp.ones((4, 2), jnp.complex64)
    for build in (
        lambda: hvp(loss, z),
        lambda: ggn(apply, outer, z, x, x),
        lambda: empirical_fisher(example_loss, z, x, x),
    ):
        with pytest.raises(ValueError, match="real floating-point parameters only"):
            build()
