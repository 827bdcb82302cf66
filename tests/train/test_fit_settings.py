"""fit's settings checks not covered elsewhere, and its resume policy (``check_resumable``)."""

import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from train_problems import (
    LOSS,
    NUM_CLASSES,
    NUM_FEATURES,
    SGD,
    blobs,
    linear_apply,
    linear_params,
    linear_triple,
)

from jaxtrain.train import evaluate, fit
from jaxtrain.train._checkpoint import Checkpoint
from jaxtrain.train._run_checkpoints import check_resumable


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"loss": "softmax_cross_entropy"}, "loss must be a function"),
        ({"augment": 3}, "augment must be a function"),
        ({"seed": 1.5}, "seed must be an int or a jax.random key"),
        ({"seed": True}, "seed must be an int or a jax.random key"),
        ({"seed": np.zeros(2, np.float32)}, "seed must be an int or a jax.random key"),
        # A key holds 32 bits without x64: 2³² + 7 ran as 7 (and otherwise with x64), 2⁶⁴
        # raised an OverflowError.
        ({"seed": 2**32 + 7}, r"seed must be an int in \[0, 2³²\)"),
        ({"seed": 2**64}, r"seed must be an int in \[0, 2³²\)"),
        ({"seed": -1}, r"seed must be an int in \[0, 2³²\)"),
        # Checked whatever the other arguments: without val_data or checkpoint_dir too.
        ({"eval_batch_size": 0}, "eval_batch_size must be a positive int or None"),
        ({"eval_batch_size": -3}, "eval_batch_size must be a positive int or None"),
        ({"eval_batch_size": 2.0}, "eval_batch_size must be a positive int or None"),
        ({"keep_checkpoints": 0}, "keep_checkpoints must be a positive int or None"),
        ({"keep_checkpoints": -1}, "keep_checkpoints must be a positive int or None"),
        # Flags are bools: "no" is truthy, and 0 meant the opposite of False.
        ({"drop_last": "no"}, "drop_last must be True or False; got 'no'"),
        ({"drop_last": "False"}, "drop_last must be True or False"),
        ({"drop_last": 1}, "drop_last must be True or False"),
        ({"data_on_device": 0}, "data_on_device must be True, False or None; got 0"),
        ({"data_on_device": "yes"}, "data_on_device must be True, False or None"),
        ({"progress": "no"}, "progress must be True or False"),
        ({"resume": 1}, "resume must be True or False"),
        ({"learning_rate": -1.0}, "learning_rate must be a finite number ≥ 0"),
        ({"learning_rate": float("nan")}, "learning_rate must be a finite number ≥ 0"),
        ({"learning_rate": np.float32("inf")}, "learning_rate must be a finite number ≥ 0"),
        ({"learning_rate": "0.1"}, "learning_rate must be a finite number ≥ 0"),
        ({"learning_rate": True}, "learning_rate must be a finite number ≥ 0"),
        ({"learning_rate": np.ones(2)}, "learning_rate must be a finite number ≥ 0"),
    ],
)
def test_bad_arguments_fail_before_any_step(kwargs, match):
    traced = []

    def loss(predictions, targets):
        traced.append(1)
        return LOSS(predictions, targets)

    arguments = dict(loss=loss, epochs=1, batch_size=2, progress=False)
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=match):
        fit(linear_triple(), SGD, blobs(6), **arguments)
    assert not traced


def test_bad_keep_checkpoints_fails_and_writes_nothing(tmp_path):
    with pytest.raises(ValueError, match="keep_checkpoints must be a positive int or None"):
        fit(
            linear_triple(),
            SGD,
            blobs(6),
            loss=LOSS,
            epochs=1,
            batch_size=2,
            checkpoint_dir=tmp_path / "run",
            keep_checkpoints=0,
            progress=False,
        )
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "kwargs, recorded",
    [
        ({"learning_rate": 0}, 0.0),
        ({"learning_rate": np.float32(0.25)}, 0.25),
        ({"learning_rate": jnp.float32(0.5)}, 0.5),
        ({"learning_rate": lambda t: 0.125}, 0.125),
        ({"drop_last": np.True_, "data_on_device": np.False_, "progress": np.False_}, 0.5),
    ],
)
def test_numbers_schedules_and_numpy_bools_are_accepted(kwargs, recorded):
    arguments = {"loss": LOSS, "epochs": 1, "batch_size": 4, "progress": False, **kwargs}
    _, history = fit(linear_triple(), SGD, blobs(6), **arguments)
    assert history.per_step["learning_rate"].tolist() == [recorded] * len(history.per_step["loss"])


_CONFIG = {
    "num_examples": 30,
    "batch_size": 8,
    "drop_last": False,
    "steps_per_epoch": 4,
    "total_steps": 12,
    "on_nonfinite": "raise",
    "seed": 0,
    "probe_size": 16,
    "processes": 1,
}


def _checkpoint(step=8, **config):
    return Checkpoint(step=step, params={}, model_state={}, config={**_CONFIG, **config})


@pytest.mark.parametrize(
    "checkpoint, match",
    [
        (_checkpoint(num_examples=31), "num_examples=31, this run has num_examples=30"),
        (_checkpoint(drop_last=True), "drop_last=True, this run has drop_last=False"),
        (_checkpoint(probe_size=32), "probe batch of 32 examples, this run's use 16"),
        (_checkpoint(step=13), "at step 13, past the 12 steps"),
        # Each process shuffles its own examples: the rest of the epoch would differ.
        (
            _checkpoint(step=6, processes=2, probe_size=0),
            r"written by 2 processes in the middle of an epoch \(step 6; epochs end every 4 "
            r"steps\), and this run has 1",
        ),
        # Each process draws its share of the probe batch from its own examples.
        (_checkpoint(processes=2), "probe batch of 16 examples drawn by 2 processes"),
    ],
)
def test_a_checkpoint_of_another_run_is_refused(checkpoint, match):
    with pytest.raises(ValueError, match=match):
        check_resumable(checkpoint, _CONFIG)


@pytest.mark.parametrize(
    "checkpoint",
    [
        _checkpoint(step=12),  # at the end: nothing left to run, nothing refused
        _checkpoint(seed=5, on_nonfinite="skip"),  # recorded, not part of the batching
        _checkpoint(probe_size=0),  # written without monitors: this run's may start now
        Checkpoint(step=4, params={}, model_state={}, config={}),  # written without a config
        # 32 examples in batches of 8 leave no partial batch to drop: the batches are the same
        # (refused before, "the batches would differ").
        _checkpoint(num_examples=32, drop_last=True),
        # Another process count at the end of an epoch: the next one is shuffled anew.
        _checkpoint(processes=4, probe_size=0),
        # Written before the process count was recorded: not known, so not refused.
        Checkpoint(
            step=6,
            params={},
            model_state={},
            config={k: v for k, v in _CONFIG.items() if k != "processes"},
        ),
    ],
)
def test_a_checkpoint_with_the_same_batches_is_resumable(checkpoint):
    config = {**_CONFIG, "num_examples": checkpoint.config.get("num_examples", 30)}
    assert check_resumable(checkpoint, config) is None


def _accuracy_keepdims(logits, labels):
    return (logits.argmax(-1) == labels).mean(keepdims=True)


def _accuracy_per_class(logits, labels):
    return (logits.argmax(-1)[:, None] == np.arange(3)).mean(0)


@pytest.mark.parametrize(
    ("metrics", "match"),
    [
        # Before: shape (1,) broadcast against the step flags gave an epoch "accuracy" of
        # 1.75 (a sum, not a mean); shape (3,) failed in NumPy after the first segment.
        ({"acc": _accuracy_keepdims}, r"metric 'acc' must return a scalar.*shape \(1,\)"),
        ({"per_class": _accuracy_per_class}, r"metric 'per_class' must return a scalar"),
    ],
)
def test_a_metric_that_is_not_a_scalar_is_refused_before_any_step(metrics, match):
    steps = []

    def counting_loss(predictions, labels):
        steps.append(1)
        return LOSS(predictions, labels)

    with pytest.raises(ValueError, match=match):
        fit(linear_triple(), SGD, blobs(12), loss=counting_loss, epochs=1, batch_size=4,
            metrics=metrics, progress=False)  # fmt: skip
    assert len(steps) <= 2  # traced while compiling (the scan's body), never run


def test_a_loss_that_is_not_a_scalar_is_refused_before_any_step():
    def per_example(predictions, labels):
        return LOSS(predictions, labels, reduction="none")

    with pytest.raises(ValueError, match=r"the loss must return a scalar.*\(4,\)"):
        fit(linear_triple(), SGD, blobs(12), loss=per_example, epochs=1, batch_size=4,
            progress=False)  # fmt: skip


def test_numpy_integers_are_sizes_like_python_ones(tmp_path):
    # Before: epochs and checkpoint_every took np.int64, batch_size and keep_checkpoints
    # refused it, and eval_batch_size passed the check, trained an epoch, then failed.
    n = np.int64
    x, y = blobs(12)
    state, history = fit(linear_triple(), SGD, (x, y), loss=LOSS, epochs=n(2), batch_size=n(4),
                         val_data=(x, y), eval_batch_size=n(5), checkpoint_dir=tmp_path,
                         keep_checkpoints=n(1), progress=False)  # fmt: skip
    assert int(state.step) == 6 and len(history.per_epoch["val_loss"]) == 2


def test_an_unhashable_loss_also_validates():
    # Before: a dataclass loss (eq=True makes it unhashable) trained, then the first
    # validation failed with "Non-hashable static arguments"; evaluate() too.
    import dataclasses

    @dataclasses.dataclass
    class WeightedLoss:
        weight: float = 1.0

        def __call__(self, logits, labels):
            return self.weight * LOSS(logits, labels)

    x, y = blobs(12)
    state, history = fit(linear_triple(), SGD, (x, y), loss=WeightedLoss(), epochs=2,
                         batch_size=4, val_data=(x, y), progress=False)  # fmt: skip
    assert np.isfinite(history.per_epoch["val_loss"]).all()
    assert evaluate(state, (x, y), loss=WeightedLoss())["loss"] == pytest.approx(
        history.per_epoch["val_loss"][-1], rel=1e-6
    )


def test_the_suggested_batch_sizes_fit_the_data():
    # Before: full batch (10 examples) over 4 devices suggested "e.g. 8 or 12", and 12 is
    # more than the data hold.
    import types

    from jaxtrain.train._settings import _batch_plan

    four = types.SimpleNamespace(num_shards=4)
    with pytest.raises(ValueError, match=r"a multiple of 4 \(e\.g\. 8\)") as caught:
        _batch_plan(10, None, False, 1, four)
    assert "12" not in str(caught.value)
    with pytest.raises(ValueError, match=r"a multiple of 4 \(e\.g\. 8 or 12\)"):
        _batch_plan(40, 10, False, 1, four)


class _CountedLinear(nnx.Module):
    """A linear classifier that also holds an integer: a Param (trainable), or a Variable."""

    def __init__(self, counter_kind, rngs):
        self.linear = nnx.Linear(NUM_FEATURES, NUM_CLASSES, rngs=rngs)
        self.counter = counter_kind(jnp.zeros((), jnp.int32))

    def __call__(self, x):
        return self.linear(x)


@pytest.mark.parametrize(
    ("model", "match"),
    [
        # Before: jax's "grad requires real- or complex-valued inputs ... got int32" from
        # inside the first step's tracing, naming no parameter.
        (lambda: _CountedLinear(nnx.Param, nnx.Rngs(0)), r"params\['counter'\] is of dtype int32"),
        (
            lambda: (linear_apply, {**linear_params(), "seen": jnp.zeros(3, jnp.bool_)}, {}),
            r"params\['seen'\] is of dtype bool",
        ),
        (
            lambda: (linear_apply, {"w": linear_params()["w"], "b": jnp.zeros(3, jnp.int32)}, {}),
            r"params\['b'\] is of dtype int32",
        ),
    ],
)
def test_an_integer_parameter_is_refused_before_any_step(model, match, tmp_path):
    with pytest.raises(ValueError, match=match) as caught:
        fit(model(), SGD, blobs(12), loss=LOSS, epochs=1, batch_size=4, progress=False,
            checkpoint_dir=tmp_path / "run")  # fmt: skip
    message = str(caught.value)
    assert "\n" not in message
    assert "not an nnx.Param" in message and "cast it to a float dtype" in message
    assert not (tmp_path / "run").exists()


def test_an_integer_variable_that_is_not_a_param_trains_with_the_model():
    # The check reads what is differentiated only: an nnx.Variable is model state.
    model = _CountedLinear(nnx.Variable, nnx.Rngs(0))
    state, history = fit(model, SGD, blobs(12), loss=LOSS, epochs=2, batch_size=4,
                         progress=False)  # fmt: skip
    assert sorted(state.params) == ["linear"]
    assert state.model_state["counter"].dtype == jnp.int32
    assert np.isfinite(history.per_step["loss"]).all()


def _updates_in_a_list(updates, state, params=None):
    return [updates], state


def _state_doubled(updates, state, params=None):
    return updates, (state, state)


def _state_of_another_dtype(updates, state, params=None):
    return updates, jnp.zeros((), jnp.float32)


def _no_state(params):
    return optax.EmptyState()


@pytest.mark.parametrize(
    "update, match",
    [
        # JAX's and optax's own errors named neither the optimizer nor what it returned:
        # "pytree structure error: different types at key path", "while_loop body function
        # carry input and carry output must have the same pytree structure".
        (_updates_in_a_list, r"the optimizer's update returned updates unlike the params"),
        (_state_doubled, r"the optimizer's update returned a state unlike the one it was given"),
    ],
)
def test_an_optimizer_returning_other_structures_is_named(update, match):
    optimizer = optax.GradientTransformation(_no_state, update)
    with pytest.raises(ValueError, match=match):
        fit(linear_triple(), optimizer, blobs(10), loss=LOSS, epochs=1, batch_size=5)


def test_an_optimizer_state_of_another_dtype_is_named():
    init = lambda params: jnp.zeros((), jnp.int32)  # noqa: E731
    optimizer = optax.GradientTransformation(init, _state_of_another_dtype)
    with pytest.raises(ValueError, match=r"state unlike.*float32\[\] where int32\[\] was expected"):
        fit(linear_triple(), optimizer, blobs(10), loss=LOSS, epochs=1, batch_size=5)


def test_bfloat16_data_train_and_evaluate():
    # Before: refused as "not numeric" (NumPy does not count bfloat16 as a number).
    def apply(p, s, x, *, train, rng=None):
        return x @ p, s

    x = np.ones((8, 4), jnp.bfloat16)
    y = np.arange(8, dtype=np.int32) % 3
    w = jnp.zeros((4, 3), jnp.bfloat16)
    state, history = fit((apply, w, {}), SGD, (x, y), loss=LOSS, epochs=1, batch_size=4,
                         progress=False)  # fmt: skip
    assert np.isfinite(history.per_step["loss"]).all()
    assert np.isfinite(evaluate(state, (x, y), loss=LOSS)["loss"])


def test_float64_models_evaluate_in_float64():
    # Before: every value was cast to float32 (a relative error of 1e-8).
    from jax_modes import x64_enabled

    def apply(p, s, x, *, train, rng=None):
        return x @ p, s

    def mse(predictions, targets):
        return jnp.mean((predictions - targets) ** 2)

    with x64_enabled():
        x = np.linspace(0, 1, 10)[:, None]
        y = 1.0 + 1e-9 * np.arange(10)[:, None]
        w = jnp.ones((1, 1), jnp.float64)
        exact = float(mse(x @ np.ones((1, 1)), y))
        assert evaluate((apply, w, {}), (x, y), loss=mse)["loss"] == pytest.approx(exact, rel=1e-14)


def test_bfloat16_inputs_still_have_their_labels_checked():
    # Before: the class count was read only for NumPy numbers, so a label 7 of a 3-class
    # model trained to a NaN loss instead of being named.
    def apply(p, s, x, *, train, rng=None):
        return x @ p, s

    x = np.ones((8, 4), jnp.bfloat16)
    y = np.array([0, 1, 2, 7, 0, 1, 2, 0], np.int32)
    with pytest.raises(ValueError, match=r"out of range \(e\.g\. 7 at index 3\) for num_classes=3"):
        fit((apply, jnp.zeros((4, 3), jnp.bfloat16), {}), SGD, (x, y), loss=LOSS, epochs=1,
            batch_size=4, progress=False)  # fmt: skip
