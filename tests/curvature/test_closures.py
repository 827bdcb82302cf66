"""Every curvature entry point reads what its functions close over at each call.

A plain function reaches the compiled algorithms as an argument. Compared by identity, it
would be compiled once with its first call's closed-over values: a loss over a batch the user
reassigned, or a matrix changed since, would give the first answer forever. Each case below
calls an entry point, changes the array the function closes over, calls again with the same
function object and checks the second answer against the new array.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from curvature_problems import apply_mlp, make_mlp_problem, mlp_loss
from jax.flatten_util import ravel_pytree

from jaxtrain import curvature
from jaxtrain.curvature import _lanczos

KEY = jax.random.key(0)
DIAGONAL = jnp.array([3.0, 2.0, 1.0, -1.0])
LIKE = jnp.zeros(4)


def _matrix_entry_points():
    """Entry points taking a matvec, each with what it reports of H = diag(d): the top
    eigenvalue, or the trace."""
    return {
        "eigenvalues": lambda mv: curvature.eigenvalues(mv, LIKE, k=1, key=KEY).eigenvalues[0],
        "power_iteration": lambda mv: curvature.power_iteration(
            mv, LIKE, key=KEY, num_iters=200, tol=1e-7
        ).eigenvalues[0],
        "lanczos": lambda mv: np.max(
            np.linalg.eigvalsh(_tridiagonal(curvature.lanczos(mv, LIKE, 4, key=KEY)))
        ),
        # Rademacher probes: zᵀDz = tr D exactly for a diagonal D.
        "trace": lambda mv: curvature.trace(mv, LIKE, num_samples=2, key=KEY).estimate,
        "spectral_density": lambda mv: np.max(
            curvature.spectral_density(mv, LIKE, num_iters=4, num_probes=1, key=KEY).nodes
        ),
        "spectrum": lambda mv: np.max(
            curvature.spectrum(
                mv, LIKE, k=1, num_iters=4, num_probes=1, key=KEY
            ).extremes.eigenvalues
        ),
        "block_eigenvalues": lambda mv: curvature.block_eigenvalues(
            mv, {"a": LIKE[:2], "b": LIKE[2:]}, k=1, which="largest", key=KEY
        )["a"].eigenvalues[0],
    }


def _tridiagonal(result):
    alphas, betas = np.asarray(result.alphas), np.asarray(result.betas)[: len(result.alphas) - 1]
    return np.diag(alphas) + np.diag(betas, 1) + np.diag(betas, -1)


def _expected(name, d):
    return float(np.sum(d)) if name == "trace" else float(np.max(d))


@pytest.mark.parametrize("name", sorted(_matrix_entry_points()))
def test_a_matvec_closing_over_a_changed_matrix(name):
    entry_point = _matrix_entry_points()[name]
    diagonal = DIAGONAL

    def matvec(v):
        if isinstance(v, dict):
            return {"a": v["a"] * diagonal[:2], "b": v["b"] * diagonal[2:]}
        return diagonal * v

    np.testing.assert_allclose(entry_point(matvec), _expected(name, DIAGONAL), rtol=1e-4)
    diagonal = 10.0 * DIAGONAL
    np.testing.assert_allclose(entry_point(matvec), _expected(name, 10.0 * DIAGONAL), rtol=1e-4)


def _flat(tree):
    return np.asarray(ravel_pytree(tree)[0])


def test_hvp_hessian_and_critical_points_of_a_loss_closing_over_reassigned_data():
    params, x, y = make_mlp_problem()
    v = jax.tree.map(jnp.ones_like, params)
    batch = (x, y)

    def loss(p):
        return mlp_loss(p, *batch)

    def reports():
        return (
            _flat(curvature.hvp(loss, params)(v)),
            np.asarray(curvature.hessian(loss, params)),
            curvature.analyze_critical_point(loss, params).eigenvalues,
        )

    reports()
    batch = (2.0 * x, y)
    H = np.asarray(curvature.hessian(mlp_loss, params, 2.0 * x, y))
    product, dense, critical = reports()
    np.testing.assert_allclose(product, H @ _flat(v), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dense, H, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(critical, np.linalg.eigvalsh(H), rtol=1e-4, atol=1e-5)


def test_gauss_newton_fisher_and_batched_losses_closing_over_a_changed_scale():
    params, x, y = make_mlp_problem()
    v = jax.tree.map(jnp.ones_like, params)
    scale = 1.0

    def model(p, inputs):
        return scale * apply_mlp(p, inputs)

    def mse(outputs, targets):
        return jnp.mean(jnp.sum((outputs - targets) ** 2, axis=-1))

    def loss(p, inputs, targets):
        return mse(model(p, inputs), targets)

    def products():
        return (
            _flat(curvature.ggn(model, mse, params, x, y)(v)),
            _flat(curvature.empirical_fisher(loss, params, x, y)(v)),
            _flat(curvature.hvp(curvature.batched_loss(loss, [(x, y)]), params)(v)),
        )

    first = products()
    scale = 2.0
    second = products()

    def doubled_model(p, inputs):
        return 2.0 * apply_mlp(p, inputs)

    def doubled_loss(p, inputs, targets):
        return mse(doubled_model(p, inputs), targets)

    expected = (
        _flat(curvature.ggn(doubled_model, mse, params, x, y)(v)),
        _flat(curvature.empirical_fisher(doubled_loss, params, x, y)(v)),
        _flat(curvature.hvp(doubled_loss, params, x, y)(v)),
    )
    for before, after, want in zip(first, second, expected, strict=True):
        assert not np.allclose(before, want)
        np.testing.assert_allclose(after, want, rtol=1e-5, atol=1e-6)


def test_the_same_function_over_a_changed_matrix_reuses_the_compilation():
    diagonal = DIAGONAL

    def matvec(v):
        return diagonal * v

    top = [curvature.eigenvalues(matvec, LIKE, k=1, key=KEY).eigenvalues[0]]
    compiled = _lanczos._eigen_program._cache_size()
    diagonal = 2.0 * DIAGONAL
    top.append(curvature.eigenvalues(matvec, LIKE, k=1, key=KEY).eigenvalues[0])
    assert _lanczos._eigen_program._cache_size() == compiled
    np.testing.assert_allclose(top, [3.0, 6.0], rtol=1e-4)


def _custom_sine(slope):
    """sin with the derivative ``slope · cos``: the jaxpr's text is the same for any slope."""

    @jax.custom_jvp
    def sine(x):
        return jnp.sin(x)

    sine.defjvp(lambda p, t: (sine(*p), slope * jnp.cos(p[0]) * t[0]))
    return sine


def test_models_that_differ_only_in_a_custom_derivative_are_told_apart():
    # Before: ggn and empirical_fisher held the user's functions as leaves of a Partial, in
    # neither its structure nor its jaxpr's text: slope 2 gave the slope-1 model's 1 for 4.
    w, x, y, v = jnp.zeros(1), jnp.ones(1), jnp.zeros(1), jnp.ones(1)

    def mse(z, target):
        return 0.5 * jnp.mean((z - target) ** 2)

    for slope in (1.0, 2.0):
        act = _custom_sine(slope)
        G = curvature.ggn(lambda w, x, act=act: act(w * x), mse, w, x, y)
        F = curvature.empirical_fisher(lambda w, x, y, act=act: mse(act(w * x) + 1.0, y), w, x, y)
        H = curvature.hvp(lambda w, act=act: mse(act(w * x), y), w)
        np.testing.assert_allclose([G(v)[0], F(v)[0], H(v)[0]], slope**2, rtol=1e-6)
