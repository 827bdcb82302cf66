"""Small files (a manifest, a list of checksums) replaced whole or not at all.

A reader, or a run killed mid-write, sees either the old text or the new one: the text goes to
a temporary file beside the target, is flushed to disk, and is renamed over it (a rename
within one directory is atomic on POSIX file systems). An object store (``gs://``) replaces an
object whole on every write, so there the text is written directly.
"""

from __future__ import annotations

import os
import pathlib
import re
from typing import Any

__all__ = ["is_leftover", "write_atomically"]


def _temporary(path: pathlib.Path) -> pathlib.Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def is_leftover(name: str, target: str) -> bool:
    """Whether ``name`` is a temporary file that :func:`write_atomically` of a file named
    ``target`` leaves behind when its process is killed mid-write."""
    return re.fullmatch(rf"\.{re.escape(target)}\.[0-9]+\.tmp", name) is not None


def write_atomically(path: Any, text: str) -> None:
    """Replaces the file ``path`` (a ``pathlib.Path`` or an ``etils.epath.Path``) by ``text``.

    Raises:
      OSError: if the directory cannot be written.
    """
    if not isinstance(path, pathlib.Path):
        path.write_text(text)
        return
    temporary = _temporary(path)
    try:
        with temporary.open("w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    # The rename itself is durable only once the directory is flushed.
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
