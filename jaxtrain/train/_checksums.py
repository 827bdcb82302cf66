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
from jaxtrain._text import counted
from jaxtrain.train._errors import CheckpointCorruptError

__all__ = ["CHECKSUMS", "has_checksums", "verify_checksums", "write_checksums"]

CHECKSUMS = "jaxtrain-checksums.json"
_FORMAT = "jaxtrain.checksums/1"
_CHUNK = 1 << 22


def _digest(path: Any) -> tuple[int, str]:
    """``(size, sha256 hex)`` of a file's bytes, read in chunks."""
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
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
    return (step_dir / CHECKSUMS).is_file()


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
    try:
        recorded = json.loads((step_dir / CHECKSUMS).read_text())
        files = recorded["files"]
        if recorded.get("format") != _FORMAT or not isinstance(files, dict):
            raise ValueError(recorded.get("format"))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise CheckpointCorruptError(
            f"the checkpoint {name} is damaged: its checksum file {CHECKSUMS} cannot be read; "
            "nothing was loaded"
        ) from None
    for relative, saved in files.items():
        item, _, rest = relative.partition("/")
        if rest and item not in items:
            continue
        what = f"{relative} (item {item})" if rest else relative
        path = step_dir.joinpath(*relative.split("/"))
        try:
            size, sha256 = _digest(path)
        except FileNotFoundError:
            problem = "is missing"
        except OSError as error:
            problem = f"cannot be read ({error.strerror or error})"
        else:
            if size != saved.get("size"):
                problem = f"has {counted(size, 'byte')} where {saved.get('size'):,} were saved"
            elif sha256 != saved.get("sha256"):
                problem = "has changed since it was saved (its SHA-256 differs)"
            else:
                continue
        raise CheckpointCorruptError(
            f"the checkpoint {name} is damaged: {what} {problem}; nothing was loaded: load "
            "another step, or train again"
        )
