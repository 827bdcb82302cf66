"""Resuming a run with another set of monitors: each monitor's state is restored by name.

A monitor in the run and the checkpoint resumes its state (refused if that state has another
structure), one new to the run starts from its ``init``, one only in the checkpoint is
ignored. The exact resume with the same monitors is tested in tests/monitor.
"""

import dataclasses
import functools
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from train_problems import (
    LOSS,
    SGD,
    assert_trees_close,
    assert_trees_equal,
    blobs,
    linear_triple,
)

from jaxtrain import monitor
from jaxtrain.train import CheckpointMismatchError, fit, load_checkpoint, save_checkpoint

DATA = blobs(32)
STEPS_PER_EPOCH = 4  # 32 examples in batches of 8


def run(epochs, monitors, **kwargs):
    return fit(
        linear_triple(),
        SGD,
        DATA,
        loss=LOSS,
        epochs=epochs,
        batch_size=8,
        monitors=monitors,
        progress=False,
        **kwargs,
    )


def sharpness_and_noise():
    return [monitor.sharpness(every=3), monitor.gradient_noise_scale()]


def measured_steps(history, name):
    return np.flatnonzero(~np.isnan(history.per_step[name])).tolist()


@dataclasses.dataclass(frozen=True)
class _Counter(monitor.Monitor):
    """A user's monitor whose state's shape is one of its settings: it counts its
    measurements in each of ``size`` slots."""

    size: int = 2
    name: ClassVar[str] = "counter"

    def record_names(self, params):
        return ("count",)

    def init(self, params):
        return jnp.zeros(self.size, jnp.int32)

    def measure(self, state, view):
        return state + 1, {"count": state[0].astype(jnp.float32)}


def test_a_stateful_monitor_can_join_a_resumed_run(tmp_path):
    # Before: CheckpointMismatchError "['sharpness'].vector: not in the checkpoint".
    run(2, [], checkpoint_dir=tmp_path)
    state, history = run(4, sharpness_and_noise(), checkpoint_dir=tmp_path, resume=True)
    whole_state, whole = run(4, sharpness_and_noise())
    # The monitors only watch: training goes on as without them (the noise scale's half-batch
    # gradients round the step's gradient differently).
    assert_trees_close(state.params, run(4, [])[0].params, rtol=1e-5, atol=1e-7)
    resumed_at = 2 * STEPS_PER_EPOCH
    assert measured_steps(history, "noise_scale") == list(range(resumed_at, 16))
    assert measured_steps(history, "sharpness") == [9, 12, 15]
    # Started from its init at the resume, the sharpness still measures λmax of the same
    # Hessian as a run that had it from the start (Lanczos to its relative tolerance 1e-3).
    np.testing.assert_allclose(
        history.per_step["sharpness"][9:], whole.per_step["sharpness"][9:], rtol=1e-2
    )
    # The noise scale's averages start at the resume: 8 steps averaged, not 16.
    assert int(state.monitor_state["noise_scale"].count) == 8
    assert int(whole_state.monitor_state["noise_scale"].count) == 16


def test_a_resumed_run_may_keep_some_of_the_checkpoints_monitors(tmp_path):
    # Before: CheckpointMismatchError "['noise_scale'].squared_norm: in the checkpoint, not in
    # the target".
    run(2, sharpness_and_noise(), checkpoint_dir=tmp_path / "parts")
    resumed_state, resumed = run(
        4, [monitor.sharpness(every=3)], checkpoint_dir=tmp_path / "parts", resume=True
    )
    whole_state, whole = run(4, sharpness_and_noise(), checkpoint_dir=tmp_path / "whole")
    # The kept monitor resumes its state: it measures what the uninterrupted run measured
    # (to rounding: without the noise scale's half-batch gradients the steps round
    # differently), warm-started from its saved vector, in as few Hessian-vector products.
    np.testing.assert_allclose(
        resumed.per_step["sharpness"], whole.per_step["sharpness"], rtol=1e-5
    )
    assert int(resumed_state.monitor_state["sharpness"].matvecs) == int(
        whole_state.monitor_state["sharpness"].matvecs
    )
    # The dropped one's state is ignored, and its column stops at the resume.
    assert sorted(resumed_state.monitor_state) == ["sharpness"]
    assert measured_steps(resumed, "noise_scale") == list(range(2 * STEPS_PER_EPOCH))


def test_a_resumed_run_may_drop_every_monitor(tmp_path):
    run(2, sharpness_and_noise(), checkpoint_dir=tmp_path)
    state, _ = run(4, [], checkpoint_dir=tmp_path, resume=True)
    assert state.monitor_state == {}
    assert_trees_close(state.params, run(4, [])[0].params, rtol=1e-5, atol=1e-7)


def test_a_monitor_whose_state_has_another_structure_is_refused(tmp_path):
    run(1, [_Counter(1, size=2), monitor.gradient_noise_scale()], checkpoint_dir=tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(CheckpointMismatchError) as caught:
        run(2, [_Counter(1, size=3)], checkpoint_dir=tmp_path, resume=True)
    message = str(caught.value)
    assert "monitor 'counter'" in message
    assert "checkpoint has int32[2], target int32[3]" in message
    assert "Nothing was loaded" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    # With the monitor's settings of the checkpoint, the same directory resumes, its count
    # going on from where it was.
    state, history = run(2, [_Counter(1, size=2)], checkpoint_dir=tmp_path, resume=True)
    np.testing.assert_array_equal(history.per_step["count"], np.arange(8.0))
    np.testing.assert_array_equal(state.monitor_state["counter"], [8, 8])


@pytest.mark.parametrize(
    ("before", "after", "named"),
    [
        # Resumed silently: one column joined two settings' values (preconditioned=True, then
        # False, put a preconditioned λ and a plain one in one sharpness column).
        (monitor.sharpness(1, tol=1e-3), monitor.sharpness(1, tol=1e-2), "tol=0.001 → 0.01"),
        (
            monitor.gradient_noise_scale(ema=0.9),
            monitor.gradient_noise_scale(ema=0.5),
            "ema=0.9 → 0.5",
        ),
    ],
)
def test_a_monitor_with_other_settings_is_refused(tmp_path, before, after, named):
    run(1, [before], checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match=f"monitor {after.name!r}.*{named}"):
        run(2, [after], checkpoint_dir=tmp_path, resume=True)


class _Threshold:
    def __call__(self, eta):
        return 2.0 / eta


def _twice(eta, c):
    return c / eta


@pytest.mark.parametrize(
    ("before", "after"),
    [
        # Refused: a partial or an instance printed its address, new in every process; a
        # NumPy float32 tol differed from the same Python float; an omitted probe_size from
        # the one it resolves to (compared as the run's probe batch already).
        (
            monitor.sharpness(1, threshold=functools.partial(_twice, c=2.0)),
            monitor.sharpness(1, threshold=functools.partial(_twice, c=2.0)),
        ),
        (
            monitor.sharpness(1, threshold=_Threshold()),
            monitor.sharpness(1, threshold=_Threshold()),
        ),
        (monitor.sharpness(1, tol=1e-3), monitor.sharpness(1, tol=np.float32(1e-3))),
        (monitor.sharpness(1), monitor.sharpness(1, probe_size=32)),
    ],
)
def test_the_same_monitor_settings_resume(tmp_path, before, after):
    run(1, [before], checkpoint_dir=tmp_path)
    run(2, [after], checkpoint_dir=tmp_path, resume=True)


def test_a_monitor_may_measure_more_or_less_often_on_resume(tmp_path):
    run(1, [monitor.sharpness(every=2)], checkpoint_dir=tmp_path)
    _, history = run(2, [monitor.sharpness(every=1)], checkpoint_dir=tmp_path, resume=True)
    assert measured_steps(history, "sharpness") == [0, 2, 4, 5, 6, 7]


def test_load_checkpoint_restores_the_targets_monitors_by_name_under_jit(tmp_path):
    saved, _ = run(1, [_Counter(1, size=2), monitor.sharpness(every=2)])
    save_checkpoint(tmp_path, saved)
    noise_init = monitor.gradient_noise_scale().init(saved.params)
    target = saved.replace(
        monitor_state={"counter": jnp.zeros(2, jnp.int32), "noise_scale": noise_init}
    )
    traces = []

    @jax.jit
    def bumped(monitor_state):
        traces.append(1)
        return jax.tree.map(lambda a: a + 1, monitor_state)

    bumped(target.monitor_state)
    restored = load_checkpoint(tmp_path, target).state.monitor_state
    # The target's tree, so what was compiled for it runs on the restored state as it is.
    bumped(restored)
    assert len(traces) == 1
    assert list(restored) == ["counter", "noise_scale"]
    np.testing.assert_array_equal(restored["counter"], saved.monitor_state["counter"])
    assert_trees_equal(restored["noise_scale"], noise_init)
