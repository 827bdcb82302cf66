"""Reading a file that must be a plain file: never through a link, never blocked by a FIFO.

A manifest or a recorded checkpoint file is read by name from a folder other people can write
into. A link at that name would make jaxtrain trust (or later delete through) a file elsewhere;
a FIFO would block the read, and the command, forever; a device would be read for ever more.
"""

from __future__ import annotations

import errno
import os
import pathlib
import stat
from typing import IO, Any

from jaxtrain._atomic import CLOEXEC, NOFOLLOW

__all__ = ["NotRegularFileError", "is_link", "open_regular", "what_is_there"]


class NotRegularFileError(OSError):
    """The path is a link, a FIFO, a device or a folder where a regular file was expected."""


def what_is_there(path: pathlib.Path) -> str | None:
    """What stands at ``path`` in place of a regular file, in words for a message ("a
    directory", or "not a regular file (a pipe, a device or a socket)"); ``None`` for a
    regular file, or for nothing at all (which the caller calls missing)."""
    if path.is_dir():
        return "a directory, not a file"
    if path.exists() and not path.is_file():
        return "not a regular file (a pipe, a device or a socket)"
    return None


def is_link(path: Any) -> bool:
    """Whether ``path`` is a symbolic link; an object store's path (``etils.epath``, which has
    no ``is_symlink``) never is."""
    return isinstance(path, pathlib.Path) and path.is_symlink()


def open_regular(path: Any) -> IO[bytes]:
    """Opens ``path`` for reading in binary mode if it is a regular file.

    Local paths are opened without following a link at the name and without blocking (a
    FIFO's open would wait for a writer); an object store's path (``etils.epath``) has
    neither and is opened as it is.

    Raises:
      NotRegularFileError: ``path`` is a link, a FIFO, a device or a folder.
      OSError: it cannot be opened (missing, no permission).
    """
    if not isinstance(path, pathlib.Path):
        return path.open("rb")
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | NOFOLLOW | CLOEXEC)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise NotRegularFileError(
                errno.ELOOP, "a link, not a regular file", str(path)
            ) from None
        raise
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        raise NotRegularFileError(errno.EINVAL, "not a regular file", str(path))
    os.set_blocking(descriptor, True)
    return os.fdopen(descriptor, "rb")
