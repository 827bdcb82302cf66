"""The saddle-or-minimum check: dense Hessian for small models, Lanczos above."""

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jaxtrain import curvature
from jaxtrain.diagnose import CurvatureCheck
from jaxtrain.diagnose._critical_point import curvature_check


def dense_eigenvalues(loss_fn, params):
    flat, unravel = ravel_pytree(params)
    H = jax.jit(jax.hessian(lambda v: loss_fn(unravel(v))))(flat)
    return np.linalg.eigvalsh(np.asarray(H, dtype=np.float64))


def test_a_convex_least_squares_point_is_a_minimum_on_both_paths():
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(50, 12)), jnp.float32)
    y = jnp.asarray(rng.normal(size=(50,)), jnp.float32)

    def loss_fn(params):
        return jnp.mean((x @ params["w"] + params["b"] - y) ** 2)

    params = {"w": jnp.zeros(12), "b": jnp.zeros(())}
    reference = dense_eigenvalues(loss_fn, params)
    dense = curvature_check(loss_fn, params, dense_max_params=100, key=jax.random.key(0))
    assert isinstance(dense, CurvatureCheck)
    assert dense.method == "dense" and dense.kind == "minimum"
    assert dense.num_negative == 0 and dense.num_positive == 13
    np.testing.assert_allclose(dense.highest, reference[-1], rtol=1e-4)
    lanczos = curvature_check(loss_fn, params, dense_max_params=5, key=jax.random.key(0), k=3)
    assert lanczos.method == "lanczos" and lanczos.kind == "minimum"
    assert lanczos.eigenvalues_counted == 6 and len(lanczos.extreme_eigenvalues) == 6
    np.testing.assert_allclose(lanczos.lowest, reference[0], rtol=1e-3)
    np.testing.assert_allclose(lanczos.highest, reference[-1], rtol=1e-3)


def test_the_lecture_saddle_on_both_paths():
    # ŷ = w₁w₂x with x = 1, target 1, MSE: at the origin H = [[0, −2], [−2, 0]].
    def loss_fn(w):
        return (1.0 - w[0] * w[1]) ** 2

    for limit, method in ((10, "dense"), (1, "lanczos")):
        report = curvature_check(
            loss_fn, jnp.zeros(2), dense_max_params=limit, key=jax.random.key(1)
        )
        assert report.method == method and report.kind == "saddle"
        assert report.num_negative == 1 and report.num_positive == 1
        np.testing.assert_allclose([report.lowest, report.highest], [-2.0, 2.0], atol=1e-5)
        assert "saddle point" in report.summary


def _quadratic(d, w):
    return 0.5 * jnp.sum(d * w**2)


def test_diagnose_names_every_point_as_the_curvature_package_does():
    for diagonal, kind in (
        ([1.0, 2.0, 3.0], "minimum"),
        ([-1.0, -2.0, -3.0], "maximum"),
        ([-1.0, 2.0, 3.0], "saddle"),
        # A flat direction and no negative one: the Hessian cannot prove a minimum.
        ([0.0, 2.0, 3.0], "degenerate"),
        ([-1.0, 0.0, -3.0], "degenerate"),
    ):
        # One pytree-callable for all five: the dense and Lanczos programs compile once.
        loss_fn = jax.tree_util.Partial(_quadratic, jnp.asarray(diagonal))
        # The stall analysis has already found the gradient small: only the eigenvalues decide.
        expected = curvature.analyze_critical_point(loss_fn, jnp.zeros(3), grad_tol=math.inf)
        assert expected.kind == kind
        for limit, method in ((10, "dense"), (2, "lanczos")):
            check = curvature_check(
                loss_fn, jnp.zeros(3), dense_max_params=limit, key=jax.random.key(0), k=1
            )
            assert check.method == method and check.kind == kind in curvature.KINDS, diagonal
            assert kind in check.summary


def test_to_dict_keeps_the_serialized_shape():
    check = curvature_check(
        lambda w: (1.0 - w[0] * w[1]) ** 2,
        jnp.zeros(2),
        dense_max_params=10,
        key=jax.random.key(0),
    )
    out = check.to_dict()
    assert list(out) == [
        "method",
        "n_params",
        "eigenvalues_counted",
        "num_negative",
        "num_positive",
        "num_zero",
        "eig_tol",
        "lowest",
        "highest",
        "extreme_eigenvalues",
        "kind",
        "summary",
    ]
    assert out["kind"] == "saddle" and out["extreme_eigenvalues"] == [-2.0, 2.0]
    assert all(type(out[k]) is int for k in ("n_params", "num_negative", "num_zero"))
