"""‖Δθ‖/‖θ‖ overall and per layer, against NumPy."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from monitor_problems import half_squared_error, regression

from jaxtrain import losses, monitor, nn, optim, train
from jaxtrain.data import load_digits
from jaxtrain.monitor import StepView


def test_update_ratios_match_numpy_overall_and_per_layer():
    x, y = load_digits()
    x, y = x[:64], y[:64]
    triple = nn.functional(nn.MLP(64, 16, 10, depth=1, rngs=nnx.Rngs(0)))
    mon = monitor.update_ratio()
    state, history = train.fit(
        triple,
        optim.sgd(0.1),
        (x, y),
        loss=losses.softmax_cross_entropy,
        steps=1,
        batch_size=None,
        monitors=[mon],
        progress=False,
    )
    before, after = triple[1], state.params
    names = mon.record_names(before)
    assert names[0] == "update_ratio" and len(names) == 3
    assert set(names) <= set(history.per_step)

    def ratio(old, new):
        old = [np.asarray(a, np.float64) for a in old]
        delta = [np.asarray(b, np.float64) - a for a, b in zip(old, new, strict=True)]
        norm = lambda arrays: np.sqrt(sum(np.sum(a**2) for a in arrays))  # noqa: E731
        return norm(delta) / norm(old)

    expected = ratio(jax.tree.leaves(before), jax.tree.leaves(after))
    np.testing.assert_allclose(history.per_step["update_ratio"][0], expected, rtol=1e-5)
    head = names[1] if "head" in names[1] else names[2]
    layer = head.split("/", 1)[1].split("/")
    np.testing.assert_allclose(
        history.per_step[head][0],
        ratio(jax.tree.leaves(_get(before, layer)), jax.tree.leaves(_get(after, layer))),
        rtol=1e-5,
    )


def _get(tree, path):
    for key in path:
        tree = tree[key] if key in tree else tree[int(key)]
    return tree


def _measure(params, new_params):
    """The records of one measurement of θ → θ + Δθ, under jit (the fields not read are None)."""
    mon = monitor.update_ratio()

    @jax.jit
    def measure(params, new_params):
        view = StepView(
            step=jnp.int32(0),
            params=params,
            new_params=new_params,
            opt_state=(),
            learning_rate=jnp.float32(0.1),
            grads=None,
            half_grads=None,
            batch_size=1,
            probe_loss=None,
            key=jax.random.key(0),
        )
        return mon.measure(mon.init(params), view)[1]

    return {name: float(value) for name, value in measure(params, new_params).items()}


def test_a_layer_that_does_not_move_reads_zero_and_a_zero_layer_that_moves_reads_inf():
    # Before: ‖Δθ‖/‖θ‖ of a zero layer was 0/0 = NaN, which reads as "not measured", and a
    # zero-initialised layer's first step gave inf with nothing to say it is meant.
    zeros, ones = jnp.zeros((2, 2)), jnp.ones((2, 2))
    params = {"frozen": {"kernel": zeros}, "head": {"kernel": zeros}, "body": {"kernel": ones}}
    new = {"frozen": {"kernel": zeros}, "head": {"kernel": zeros + 0.5}, "body": {"kernel": ones}}
    records = _measure(params, new)
    assert records["update_ratio/frozen"] == 0.0  # ‖Δθ‖ = 0 with ‖θ‖ = 0: no update
    assert records["update_ratio/head"] == np.inf  # ‖Δθ‖ > 0 from ‖θ‖ = 0
    assert records["update_ratio/body"] == 0.0  # ‖Δθ‖ = 0 with ‖θ‖ > 0
    # Overall: ‖Δθ‖ = √(4·0.25) = 1 over ‖θ‖ = √4 = 2.
    assert records["update_ratio"] == pytest.approx(0.5, rel=1e-6)


def test_a_non_finite_update_still_reads_nan():
    # The zero guard is for Δθ = 0 only: a diverged step must not read as a frozen layer.
    params = {"layer": {"kernel": jnp.zeros(2)}}
    records = _measure(params, {"layer": {"kernel": jnp.array([np.nan, 0.0])}})
    assert np.isnan(records["update_ratio/layer"])


def test_under_fit_a_frozen_zero_layer_reads_zero_at_measured_steps_only():
    x, y, _ = regression(n=64, d=3)
    params = {"head": {"kernel": jnp.zeros((3, 1))}, "frozen": {"kernel": jnp.zeros((3, 1))}}

    def apply(params, state, x, *, train, rng=None):
        del train, rng
        return x @ params["head"]["kernel"] + 0 * (x @ params["frozen"]["kernel"]), state

    optimizer = optax.multi_transform(
        {"train": optax.sgd(0.05), "freeze": optax.set_to_zero()},
        {"head": "train", "frozen": "freeze"},
    )
    _, history = train.fit(
        (apply, params, {}),
        optimizer,
        (x, y),
        loss=half_squared_error,
        steps=4,
        batch_size=16,
        monitors=[monitor.update_ratio(every=2)],
        progress=False,
    )
    frozen, head = history.per_step["update_ratio/frozen"], history.per_step["update_ratio/head"]
    np.testing.assert_array_equal(frozen[[0, 2]], 0.0)
    assert np.isnan(frozen[[1, 3]]).all()  # NaN only where nothing was measured
    assert head[0] == np.inf and 0 < head[2] < np.inf  # from θ₀ = 0, then a finite ratio


def test_a_top_level_leaf_is_a_layer_of_its_own_as_documented():
    flat = monitor.update_ratio().record_names({"w": jnp.ones((2, 2)), "b": jnp.zeros(2)})
    nested = monitor.update_ratio().record_names({"dense": {"kernel": jnp.ones(2), "bias": 0.0}})
    assert flat == ("update_ratio", "update_ratio/b", "update_ratio/w")
    assert nested == ("update_ratio", "update_ratio/dense")
