"""Monitors inside fit: records, exact resume, one compilation, devices, bad input."""

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from monitor_problems import half_squared_error, linear_apply, regression

from jaxtrain import monitor, optim, train

X, Y, THETA0 = regression(n=120)
OPTIMIZER = optim.sgd(0.05, momentum=0.9)


def monitors():
    return [
        monitor.sharpness(every=5),
        monitor.gradient_noise_scale(),
        monitor.hessian_trace(every=7, num_samples=3),
        monitor.update_ratio(every=2),
    ]


def run(epochs, **kwargs):
    return train.fit(
        (linear_apply, THETA0, {}),
        kwargs.pop("optimizer", OPTIMIZER),
        (X, Y),
        loss=kwargs.pop("loss", half_squared_error),
        epochs=epochs,
        batch_size=32,
        monitors=kwargs.pop("monitors", monitors()),
        progress=False,
        **kwargs,
    )


@pytest.fixture(scope="module")
def two_epochs():
    """``run(2)``'s history, run once: four tests read the same default run."""
    return run(2)[1]


def test_every_record_has_one_value_per_step_and_nan_where_not_measured(two_epochs):
    history = two_epochs
    steps = history.num_steps
    assert steps == 8
    for name in (
        "sharpness",
        "stability_threshold",
        "noise_scale",
        "hessian_trace",
        "update_ratio",
        "update_ratio/w",
    ):
        assert history.per_step[name].shape == (steps,), name
    measured = {
        "sharpness": [0, 5],
        "hessian_trace": [0, 7],
        "update_ratio": [0, 2, 4, 6],
        "noise_scale": list(range(8)),
    }
    for name, where in measured.items():
        measured_at = np.flatnonzero(~np.isnan(history.per_step[name])).tolist()
        assert measured_at == where, name
    # θ₀ = 0: the first update ratio divides by ‖θ₀‖ = 0.
    assert history.per_step["update_ratio"][0] == np.inf


def test_a_resumed_run_is_bit_identical(tmp_path):
    whole_state, whole = run(4, checkpoint_dir=tmp_path / "whole")
    run(2, checkpoint_dir=tmp_path / "parts")
    resumed_state, resumed = run(4, checkpoint_dir=tmp_path / "parts", resume=True)
    assert sorted(resumed.per_step) == sorted(whole.per_step)
    for name, values in whole.per_step.items():
        np.testing.assert_array_equal(resumed.per_step[name], values, err_msg=name)
    for a, b in zip(
        jax.tree.leaves(resumed_state.monitor_state),
        jax.tree.leaves(whole_state.monitor_state),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
    assert int(resumed_state.monitor_state["sharpness"].matvecs) > 0


def test_a_checkpoint_resumes_with_some_of_its_monitors_or_none(tmp_path):
    # Each monitor's state is restored by its name (tests/train/test_resume_monitors.py has
    # adding, keeping some and a mismatch); a run resumed with one or none of them loads.
    run(1, checkpoint_dir=tmp_path)
    state, _ = run(
        2, checkpoint_dir=tmp_path, resume=True, monitors=[monitor.gradient_noise_scale()]
    )
    assert set(state.monitor_state) == {"noise_scale"}
    state, history = run(3, checkpoint_dir=tmp_path, resume=True, monitors=[])
    assert state.monitor_state == {}
    # The monitors' columns go on as NaN, as long as every other column.
    lengths = {name: len(values) for name, values in history.per_step.items()}
    assert len(set(lengths.values())) == 1, lengths
    assert np.isnan(history.per_step["update_ratio"][history.num_steps // 2 :]).all()


def test_a_monitor_without_state_can_join_a_resumed_run(tmp_path):
    # Before: the resumed run trained a whole segment, then History refused the new column
    # ("per-step record 'update_ratio' appeared after 8 steps").
    run(2, checkpoint_dir=tmp_path, monitors=[])
    _, history = run(4, checkpoint_dir=tmp_path, resume=True, monitors=[monitor.update_ratio()])
    ratios = history.per_step["update_ratio"]
    assert ratios.shape == (16,) and np.isnan(ratios[:8]).all() and np.isfinite(ratios[8:]).all()


def test_a_default_probe_is_not_shrunk_by_another_monitors_smaller_one():
    # Before: sharpness's default probe (min(N, 2048)) shrank to the 64 examples another
    # monitor asked for: the largest asked counted only explicit sizes.
    from jaxtrain.train._settings import _probe_size

    chosen = (monitor.sharpness(10), monitor.hessian_trace(10, probe_size=64))
    assert _probe_size(chosen, 3000, 1) == 2048
    assert _probe_size(chosen, 1000, 1) == 1000  # the default is min(N, 2048)
    assert _probe_size(chosen[1:], 3000, 1) == 64


def test_the_default_probe_divides_among_the_processes():
    # Before: with 3 processes the default min(N, 2048) did not divide among them, and the
    # run was refused for a probe_size the user never gave.
    from jaxtrain.train._settings import _probe_size

    assert _probe_size((monitor.sharpness(10),), 2100, 3) == 2046
    assert _probe_size((monitor.sharpness(10),), 1000, 3) == 999
    with pytest.raises(ValueError, match=r"probe_size \(1000\) .* 3 processes, .*: e\.g\. 999"):
        _probe_size((monitor.sharpness(10, probe_size=1000),), 3000, 3)


def test_the_epoch_is_traced_once_with_monitors():
    traces = []

    def counting_loss(predictions, targets):
        traces.append(1)
        return half_squared_error(predictions, targets)

    run(1, loss=counting_loss)
    once = len(traces)
    traces.clear()
    run(5, loss=counting_loss, optimizer=optim.sgd(0.05, momentum=0.9))
    assert len(traces) == once


def test_skipped_steps_leave_the_monitor_state_alone():
    x = X.copy()
    x[40] = np.nan  # the examples of one batch give a non-finite loss
    _, history = train.fit(
        (linear_apply, THETA0, {}),
        OPTIMIZER,
        (np.nan_to_num(x, nan=1e30), Y),
        loss=half_squared_error,
        epochs=1,
        batch_size=32,
        on_nonfinite="skip",
        monitors=[monitor.gradient_noise_scale()],
        progress=False,
    )
    skipped = history.per_step["skipped"]
    assert skipped.any()
    after = np.flatnonzero(~skipped)
    assert np.isfinite(history.per_step["noise_scale"][after[after > np.argmax(skipped)]]).all()


def test_a_skipped_steps_monitor_records_are_not_measured():
    # update_ratio recorded the thrown-away update (1.7e18) at a step where θ did not move,
    # and a run's largest update was then read from it.
    x = X.copy()
    x[40] = 1e30  # the examples of one batch give a non-finite loss
    _, history = train.fit(
        (linear_apply, THETA0, {}),
        OPTIMIZER,
        (x, Y),
        loss=half_squared_error,
        epochs=1,
        batch_size=32,
        on_nonfinite="skip",
        monitors=[monitor.update_ratio(), monitor.gradient_noise_scale()],
        progress=False,
    )
    skipped = history.per_step["skipped"]
    assert skipped.any() and not skipped.all()
    for name in ("update_ratio", "noise_scale"):
        assert np.isnan(history.per_step[name][skipped]).all(), name
    # θ₀ = 0: the first ratio is ∞, a measurement all the same.
    assert not np.isnan(history.per_step["update_ratio"][~skipped]).any()


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (["sharpness"], "must be jaxtrain.monitor monitors"),
        ([monitor.update_ratio(), monitor.update_ratio(3)], "two 'update_ratio' monitors"),
    ],
)
def test_bad_monitor_lists_are_refused(value, match):
    with pytest.raises(ValueError, match=match):
        run(1, monitors=value)


@dataclasses.dataclass(frozen=True)
class _Recording(monitor.Monitor):
    """A user's monitor that records one constant under a chosen name."""

    record: str = "custom"
    name: ClassVar[str] = "recording"

    def record_names(self, params):
        return (self.record,)

    def init(self, params):
        return ()

    def measure(self, state, view):
        return state, {self.record: jax.numpy.float32(123.0)}


@pytest.mark.parametrize(
    "record", ["grad_norm", "finite", "update_ratio", "batch_size", "skipped", "train_custom"]
)
def test_a_monitor_record_name_that_is_taken_is_refused(record):
    # One dict holds a step's records: a monitor's "grad_norm" replaced the step's own, and
    # a "finite" would replace the flag the non-finite check reads. The history's own rows
    # "batch_size" and "skipped" replaced a monitor's values, and a "train_" name was taken
    # for a training metric (dropped from per_step, averaged into per_epoch).
    monitors = [_Recording(1, record), monitor.update_ratio()]
    with pytest.raises(ValueError, match=f"records '{record}'"):
        run(1, monitors=monitors)
    history = run(1, monitors=[_Recording(2)])[1]
    np.testing.assert_array_equal(history.per_step["custom"][:2], [123.0, np.nan])


def test_history_plot_draws_sharpness_with_its_threshold_and_the_noise_scale(two_epochs):
    axes = two_epochs.plot()
    titles = [ax.get_title() for ax in axes]
    assert "sharpness λmax vs stability threshold" in titles
    assert "gradient noise scale B_simple" in titles


@pytest.mark.multidevice
def test_sharded_batches_measure_what_one_device_measures(multi_device, two_epochs):
    # This module's run on 8 devices (by default fit splits every batch over all of them,
    # the last batch of 24 included), against the same run here on one device: its
    # compiled epoch is the one the other tests of this module use.
    code = """
        import sys
        sys.path.insert(0, "tests/monitor")
        import jax
        from test_fit_monitors import run
        assert jax.device_count() == 8
        _, history = run(2)
        for name in ("sharpness", "noise_scale", "hessian_trace", "update_ratio", "loss"):
            print(name, " ".join(repr(float(v)) for v in history.per_step[name]))
    """
    lines = dict(line.split(" ", 1) for line in multi_device(code).strip().splitlines())
    for name in ("sharpness", "noise_scale", "hessian_trace", "update_ratio", "loss"):
        sharded = np.array([float(v) for v in lines[name].split()])
        np.testing.assert_allclose(sharded, two_epochs.per_step[name], rtol=1e-4, err_msg=name)


def test_the_host_feed_measures_what_the_device_feed_measures(two_epochs):
    on_device = two_epochs
    _, fed = run(2, data_on_device=False)
    for name in ("sharpness", "noise_scale", "hessian_trace", "update_ratio"):
        np.testing.assert_allclose(
            fed.per_step[name], on_device.per_step[name], rtol=1e-5, err_msg=name
        )


def test_a_non_finite_stop_returns_the_monitors_state_of_the_last_good_step():
    x = X.copy()
    x[7] = 1e30  # its batch overflows the squared error
    with pytest.raises(train.NonFiniteLossError) as caught:
        train.fit(
            (linear_apply, THETA0, {}),
            OPTIMIZER,
            (x, Y),
            loss=half_squared_error,
            epochs=2,
            batch_size=32,
            monitors=[monitor.gradient_noise_scale()],
            progress=False,
        )
    error = caught.value
    state = error.state.monitor_state["noise_scale"]
    assert int(state.count) == error.step  # one average per good step before the bad one
    assert np.isfinite(float(state.trace))


def test_a_threshold_of_eta_without_a_readable_eta_is_refused():
    # Groups of optax.multi_transform with different η: the threshold was NaN at every step,
    # without a word. fit(learning_rate=) or a number for the threshold are the ways out.
    x, y, theta0 = regression(n=64)
    optimizer = optax.multi_transform(
        {"a": optax.sgd(0.1), "b": optax.sgd(0.01)}, {"w": "a", "b": "b"}
    )
    params = {"w": theta0["w"], "b": jnp.zeros(())}

    def apply(p, s, xb, *, train, rng=None):
        return linear_apply({"w": p["w"]}, s, xb, train=train)[0] + p["b"], s

    kw = dict(loss=half_squared_error, steps=2, batch_size=32, progress=False)
    with pytest.raises(ValueError, match="threshold is a function of η"):
        train.fit((apply, params, {}), optimizer, (x, y), monitors=[monitor.sharpness(1)], **kw)
    for extra in ({"learning_rate": 0.1}, {}):
        threshold = None if extra else 20.0
        _, history = train.fit(
            (apply, params, {}),
            optimizer,
            (x, y),
            monitors=[monitor.sharpness(1, threshold=threshold)],
            **extra,
            **kw,
        )
        assert np.isfinite(history.per_step["stability_threshold"]).all()
