"""Checkpoints: round trips, refusals, fit's schedule, exact resume, and a killed run."""

import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from train_problems import (
    LOSS,
    SGD,
    assert_trees_equal,
    blobs,
    linear_apply,
    linear_params,
    linear_triple,
    sleepy_loss,
)

from jaxtrain.train import (
    CheckpointMismatchError,
    History,
    NonFiniteLossError,
    TrainState,
    fit,
    load_checkpoint,
    save_checkpoint,
)

HERE = pathlib.Path(__file__).parent


def _state(params, optimizer=None, step=5):
    optimizer = optimizer or optax.adam(0.1)
    return TrainState(
        apply=linear_apply,
        params=params,
        model_state={"count": jnp.arange(3)},
        opt_state=optimizer.init(params),
        step=jnp.int32(step),
        key=jax.random.key(42),
    )


def _steps(directory):
    return sorted(int(p.name) for p in pathlib.Path(directory).iterdir() if p.name.isdigit())


def test_round_trip_of_a_whole_state_with_history_and_metadata(tmp_path):
    params = linear_params()
    optimizer = optax.adam(0.1)
    state = _state(params, optimizer)
    grads = jax.tree.map(jnp.ones_like, params)
    _, opt_state = optimizer.update(grads, state.opt_state, params)
    state = state.replace(opt_state=opt_state)
    history = History({"loss": np.array([1.0, np.nan])}, {"train_loss": np.array([0.5])})
    path = save_checkpoint(tmp_path, state, history=history, metadata={"model": {"depth": 2}})
    assert path == tmp_path / "5"
    target = _state(linear_params(seed=1), optimizer, step=0)
    ckpt = load_checkpoint(tmp_path, target)
    assert ckpt.step == 5 and ckpt.metadata == {"model": {"depth": 2}}
    assert_trees_equal(ckpt.state.params, state.params)
    assert_trees_equal(ckpt.state.opt_state, state.opt_state)
    assert_trees_equal(ckpt.state.model_state, state.model_state)
    assert int(ckpt.state.step) == 5 and ckpt.state.apply is linear_apply
    assert_trees_equal(jax.random.key_data(ckpt.state.key), jax.random.key_data(state.key))
    np.testing.assert_array_equal(ckpt.history.per_step["loss"], [1.0, np.nan])


def test_load_without_target_or_into_a_model_triple(tmp_path):
    state = _state(linear_params())
    save_checkpoint(tmp_path, state)
    bare = load_checkpoint(tmp_path)
    assert bare.opt_state is None and bare.state is None
    assert_trees_equal(bare.params, state.params)
    assert set(bare.params) == {"w", "b"}
    into = load_checkpoint(
        tmp_path, (linear_apply, linear_params(seed=3), {"count": jnp.zeros(3, int)})
    )
    assert_trees_equal(into.params, state.params)
    assert_trees_equal(into.model_state, state.model_state)


def test_another_model_or_optimizer_is_refused_whole(tmp_path):
    save_checkpoint(tmp_path, _state(linear_params()))
    wider = {"w": jnp.zeros((4, 5)), "b": jnp.zeros(5)}
    with pytest.raises(CheckpointMismatchError, match=r"\['w'\]: checkpoint has float32\[4, 3\]"):
        load_checkpoint(tmp_path, _state(wider))
    renamed = {"kernel": jnp.zeros((4, 3)), "b": jnp.zeros(3)}
    with pytest.raises(CheckpointMismatchError, match="not in the checkpoint"):
        load_checkpoint(tmp_path, _state(renamed))
    with pytest.raises(CheckpointMismatchError, match="optimizer"):
        load_checkpoint(tmp_path, _state(linear_params(), optax.sgd(0.1, momentum=0.9)))
    with pytest.raises(CheckpointMismatchError, match="optimizer"):
        load_checkpoint(tmp_path, _state(linear_params(), optax.chain(optax.adam(0.1))))
    assert isinstance(CheckpointMismatchError("x"), ValueError)


def test_bad_checkpoint_requests(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no complete checkpoint"):
        load_checkpoint(tmp_path)
    with pytest.raises(ValueError, match="JSON"):
        save_checkpoint(tmp_path, _state(linear_params()), metadata={"f": np.float32})
    save_checkpoint(tmp_path, _state(linear_params()))
    with pytest.raises(FileNotFoundError, match="no checkpoint of step 9"):
        load_checkpoint(tmp_path, step=9)
    with pytest.raises(ValueError, match="target must be"):
        load_checkpoint(tmp_path, target=[1, 2])


def test_a_refused_save_creates_nothing(tmp_path):
    # No orbax manager may exist before the first save: its background clean-up of stale
    # temporary folders, never awaited by close(), could delete a later save in progress.
    with pytest.raises(ValueError, match="JSON"):
        save_checkpoint(tmp_path / "run", _state(linear_params()), metadata={"f": np.float32})
    assert not (tmp_path / "run").exists()
    for _ in range(3):
        save_checkpoint(tmp_path / "run", _state(linear_params()))
    assert load_checkpoint(tmp_path / "run").step == 5


def test_fit_saves_every_n_epochs_and_at_the_end(tmp_path):
    x, y = blobs(30)  # batch 8: 4 steps per epoch
    state, history = fit(
        linear_triple(),
        SGD,
        (x, y),
        loss=LOSS,
        epochs=5,
        batch_size=8,
        checkpoint_dir=tmp_path,
        checkpoint_every=2,
        keep_checkpoints=None,
        metadata={"spec": "linear"},
        progress=False,
    )
    assert _steps(tmp_path) == [8, 16, 20]
    last = load_checkpoint(tmp_path)
    assert last.step == 20 and last.metadata == {"spec": "linear"}
    assert last.config["batch_size"] == 8 and last.config["num_examples"] == 30
    np.testing.assert_array_equal(last.history.per_step["loss"], history.per_step["loss"])
    assert_trees_equal(last.params, state.params)
    with pytest.raises(ValueError, match="already holds checkpoints"):
        fit(
            linear_triple(),
            SGD,
            (x, y),
            loss=LOSS,
            epochs=5,
            batch_size=8,
            checkpoint_dir=tmp_path,
            progress=False,
        )
    with pytest.raises(ValueError, match="batch_size=8"):
        fit(
            linear_triple(),
            SGD,
            (x, y),
            loss=LOSS,
            epochs=5,
            batch_size=10,
            checkpoint_dir=tmp_path,
            resume=True,
            progress=False,
        )
    with pytest.raises(CheckpointMismatchError, match="optimizer"):
        fit(
            linear_triple(),
            optax.adam(0.1),
            (x, y),
            loss=LOSS,
            epochs=5,
            batch_size=8,
            checkpoint_dir=tmp_path,
            resume=True,
            progress=False,
        )
    with pytest.raises(ValueError, match="past the 12 steps"):
        fit(
            linear_triple(),
            SGD,
            (x, y),
            loss=LOSS,
            epochs=3,
            batch_size=8,
            checkpoint_dir=tmp_path,
            resume=True,
            progress=False,
        )


def test_keep_only_the_newest_checkpoints(tmp_path):
    fit(
        linear_triple(),
        SGD,
        blobs(30),
        loss=LOSS,
        epochs=4,
        batch_size=8,
        checkpoint_dir=tmp_path,
        keep_checkpoints=2,
        progress=False,
    )
    assert _steps(tmp_path) == [12, 16]


def test_resume_mid_epoch_reproduces_the_uninterrupted_run(tmp_path):
    x, y = blobs(32)  # 4 batches of 8 per epoch
    kw = dict(loss=LOSS, batch_size=8, progress=False)
    whole, whole_history = fit(linear_triple(), SGD, (x, y), steps=11, **kw)
    fit(linear_triple(), SGD, (x, y), steps=6, checkpoint_dir=tmp_path, **kw)
    resumed, history = fit(
        linear_triple(), SGD, (x, y), steps=11, checkpoint_dir=tmp_path, resume=True, **kw
    )
    assert_trees_equal(resumed.params, whole.params)
    np.testing.assert_array_equal(history.per_step["loss"], whole_history.per_step["loss"])
    # the first run recorded its partial epoch 2 (steps 5-6), the resumed run the rest
    assert history.per_epoch["step"].tolist() == [4, 6, 8, 11]


def test_nonfinite_loss_keeps_the_last_good_checkpoint(tmp_path):
    x, y = blobs(8)
    y_float = np.ones(8, np.float32)

    def log_loss(predictions, targets):
        return jnp.mean((predictions[:, 0] - targets) ** 2 + jnp.log(targets + 2.0))

    fit(
        linear_triple(),
        SGD,
        (x, y_float),
        loss=log_loss,
        epochs=1,
        batch_size=4,
        checkpoint_dir=tmp_path,
        progress=False,
    )
    poisoned = y_float.copy()
    poisoned[3] = -3.0
    with pytest.raises(NonFiniteLossError, match="last good checkpoint \\(step 2\\)"):
        fit(
            linear_triple(),
            SGD,
            (x, poisoned),
            loss=log_loss,
            epochs=3,
            batch_size=4,
            checkpoint_dir=tmp_path,
            resume=True,
            progress=False,
        )
    assert _steps(tmp_path) == [2]
    del y


CHILD = """
import sys
sys.path.insert(0, {tests!r})
from train_problems import SGD, blobs, linear_triple, sleepy_loss
from jaxtrain.train import fit
fit(linear_triple(), SGD, blobs(40), loss=sleepy_loss, epochs={epochs}, batch_size=8,
    checkpoint_dir={directory!r}, progress=False)
print("finished")
"""


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_same_parameters(tmp_path):
    epochs, directory = 12, tmp_path / "run"
    env = dict(os.environ, JAXTRAIN_TEST_STEP_SLEEP="0.04", JAX_PLATFORMS="cpu")
    code = textwrap.dedent(CHILD).format(tests=str(HERE), epochs=epochs, directory=str(directory))
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and child.poll() is None:
            if directory.exists() and any(s >= 15 for s in _steps(directory)):
                break
            time.sleep(0.02)
        assert child.poll() is None, (
            f"the run ended before it could be killed: {child.stderr.read()}"
        )
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
    saved = _steps(directory)
    assert saved and max(saved) < epochs * 5  # killed before the end
    resumed, history = fit(
        linear_triple(),
        SGD,
        blobs(40),
        loss=sleepy_loss,
        epochs=epochs,
        batch_size=8,
        checkpoint_dir=directory,
        resume=True,
        progress=False,
    )
    whole, whole_history = fit(
        linear_triple(),
        SGD,
        blobs(40),
        loss=sleepy_loss,
        epochs=epochs,
        batch_size=8,
        progress=False,
    )
    assert_trees_equal(resumed.params, whole.params)
    assert int(resumed.step) == epochs * 5
    np.testing.assert_array_equal(history.per_step["loss"], whole_history.per_step["loss"])
    assert max(_steps(directory)) == epochs * 5
