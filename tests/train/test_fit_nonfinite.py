"""A non-finite loss stops (or skips) cleanly; bad input fails before any step runs."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from train_problems import LOSS, SGD, assert_trees_equal, blobs, linear_triple

from jaxtrain.train import NonFiniteLossError, epoch_batches, fit


def log_target_loss(predictions, targets):
    """Squared error plus log(y): NaN on an example whose target is negative."""
    return jnp.mean((predictions[:, 0] - targets) ** 2 + jnp.log(targets + 2.0))


def _poisoned(n=8, poison=5):
    x, _ = blobs(n)
    y = np.full(n, 1.0, np.float32)
    y[poison] = -3.0  # log(−1): NaN, but a finite number that check_dataset accepts
    return x, y


def _position_of(poison, n, batch_size, epoch=0, seed=0):
    full, rest = epoch_batches(jax.random.key(seed), n, batch_size, epoch=epoch)
    rows = [*np.asarray(full), np.asarray(rest)]
    return next(i for i, r in enumerate(rows) if poison in r.tolist())


def test_nonfinite_loss_raises_naming_the_step_and_keeps_the_last_good_state():
    x, y = _poisoned()
    bad = _position_of(5, 8, 1)
    with pytest.raises(NonFiniteLossError) as caught:
        fit(
            linear_triple(),
            SGD,
            (x, y),
            loss=log_target_loss,
            epochs=2,
            batch_size=1,
            progress=False,
        )
    error = caught.value
    assert isinstance(error, ValueError)
    assert error.step == bad and error.epoch == 0 and np.isnan(error.loss)
    message = str(error)
    assert f"at step {bad}" in message
    for hint in ("learning rate", "normalized", "bad data", "on_nonfinite='skip'"):
        assert hint in message
    # the state is the one before the bad step: equal to a run that stops there
    assert int(error.state.step) == bad
    if bad:
        expected, _ = fit(
            linear_triple(),
            SGD,
            (x, y),
            loss=log_target_loss,
            steps=bad,
            batch_size=1,
            progress=False,
        )
        assert_trees_equal(error.state.params, expected.params)
    else:
        assert_trees_equal(error.state.params, linear_triple()[1])
    assert len(error.history.per_step["loss"]) == bad + 1
    assert np.isnan(error.history.per_step["loss"][-1])


def test_skip_drops_bad_updates_and_counts_them():
    x, y = _poisoned()
    state, history = fit(
        linear_triple(),
        SGD,
        (x, y),
        loss=log_target_loss,
        epochs=3,
        batch_size=1,
        on_nonfinite="skip",
        progress=False,
    )
    assert int(state.step) == 24
    assert history.per_step["skipped"].sum() == 3  # the poisoned example once per epoch
    assert history.per_epoch["skipped_steps"].tolist() == [1, 1, 1]
    assert all(np.isfinite(leaf).all() for leaf in jax.tree.leaves(state.params))
    assert np.isfinite(history.per_epoch["train_loss"]).all()


def test_skip_with_every_step_bad_leaves_parameters_and_optimizer_untouched():
    x, y = _poisoned()
    optimizer = optax.adam(0.1)
    params = linear_triple()[1]
    state, history = fit(
        linear_triple(),
        optimizer,
        (x, y),
        loss=log_target_loss,
        epochs=2,
        batch_size=8,
        on_nonfinite="skip",
        progress=False,
    )
    assert_trees_equal(state.params, params)
    assert_trees_equal(state.opt_state, optimizer.init(params))
    assert history.per_step["skipped"].all()
    assert np.isnan(history.per_epoch["train_loss"]).all()


@pytest.mark.parametrize(
    ("data", "kwargs", "match"),
    [
        ((np.zeros((0, 4), np.float32), np.zeros(0, np.int32)), {}, "empty"),
        ((np.zeros((5, 4), np.float32), np.zeros(4, np.int32)), {}, "same length"),
        ((np.full((5, 4), np.nan, np.float32), np.zeros(5, np.int32)), {}, "NaN"),
        ((np.zeros((5, 4), np.float32), np.array([0, 1, 2, 3, 0])), {}, "out of range"),
        ((np.zeros((5, 4), np.float32), np.array([0, 1, 2, -1, 0])), {}, "negative"),
        ((np.zeros((5, 4), np.float32), np.zeros(5, np.int32)), {"batch_size": 0}, "≥ 1"),
        ((np.zeros((5, 4), np.float32), np.zeros(5, np.int32)), {"batch_size": -3}, "≥ 1"),
        ((np.zeros((5, 4), np.float32), np.zeros(5, np.int32)), {"batch_size": 9}, "exceeds"),
        ((np.zeros((5, 4), np.float32), np.zeros(5, np.int32)), {"epochs": 0}, "epochs"),
        ((np.zeros((5, 4), np.float32), np.zeros(5, np.int32)), {"steps": 3}, "exactly one"),
        ((np.zeros((5, 4), np.float32),), {}, r"\(x, y\) pair"),
        ((np.zeros((5, 3), np.float32), np.zeros(5, np.int32)), {}, "cannot take inputs"),
        ((np.zeros((5, 4), np.float32), np.zeros(5, np.int32)), {"on_nonfinite": "x"}, "on_"),
        ((np.zeros((5, 4), np.float32), np.zeros(5, np.int32)), {"resume": True}, "resume"),
        ((np.zeros((5, 4), np.float32), np.zeros(5, np.int32)), {"metadata": {"a": {1}}}, "JSON"),
        (
            (np.zeros((5, 4), np.float32), np.zeros(5, np.int32)),
            {"metrics": [lambda p, t: 0.0]},
            "cannot name",
        ),
    ],
)
def test_bad_input_fails_before_any_step(data, kwargs, match):
    traced = []

    def loss(predictions, targets):
        traced.append(1)
        return LOSS(predictions, targets)

    arguments = dict(loss=loss, epochs=1, batch_size=2, progress=False)
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=match):
        fit(linear_triple(), SGD, data, **arguments)
    assert not traced


def test_bad_validation_data_fails_before_any_step():
    x, y = blobs(6)
    with pytest.raises(ValueError, match="val_data"):
        fit(
            linear_triple(),
            SGD,
            (x, y),
            loss=LOSS,
            epochs=1,
            batch_size=2,
            progress=False,
            val_data=(x[:3], np.array([0, 1, 7])),
        )
    with pytest.raises(ValueError, match=r"optax\.GradientTransformation"):
        fit(linear_triple(), "sgd", (x, y), loss=LOSS, epochs=1, batch_size=2)


def _counting_loss(calls):
    def loss(predictions, labels):
        calls.append(predictions.shape)
        return LOSS(predictions, labels)

    return loss


@pytest.mark.parametrize(
    ("val_data", "kwargs", "match"),
    [
        (lambda x, y: (x[:3, :3], y[:3]), {}, "val_data"),  # a feature short
        (lambda x, y: (x[:3], y[:3].astype(np.float32)), {}, "val_data"),  # labels as floats
        (lambda x, y: (x[:3], y[:3]), {"eval_batch_size": 0}, "eval_batch_size"),
        (lambda x, y: (x[:3], y[:3]), {"eval_batch_size": 2.5}, "eval_batch_size"),
    ],
    ids=["features", "float_labels", "eval_batch_size_0", "eval_batch_size_float"],
)
def test_validation_the_loss_cannot_take_fails_before_the_first_step(val_data, kwargs, match):
    # Checked only when the first epoch's validation ran: an epoch of training lost, and the
    # error a raw shape error from inside the model or the loss.
    x, y = blobs(6)
    calls = []
    with pytest.raises(ValueError, match=match):
        fit(
            linear_triple(),
            SGD,
            (x, y),
            loss=_counting_loss(calls),
            epochs=1,
            batch_size=2,
            progress=False,
            val_data=val_data(x, y),
            **kwargs,
        )
    assert calls == [] or all(shape[0] == 1 for shape in calls)  # traced, never a batch


def _nan_learning_rate_at(count):
    """SGD whose schedule gives NaN at one step: that step's loss and gradient are finite,
    the parameters it produces are NaN."""
    return optax.sgd(lambda c: jnp.where(c == count, jnp.nan, 0.1))


class _NanStateAt(optax.GradientTransformation):
    """SGD steps; the state's float turns NaN at one step (and back to 0 after it, when
    ``transient``)."""

    def __new__(cls, count, transient=False):
        def init(params):
            del params
            return (jnp.zeros([], jnp.int32), jnp.zeros([], jnp.float32))

        def update(updates, state, params=None):
            del params
            step, value = state
            value = jnp.where(step == count, jnp.nan, 0.0 if transient else value)
            return jax.tree.map(lambda u: -0.1 * u, updates), (step + 1, value)

        return super().__new__(cls, init, update)


def _overflowing_apply(params, state, x, *, train, rng=None):
    """A linear model whose running "scale" grows 1e20× per training step: inf at step 1."""
    del rng
    new_state = {"scale": state["scale"] * 1e20} if train else state
    return x @ params["w"] + params["b"], new_state


def _finite(tree):
    return all(np.isfinite(np.asarray(leaf)).all() for leaf in jax.tree.leaves(tree))


def _fit_linear(optimizer, data, **run):
    """The linear model fitted in batches of 8; ``run``: epochs= or steps=, and the rest."""
    return fit(linear_triple(), optimizer, data, loss=LOSS, batch_size=8, progress=False, **run)


@pytest.mark.parametrize(
    ("model", "optimizer", "bad"),
    [
        (linear_triple(), _nan_learning_rate_at(5), 5),  # the parameters (issue 13, case 1)
        (linear_triple(), _NanStateAt(6), 6),  # only the optimizer state
        # NaN for one step only, the last of the call (three 4-step epochs joined in one):
        # the state the call ends with is what is checked.
        (linear_triple(), _NanStateAt(11, transient=True), 11),
        ((_overflowing_apply, linear_triple()[1], {"scale": jnp.float32(1.0)}), SGD, 1),
    ],
    ids=["params", "opt_state", "opt_state_one_step", "model_state"],
)
def test_a_step_whose_new_state_is_not_finite_stops_with_the_last_finite_state(
    model, optimizer, bad
):
    # The loss and gradient of the bad step are finite; the state it makes is not. Before,
    # the guard saw only the loss and gradient: the run stopped a step later (or never) and
    # the error's .state held the NaN.
    x, y = blobs(32)  # 4 batches of 8 per epoch: the bad step is mid-epoch
    with pytest.raises(NonFiniteLossError, match="the update made the parameters") as caught:
        fit(model, optimizer, (x, y), loss=LOSS, epochs=3, batch_size=8, progress=False)
    error = caught.value
    assert error.step == bad and np.isfinite(error.loss)
    assert int(error.state.step) == bad
    assert _finite((error.state.params, error.state.model_state, error.state.opt_state))


def test_a_state_non_finite_for_a_step_inside_a_call_and_healed_passes():
    # Each call checks the state it ends with, not every step's (a few kernels a step):
    # a NaN that never reached the parameters, the loss or the gradient and is gone by the
    # call's end passes, and nothing non-finite is ever kept or saved.
    state, history = _fit_linear(_NanStateAt(6, transient=True), blobs(32), epochs=3)
    assert int(state.step) == 12 and _finite((state.params, state.opt_state))
    assert not history.per_step["skipped"].any()


def test_the_call_run_again_to_find_a_bad_step_gives_the_same_records():
    # Steps 0-4 are fine, step 5 makes NaN parameters: the run again, with every step checking
    # its state, must reproduce the first call's records up to the bad step.
    with pytest.raises(NonFiniteLossError) as caught:
        _fit_linear(_nan_learning_rate_at(5), blobs(32), epochs=3)
    reference, _ = _fit_linear(optax.sgd(0.1), blobs(32), steps=5)
    history = caught.value.history
    assert history.per_step["skipped"].tolist() == [False] * 5 + [True]
    np.testing.assert_array_equal(caught.value.state.params["w"], reference.params["w"])


@pytest.mark.parametrize("data_on_device", [True, False])
def test_the_call_runs_again_only_up_to_its_first_non_finite_loss(monkeypatch, data_on_device):
    # Review: a bad call ran again whole, a second epoch when fed from the host. The NaN η at
    # step 5 shows as a NaN loss at step 6: the first bad step is no later, so the checked run
    # again stops there.
    from jaxtrain.train import _feed

    runs = []
    run = _feed.Feed._run

    def counted(self, fns, state, first, stop):
        runs.append((fns.checks_each_step, first, stop))
        return run(self, fns, state, first, stop)

    monkeypatch.setattr(_feed.Feed, "_run", counted)
    with pytest.raises(NonFiniteLossError) as caught:
        _fit_linear(_nan_learning_rate_at(5), blobs(96), epochs=1, data_on_device=data_on_device)
    assert caught.value.step == 5
    checked = [(first, stop) for checks, first, stop in runs if checks]
    assert checked == [(0, 7)], runs


def test_skip_drops_a_step_whose_new_state_is_not_finite():
    model = (_overflowing_apply, linear_triple()[1], {"scale": jnp.float32(1.0)})
    state, history = fit(
        model,
        SGD,
        blobs(32),
        loss=LOSS,
        epochs=1,
        batch_size=8,
        on_nonfinite="skip",
        progress=False,
    )
    # Step 0 moves the scale to 1e20; every later step would make it inf and is dropped.
    assert history.per_step["skipped"].tolist() == [False, True, True, True]
    assert float(state.model_state["scale"]) == np.float32(1e20)
    assert _finite((state.params, state.opt_state))


def test_a_nan_update_at_the_end_of_an_epoch_is_never_checkpointed(tmp_path):
    # Issue 13, case 1: NaN parameters made by an epoch's last step were saved at the epoch's
    # end and announced as "the last good checkpoint"; the error's .state was NaN.
    from jaxtrain.train import load_checkpoint

    with pytest.raises(NonFiniteLossError, match=r"last good checkpoint \(step 4\)") as caught:
        fit(
            linear_triple(),
            _nan_learning_rate_at(7),
            blobs(32),
            loss=LOSS,
            epochs=3,
            batch_size=8,
            checkpoint_dir=tmp_path,
            progress=False,
        )
    assert caught.value.step == 7 and _finite(caught.value.state.params)
    last = load_checkpoint(tmp_path)
    assert last.step == 4 and _finite(last.params)


def test_a_bad_step_in_a_call_of_many_epochs_keeps_the_epochs_before_it():
    # Full batch: one step per epoch, 64 epochs per compiled call after the first (see
    # test_fit), and the bad step is the 40th of the second call.
    x, y = blobs(30)
    optimizer = _nan_learning_rate_at(40)
    with pytest.raises(
        # Steps count from 0 as History's rows; epoch and batch from 1, as a table of epochs
        # does ("epoch 40, batch 0 of 1" read as the 40th epoch's batch before the first).
        NonFiniteLossError,
        match=r"at step 40 \(batch 1 of 1 in epoch 41\)",
    ) as caught:
        fit(
            linear_triple(),
            optimizer,
            (x, y),
            loss=LOSS,
            epochs=100,
            batch_size=None,
            progress=False,
        )
    error = caught.value
    assert error.step == 40 and error.epoch == 40 and int(error.state.step) == 40
    expected, _ = fit(
        linear_triple(), optimizer, (x, y), loss=LOSS, steps=40, batch_size=None, progress=False
    )
    assert_trees_equal(error.state.params, expected.params)
    assert error.history.per_epoch["step"].tolist() == list(range(1, 41))
    assert len(error.history.per_step["loss"]) == 41
    assert error.history.per_step["skipped"].tolist() == [False] * 40 + [True]


def test_a_given_schedule_is_recorded_at_the_updates_applied_when_steps_are_skipped():
    # The optimizer's count, and so its schedule, stops on a skipped step; the given
    # schedule was read at the run's step, which goes on: after a skip the record ran one
    # step ahead of the η the updates used.
    schedule = optax.linear_schedule(0.1, 0.01, transition_steps=20)
    arguments = dict(
        loss=log_target_loss, epochs=2, batch_size=1, on_nonfinite="skip", progress=False
    )
    _, from_state = fit(linear_triple(), optax.sgd(schedule), _poisoned(), **arguments)
    _, given = fit(
        linear_triple(), optax.sgd(schedule), _poisoned(), learning_rate=schedule, **arguments
    )
    skipped = given.per_step["skipped"]
    assert skipped.sum() == 2 and not skipped[0] and not skipped[-1]  # skips mid-run
    applied_before = np.cumsum(~skipped) - ~skipped
    expected = np.asarray(jax.vmap(schedule)(applied_before), np.float32)
    np.testing.assert_allclose(from_state.per_step["learning_rate"], expected, rtol=1e-6)
    np.testing.assert_allclose(given.per_step["learning_rate"], expected, rtol=1e-6)


def test_a_finite_float16_gradient_past_256_trains():
    # Before: its norm was summed in float16, where 256² overflows: the step was counted
    # non-finite, fit stopped at step 0 ("the gradient norm is +∞"), and with
    # on_nonfinite="skip" never moved.
    def apply(p, s, x, *, train, rng=None):
        return x @ p, s

    def mse(predictions, targets):
        return jnp.mean((predictions - targets) ** 2)

    rng = np.random.default_rng(0)
    x = (80 * rng.normal(size=(30, 4))).astype(np.float16)
    y = np.full((30, 3), 10.0, np.float16)
    w = jnp.zeros((4, 3), jnp.float16)
    assert not np.isfinite(float(optax.tree.norm(jax.grad(lambda p: mse(x @ p, y))(w))))
    _, history = fit((apply, w, {}), optax.sgd(1e-6), (x, y), loss=mse, steps=3,
                         batch_size=None, on_nonfinite="skip", progress=False)  # fmt: skip
    assert not history.per_step["skipped"].any()
    np.testing.assert_allclose(history.per_step["grad_norm"][0], 295.68, rtol=1e-3)
    assert np.all(np.diff(history.per_step["loss"]) < 0)
