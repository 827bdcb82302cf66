"""Eigenvalues over batches: per-batch values against dense Hessians, mean and standard error
against NumPy on those values, the full-data value, and one compilation for equal batches."""

import jax
import numpy as np
import pytest
from curvature_problems import make_mlp_problem, mlp_loss
from jax.flatten_util import ravel_pytree

from jaxtrain import curvature
from jaxtrain.curvature import _lanczos

BATCHES, SIZE = 4, 8


def _batches(seed):
    params, x, y = make_mlp_problem(sizes=(2, 3, 1), num_examples=BATCHES * SIZE, seed=seed)
    return params, [(x[i : i + SIZE], y[i : i + SIZE]) for i in range(0, BATCHES * SIZE, SIZE)]


@jax.jit
def _dense_hessian(params, x, y):
    flat, unravel = ravel_pytree(params)
    return jax.hessian(lambda v: mlp_loss(unravel(v), x, y))(flat)


def _hessian(params, x, y):
    return np.asarray(_dense_hessian(params, x, y), np.float64)


def _top(params, x, y, k=2):
    return np.linalg.eigvalsh(_hessian(params, x, y))[::-1][:k]


def test_mean_and_standard_error_of_the_top_eigenvalues_across_batches():
    params, batches = _batches(0)
    key = jax.random.key(0)
    out = curvature.eigenvalues_over_batches(mlp_loss, params, batches, k=2, key=key, tol=1e-5)
    assert out.per_batch.shape == (BATCHES, 2) and out.converged
    expected = np.stack([_top(params, *batch) for batch in batches])
    np.testing.assert_allclose(out.per_batch, expected, rtol=1e-4)
    values = np.asarray(out.per_batch, np.float64)
    np.testing.assert_allclose(out.mean, values.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(out.stderr, values.std(axis=0, ddof=1) / np.sqrt(BATCHES), rtol=1e-5)
    # All examples together: for equal batches of a mean loss, H is the mean of the H_b.
    H = np.mean([_hessian(params, *batch) for batch in batches], axis=0)
    np.testing.assert_allclose(out.full, np.linalg.eigvalsh(H)[::-1][:2], rtol=1e-4)
    # λmax is convex in H and H is the mean of the equal batches' H_b: λmax(H) ≤ mean λmax(H_b).
    assert out.full[0] <= out.mean[0] * (1 + 1e-5)
    # New data of the same shapes: no new compilation (one program per shape).
    compiled = _lanczos._eigen_program._cache_size()
    other = curvature.eigenvalues_over_batches(mlp_loss, params, _batches(1)[1], k=2, key=key)
    assert _lanczos._eigen_program._cache_size() == compiled
    assert not np.allclose(other.per_batch, out.per_batch)


def test_fewer_than_two_batches_or_mixed_structures_are_refused():
    params, batches = _batches(0)
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="at least 2 batches for a standard error, got 1"):
        curvature.eigenvalues_over_batches(mlp_loss, params, batches[:1], key=key)
    with pytest.raises(ValueError, match="batches: every batch needs one structure"):
        curvature.eigenvalues_over_batches(mlp_loss, params, [batches[0], batches[1][:1]], key=key)
    with pytest.raises(ValueError, match="batch 1: every array needs the same leading"):
        curvature.eigenvalues_over_batches(
            mlp_loss, params, [batches[0], (batches[1][0], batches[1][1][:3])], key=key
        )


@pytest.mark.parametrize("which", ["largest", "smallest", "both"])
def test_the_dense_method_gives_each_batchs_exact_extremes_in_lanczos_order(which):
    params, batches = _batches(0)
    key = jax.random.key(0)
    dense = curvature.eigenvalues_over_batches(
        mlp_loss, params, batches, k=2, which=which, key=key, method="dense"
    )
    lanczos = curvature.eigenvalues_over_batches(
        mlp_loss, params, batches, k=2, which=which, key=key, tol=1e-6
    )
    spectra = np.stack([np.linalg.eigvalsh(_hessian(params, *batch)) for batch in batches])
    expected = {
        "largest": spectra[:, ::-1][:, :2],
        "smallest": spectra[:, :2],
        "both": np.concatenate([spectra[:, :2], spectra[:, -2:]], axis=1),
    }[which]
    assert dense.converged and dense.per_batch.shape == expected.shape
    np.testing.assert_allclose(dense.per_batch, expected, rtol=1e-4, atol=1e-6)
    # The same numbers Lanczos converges to, and the full data's Hessian on all 32 examples.
    np.testing.assert_allclose(dense.per_batch, lanczos.per_batch, rtol=1e-3, atol=1e-5)
    everything = tuple(np.concatenate(parts) for parts in zip(*batches, strict=True))
    full = np.linalg.eigvalsh(_hessian(params, *everything))
    full = {"largest": full[::-1][:2], "smallest": full[:2], "both": full[[0, 1, -2, -1]]}[which]
    np.testing.assert_allclose(dense.full, full, rtol=1e-4, atol=1e-6)
    values = np.asarray(dense.per_batch, np.float64)
    np.testing.assert_allclose(
        dense.stderr, values.std(axis=0, ddof=1) / np.sqrt(BATCHES), rtol=1e-5
    )


@pytest.mark.parametrize("hessians_at_once", [8, 3])
def test_more_batches_than_one_eigvalsh_call_takes(hessians_at_once):
    # 10 batches: decomposed 8 (or, in less memory, 3) at a time, in the batches' order.
    params, x, y = make_mlp_problem(sizes=(2, 3, 1), num_examples=40, seed=2)
    batches = [(x[i : i + 4], y[i : i + 4]) for i in range(0, 40, 4)]
    n = ravel_pytree(params)[0].size
    out = curvature.eigenvalues_over_batches(
        mlp_loss,
        params,
        batches,
        k=1,
        key=jax.random.key(0),
        method="dense",
        max_bytes=hessians_at_once * n * n * 4,
    )
    expected = [_top(params, *batch, k=1) for batch in batches]
    np.testing.assert_allclose(out.per_batch, expected, rtol=1e-4, atol=1e-6)


def test_with_x64_the_hessians_at_once_are_counted_in_float64(x64, monkeypatch):
    # float32 parameters, but x64 on: each Hessian is float64 (8 bytes an entry), so a budget
    # of three float64 Hessians holds three, not six.
    import jax.numpy as jnp

    params, x, y = make_mlp_problem(sizes=(2, 3, 1), num_examples=40, seed=2)
    batches = [(x[i : i + 4], y[i : i + 4]) for i in range(0, 40, 4)]
    n = ravel_pytree(params)[0].size
    stacked = []
    eigvalsh = jnp.linalg.eigvalsh
    monkeypatch.setattr(
        jnp.linalg, "eigvalsh", lambda a: stacked.append((a.shape[0], a.dtype)) or eigvalsh(a)
    )
    curvature.eigenvalues_over_batches(
        mlp_loss, params, batches, key=jax.random.key(0), method="dense", max_bytes=3 * n * n * 8
    )
    assert stacked == [(3, jnp.float64)] * 3 + [(1, jnp.float64)] * 2  # 10 batches, then all


def test_the_dense_method_refuses_other_operators_unknown_methods_and_bad_requests():
    params, batches = _batches(0)
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="method must be one of"):
        curvature.eigenvalues_over_batches(mlp_loss, params, batches, key=key, method="eigh")
    with pytest.raises(ValueError, match="method='dense' builds the Hessian itself"):
        curvature.eigenvalues_over_batches(
            mlp_loss,
            params,
            batches,
            key=key,
            method="dense",
            operator=curvature.empirical_fisher,
        )
    n = ravel_pytree(params)[0].size
    with pytest.raises(ValueError, match=f"asked for {n + 1} eigenvalues of a {n}-dimensional"):
        curvature.eigenvalues_over_batches(
            mlp_loss, params, batches, key=key, k=n + 1, method="dense"
        )
    with pytest.raises(ValueError, match="tol must be > 0"):
        curvature.eigenvalues_over_batches(
            mlp_loss, params, batches, key=key, method="dense", tol=0.0
        )
    with pytest.raises(curvature.MemoryLimitError):
        curvature.eigenvalues_over_batches(
            mlp_loss, params, batches, key=key, method="dense", max_bytes=16
        )


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("method", ["lanczos", "dense"])
def test_half_precision_parameters_get_their_spectra_in_float32(method, dtype):
    # Before: both methods failed (XLA has no float16 or bfloat16 eigh) on half-precision
    # parameters: Lanczos built its basis and the dense path its Hessian in their dtype.
    x = np.random.default_rng(0).standard_normal((40, 3)).astype(np.float32)
    gram = x.T.astype(np.float64) @ x

    def loss(w, x):
        return jax.numpy.mean((x @ w.astype(jax.numpy.float32)) ** 2)

    w = jax.numpy.ones(3, dtype)
    batches = [(x[:20],), (x[20:],)]
    result = curvature.eigenvalues_over_batches(
        loss, w, batches, k=1, key=jax.random.key(0), method=method
    )
    # L = mean((xw)²) has H = 2xᵀx/N at every w; Lanczos's vectors pass through the leaves'
    # dtype on the way into each product, bfloat16's 8 bits (0.4%) among them.
    rtol = 1e-2 if (method, dtype) == ("lanczos", "bfloat16") else 1e-3
    np.testing.assert_allclose(result.full, [2 * np.linalg.eigvalsh(gram / 40)[-1]], rtol=rtol)
    exact = curvature.eigenvalues(
        curvature.hvp(loss, w, x), w, k=1, key=jax.random.key(0)
    ).eigenvalues
    assert exact.dtype == jax.numpy.float32
    np.testing.assert_allclose(exact, result.full, rtol=rtol)


def test_a_batch_given_as_a_list_is_a_batch_of_arrays_as_a_tuple_is():
    # Before: [x, y] was passed to the loss as one argument: loss(params, [x, y]) failed
    # with a TypeError (a missing argument y).
    params, batches = _batches(0)
    key = jax.random.key(0)
    as_tuples = curvature.eigenvalues_over_batches(mlp_loss, params, batches, key=key)
    as_lists = curvature.eigenvalues_over_batches(
        mlp_loss, params, [list(batch) for batch in batches], key=key
    )
    np.testing.assert_array_equal(np.asarray(as_lists.per_batch), np.asarray(as_tuples.per_batch))
    np.testing.assert_array_equal(np.asarray(as_lists.full), np.asarray(as_tuples.full))
