"""fit and evaluate: results, records, modes, no recompilation, and the user's arrays kept."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from train_problems import (
    LOSS,
    METRICS,
    NUM_CLASSES,
    SGD,
    assert_trees_equal,
    blobs,
    linear_apply,
    linear_params,
    linear_triple,
)

from jaxtrain import optim
from jaxtrain.data import additive_noise
from jaxtrain.losses import accuracy, softmax_cross_entropy
from jaxtrain.nn import MLP, functional
from jaxtrain.optim import sgd
from jaxtrain.optim.schedules import exponential_decay
from jaxtrain.train import History, NonFiniteLossError, TrainState, _evaluate, evaluate, fit
from jaxtrain.train._step import step_functions


def _fit(**overrides):
    x, y = blobs(30)
    kwargs = dict(loss=LOSS, epochs=3, batch_size=8, progress=False)
    kwargs.update(overrides)
    model = kwargs.pop("model", linear_triple())
    optimizer = kwargs.pop("optimizer", SGD)
    data = kwargs.pop("data", (x, y))
    return fit(model, optimizer, data, **kwargs)


def test_fit_learns_and_records_every_curve():
    xv, yv = blobs(15, seed=1)
    state, history = _fit(epochs=6, val_data=(xv, yv), metrics=METRICS)
    assert isinstance(state, TrainState) and isinstance(history, History)
    assert int(state.step) == 6 * 4
    step, epoch = history.per_step, history.per_epoch
    assert set(step) == {"loss", "grad_norm", "learning_rate", "batch_size", "skipped"}
    assert all(len(v) == 24 for v in step.values())
    assert {"train_loss", "train_accuracy", "val_loss", "val_accuracy"} <= set(epoch)
    assert all(len(v) == 6 for v in epoch.values())
    assert epoch["epoch"].tolist() == [1, 2, 3, 4, 5, 6]
    assert epoch["val_accuracy"][-1] == 1.0
    assert epoch["train_loss"][-1] < 0.5 * epoch["train_loss"][0]
    assert not step["skipped"].any()
    # train_loss is the batch-size-weighted mean of the epoch's step losses
    losses, sizes = step["loss"][:4], step["batch_size"][:4]
    assert sizes.tolist() == [8, 8, 8, 6]
    np.testing.assert_allclose(epoch["train_loss"][0], np.sum(losses * sizes) / 30, rtol=1e-6)
    # the gradient norm is ‖∇L‖ at the step's parameters: the first step's, by hand
    final = evaluate(state, (xv, yv), loss=LOSS, metrics=METRICS)
    assert final == pytest.approx({"loss": epoch["val_loss"][-1], "accuracy": 1.0}, rel=1e-6)


def test_grad_norm_and_training_metric_of_full_batch_steps():
    # With the whole set as the batch, step t sees θₜ: its record is ‖∇L(θₜ)‖ and the
    # on-the-fly accuracy is accuracy(θₜ) on the set.
    x, y = blobs(30)
    _, history = _fit(epochs=1, batch_size=30, metrics=[accuracy])
    params = linear_params()
    grads = jax.jit(jax.grad(lambda p: LOSS(linear_apply(p, {}, x, train=True)[0], y)))(params)
    expected = float(optax.tree.norm(grads))
    assert history.per_step["grad_norm"][0] == pytest.approx(expected, rel=1e-5)
    logits = linear_apply(params, {}, x, train=True)[0]
    assert history.per_epoch["train_accuracy"][0] == pytest.approx(float(accuracy(logits, y)))


def test_steps_stop_mid_epoch_and_record_the_partial_epoch():
    state, history = _fit(epochs=None, steps=6)
    assert int(state.step) == 6
    np.testing.assert_allclose(history.per_epoch["epoch"], [1.0, 1.5])
    assert history.per_epoch["step"].tolist() == [4, 6]
    assert len(history.per_step["loss"]) == 6


def _counted_calls(monkeypatch) -> list[tuple[int, int]]:
    """The (first, stop) steps of every compiled call ``fit`` makes from now on."""
    from jaxtrain.train import _feed

    calls, run = [], _feed.Feed.run

    def counted(self, state, first, stop):
        calls.append((first, stop))
        return run(self, state, first, stop)

    monkeypatch.setattr(_feed.Feed, "run", counted)
    return calls


# A model with dropout trained with augmentation: every step's keys reach the result.
_DROPOUT_TRIPLE = functional(MLP(4, 8, 3, depth=1, dropout=0.2, rngs=nnx.Rngs(0)))


@pytest.mark.parametrize(
    ("n", "batch_size", "epochs", "drop_last", "expected_calls"),
    [
        # Full batch (lecture §3): an epoch is one step; 64 epochs per call.
        (30, None, 150, False, [(0, 1), (1, 65), (65, 129), (129, 150)]),
        # 4 full batches per epoch: 16 epochs per call.
        (32, 8, 40, False, [(0, 4), (4, 68), (68, 132), (132, 160)]),
        # 3 full batches, the remainder of 6 left out: 21 epochs (63 steps) per call.
        (30, 8, 30, True, [(0, 3), (3, 66), (66, 90)]),
    ],
    ids=["full_batch", "four_batches", "drop_last"],
)
def test_short_epochs_share_a_call_and_run_as_one_call_per_epoch(
    monkeypatch, n, batch_size, epochs, drop_last, expected_calls
):
    # Every compiled call waits for the devices and hands its records to Python (~1 ms, a
    # whole step of a small model), so epochs of few steps are joined into calls of up to 64
    # steps; the run is the one-call-per-epoch run, bit for bit. The first epoch runs alone:
    # its call compiles, and its epoch_time says so.
    from jaxtrain.train import _feed

    def run():
        kw = dict(batch_size=batch_size, drop_last=drop_last, augment=additive_noise(0.1))
        return _fit(model=_DROPOUT_TRIPLE, data=blobs(n), epochs=epochs, metrics=METRICS, **kw)

    calls = _counted_calls(monkeypatch)
    joined, joined_history = run()
    assert calls == expected_calls
    calls.clear()
    monkeypatch.setattr(_feed, "_STEPS_PER_CALL", 1)
    single, single_history = run()
    assert len(calls) == epochs
    assert_trees_equal(joined.params, single.params)
    for name, values in single_history.per_step.items():
        np.testing.assert_array_equal(joined_history.per_step[name], values, err_msg=name)
    assert set(joined_history.per_epoch) == set(single_history.per_epoch)
    for name, values in single_history.per_epoch.items():
        if name != "epoch_time":
            np.testing.assert_array_equal(joined_history.per_epoch[name], values, err_msg=name)
    assert joined_history.per_epoch["epoch"].tolist() == list(range(1, epochs + 1))


def test_joined_epochs_stop_where_validation_or_steps_need_the_host(monkeypatch):
    calls = _counted_calls(monkeypatch)
    x, y = blobs(32)  # 4 batches of 8, no partial batch: 16 epochs per call
    _, history = _fit(data=(x, y), epochs=None, steps=70, batch_size=8)
    assert calls == [(0, 4), (4, 68), (68, 70)]
    assert history.per_epoch["epoch"].tolist() == [*range(1, 18), 17.5]
    calls.clear()
    _fit(data=(x, y), epochs=3, batch_size=8, val_data=blobs(6, seed=1))
    assert calls == [(0, 4), (4, 8), (8, 12)]  # validation after every epoch
    calls.clear()
    _fit(epochs=2, batch_size=8)  # 30 examples: a partial batch ends every epoch
    assert calls == [(0, 4), (4, 8)]
    calls.clear()
    _fit(data=blobs(66), epochs=3, batch_size=2)  # 33 batches an epoch: too many to join
    assert calls == [(0, 33), (33, 66), (66, 99)]


def _compiled(caplog, run):
    """What ``run()`` compiled: the names JAX logs as it compiles."""
    caplog.clear()
    with jax.log_compiles(), caplog.at_level("WARNING"):
        run()
    return [r.getMessage() for r in caplog.records if "Compiling" in r.getMessage()]


def test_fit_does_not_recompile_on_a_second_call(caplog):
    x, y = blobs(30)
    triple = linear_triple()

    def run(seed):
        fit(triple, SGD, (x, y), loss=LOSS, epochs=2, batch_size=8, seed=seed, progress=False)

    run(0)
    assert not _compiled(caplog, lambda: run(1))


def test_a_run_with_validation_and_one_joining_epochs_share_the_compiled_steps(caplog):
    x, y = blobs(30)
    kw = dict(loss=LOSS, batch_size=None, progress=False)
    # Validation after every epoch: one epoch per call.
    fit(linear_triple(), SGD, (x, y), epochs=3, val_data=blobs(6, seed=1), **kw)
    steps = lambda: fit(linear_triple(), SGD, (x, y), epochs=100, **kw)  # noqa: E731
    assert not _compiled(caplog, steps)  # 64 one-step epochs per call


def test_callers_arrays_survive_donation():
    params = linear_params()
    before = jax.tree.map(np.asarray, params)
    fit(
        (linear_apply, params, {}),
        SGD,
        blobs(30),
        loss=LOSS,
        epochs=1,
        batch_size=8,
        progress=False,
    )
    assert_trees_equal(params, before)  # still readable, unchanged


def test_the_donatable_copy_is_new_buffers_of_the_same_values_without_a_program(caplog):
    from jaxtrain.train._state import donatable_copy

    tree = {
        "w": jnp.arange(6.0).reshape(2, 3),
        "key": jax.random.key(3),
        "host": np.arange(4.0),  # float64 on the host: float32 on the device, as jnp.array
        "step": 5,
    }
    with jax.log_compiles(), caplog.at_level("WARNING"):
        copy = donatable_copy(tree)
    assert not [r for r in caplog.records if "Compiling" in r.getMessage()], caplog.text
    assert copy["w"].unsafe_buffer_pointer() != tree["w"].unsafe_buffer_pointer()
    np.testing.assert_array_equal(np.asarray(copy["w"]), np.asarray(tree["w"]))
    assert jnp.array_equal(jax.random.key_data(copy["key"]), jax.random.key_data(tree["key"]))
    assert copy["host"].dtype == jnp.array(tree["host"]).dtype == jnp.float32
    assert copy["step"].dtype == jnp.int32 and int(copy["step"]) == 5


def test_same_seed_same_run_other_seed_other_run():
    a, _ = _fit(seed=3)
    b, _ = _fit(seed=3)
    c, _ = _fit(seed=4)
    assert_trees_equal(a.params, b.params)
    assert not np.allclose(np.asarray(a.params["w"]), np.asarray(c.params["w"]))


def test_learning_rate_record_from_the_optimizer_state():
    schedule = exponential_decay(0.5, transition_steps=1, decay_rate=0.9)
    _, history = _fit(optimizer=sgd(schedule), epochs=2)
    np.testing.assert_allclose(
        history.per_step["learning_rate"], 0.5 * 0.9 ** np.arange(8), rtol=1e-6
    )
    injected = optax.inject_hyperparams(optax.sgd)(learning_rate=schedule)
    _, history = _fit(optimizer=injected, epochs=1)
    np.testing.assert_allclose(
        history.per_step["learning_rate"], 0.5 * 0.9 ** np.arange(4), rtol=1e-6
    )


def test_learning_rate_record_of_a_plain_optax_optimizer():
    # A constant η sits in the closure of optax's final scale(−η).
    _, history = _fit(epochs=1, optimizer=optax.adam(0.25))
    assert history.per_step["learning_rate"].tolist() == [0.25] * 4
    # An optax schedule is read from the closure at the state's count, η(t) at step t.
    schedule = optax.sgd(exponential_decay(0.5, transition_steps=1, decay_rate=0.9))
    _, history = _fit(epochs=1, optimizer=schedule)
    np.testing.assert_allclose(history.per_step["learning_rate"], 0.5 * 0.9 ** np.arange(4), 1e-6)
    # A transform with no learning rate at all: NaN unless fit is told.
    _, history = _fit(epochs=1, optimizer=optax.chain(optax.clip(1.0), optax.identity()))
    assert np.isnan(history.per_step["learning_rate"]).all()
    _, history = _fit(epochs=1, optimizer=schedule, learning_rate=0.5)
    assert history.per_step["learning_rate"].tolist() == [0.5] * 4
    _, history = _fit(epochs=1, learning_rate=lambda t: 1.0 / (t + 1))
    np.testing.assert_allclose(history.per_step["learning_rate"], [1, 1 / 2, 1 / 3, 1 / 4])


def test_batchnorm_model_updates_running_statistics_and_evaluates_with_them():
    x, y = blobs(32)
    model = MLP(4, 8, 3, depth=1, norm="batch", rngs=nnx.Rngs(0))
    state0 = functional(model)[2]
    state, history = fit(
        model,
        SGD,
        (x, y),
        loss=LOSS,
        epochs=2,
        batch_size=16,
        metrics=METRICS,
        val_data=(x, y),
        progress=False,
    )
    assert not np.allclose(
        np.asarray(jax.tree.leaves(state.model_state)[0]), np.asarray(jax.tree.leaves(state0)[0])
    )
    logits, same = state.apply(state.params, state.model_state, jnp.asarray(x), train=False)
    assert same is state.model_state
    expected = {"loss": float(LOSS(logits, y)), "accuracy": float(accuracy(logits, y))}
    assert evaluate(state, (x, y), loss=LOSS, metrics=METRICS) == pytest.approx(expected, rel=1e-5)
    assert history.per_epoch["val_loss"][-1] == pytest.approx(expected["loss"], rel=1e-5)
    # chunks of 5 (the last of 2) give the same means: evaluation mode is per example
    chunked = evaluate(state, (x, y), loss=LOSS, metrics=METRICS, batch_size=5)
    assert chunked == pytest.approx(expected, rel=1e-5)


def test_evaluate_takes_a_model_and_a_metric_dict():
    x, y = blobs(12)
    out = evaluate(linear_triple(), (x, y), loss=LOSS, metrics={"top1": accuracy})
    logits = linear_apply(linear_params(), {}, x, train=False)[0]
    assert set(out) == {"loss", "top1"}
    assert out["loss"] == pytest.approx(float(LOSS(logits, y)), rel=1e-6)
    assert all(isinstance(v, float) for v in out.values())


def test_fit_reads_what_its_loss_metrics_and_augmentation_close_over_at_each_call():
    # Before: a second fit with the same functions reused the first one's compiled steps, so
    # a weight or a shift changed in between was never seen: it trained and reported with
    # the old ones (a step-0 loss of 1.22 where 3.67).
    x, y = blobs(12)
    weight, shift = 1.0, 0.0

    def weighted(logits, labels):
        return weight * LOSS(logits, labels)

    def shifted(key, example):
        return example + shift

    def scaled_accuracy(logits, labels):
        return weight * accuracy(logits, labels)

    def run(loss, augment, metric):
        return fit(linear_triple(), SGD, (x, y), loss=loss, epochs=2, batch_size=4,
                   val_data=(x, y), augment=augment, metrics={"acc": metric},
                   progress=False)  # fmt: skip

    run(weighted, shifted, scaled_accuracy)
    weight, shift = 3.0, 0.5
    state, history = run(weighted, shifted, scaled_accuracy)
    expected_state, expected = run(
        lambda logits, labels: 3.0 * LOSS(logits, labels),
        lambda key, example: example + 0.5,
        lambda logits, labels: 3.0 * accuracy(logits, labels),
    )
    np.testing.assert_allclose(history.per_step["loss"], expected.per_step["loss"], rtol=1e-6)
    for key in ("train_loss", "val_loss", "val_acc"):
        np.testing.assert_allclose(history.per_epoch[key], expected.per_epoch[key], rtol=1e-6)
    close = lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6)  # noqa: E731
    jax.tree.map(close, state.params, expected_state.params)


def test_fit_reads_what_its_optimizer_and_learning_rate_close_over_at_each_call():
    # Before: the compiled steps were kept by the optimizer object, so a table of η its
    # schedule reads, set to 0 for a second run, still trained and recorded η = 0.1.
    x, y = blobs(12)
    rates = np.full(64, 0.1, np.float32)
    optimizer = sgd(lambda t: jnp.asarray(rates)[t])
    recorded = lambda t: jnp.asarray(rates)[t] / 2  # noqa: E731  a schedule given to fit

    def run(learning_rate=None):
        return fit(linear_triple(), optimizer, (x, y), loss=LOSS, epochs=1, batch_size=4,
                   learning_rate=learning_rate, progress=False)  # fmt: skip

    first, _ = run()
    rates[:] = 0.0
    state, history = run()
    np.testing.assert_array_equal(history.per_step["learning_rate"], 0.0)
    assert_trees_equal(state.params, linear_triple()[1])
    # The same object unchanged shares the compiled steps.
    rates[:] = 0.1
    hits = step_functions.cache_info().hits
    again, _ = run()
    assert_trees_equal(again.params, first.params)
    assert step_functions.cache_info().hits == hits + 1
    # A schedule given as fit's learning_rate (for the record) is read at each call too.
    assert run(recorded)[1].per_step["learning_rate"] == pytest.approx(0.05)
    rates[:] = 0.2
    assert run(recorded)[1].per_step["learning_rate"] == pytest.approx(0.1)


def test_evaluate_reads_what_its_loss_and_metrics_close_over_at_each_call():
    # Before: the loss and metrics were static arguments of the compiled evaluation, so a
    # weight changed since the first call was never seen (0.83 twice where 1.66).
    x, y = blobs(12)
    weight, threshold = 1.0, 0.0

    def weighted(logits, labels):
        return weight * LOSS(logits, labels)

    def above(logits, labels):
        return jnp.mean(jnp.max(logits, axis=-1) > threshold)

    triple = linear_triple()

    def run():
        return evaluate(triple, (x, y), loss=weighted, metrics={"above": above}, batch_size=5)

    first = run()
    weight, threshold = 2.0, 1e9
    second = run()
    assert second["loss"] == pytest.approx(2 * first["loss"], rel=1e-6)
    assert first["above"] > 0 and second["above"] == 0
    # A JAX array it closes over: the same array reuses the program, a new one is read.
    weight = jnp.float32(4.0)
    third = run()
    compiled = _evaluate._cached_sums._cache_size()
    assert run() == third and _evaluate._cached_sums._cache_size() == compiled
    assert third["loss"] == pytest.approx(4 * first["loss"], rel=1e-6)


def test_augmentation_and_dropout_follow_the_seed():
    x, y = blobs(24)
    model = MLP(4, 8, 3, depth=1, dropout=0.2, rngs=nnx.Rngs(0))
    triple = functional(model)
    noise = additive_noise(0.1)
    runs = [
        fit(
            triple,
            SGD,
            (x, y),
            loss=LOSS,
            epochs=1,
            batch_size=8,
            augment=noise,
            seed=s,
            progress=False,
        )[0]
        for s in (0, 0, 1)
    ]
    assert_trees_equal(runs[0].params, runs[1].params)
    assert not np.allclose(
        np.asarray(jax.tree.leaves(runs[0].params)[0]),
        np.asarray(jax.tree.leaves(runs[2].params)[0]),
    )
    plain, _ = fit(triple, SGD, (x, y), loss=LOSS, epochs=1, batch_size=8, seed=0, progress=False)
    assert not np.allclose(
        np.asarray(jax.tree.leaves(plain.params)[0]), np.asarray(jax.tree.leaves(runs[0].params)[0])
    )


def test_a_train_state_continues_as_a_model():
    first, _ = _fit(epochs=1)
    second, _ = _fit(model=first, epochs=1)
    assert int(second.step) == 4
    assert not np.allclose(np.asarray(first.params["w"]), np.asarray(second.params["w"]))


def test_progress_bar_only_when_interactive(monkeypatch, capsys):
    from jaxtrain.train import _progress

    _fit(epochs=1, progress=True)
    assert capsys.readouterr().err == ""  # pytest's capture is not a terminal
    monkeypatch.setattr(_progress, "interactive", lambda: True)
    _fit(epochs=1, progress=True)
    assert "4/4" in capsys.readouterr().err
    _fit(epochs=1, progress=False)
    assert capsys.readouterr().err == ""


def test_history_values_are_finite_floats():
    _, history = _fit(epochs=1, metrics=METRICS)
    for name, values in history.per_epoch.items():
        assert all(math.isfinite(v) for v in values), name


def _per_example_loss(predictions, labels):
    return softmax_cross_entropy(predictions, labels, reduction="none")


def _per_class_accuracy(predictions, labels):
    hits = (predictions.argmax(-1) == labels)[:, None]
    return jnp.mean(jax.nn.one_hot(labels, NUM_CLASSES) * hits, axis=0)


@pytest.mark.parametrize("batch_size", [None, 5])
def test_evaluate_refuses_a_loss_or_metric_that_is_not_a_scalar_as_fit_does(batch_size):
    # Ran the whole pass and failed on the host: "only 0-dimensional arrays can be converted
    # to Python scalars", or a broadcasting error between chunks (shapes (1, 5) and (1, 3)).
    data = blobs(23)
    with pytest.raises(ValueError, match=r"the loss must return a scalar.*shape \("):
        evaluate(linear_triple(), data, loss=_per_example_loss, batch_size=batch_size)
    with pytest.raises(ValueError, match=r"metric 'per_class' must return a scalar.*shape \(3,\)"):
        evaluate(
            linear_triple(),
            data,
            loss=LOSS,
            metrics={"per_class": _per_class_accuracy},
            batch_size=batch_size,
        )


@pytest.mark.parametrize(
    ("optimizer", "takes_obj_fn"),
    [
        (optim.negative_curvature_descent(sgd(0.5), gradient_threshold=1.0), True),
        (
            optax.chain(sgd(0.5), optax.contrib.reduce_on_plateau(patience=1, accumulation_size=1)),
            False,
        ),
        # Its line search hands value_fn every extra argument it does not know: no obj_fn.
        (optax.lbfgs(), False),
        (optax.contrib.sophia(0.05), True),
        # optax.MultiSteps is no GradientTransformationExtraArgs, but passes them on.
        (optax.MultiSteps(optax.lbfgs(), 2), False),
    ],
    ids=["negative_curvature_descent", "reduce_on_plateau", "lbfgs", "sophia", "multisteps"],
)
def test_optimizers_that_take_the_loss_as_extra_arguments_train(optimizer, takes_obj_fn):
    # fit passed none of optax's extra arguments: jaxtrain's own escape transforms ("needs
    # the loss as an extra argument"), reduce_on_plateau (value), L-BFGS (value, grad,
    # value_fn) and sophia (obj_fn) could not be used. Full batches: a hand loop that passes
    # the batch's loss takes the same steps.
    x, y = blobs(30)
    state, history = fit(
        linear_triple(), optimizer, (x, y), loss=LOSS, epochs=4, batch_size=30, progress=False
    )
    params = linear_params()
    opt_state = optimizer.init(params)
    losses = []

    @jax.jit
    def step(params, opt_state):
        def batch_loss(p):
            return LOSS(linear_apply(p, {}, x, train=True)[0], y)

        value, grads = jax.value_and_grad(batch_loss)(params)
        extra = dict(value=value, grad=grads, value_fn=batch_loss)
        if takes_obj_fn:
            extra["obj_fn"] = batch_loss
        updates, opt_state = optimizer.update(grads, opt_state, params, **extra)
        return optax.apply_updates(params, updates), opt_state, value

    for _ in range(4):
        params, opt_state, value = step(params, opt_state)
        losses.append(value)
    np.testing.assert_allclose(history.per_step["loss"], losses, rtol=2e-5)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6), state.params, params
    )


def test_an_optimizer_state_holding_infinity_by_design_is_no_failure():
    # optax keeps inf as "nothing seen yet": reduce_on_plateau's best value until its first
    # accumulation ends (here after 20 steps), a line search's value before its first step.
    # fit took it for a non-finite state and stopped at once.
    x, y = blobs(30)
    optimizer = optax.chain(sgd(0.1), optax.contrib.reduce_on_plateau(accumulation_size=20))
    _, history = fit(
        linear_triple(), optimizer, (x, y), loss=LOSS, epochs=3, batch_size=15, progress=False
    )
    assert np.isfinite(history.per_step["loss"]).all() and len(history.per_step["loss"]) == 6

    # A NaN in the optimizer state is still one.
    def nan_state(updates, state, params=None):
        return updates, jax.tree.map(lambda a: a * jnp.nan, state)

    poisoned = optax.chain(
        sgd(0.1, momentum=0.9),
        optax.GradientTransformation(lambda p: optax.tree.zeros_like(p), nan_state),
    )
    with pytest.raises(NonFiniteLossError):
        fit(linear_triple(), poisoned, (x, y), loss=LOSS, epochs=1, batch_size=15, progress=False)
