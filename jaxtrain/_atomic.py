"""Files replaced whole or not at all: the one atomic writer of checkpoints, histories and outputs.

A reader, or a run killed mid-write, sees either the old file or the new one: the data goes to
a new temporary name in the same folder, is flushed to disk, and is renamed over the target (a
rename within one folder is atomic on POSIX file systems), and the folder is flushed so that
the rename itself survives a crash. The temporary name is created with ``O_EXCL | O_NOFOLLOW``,
so it is never an existing file or link; the rename replaces whatever entry held the target's
name, a link included, without opening what the link points to. A temporary name is
``.<target>.<8 hex>.tmp``, or, where that would be longer than the folder takes (a target of
242 bytes or more), ``.<target's start>~<hash of target>.<8 hex>.tmp``: :func:`is_leftover`
knows both. A read-modify-write of a shared file (a manifest) holds :func:`folder_lock`.

An object store (``gs://``, through ``etils.epath``) replaces an object whole on every write,
so there the data is written directly.

Only the standard library is imported, so every layer can use this module.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import pathlib
import re
import secrets
from collections.abc import Iterator
from typing import Any

__all__ = [
    "CLOEXEC",
    "FOLDER_FLAGS",
    "NOFOLLOW",
    "folder_lock",
    "is_leftover",
    "replace_in_folder",
    "write_atomically",
]

CLOEXEC = getattr(os, "O_CLOEXEC", 0)
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
FOLDER_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | CLOEXEC
"""Flags that open a folder for ``dir_fd=`` use."""


# The longest file name almost every file system takes, where a folder does not say.
_NAME_MAX = 255
# A shortened temporary name keeps this many bytes of its target's name, for people reading a
# folder listing; the hash tells the targets apart.
_SHORT_START_BYTES = 40


def is_leftover(name: str, target: str) -> bool:
    """Whether ``name`` is the temporary file a write of ``target`` leaves when killed mid-write."""
    return any(
        re.fullmatch(rf"{re.escape(stem)}\.[0-9a-f]{{8}}\.tmp", name)
        for stem in (f".{target}", _short_stem(target))
    )


def _short_stem(target: str) -> str:
    """A temporary name's start for ``target`` that fits any file system whatever its length."""
    start = target
    while len(os.fsencode(start)) > _SHORT_START_BYTES:
        start = start[:-1]  # whole characters, so a UTF-8 name stays valid UTF-8
    digest = hashlib.sha256(os.fsencode(target)).hexdigest()[:16]
    return f".{start}~{digest}"


def _temporary_name(folder: int, target: str) -> str:
    """A new temporary name for ``target`` in ``folder``, no longer than the folder takes."""
    suffix = f".{secrets.token_hex(4)}.tmp"
    try:
        name_max = os.fpathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = _NAME_MAX
    full = f".{target}{suffix}"
    # The 14 added bytes made a valid 242- to 255-byte name fail with "File name too long".
    return full if len(os.fsencode(full)) <= name_max else _short_stem(target) + suffix


@contextlib.contextmanager
def folder_lock(folder: int) -> Iterator[None]:
    """Holds an exclusive lock on the open folder ``folder`` (a descriptor), waiting for it.

    The lock is a ``fcntl.flock`` of the folder itself, so it adds no file to the folder; the
    kernel drops it when its holder exits or is killed. Where the file system has no such lock
    (some network file systems refuse it on a folder), the block runs unlocked: one writer at
    a time is then the caller's business, as it was before.
    """
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        locked = True
    except OSError as error:
        if error.errno not in (errno.EBADF, errno.EINVAL, errno.ENOLCK, errno.EOPNOTSUPP):
            raise
        locked = False
    try:
        yield
    finally:
        if locked:
            fcntl.flock(folder, fcntl.LOCK_UN)


def replace_in_folder(folder: int, name: str, data: bytes) -> None:
    """Replaces the entry ``name`` of the open folder ``folder`` (a descriptor) by ``data``.

    Raises:
      OSError: if the folder cannot be written; the old file is then intact and no temporary
        file is left.
    """
    temporary = _temporary_name(folder, name)
    # The mode is the usual 0o666 less the umask (mkstemp's 0o600 would hide outputs).
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW | CLOEXEC
    fd = os.open(temporary, flags, 0o666, dir_fd=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, name, src_dir_fd=folder, dst_dir_fd=folder)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary, dir_fd=folder)
        raise
    # The rename is durable only once the folder itself is flushed.
    os.fsync(folder)


def write_atomically(path: Any, data: str | bytes) -> None:
    """Replaces the file ``path`` (a ``pathlib.Path``, a ``str`` or an ``etils.epath.Path``).

    Text is written as UTF-8. The folder must exist.

    Raises:
      OSError: if the folder cannot be written.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    if "://" in os.fspath(path):  # an object store: each write replaces the object whole
        path.write_bytes(payload)
        return
    path = pathlib.Path(path)
    folder = os.open(path.parent, FOLDER_FLAGS)
    try:
        replace_in_folder(folder, path.name, payload)
    finally:
        os.close(folder)
