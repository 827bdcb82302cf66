"""jaxtrain.optim as a drop-in for optax 0.2.8: complex numbers, state structures, signatures.

A user switching from optax keeps their checkpoints, their ``optax.tree.get(state, "count")``
and their positional calls, and gets optax's steps on complex parameters. Steps run under
``jax.jit`` against optax; tolerance 1e-6 (float32 / complex64, the same operations).
"""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxtrain.optim as jt
from jaxtrain.optim.schedules import linear

RTOL, ATOL = 1e-6, 1e-7
_SCHEDULE = linear(0.1, 0.01, transition_steps=4)
_OPTAX_SCHEDULE = optax.linear_schedule(0.1, 0.01, transition_steps=4)

# (name, jaxtrain optimizer, optax optimizer): every optimizer and configuration compared.
CASES = [
    ("sgd", jt.sgd(0.1), optax.sgd(0.1)),
    ("sgd_momentum", jt.sgd(0.1, 0.9), optax.sgd(0.1, 0.9)),
    ("sgd_nesterov", jt.sgd(0.1, 0.9, True), optax.sgd(0.1, 0.9, True)),
    ("sgd_schedule", jt.sgd(_SCHEDULE, 0.5), optax.sgd(_OPTAX_SCHEDULE, 0.5)),
    ("adagrad", jt.adagrad(0.1), optax.adagrad(0.1)),
    ("rmsprop", jt.rmsprop(0.01), optax.rmsprop(0.01)),
    (
        "rmsprop_centered_bias_momentum",
        jt.rmsprop(0.01, 0.9, 1e-8, 0.0, True, True, 0.5, False, True),
        optax.rmsprop(0.01, 0.9, 1e-8, 0.0, True, True, 0.5, False, True),
    ),
    (
        "rmsprop_bias",
        jt.rmsprop(0.01, eps_in_sqrt=False, bias_correction=True),
        optax.rmsprop(0.01, eps_in_sqrt=False, bias_correction=True),
    ),
    ("rmsprop_centered", jt.rmsprop(0.01, centered=True), optax.rmsprop(0.01, centered=True)),
    ("adam", jt.adam(0.1), optax.adam(0.1)),
    ("adam_schedule", jt.adam(_SCHEDULE), optax.adam(_OPTAX_SCHEDULE)),
    ("adamw", jt.adamw(0.1, weight_decay=0.1), optax.adamw(0.1, weight_decay=0.1)),
    (
        "adamw_mask",
        jt.adamw(0.1, mask={"w": True, "b": False}),
        optax.adamw(0.1, mask={"w": True, "b": False}),
    ),
    ("radam", jt.radam(0.1, threshold=4.0), optax.radam(0.1, threshold=4.0)),
    (
        "clip_adam",
        optax.chain(jt.clip_by_global_norm(0.5), jt.adam(0.1)),
        optax.chain(optax.clip_by_global_norm(0.5), optax.adam(0.1)),
    ),
]
IDS = [case[0] for case in CASES]


def _params(dtype):
    rng = np.random.default_rng(0)

    def draw(*shape):
        x = rng.standard_normal(shape) + (
            1j * rng.standard_normal(shape) if dtype.kind == "c" else 0
        )
        return jnp.asarray(x, dtype)

    return {"w": draw(2, 2), "b": draw(2)}


def _gradient(params):
    # A gradient that changes with θ, so the moments see different values every step.
    return jax.tree.map(lambda p: p * p.conj() * p + 0.3, params)


def _run(optimizer, params, steps=6):
    def step(carry, _):
        params, state = carry
        updates, state = optimizer.update(_gradient(params), state, params)
        return (optax.apply_updates(params, updates), state), None

    (params, state), _ = jax.lax.scan(step, (params, optimizer.init(params)), None, steps)
    return params, state


_run_jit = jax.jit(_run, static_argnums=(0, 2))


def test_adam_complex_step_is_optax_step():
    """The issue's repro: p = 1, g = 1 + i; optax steps along −g/|g|."""
    p = jnp.array([1.0 + 0j], jnp.complex64)
    g = jnp.array([1.0 + 1j], jnp.complex64)
    for optimizer in (jt.adam(0.1), optax.adam(0.1)):
        updates, _ = jax.jit(optimizer.update)(g, optimizer.init(p))
        # 1e-5: 1 − β₂ and 1 − β₂ᵗ are rounded to float32.
        np.testing.assert_allclose(updates, [-0.1 / np.sqrt(2) * (1 + 1j)], rtol=1e-5)


@pytest.mark.parametrize(("name", "ours", "theirs"), CASES, ids=IDS)
def test_complex_parameters_as_optax(name, ours, theirs):
    params = _params(np.dtype(np.complex64))
    got, _ = _run_jit(ours, params)
    want, _ = _run_jit(theirs, params)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=ATOL), got, want)


@pytest.mark.parametrize(("name", "ours", "theirs"), CASES, ids=IDS)
def test_state_structure_as_optax(name, ours, theirs):
    params = _params(np.dtype(np.float32))
    assert jax.tree.structure(ours.init(params)) == jax.tree.structure(theirs.init(params))
    # After updates too (a schedule's count, RMSProp's WithCount state), with equal dtypes.
    _, state = _run(ours, params, steps=1)
    _, their_state = _run(theirs, params, steps=1)
    assert jax.tree.structure(state) == jax.tree.structure(their_state)
    dtypes = jax.tree.map(lambda x: jnp.asarray(x).dtype, (state, their_state))
    assert dtypes[0] == dtypes[1]


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (jt.scale_by_adam(), optax.scale_by_adam()),
        (jt.scale_by_radam(), optax.scale_by_radam()),
        (jt.scale_by_rms(), optax.scale_by_rms()),
        (jt.scale_by_rms(bias_correction=True), optax.scale_by_rms(bias_correction=True)),
        (jt.scale_by_rms(centered=True), optax.scale_by_stddev()),
        (jt.scale_by_adagrad(), optax.scale_by_rss()),
        (jt.scale_by_momentum(0.9), optax.trace(0.9)),
        (jt.add_decayed_weights(0.1), optax.add_decayed_weights(0.1)),
        (jt.add_decayed_weights(lambda t: 0.1), optax.add_decayed_weights(lambda t: 0.1)),
        (jt.clip_by_global_norm(1.0), optax.clip_by_global_norm(1.0)),
        (jt.scale_by_learning_rate(0.1), optax.scale_by_learning_rate(0.1)),
        (jt.scale_by_learning_rate(_SCHEDULE), optax.scale_by_learning_rate(_SCHEDULE)),
    ],
    ids=lambda tx: "",
)
def test_building_block_state_structure_as_optax(ours, theirs):
    params = _params(np.dtype(np.float32))
    assert jax.tree.structure(ours.init(params)) == jax.tree.structure(theirs.init(params))


def test_state_has_no_stored_constants_and_count_is_found():
    params = _params(np.dtype(np.float32))
    state = jt.adam(1e-3).init(params)
    assert len(jax.tree.leaves(state)) == len(jax.tree.leaves(optax.adam(1e-3).init(params)))
    assert int(optax.tree.get(state, "count")) == 0


# Deliberate differences, each with its reason (documented in the README's conventions).
DIFFERENCES = {
    # optax's None means "no scaling"; every jaxtrain optimizer requires a learning rate and
    # refuses None with a one-line error instead of silently not scaling.
    ("scale_by_learning_rate", "learning_rate"): "no default",
    # jaxtrain's scale_by_rms also offers the centered form and a momentum buffer (optax's
    # scale_by_stddev and trace), as keyword-only extras after optax's arguments.
    ("scale_by_rms", "centered"): "extra",
    ("scale_by_rms", "momentum"): "extra",
    ("scale_by_rms", "nesterov"): "extra",
    # scale_by_momentum is jaxtrain's name for optax.trace; it gives the decay a default (0.9).
    ("scale_by_momentum", "decay"): "default 0.9",
}
SHARED = [
    ("sgd", optax.sgd),
    ("adagrad", optax.adagrad),
    ("rmsprop", optax.rmsprop),
    ("adam", optax.adam),
    ("adamw", optax.adamw),
    ("radam", optax.radam),
    ("scale_by_adam", optax.scale_by_adam),
    ("scale_by_radam", optax.scale_by_radam),
    ("scale_by_rms", optax.scale_by_rms),
    ("scale_by_adagrad", optax.scale_by_rss),
    ("scale_by_momentum", optax.trace),
    ("scale_by_learning_rate", optax.scale_by_learning_rate),
    ("add_decayed_weights", optax.add_decayed_weights),
    ("clip_by_global_norm", optax.clip_by_global_norm),
]


def _described(fn):
    return {
        name: (index, p.kind, p.default)
        for index, (name, p) in enumerate(inspect.signature(fn).parameters.items())
    }


@pytest.mark.parametrize(("name", "theirs"), SHARED, ids=[s[0] for s in SHARED])
def test_signature_as_optax(name, theirs):
    ours, want = _described(getattr(jt, name)), _described(theirs)
    for argument in sorted(set(ours) | set(want)):
        if (name, argument) in DIFFERENCES:
            continue
        assert ours.get(argument) == want.get(argument), (name, argument)


def test_positional_calls_as_optax():
    params = jnp.ones(2)
    grads = jnp.full(2, 0.5)
    for ours, theirs in [
        (jt.sgd(0.1, 0.9, True), optax.sgd(0.1, 0.9, True)),
        (jt.scale_by_momentum(0.5, True), optax.trace(0.5, True)),
        (
            jt.rmsprop(0.1, 0.8, 1e-6, 0.1, False, True, 0.9, True, True),
            optax.rmsprop(0.1, 0.8, 1e-6, 0.1, False, True, 0.9, True, True),
        ),
    ]:
        got, _ = ours.update(grads, ours.init(params), params)
        want, _ = theirs.update(grads, theirs.init(params), params)
        np.testing.assert_allclose(got, want, rtol=RTOL)


@pytest.mark.parametrize(
    ("optimizer", "eta"),
    [
        (jt.adam(0.1), 0.1),
        (optax.adam(0.1), 0.1),
        (jt.adam(_SCHEDULE), float(_SCHEDULE(2))),
        (optax.adam(_OPTAX_SCHEDULE), float(_OPTAX_SCHEDULE(2))),
        (optax.chain(optax.clip(1.0), jt.sgd(_SCHEDULE)), float(_SCHEDULE(2))),
    ],
    ids=["jt_constant", "optax_constant", "jt_schedule", "optax_schedule", "chained_sgd"],
)
def test_learning_rate_read_from_the_optimizer(optimizer, eta):
    """η of the latest of 3 updates, from the closure (and the schedule's count), in jit."""
    params = _params(np.dtype(np.float32))
    _, state = _run(optimizer, params, steps=3)
    got = jax.jit(lambda s: jt.learning_rate_from_state(s, optimizer))(state)
    np.testing.assert_allclose(got, eta, rtol=RTOL)
    before = jt.learning_rate_from_state(optimizer.init(params), optimizer)
    np.testing.assert_allclose(before, float(_SCHEDULE(0)) if eta != 0.1 else 0.1, rtol=RTOL)


def test_learning_rate_needs_the_optimizer():
    state = jt.adam(0.1).init(jnp.zeros(2))
    with pytest.raises(ValueError, match="pass the optimizer"):
        jt.learning_rate_from_state(state)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (jt.adam(0.1, 0.9, 0.99, 1e-3, 1e-4), optax.adam(0.1, 0.9, 0.99, 1e-3, 1e-4)),
        (jt.radam(0.1, threshold=4.0), optax.radam(0.1, threshold=4.0)),
        (
            jt.rmsprop(0.1, 0.8, 1e-3, centered=True, bias_correction=True),
            optax.rmsprop(0.1, 0.8, 1e-3, centered=True, bias_correction=True),
        ),
        (jt.adagrad(0.1, 0.0, 1e-3), optax.adagrad(0.1, 0.0, 1e-3)),
    ],
    ids=["adam", "radam", "rmsprop_centered_bias", "adagrad"],
)
def test_effective_step_size_one_path_for_both_libraries(ours, theirs):
    params = _params(np.dtype(np.float32))
    _, state = _run(ours, params)
    _, their_state = _run(theirs, params)
    got = jax.jit(lambda s: jt.effective_step_size(ours, s))(state)
    want = jax.jit(lambda s: jt.effective_step_size(theirs, s))(their_state)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5), got, want)


def test_effective_step_size_of_adam_against_numpy():
    """η/(√(v/(1 − β₂ᵗ) + ε̄) + ε) in float64 from optax's own state."""
    optimizer = optax.adam(0.1, 0.9, 0.99, 1e-3, 1e-4)
    _, state = _run(optimizer, _params(np.dtype(np.float32)))
    adam_state = state[0]
    t = int(adam_state.count)
    for v, got in zip(
        jax.tree.leaves(adam_state.nu),
        jax.tree.leaves(jt.effective_step_size(optimizer, state)),
        strict=True,
    ):
        v = np.asarray(v, np.float64)
        want = 0.1 / (np.sqrt(v / (1 - 0.99**t) + 1e-4) + 1e-3)
        np.testing.assert_allclose(got, want, rtol=1e-5)


def test_add_decayed_weights_leaves_none_updates_as_optax():
    """optax lets a ``None`` update (a frozen leaf) through; its own test calls this."""
    params = (jnp.ones(2), {"a": jnp.ones(2)})
    updates = (None, {"a": jnp.full(2, 0.5)})
    for tx in (jt.add_decayed_weights(0.1), optax.add_decayed_weights(0.1)):
        got, _ = tx.update(updates, tx.init(params), params)
        assert got[0] is None
        np.testing.assert_allclose(got[1]["a"], 0.6, rtol=RTOL)
    tx = jt.add_decayed_weights(0.1)
    assert tx.update(None, tx.init(params), params)[0] is None


_FROZEN_LEAF_CASES = [
    ("scale_by_momentum", jt.scale_by_momentum(0.9), optax.trace(0.9)),
    ("scale_by_momentum_nesterov", jt.scale_by_momentum(0.9, True), optax.trace(0.9, True)),
    ("sgd_momentum", jt.sgd(0.1, 0.9), optax.sgd(0.1, 0.9)),
    ("scale_by_rms", jt.scale_by_rms(), optax.scale_by_rms()),
    ("rmsprop", jt.rmsprop(0.1), optax.rmsprop(0.1)),
    ("rmsprop_centered", jt.rmsprop(0.1, centered=True), optax.rmsprop(0.1, centered=True)),
    ("radam", jt.radam(0.1), optax.radam(0.1)),
]


@pytest.mark.parametrize(
    ("name", "ours", "theirs"), _FROZEN_LEAF_CASES, ids=[c[0] for c in _FROZEN_LEAF_CASES]
)
def test_a_none_update_of_a_frozen_leaf_stays_none_as_optax(name, ours, theirs):
    # Before: jaxtrain's accumulators mapped the updates and the state as two trees, and a
    # None update against the state's array failed with "pytree structure error".
    params = {"a": jnp.ones(2), "b": jnp.ones(2)}
    updates = {"a": jnp.full(2, 0.5), "b": None}
    got, got_state = jax.jit(ours.update)(updates, ours.init(params), params)
    want, want_state = jax.jit(theirs.update)(updates, theirs.init(params), params)
    assert got["b"] is None
    np.testing.assert_allclose(got["a"], want["a"], rtol=RTOL, atol=ATOL)
    assert jax.tree.structure(got_state) == jax.tree.structure(want_state)


@pytest.mark.parametrize("optimizer", [jt.adam(0.1), jt.adamw(0.1), jt.adagrad(0.1)])
def test_adam_and_adagrad_let_a_frozen_leaf_through_where_optax_fails(optimizer):
    params = {"a": jnp.ones(2), "b": jnp.ones(2)}
    updates, _ = optimizer.update(
        {"a": jnp.full(2, 0.5), "b": None}, optimizer.init(params), params
    )
    only_a = {"a": params["a"]}
    alone, _ = optimizer.update({"a": jnp.full(2, 0.5)}, optimizer.init(only_a), only_a)
    assert updates["b"] is None
    np.testing.assert_allclose(updates["a"], alone["a"], rtol=RTOL)
