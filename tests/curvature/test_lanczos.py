"""Lanczos: exact on known spectra, agrees with dense eigh on an MLP, stops when converged."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from curvature_problems import make_mlp_problem, mlp_loss, x64_enabled
from jax.flatten_util import ravel_pytree

from jaxtrain.curvature import (
    DEFAULT_MAX_BYTES,
    EigenResult,
    LanczosResult,
    MemoryLimitError,
    _lanczos,
    eigenvalues,
    hessian,
    hvp,
    lanczos,
    spectral_density,
)


def _symmetric(n, seed=0, spectrum=None):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    spectrum = np.linspace(-1.0, 5.0, n) if spectrum is None else np.asarray(spectrum)
    return (Q * spectrum) @ Q.T, np.sort(spectrum)


def test_full_run_recovers_the_spectrum_and_an_orthonormal_basis():
    A, spectrum = _symmetric(12)
    A = jnp.asarray(A, jnp.float32)
    result = lanczos(lambda v: A @ v, jnp.zeros(12), 12, jax.random.key(0), return_basis=True)
    assert isinstance(result, LanczosResult)
    assert result.alphas.shape == (12,) and result.betas.shape == (12,)
    V = np.asarray(result.basis)
    np.testing.assert_allclose(V @ V.T, np.eye(12), atol=1e-5)
    T = np.diag(result.alphas) + np.diag(result.betas[:-1], 1) + np.diag(result.betas[:-1], -1)
    np.testing.assert_allclose(V @ np.asarray(A) @ V.T, T, atol=1e-5)
    np.testing.assert_allclose(np.linalg.eigvalsh(T), spectrum, atol=1e-5)


def test_pytree_vectors():
    diag = {"a": jnp.arange(1.0, 4.0), "b": jnp.array([[10.0, -2.0]])}
    matvec = lambda v: jax.tree.map(lambda d, x: d * x, diag, v)  # noqa: E731
    result = eigenvalues(
        matvec, diag, k=2, which="both", key=jax.random.key(1), return_vectors=True
    )
    np.testing.assert_allclose(np.asarray(result.eigenvalues), [-2.0, 1.0, 3.0, 10.0], atol=1e-5)
    assert jax.tree.structure(result.eigenvectors) == jax.tree.structure(diag)
    assert result.eigenvectors["b"].shape == (4, 1, 2)
    top = jax.tree.map(lambda x: x[-1], result.eigenvectors)
    np.testing.assert_allclose(np.abs(np.asarray(top["b"])), [[1.0, 0.0]], atol=1e-5)


@pytest.mark.parametrize(
    ("which", "expected"),
    [
        ("largest", [5.0, 4.0, 3.0]),
        ("smallest", [-3.0, -2.0, 0.0]),
        ("both", [-3.0, -2.0, 0.0, 3.0, 4.0, 5.0]),
    ],
)
def test_which_and_order(which, expected):
    spectrum = [-3.0, -2.0, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0]
    A, _ = _symmetric(10, spectrum=spectrum)
    A = jnp.asarray(A, jnp.float32)
    result = eigenvalues(lambda v: A @ v, jnp.zeros(10), k=3, which=which, key=jax.random.key(2))
    assert isinstance(result, EigenResult)
    np.testing.assert_allclose(np.asarray(result.eigenvalues), expected, atol=1e-4)
    assert result.converged


def test_stops_when_converged_not_after_the_budget():
    n = 200
    spectrum = np.concatenate([np.linspace(0.0, 1.0, n - 3), [20.0, 30.0, 40.0]])
    A, _ = _symmetric(n, seed=3, spectrum=spectrum)
    A = jnp.asarray(A, jnp.float32)
    result = eigenvalues(
        lambda v: A @ v, jnp.zeros(n), k=3, key=jax.random.key(0), num_iters=120, tol=1e-5
    )
    assert result.converged
    assert result.num_matvecs < 60  # isolated outliers: a few dozen steps, not the budget
    np.testing.assert_allclose(np.asarray(result.eigenvalues), [40.0, 30.0, 20.0], rtol=1e-5)
    assert np.all(np.asarray(result.residuals) <= 1e-5 * np.asarray(result.eigenvalues) + 1e-3)


def test_ritz_residuals_bound_the_true_residuals():
    A, _ = _symmetric(60, seed=4)
    A = jnp.asarray(A, jnp.float32)
    result = eigenvalues(
        lambda v: A @ v, jnp.zeros(60), k=2, key=jax.random.key(0), return_vectors=True
    )
    for theta, y, bound in zip(
        result.eigenvalues, result.eigenvectors, result.residuals, strict=True
    ):
        true = float(jnp.linalg.norm(A @ y - theta * y))
        assert true <= float(bound) + 1e-4
        np.testing.assert_allclose(float(jnp.linalg.norm(y)), 1.0, rtol=1e-5)


def test_early_stop_returns_both_ends_with_vectors_from_a_smaller_size_class():
    # Outliers at both ends converge in a few dozen steps of a 128-row basis: the answer comes
    # from a smaller size class, its Ritz vectors zero-padded back to the whole basis.
    n = 300
    spectrum = np.concatenate([[-30.0, -20.0], np.linspace(0.0, 1.0, n - 4), [20.0, 30.0]])
    A, _ = _symmetric(n, seed=7, spectrum=spectrum)
    A = jnp.asarray(A, jnp.float32)
    result = eigenvalues(
        lambda v: A @ v,
        jnp.zeros(n),
        k=2,
        which="both",
        key=jax.random.key(0),
        num_iters=100,
        tol=1e-5,
        return_vectors=True,
    )
    assert result.converged and result.num_matvecs <= 64
    np.testing.assert_allclose(np.asarray(result.eigenvalues), [-30, -20, 20, 30], rtol=1e-5)
    Y = np.asarray(result.eigenvectors, np.float64)
    np.testing.assert_allclose(Y @ Y.T, np.eye(4), atol=1e-5)
    for theta, y, bound in zip(result.eigenvalues, Y, result.residuals, strict=True):
        true = np.linalg.norm(np.asarray(A, np.float64) @ y - float(theta) * y)
        assert true <= float(bound) + 1e-4


def test_restarts_keep_the_basis_orthonormal_when_it_is_smaller_than_the_space():
    # The identity breaks down at every step: 150 restarts in a 300-dimensional space, the
    # basis crossing size classes as it fills.
    run = lanczos(lambda v: v, jnp.zeros(300), 150, jax.random.key(0), return_basis=True)
    np.testing.assert_allclose(np.asarray(run.alphas), 1.0, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(run.betas), 0.0)
    V = np.asarray(run.basis, np.float64)
    np.testing.assert_allclose(V @ V.T, np.eye(150), atol=1e-5)


def test_breakdown_on_a_low_rank_operator_restarts_cleanly():
    # Rank 3: the Krylov space is exhausted after 3 steps; the rest of the spectrum is 0.
    rng = np.random.default_rng(5)
    U, _ = np.linalg.qr(rng.standard_normal((30, 3)))
    A = jnp.asarray((U * np.array([3.0, -1.0, 2.0])) @ U.T, jnp.float32)
    result = eigenvalues(lambda v: A @ v, jnp.zeros(30), k=3, which="both", key=jax.random.key(0))
    np.testing.assert_allclose(
        np.asarray(result.eigenvalues), [-1.0, 0.0, 0.0, 0.0, 2.0, 3.0], atol=1e-5
    )
    # All 30 steps: each breakdown restarts from a fresh direction, so the basis stays
    # orthonormal through every restart, up to the full dimension.
    run = lanczos(lambda v: A @ v, jnp.zeros(30), 30, jax.random.key(0), return_basis=True)
    assert np.all(np.isfinite(np.asarray(run.alphas)))
    assert int(np.sum(np.asarray(run.betas[:-1]) == 0.0)) >= 26  # one restart per exhausted step
    V = np.asarray(run.basis, np.float64)
    np.testing.assert_allclose(V @ V.T, np.eye(30), atol=1e-5)


def test_a_start_vector_its_rotations_reproduce_still_restarts_into_new_directions():
    # A restart rotates v₀'s entries (a fresh direction for a random v₀, with no random-number
    # generator in the loop). A constant v₀, a gradient of a symmetric start, is its own
    # rotation: the restart must still find a new direction, or zero rows enter the basis and
    # give Ritz values of 0 that H = 2I does not have.
    from jaxtrain.curvature._lanczos import basis_rows, extreme_ritz_pairs

    n, steps = 6, 4
    values, vectors, _, taken, _ = jax.jit(
        lambda v0: extreme_ritz_pairs(
            lambda v: 2.0 * v,
            v0,
            jnp.int32(steps),
            jnp.float32(1e-6),
            m=basis_rows(steps, n),
            k=steps,
            which="smallest",
            min_iters=steps,
        )
    )(jnp.ones(n))
    assert int(taken) == steps
    np.testing.assert_allclose(np.asarray(values), 2.0, rtol=1e-6)
    V = np.asarray(vectors, np.float64)
    np.testing.assert_allclose(V @ V.T, np.eye(steps), atol=1e-5)


def test_the_lecture_toy_needs_no_more_than_two_steps(toy):
    result = eigenvalues(
        hvp(toy, jnp.zeros(2)), jnp.zeros(2), k=1, which="both", key=jax.random.key(0), num_iters=50
    )
    np.testing.assert_allclose(np.asarray(result.eigenvalues), [-2.0, 2.0], atol=1e-6)
    assert result.num_matvecs == 2  # the budget is capped at n = 2


def test_no_recompilation_within_a_size_class():
    A, _ = _symmetric(40, seed=6)
    A = jnp.asarray(A, jnp.float32)
    key = jax.random.key(0)

    def matvec(v):
        return A @ v

    short = lanczos(matvec, jnp.zeros(40), 10, key)
    compiled = _lanczos._lanczos_program._cache_size()
    longer = lanczos(matvec, jnp.zeros(40), 13, key)  # 10 and 13 share the 16-row basis
    assert _lanczos._lanczos_program._cache_size() == compiled
    assert longer.alphas.shape == (13,)
    np.testing.assert_allclose(np.asarray(longer.alphas[:10]), np.asarray(short.alphas), rtol=1e-5)
    lanczos(matvec, jnp.zeros(40), 20, key)  # a new size class compiles once more
    assert _lanczos._lanczos_program._cache_size() == compiled + 1


def test_float32_top_eigenvalues_of_an_mlp_and_a_new_hvp_reuses_the_compilation():
    # One problem for both checks: the second eigenvalues() call is the reuse under test, so
    # the first, checked against dense eigh, is the only compilation of the Lanczos program.
    params, x, y = make_mlp_problem(sizes=(6, 16, 4), num_examples=64)
    key = jax.random.key(0)
    result = eigenvalues(hvp(mlp_loss, params, x, y), params, k=5, key=key)
    dense = np.linalg.eigvalsh(np.asarray(hessian(mlp_loss, params, x, y)))
    np.testing.assert_allclose(np.asarray(result.eigenvalues), dense[::-1][:5], rtol=1e-3)
    moved = jax.tree.map(lambda a: a * 0.9, params)
    compiled = _lanczos._eigen_program._cache_size()
    eigenvalues(hvp(mlp_loss, moved, x, y), moved, k=5, key=key)
    assert _lanczos._eigen_program._cache_size() == compiled


def test_agrees_with_dense_eigh_on_a_2000_parameter_mlp():
    # Float64: the bottom of an MLP spectrum sits near −3 next to a bulk, and 1e-4 relative
    # there needs more than float32 round-off allows after hundreds of reorthogonalizations.
    with x64_enabled():
        params, x, y = make_mlp_problem(sizes=(12, 40, 30, 6), num_examples=64, dtype=jnp.float64)
        n = ravel_pytree(params)[0].size
        assert 1900 <= n <= 2100
        dense = np.linalg.eigvalsh(np.asarray(hessian(mlp_loss, params, x, y)))
        result = eigenvalues(
            hvp(mlp_loss, params, x, y),
            params,
            k=5,
            which="both",
            key=jax.random.key(3),
            num_iters=300,
            tol=1e-6,
        )
        assert result.converged and result.num_matvecs < 300
        expected = np.concatenate([dense[:5], dense[-5:]])
        np.testing.assert_allclose(np.asarray(result.eigenvalues), expected, rtol=1e-4)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"which": "top"}, "which must be one of"),
        ({"k": 0}, "k must be a positive int"),
        ({"k": 2.0}, "k must be a positive int"),
        ({"tol": 0.0}, "tol must be > 0"),
        ({"num_iters": 0}, "num_iters must be >= 1"),
        ({"num_iters": 10.5}, "num_iters must be a Python int"),
        ({"num_iters": 3, "k": 2, "which": "both"}, "cannot give 4 Ritz values"),
        ({"k": 6, "which": "both"}, "asked for 12 eigenvalues of a 10-dimensional"),
        ({"key": None}, "PRNG key is required"),
    ],
)
def test_bad_arguments(kwargs, match):
    arguments = {"k": 1, "key": jax.random.key(0), **kwargs}
    with pytest.raises(ValueError, match=match):
        eigenvalues(lambda v: v, jnp.zeros(10), **arguments)


def test_lanczos_bad_arguments():
    with pytest.raises(ValueError, match="num_iters must be >= 1"):
        lanczos(lambda v: v, jnp.zeros(3), 0, jax.random.key(0))
    with pytest.raises(ValueError, match="no array leaves"):
        lanczos(lambda v: v, {}, 3, jax.random.key(0))
    with pytest.raises(ValueError, match="floating-point"):
        lanczos(lambda v: v, jnp.zeros(3, jnp.int32), 3, jax.random.key(0))
    with pytest.raises(ValueError, match="matvec returned 2 numbers for a vector of 3"):
        lanczos(lambda v: v[:2], jnp.zeros(3), 3, jax.random.key(0))


# Issue 13, case 14: eigenvalues(k=n) on 33k parameters grew to 16.6 GB with no guard. The
# basis (rows × n × itemsize) is checked against max_bytes before anything is allocated.
@pytest.mark.parametrize(
    "call,needed",
    [
        (
            lambda v, mb: eigenvalues(lambda x: x, v, k=500, key=jax.random.key(0), max_bytes=mb),
            "4,000,000",
        ),
        (lambda v, mb: lanczos(lambda x: x, v, 1000, jax.random.key(0), max_bytes=mb), "4,000,000"),
        # Two probes at once hold two bases.
        (
            lambda v, mb: spectral_density(
                lambda x: x,
                v,
                num_probes=4,
                num_iters=1000,
                key=jax.random.key(0),
                probe_batch_size=2,
                max_bytes=mb,
            ),
            "8,000,000",
        ),
    ],
    ids=["eigenvalues", "lanczos", "spectral_density"],
)
def test_a_basis_over_max_bytes_is_refused_before_it_is_allocated(call, needed):
    like = jnp.zeros(1000, jnp.float32)
    with pytest.raises(MemoryLimitError, match=rf"needs {needed} bytes .*max_bytes=1,000,000"):
        call(like, 1_000_000)


def test_the_basis_limit_defaults_to_the_dense_hessians():
    # 33,000 float32 parameters and k = n/2 at both ends: a 33,000 × 33,000 basis, 4.4 GB.
    like = jnp.zeros(33_000, jnp.float32)
    with pytest.raises(
        MemoryLimitError, match=r"33,000 × 33,000 float32 numbers needs 4,356,000,000 bytes"
    ):
        eigenvalues(lambda x: x, like, k=16_500, key=jax.random.key(0), which="both")
    assert DEFAULT_MAX_BYTES == 2 * 1024**3


def test_a_repeated_top_eigenvalue_comes_out_once_as_documented():
    # diag(5, 5, 4, 3, …) rotated: one start vector sees one direction of the 5-eigenspace,
    # so k = 2 gives 5 and 4, each an eigenvalue of H (the documented limitation).
    A, _ = _symmetric(9, seed=3, spectrum=[5.0, 5.0, 4.0, 3.0, 2.0, 1.0, 0.0, -1.0, -2.0])
    A = jnp.asarray(A, jnp.float32)
    result = eigenvalues(lambda v: A @ v, jnp.zeros(9), k=2, key=jax.random.key(0))
    np.testing.assert_allclose(np.asarray(result.eigenvalues), [5.0, 4.0], rtol=1e-4)


@pytest.mark.parametrize("scale", [1e-20, 1e20])
def test_a_float32_operator_of_tiny_or_huge_scale_keeps_its_extremes(scale):
    # Before: ‖w‖ squared each entry, which underflowed to 0 (1e-20) or overflowed (1e20) in
    # float32, so every step read as a breakdown and wrong values came back as converged.
    H = jnp.asarray(scale * np.array([1.0, 2.0, 3.0, 4.0]), jnp.float32)
    result = eigenvalues(lambda v: H * v, jnp.zeros(4), k=1, key=jax.random.key(0), which="both")
    assert result.converged
    np.testing.assert_allclose(np.asarray(result.eigenvalues) / scale, [1.0, 4.0], rtol=1e-4)
    alphas, betas, _ = lanczos(lambda v: H * v, jnp.zeros(4), 4, jax.random.key(1))
    T = jnp.diag(alphas) + jnp.diag(betas[:-1], 1) + jnp.diag(betas[:-1], -1)
    ritz_values = np.linalg.eigvalsh(np.asarray(T, np.float64) / scale)
    np.testing.assert_allclose(ritz_values, [1.0, 2.0, 3.0, 4.0], rtol=1e-4)


def test_numpy_integer_counts_are_ints():
    # Before: k=np.int64(1) was refused ("k must be a positive int"), num_iters was not.
    H = jnp.diag(jnp.arange(1.0, 7.0))
    plain = eigenvalues(lambda v: H @ v, jnp.zeros(6), k=2, key=jax.random.key(0))
    numpy = eigenvalues(
        lambda v: H @ v, jnp.zeros(6), k=np.int64(2), key=jax.random.key(0), num_iters=np.int32(6)
    )
    np.testing.assert_array_equal(np.asarray(numpy.eigenvalues), np.asarray(plain.eigenvalues))


def test_the_convergence_floor_does_not_grow_with_the_number_of_parameters():
    # The floor under tol·|θ| was 10·√n·ε·‖T‖: 1.2e-3·‖H‖ at a million float32 parameters,
    # where H = diag(−5e-4, 0 … 1) gave λmin = +2e-4 "converged" after 92 products (a saddle
    # read as degenerate; 40,000 parameters and λmin = −3e-5: −2.5e-5, 17% off). It is
    # 100·ε·‖T‖ whatever n: a Ritz value −5e-4 with a residual of 1e-3 has not converged.
    from jaxtrain.curvature._lanczos import _converged, _floor

    theta = jnp.array([-5e-4, 0.5, 1.0], jnp.float32)
    j = jnp.asarray(3)
    floor = _floor(theta, j)
    assert float(floor) == pytest.approx(100 * np.finfo(np.float32).eps)
    wanted = jnp.array([0, 2])
    residuals = jnp.array([1e-3, 0.0, 1e-6], jnp.float32)
    assert not bool(_converged(theta, residuals, j, wanted, 1e-4, floor))
    assert bool(_converged(theta, residuals.at[0].set(1e-5), j, wanted, 1e-4, floor))
