"""The SHA-256 of every file of a checkpoint step, recorded once it is saved, checked before a load.

orbax commits a step atomically, but nothing checks it when it is read back: TensorStore
verifies its own index nodes, not the array data, so a flipped bit in a step loads as a
different weight, and a cut-short file gives a page of TensorStore errors. Once orbax has
committed a step, jaxtrain records the size and SHA-256 of each of its files in
``<step>/jaxtrain-checksums.json``; before orbax opens any of them, :func:`verify_checksums`
reads them back and refuses the step by name if one is missing, cut short or changed. Damaged
bytes therefore never reach TensorStore, and the check covers every file orbax wrote (array
chunks, their metadata, the JSON items) without depending on its layout.

The checksum file is also the step's jaxtrain commit marker: it is written after orbax's
commit, so a step folder without it was not completely saved and is never loaded. Before it
is written, every file and folder of the step, and the folder holding the step, are flushed
to disk: orbax renames a finished step into place without an fsync, and a power cut after the
mark could otherwise leave a "complete" step whose files never reached the disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
from collections.abc import Collection
from typing import Any

from jaxtrain._atomic import CLOEXEC, FOLDER_FLAGS, is_leftover, write_atomically
from jaxtrain._numbers import is_int
from jaxtrain._regular_file import NotRegularFileError, is_link, open_regular
from jaxtrain._text import counted
from jaxtrain.train._errors import CheckpointCorruptError

__all__ = ["CHECKSUMS", "has_checksums", "verify_checksums", "write_checksums"]

CHECKSUMS = "jaxtrain-checksums.json"
_FORMAT = "jaxtrain.checksums/1"
_CHUNK = 1 << 22


def _digest(path: Any) -> tuple[int, str]:
    """``(size, sha256 hex)`` of a regular file's bytes, read in chunks.

    Raises:
      NotRegularFileError: a link, FIFO or device is at the name (a FIFO would block).
    """
    digest, size = hashlib.sha256(), 0
    with open_regular(path) as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _files(directory: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Every file under ``directory`` as ``(relative posix path, path)``, sorted."""
    found = []
    for entry in sorted(directory.iterdir(), key=lambda p: p.name):
        relative = f"{prefix}{entry.name}"
        if entry.is_dir():
            found.extend(_files(entry, relative + "/"))
        elif relative != CHECKSUMS and not is_leftover(relative, CHECKSUMS):
            found.append((relative, entry))
    return found


def _flush_to_disk(step_dir: Any) -> None:
    """fsyncs every file and folder of a local step, then the folder holding it (the entry
    orbax's rename made). An object store's objects are durable once written."""
    if not isinstance(step_dir, pathlib.Path):
        return
    for root, folders, files in os.walk(step_dir, topdown=False):
        for name in files:
            _fsync(os.path.join(root, name), os.O_RDONLY | CLOEXEC)
        for name in folders:
            _fsync(os.path.join(root, name), FOLDER_FLAGS)
    _fsync(step_dir, FOLDER_FLAGS)
    _fsync(step_dir.parent, FOLDER_FLAGS)


def _fsync(path: Any, flags: int) -> None:
    descriptor = os.open(path, flags)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_checksums(step_dir: Any) -> None:
    """Records the size and SHA-256 of every file of the committed step ``step_dir``, once
    the step is on disk."""
    _flush_to_disk(step_dir)
    files = {}
    for relative, path in _files(step_dir):
        size, sha256 = _digest(path)
        files[relative] = {"size": size, "sha256": sha256}
    text = json.dumps({"format": _FORMAT, "files": files}, indent=1, sort_keys=True)
    write_atomically(step_dir / CHECKSUMS, text + "\n")


def has_checksums(step_dir: Any) -> bool:
    """Whether ``step_dir`` was completely saved by jaxtrain (its checksums were recorded)."""
    checksums = step_dir / CHECKSUMS
    return checksums.is_file() and not is_link(checksums)


def verify_checksums(step_dir: Any, items: Collection[str], *, name: str) -> None:
    """Refuses the step ``step_dir`` if a file it recorded has changed since.

    Checks the step's own files (orbax's step metadata) and those of the given ``items``
    (the first component of a file's path: ``params``, ``meta``...), the ones a load reads.

    Args:
      step_dir: the step's directory.
      items: the items about to be read.
      name: how the messages call the step (``<directory>/<step>``).

    Raises:
      CheckpointCorruptError: a recorded file is missing, shorter or longer than saved, or
        its SHA-256 differs; or the checksum file itself cannot be read.
    """
    files = _recorded(step_dir, name)
    for relative, saved in files.items():
        if not _read_by_the_load(relative, items):
            continue
        problem = _problem(step_dir.joinpath(*relative.split("/")), saved)
        if problem:
            _refuse(name, relative, problem)
    # A file inside an item the load reads that was not there when the step was saved (a
    # history folder copied in from another step, a file dropped among the arrays) is not
    # this step's. A file beside the items (Finder's .DS_Store) is never read: it may stay.
    for relative, _ in _files(step_dir):
        if relative not in files and _item_of(relative) in items:
            _refuse(name, relative, "was not there when it was saved")


def _recorded(step_dir: Any, name: str) -> dict[str, dict[str, Any]]:
    """The checksum file's ``{relative path: {"size": int, "sha256": str}}``.

    Raises:
      CheckpointCorruptError: it is missing, not a regular file, or not of that form.
    """
    try:
        with open_regular(step_dir / CHECKSUMS) as handle:
            recorded = json.loads(handle.read())
        files = recorded["files"]
        if recorded.get("format") != _FORMAT or not isinstance(files, dict):
            raise ValueError(recorded.get("format"))
        for entry in files.values():
            size = entry.get("size")
            if not (is_int(size) and size >= 0 and isinstance(entry.get("sha256"), str)):
                raise ValueError(entry)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise CheckpointCorruptError(
            f"the checkpoint {name} is damaged: its checksum file {CHECKSUMS} cannot be read; "
            + _nothing_loaded()
        ) from None
    return files


def _item_of(relative: str) -> str | None:
    """The item a step's file belongs to (the first component of its path: ``params``,
    ``meta``...), or ``None`` for a file of the step itself (orbax's step metadata)."""
    item, _, rest = relative.partition("/")
    return item if rest else None


def _read_by_the_load(relative: str, items: Collection[str]) -> bool:
    """Whether a load of ``items`` reads the file: the step's own files, and those of its
    items."""
    item = _item_of(relative)
    return item is None or item in items


def _problem(path: Any, saved: dict[str, Any]) -> str | None:
    """What is wrong with a recorded file now, or ``None``."""
    try:
        size, sha256 = _digest(path)
    except FileNotFoundError:
        return "is missing"
    except NotRegularFileError:
        return "is not a regular file any more (a link, FIFO or device is in its place)"
    except OSError as error:
        return f"cannot be read ({error.strerror or error})"
    if size != saved["size"]:
        return f"has {counted(size, 'byte')} where {saved['size']:,} were saved"
    if sha256 != saved["sha256"]:
        return "has changed since it was saved (its SHA-256 differs)"
    return None


def _refuse(name: str, relative: str, problem: str) -> None:
    item = _item_of(relative)
    what = relative if item is None else f"{relative} (item {item})"
    raise CheckpointCorruptError(
        f"the checkpoint {name} is damaged: {what} {problem}; " + _nothing_loaded()
    )


def _nothing_loaded() -> str:
    """The way on from a damaged step: ``fit`` takes no step, it resumes from the newest."""
    return (
        "nothing was loaded; move this step's folder aside to resume from the one before (fit "
        "takes the newest), load another step, or train again"
    )
