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
    sgd_state,
    sleepy_loss,
)

import jaxtrain.optim
from jaxtrain.train import (
    CheckpointCorruptError,
    CheckpointDirectoryError,
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
    # An int key came back as a string ({1: "x"} loaded as {"1": "x"}).
    with pytest.raises(ValueError, match=r"str keys; .*1 \(int\) at metadata\['a'\]"):
        save_checkpoint(tmp_path, _state(linear_params()), metadata={"a": [{1: "x"}]})
    save_checkpoint(tmp_path, _state(linear_params()))
    with pytest.raises(FileNotFoundError, match="no checkpoint of step 9"):
        load_checkpoint(tmp_path, step=9)
    with pytest.raises(ValueError, match="target must be"):
        load_checkpoint(tmp_path, target=[1, 2])


def test_a_refused_save_creates_nothing(tmp_path):
    # The arguments are checked before the directory is opened: no folder, manifest or lock.
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
    # A mid-epoch step resumes only with as many processes as wrote it (check_resumable).
    assert last.config["processes"] == 1
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


def test_joined_epochs_end_at_every_checkpoint_and_resume_exactly(tmp_path):
    # Full batch: 64 one-step epochs per compiled call, cut at every checkpoint's epoch.
    x, y = blobs(30)
    kw = dict(loss=LOSS, batch_size=None, progress=False)
    whole, whole_history = fit(linear_triple(), SGD, (x, y), steps=100, **kw)
    run = dict(checkpoint_dir=tmp_path, checkpoint_every=30, keep_checkpoints=None, **kw)
    fit(linear_triple(), SGD, (x, y), steps=45, **run)
    assert _steps(tmp_path) == [30, 45]
    resumed, history = fit(linear_triple(), SGD, (x, y), steps=100, resume=True, **run)
    assert _steps(tmp_path) == [30, 45, 60, 90, 100]
    assert_trees_equal(resumed.params, whole.params)
    np.testing.assert_array_equal(history.per_step["loss"], whole_history.per_step["loss"])
    assert history.per_epoch["step"].tolist() == list(range(1, 101))


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


# Issue 13, cases 2-6: damaged files, folders jaxtrain did not write, another seed, a second
# writer, and a file given as the directory.


def _wide_state(step=5, key=42):
    """A state whose weight (64 × 32 floats) gets an array file of its own."""
    w = jnp.asarray(np.random.default_rng(0).normal(size=(64, 32)), jnp.float32)
    return sgd_state({"w": w, "b": jnp.zeros(32, jnp.float32)}, step=step, key=key)


def _largest_file(directory):
    return max((p for p in directory.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)


def _flip(path, offsets, mask=0x01):
    data = bytearray(path.read_bytes())
    for offset in offsets:
        data[offset] ^= mask
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "damage",
    ["two bits", "ten bytes", "truncated", "deleted"],
)
def test_a_damaged_array_file_is_refused_naming_the_step_and_the_file(tmp_path, damage):
    # Before: 2 flipped bits loaded as other parameters, 10 bytes as a weight of 9.85e35; a
    # truncated file gave a page of TensorStore errors.
    save_checkpoint(tmp_path, _wide_state())
    target = _largest_file(tmp_path / "5" / "params")
    size = target.stat().st_size
    if damage == "two bits":
        _flip(target, [size // 2, size // 2 + 7])
    elif damage == "ten bytes":
        _flip(target, range(size // 2, size // 2 + 10), mask=0xFF)
    elif damage == "truncated":
        target.write_bytes(target.read_bytes()[: size // 2])
    else:
        target.unlink()
    relative = target.relative_to(tmp_path / "5").as_posix()
    with pytest.raises(CheckpointCorruptError) as caught:
        load_checkpoint(tmp_path)
    message = str(caught.value)
    assert f"{tmp_path}/5 is damaged: {relative} (item params)" in message
    assert "\n" not in message and len(message) < 400
    with pytest.raises(CheckpointCorruptError, match="item params"):
        load_checkpoint(tmp_path, _wide_state(step=0))


def test_a_damaged_json_item_or_checksum_file_is_refused(tmp_path):
    save_checkpoint(tmp_path, _wide_state(), metadata={"model": "linear"})
    meta = tmp_path / "5" / "metadata" / "metadata"
    meta.write_text(meta.read_text().replace("linear", "lineal"))
    with pytest.raises(CheckpointCorruptError, match=r"metadata/metadata \(item metadata\)"):
        load_checkpoint(tmp_path)
    (tmp_path / "5" / "jaxtrain-checksums.json").write_text("{")
    with pytest.raises(CheckpointCorruptError, match="checksum file") as caught:
        load_checkpoint(tmp_path)
    assert "load another step" in str(caught.value)


def test_a_resumed_fit_refuses_a_damaged_checkpoint(tmp_path):
    kw = dict(loss=LOSS, batch_size=8, progress=False, checkpoint_dir=tmp_path)
    fit(linear_triple(), SGD, blobs(16), epochs=1, **kw)
    _flip(_largest_file(tmp_path / "2" / "params"), [40])
    with pytest.raises(CheckpointCorruptError, match=f"{tmp_path}/2 is damaged") as caught:
        fit(linear_triple(), SGD, blobs(16), epochs=2, resume=True, **kw)
    # Its advice is one fit can follow: fit takes no step, it resumes from the newest.
    assert "move this step's folder aside to resume from the one before" in str(caught.value)


def test_steps_without_checksums_are_not_loaded(tmp_path):
    # Format 1 (no checksums) cannot be verified and is refused; a format-2 step without its
    # checksums was not completely saved and is skipped.
    save_checkpoint(tmp_path, _state(linear_params(), step=3))
    save_checkpoint(tmp_path, _state(linear_params(), step=5))
    (tmp_path / "5" / "jaxtrain-checksums.json").unlink()
    assert load_checkpoint(tmp_path).step == 3
    with pytest.raises(FileNotFoundError, match="not a complete jaxtrain checkpoint"):
        load_checkpoint(tmp_path, step=5)
    old = tmp_path / "3"
    (old / "jaxtrain-checksums.json").unlink()
    meta = old / "meta" / "metadata"
    meta.write_text(meta.read_text().replace("jaxtrain.checkpoint/2", "jaxtrain.checkpoint/1"))
    with pytest.raises(ValueError, match=r"earlier jaxtrain .* cannot be verified"):
        load_checkpoint(tmp_path)


def _foreign_folders(directory):
    folders = {}
    for name in ("1", "2", "45.orbax-checkpoint-tmp-1700000000", "7.orbax-checkpoint-tmp-99"):
        (directory / name).mkdir(parents=True)
        (directory / name / "notes.txt").write_text(name)
        folders[name] = name
    return folders


def _assert_intact(directory, folders):
    for name, text in folders.items():
        assert (directory / name / "notes.txt").read_text() == text


def test_a_directory_jaxtrain_did_not_make_is_refused_and_left_alone(tmp_path):
    # Before: save_checkpoint(d, state, keep=1) deleted the user's d/1 and d/2.
    folders = _foreign_folders(tmp_path)
    with pytest.raises(CheckpointDirectoryError, match=r"not empty .* no jaxtrain-checkpoints"):
        save_checkpoint(tmp_path, _state(linear_params()), keep=1)
    with pytest.raises(CheckpointDirectoryError, match="not empty"):
        fit(linear_triple(), SGD, blobs(8), loss=LOSS, epochs=1, batch_size=8,
            checkpoint_dir=tmp_path, progress=False)  # fmt: skip
    _assert_intact(tmp_path, folders)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(folders)


def test_only_this_run_familys_steps_are_ever_deleted(tmp_path):
    # Before: keep=1 and orbax's clean-up deleted d/1, d/2 and other programs' temporary
    # folders d/45.orbax-checkpoint-tmp-1700000000 and d/7.orbax-checkpoint-tmp-99.
    kw = dict(loss=LOSS, batch_size=8, progress=False, checkpoint_dir=tmp_path)
    fit(linear_triple(), SGD, blobs(24), epochs=1, keep_checkpoints=1, **kw)
    folders = _foreign_folders(tmp_path)
    fit(linear_triple(), SGD, blobs(24), epochs=3, keep_checkpoints=1, resume=True, **kw)
    _assert_intact(tmp_path, folders)
    assert _steps(tmp_path) == [1, 2, 9]  # the run's own 3 and 6 were deleted, keeping 9
    folders["12"] = "12"
    (tmp_path / "12").mkdir()
    (tmp_path / "12" / "notes.txt").write_text("12")
    with pytest.raises(CheckpointDirectoryError, match=r"12 exists and was not written by this"):
        fit(linear_triple(), SGD, blobs(24), epochs=5, resume=True, **kw)
    _assert_intact(tmp_path, folders)


def test_keep_never_deletes_the_step_just_saved(tmp_path):
    # Before: with steps 10, 20 and 30 kept, save_checkpoint(d, step 5, keep=3) deleted step 5
    # itself (the oldest by number) and returned the path of a folder that no longer existed.
    for step in (10, 20, 30):
        save_checkpoint(tmp_path, _state(linear_params(), step=step), keep=3)
    path = save_checkpoint(tmp_path, _state(linear_params(), step=5), keep=3)
    assert path.is_dir() and load_checkpoint(tmp_path, step=5).step == 5
    assert _steps(tmp_path) == [5, 20, 30]  # the saved step, and the newest others


@pytest.mark.skipif(not pathlib.Path("/proc/self/fd").is_dir(), reason="reads /proc/self/fd")
def test_a_step_is_on_disk_before_its_checksums_call_it_complete(tmp_path, monkeypatch):
    # The checksum file is the step's commit mark, so every file and folder of the step,
    # and the folder holding the step, are flushed to disk before it is written: orbax
    # renames a finished step into place without an fsync, and a power cut after the mark
    # could leave a "complete" step of empty files. Before: nothing of the step was flushed.
    flushed = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        flushed.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    save_checkpoint(tmp_path, _state(linear_params(), step=5))
    step = tmp_path / "5"
    mark = next(
        i
        for i, path in enumerate(flushed)
        if pathlib.Path(path).name.startswith(".jaxtrain-checksums.json.")
    )
    before = set(flushed[:mark])
    entries = {str(p) for p in step.rglob("*") if p.name != "jaxtrain-checksums.json"}
    assert entries and entries <= before, sorted(entries - before)[:3]
    assert {str(step), str(tmp_path)} <= before


def test_a_key_of_another_implementation_is_a_mismatch_not_damage():
    # Before: an rbg-key checkpoint loaded into a default-key state raised
    # CheckpointCorruptError ("cannot read ... Requested shape (2,) ... stored (4,)").
    import tempfile

    directory = tempfile.mkdtemp()
    state = _state(linear_params())
    save_checkpoint(directory, state.replace(key=jax.random.key(0, impl="rbg")))
    with pytest.raises(CheckpointMismatchError, match=r"random key .*rbg.*threefry"):
        load_checkpoint(directory, state)


def test_a_resume_with_another_seed_is_refused(tmp_path):
    # Before: the checkpoint's key silently replaced the new seed's.
    kw = dict(loss=LOSS, batch_size=8, progress=False, checkpoint_dir=tmp_path)
    fit(linear_triple(), SGD, blobs(16), epochs=1, seed=0, **kw)
    with pytest.raises(CheckpointDirectoryError, match="run with seed 0, and this run has seed 1"):
        fit(linear_triple(), SGD, blobs(16), epochs=2, seed=1, resume=True, **kw)
    with pytest.raises(CheckpointDirectoryError, match="seed 0"):
        save_checkpoint(tmp_path, _state(linear_params(), step=7))  # key 42
    assert _steps(tmp_path) == [2]


def test_a_second_writer_in_this_process_is_refused_until_the_first_closes(tmp_path):
    from jaxtrain.train._checkpoint import CheckpointWriter

    first = CheckpointWriter(tmp_path)
    first.open()
    try:
        with pytest.raises(CheckpointDirectoryError, match=rf"in use: .*\(pid {os.getpid()} on "):
            save_checkpoint(tmp_path, _state(linear_params()))
        with pytest.raises(CheckpointDirectoryError, match="in use"):
            fit(linear_triple(), SGD, blobs(8), loss=LOSS, epochs=1, batch_size=8,
                checkpoint_dir=tmp_path, resume=True, progress=False)  # fmt: skip
    finally:
        first.close()
    assert save_checkpoint(tmp_path, _state(linear_params())) == tmp_path / "5"


HOLDER = """
import fcntl, os, sys, time
handle = open(sys.argv[1], "a+")
fcntl.flock(handle, fcntl.LOCK_EX)
handle.write(f"pid {os.getpid()} on elsewhere")
handle.flush()
print("locked", flush=True)
time.sleep(60)
"""


def test_a_lock_held_by_another_process_refuses_and_a_dead_holders_lock_does_not(tmp_path):
    # Before: two processes wrote one directory; the second crashed mid-run.
    save_checkpoint(tmp_path, _state(linear_params(), step=1))
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path / "jaxtrain.lock")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(CheckpointDirectoryError, match=rf"pid {holder.pid} on elsewhere"):
            save_checkpoint(tmp_path, _state(linear_params(), step=2))
    finally:
        holder.kill()
        holder.wait(timeout=30)
    # The kernel released the dead process's lock; its pid left in the file blocks nothing.
    assert "elsewhere" in (tmp_path / "jaxtrain.lock").read_text()
    save_checkpoint(tmp_path, _state(linear_params(), step=2))
    assert load_checkpoint(tmp_path).step == 2


def test_an_interrupted_save_is_cleared_at_the_next_start(tmp_path):
    # A run killed during orbax's write leaves its temporary folder; killed after orbax's
    # commit and before the checksums, a step without them; killed while writing the
    # manifest, a temporary copy. All are this run's: removed.
    import json

    save_checkpoint(tmp_path, _state(linear_params(), step=1))
    manifest = tmp_path / "jaxtrain-checkpoints.json"
    (tmp_path / "3.orbax-checkpoint-tmp").mkdir()
    (tmp_path / "3").mkdir()
    (tmp_path / ".jaxtrain-checkpoints.json.0badc0de.tmp").write_text("{")
    written = json.loads(manifest.read_text())
    written["saving"] = {"step": 3, "since": int(time.time())}
    manifest.write_text(json.dumps(written))
    save_checkpoint(tmp_path, _state(linear_params(), step=2))
    assert _steps(tmp_path) == [1, 2]
    assert not (tmp_path / "3.orbax-checkpoint-tmp").exists()
    assert not (tmp_path / ".jaxtrain-checkpoints.json.0badc0de.tmp").exists()
    assert json.loads(manifest.read_text())["steps"] == [1, 2]


def test_a_file_as_the_checkpoint_directory_is_refused_before_any_step(tmp_path):
    # Before: fit trained the whole run, then orbax failed with a traceback.
    path = tmp_path / "file"
    path.write_text("mine")
    ran = []

    def loss(predictions, targets):
        jax.debug.callback(lambda: ran.append(1))  # when it runs: tracing it is no step
        return LOSS(predictions, targets)

    with pytest.raises(CheckpointDirectoryError, match=f"{path} is a file"):
        fit(linear_triple(), SGD, blobs(8), loss=loss, epochs=1, batch_size=8,
            checkpoint_dir=path, progress=False)  # fmt: skip
    jax.effects_barrier()
    assert not ran and path.read_text() == "mine"


@pytest.mark.parametrize("kind", ["link", "folder"])
def test_a_link_or_folder_at_the_locks_name_is_refused_and_nothing_written_through_it(
    tmp_path, kind
):
    # The lock file was opened through a link, then truncated and written: a link at its
    # name emptied the user's file it pointed to.
    precious = tmp_path / "thesis.txt"
    precious.write_text("the user's thesis\n")
    run = tmp_path / "run"
    run.mkdir()
    if kind == "link":
        os.symlink(precious, run / "jaxtrain.lock")
    else:
        (run / "jaxtrain.lock").mkdir()
    with pytest.raises(CheckpointDirectoryError, match=r"cannot be the lock file|not a regular"):
        save_checkpoint(run, _state(linear_params(), step=1))
    assert precious.read_text() == "the user's thesis\n"


def test_another_optimizer_with_the_same_leaf_paths_is_refused(tmp_path):
    # Before: Adam's and AdaBelief's states have the same leaves (count, mu, nu), and the
    # fingerprint held paths, shapes and dtypes only, so Adam's ν resumed as AdaBelief's s.
    save_checkpoint(tmp_path, _state(linear_params(), optax.adam(0.1)))
    with pytest.raises(
        CheckpointMismatchError, match="checkpoint has ScaleByAdamState, target ScaleByBeliefState"
    ):
        load_checkpoint(tmp_path, _state(linear_params(), optax.adabelief(0.1)))
    # jaxtrain's Adam keeps optax's state classes: an optax checkpoint resumes into it.
    restored = load_checkpoint(tmp_path, _state(linear_params(), jaxtrain.optim.adam(0.1)))
    assert restored.step == 5


def test_a_checkpoint_without_node_types_still_loads(tmp_path, monkeypatch):
    # Checkpoints written before the node types were recorded compare paths, shapes, dtypes.
    import jaxtrain.train._checkpoint as checkpoint_module

    monkeypatch.setattr(checkpoint_module, "node_types", lambda tree: None)
    save_checkpoint(tmp_path, _state(linear_params(), optax.adam(0.1)))
    monkeypatch.undo()
    restored = load_checkpoint(tmp_path, _state(linear_params(), optax.adabelief(0.1)))
    assert restored.step == 5
