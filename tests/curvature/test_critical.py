"""The lecture's second-order test, on its own example and on every kind of point."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree

from jaxtrain import curvature
from jaxtrain.curvature import (
    KINDS,
    CriticalPointReport,
    analyze_critical_point,
    classify_critical_point,
    eigenvalue_tolerance,
)


def test_lecture_saddle_at_the_origin(toy):
    report = analyze_critical_point(toy, jnp.zeros(2))
    assert isinstance(report, CriticalPointReport)
    assert report.kind == "saddle"
    assert report.grad_norm == 0.0
    np.testing.assert_array_equal(report.eigenvalues, [-2.0, 2.0])
    assert (report.num_positive, report.num_negative, report.num_zero) == (1, 1, 0)
    assert report.minimum_ratio == 0.5
    assert report.loss == 1.0
    u = np.asarray(report.escape_direction)
    # The escape direction is ±(1, 1)/√2, the eigenvector of λ = −2.
    np.testing.assert_allclose(np.abs(u), [2**-0.5, 2**-0.5], rtol=1e-6)
    assert u[0] * u[1] > 0
    assert report.escape_eigenvalue == -2.0
    assert report.predicted_loss_change == -1.0  # ½λ‖u‖² with ‖u‖ = 1


@pytest.mark.parametrize("step", [0.1, 0.5, 1.0])
def test_escape_really_lowers_the_loss(toy, step):
    report = analyze_critical_point(toy, jnp.zeros(2))
    new_params, change = report.escape(step)
    # Along (t, t)/√2 the loss is (1 − t²/2)², so the change is exactly that minus 1.
    np.testing.assert_allclose(change, (1 - step**2 / 2) ** 2 - 1, rtol=1e-5)
    assert change < 0
    np.testing.assert_allclose(float(toy(new_params)), 1 + change, rtol=1e-6)
    # The second-order prediction ½λt² holds to O(t⁴): exact up to the quartic term t⁴/4.
    np.testing.assert_allclose(report.predict(step) + step**4 / 4, change, atol=1e-6)


def test_escape_from_a_python_float_parameter():
    # analyze_critical_point took the float leaf and found the saddle; escape() then failed
    # with "'float' object has no attribute 'dtype'".
    def loss(params):
        return -1.5 * params["a"] ** 2 + jnp.sum(params["b"] ** 2)

    report = analyze_critical_point(loss, {"a": 0.0, "b": jnp.zeros(2)}, grad_tol=1e-3)
    assert report.kind == "saddle"
    new_params, change = report.escape(0.1)
    np.testing.assert_allclose(change, -1.5 * 0.1**2, rtol=1e-5)
    np.testing.assert_allclose(abs(float(new_params["a"])), 0.1, rtol=1e-6)


def test_gradient_descent_does_not_move_from_the_saddle(toy):
    optimizer = optax.sgd(0.1)
    params = jnp.zeros(2)

    @jax.jit
    def run(params):
        def step(carry, _):
            params, state = carry
            grads = jax.grad(toy)(params)
            updates, state = optimizer.update(grads, state, params)
            return (optax.apply_updates(params, updates), state), None

        (params, _), _ = jax.lax.scan(step, (params, optimizer.init(params)), None, length=100)
        return params

    np.testing.assert_array_equal(np.asarray(run(params)), [0.0, 0.0])
    _, change = analyze_critical_point(toy, params).escape(0.5)
    assert change < -0.2


def test_lecture_minimum_is_degenerate_and_says_why(toy):
    report = analyze_critical_point(toy, jnp.ones(2))
    np.testing.assert_allclose(report.eigenvalues, [0.0, 4.0], atol=1e-6)
    assert report.kind == "degenerate"
    assert (report.num_positive, report.num_negative, report.num_zero) == (1, 0, 1)
    # The ratio counts eigenvalues above eig_tol, never a bare > 0.
    assert report.minimum_ratio == 0.5
    assert report.escape_direction is None and report.predicted_loss_change is None
    text = str(report)
    assert "cannot prove a minimum" in text
    assert "gradient norm" in text and "2003.10397" in text
    with pytest.raises(ValueError, match="no negative curvature"):
        report.escape(0.1)
    with pytest.raises(ValueError, match="no negative curvature"):
        report.predict(0.1)


def test_minimum_ratio_ignores_eigenvalues_inside_eig_tol():
    # H = diag(2, 1e-9): the tiny one is zero curvature at eig_tol = 1e-6, so not a minimum.
    loss = lambda w: w[0] ** 2 + 0.5e-9 * w[1] ** 2  # noqa: E731
    report = analyze_critical_point(loss, jnp.zeros(2), eig_tol=1e-6)
    assert report.minimum_ratio == 0.5 and report.kind == "degenerate"
    assert analyze_critical_point(loss, jnp.zeros(2), eig_tol=1e-12).kind == "minimum"


@pytest.mark.parametrize(
    ("diagonal", "kind"),
    [
        ([1.0, 2.0, 3.0], "minimum"),
        ([-1.0, -2.0, -3.0], "maximum"),
        ([-1.0, 2.0, 3.0], "saddle"),
        ([-1.0, 0.0, 3.0], "saddle"),  # both signs prove a saddle whatever the zeros do
        ([-1.0, 0.0, -3.0], "degenerate"),  # not a minimum, but max vs saddle is undecided
        ([0.0, 0.0, 0.0], "degenerate"),
    ],
)
def test_every_kind(diagonal, kind):
    d = jnp.asarray(diagonal)
    report = analyze_critical_point(lambda w: 0.5 * jnp.sum(d * w**2), jnp.zeros(3))
    assert report.kind == kind and kind in KINDS
    assert report.num_positive == sum(v > 0 for v in diagonal)
    assert report.num_negative == sum(v < 0 for v in diagonal)
    assert f"kind: {kind}." in str(report)


def test_one_vocabulary():
    assert KINDS == ("minimum", "maximum", "saddle", "degenerate", "not_critical")
    assert "KINDS" in curvature.__all__ and "classify_critical_point" in curvature.__all__


@pytest.mark.parametrize(
    ("eigenvalues", "grad_norm", "kind"),
    [
        ([0.5, 1.0, 4.0], 0.0, "minimum"),
        ([-4.0, -1.0], 0.0, "maximum"),
        ([-0.5, 0.0, 4.0], 0.0, "saddle"),
        ([0.0, 4.0], 0.0, "degenerate"),
        ([-4.0, 1e-4], 0.0, "degenerate"),  # 1e-4 is inside the tolerance of 1e-3
        ([0.0, 0.0], 0.0, "degenerate"),
        ([0.5, 1.0, 4.0], 0.1, "not_critical"),
        ([0.5, 1.0, 4.0], 1e-2, "minimum"),  # ‖g‖ ≤ grad_tol counts as critical
    ],
)
def test_classify_is_the_rule_of_the_docstring(eigenvalues, grad_norm, kind):
    assert (
        classify_critical_point(eigenvalues, grad_norm=grad_norm, grad_tol=1e-2, eig_tol=1e-3)
        == kind
    )


def test_classify_needs_only_the_extreme_eigenvalues():
    # Lanczos finds the k lowest and the k highest: the kind must be the full spectrum's.
    rng = np.random.default_rng(0)
    for spectrum in (
        np.sort(rng.uniform(0.1, 5.0, 40)),
        np.sort(np.concatenate([rng.uniform(-1, -0.1, 3), rng.uniform(0.1, 5.0, 37)])),
        np.sort(np.concatenate([np.zeros(10), rng.uniform(0.1, 5.0, 30)])),
    ):
        tol = eigenvalue_tolerance(spectrum, np.float32)
        full = classify_critical_point(spectrum, grad_norm=0.0, grad_tol=1e-3, eig_tol=tol)
        ends = np.concatenate([spectrum[:2], spectrum[-2:]])
        assert classify_critical_point(ends, grad_norm=0.0, grad_tol=1e-3, eig_tol=tol) == full


def test_eigenvalue_tolerance_is_relative_to_the_largest_eigenvalue():
    eps32 = float(np.finfo(np.float32).eps)
    np.testing.assert_allclose(eigenvalue_tolerance([-300.0, 2.0], np.float32), eps32**0.5 * 300)
    # Below |λ| = 1 the floor keeps round-off of a nearly flat Hessian from reading as signs.
    np.testing.assert_allclose(eigenvalue_tolerance([1e-6, -2e-6], np.float32), eps32**0.5)
    eps64 = float(np.finfo(np.float64).eps)
    np.testing.assert_allclose(eigenvalue_tolerance([4.0], np.float64), eps64**0.5 * 4)


def test_classify_rejects_what_it_cannot_read():
    with pytest.raises(ValueError, match="at least one eigenvalue"):
        classify_critical_point([], grad_norm=0.0, grad_tol=1e-3, eig_tol=1e-3)
    with pytest.raises(ValueError, match="eig_tol"):
        classify_critical_point([1.0], grad_norm=0.0, grad_tol=1e-3, eig_tol=-1.0)
    with pytest.raises(ValueError, match="grad_tol"):
        classify_critical_point([1.0], grad_norm=0.0, grad_tol=-1.0, eig_tol=1e-3)
    # NaN compares False with everything: read as a small gradient or a positive curvature
    # it would call a point a minimum with no evidence.
    with pytest.raises(ValueError, match=r"grad_norm.*not finite"):
        classify_critical_point([1.0, 1.0], grad_norm=float("nan"), grad_tol=1e-3, eig_tol=1e-3)
    with pytest.raises(ValueError, match=r"eigenvalues.*not finite"):
        classify_critical_point([1.0, float("nan")], grad_norm=0.0, grad_tol=1e-3, eig_tol=1e-3)


def test_a_point_where_the_loss_is_nan_is_refused_not_classified():
    def loss(w):
        return jnp.sum(w**4) + w[0] * w[1]

    with pytest.raises(ValueError, match="not finite"):
        analyze_critical_point(loss, jnp.array([jnp.nan, 1.0, 2.0]))


def test_not_critical_still_reports_curvature(toy):
    params = jnp.array([0.3, -0.2])
    report = analyze_critical_point(toy, params)
    grad = jax.jit(jax.grad(toy))(params)
    assert report.kind == "not_critical"
    np.testing.assert_allclose(report.grad_norm, float(jnp.linalg.norm(grad)), rtol=1e-6)
    evals = np.linalg.eigvalsh(np.asarray(jax.jit(jax.hessian(toy))(params)))
    np.testing.assert_allclose(report.eigenvalues, evals, rtol=1e-5)
    assert report.num_negative == 1
    u = np.asarray(report.escape_direction)
    assert float(np.dot(np.asarray(grad), u)) <= 0  # never points up the gradient
    assert "not a critical point" in str(report)
    # With the gradient term, the prediction still tracks the measured change for small steps.
    _, change = report.escape(1e-2)
    np.testing.assert_allclose(report.predict(1e-2), change, rtol=1e-2)


def test_grad_tol_decides_criticality(toy):
    params = jnp.array([1e-3, 0.0])  # gradient (0, -2e-3)
    assert analyze_critical_point(toy, params, grad_tol=1e-2).kind == "saddle"
    assert analyze_critical_point(toy, params, grad_tol=1e-4).kind == "not_critical"


def test_pytree_params_and_escape(mlp_problem, mlp_loss_fn):
    params, x, y = mlp_problem()
    report = analyze_critical_point(mlp_loss_fn, params, x, y)
    n = ravel_pytree(params)[0].size
    assert report.eigenvalues.shape == (n,)
    assert report.num_positive + report.num_negative + report.num_zero == n
    assert jax.tree.structure(report.escape_direction) == jax.tree.structure(params)
    flat_u = ravel_pytree(report.escape_direction)[0]
    np.testing.assert_allclose(float(jnp.linalg.norm(flat_u)), 1.0, rtol=1e-5)
    new_params, change = report.escape(1e-2)
    assert jax.tree.structure(new_params) == jax.tree.structure(params)
    expected = float(mlp_loss_fn(new_params, x, y) - mlp_loss_fn(params, x, y))
    np.testing.assert_allclose(change, expected, rtol=1e-3, atol=1e-6)


def test_float64_report(x64, toy):
    report = analyze_critical_point(toy, jnp.ones(2))
    assert report.eigenvalues.dtype == np.float64
    assert report.eig_tol < 1e-7  # √ε₆₄ · 4
    np.testing.assert_allclose(report.eigenvalues, [0.0, 4.0], atol=1e-12)


# NaN compares False with everything: a NaN grad_tol would call every point critical, a NaN
# (or infinite) eig_tol every eigenvalue zero, and so every point degenerate.
BAD_TOLERANCES = [
    ("grad_tol", -1.0, "grad_tol must be >= 0, got -1.0"),
    ("grad_tol", math.nan, "grad_tol must be >= 0, got nan"),
    ("eig_tol", -1e-3, "eig_tol must be >= 0 and finite, got -0.001"),
    ("eig_tol", math.nan, "eig_tol must be >= 0 and finite, got nan"),
    ("eig_tol", math.inf, "eig_tol must be >= 0 and finite, got inf"),
]


@pytest.mark.parametrize(("name", "value", "message"), BAD_TOLERANCES)
def test_bad_tolerances(toy, name, value, message):
    with pytest.raises(ValueError, match=message):
        analyze_critical_point(toy, jnp.zeros(2), **{name: value})


@pytest.mark.parametrize(("name", "value", "message"), BAD_TOLERANCES)
def test_classify_refuses_bad_tolerances(name, value, message):
    tolerances = {"grad_tol": 1e-4, "eig_tol": 1e-3, name: value}
    with pytest.raises(ValueError, match=message):
        classify_critical_point([-2.0, 2.0], grad_norm=5.0, **tolerances)


def test_an_infinite_grad_tol_skips_the_gradient_test():
    # The documented way to classify where criticality was decided elsewhere.
    kind = classify_critical_point([-2.0, 2.0], grad_norm=5.0, grad_tol=math.inf, eig_tol=1e-3)
    assert kind == "saddle"


def test_over_max_bytes_points_to_lanczos(toy):
    with pytest.raises(ValueError, match="Lanczos"):
        analyze_critical_point(toy, jnp.zeros(2), max_bytes=8)
