"""Hessian-vector products: equal to H @ v, pytrees in and out, one compilation per loss."""

import jax
import jax.numpy as jnp
import numpy as np
from curvature_problems import mlp_loss
from jax.flatten_util import ravel_pytree

from jaxtrain.curvature import HessianVectorProduct, _hvp, hessian, hvp


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


def test_first_call_linearizes_and_later_calls_reuse_it(mlp_problem, monkeypatch):
    params, x, y = mlp_problem()
    calls = []
    program = _hvp._linearize_program
    monkeypatch.setattr(_hvp, "_linearize_program", lambda p: calls.append(1) or program(p))
    matvec = hvp(mlp_loss, params, x, y)
    assert matvec._linear is None and not calls  # nothing runs before it is needed
    v = _random_like(params, 0)
    first = matvec(v)
    second = matvec(_random_like(params, 1))
    assert len(calls) == 1 and matvec._linear is not None  # one forward pass for both
    from_scratch = jax.jvp(lambda p: jax.grad(mlp_loss)(p, x, y), (params,), (v,))[1]
    np.testing.assert_allclose(
        np.asarray(ravel_pytree(first)[0]),
        np.asarray(ravel_pytree(from_scratch)[0]),
        rtol=1e-5,
        atol=1e-6,
    )
    assert not np.allclose(np.asarray(ravel_pytree(first)[0]), np.asarray(ravel_pytree(second)[0]))


def test_a_call_inside_a_users_jit_linearizes_concrete_values_once(mlp_problem):
    # Concrete params and data: the forward pass runs outside the user's program (traced
    # there, it would be constant-folded by XLA for seconds) and is kept for later calls.
    params, x, y = mlp_problem()
    v = _random_like(params, 2)
    matvec = hvp(mlp_loss, params, x, y)
    inside = jax.jit(lambda v: matvec(v))(v)
    assert matvec._linear is not None
    assert not any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(matvec._linear))
    np.testing.assert_allclose(
        np.asarray(ravel_pytree(inside)[0]),
        np.asarray(ravel_pytree(matvec(v))[0]),
        rtol=1e-5,
        atol=1e-6,
    )


def test_a_loss_closing_over_a_tracer_is_never_cached(mlp_problem):
    params, x, y = mlp_problem()
    v = _random_like(params, 3)
    products = []

    @jax.jit
    def scaled(scale, v):
        matvec = hvp(lambda p, x, y: scale * mlp_loss(p, x, y), params, x, y)
        products.append(matvec)
        return matvec(v)

    out = scaled(jnp.float32(3.0), v)
    assert products[0]._linear is None  # its linearization held tracers of `scaled`
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


def test_tree_round_trip_drops_the_cached_linearization(toy):
    matvec = hvp(toy, jnp.zeros(2))
    matvec(jnp.array([0.0, 1.0]))  # linearized and cached
    assert matvec._linear is not None
    leaves, treedef = jax.tree.flatten(matvec)
    rebuilt = jax.tree.unflatten(treedef, leaves)
    assert rebuilt._linear is None
    np.testing.assert_array_equal(
        np.asarray(rebuilt(jnp.array([1.0, 0.0]))), np.asarray(matvec(jnp.array([1.0, 0.0])))
    )
