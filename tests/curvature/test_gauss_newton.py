"""Gauss–Newton and empirical Fisher products against dense float64 references on a tiny MLP."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from curvature_problems import apply_mlp, init_mlp
from jax.flatten_util import ravel_pytree

from jaxtrain import curvature, losses
from jaxtrain.curvature import _gauss_newton, _lanczos

# float32 products against float64 NumPy: relative to the matrix's largest entry.
RTOL = 1e-4


@functools.partial(jax.jit, static_argnames="n")
def _dense(matvec, like, n):
    """The operator's matrix, column by column (one compiled program per operator kind)."""
    _, unravel = ravel_pytree(like)
    return jax.vmap(lambda e: ravel_pytree(matvec(unravel(e)))[0])(jnp.eye(n))


def _assert_close(actual, expected):
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    np.testing.assert_allclose(actual, expected, atol=RTOL * np.abs(expected).max(), rtol=0)


def _problem(loss):
    rng = np.random.default_rng(0)
    params = init_mlp(0, (2, 2, 3))  # 15 parameters: one Lanczos size class
    x = jnp.asarray(rng.standard_normal((6, 2)), jnp.float32)
    if loss is losses.softmax_cross_entropy:
        y = jnp.asarray(rng.integers(0, 3, 6))
    else:
        y = jnp.asarray(rng.standard_normal((6, 3)), jnp.float32)
    return params, x, y


@functools.partial(jax.jit, static_argnames="loss")
def _jacobian_and_output_hessian(loss, params, x, y):
    flat, unravel = ravel_pytree(params)
    J = jax.jacobian(lambda v: apply_mlp(unravel(v), x).ravel())(flat)
    z = apply_mlp(params, x)
    return J, jax.hessian(lambda out: loss(out.reshape(z.shape), y))(z.ravel())


def _dense_ggn(loss, params, x, y):
    """Jᵀ H_ℓ J from jax.jacobian and jax.hessian, multiplied in float64 NumPy."""
    J, H_out = _jacobian_and_output_hessian(loss, params, x, y)
    J, H_out = np.asarray(J, np.float64), np.asarray(H_out, np.float64)
    return J.T @ H_out @ J


@pytest.mark.parametrize("loss", [losses.softmax_cross_entropy, losses.mse], ids=["ce", "mse"])
def test_ggn_is_jt_hl_j_and_positive_semidefinite_where_the_hessian_is_not(loss):
    params, x, y = _problem(loss)
    n = ravel_pytree(params)[0].size
    G = curvature.ggn(apply_mlp, loss, params, x, y)
    expected = _dense_ggn(loss, params, x, y)
    _assert_close(_dense(G, params, n), expected)
    # PSD up to the float32 round-off of the reference's H_ℓ.
    eigs = np.linalg.eigvalsh(expected)
    assert eigs.min() > -1e-6 * eigs.max()
    # The Hessian at the same point has negative curvature: H = G + Σ (∂ℓ/∂z)∇²z.
    H = np.asarray(curvature.hessian(lambda p: loss(apply_mlp(p, x), y), params), np.float64)
    assert np.linalg.eigvalsh(H).min() < -1e-3 * eigs.max()


def test_ggn_equals_the_hessian_for_a_linear_model_with_mse():
    rng = np.random.default_rng(1)
    params = {"w": jnp.asarray(rng.standard_normal((3, 2)), jnp.float32), "b": jnp.zeros(2)}
    x = jnp.asarray(rng.standard_normal((7, 3)), jnp.float32)
    y = jnp.asarray(rng.standard_normal((7, 2)), jnp.float32)

    def linear(p, inputs):
        return inputs @ p["w"] + p["b"]

    G = _dense(curvature.ggn(linear, losses.mse, params, x, y), params, 8)
    H = curvature.hessian(lambda p: losses.mse(linear(p, x), y), params)
    _assert_close(G, H)


def _example_loss(params, x, y):
    return losses.mse(apply_mlp(params, x), y)


@jax.jit
def _per_example_gradients(params, x, y):
    return jax.vmap(lambda xi, yi: ravel_pytree(jax.grad(_example_loss)(params, xi, yi))[0])(x, y)


def test_empirical_fisher_is_the_mean_outer_product_of_per_example_gradients():
    params, x, y = _problem(losses.mse)
    n = ravel_pytree(params)[0].size
    g = np.asarray(_per_example_gradients(params, x[:, None], y[:, None]), np.float64)
    expected = g.T @ g / g.shape[0]
    F = curvature.empirical_fisher(_example_loss, params, x, y)
    _assert_close(_dense(F, params, n), expected)
    estimate = curvature.trace(F, params, num_samples=n, key=jax.random.key(1), method="hutch++")
    np.testing.assert_allclose(estimate.estimate, np.trace(expected), rtol=0.05)


def test_lanczos_takes_the_ggn_and_a_new_point_reuses_its_programs():
    params, x, y = _problem(losses.mse)
    key = jax.random.key(0)
    programs = (_gauss_newton._linearize_program, _lanczos._eigen_program)
    for point in (params, jax.tree.map(lambda leaf: leaf + 0.1, params)):
        G = curvature.ggn(apply_mlp, losses.mse, point, x, y)
        both = curvature.eigenvalues(G, params, k=1, which="both", key=key, tol=1e-5)
        if point is params:
            compiled = [program._cache_size() for program in programs]
        eigs = np.linalg.eigvalsh(_dense_ggn(losses.mse, point, x, y))
        assert both.converged
        np.testing.assert_allclose(both.eigenvalues[1], eigs.max(), rtol=1e-4)
        assert both.eigenvalues[0] >= -1e-5 * eigs.max()
    # Neither the linearization nor Lanczos compiled again at the new point.
    assert [program._cache_size() for program in programs] == compiled


def test_empirical_fisher_refuses_missing_or_ragged_data():
    params = jnp.zeros(2)
    with pytest.raises(ValueError, match="empirical_fisher needs data"):
        curvature.empirical_fisher(_example_loss, params)
    with pytest.raises(ValueError, match=r"data: every array needs the same leading .*\(3, 2\)"):
        curvature.empirical_fisher(_example_loss, params, jnp.ones((3, 2)), jnp.ones(4))


def test_integer_parameter_leaves_are_refused_by_name():
    # Before: an integer leaf passed the constructors and the first product failed inside
    # JAX's linearize ("tangent aval int32[2] ... expected float0[2]").
    params = {"w": jnp.ones(2), "n": jnp.ones(2, jnp.int32)}
    x, y = jnp.ones((3, 2)), jnp.zeros(3)

    def model(p, inputs):
        return inputs @ (p["w"] * p["n"])

    def loss(p, inputs, targets):
        return losses.mse(model(p, inputs), targets)

    message = r"params\['n'\] is of dtype int32: .*floating-point parameters only"
    with pytest.raises(ValueError, match=message):
        curvature.ggn(model, losses.mse, params, x, y)
    with pytest.raises(ValueError, match=message):
        curvature.empirical_fisher(loss, params, x, y)
