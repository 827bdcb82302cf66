"""Checkpoints of states that hold typed PRNG keys (``jax.random.key``) in their trees.

An optimizer whose transform draws noise keeps its key in its state (``optax.add_noise``,
``jaxtrain.optim.perturbed_gd``): the key is saved as its raw data beside its implementation
and restored as a typed key of that implementation, as the run's own key is.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from train_problems import LOSS, blobs, linear_params, linear_triple, sgd_state

import jaxtrain.optim
from jaxtrain.train import CheckpointMismatchError, fit, load_checkpoint, save_checkpoint
from jaxtrain.train._checkpoint import fingerprint, structure_digest

NOISY_SGD = optax.chain(optax.add_noise(0.01, 0.55, 0), optax.sgd(0.1))


def _is_key(leaf):
    return jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key)


def _assert_same(a, b):
    """Leaf by leaf the same values, and typed keys of the same implementation."""
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert _is_key(x) == _is_key(y)
        if _is_key(x):
            assert jax.random.key_impl(x) == jax.random.key_impl(y)
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        assert (x.shape, x.dtype) == (y.shape, y.dtype)
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _noisy_state(optimizer=NOISY_SGD, *, seed=0, step=5):
    params = linear_params(seed)
    state = sgd_state(params, step=step).replace(opt_state=optimizer.init(params))
    # One update, so that the saved key is not the initial one.
    grads = jax.tree.map(jnp.ones_like, params)
    return state.replace(opt_state=optimizer.update(grads, state.opt_state, params)[1])


def test_fit_with_a_noisy_optimizer_resumes_to_the_uninterrupted_run(tmp_path):
    # Before: the first save raised TypeError "Cannot interpret 'key<fry>' as a data type".
    x, y = blobs(32)  # 4 batches of 8 per epoch
    kw = dict(loss=LOSS, batch_size=8, progress=False)
    whole, whole_history = fit(linear_triple(), NOISY_SGD, (x, y), steps=11, **kw)
    fit(linear_triple(), NOISY_SGD, (x, y), steps=6, checkpoint_dir=tmp_path, **kw)
    resumed, history = fit(
        linear_triple(), NOISY_SGD, (x, y), steps=11, checkpoint_dir=tmp_path, resume=True, **kw
    )
    _assert_same(resumed.params, whole.params)
    _assert_same(resumed.opt_state, whole.opt_state)
    np.testing.assert_array_equal(history.per_step["loss"], whole_history.per_step["loss"])


@pytest.mark.parametrize("impl", ["threefry2x32", "rbg"])
@pytest.mark.parametrize(
    "optimizer",
    [NOISY_SGD, jaxtrain.optim.perturbed_gd(0.1)],
    ids=["add_noise", "perturbed_gd"],
)
def test_a_key_leaf_is_restored_as_a_typed_key_of_its_implementation(tmp_path, optimizer, impl):
    with jax.default_prng_impl(impl):
        state = _noisy_state(optimizer)
        target = _noisy_state(optimizer, seed=1, step=0)
    state = state.replace(
        params={**state.params, "key": jax.random.key(3, impl=impl)},
        model_state={"rng": jax.random.split(jax.random.key(4, impl=impl), 2)},
        monitor_state={"noise": {"key": jax.random.key(5, impl=impl)}},
    )
    target = target.replace(
        params={**target.params, "key": jax.random.key(0, impl=impl)},
        model_state={"rng": jax.random.split(jax.random.key(0, impl=impl), 2)},
        monitor_state={"noise": {"key": jax.random.key(0, impl=impl)}},
    )
    save_checkpoint(tmp_path, state)
    restored = load_checkpoint(tmp_path, target).state
    for part in ("params", "model_state", "opt_state", "monitor_state"):
        _assert_same(getattr(restored, part), getattr(state, part))
    assert any(_is_key(leaf) for leaf in jax.tree.leaves(restored.opt_state))
    # Without a target the key leaves of parameters and model state are typed keys too.
    bare = load_checkpoint(tmp_path)
    _assert_same(bare.params["key"], state.params["key"])
    _assert_same(bare.model_state, state.model_state)

    traces = []

    @jax.jit
    def update(state):
        traces.append(None)
        grads = jax.tree.map(jnp.ones_like, state.params["w"])
        params = {"w": state.params["w"], "b": state.params["b"]}
        grads = {"w": grads, "b": jnp.ones_like(state.params["b"])}
        updates, opt_state = optimizer.update(grads, state.opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    expected = update(state)
    got = update(restored)
    assert len(traces) == 1  # the restored state has the original's types: no new trace
    _assert_same(got, expected)


def test_a_key_leaf_of_another_implementation_is_a_mismatch(tmp_path):
    with jax.default_prng_impl("rbg"):
        state = _noisy_state()
    save_checkpoint(tmp_path, state)
    with pytest.raises(CheckpointMismatchError, match=r"random key .*rbg.*threefry2x32"):
        load_checkpoint(tmp_path, _noisy_state(seed=1))


def test_a_monitor_state_key_is_resumed_or_dropped_with_its_monitor(tmp_path):
    state = _noisy_state().replace(
        monitor_state={"a": {"key": jax.random.key(1)}, "b": {"key": jax.random.key(2)}}
    )
    save_checkpoint(tmp_path, state)
    target = _noisy_state(seed=1).replace(monitor_state={"a": {"key": jax.random.key(0)}})
    restored = load_checkpoint(tmp_path, target).state
    _assert_same(restored.monitor_state, {"a": state.monitor_state["a"]})


def test_a_key_leaf_is_described_by_its_implementation_not_its_value():
    state = sgd_state().replace(opt_state={"key": jax.random.key(0)})
    assert fingerprint(state.opt_state) == [[[["dict", "key"]], [], "key<threefry2x32>"]]
    other = state.replace(opt_state={"key": jax.random.key(1)})
    assert structure_digest(other) == structure_digest(state)
    rbg = state.replace(opt_state={"key": jax.random.key(0, impl="rbg")})
    assert structure_digest(rbg) != structure_digest(state)


def test_legacy_raw_uint32_keys_stay_raw(tmp_path):
    raw = jax.random.PRNGKey(7) if not jax.config.jax_enable_custom_prng else None
    raw = jax.random.key_data(jax.random.key(7)) if raw is None else raw
    state = sgd_state().replace(opt_state={"key": raw})
    assert fingerprint(state.opt_state) == [[[["dict", "key"]], [2], "uint32"]]
    save_checkpoint(tmp_path, state)
    target = sgd_state(step=0).replace(opt_state={"key": jnp.zeros(2, jnp.uint32)})
    restored = load_checkpoint(tmp_path, target).state
    _assert_same(restored.opt_state, state.opt_state)
    # and it still draws the same numbers
    np.testing.assert_array_equal(
        jax.random.normal(restored.opt_state["key"], (3,)), jax.random.normal(raw, (3,))
    )
