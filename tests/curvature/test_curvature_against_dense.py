"""ggn, empirical_fisher, block_eigenvalues and eigenvalues_over_batches against dense references,
and their edge cases (pytree examples, no examples, empty blocks, no leaves).

Dense references are built with jax.jacfwd / jax.hessian in float64 (the ``x64`` fixture) on
tiny models; every comparison states its tolerance.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from jaxtrain import curvature, losses

TOL64 = 1e-10  # float64 products against float64 references, relative to the largest entry


def _dense(matvec, like):
    flat, unravel = ravel_pytree(like)
    eye = jnp.eye(flat.size, dtype=flat.dtype)
    columns = jax.jit(jax.vmap(lambda e: ravel_pytree(matvec(unravel(e)))[0]))(eye)
    return np.asarray(columns, np.float64)


def _close(actual, expected, tol=TOL64):
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    np.testing.assert_allclose(actual, expected, rtol=0, atol=tol * np.abs(expected).max())


def _model(p, x):  # a pytree of outputs, nonlinear in θ: G ≠ H
    return {"out": jnp.tanh(x @ p["w1"] + p["b1"]) @ p["w2"]}


def _problem(seed=0):
    rng = np.random.default_rng(seed)
    params = {
        "w1": jnp.asarray(rng.standard_normal((2, 3))),
        "b1": jnp.asarray(rng.standard_normal(3)),
        "w2": jnp.asarray(rng.standard_normal((3, 3))),
    }
    x = jnp.asarray(rng.standard_normal((5, 2)))
    return params, x, jnp.asarray(rng.integers(0, 3, 5)), jnp.asarray(rng.standard_normal((5, 3)))


_LOSSES = {
    "ce": (lambda z, y: losses.softmax_cross_entropy(z["out"], y), "labels"),
    "mse": (lambda z, y: losses.mse(z["out"], y), "real"),
    # a hand-written loss with mean reduction over examples and outputs
    "mean_softplus": (lambda z, y: jnp.mean(jnp.logaddexp(0.0, -z["out"] * y)), "real"),
}


@pytest.mark.parametrize("name", list(_LOSSES))
def test_ggn_is_dense_jt_hl_j_in_float64_jitted_or_not_and_psd(x64, name):
    loss, kind = _LOSSES[name]
    params, x, labels, real = _problem()
    y = labels if kind == "labels" else real
    flat, unravel = ravel_pytree(params)
    J = np.asarray(jax.jit(jax.jacfwd(lambda f: _model(unravel(f), x)["out"].ravel()))(flat))
    z = jax.jit(_model)(params, x)["out"]
    H_out = np.asarray(
        jax.jit(jax.hessian(lambda o: loss({"out": o.reshape(z.shape)}, y)))(z.ravel())
    )
    expected = J.T @ H_out @ J
    G = curvature.ggn(_model, loss, params, x, y)
    _close(_dense(G, params), expected)
    # The product before linearization, and ggn built and applied inside jit, agree too.
    raw = curvature.GaussNewtonProduct(lambda p: _model(p, x), lambda o: loss(o, y), params)
    _close(_dense(raw, params), expected)
    v = jnp.asarray(np.random.default_rng(1).standard_normal(flat.size))
    jitted = jax.jit(lambda p, v: curvature.ggn(_model, loss, p, x, y)(unravel(v)))(params, v)
    assert ravel_pytree(jitted)[0].dtype == jnp.float64
    _close(ravel_pytree(jitted)[0], expected @ np.asarray(v))
    # ℓ convex in z ⇒ G ⪰ 0 (up to float64 round-off).
    eigs = np.linalg.eigvalsh(_dense(G, params))
    assert eigs.min() >= -1e-12 * eigs.max()


def _example_loss(p, x, y):
    return losses.mse(_model(p, x)["out"], y)


def _mean_outer_product(params, x, y):
    n = x.shape[0]
    grads = [
        ravel_pytree(jax.grad(_example_loss)(params, x[i : i + 1], y[i : i + 1]))[0]
        for i in range(n)
    ]
    g = np.asarray(jnp.stack(grads), np.float64)
    return g.T @ g / n  # documented normalization: (1/N) Σᵢ gᵢgᵢᵀ


def test_empirical_fisher_is_the_mean_outer_product_in_float64_and_under_jit(x64):
    params, x, _, y = _problem()
    expected = _mean_outer_product(params, x, y)
    F = curvature.empirical_fisher(_example_loss, params, x, y)
    _close(_dense(F, params), expected)
    flat, unravel = ravel_pytree(params)
    v = jnp.asarray(np.random.default_rng(2).standard_normal(flat.size))
    fv = jax.jit(lambda p, v: curvature.empirical_fisher(_example_loss, p, x, y)(unravel(v)))(
        params, v
    )
    _close(ravel_pytree(fv)[0], expected @ np.asarray(v))
    assert np.linalg.eigvalsh(expected).min() >= -1e-12 * np.abs(expected).max()


def test_empirical_fisher_accepts_pytree_examples_as_documented(x64):
    # "*data: arrays (or pytrees of arrays)": each example's every leaf becomes a batch of one,
    # and a dict of arrays gives the F the flat arrays give.
    params, x, _, y = _problem()

    def dict_loss(p, batch):
        return _example_loss(p, batch["x"], batch["y"])

    F = curvature.empirical_fisher(dict_loss, params, {"x": x, "y": y})
    _close(_dense(F, params), _mean_outer_product(params, x, y))


def test_empirical_fisher_refuses_zero_examples():
    # With N = 0 examples F = (1/N) Σᵢ gᵢgᵢᵀ is 0/0: refused, as eigenvalues_over_batches
    # refuses an empty batch, rather than a product of zeros.
    params = jnp.array([0.5, -0.3])

    def loss(w, x, y):
        return jnp.mean((x @ w - y) ** 2)

    with pytest.raises(ValueError, match=r"(?i)empty|no example|data"):
        curvature.empirical_fisher(loss, params, jnp.zeros((0, 2)), jnp.zeros(0))


@pytest.mark.parametrize("which", ["both", "largest"])
def test_user_partition_with_non_contiguous_leaves_matches_dense_blocks(x64, which):
    rng = np.random.default_rng(0)
    shapes = {"a": (3,), "b": (2, 2), "c": (2,), "d": (1,)}
    params = {name: jnp.asarray(rng.standard_normal(shape)) for name, shape in shapes.items()}
    A = rng.standard_normal((10, 10))
    S = jnp.asarray(A + A.T)

    def loss(p):
        f = ravel_pytree(p)[0]
        return 0.5 * f @ S @ f + jnp.sum(jnp.sin(f))

    H = np.asarray(curvature.hessian(loss, params))
    labels = {"a": "x", "b": "y", "c": "x", "d": "z"}  # "x" = leaves a and c, not adjacent
    where = {"x": np.r_[0:3, 7:9], "y": np.r_[3:7], "z": np.r_[9:10]}
    spectra = curvature.block_eigenvalues(
        curvature.hvp(loss, params), params, key=jax.random.key(0), blocks=labels, k=2,
        which=which, return_vectors=True, tol=1e-10,
    )  # fmt: skip
    assert list(spectra) == ["x", "y", "z"]
    assert sum(r.size for r in spectra.values()) == 10  # nothing left out or counted twice
    for label, idx in where.items():
        result = spectra[label]
        exact = np.linalg.eigvalsh(H[np.ix_(idx, idx)])
        k = min(2, idx.size // 2 if which == "both" else idx.size) or 1
        ends = np.concatenate([exact[:k], exact[-k:]])
        expected = ends if which == "both" else exact[::-1][:k]
        assert result.size == idx.size and result.eigenvalues.dtype == jnp.float64
        np.testing.assert_allclose(result.eigenvalues, expected, rtol=1e-8, atol=1e-8)
        V = np.asarray(jax.vmap(lambda t: ravel_pytree(t)[0])(result.eigenvectors))
        assert np.all(V[:, np.setdiff1d(np.arange(10), idx)] == 0.0)  # zero outside the block


def test_a_block_of_no_parameters_is_left_out():
    # A (0,) leaf is its own block under "leaf": it has no spectrum, and asking for k = 1
    # must not turn into eigenvalues(k=0) and an error about k.
    params = {"a": jnp.array([1.0, 2.0, 3.0]), "e": jnp.zeros((0,))}

    def loss(p):  # H_aa = [[2, 1, 0], [1, 2, 0], [0, 0, 2]]: eigenvalues 1, 2, 3
        return jnp.sum(p["a"] ** 2) + p["a"][0] * p["a"][1]

    spectra = curvature.block_eigenvalues(
        curvature.hvp(loss, params), params, key=jax.random.key(0), blocks="leaf", k=1
    )
    assert list(spectra) == ["a"]
    np.testing.assert_allclose(spectra["a"].eigenvalues, [1.0, 3.0], rtol=1e-5)


@pytest.mark.parametrize(
    ("changes", "message"), [({"tol": -1.0}, "tol must be > 0"), ({"num_iters": 0}, "num_iters")]
)
def test_bad_settings_are_refused_even_when_every_block_is_one_parameter(changes, message):
    # Blocks of one parameter never call eigenvalues(), so its checks must not be the only ones:
    # otherwise whether tol = -1 is refused would depend on the partition.
    params = {"a": jnp.ones(1), "b": jnp.ones(1)}

    def loss(p):
        return p["a"][0] * p["b"][0] + p["a"][0] ** 2 + 3.0 * p["b"][0] ** 2

    with pytest.raises(ValueError, match=message):
        curvature.block_eigenvalues(
            curvature.hvp(loss, params), params, key=jax.random.key(0), blocks="leaf", **changes
        )


def test_params_without_leaves_are_refused_naming_params():
    with pytest.raises(ValueError, match="params has no array leaves"):
        curvature.block_eigenvalues(lambda v: v, {}, key=jax.random.key(0))


def _softplus_hessian(w, x, y):  # L = mean softplus(−yᵢxᵢᵀw): H = Xᵀ diag(σ(1−σ)y²) X / n
    x, y = np.asarray(x), np.asarray(y)
    s = 1.0 / (1.0 + np.exp(x @ np.asarray(w) * y))
    return x.T @ (x * (s * (1 - s) * y**2)[:, None]) / len(y)


@pytest.mark.parametrize("method", ["dense", "lanczos"])
def test_stderr_is_sample_std_over_sqrt_b_and_full_uses_all_examples(x64, method):
    rng = np.random.default_rng(3)
    x, y = jnp.asarray(rng.standard_normal((10, 3))), jnp.asarray(rng.standard_normal(10))
    w = jnp.asarray(rng.standard_normal(3))

    def loss(w, x, y):
        return jnp.mean(jnp.logaddexp(0.0, -(x @ w) * y))

    batches = [(x[:3], y[:3]), (x[3:6], y[3:6]), (x[6:], y[6:])]  # unequal sizes
    out = curvature.eigenvalues_over_batches(
        loss, w, batches, key=jax.random.key(0), which="both", method=method, tol=1e-10
    )
    exact = np.asarray([np.linalg.eigvalsh(_softplus_hessian(w, *b))[[0, -1]] for b in batches])
    np.testing.assert_allclose(out.per_batch, exact, rtol=1e-8)
    np.testing.assert_allclose(out.mean, exact.mean(axis=0), rtol=1e-8)
    np.testing.assert_allclose(out.stderr, exact.std(axis=0, ddof=1) / np.sqrt(3), rtol=1e-6)
    full = np.linalg.eigvalsh(_softplus_hessian(w, x, y))[[0, -1]]
    np.testing.assert_allclose(out.full, full, rtol=1e-8)
    with pytest.raises(ValueError, match="at least 2 batches"):  # B = 1 has no s (ddof = 1)
        curvature.eigenvalues_over_batches(loss, w, batches[:1], key=jax.random.key(0))


def test_cli_batch_report_leaves_out_the_remainder_and_uses_ddof_1():
    from jaxtrain.cli._hessian import batch_report

    rng = np.random.default_rng(4)
    x = jnp.asarray(rng.standard_normal((7, 2)), jnp.float32)
    y = jnp.asarray(rng.standard_normal(7), jnp.float32)

    def batch_loss(w, x, y):
        return jnp.mean((x @ w - y) ** 2)

    numbers, lines = batch_report(batch_loss, jnp.zeros(2), x, y, num_batches=3, top=1, dense=True)
    assert numbers["batch_size"] == 2 and "the last 1 left out" in lines[0]
    xs = np.asarray(x, np.float64)
    top = [np.linalg.eigvalsh(2 * xs[i : i + 2].T @ xs[i : i + 2] / 2)[-1] for i in (0, 2, 4)]
    np.testing.assert_allclose(np.ravel(numbers["per_batch"]), top, rtol=1e-5)
    np.testing.assert_allclose(numbers["stderr"][0], np.std(top, ddof=1) / np.sqrt(3), rtol=1e-4)
    full = np.linalg.eigvalsh(2 * xs[:6].T @ xs[:6] / 6)[-1]  # the 7th example is left out
    np.testing.assert_allclose(numbers["full"][0], full, rtol=1e-5)
