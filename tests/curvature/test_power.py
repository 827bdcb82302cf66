"""Deflated power iteration: the top eigenpairs, one at a time, with its product count."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from curvature_problems import matrix_operator, symmetric_matrix

from jaxtrain.curvature import PowerIterationResult, eigenvalues, power_iteration

SPECTRUM = np.concatenate([[10.0, 6.0, 3.0], np.linspace(0.0, 1.0, 37)])


def test_top_eigenvalues_with_deflation():
    A = symmetric_matrix(40, SPECTRUM, seed=1)
    result = power_iteration(
        matrix_operator(A), jnp.zeros(40), k=3, num_iters=500, tol=1e-7, key=jax.random.key(0)
    )
    assert isinstance(result, PowerIterationResult)
    np.testing.assert_allclose(np.asarray(result.eigenvalues), [10.0, 6.0, 3.0], rtol=1e-4)
    assert bool(jnp.all(result.converged))
    assert result.num_matvecs == int(jnp.sum(result.iterations))
    V = np.asarray(result.eigenvectors)
    np.testing.assert_allclose(V @ V.T, np.eye(3), atol=1e-4)
    for value, vector in zip(result.eigenvalues, V, strict=True):
        np.testing.assert_allclose(np.asarray(A) @ vector, float(value) * vector, atol=1e-2)


def test_lanczos_needs_fewer_products_for_the_same_answer():
    A = symmetric_matrix(40, SPECTRUM, seed=1)
    power = power_iteration(
        matrix_operator(A), jnp.zeros(40), k=3, num_iters=500, tol=1e-7, key=jax.random.key(0)
    )
    lanczos = eigenvalues(matrix_operator(A), jnp.zeros(40), k=3, key=jax.random.key(0), tol=1e-6)
    np.testing.assert_allclose(
        np.asarray(lanczos.eigenvalues), np.asarray(power.eigenvalues), rtol=1e-4
    )
    assert lanczos.num_matvecs < power.num_matvecs


def test_budget_stops_an_unconverged_run():
    A = symmetric_matrix(40, SPECTRUM, seed=1)
    result = power_iteration(
        matrix_operator(A), jnp.zeros(40), k=3, num_iters=2, tol=1e-7, key=jax.random.key(0)
    )
    assert result.num_matvecs == 6
    assert not bool(jnp.any(result.converged))


def test_pytree_vectors():
    diag = {"a": jnp.array([4.0, 1.0]), "b": jnp.array([2.0])}
    matvec = lambda v: jax.tree.map(lambda d, x: d * x, diag, v)  # noqa: E731
    result = power_iteration(matvec, diag, k=2, num_iters=200, tol=1e-8, key=jax.random.key(2))
    np.testing.assert_allclose(np.asarray(result.eigenvalues), [4.0, 2.0], rtol=1e-4)
    assert result.eigenvectors["a"].shape == (2, 2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"k": 0}, r"k must be an int in \[1, 3\]"),
        ({"k": 4}, r"k must be an int in \[1, 3\]"),
        ({"num_iters": 0}, "num_iters must be a positive int"),
        ({"tol": -1.0}, "tol must be > 0"),
        ({"key": None}, "PRNG key is required"),
    ],
)
def test_bad_arguments(kwargs, match):
    arguments = {"key": jax.random.key(0), **kwargs}
    with pytest.raises(ValueError, match=match):
        power_iteration(lambda v: v, jnp.zeros(3), **arguments)


def test_past_the_operators_rank_the_eigenvalues_are_zero_not_nan():
    # diag(5, 0, 0): after deflating 5 the operator is exactly 0, and so is the next iterate;
    # 0/0 would make the second eigenvalue NaN and spend the whole budget.
    result = power_iteration(
        lambda v: jnp.array([5.0, 0.0, 0.0]) * v, jnp.zeros(3), k=2, key=jax.random.key(0)
    )
    np.testing.assert_allclose(np.asarray(result.eigenvalues), [5.0, 0.0], atol=1e-6)
    assert bool(jnp.all(result.converged))
    assert int(result.iterations[1]) <= 2


def test_a_plus_minus_pair_at_the_top_is_not_called_converged():
    # diag(3, −3, 1): the Rayleigh quotient of a vector in the ±3 plane does not change from
    # step to step while the vector flips between its two components, so PyHessian's
    # relative-change test stops there; its residual ‖Hv − λv‖ shows it is no eigenpair.
    result = power_iteration(
        lambda v: jnp.array([3.0, -3.0, 1.0]) * v,
        jnp.zeros(3),
        k=2,
        tol=1e-6,
        key=jax.random.key(0),
    )
    values = np.asarray(result.eigenvalues)
    on_spectrum = np.isclose(np.abs(values), 3.0, rtol=1e-3) | np.isclose(values, 1.0, rtol=1e-3)
    np.testing.assert_array_equal(np.asarray(result.converged), on_spectrum)
    assert not on_spectrum.all()


@pytest.mark.parametrize("scale", [1e-20, 1e20])
def test_a_float32_operator_of_tiny_or_huge_scale(scale):
    # ‖w‖ squared each entry: it underflowed to 0 at 1e-20 (Hv = 0 read as an eigenpair) and
    # overflowed at 1e20 (v became 0/inf). Now the top eigenvalue is right, or, where
    # PyHessian's absolute 1e-6 in its relative-change test stops it early, not converged.
    H = jnp.asarray(scale * np.array([1.0, 2.0, 3.0, 4.0]), jnp.float32)
    result = power_iteration(
        lambda v: H * v, jnp.zeros(4), k=1, num_iters=500, tol=1e-8, key=jax.random.key(0)
    )
    top = float(result.eigenvalues[0]) / scale
    assert np.isfinite(top)
    assert (abs(top - 4.0) < 1e-3) if bool(result.converged[0]) else top <= 4.0 * (1 + 1e-6)
    if scale > 1:
        assert bool(result.converged[0]) and abs(top - 4.0) < 1e-3


def test_numpy_integer_k_and_num_iters_are_ints():
    # "k must be an int in [1, 3], got np.int64(2)": NumPy ints were refused here alone.
    H = jnp.diag(jnp.array([5.0, 1.0, 0.5]))
    result = power_iteration(
        lambda v: H @ v,
        jnp.zeros(3),
        k=np.int64(2),
        num_iters=np.int64(50),
        key=jax.random.key(0),
    )
    np.testing.assert_allclose(result.eigenvalues, [5.0, 1.0], rtol=1e-3)
    with pytest.raises(ValueError, match="k must be an int"):
        power_iteration(lambda v: H @ v, jnp.zeros(3), k=True, key=jax.random.key(0))
