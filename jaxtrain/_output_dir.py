"""An output folder: what a command writes into its ``--out``, and how.

Every command that writes files (``jaxtrain diagnose``, ``explain``, ``hessian``, ``tour`` and
the lecture's examples) writes through :class:`OutputDir` and checks its ``--out`` with
:func:`claim_output_dir` before it starts any work. Three promises follow:

- **Atomic.** A file is written to a temporary name in the same folder, flushed to disk, then
  renamed over its name: a reader, or a run killed half way, sees the old file or the new one,
  never a part of one.
- **Never through a link.** A link found at a file name we write is replaced by the file (a
  rename replaces the directory entry and never opens its target), so a link placed inside
  ``--out`` cannot make us write outside it; refusing instead would need a check before the
  rename, which a link made between the two defeats. A link where we would put a *folder*
  (``figures/``) is refused: a file cannot be put inside it without writing outside ``--out``,
  and removing a user's link is not ours to do. Folders are opened relative to their parent's
  descriptor without following links, so no link swapped in mid-run is followed either. The
  folder named by ``--out`` itself is the user's choice and may be a link; a link to a missing
  folder, there or above it, is refused before any work.
- **Nothing overwritten without asking.** The folder holds a manifest, :data:`MANIFEST`, naming
  each command that wrote into it and its files. A command may write into a new or empty folder
  or into its own earlier output; any other non-empty folder is refused unless the user passes
  ``--overwrite``. Even in its own output a command replaces only the files the manifest lists
  as its own: another file of a name it writes (the user's) needs ``--overwrite`` too. Nothing
  is deleted but a command's own files that :meth:`OutputDir.remove` names and the temporary
  files a killed write of its own left (which never make a folder count as not empty); a run
  into its own earlier output deletes, with :meth:`OutputDir.remove_stale`, the files of the
  earlier run that it did not write again, so the folder holds one run, not a mix of two.
- **One writer at a time.** Each write holds a lock on the folder (:func:`folder_lock`) while it
  re-reads the manifest, adds its file and writes it, so two commands writing into one folder
  at once keep each other's entries.

Only the standard library is imported, so every layer (``diagnose``, ``lecture``, ``cli``) can
use this module, and a command checks ``--out`` before it loads jax.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import pathlib
import stat
from collections.abc import Iterable, Iterator
from typing import Any

from jaxtrain._atomic import (
    FOLDER_FLAGS,
    NOFOLLOW,
    folder_lock,
    is_leftover,
    replace_in_folder,
)
from jaxtrain._regular_file import open_regular

__all__ = [
    "MANIFEST",
    "OutputDir",
    "OutputDirError",
    "add_output_arguments",
    "claim_output_dir",
    "dangling_link",
    "folder_name",
    "nearest_existing",
]

MANIFEST = ".jaxtrain-output.json"
"""The manifest's file name: ``{"jaxtrain_output": 1, "written_by": {command: [files]}}``."""

_FORMAT = 1
# A manifest is a few lines; a larger file at its name is not one we wrote.
_MAX_MANIFEST_BYTES = 1 << 20


class OutputDirError(ValueError):
    """An output folder a command must not write into: another command's or a user's files
    without ``--overwrite``, a file where a folder belongs, or a link where a folder belongs.

    The command line prints it as one line and exits 2, as for any other bad argument.
    """


def folder_name(text: str) -> str:
    """An argparse type for a folder: any path but the empty one. An unset shell variable
    (``--out "$DIR"``) would otherwise name the current folder and write there."""
    if not text:
        raise argparse.ArgumentTypeError("expected a folder name, got ''")
    return text


def add_output_arguments(
    parser: argparse.ArgumentParser | Any, *, default: str | None, help: str
) -> None:
    """Adds ``--out DIR`` (with ``help``) and ``--overwrite``, the flags :func:`claim_output_dir`
    reads, to a parser or an argument group."""
    parser.add_argument("--out", metavar="DIR", type=folder_name, default=default, help=help)
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="write into --out even when it holds files that are not an earlier output of this "
        "command (files of the same names are replaced; the others are kept)",
    )


def claim_output_dir(
    path: str | os.PathLike,
    command: str,
    *,
    overwrite: bool = False,
    subfolders: Iterable[str] = (),
    create: bool = True,
) -> pathlib.Path:
    """Checks, before any work, that ``command`` may write into ``path``; creates the folder.

    A new or empty folder, or one holding an earlier output of ``command`` (its manifest says
    so), is accepted. A non-empty folder without such a manifest is refused unless
    ``overwrite``; with it, files of the same names are replaced and the others are kept.
    Without ``overwrite``, :class:`OutputDir` later refuses to replace a file that the manifest
    does not list as ``command``'s (give it the same ``overwrite``). Temporary files that a
    killed write left count as nothing.

    Args:
      path: the ``--out`` folder (created with its parents if missing).
      command: who writes, as its manifest records it (``"jaxtrain tour"``).
      overwrite: accept a folder holding files that ``command`` did not write.
      subfolders: folders the command will write into (``"figures"``); each must be a real
        folder if it exists, never a link, even with ``overwrite``.
      create: create a missing folder. ``False`` checks only (a missing folder is accepted
        when its nearest existing parent is a writable folder), so a command can refuse a bad
        ``--out`` first and still create it only after its other arguments passed: a refused
        argument then leaves no empty folder behind.

    Returns:
      ``path`` as a :class:`pathlib.Path`.

    Raises:
      OutputDirError: the folder is refused; the message names it and what it holds, or why
        the system refused it (a parent folder the user cannot search, one it cannot list), or
        the link to a missing folder that it is or lies under, with its target.

    Example:
      >>> import tempfile
      >>> from jaxtrain._output_dir import OutputDir, claim_output_dir
      >>> out = pathlib.Path(tempfile.mkdtemp())
      >>> _ = OutputDir(out, "jaxtrain hessian").write_text("hessian.json", "{}")
      >>> claim_output_dir(out, "jaxtrain hessian") == out  # its own earlier output
      True
      >>> claim_output_dir(out, "jaxtrain tour")  # doctest: +ELLIPSIS
      Traceback (most recent call last):
      ...
      jaxtrain._output_dir.OutputDirError: --out ... holds the output of jaxtrain hessian, ...
    """
    folder = pathlib.Path(path)
    try:
        _check_no_dangling_link(folder)
        if create or folder.exists():
            _claim(folder, command, overwrite=overwrite, subfolders=subfolders)
        else:
            _check_creatable(folder)
    except OSError as error:
        # A parent folder the user cannot search, a folder it cannot list: one line, exit 2,
        # as for any other refused --out (it was "PermissionError: [Errno 13] ...", exit 1).
        raise OutputDirError(f"cannot write to {folder}: {error.strerror or error}") from None
    return folder


def dangling_link(folder: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path] | None:
    """``(link, target)`` when ``folder``, or a folder above it, is a link to something
    missing, else ``None``.

    Such a link looks like a folder still to be made (``exists()`` is False), and its
    ``mkdir`` fails with "File exists" and no word of the link.
    """
    for path in (folder, *folder.parents):
        if path.is_symlink() and not path.exists():
            return path, path.parent / os.readlink(path)
    return None


def nearest_existing(folder: pathlib.Path) -> pathlib.Path:
    """``folder`` if it exists, else its nearest existing parent (absolute): where a
    ``mkdir`` of it starts, which must be a folder ("Not a directory" otherwise)."""
    return next(p for p in (folder, *folder.absolute().parents) if p.exists())


def _check_no_dangling_link(folder: pathlib.Path) -> None:
    """Refuses ``folder`` when it, or a folder above it, is a link to something missing: let
    through, it would fail the ``mkdir`` after the command's work (:func:`dangling_link`)."""
    found = dangling_link(folder)
    if found is not None:
        path, target = found
        raise OutputDirError(
            f"cannot write to {folder}: {path} is a symbolic link to {target}, which does "
            f"not exist; create {target}, or choose another --out"
        )


def _check_writable(folder: pathlib.Path, named: pathlib.Path | None = None) -> None:
    """Refuses a ``folder`` this process cannot write in, naming ``named`` (default: itself)
    and why: a file system mounted read-only, or the permissions."""
    if os.access(folder, os.W_OK | os.X_OK):
        return
    try:
        read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):  # no statvfs on this system
        read_only = False
    reason = "read-only file system" if read_only else "permission denied"
    raise OutputDirError(f"cannot write to {named or folder}: {reason}")


def _check_creatable(folder: pathlib.Path) -> None:
    """Refuses a missing ``folder`` whose nearest existing parent cannot take it."""
    parent = nearest_existing(folder)
    if not parent.is_dir():
        raise OutputDirError(f"cannot write to {folder}: {parent} is a file, not a folder")
    _check_writable(parent, folder)


def _claim(
    folder: pathlib.Path,
    command: str,
    *,
    overwrite: bool,
    subfolders: Iterable[str],
) -> None:
    """:func:`claim_output_dir` of an existing folder, or one it creates; may raise OSError."""
    if folder.exists() and not folder.is_dir():
        raise OutputDirError(f"cannot write to {folder}: it is a file, not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    _check_writable(folder)
    for name in subfolders:
        sub = folder / name
        if sub.is_symlink():
            raise OutputDirError(_linked(sub))
        if sub.exists() and not sub.is_dir():
            raise OutputDirError(f"cannot write to {sub}: it is a file, not a folder")
    if overwrite:
        return
    # A manifest that is not a plain file (a link, a folder) is not ours: it counts as an entry.
    entries = sorted(
        entry.name
        for entry in os.scandir(folder)
        if not is_leftover(entry.name, MANIFEST)
        and (entry.name != MANIFEST or not entry.is_file(follow_symlinks=False))
    )
    if not entries:
        return
    written_by = _read_manifest(folder)
    if command in written_by:
        return
    if written_by:
        raise OutputDirError(
            f"--out {folder} holds the output of {' and '.join(sorted(written_by))}, not of "
            f"{command}; choose another folder, or pass --overwrite to write beside it"
        )
    raise OutputDirError(
        f"--out {folder} is not empty and is not an earlier output of {command}: it holds "
        f"{_listed(entries)}; choose a new or empty folder, or pass --overwrite to write into it"
    )


class OutputDir:
    """A folder that one command writes its files into, each atomically and none through a link.

    Every file written is recorded in the folder's manifest under ``command``, which makes the
    folder that command's earlier output for :func:`claim_output_dir`. The manifest is
    rewritten before each new file, so a run killed half way leaves a folder its rerun accepts;
    it is re-read under the folder's lock each time, so writers of one folder keep each other's
    entries. A file already there that the manifest does not list as ``command``'s (the user's)
    is replaced only with ``overwrite``; a link at the name is replaced all the same (what it
    points to is left as it is).

    Args:
      path: the folder (created with its parents if missing; it may itself be a link).
      command: who writes (``"jaxtrain diagnose"``).
      overwrite: replace files of the names written that are not ``command``'s earlier output
        (the user's ``--overwrite``).

    Raises:
      OSError: the folder cannot be created.

    Example:
      >>> import tempfile
      >>> out = OutputDir(tempfile.mkdtemp(), "jaxtrain tour")
      >>> out.write_text("report.json", "{}").name
      'report.json'
      >>> out.write_bytes("figures/a.png", b"...").relative_to(out.path).as_posix()
      'figures/a.png'
    """

    def __init__(self, path: str | os.PathLike, command: str, *, overwrite: bool = False):
        self.path = pathlib.Path(path)
        self.command = command
        self.overwrite = overwrite
        self.path.mkdir(parents=True, exist_ok=True)
        self._written: set[str] = set()  # for remove_stale

    def write_bytes(self, name: str, data: bytes) -> pathlib.Path:
        """Writes ``data`` to ``name`` (``"figures/x.png"``: folders are created).

        Args:
          name: a relative name inside the folder, ``/``-separated.
          data: the file's content.

        Returns:
          The path written.

        Raises:
          OutputDirError: a folder on the way is a link (or a file), or a file at ``name`` is
            not this command's and the folder was not claimed with ``overwrite``.
          ValueError: ``name`` leaves the folder (``..``, an absolute path) or is the manifest's.
        """
        parts = _parts(name)
        relative = "/".join(parts)
        with self._locked() as root:
            folder = _open_folder(self.path, parts[:-1])
            try:
                claimed = relative not in _read_manifest(self.path).get(self.command, [])
                if claimed:
                    self._check_replaceable(root, folder, parts)
                    # Recorded first, so that a file of ours is never left unlisted ...
                    self._record(root, relative, add=True)
                try:
                    _replace(folder, parts[-1], data)
                except BaseException:
                    # ... and dropped when it was not written: the name stays whoever's it was.
                    if claimed:
                        with contextlib.suppress(OSError):
                            self._record(root, relative, add=False)
                    raise
            finally:
                os.close(folder)
        self._written.add(relative)
        return self.path.joinpath(*parts)

    def write_text(self, name: str, text: str) -> pathlib.Path:
        """Writes ``text`` as UTF-8 to ``name``; see :meth:`write_bytes`.

        A file name's bytes that are not UTF-8 (Python keeps them as lone surrogates) are
        written as the replacement character U+FFFD, as a terminal shows them: the text stays
        valid UTF-8, and valid JSON (a ``\\xNN`` escape there is not), and the write does not
        fail on a data file's name after the work is done.
        """
        readable = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        return self.write_bytes(name, readable.encode("utf-8"))

    def write_figure(self, name: str, figure: Any, **savefig_kwargs: Any) -> pathlib.Path:
        """Renders a matplotlib ``figure`` in the format of ``name``'s suffix and writes it.

        Args:
          name: as for :meth:`write_bytes` (``"training_curves.png"``).
          figure: the figure; it stays open.
          **savefig_kwargs: passed to ``figure.savefig`` (``dpi=110, bbox_inches="tight"``).

        Returns:
          The path written.
        """
        buffer = io.BytesIO()
        figure.savefig(buffer, format=pathlib.PurePosixPath(name).suffix[1:], **savefig_kwargs)
        return self.write_bytes(name, buffer.getvalue())

    def remove(self, name: str) -> None:
        """Deletes ``name`` if the manifest lists it as this command's, and forgets it.

        For a file of an earlier run that is out of date (the tour's partial report once the
        whole report is written); a file the manifest does not list is never deleted, nor one
        behind a link.

        Raises:
          OutputDirError: a folder on the way is a link (or a file).
          ValueError: ``name`` leaves the folder (``..``, an absolute path) or is the manifest's.
        """
        parts = _parts(name)
        relative = "/".join(parts)
        with self._locked() as root:
            if relative not in _read_manifest(self.path).get(self.command, []):
                return
            # Gone already, or a folder now at its name (not the file we wrote, so it stays):
            # either way the manifest forgets the name.
            with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                folder = _open_folder(self.path, parts[:-1], create=False)
                try:
                    os.unlink(parts[-1], dir_fd=folder)
                finally:
                    os.close(folder)
            self._record(root, relative, add=False)

    def remove_stale(self) -> None:
        """Deletes (:meth:`remove`) every file the manifest lists as this command's that this
        object did not write: an earlier run's output that this run has nothing in place of
        (the curves of a candidate no longer trained, the figures of a section no longer in the
        report, a partial report), which would otherwise pass for this run's.

        Call it once the run's files are all written. Another command's files and the user's
        are never deleted; a name the manifest lists that leads outside the folder or through
        a link (a damaged manifest's) is left alone.
        """
        listed = _read_manifest(self.path).get(self.command, [])
        for name in sorted(set(listed) - self._written):
            # ValueError: a name outside the folder; OutputDirError: a link on the way.
            with contextlib.suppress(ValueError):
                self.remove(name)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[int]:
        """The folder's descriptor, its lock held: no other writer reads or rewrites the
        manifest meanwhile."""
        root = os.open(self.path, FOLDER_FLAGS)
        try:
            with folder_lock(root):
                yield root
        finally:
            os.close(root)

    def _check_replaceable(self, root: int, folder: int, parts: tuple[str, ...]) -> None:
        """Refuses to replace an entry at ``parts`` that the manifest does not list as this
        command's, unless ``overwrite``; a link is replaced (a rename replaces the link, never
        what it points to)."""
        try:
            mode = os.stat(parts[-1], dir_fd=folder, follow_symlinks=False).st_mode
        except FileNotFoundError:
            return
        if stat.S_ISLNK(mode) or self.overwrite:
            return
        raise OutputDirError(
            f"{self.path.joinpath(*parts)} is not an earlier output of {self.command} (its "
            f"manifest {MANIFEST} does not list it); move it away, or pass --overwrite to "
            "replace it"
        )

    def _record(self, root: int, relative: str, *, add: bool) -> None:
        """Adds ``relative`` to (or drops it from) this command's files in the manifest, read
        afresh: the caller holds the folder's lock."""
        written_by = _read_manifest(self.path)
        files = set(written_by.get(self.command, []))
        files = files | {relative} if add else files - {relative}
        written_by[self.command] = sorted(files)
        if not files:
            del written_by[self.command]
        record = {"jaxtrain_output": _FORMAT, "written_by": written_by}
        _replace(root, MANIFEST, (json.dumps(record, indent=2) + "\n").encode())


def _parts(name: str) -> tuple[str, ...]:
    parts = pathlib.PurePosixPath(name).parts
    if (
        not parts
        or name.startswith("/")
        or "\\" in name
        or any(part in (".", "..") for part in parts)
        or parts == (MANIFEST,)
    ):
        raise ValueError(f"{name!r} is not a relative name inside the folder")
    return parts


def _listed(entries: list[str]) -> str:
    shown = ", ".join(repr(name) for name in entries[:3])
    if len(entries) > 3:
        shown += f" and {len(entries) - 3} more"
    return f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'} ({shown})"


def _linked(path: pathlib.Path) -> str:
    return (
        f"{path} is a symbolic link; jaxtrain writes no file through a link (remove the link, "
        "or choose another --out)"
    )


def _read_manifest(folder: pathlib.Path) -> dict[str, list[str]]:
    """``{command: files}`` of the folder's manifest; ``{}`` when there is none of ours.

    A link, an oversized or malformed file at the manifest's name is not ours: trusting it would
    let a foreign folder pass for a command's own output.
    """
    try:
        with open_regular(folder / MANIFEST) as handle:
            data = handle.read(_MAX_MANIFEST_BYTES + 1)
    except OSError:  # missing, or a link, FIFO, device or folder: none of ours
        return {}
    try:
        record = json.loads(data) if len(data) <= _MAX_MANIFEST_BYTES else None
    except (ValueError, RecursionError):
        # ValueError: not UTF-8, not JSON, or a number of more digits than Python converts.
        return {}
    written_by = record.get("written_by") if isinstance(record, dict) else None
    if not isinstance(written_by, dict) or not all(
        isinstance(files, list) and all(isinstance(f, str) for f in files)
        for files in written_by.values()
    ):
        return {}
    return {str(command): list(files) for command, files in written_by.items()}


def _replace(folder: int, name: str, data: bytes) -> None:
    """Writes ``name`` in the open ``folder`` through a temporary file and a rename, after
    deleting the temporary files that killed writes of ``name`` left: under the folder's lock
    no write of ours is in flight, so every such file is a leftover."""
    with contextlib.suppress(OSError):  # a folder one may write but not list keeps them
        for entry in os.scandir(folder):
            if is_leftover(entry.name, name):
                os.unlink(entry.name, dir_fd=folder)
    replace_in_folder(folder, name, data)


def _open_folder(root: pathlib.Path, parts: tuple[str, ...], *, create: bool = True) -> int:
    """A descriptor of ``root/parts...``, creating the folders (unless not ``create``: then a
    missing one raises FileNotFoundError), never following a link below ``root``."""
    fd = os.open(root, FOLDER_FLAGS)
    try:
        for depth, part in enumerate(parts):
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, dir_fd=fd)
            try:
                child = os.open(part, FOLDER_FLAGS | NOFOLLOW, dir_fd=fd)
            except OSError:
                path = root.joinpath(*parts[: depth + 1])
                mode = os.stat(part, dir_fd=fd, follow_symlinks=False).st_mode
                if stat.S_ISLNK(mode):
                    raise OutputDirError(_linked(path)) from None
                if not stat.S_ISDIR(mode):
                    raise OutputDirError(
                        f"cannot write to {path}: it is a file, not a folder"
                    ) from None
                raise
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd
