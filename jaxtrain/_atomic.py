"""Files replaced whole or not at all: the one atomic writer of checkpoints, histories and outputs.

A reader, or a run killed mid-write, sees either the old file or the new one: the data goes to
a new temporary name in the same folder, is flushed to disk, and is renamed over the target (a
rename within one folder is atomic on POSIX file systems), and the folder is flushed so that
the rename itself survives a crash. The temporary name is created with ``O_EXCL | O_NOFOLLOW``,
so it is never an existing file or link; the rename replaces whatever entry held the target's
name, a link included, without opening what the link points to. An object store (``gs://``,
through ``etils.epath``) replaces an object whole on every write, so there the data is written
directly.

Only the standard library is imported, so every layer can use this module.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import re
import secrets
from typing import Any

__all__ = [
    "CLOEXEC",
    "FOLDER_FLAGS",
    "NOFOLLOW",
    "is_leftover",
    "replace_in_folder",
    "write_atomically",
]

CLOEXEC = getattr(os, "O_CLOEXEC", 0)
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
FOLDER_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | CLOEXEC
"""Flags that open a folder for ``dir_fd=`` use."""


def is_leftover(name: str, target: str) -> bool:
    """Whether ``name`` is the temporary file a write of ``target`` leaves when killed mid-write."""
    return re.fullmatch(rf"\.{re.escape(target)}\.[0-9a-f]{{8}}\.tmp", name) is not None


def replace_in_folder(folder: int, name: str, data: bytes) -> None:
    """Replaces the entry ``name`` of the open folder ``folder`` (a descriptor) by ``data``.

    Raises:
      OSError: if the folder cannot be written; the old file is then intact and no temporary
        file is left.
    """
    temporary = f".{name}.{secrets.token_hex(4)}.tmp"
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
