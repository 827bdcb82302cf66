"""A checkpoint directory that jaxtrain owns: its manifest, its lock, and which steps are its own.

jaxtrain writes checkpoints only into a directory that is new, empty, or marked as its own by
a manifest, ``jaxtrain-checkpoints.json``, which records the run's identity (its random key,
its seed when it was an int, and a digest of its trees' structure), the steps this run family
saved, and the step being saved (a step saved again waits beside it as ``<step>.jaxtrain-replaced``
until the new one has committed).
Only those steps are ever deleted (to keep the newest ``keep``, or to replace a step): a
folder someone else put there, whether a step-like ``d/7`` or an orbax temporary folder of
another program, is left alone. orbax's own clean-up is never used for that reason: its
``CheckpointManager`` deletes every numbered folder beyond ``max_to_keep`` and every
``*.orbax-checkpoint-tmp*`` folder it finds. A step is deleted by renaming it to
``<step>.jaxtrain-deleting`` first, so that a deletion cut short leaves a folder the next
writer knows to finish deleting, not half a step that no one can tell from a user's folder.

A writer holds the directory's lock, an exclusive ``fcntl.flock`` on ``jaxtrain.lock`` (which
names the holder's pid and host), from :meth:`CheckpointDirectory.open` to
:meth:`CheckpointDirectory.close`; a second writer is refused at once. The kernel drops the
lock when its holder exits or is killed, so a lock file left by a dead process never blocks
anyone; the file itself stays (deleting it could let two writers lock different files). An
object store (``gs://``) has no such lock: there, as on a platform without ``fcntl``, one
writer at a time is the caller's business. With several processes, only process 0 locks,
writes the manifest and deletes; the others read. Process 0's outcome reaches every process
before any goes on (``_processes.together``, which also stands for a barrier): a directory or
a step that process 0 refuses is refused by every process, with its message, and none waits
for it forever.
"""

from __future__ import annotations

import errno
import json
import os
import pathlib
import re
import shutil
import socket
import stat
import time
from typing import Any

import jax
import numpy as np

from jaxtrain._atomic import CLOEXEC, NOFOLLOW, is_leftover, write_atomically
from jaxtrain._output_dir import dangling_link, nearest_existing
from jaxtrain._regular_file import NotRegularFileError, is_link, open_regular
from jaxtrain._text import listed
from jaxtrain.train._checksums import CHECKSUMS, has_checksums, write_checksums
from jaxtrain.train._errors import CheckpointDirectoryError
from jaxtrain.train._processes import together

__all__ = ["LOCK", "MANIFEST", "CheckpointDirectory", "run_identity"]

MANIFEST = "jaxtrain-checkpoints.json"
LOCK = "jaxtrain.lock"
_FORMAT = "jaxtrain.checkpoint-directory/1"
# orbax's temporary folder of a step being saved: "<step>.orbax-checkpoint-tmp", and in
# older versions "<step>.orbax-checkpoint-tmp-<unix time>".
_ORBAX_TMP = re.compile(r"(\d+)\.orbax-checkpoint-tmp(?:-(\d+))?")
# The file orbax writes into every step it saves.
_ORBAX_MARK = "_CHECKPOINT_METADATA"
# Where a step being saved again waits until the new one has committed.
_REPLACED = ".jaxtrain-replaced"
# What a step (or a step set aside) is renamed to before it is deleted.
_DELETING = ".jaxtrain-deleting"


def run_identity(key: jax.Array, seed: int | None, structure: str | None = None) -> dict[str, Any]:
    """What makes two checkpoints the same run's: its random key (``seed`` is for messages)
    and the structure of what it trains (a digest of the model's and optimizer's trees: two
    models trained from the same default seed are two runs)."""
    return {
        "seed": seed,
        "key_impl": str(jax.random.key_impl(key)),
        "key_data": np.asarray(jax.device_get(jax.random.key_data(key))).ravel().tolist(),
        "structure": structure,
    }


def _same_key(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return (a["key_impl"], a["key_data"]) == (b["key_impl"], b["key_data"])


def _same_structure(a: dict[str, Any], b: dict[str, Any]) -> bool:
    # Manifests written before the structure was recorded say nothing of it.
    first, second = a.get("structure"), b.get("structure")
    return first is None or second is None or first == second


def _seed_text(identity: dict[str, Any]) -> str:
    seed = identity.get("seed")
    return f"seed {seed}" if seed is not None else "a random key given as seed"


def _remove_tree(path: Any) -> None:
    if isinstance(path, pathlib.Path):
        shutil.rmtree(path)
    else:
        path.rmtree()


def _deleting(step_dir: Any) -> Any:
    return step_dir.parent / f"{step_dir.name}{_DELETING}"


def _remove_step(step_dir: Any) -> None:
    """Deletes a step so that a deletion cut short (a kill, a full disk) is finished by the
    next writer (:meth:`CheckpointDirectory._recover`).

    A local step is first renamed to ``<name>.jaxtrain-deleting`` (one atomic rename): half
    of its files, with neither checksums nor orbax's mark, could otherwise not be told from
    a user's folder, and would stay for good. An object store renames object by object, no
    safer: there the checksums go first, so a step cut short never looks complete. A link at
    the step's name (a step moved elsewhere and linked back) is removed alone: what it points
    to is the user's."""
    if is_link(step_dir):
        step_dir.unlink()
        return
    if isinstance(step_dir, pathlib.Path):
        # One renamed already (by a deletion cut short) is deleted where it is.
        if not step_dir.name.endswith(_DELETING):
            step_dir = step_dir.rename(_deleting(step_dir))
    elif (step_dir / CHECKSUMS).exists():
        (step_dir / CHECKSUMS).unlink()
    _remove_tree(step_dir)


def _is_step(step_dir: Any) -> bool:
    """Whether ``step_dir`` is a checkpoint step (complete, or one a killed save or deletion
    left): only such folders are deleted, whatever a manifest lists."""
    return is_link(step_dir) or has_checksums(step_dir) or (step_dir / _ORBAX_MARK).is_file()


class CheckpointDirectory:
    """The directory's manifest and lock, for one writer (``fit`` or ``save_checkpoint``).

    Args:
      path: the directory (a ``pathlib.Path``, or an ``etils.epath.Path`` for a URL).
    """

    def __init__(self, path: Any):
        self.path = path
        self._primary = jax.process_index() == 0
        self._lock: Any = None
        self._manifest: dict[str, Any] | None = None

    @property
    def is_open(self) -> bool:
        return self._manifest is not None

    def open(self) -> None:
        """Checks the path, takes the lock, reads the manifest and clears an interrupted save.

        Creates the directory and its manifest when the directory is new or empty.

        Raises:
          CheckpointDirectoryError: the path is a file; the directory holds files but no
            manifest; or another process holds the lock. With several processes, on every
            one (process 0 checks, and its outcome reaches them all before any goes on); and
            where another process does not see the directory process 0 made.
        """
        together(self._open_primary if self._primary else lambda: None)
        # The others read what process 0 wrote, inside the exchange: a folder where one of
        # them finds nothing (or a damaged manifest) is on its own disk, not shared, and
        # every process refuses it (none waits for it).
        together(lambda: None if self._primary else self._read_shared())

    def _read_shared(self) -> None:
        self._manifest = self._read()
        if self._manifest is None:
            raise CheckpointDirectoryError(
                f"the checkpoint directory {self.path} is not shared: process 0 made it, but "
                f"this process finds no {MANIFEST} there; give a directory every process "
                "reaches (a shared file system, or a bucket such as gs://...)"
            )

    def _open_primary(self) -> None:
        """Process 0's part of :meth:`open` (the whole of it with one process)."""
        path = self.path
        if path.exists() and not path.is_dir():
            raise CheckpointDirectoryError(
                f"the checkpoint directory {path} is a file; give a directory (it is created "
                "if missing)"
            )
        if path.is_dir() and not (path / MANIFEST).exists():
            others = sorted(
                p.name
                for p in path.iterdir()
                if p.name != LOCK and not is_leftover(p.name, MANIFEST)
            )
            if others:
                shown = ", ".join(others[:5])
                if len(others) > 5:
                    shown += f" and {len(others) - 5} more"
                raise CheckpointDirectoryError(
                    f"{path} is not empty ({shown}) and is not a jaxtrain checkpoint "
                    f"directory (it has no {MANIFEST}); jaxtrain writes checkpoints only into "
                    "a new or empty directory, or one it made: choose another"
                )
        _make_directory(path)
        self._lock = _take_lock(path)
        self._manifest = self._read() or {
            "format": _FORMAT,
            "identity": None,
            "steps": [],
            "saving": None,
        }
        self._recover()
        self._write()

    def steps(self) -> list[int]:
        """The steps this run family saved completely, oldest first."""
        return [s for s in self._manifest["steps"] if has_checksums(self.path / str(s))]

    def claim(self, identity: dict[str, Any]) -> None:
        """Makes the directory this run's, unless it holds another run's checkpoints.

        Raises:
          CheckpointDirectoryError: the directory's checkpoints are of a run with another key
            (another seed): continuing from them would not be this run.
        """
        recorded = self._manifest.get("identity")
        steps = self.steps()
        if recorded is not None and steps and not _same_key(recorded, identity):
            raise CheckpointDirectoryError(
                f"the checkpoints in {self.path} ({listed(steps, 'step')}) are of a run with "
                f"{_seed_text(recorded)}, and this run has {_seed_text(identity)}: continue "
                "with the same seed, or use a new directory"
            )
        if recorded is not None and steps and not _same_structure(recorded, identity):
            raise CheckpointDirectoryError(
                f"the checkpoints in {self.path} ({listed(steps, 'step')}) are of a run of "
                "another model or optimizer (the structure of their trees differs from this "
                "state's): use a new directory"
            )
        if recorded is None or not steps or recorded.get("structure") is None:
            self._manifest["identity"] = identity
            self._write()

    def begin_save(self, step: int) -> Any:
        """Clears the way for step ``step`` and marks it as being saved; returns its folder.

        An earlier checkpoint of the same step by this run is replaced.

        Raises:
          CheckpointDirectoryError: a folder of that step, orbax's temporary folder for it,
            or a folder of the names a replacing or a deletion of it moves it to, exists and
            was not written by this run family. With several processes, on every one.
        """
        step_dir = self.path / str(step)
        # The others wait for process 0's outcome here, not in orbax's save, where a step
        # process 0 refused would leave them waiting for it forever.
        together(lambda: self._begin_save_primary(step, step_dir) if self._primary else None)
        return step_dir

    def _begin_save_primary(self, step: int, step_dir: Any) -> None:
        """Process 0's part of :meth:`begin_save`."""
        if step_dir.exists() and step not in self._manifest["steps"]:
            raise CheckpointDirectoryError(
                f"cannot save step {step}: {step_dir} exists and was not written by this "
                "run; move it away, or use another directory"
            )
        foreign = self._temporary_folders(step)
        # A set-aside folder of a step not yet this run family's is someone else's: the
        # recovery would settle (or delete) it once the step is.
        set_aside = [self._replaced(step), *self._being_deleted(step)]
        foreign += [p for p in set_aside if p.exists() or is_link(p)]
        if foreign:
            raise CheckpointDirectoryError(
                f"cannot save step {step}: {foreign[0]} exists and was not written by this "
                "run; move it away, or use another directory"
            )
        # Marked first: a run killed from here on leaves a step the next writer knows is
        # its own, and clears; a step saved again is set aside, not deleted, until the
        # new one has committed (a save that fails keeps the old one).
        self._manifest["saving"] = {"step": step, "since": int(time.time())}
        if step in self._manifest["steps"]:
            self._manifest["steps"].remove(step)
        self._write()
        if isinstance(step_dir, pathlib.Path) and (step_dir.exists() or is_link(step_dir)):
            step_dir.rename(self._replaced(step))
        elif step_dir.exists():
            # An object store renames a folder object by object, no faster or safer than
            # writing it again: there the old step goes first, as it always did.
            _remove_step(step_dir)

    def abort_save(self, step: int) -> None:
        """Undoes :meth:`begin_save` after a save that failed: the half-written step goes, a
        step it was replacing comes back."""
        if self._primary:
            self._recover()
            self._write()

    def end_save(self, step: int, *, keep: int | None) -> None:
        """Records the checksums of step ``step`` committed by orbax and the step as saved,
        then deletes this run's oldest steps beyond ``keep`` (never ``step`` itself).

        Every process returns with the same manifest: the others wait for process 0's and
        read it, so they agree on which steps exist (a step one process thinks missing would
        make it save alone, and wait forever for the others); an error of process 0's is
        raised by every process."""
        together(lambda: self._record_save(step, keep=keep) if self._primary else None)
        if not self._primary:
            self._manifest = self._read()

    def _record_save(self, step: int, *, keep: int | None) -> None:
        write_checksums(self.path / str(step))
        self._manifest["steps"] = sorted({*self._manifest["steps"], step})
        self._manifest["saving"] = None
        self._write()
        self._clear_replaced({step})
        if keep is not None:
            # The step just saved stays even where it is the oldest (a run continued from an
            # earlier step): its caller is about to be handed its folder.
            others = [s for s in self._manifest["steps"] if s != step]
            for old in others[: max(len(others) - (keep - 1), 0)]:
                # Deleted before it leaves the manifest: a run killed in between leaves a step
                # that the next writer still knows is its own. A folder that is no step (one
                # a damaged or forged manifest lists) only leaves the manifest.
                if _is_step(self.path / str(old)):
                    _remove_step(self.path / str(old))
                self._manifest["steps"].remove(old)
                self._write()

    def close(self) -> None:
        """Releases the lock (the lock file stays)."""
        if self._lock is not None:
            _release_lock(self._lock)
            self._lock = None

    def _read(self) -> dict[str, Any] | None:
        manifest_path = self.path / MANIFEST
        if not (manifest_path.exists() or is_link(manifest_path)):
            return None
        try:
            with open_regular(manifest_path) as handle:
                manifest = json.loads(handle.read())
            if manifest.get("format") != _FORMAT:
                raise ValueError(manifest.get("format"))
            steps = [int(s) for s in manifest["steps"]]
        except NotRegularFileError as error:
            raise CheckpointDirectoryError(
                f"{manifest_path} is {error.strerror}: jaxtrain reads its own manifest only; "
                "use another directory"
            ) from None
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            raise CheckpointDirectoryError(
                f"{manifest_path} is not a jaxtrain checkpoint manifest ({_FORMAT}) or is "
                "damaged; use another directory"
            ) from None
        return {**manifest, "steps": sorted(steps)}

    def _write(self) -> None:
        if self._primary:
            text = json.dumps(self._manifest, indent=1, sort_keys=True)
            try:
                write_atomically(self.path / MANIFEST, text + "\n")
            except OSError as error:
                raise CheckpointDirectoryError(
                    f"cannot write {MANIFEST} in {self.path} ({error.strerror or error}); "
                    "use a directory you can write"
                ) from None

    def _replaced(self, step: int) -> Any:
        return self.path / f"{step}{_REPLACED}"

    def _being_deleted(self, step: int) -> list[Any]:
        """The names that a deletion of ``step``, or of the copy a save set aside, renames
        its folder to."""
        return [_deleting(self.path / str(step)), _deleting(self._replaced(step))]

    def _finish_deletions(self, owned: set[int]) -> None:
        """Deletes the folders of the steps of ``owned`` (this run family's) that a deletion
        cut short left renamed for deletion."""
        for step in sorted(owned):
            for folder in self._being_deleted(step):
                if is_link(folder) or folder.is_dir():
                    _remove_step(folder)

    def _remove_cut_short_steps(self) -> None:
        """Deletes each listed step that an older jaxtrain, which deleted in place (checksums
        first) and forgot the step only after, left with only some of its items.

        Such a step is told by what it still holds: neither checksums nor orbax's mark (one
        that has either is deleted by ``keep`` as before), and every entry one that this run's
        complete steps hold too (a user's folder that a forged manifest lists holds files of
        its own, and stays). A folder the manifest does not list is never deleted: the
        remains of a deletion are any part of a step, down to an empty folder, and cannot be
        told from a step a user is copying in, or moved back from elsewhere.
        """
        listed = [self.path / str(step) for step in self._manifest["steps"]]
        complete = [step_dir for step_dir in listed if has_checksums(step_dir)]
        layout = {entry.name for step_dir in complete for entry in step_dir.iterdir()}
        for step_dir in listed:
            if (
                step_dir.is_dir()
                and not _is_step(step_dir)
                and all(entry.name in layout for entry in step_dir.iterdir())
            ):
                _remove_step(step_dir)

    def _clear_replaced(self, owned: set[int]) -> None:
        """Settles each step of ``owned`` (this run family's) that a save set aside while
        replacing it: gone where the new one is complete, back where the new one never
        committed (a run killed between the two, or a save that failed). A folder of that
        name for any other step, or not a checkpoint step, is someone else's: left alone."""
        for step in sorted(owned):
            replaced, step_dir = self._replaced(step), self.path / str(step)
            if not (replaced.exists() or is_link(replaced)) or not _is_step(replaced):
                continue
            if step_dir.is_dir() and has_checksums(step_dir):
                _remove_step(replaced)
            elif not step_dir.exists() or _is_step(step_dir):
                if step_dir.exists():
                    _remove_step(step_dir)
                replaced.rename(step_dir)
                self._manifest["steps"] = sorted({*self._manifest["steps"], step})

    def _temporary_folders(self, step: int, since: int | None = None) -> list[Any]:
        """orbax's temporary folders of ``step``; with ``since``, only those this run's save
        begun at ``since`` can have made."""
        found = []
        for entry in self.path.iterdir():
            match = _ORBAX_TMP.fullmatch(entry.name)
            if match and int(match[1]) == step:
                made = match[2]
                if since is None or made is None or int(made) >= since:
                    found.append(entry)
        return found

    def _recover(self) -> None:
        """Finishes the bookkeeping of a save that was killed, finishes deletions that were
        cut short, and forgets deleted steps.

        The step being saved is this run family's: a complete one (its checksums recorded)
        joins the steps, an incomplete one and orbax's temporary folder of it are deleted,
        and so are temporary copies of the manifest that a killed write left; a step a save
        set aside is settled (:meth:`_clear_replaced`); what a deletion left of a step is
        deleted (:meth:`_finish_deletions`, :meth:`_remove_cut_short_steps`).
        """
        for entry in self.path.iterdir():
            if is_leftover(entry.name, MANIFEST):
                entry.unlink()
        saving = self._manifest.get("saving")
        owned = set(self._manifest["steps"]) | ({int(saving["step"])} if saving else set())
        # First: a folder renamed for deletion may hold the name a step's deletion below needs.
        self._finish_deletions(owned)
        if saving is not None:
            step, since = int(saving["step"]), int(saving["since"])
            step_dir = self.path / str(step)
            if step_dir.is_dir():
                if has_checksums(step_dir):
                    self._manifest["steps"] = sorted({*self._manifest["steps"], step})
                else:
                    _remove_step(step_dir)
            for folder in self._temporary_folders(step, since):
                _remove_tree(folder)
            self._manifest["saving"] = None
        self._clear_replaced(owned)
        self._remove_cut_short_steps()
        self._manifest["steps"] = [
            s for s in self._manifest["steps"] if (self.path / str(s)).is_dir()
        ]


def _take_lock(path: Any) -> Any:
    """An open lock file of ``path`` holding its exclusive flock, or ``None`` where there is no
    such lock (an object store, a platform without ``fcntl``).

    Raises:
      CheckpointDirectoryError: another process (or another writer in this one) holds it.
    """
    try:
        import fcntl
    except ImportError:
        return None
    if not isinstance(path, pathlib.Path):
        return None
    # Never through a link: the lock file is truncated and written (a link at its name would
    # empty the file it points to).
    try:
        descriptor = os.open(path / LOCK, os.O_RDWR | os.O_CREAT | NOFOLLOW | CLOEXEC, 0o666)
    except OSError as error:
        why = {errno.ELOOP: ": it is a link", errno.EISDIR: ": it is a folder"}.get(error.errno)
        raise CheckpointDirectoryError(
            f"{path / LOCK} cannot be the lock file ({error.strerror or error})"
            + (f"{why}; remove it, or use another directory" if why else "; use another directory")
        ) from None
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise CheckpointDirectoryError(
            f"{path / LOCK} is not a regular file; remove it, or use another directory"
        )
    handle = os.fdopen(descriptor, "r+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise CheckpointDirectoryError(
            f"{path} is in use: another jaxtrain writer holds its lock {LOCK} ({holder}); wait "
            "for it to finish, or use another directory"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
    handle.flush()
    return handle


def _make_directory(path: Any) -> None:
    """``path`` made with its parents, or refused saying why in words (the system's "File
    exists" for a link to nothing, "Not a directory" for a path below a file)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        reason = error.strerror or str(error)
        if isinstance(path, pathlib.Path):
            link = dangling_link(path)
            start = nearest_existing(path)
            if link is not None:
                reason = f"{link[0]} is a symbolic link to {link[1]}, which does not exist"
            elif not start.is_dir():
                reason = f"{start} is a file, not a folder"
        raise CheckpointDirectoryError(
            f"cannot make the checkpoint directory {path}: {reason}; choose another"
        ) from None


def _release_lock(handle: Any) -> None:
    import fcntl

    # Emptied first, so the file never names a writer that is gone.
    handle.seek(0)
    handle.truncate()
    handle.flush()
    fcntl.flock(handle, fcntl.LOCK_UN)
    handle.close()
