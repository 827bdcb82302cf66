"""Stability thresholds: the right rule per optimizer, checked on a quadratic where it is exact."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxtrain import optim
from jaxtrain.monitor import stability_threshold

PARAMS = jnp.zeros(3)


def threshold(optimizer, eta, **kwargs):
    return float(stability_threshold(optimizer, optimizer.init(PARAMS), **kwargs)(eta))


@pytest.mark.parametrize(
    ("optimizer", "expected"),
    [
        (optim.sgd(0.1), 2 / 0.1),
        (optax.sgd(0.1), 2 / 0.1),
        (optim.sgd(0.1, momentum=0.9), 3.8 / 0.1),
        (optax.sgd(0.1, momentum=0.5), 3.0 / 0.1),
        (optax.sgd(0.1, momentum=0.9, nesterov=True), 3.8 / 2.8 / 0.1),
        (optim.sgd(0.1, momentum=0.9, nesterov=True), 3.8 / 2.8 / 0.1),
        (optax.inject_hyperparams(optax.sgd)(learning_rate=0.1, momentum=0.9), 3.8 / 0.1),
        (optax.chain(optax.clip_by_global_norm(1.0), optim.sgd(0.1)), 2 / 0.1),
        # A plateau's scale is a factor of the recorded η, as a schedule is; the wrapped
        # optimizer takes negative-curvature descent's steps away from critical points.
        (optax.chain(optim.sgd(0.1, momentum=0.9), optax.contrib.reduce_on_plateau()), 38.0),
        (optim.negative_curvature_descent(optim.sgd(0.1, momentum=0.5)), 30.0),
        (optim.perturbed_gd(0.1), 20.0),
    ],
)
def test_gradient_descent_thresholds(optimizer, expected):
    assert threshold(optimizer, 0.1) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(
    ("optimizer", "expected"),
    [
        (optim.adam(1e-3), 38 / 1e-3),
        (optax.adam(1e-3), 38 / 1e-3),
        (optax.adamw(1e-3, b1=0.8), 3.6 / 0.2 / 1e-3),
        (optim.adamw(1e-3), 38 / 1e-3),
        (optim.radam(1e-3), 38 / 1e-3),
        (optax.inject_hyperparams(optax.adam)(learning_rate=1e-3, b1=0.5), 3.0 / 0.5 / 1e-3),
        (optim.rmsprop(1e-3), 2 / 1e-3),
        (optax.rmsprop(1e-3, momentum=0.9), 3.8 / 1e-3),
        (optax.rmsprop(1e-3, centered=True), 2 / 1e-3),
        (optim.rmsprop(1e-3, centered=True), 2 / 1e-3),
        (optim.adagrad(1e-3), 2 / 1e-3),
        (optax.adagrad(1e-3), 2 / 1e-3),
    ],
)
def test_adaptive_thresholds_bound_the_preconditioned_sharpness(optimizer, expected):
    assert threshold(optimizer, 1e-3, preconditioned=True) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize(
    ("optimizer", "preconditioned", "name"),
    [
        (
            optax.inject_hyperparams(optax.sgd)(
                learning_rate=0.1, momentum=optax.linear_schedule(0.0, 0.9, 4)
            ),
            False,
            "momentum",
        ),
        (
            optax.inject_hyperparams(optax.adam)(
                learning_rate=1e-3, b1=optax.linear_schedule(0.5, 0.9, 4)
            ),
            True,
            "b1",
        ),
    ],
)
def test_a_scheduled_momentum_is_refused(optimizer, preconditioned, name):
    # The threshold read β once, at the start: 200 recorded where (2 + 2β_t)/η reached 380,
    # and a momentum schedule starting at 0 was taken for plain gradient descent.
    with pytest.raises(ValueError, match=f"{name} is a schedule"):
        stability_threshold(optimizer, optimizer.init(PARAMS), preconditioned=preconditioned)


def test_an_injected_momentum_is_read_outside_jit_and_refused_inside():
    # Inside jit the injected β is a tracer; it was once dropped and the threshold read as
    # plain gradient descent's 2/η (20 where (2 + 2·0.5)/0.1 = 30).
    optimizer = optax.inject_hyperparams(optim.sgd)(0.1, momentum=0.5)
    state = optimizer.init(PARAMS)
    assert float(stability_threshold(optimizer, state)(0.1)) == pytest.approx(30.0)
    with pytest.raises(ValueError, match="momentum is traced here"):
        jax.jit(lambda s: stability_threshold(optimizer, s)(0.1))(state)


def test_the_threshold_follows_the_step_size_and_is_nan_without_one():
    rule = stability_threshold(optim.sgd(0.1), optim.sgd(0.1).init(PARAMS))
    np.testing.assert_allclose(rule(jnp.array([0.1, 0.5])), [20.0, 4.0], rtol=1e-6)
    assert np.isnan(rule(jnp.float32(np.nan)))
    assert rule.rule == "2/η"


@pytest.mark.parametrize(
    ("optimizer", "preconditioned", "match"),
    [
        (optim.adam(1e-3), False, "preconditioned sharpness"),
        (optim.rmsprop(1e-3), False, "preconditioned sharpness"),
        (optim.sgd(0.1), True, "needs an adaptive optimizer"),
        (optax.lion(1e-3), False, "not known.*'scale_by_lion'"),
        (optax.nadam(1e-3), True, "not known.*Nesterov"),
        (optax.chain(optim.sgd(0.1, momentum=0.5), optim.sgd(0.1, momentum=0.5)), False, "sev"),
        # Outside [0, 1) the formulas mean nothing: before, a ZeroDivisionError (β₁ = 1,
        # Nesterov β = −0.5), 50/η for a heavy ball that diverges at any λ > 0 (β = 1.5), and
        # a negative threshold (β₁ = 1.5).
        (optax.adam(0.1, b1=1.0), True, r"not known: Adam's β₁ = 1 is outside \[0, 1\)"),
        (optax.adam(0.1, b1=1.5), True, r"not known: Adam's β₁ = 1.5 is outside \[0, 1\)"),
        (optax.sgd(0.1, momentum=1.5), False, r"not known: momentum β = 1.5 is outside"),
        (optax.sgd(0.1, momentum=-0.5, nesterov=True), False, "not known: momentum β = -0.5"),
        # A wrapper whose update is not named update_fn (transparent_update_fn) was invisible:
        # SAM read as gradient descent at η = 0.1 × 0.05, a threshold of 400.
        (optax.contrib.sam(optax.sgd(0.1), optax.sgd(0.05)), False, "not known.*'sam'"),
    ],
)
def test_unknown_or_mismatched_thresholds_are_clear_errors(optimizer, preconditioned, match):
    with pytest.raises(ValueError, match=match):
        stability_threshold(optimizer, optimizer.init(PARAMS), preconditioned=preconditioned)


def _final_distance(optimizer, curvature, steps=400):
    """|θ| after ``steps`` of ``optimizer`` on L = ½λθ² from θ = 1 (λ = ``curvature``)."""
    theta = jnp.ones(1)
    state = optimizer.init(theta)
    for _ in range(steps):
        updates, state = optimizer.update(curvature * theta, state, theta)
        theta = optax.apply_updates(theta, updates)
    # A diverged run overflows to inf and then NaN: count that as infinitely far.
    return float(np.nan_to_num(jnp.abs(theta[0]), nan=np.inf))


@pytest.mark.parametrize(
    "optimizer",
    [optim.sgd(0.1), optim.sgd(0.1, momentum=0.9), optim.sgd(0.1, momentum=0.9, nesterov=True)],
    ids=["gd", "heavy-ball", "nesterov"],
)
def test_on_a_quadratic_the_threshold_separates_convergence_from_divergence(optimizer):
    limit = threshold(optimizer, 0.1)
    assert _final_distance(optimizer, 0.97 * limit) < 1.0
    assert _final_distance(optimizer, 1.03 * limit) > 1.0


# --- weight decay on only some parameters: optax.masked and optax.multi_transform ---------

TREE = {"dense": {"kernel": jnp.zeros((3, 2)), "bias": jnp.zeros(2)}}


def kernels_only(params):
    """The usual weight-decay mask: matrices decay, biases (and norms' scales) do not."""
    return jax.tree.map(lambda leaf: leaf.ndim > 1, params)


def decay_label(params):
    return jax.tree.map(lambda leaf: "decay" if leaf.ndim > 1 else "plain", params)


def tree_rule(optimizer, **kwargs):
    return stability_threshold(optimizer, optimizer.init(TREE), **kwargs)


def by_group(decay, plain):
    """optax.multi_transform with ``decay`` on the kernels and ``plain`` on the biases."""
    return optax.multi_transform({"decay": decay, "plain": plain}, decay_label)


def with_decay(optimizer):
    return optax.chain(optax.add_decayed_weights(1e-4), optimizer)


@pytest.mark.parametrize(
    ("optimizer", "preconditioned", "eta", "numerator"),
    [
        (optax.adamw(1e-3, weight_decay=1e-2, mask=kernels_only), True, 1e-3, 38.0),
        (optim.adamw(1e-3, weight_decay=1e-2, mask=kernels_only), True, 1e-3, 38.0),
        (optax.adamw(1e-3, b1=0.5, mask=kernels_only), True, 1e-3, 3.0 / 0.5),
        (
            optax.chain(optax.add_decayed_weights(1e-4, mask=kernels_only), optim.sgd(0.1)),
            False,
            0.1,
            2.0,
        ),
        (
            optax.chain(optax.masked(optax.clip(1.0), kernels_only), optax.sgd(0.1, momentum=0.9)),
            False,
            0.1,
            3.8,
        ),
        (
            by_group(with_decay(optax.sgd(0.1, momentum=0.9)), optax.sgd(0.1, momentum=0.9)),
            False,
            0.1,
            3.8,
        ),
        (by_group(optim.adamw(0.1, weight_decay=1e-2), optax.adam(0.1)), True, 0.1, 38.0),
        (
            optax.chain(by_group(optax.scale_by_adam(), optax.scale_by_adam()), optax.scale(-0.1)),
            True,
            0.1,
            38.0,
        ),
    ],
    ids=[
        "optax-adamw-mask",
        "jaxtrain-adamw-mask",
        "optax-adamw-mask-b1",
        "sgd-masked-decay",
        "masked-clip",
        "multi-transform-momentum",
        "multi-transform-adamw",
        "multi-transform-inside-chain",
    ],
)
def test_weight_decay_on_only_some_parameters_keeps_the_rule(
    optimizer, preconditioned, eta, numerator
):
    # A masked or partitioned part that is neutral everywhere (weight decay, clipping) changes
    # no threshold, and a partition whose groups share one rule has that rule.
    rule = tree_rule(optimizer, preconditioned=preconditioned)
    assert rule.numerator == pytest.approx(numerator, rel=1e-6)
    assert float(jax.jit(rule)(jnp.float32(eta))) == pytest.approx(numerator / eta, rel=1e-5)


@pytest.mark.parametrize(
    ("optimizer", "preconditioned", "match"),
    [
        (
            optax.chain(optax.masked(optax.trace(0.9), kernels_only), optax.sgd(0.1)),
            False,
            "masked.*'trace'.*different thresholds",
        ),
        (optax.masked(optim.adam(1e-3), kernels_only), True, "masked.*different thresholds"),
        (
            by_group(optax.sgd(0.1, momentum=0.9), optax.sgd(0.1, momentum=0.5)),
            False,
            r"'decay': \(2\+2β\)/η, β=0.9.*'plain': \(2\+2β\)/η, β=0.5",
        ),
        (
            by_group(optax.adam(1e-3), optax.sgd(0.1)),
            True,
            "multi_transform.*different thresholds.*'plain'.*no preconditioner",
        ),
        (by_group(optax.lion(1e-3), optax.lion(1e-3)), False, "not known.*'scale_by_lion'"),
        (by_group(optax.adam(1e-3), optax.adam(1e-3)), False, "preconditioned sharpness"),
    ],
    ids=[
        "masked-momentum",
        "masked-adam",
        "two-momenta",
        "adam-and-sgd",
        "lion-groups",
        "adam-groups-plain",
    ],
)
def test_a_part_that_changes_only_some_parameters_thresholds_is_refused(
    optimizer, preconditioned, match
):
    with pytest.raises(ValueError, match=match):
        tree_rule(optimizer, preconditioned=preconditioned)
