"""Stochastic Lanczos quadrature: a density that integrates to 1 and a minimum-ratio estimate."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from curvature_problems import make_mlp_problem, matrix_operator, mlp_loss, symmetric_matrix

from jaxtrain.curvature import (
    SpectralDensity,
    analyze_critical_point,
    hvp,
    minimum_ratio_estimate,
    spectral_density,
)

SPECTRUM = np.concatenate([np.linspace(-2.0, -1.0, 10), np.linspace(1.0, 4.0, 30)])


@pytest.fixture(scope="module")
def density():
    A = symmetric_matrix(40, SPECTRUM, seed=4)
    return spectral_density(
        matrix_operator(A), jnp.zeros(40), num_probes=8, num_iters=40, key=jax.random.key(0)
    )


def test_density_integrates_to_one(density):
    assert isinstance(density, SpectralDensity)
    assert density.grid.shape == (1000,) and density.density.shape == (1000,)
    np.testing.assert_allclose(float(jnp.trapezoid(density.density, density.grid)), 1.0, atol=1e-3)
    assert float(jnp.min(density.density)) >= 0.0


def test_nodes_and_weights(density):
    assert density.nodes.shape == (8, 40) and density.weights.shape == (8, 40)
    np.testing.assert_allclose(np.asarray(jnp.sum(density.weights, axis=1)), 1.0, atol=1e-5)
    # With as many steps as dimensions the nodes are the eigenvalues themselves.
    np.testing.assert_allclose(np.sort(np.asarray(density.nodes[0])), SPECTRUM, atol=1e-4)


def test_sigma_convention(density):
    width = float(jnp.max(density.nodes) - jnp.min(density.nodes))
    np.testing.assert_allclose(float(density.sigma), np.sqrt(1e-5) * width, rtol=1e-5)
    assert float(density.grid[0]) < SPECTRUM.min() - 5 * float(density.sigma)


def test_minimum_ratio_estimate_on_a_known_spectrum(density):
    # 30 of 40 eigenvalues are positive; 8 probes estimate 0.75 to within sampling error.
    np.testing.assert_allclose(float(minimum_ratio_estimate(density)), 0.75, atol=0.1)
    assert float(minimum_ratio_estimate(density, tol=10.0)) == 0.0


@pytest.mark.parametrize("tol", [float("nan"), float("inf")])
def test_minimum_ratio_refuses_a_tolerance_that_is_not_finite(density, tol):
    # NaN compares False with every node: the estimate would be 0 whatever the spectrum.
    with pytest.raises(ValueError, match=f"tol must be finite, got {tol}"):
        minimum_ratio_estimate(density, tol=tol)


@pytest.mark.parametrize("c", [2.0, 0.5, -3.0, 0.0])
def test_a_single_eigenvalue_is_smoothed_at_its_own_scale(c):
    # Lanczos on H = cI gives nodes that differ by float32 rounding only (a few ulps): no
    # range to take a fraction of, so σ falls back to √sigma_squared · max(|c|, 1); a σ of
    # rounding size would leave a grid of a handful of distinct points and an integral of 18.
    density = spectral_density(
        lambda v: c * v, jnp.zeros(5), num_probes=3, num_iters=5, key=jax.random.key(0)
    )
    np.testing.assert_allclose(float(density.sigma), np.sqrt(1e-5) * max(abs(c), 1.0), rtol=1e-6)
    np.testing.assert_allclose(float(jnp.trapezoid(density.density, density.grid)), 1.0, atol=1e-3)


def test_a_narrow_spectrum_keeps_its_own_range():
    # 100 and 100.1 differ by 1e-3 relative, far above float32 rounding: a real range.
    H = jnp.diag(jnp.array([100.0, 100.1, 100.1]))
    density = spectral_density(
        lambda v: H @ v, jnp.zeros(3), num_probes=2, num_iters=3, key=jax.random.key(0)
    )
    width = float(jnp.max(density.nodes) - jnp.min(density.nodes))
    np.testing.assert_allclose(width, 0.1, rtol=1e-3)
    np.testing.assert_allclose(float(density.sigma), np.sqrt(1e-5) * width, rtol=1e-5)


def test_custom_grid_and_smaller_sigma():
    A = symmetric_matrix(40, SPECTRUM, seed=4)
    grid = jnp.linspace(-3.0, 5.0, 4001)
    density = spectral_density(
        matrix_operator(A),
        jnp.zeros(40),
        num_probes=2,
        num_iters=40,
        key=jax.random.key(1),
        sigma_squared=1e-3,
        grid=grid,
    )
    assert density.grid.shape == (4001,)
    np.testing.assert_allclose(float(jnp.trapezoid(density.density, grid)), 1.0, atol=1e-3)


def test_slq_minimum_ratio_tracks_the_dense_one_on_an_mlp():
    params, x, y = make_mlp_problem(sizes=(4, 10, 3), num_examples=32)
    report = analyze_critical_point(mlp_loss, params, x, y)
    density = spectral_density(
        hvp(mlp_loss, params, x, y), params, num_probes=16, num_iters=40, key=jax.random.key(0)
    )
    np.testing.assert_allclose(float(jnp.trapezoid(density.density, density.grid)), 1.0, atol=1e-3)
    estimate = float(minimum_ratio_estimate(density, tol=report.eig_tol))
    assert abs(estimate - report.minimum_ratio) < 0.15


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_probes": 0}, "num_probes must be a positive int"),
        ({"probe_batch_size": 0}, "probe_batch_size must be a positive int"),
        ({"sigma_squared": 0.0}, "sigma_squared must be > 0"),
        # σ = ∞ (or NaN) smooths every node over the whole line: an all-NaN density.
        ({"sigma_squared": float("inf")}, "sigma_squared must be > 0 and finite, got inf"),
        ({"sigma_squared": float("nan")}, "sigma_squared must be > 0 and finite, got nan"),
        ({"num_iters": 0}, "num_iters must be >= 1"),
        ({"grid": 1}, "at least 2 points"),
        # The rule of an int grid holds for an array of points too.
        ({"grid": jnp.zeros(0)}, "a grid needs at least 2 points, got 0"),
        ({"grid": jnp.zeros(1)}, "a grid needs at least 2 points, got 1"),
        ({"grid": jnp.zeros((2, 2))}, "grid must be 1-D"),
    ],
)
def test_bad_arguments(kwargs, match):
    arguments = {"num_probes": 2, "num_iters": 3, "key": jax.random.key(0), **kwargs}
    with pytest.raises(ValueError, match=match):
        spectral_density(lambda v: v, jnp.zeros(3), **arguments)


def test_numpy_integer_probe_counts_are_ints():
    # Before: num_probes=np.int64(2) and probe_batch_size=np.int64(2) were refused ("must be
    # a positive int").
    arguments = {"num_iters": 3, "key": jax.random.key(0)}
    plain = spectral_density(lambda v: 2.0 * v, jnp.zeros(3), num_probes=2, **arguments)
    numpy = spectral_density(
        lambda v: 2.0 * v,
        jnp.zeros(3),
        num_probes=np.int64(2),
        probe_batch_size=np.int64(2),
        **arguments,
    )
    np.testing.assert_allclose(np.asarray(numpy.density), np.asarray(plain.density), rtol=1e-6)


def test_the_density_integrates_to_one_when_sigma_is_above_the_grid_spacing():
    # Before: the docstrings said the density integrates to 1 on the default grid whatever σ;
    # with σ below the grid spacing h (sigma_squared = 1e-8 here) it integrated to 0.16. The
    # trapezoid sum of a Gaussian is 1 to within 2·exp(−2π²σ²/h²): that is what is promised.
    H = jnp.linspace(-2.0, 12.0, 20)
    integrals, ratios = {}, {}
    for sigma_squared in (1e-5, 1e-6, 1e-8):
        d = spectral_density(
            lambda v: H * v,
            jnp.zeros(20),
            num_probes=4,
            num_iters=20,
            key=jax.random.key(0),
            sigma_squared=sigma_squared,
        )
        integrals[sigma_squared] = float(jnp.trapezoid(d.density, d.grid))
        ratios[sigma_squared] = float(d.sigma / (d.grid[1] - d.grid[0]))
    # The default σ is ~3 grid spacings, and σ ≥ h holds down to sigma_squared ≈ 1e-6.
    assert ratios[1e-5] > 3 and ratios[1e-6] > 0.95
    np.testing.assert_allclose(integrals[1e-5], 1.0, atol=1e-3)
    np.testing.assert_allclose(integrals[1e-6], 1.0, atol=1e-3)
    # Ten times below the spacing the sum misses the Gaussians' mass, as documented.
    assert ratios[1e-8] < 0.2 and abs(integrals[1e-8] - 1.0) > 0.1
    for doc in (spectral_density.__doc__, SpectralDensity.__doc__):
        assert "grid spacing" in doc


def test_the_default_grid_reaches_five_sigma_and_one_percent_past_the_extreme_nodes():
    # The docstring's grid: from the lowest node − (5σ + 1% of the nodes' span) to the highest
    # + the same, so a Gaussian at an extreme node integrates to 1 on it (mutation audit,
    # 2026-12-07: a 3σ margin passed every density test; its integral was 0.9995).
    matrix = jnp.diag(jnp.array([-1.0, 1.0, 2.0, 3.0]))
    density = spectral_density(
        lambda v: matrix @ v,
        jnp.zeros(4),
        num_probes=4,
        num_iters=4,
        key=jax.random.key(0),
        sigma_squared=1e-2,
    )
    low, high, sigma = float(density.nodes.min()), float(density.nodes.max()), float(density.sigma)
    margin = 5 * sigma + 0.01 * (high - low)
    np.testing.assert_allclose(
        [float(density.grid[0]), float(density.grid[-1])], [low - margin, high + margin], rtol=1e-6
    )
    assert abs(float(jnp.trapezoid(density.density, density.grid)) - 1.0) < 1e-5
