"""The extremes and the density at once: the extremes' Lanczos run is the density's first probe."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from curvature_problems import make_mlp_problem, matrix_operator, mlp_loss, symmetric_matrix

from jaxtrain.curvature import (
    MemoryLimitError,
    Spectrum,
    eigenvalues,
    hvp,
    spectral_density,
    spectrum,
)

# A spread of 200 eigenvalues with separated ends, so the extremes converge in a few dozen steps.
VALUES = np.concatenate([[-3.0, -2.5], np.linspace(-0.5, 1.0, 196), [4.0, 5.0]])


def _problem():
    return matrix_operator(symmetric_matrix(200, VALUES, seed=3)), jnp.zeros(200)


def test_the_density_is_spectral_densitys_and_the_extremes_eigenvalues():
    matvec, like = _problem()
    key = jax.random.key(7)
    both = spectrum(matvec, like, k=2, key=key, num_probes=3, num_iters=40)
    assert isinstance(both, Spectrum)
    alone = spectral_density(matvec, like, num_probes=3, num_iters=40, key=key)
    for got, want in zip(both.density, alone, strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=2e-4, atol=2e-5)
    # The extremes' run starts from the first probe key and never stops before num_iters.
    direct = eigenvalues(matvec, like, k=2, key=jax.random.split(key, 3)[0], which="both")
    np.testing.assert_allclose(both.extremes.eigenvalues, [-3.0, -2.5, 4.0, 5.0], rtol=1e-4)
    np.testing.assert_allclose(both.extremes.eigenvalues, direct.eigenvalues, rtol=1e-4)
    assert both.extremes.converged and both.extremes.eigenvectors is None
    assert both.extremes.num_matvecs == max(direct.num_matvecs, 40)


def test_one_probe_whose_run_goes_on_until_the_extremes_converge():
    # Clustered ends need more steps than the probe's 16; with one probe, that run is all.
    matvec, like = _problem()
    both = spectrum(matvec, like, k=4, key=jax.random.key(0), num_probes=1, num_iters=16)
    assert both.extremes.num_matvecs > 16 and both.extremes.converged
    np.testing.assert_allclose(
        both.extremes.eigenvalues[np.array([0, 1, -2, -1])], VALUES[[0, 1, -2, -1]], rtol=1e-4
    )
    assert both.density.nodes.shape == (1, 16)
    np.testing.assert_allclose(np.asarray(both.density.weights.sum(axis=1)), 1.0, atol=1e-5)


def test_the_hessian_of_an_mlp_with_batched_probes():
    params, x, y = make_mlp_problem(sizes=(3, 6, 2), num_examples=24)
    matvec = hvp(mlp_loss, params, x, y)
    key = jax.random.key(1)
    both = spectrum(matvec, params, k=1, key=key, num_probes=3, num_iters=12, probe_batch_size=2)
    alone = spectral_density(matvec, params, num_probes=3, num_iters=12, key=key)
    np.testing.assert_allclose(both.density.nodes, alone.nodes, rtol=2e-4, atol=2e-5)
    dense = np.linalg.eigvalsh(np.asarray(_dense_hessian(params, x, y), np.float64))
    np.testing.assert_allclose(both.extremes.eigenvalues, dense[[0, -1]], rtol=1e-3, atol=1e-5)


def _dense_hessian(params, x, y):
    from jax.flatten_util import ravel_pytree

    flat, unravel = ravel_pytree(params)
    return jax.jit(jax.hessian(lambda v: mlp_loss(unravel(v), x, y)))(flat)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"num_probes": 0}, "num_probes must be a positive int"),
        ({"num_iters": 0}, "num_iters must be >= 1"),
        ({"tol": 0.0}, "tol must be > 0"),
        ({"k": 101}, "asked for 202 eigenvalues"),
        ({"which": "middle"}, "which"),
        ({"sigma_squared": 0.0}, "sigma_squared must be > 0"),
        ({"sigma_squared": float("inf")}, "sigma_squared must be > 0 and finite"),
        ({"grid": 1}, "at least 2 points"),
        ({"grid": jnp.zeros(0)}, "at least 2 points, got 0"),
        ({"max_iters": 3}, "cannot give 4 Ritz values"),
    ],
)
def test_bad_arguments_are_refused_as_the_two_functions_refuse_them(changes, message):
    matvec, like = _problem()
    arguments = {"k": 2, "key": jax.random.key(0), "num_probes": 2, "num_iters": 10, **changes}
    with pytest.raises(ValueError, match=message):
        spectrum(matvec, like, **arguments)


def test_the_bases_held_at_once_are_checked_before_anything_runs():
    matvec, like = _problem()
    # The first run's 128 rows and one later probe's 64 at a time (probes run one by one) of
    # 200 float32 numbers; the settings of the first test, whose program this reuses.
    settings = {"k": 2, "key": jax.random.key(0), "num_probes": 3, "num_iters": 40}
    limit = (128 + 64) * 200 * 4
    spectrum(matvec, like, **settings, max_bytes=limit)
    with pytest.raises(MemoryLimitError, match="192"):
        spectrum(matvec, like, **settings, max_bytes=limit - 1)


def test_a_single_eigenvalue_gives_a_density_that_integrates_to_one():
    # spectrum shares spectral_density's smoothing: nodes of H = 2I that differ by rounding
    # only take the width max(|λ|, 1) = 2, not their float32 spread.
    both = spectrum(
        lambda v: 2.0 * v, jnp.zeros(6), k=1, key=jax.random.key(0), num_probes=2, num_iters=6
    )
    density = both.density
    np.testing.assert_allclose(float(density.sigma), np.sqrt(1e-5) * 2.0, rtol=1e-6)
    np.testing.assert_allclose(float(jnp.trapezoid(density.density, density.grid)), 1.0, atol=1e-3)
