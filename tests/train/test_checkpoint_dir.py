"""A checkpoint directory under faults and hostile contents: nothing of the user's is lost.

Each test reproduces a finding of a fault-injection review (the state before the fix is
in its comment): links, forged or special manifests, a save that fails part way, two runs
sharing a folder, files added to a step after it was saved.
"""

import json
import os
import pathlib
import shutil
import signal

import jax
import jax.numpy as jnp
import pytest
from train_problems import sgd_state

from jaxtrain.train import (
    CheckpointCorruptError,
    CheckpointDirectoryError,
    load_checkpoint,
    save_checkpoint,
)
from jaxtrain.train import _checkpoint as checkpoint_module
from jaxtrain.train._checkpoint_dir import MANIFEST
from jaxtrain.train._checksums import CHECKSUMS


def _state(params=None, step=5):
    return sgd_state(params, step=step)


class _Hung(BaseException):
    """Raised in a blocked read: no ``except OSError`` on the way may swallow it."""


@pytest.fixture
def no_hang():
    """Fails a test that blocks (a FIFO read) instead of hanging the suite."""

    def expire(*_):
        raise _Hung("blocked for 10 s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(10)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def test_keep_removes_a_linked_step_without_touching_what_it_links_to(tmp_path):
    # Before: the step's checksum file was deleted through the link, in the user's archive,
    # and rmtree then failed with "Cannot call rmtree on a symbolic link".
    folder, archive = tmp_path / "run", tmp_path / "archive"
    for step in (1, 2):
        save_checkpoint(folder, _state(step=step))
    archive.mkdir()
    shutil.move(folder / "1", archive / "1")
    (folder / "1").symlink_to(archive / "1")
    save_checkpoint(folder, _state(step=3), keep=1)
    assert not (folder / "1").exists() and not (folder / "1").is_symlink()
    assert (archive / "1" / CHECKSUMS).is_file()
    assert load_checkpoint(archive, _state()).step == 1


def test_a_resave_that_fails_keeps_the_step_it_was_replacing(tmp_path, monkeypatch):
    # Before: the old step was deleted first, so a failed save left no step 5 at all.
    save_checkpoint(tmp_path, _state(step=5))

    def fails(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(checkpoint_module, "_checkpointer", lambda: _Failing(fails))
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(tmp_path, _state(step=5))
    monkeypatch.undo()
    assert load_checkpoint(tmp_path, _state()).step == 5
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("jaxtrain")) == ["5"]


def test_a_resave_killed_part_way_is_undone_by_the_next_writer(tmp_path):
    save_checkpoint(tmp_path, _state(step=5))
    # What a kill after the old step was set aside, before the new one was committed, leaves.
    directory = checkpoint_module.CheckpointDirectory(tmp_path)
    directory.open()
    directory.claim(checkpoint_module.run_identity(jax.random.key(42), None))
    directory.begin_save(5)
    directory.close()
    assert not (tmp_path / "5").exists()
    save_checkpoint(tmp_path, _state(step=6))
    assert load_checkpoint(tmp_path, _state(), step=5).step == 5


class _Failing:
    def __init__(self, save):
        self.save = save

    def close(self):
        pass


def test_another_model_with_the_same_seed_cannot_share_a_folder(tmp_path):
    # Before: the run's identity was its random key only, so a different model saved with the
    # same (default) seed replaced the first run's steps, and keep=1 deleted them.
    for step in (100, 200):
        save_checkpoint(tmp_path, _state(step=step))
    wider = {"w": jnp.zeros((4, 7)), "b": jnp.zeros(7)}
    with pytest.raises(CheckpointDirectoryError, match="another model or optimizer"):
        save_checkpoint(tmp_path, _state(wider, step=300), keep=1)
    assert load_checkpoint(tmp_path, _state(), step=100).step == 100
    assert load_checkpoint(tmp_path, _state()).step == 200


def test_keep_deletes_only_folders_that_are_checkpoint_steps(tmp_path):
    # Before: a manifest listing a user's numbered folders (forged, or copied) had them
    # deleted by keep=1, with their files.
    save_checkpoint(tmp_path, _state(step=5))
    for name in ("1", "2"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.csv").write_text("mine")
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    manifest["steps"] = [1, 2, 5]
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    save_checkpoint(tmp_path, _state(step=6), keep=1)
    assert (tmp_path / "1" / "results.csv").read_text() == "mine"
    assert (tmp_path / "2" / "results.csv").read_text() == "mine"


def test_a_linked_or_special_manifest_is_not_trusted(tmp_path, no_hang):
    # Before: a link at the manifest's name was read as the folder's own manifest, and a
    # FIFO there blocked every save and load forever.
    elsewhere = tmp_path / "elsewhere"
    save_checkpoint(elsewhere, _state(step=5))
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / MANIFEST).symlink_to(elsewhere / MANIFEST)
    with pytest.raises(CheckpointDirectoryError, match="not a regular file"):
        save_checkpoint(linked, _state(step=6))
    fifo = tmp_path / "fifo"
    fifo.mkdir()
    os.mkfifo(fifo / MANIFEST)
    with pytest.raises(CheckpointDirectoryError, match="not a regular file"):
        save_checkpoint(fifo, _state(step=6))


def test_a_fifo_in_place_of_a_saved_file_is_damage_not_a_hang(tmp_path, no_hang):
    save_checkpoint(tmp_path, _state(step=5))
    recorded = json.loads((tmp_path / "5" / CHECKSUMS).read_text())["files"]
    name = next(n for n in recorded if n.startswith("params/"))
    (tmp_path / "5" / name).unlink()
    os.mkfifo(tmp_path / "5" / name)
    with pytest.raises(CheckpointCorruptError, match="not a regular file"):
        load_checkpoint(tmp_path, _state())


def test_files_added_to_a_step_after_it_was_saved_are_refused(tmp_path):
    # Before: a history folder copied into a step saved without one was loaded as its
    # history (and resumed from), and extra files among the arrays were ignored.
    save_checkpoint(tmp_path / "with", _state(step=5), history=checkpoint_module.History())
    save_checkpoint(tmp_path / "without", _state(step=5))
    shutil.copytree(tmp_path / "with" / "5" / "history", tmp_path / "without" / "5" / "history")
    with pytest.raises(
        CheckpointCorruptError,
        match=r"history/\S+ \(item history\) was not there when it was saved",
    ):
        load_checkpoint(tmp_path / "without", _state())
    shutil.rmtree(tmp_path / "without" / "5" / "history")
    (tmp_path / "without" / "5" / "params" / "junk").write_text("x")
    with pytest.raises(CheckpointCorruptError, match=r"params/junk \(item params\) was not there"):
        load_checkpoint(tmp_path / "without", _state())


@pytest.mark.parametrize(
    "entry", [7, {"size": "12", "sha256": "0" * 64}, {"size": 12}, {"size": 12, "sha256": 3}]
)
def test_a_malformed_checksum_entry_is_damage(tmp_path, entry):
    # Before: AttributeError ('int' object has no attribute 'get') or a format ValueError.
    save_checkpoint(tmp_path, _state(step=5))
    path = tmp_path / "5" / CHECKSUMS
    record = json.loads(path.read_text())
    first = next(iter(record["files"]))
    record["files"][first] = entry
    path.write_text(json.dumps(record))
    with pytest.raises(CheckpointCorruptError, match="checksum file"):
        load_checkpoint(tmp_path, _state())


def test_a_lock_file_that_cannot_be_opened_says_why(tmp_path, monkeypatch):
    # Before: every failure to open the lock file read "it is a link or a folder".
    real_open = os.open

    def refuse(path, *args, **kwargs):
        if pathlib.Path(path).name == "jaxtrain.lock":
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(CheckpointDirectoryError) as error:
        save_checkpoint(tmp_path, _state(step=5))
    assert "Permission denied" in str(error.value) and "link" not in str(error.value)


def test_a_manifest_that_cannot_be_written_is_one_line_naming_the_folder(tmp_path, monkeypatch):
    from jaxtrain.train import _checkpoint_dir

    def refuse(path, text):
        raise PermissionError(13, "Permission denied", f"{path}.1234abcd.tmp")

    monkeypatch.setattr(_checkpoint_dir, "write_atomically", refuse)
    with pytest.raises(CheckpointDirectoryError, match=f"cannot write {MANIFEST} in {tmp_path}"):
        save_checkpoint(tmp_path, _state(step=5))


def test_an_object_store_path_saves_resaves_and_loads(tmp_path, monkeypatch):
    # Before: the new link checks called is_symlink(), which etils.epath's paths (what a
    # gs:// URL becomes) do not have: every save and load failed with AttributeError. A local
    # epath.Path is the same class as gs://'s.
    from etils import epath

    monkeypatch.setattr(checkpoint_module, "as_path", lambda directory: epath.Path(directory))
    save_checkpoint(tmp_path, _state(step=5))
    save_checkpoint(tmp_path, _state(step=5))  # a step saved again
    save_checkpoint(tmp_path, _state(step=6), keep=1)
    assert load_checkpoint(tmp_path, _state()).step == 6


def test_a_file_beside_the_items_is_not_damage(tmp_path):
    # Before: any unrecorded top-level file (Finder's .DS_Store) refused the whole step.
    save_checkpoint(tmp_path, _state(step=5))
    (tmp_path / "5" / ".DS_Store").write_bytes(b"\0")
    assert load_checkpoint(tmp_path, _state()).step == 5


def test_a_replaced_step_left_by_a_kill_after_the_commit_is_cleared(tmp_path):
    # Before: a kill after the new step was recorded, before the old copy was deleted, left
    # the copy for good, and the next save of that step was refused as "not this run's".
    save_checkpoint(tmp_path, _state(step=5))
    shutil.copytree(tmp_path / "5", tmp_path / "5.jaxtrain-replaced")
    save_checkpoint(tmp_path, _state(step=5))
    assert not (tmp_path / "5.jaxtrain-replaced").exists()
    assert load_checkpoint(tmp_path, _state()).step == 5


def test_a_fifo_in_a_step_without_checksums_is_not_a_hang(tmp_path, no_hang):
    # A step folder with no checksums is looked into for its format (an old checkpoint);
    # a FIFO at its metadata's name blocked that read forever.
    (tmp_path / "7" / "meta").mkdir(parents=True)
    os.mkfifo(tmp_path / "7" / "meta" / "metadata")
    with pytest.raises((FileNotFoundError, ValueError)):
        load_checkpoint(tmp_path)


def test_read_metadata_reads_no_array(tmp_path, monkeypatch):
    # The command line read a whole step (every array hashed and loaded) only for its
    # metadata, then loaded the same step again.
    save_checkpoint(tmp_path, _state(step=5), metadata={"model": "linear"})
    read = []
    real = checkpoint_module._restore
    monkeypatch.setattr(
        checkpoint_module,
        "_restore",
        lambda c, d, args, n: read.append(set(args)) or real(c, d, args, n),
    )
    assert checkpoint_module.read_metadata(tmp_path) == (5, {"model": "linear"})
    assert read == [{"meta", "metadata"}]


def test_only_this_run_s_set_aside_steps_are_settled(tmp_path):
    # A stray "<digits>.jaxtrain-replaced" (not of a step this run saved, or not spelt as
    # jaxtrain spells it) is someone else's: before, it was renamed over a user's "9" folder
    # (deleting it) and step 9 joined the manifest.
    save_checkpoint(tmp_path, _state(step=5))
    (tmp_path / "9").mkdir()
    (tmp_path / "9" / "notes.txt").write_text("mine")
    (tmp_path / "9.jaxtrain-replaced").mkdir()
    (tmp_path / "007.jaxtrain-replaced").mkdir()
    save_checkpoint(tmp_path, _state(step=6))
    assert (tmp_path / "9" / "notes.txt").read_text() == "mine"
    assert (tmp_path / "9.jaxtrain-replaced").is_dir()
    assert (tmp_path / "007.jaxtrain-replaced").is_dir()
    assert json.loads((tmp_path / MANIFEST).read_text())["steps"] == [5, 6]


class _Killed(BaseException):
    """A kill part way through deleting a step (no handler of the library runs)."""


def _cut_short(step_dir):
    # What a kill in the middle of rmtree leaves: some of the step's files gone, others not.
    (step_dir / CHECKSUMS).unlink(missing_ok=True)
    (step_dir / "_CHECKPOINT_METADATA").unlink()
    shutil.rmtree(step_dir / "params")


def _entries(folder):
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("jaxtrain"))


@pytest.mark.parametrize("deleted", ["an old step", "a step saved again"])
def test_a_deletion_killed_part_way_is_finished_by_the_next_writer(tmp_path, monkeypatch, deleted):
    # Before: the half-deleted folder no longer looked like a step, so the next writer only
    # dropped it from the manifest and it stayed for good (a step saved again was refused
    # from then on: its half-deleted "5.jaxtrain-replaced" was "not written by this run").
    from jaxtrain.train import _checkpoint_dir

    for step in (4, 5):
        save_checkpoint(tmp_path, _state(step=step))

    def killed(path):
        _cut_short(path)
        raise _Killed

    monkeypatch.setattr(_checkpoint_dir, "_remove_tree", killed)
    with pytest.raises(_Killed):
        if deleted == "an old step":
            save_checkpoint(tmp_path, _state(step=6), keep=2)
        else:
            save_checkpoint(tmp_path, _state(step=5))
    monkeypatch.undo()
    save_checkpoint(tmp_path, _state(step=5))
    assert _entries(tmp_path) == (["5", "6"] if deleted == "an old step" else ["4", "5"])
    assert json.loads((tmp_path / MANIFEST).read_text())["steps"] == [
        int(s) for s in _entries(tmp_path)
    ]


def test_a_step_an_older_version_left_half_deleted_is_removed_if_still_listed(tmp_path):
    # An older jaxtrain deleted in place, checksums first, and forgot the step only after: a
    # kill in between left a listed folder holding only some of a step's items. One the
    # manifest no longer lists cannot be told from a user's copy of a step, and stays.
    for step in (1, 2, 3):
        save_checkpoint(tmp_path, _state(step=step))
    _cut_short(tmp_path / "1")
    shutil.copytree(tmp_path / "1", tmp_path / "7")
    save_checkpoint(tmp_path, _state(step=4))
    assert _entries(tmp_path) == ["2", "3", "4", "7"]
    assert json.loads((tmp_path / MANIFEST).read_text())["steps"] == [2, 3, 4]


def test_a_folder_named_for_deletion_of_a_step_not_yet_saved_is_someone_elses(tmp_path):
    # The next writer deletes "<step>.jaxtrain-deleting" of its own steps: one there before
    # the step was saved would have gone with it.
    save_checkpoint(tmp_path, _state(step=5))
    (tmp_path / "9.jaxtrain-deleting").mkdir()
    (tmp_path / "9.jaxtrain-deleting" / "notes.txt").write_text("mine")
    with pytest.raises(CheckpointDirectoryError, match=r"9\.jaxtrain-deleting exists and was not"):
        save_checkpoint(tmp_path, _state(step=9))
    save_checkpoint(tmp_path, _state(step=6), keep=1)
    assert (tmp_path / "9.jaxtrain-deleting" / "notes.txt").read_text() == "mine"


def _below_a_file(tmp):
    (tmp / "a-file").write_text("")
    return tmp / "a-file" / "sub"


def _dangling_link(tmp):
    (tmp / "link").symlink_to(tmp / "missing")
    return tmp / "link"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_below_a_file, "a-file is a file, not a folder"),  # "[Errno 20] Not a directory"
        (_dangling_link, "link is a symbolic link to"),  # "[Errno 17] File exists"
    ],
    ids=["below-a-file", "dangling-link"],
)
def test_a_directory_that_cannot_be_made_says_why(tmp_path, make, message):
    with pytest.raises(CheckpointDirectoryError, match=f"cannot make the checkpoint .*{message}"):
        save_checkpoint(make(tmp_path), _state(step=5))
