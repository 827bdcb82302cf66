"""Batches (lecture §3): a shuffle per epoch, every example once, partial and full batches."""

import collections

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from train_problems import (
    LOSS,
    SGD,
    assert_trees_close,
    blobs,
    counting_apply,
    full_batch_descent,
    linear_grad,
    linear_params,
    linear_triple,
    negative_sum,
)

from jaxtrain.train import epoch_batches, fit
from jaxtrain.train._batching import step_keys


@pytest.mark.parametrize(("n", "batch_size"), [(10, 4), (10, 1), (10, 10), (9, 3)])
def test_epoch_batches_cover_every_example_once(n, batch_size):
    full, rest = epoch_batches(jax.random.key(3), n, batch_size)
    assert full.shape == (n // batch_size, batch_size)
    assert rest.shape == (n % batch_size,)
    assert sorted(np.concatenate([np.ravel(full), rest]).tolist()) == list(range(n))


def test_epoch_batches_drop_last_and_reshuffle():
    full, rest = epoch_batches(jax.random.key(0), 10, 4, drop_last=True)
    assert full.shape == (2, 4) and rest.shape == (0,)
    other, _ = epoch_batches(jax.random.key(1), 10, 4)
    assert not np.array_equal(np.asarray(full), np.asarray(other))


def test_each_epoch_has_its_own_uniform_shuffle():
    key = jax.random.key(0)
    first, _ = epoch_batches(key, 10, 10, epoch=0)
    assert not np.array_equal(first, epoch_batches(key, 10, 10, epoch=1)[0])
    np.testing.assert_array_equal(first, epoch_batches(key, 10, 10)[0])  # epoch 0 by default
    # All 24 orders of 4 examples, each about 2400/24 = 100 times (±5 σ ≈ ±50).
    orders = collections.Counter(
        tuple(epoch_batches(key, 4, 4, epoch=e)[0][0].tolist()) for e in range(2400)
    )
    assert len(orders) == 24 and 50 < min(orders.values()) <= max(orders.values()) < 150
    with pytest.raises(ValueError, match="epoch must be an int"):
        epoch_batches(key, 4, 2, epoch=-1)


@pytest.mark.parametrize(
    ("n", "batch_size", "match"),
    [
        (0, 1, "empty"),
        (5, 0, "batch_size must be ≥ 1"),
        (5, -2, "≥ 1"),
        (5, 6, "exceeds"),
        # Before: an AxisError from NumPy's permutation, and an OverflowError.
        (10.0, 4, "num_examples must be an int; got 10.0"),
        (float("inf"), 4, "num_examples must be an int; got inf"),
    ],
)
def test_epoch_batches_reject_bad_sizes(n, batch_size, match):
    with pytest.raises(ValueError, match=match):
        epoch_batches(jax.random.key(0), n, batch_size)


@pytest.mark.parametrize(
    "key",
    # Before: two keys' bits seeded one shuffle, and 0 failed inside JAX with a TypeError.
    [jax.random.split(jax.random.key(0)), 0, np.zeros((2, 2), np.uint32)],
    ids=["two keys", "int", "two raw keys"],
)
def test_epoch_batches_take_one_key(key):
    with pytest.raises(ValueError, match=r"key must be one jax\.random key"):
        epoch_batches(key, 10, 4)
    # One key, raw (a row of words: 2 for the default threefry, 4 for rbg) or typed.
    for one in (np.arange(2, dtype=np.uint32), jax.random.key(0, impl="rbg")):
        full, rest = epoch_batches(one, 10, 4)
        assert sorted(np.concatenate([full.ravel(), rest]).tolist()) == list(range(10))


@pytest.mark.parametrize("drop_last", ["no", "False", 0, None])
def test_epoch_batches_take_drop_last_as_a_bool_only(drop_last):
    # Taken by truthiness, "no" and "False" dropped the partial batch.
    with pytest.raises(ValueError, match=f"drop_last must be True or False; got {drop_last!r}"):
        epoch_batches(jax.random.key(0), 5, 2, drop_last=drop_last)


def test_the_step_keys_are_the_halves_of_a_split_of_the_documented_step_key():
    # What TrainState's docstring promises, to reproduce a run's augmentation and dropout.
    key = jax.random.key(7)
    keys = step_keys(key, jnp.int32(3), count=2)
    for i, t in enumerate((3, 4)):
        expected = jax.random.split(jax.random.fold_in(jax.random.fold_in(key, 1), t))
        assert np.array_equal(jax.random.key_data(keys[i]), jax.random.key_data(expected))


def _one_hot_counting(n):
    return np.eye(n, dtype=np.float32), np.zeros(n, np.float32)


@pytest.mark.parametrize("drop_last", [False, True])
def test_one_epoch_with_a_partial_batch_visits_every_example_once(drop_last):
    # L = −Σ ŷ with ŷ = x·c, x one-hot: each step adds 1 to the counter of each example in
    # its batch (SGD with η = 1), so after one epoch c counts the visits.
    n, batch_size = 11, 4
    x, y = _one_hot_counting(n)
    state, history = fit(
        (counting_apply, np.zeros(n, np.float32), {}),
        optax.sgd(1.0),
        (x, y),
        loss=negative_sum,
        epochs=1,
        batch_size=batch_size,
        drop_last=drop_last,
        progress=False,
    )
    counts = np.asarray(state.params)
    if drop_last:
        assert sorted(counts.tolist()) == [0.0] * 3 + [1.0] * 8
        assert history.per_step["batch_size"].tolist() == [4, 4]
    else:
        np.testing.assert_array_equal(counts, np.ones(n))
        assert history.per_step["batch_size"].tolist() == [4, 4, 3]
    assert int(state.step) == len(history.per_step["loss"])


def test_every_epoch_reshuffles_and_the_order_is_the_documented_one():
    # Minibatch SGD by hand over the documented permutations equals fit.
    x, y = blobs(10)
    key = jax.random.key(7)
    params = linear_params()
    opt_state = SGD.init(params)
    orders = []
    for epoch in range(2):
        full, rest = epoch_batches(key, 10, 3, epoch=epoch)
        orders.append(np.asarray(full).ravel().tolist())
        for rows in [*np.asarray(full), np.asarray(rest)]:
            grads = linear_grad(params, x[rows], y[rows])
            updates, opt_state = SGD.update(grads, opt_state, params)
            params = optax.apply_updates(params, updates)
    assert orders[0] != orders[1]
    state, history = fit(
        linear_triple(), SGD, (x, y), loss=LOSS, epochs=2, batch_size=3, seed=key, progress=False
    )
    assert_trees_close(state.params, params, rtol=1e-5, atol=1e-6)
    assert history.per_step["batch_size"].tolist() == [3, 3, 3, 1] * 2


def test_batch_of_the_whole_set_is_full_batch_gradient_descent():
    x, y = blobs(30)
    state, history = fit(
        linear_triple(), SGD, (x, y), loss=LOSS, epochs=4, batch_size=30, progress=False
    )
    expected = full_batch_descent(linear_params(), x, y, learning_rate=0.5, steps=4)
    assert_trees_close(state.params, expected, rtol=1e-5, atol=1e-6)
    assert history.per_step["batch_size"].tolist() == [30] * 4
    # batch_size=None means the same thing
    again, _ = fit(
        linear_triple(), SGD, (x, y), loss=LOSS, epochs=4, batch_size=None, progress=False
    )
    assert_trees_close(again.params, expected, rtol=1e-5, atol=1e-6)


def test_batch_size_one_is_stochastic_gradient_descent():
    x, y = blobs(6)
    state, history = fit(
        linear_triple(), SGD, (x, y), loss=LOSS, epochs=2, batch_size=1, progress=False
    )
    assert int(state.step) == 12
    assert history.per_epoch["step"].tolist() == [6, 12]


def test_batches_fed_in_chunks_keep_one_copy_of_the_state_not_one_per_chunk(monkeypatch):
    # Fed from the host, an epoch goes in chunks; each chunk's program also returns the
    # state it started from, but only the first is needed (to roll a non-finite step back).
    # Kept in a list until the epoch ended, one whole state copy per chunk piled up.
    import weakref

    from jaxtrain.train import _feed, _step

    monkeypatch.setattr(_feed, "_HOST_CHUNK_BYTES", 1)  # one batch per chunk
    alive, references = [], []
    compiled = _step.StepFunctions.run_fed.func

    def counting(self):
        run = compiled(self)

        def run_and_count(*args):
            out = run(*args)
            alive.append(sum(ref() is not None for ref in references))
            references.append(weakref.ref(jax.tree.leaves(out[2].params)[0]))
            return out

        return run_and_count

    monkeypatch.setattr(_step.StepFunctions, "run_fed", property(counting))
    x, y = blobs(40)
    fit(
        linear_triple(),
        optax.sgd(0.1),
        (x, y),
        loss=LOSS,
        epochs=1,
        batch_size=8,
        data_on_device=False,
        progress=False,
    )
    assert len(alive) == 5  # five chunks
    assert max(alive) <= 1  # at most the first chunk's copy besides the newest
