"""User-facing messages of optim, curvature, nn and losses state only what their own numbers
show: singular for one, and values that read on the right side of the limits they were
compared with."""

import dataclasses
import re

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxtrain.curvature import MemoryLimitError, analyze_critical_point, hessian
from jaxtrain.losses import softmax_cross_entropy
from jaxtrain.nn import BatchNorm, LayerNorm
from jaxtrain.optim.schedules import constant, join

# --- jaxtrain/optim -------------------------------------------------------------------------


def test_join_with_one_boundary_expected_counts_it_in_the_singular():
    # join: "`boundaries` must hold len(schedules) - 1 = 1 steps, got 0." must say "1 step".
    with pytest.raises(ValueError) as caught:
        join([constant(1.0), constant(0.5)], [])
    assert "1 steps" not in str(caught.value), caught.value


# --- jaxtrain/curvature ---------------------------------------------------------------------


def _gib_shown(message: str) -> float:
    # Fixed point or, for sizes far below 1 GiB, scientific notation ("3.7e-09").
    return float(re.search(r"\(([\d.,]+(?:e[+-]?\d+)?) GiB\)", message).group(1).replace(",", ""))


def test_dense_hessian_of_one_parameter_counts_it_in_the_singular():
    # hessian: "the dense Hessian of 1 parameters needs 4 bytes" must say "1 parameter".
    with pytest.raises(MemoryLimitError) as caught:
        hessian(lambda w: jnp.sum(w**2), jnp.zeros(1), max_bytes=1)
    assert "1 parameters" not in str(caught.value), caught.value


@pytest.mark.parametrize(
    ("size", "max_bytes"),
    [(1, 1), (16_385, 1024**3)],
    ids=["4-bytes-over-1", "just-over-1GiB"],
)
def test_memory_limit_size_in_gib_reads_above_the_limit(size, max_bytes):
    # check_memory: "needs 4 bytes (0.00 GiB), more than max_bytes=1" and "needs 1,073,872,900
    # bytes (1.00 GiB), more than max_bytes=1,073,741,824": the GiB figure, rounded to 2
    # decimals, reads as nothing or as exactly the limit; it must read above max_bytes.
    with pytest.raises(MemoryLimitError) as caught:
        hessian(lambda w: jnp.sum(w**2), jnp.zeros(size), max_bytes=max_bytes)
    assert _gib_shown(str(caught.value)) > max_bytes / 1024**3, caught.value


def _saddle_report():
    return analyze_critical_point(lambda w: (1.0 - w[0] * w[1]) ** 2, jnp.zeros(2))


@pytest.mark.parametrize("num_positive", [1, 2999], ids=["one-of-3000", "all-but-one-of-3000"])
def test_minimum_ratio_reads_strictly_between_none_and_all(num_positive):
    # CriticalPointReport.explanation: "Minimum ratio {minimum_ratio:.3f}" prints 1/3000 as
    # "0.000" and 2999/3000 as "1.000", as if no eigenvalue, or every one, were positive;
    # the ratio shown must lie strictly between 0 and 1 when the counts do.
    n = 3000
    eigenvalues = np.concatenate([np.zeros(n - num_positive), np.ones(num_positive)])
    report = dataclasses.replace(
        _saddle_report(),
        eigenvalues=eigenvalues,
        num_positive=num_positive,
        num_negative=0,
        num_zero=n - num_positive,
        kind="degenerate",
        minimum_ratio=num_positive / n,
        escape_direction=None,
        escape_eigenvalue=None,
        predicted_loss_change=None,
    )
    shown = float(re.search(r"Minimum ratio ([\d.]+)", report.explanation).group(1))
    assert 0.0 < shown < 1.0, report.explanation


def test_escape_eigenvalue_reads_below_minus_eig_tol():
    # CriticalPointReport.explanation: λ = -1.00004e-3 is negative because it lies below
    # -eig_tol = -1e-3, but "λ = {escape_eigenvalue:.4g}" prints "-0.001", beside
    # "|λ| ≤ 0.001" counting as zero; it must print a value below -eig_tol.
    eig_tol, lam = 1e-3, -1.00004e-3
    report = dataclasses.replace(
        _saddle_report(),
        eigenvalues=np.array([lam, 1.0]),
        eig_tol=eig_tol,
        escape_eigenvalue=lam,
        predicted_loss_change=0.5 * lam,
    )
    shown = float(re.search(r"with λ = (\S+?):", report.explanation).group(1))
    assert shown < -eig_tol, report.explanation


# --- jaxtrain/nn, jaxtrain/losses -----------------------------------------------------------


def test_batchnorm_expecting_one_feature_counts_it_in_the_singular():
    # BatchNorm.__call__: "BatchNorm expected 1 features on axis -1" must say "1 feature".
    bn = BatchNorm(1, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError) as caught:
        bn(jnp.zeros((2, 2)), use_running_average=False)
    assert "1 features" not in str(caught.value), caught.value


def test_layernorm_expecting_one_feature_counts_it_in_the_singular():
    # _Normalization._check_features: "LayerNorm expected 1 features" must say "1 feature".
    with pytest.raises(ValueError) as caught:
        LayerNorm(1, rngs=nnx.Rngs(0))(jnp.zeros((2, 2)))
    assert "1 features" not in str(caught.value), caught.value


def test_axis_out_of_range_of_a_1d_input_counts_its_dimension_in_the_singular():
    # _statistics.canonical_axes: "axis 3 is out of range for an input with 1 dimensions"
    # must say "1 dimension".
    bn = BatchNorm(2, axis=3, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError) as caught:
        bn(jnp.zeros((2,)), use_running_average=False)
    assert "1 dimensions" not in str(caught.value), caught.value


def test_labels_out_of_range_of_one_class_count_it_in_the_singular():
    # _checks.check_labels: "labels must lie in [0, 1) for 1 classes" must say "1 class".
    with pytest.raises(ValueError) as caught:
        softmax_cross_entropy(jnp.zeros((2, 1)), jnp.array([0, 1]))
    assert "1 classes" not in str(caught.value), caught.value


def test_eigenvalue_counts_group_thousands_like_the_total_beside_them():
    # CriticalPointReport.explanation: "2999 positive, 0 negative and 1 zero (...) of 3,000
    # eigenvalues" groups the total but not the counts; "2999" must read "2,999".
    n = 3000
    report = dataclasses.replace(
        _saddle_report(),
        eigenvalues=np.concatenate([np.zeros(1), np.ones(n - 1)]),
        num_positive=n - 1,
        num_negative=0,
        num_zero=1,
        kind="degenerate",
        minimum_ratio=(n - 1) / n,
        escape_direction=None,
        escape_eigenvalue=None,
        predicted_loss_change=None,
    )
    assert "3,000" in report.explanation, report.explanation
    assert "2999" not in report.explanation, report.explanation
