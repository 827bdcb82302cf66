"""Reading and checking the ``.npz`` data files the commands take (``allow_pickle=False``).

A file holds named NumPy arrays: ``x_train``, ``y_train``, ``x_val``, ``y_val`` and optionally
``x_test``, ``y_test``. Integer (or boolean) targets mean classification, floats regression.
Every problem (missing file, not an npz, a missing key, a non-numeric array, mismatched
lengths or feature shapes, non-finite values, negative labels) becomes a
:class:`~jaxtrain.cli._errors.CommandError` with one line that names the file, the array
and the fix.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import math
import pathlib
import struct
import tokenize
import zipfile
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from jaxtrain._regular_file import what_is_there
from jaxtrain._text import counted
from jaxtrain.cli._errors import CommandError
from jaxtrain.data import LabelError, class_count
from jaxtrain.data._checks import check_finite
from jaxtrain.data._streams import read_up_to

__all__ = ["DataSplits", "file_digest", "load_splits", "read_arrays"]


@dataclasses.dataclass(frozen=True)
class DataSplits:
    """Checked arrays: x as float32 (N, ...), y as int32 (N,) labels or float32 targets.

    ``num_classes`` is the class count of a classification (given, or inferred by
    :func:`jaxtrain.data.class_count`); ``None`` for regression.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray | None
    y_val: np.ndarray | None
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    task: str
    num_classes: int | None = None

    @property
    def num_outputs(self) -> int:
        """Classes (given, or the largest label + 1 over all splits) or the target width."""
        if self.task == "classification":
            labels = {k: getattr(self, k) for k in ("y_train", "y_val", "y_test")}
            present = {k: y for k, y in labels.items() if y is not None}
            return self.num_classes or class_count(present)
        return int(np.prod(self.y_train.shape[1:], dtype=np.int64))

    def pair(self, split: str) -> tuple[np.ndarray, np.ndarray] | None:
        """``(x, y)`` of ``split`` (train, val or test), or ``None`` when absent."""
        x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
        return None if x is None else (x, y)


def file_digest(path: str | pathlib.Path, name: str | None = None) -> str:
    """The SHA-256 of a data file's bytes, to notice later that a data file changed.

    Raises:
      CommandError: naming ``name`` (default: the path), for a file that is not a regular
        file (a pipe would block the digest, a device never end it) or cannot be read.
    """
    name = str(path) if name is None else name
    check_regular_file(pathlib.Path(path), name)
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as error:
        raise CommandError(f"cannot read {name}: {error.strerror or error}") from None
    return digest.hexdigest()


# More axes than NumPy's arrays may have (32 before NumPy 2, 64 since) is no array of ours.
_MAX_DIMS = 32
# A zip archive with members, or an empty one.
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_NPY_MAGIC = np.lib.format.MAGIC_PREFIX
# Deflate expands its input at most 1032-fold (zlib's technical details): a member whose
# directory entry claims more than that of its compressed bytes is corrupt or forged.
_DEFLATE_MAX_RATIO = 1032
# NumPy's limit on the header of a .npy file it does not trust (its max_header_size).
_MAX_HEADER_BYTES = 10_000
# An error's text is cut here: one line for people, not the header it quotes.
_MAX_REASON_CHARS = 200
# What zipfile and zlib raise for a damaged archive or member: a bad CRC or header
# (BadZipFile), data that end early (EOFError, OSError), a corrupt deflate stream
# (zlib.error), an unknown compression method (NotImplementedError), encryption
# (RuntimeError).
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    OSError,
    EOFError,
    zlib.error,
    NotImplementedError,
    RuntimeError,
    UnicodeDecodeError,  # a member name flagged UTF-8 that is not
)
# What NumPy's .npy header parser raises for a garbled header: ValueError for most,
# tokenize's TokenError and SyntaxError where the text is not a Python literal, and
# TypeError, IndexError, KeyError or OverflowError from a malformed dtype description.
_HEADER_ERRORS = (
    ValueError,
    TypeError,
    SyntaxError,
    tokenize.TokenError,
    IndexError,
    KeyError,
    OverflowError,
    RecursionError,
)


def _reason(error: BaseException) -> str:
    """An exception as one short line; its type's name where it has no message."""
    # tokenize.TokenError's str() is the tuple of its message and position.
    first = error.args[0] if error.args else None
    text = " ".join((first if isinstance(first, str) else str(error)).split())
    # NumPy's header errors quote the whole header, up to 10,000 characters of a crafted one.
    if len(text) > _MAX_REASON_CHARS:
        text = text[: _MAX_REASON_CHARS - 1] + "…"
    if not text and isinstance(error, EOFError):  # zipfile's for data that stop short
        return "its data end early (truncated)"
    return text or type(error).__name__


def _what_it_holds(head: bytes) -> str:
    if head[:1] == b"\x80":
        return "a pickle, which is never loaded"
    if not head:
        return "nothing"
    return f"bytes starting {head[:8]!r}, not a NumPy array"


def _most_bytes(info: zipfile.ZipInfo) -> int | None:
    """The most bytes a member's compressed data can expand to (None: no known bound)."""
    if info.compress_type == zipfile.ZIP_STORED:
        return info.compress_size
    if info.compress_type == zipfile.ZIP_DEFLATED:
        return _DEFLATE_MAX_RATIO * info.compress_size + _DEFLATE_MAX_RATIO
    return None


def _npy_header(stream: Any, where: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """The ``(shape, fortran_order, dtype)`` of a member's .npy header, checked."""
    head = stream.read(len(_NPY_MAGIC) + 2)
    if not head.startswith(_NPY_MAGIC):
        raise CommandError(
            f"{where} is not a .npy array (it holds {_what_it_holds(head)}); save arrays "
            "with numpy.savez"
        )
    version = (head[-2], head[-1])
    readers = {
        (1, 0): (np.lib.format.read_array_header_1_0, "<H"),
        (2, 0): (np.lib.format.read_array_header_2_0, "<I"),
    }
    if version not in readers:
        raise CommandError(
            f"{where} is a .npy array of format version {version[0]}.{version[1]}, which holds "
            "no plain numeric array (1.0 and 2.0 do)"
        )
    reader, length_format = readers[version]
    # The header's length is checked before its bytes are read: NumPy's reader reads (and
    # decodes) all it claims, up to 4 GiB, and only then applies its own limit.
    length_bytes = stream.read(struct.calcsize(length_format))
    if len(length_bytes) < struct.calcsize(length_format):
        raise CommandError(f"{where} has a corrupt .npy header (it ends in its length)")
    (length,) = struct.unpack(length_format, length_bytes)
    if length > _MAX_HEADER_BYTES:
        raise CommandError(
            f"{where} has a corrupt .npy header (it claims {length:,} bytes; NumPy's own "
            f"limit is {_MAX_HEADER_BYTES:,})"
        )
    try:
        header = io.BytesIO(length_bytes + stream.read(length))
        shape, fortran_order, dtype = reader(header)
    except _HEADER_ERRORS as error:
        raise CommandError(f"{where} has a corrupt .npy header ({_reason(error)})") from None
    if dtype.hasobject:
        raise CommandError(f"{where} is not numeric (an object array, which is never unpickled)")
    if dtype.kind not in "biuf":
        raise CommandError(
            f"{where} is not numeric (dtype {dtype}); give float inputs and integer or float "
            "targets"
        )
    if len(shape) > _MAX_DIMS or any(
        isinstance(size, bool) or not isinstance(size, int) or size < 0 for size in shape
    ):
        raise CommandError(f"{where} has a corrupt .npy header (shape {shape})")
    return shape, fortran_order, dtype


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> np.ndarray:
    """One member as an array, its sizes checked against the archive before allocating."""
    with archive.open(info) as stream:
        shape, fortran_order, dtype = _npy_header(stream, where)
        expected = math.prod(shape) * dtype.itemsize
        promise = f"its header promises shape {shape} of {dtype} ({counted(expected, 'byte')})"
        held = info.file_size - stream.tell()
        if held != expected:
            problem = "truncated" if held < expected else "longer than its header says"
            raise CommandError(f"{where}: {promise} but the member holds {held:,}: it is {problem}")
        most = _most_bytes(info)
        if most is not None and info.file_size > most:
            raise CommandError(
                f"{where}: {promise} but its {info.compress_size:,} compressed bytes expand to "
                f"at most {most:,}: the member is corrupt"
            )
        try:
            data = read_up_to(stream, expected)
        except MemoryError:
            raise CommandError(f"{where}: {promise}, more than fits in memory") from None
        if data.size < expected:
            raise CommandError(
                f"{where}: {promise} but the member holds {data.size:,}: it is truncated"
            )
        # Reading on to the end is what makes zipfile compare the member's CRC.
        if stream.read(1):
            raise CommandError(f"{where}: {promise} but the member holds more")
    if fortran_order:
        return data.view(dtype).reshape(shape[::-1]).transpose()
    return data.view(dtype).reshape(shape)


def check_regular_file(path: pathlib.Path, name: str) -> None:
    """Refuses a data file that is a directory, or not a regular file at all: a pipe or a
    device would block the command or be read without end."""
    there = what_is_there(path)
    if there is not None or not path.is_file():
        there = there or "not a regular file"
        raise CommandError(f"cannot read {name}: it is {there}; save the data to an .npz file")


def _open_archive(path: pathlib.Path, name: str) -> zipfile.ZipFile:
    if not path.exists():
        raise CommandError(f"cannot read {name}: no such file")
    check_regular_file(path, name)
    save_hint = "save one with numpy.savez(path, x_train=..., y_train=..., x_val=..., y_val=...)"
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(_NPY_MAGIC))
        if head.startswith(_NPY_MAGIC):
            raise CommandError(f"{name} holds a single array, not named arrays; {save_hint}")
        if not head.startswith(_ZIP_MAGIC):
            raise CommandError(
                f"cannot read {name}: not an .npz file (it holds {_what_it_holds(head)}); "
                f"{save_hint}"
            )
        return zipfile.ZipFile(path)
    except _ZIP_ERRORS as error:
        raise CommandError(f"cannot read {name}: {_reason(error)}") from None


def _members(infos: list[zipfile.ZipInfo], name: str) -> dict[str, zipfile.ZipInfo]:
    """The archive's members by array name, each name once.

    ``y_train`` and ``y_train.npy`` are one array to ``numpy.load``, which returns the first
    of two; a reader keeping the last would train on other data than the user inspected.
    """
    members: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        key = info.filename.removesuffix(".npy")
        if key in members:
            count = sum(other.filename.removesuffix(".npy") == key for other in infos)
            raise CommandError(
                f"{name}: the archive holds {count} members named {key!r}; save each array "
                "once (numpy.savez does)"
            )
        members[key] = info
    return members


def read_arrays(
    path: str | pathlib.Path, keys: Sequence[str], optional: Sequence[str] = ()
) -> dict[str, np.ndarray]:
    """Reads ``keys`` (all required) and ``optional`` arrays of an npz file, numeric only.

    The archive is read member by member with :mod:`zipfile`, never through pickle: each
    member's .npy header is parsed and its shape × itemsize compared with the member's size
    (and that with what its compressed bytes can hold) before any array is allocated, and
    each member is read to its end, so that its CRC is checked.

    Raises:
      CommandError: one line naming the file and the array, for a missing file or array, a
        file that is no zip archive, a member that is not a numeric .npy array (an object
        array, a raw pickle, strings), a corrupt header, a truncated, longer or corrupt
        member, or one too large for memory.
    """
    path = pathlib.Path(path)
    name = str(path)
    with _open_archive(path, name) as archive:
        try:
            members = _members(archive.infolist(), name)
        except _ZIP_ERRORS as error:
            raise CommandError(f"cannot read {name}: {_reason(error)}") from None
        missing = [key for key in keys if key not in members]
        if missing:
            found = ", ".join(sorted(members)) or "nothing"
            raise CommandError(
                f"{name} has no {', '.join(repr(k) for k in missing)} array (found: {found}); "
                f"it needs {', '.join(keys)}"
            )
        arrays = {}
        for key in [*keys, *(k for k in optional if k in members)]:
            where = f"{name}: {key!r}"
            try:
                arrays[key] = _read_member(archive, members[key], where)
            except _ZIP_ERRORS as error:
                raise CommandError(f"{where} cannot be read: {_reason(error)}") from None
    return arrays


def _check_x(name: str, key: str, x: np.ndarray) -> np.ndarray:
    if x.ndim == 0:
        raise CommandError(f"{name}: {key!r} is a scalar; give one row per example, shape (N, ...)")
    if x.shape[0] == 0:
        raise CommandError(f"{name}: {key!r} is empty (0 examples)")
    if x.ndim == 1:
        x = x[:, None]
    if x.size == 0:
        raise CommandError(
            f"{name}: {key!r} has examples of shape {x.shape[1:]}, which hold no features"
        )
    _check_finite(name, key, x)
    return x.astype(np.float32)


def _check_finite(name: str, key: str, values: np.ndarray) -> None:
    """NaN, inf and float64 values beyond float32's range, in the array's own dtype (the
    cast would turn the last into inf, and the message into a wrong one)."""
    try:
        check_finite(values, f"{name}: the entries of {key!r}", into_float32=True)
    except ValueError as error:
        raise CommandError(str(error)) from None


def _check_y(name: str, key: str, y: np.ndarray, task: str, n: int) -> np.ndarray:
    if y.ndim == 0 or y.shape[0] != n:
        got = "a scalar" if y.ndim == 0 else counted(y.shape[0], "entry", "entries")
        raise CommandError(
            f"{name}: {key!r} has {got} but {key.replace('y_', 'x_')!r} has "
            f"{counted(n, 'example')}; give one target per example"
        )
    if task == "classification":
        if y.dtype.kind == "f":
            raise CommandError(
                f"{name}: {key!r} holds floats but y_train holds integer class labels; use the "
                "same kind of targets in every split"
            )
        if y.ndim != 1:
            raise CommandError(
                f"{name}: {key!r} holds integer labels of shape {y.shape}; give one class "
                "index per example, shape (N,)"
            )
        # Cast to int32 only after load_splits has checked the range in y's own dtype.
        return y
    if y.dtype.kind != "f":
        raise CommandError(
            f"{name}: {key!r} holds integers but y_train holds float regression targets; use "
            "the same kind of targets in every split"
        )
    if y.size == 0:
        raise CommandError(
            f"{name}: {key!r} has targets of shape {y.shape[1:]}, which hold no values"
        )
    _check_finite(name, key, y)
    y = y.astype(np.float32)
    return y[:, None] if y.ndim == 1 else y


def load_splits(
    path: str | pathlib.Path,
    *,
    require_val: bool = True,
    test_path: str | pathlib.Path | None = None,
    num_classes: int | None = None,
) -> DataSplits:
    """Reads and checks the splits of a data file (and an optional separate test file).

    Args:
      path: the ``.npz`` with ``x_train``, ``y_train``, ``x_val``, ``y_val`` (the val pair
        only when ``require_val``) and optionally ``x_test``, ``y_test``.
      require_val: whether the validation pair must be present.
      test_path: a second ``.npz`` holding the test pair as ``x_test``/``y_test`` (or
        ``x``/``y``); it replaces a test pair in ``path``.
      num_classes: the class count of integer labels; ``None`` infers it as the largest
        label + 1 within :func:`jaxtrain.data.class_count`'s bound.

    Returns:
      The checked :class:`DataSplits`.

    Raises:
      CommandError: for any problem, with one line naming it; for labels, the file, the
        array, the label and its index (checked in the file's own dtype before the cast to
        int32, so 2**32 + 1 is never read as class 1).
    """
    name = str(path)
    required = ["x_train", "y_train"] + (["x_val", "y_val"] if require_val else [])
    optional = ["x_test", "y_test"] + ([] if require_val else ["x_val", "y_val"])
    arrays = read_arrays(path, required, optional)
    sources = dict.fromkeys(arrays, name)
    for split in ("val", "test"):
        if (f"x_{split}" in arrays) != (f"y_{split}" in arrays):
            have, lack = (
                (f"x_{split}", f"y_{split}")
                if f"x_{split}" in arrays
                else (f"y_{split}", f"x_{split}")
            )
            raise CommandError(f"{name} has {have!r} but no {lack!r}; give both or neither")
    if test_path is not None:
        test_name = str(test_path)
        probe = read_arrays(test_path, [], ["x_test", "y_test", "x", "y"])
        if "x_test" in probe and "y_test" in probe:
            arrays["x_test"], arrays["y_test"] = probe["x_test"], probe["y_test"]
        elif "x" in probe and "y" in probe:
            arrays["x_test"], arrays["y_test"] = probe["x"], probe["y"]
        else:
            with _open_archive(pathlib.Path(test_path), test_name) as archive:
                names = {info.filename.removesuffix(".npy") for info in archive.infolist()}
            found = ", ".join(sorted(names)) or "nothing"
            raise CommandError(
                f"{test_name} has no test pair (found: {found}); it needs x_test and y_test "
                "(or x and y)"
            )
        sources["x_test"] = sources["y_test"] = test_name
    y_kind = arrays["y_train"].dtype.kind
    task = "classification" if y_kind in "biu" else "regression"
    if num_classes is not None and task == "regression":
        raise CommandError(
            f"{name}: --num-classes {num_classes} is for integer class labels, but 'y_train' "
            f"holds {arrays['y_train'].dtype} numbers, a regression's targets; store class "
            "labels as integers (y.astype(int)) to classify"
        )
    x_train = _check_x(name, "x_train", arrays["x_train"])
    y_train = _check_y(name, "y_train", arrays["y_train"], task, x_train.shape[0])
    checked: dict[str, Any] = {"task": task, "x_train": x_train, "y_train": y_train}
    for split in ("val", "test"):
        if f"x_{split}" not in arrays:
            checked[f"x_{split}"] = checked[f"y_{split}"] = None
            continue
        source = sources[f"x_{split}"]
        x = _check_x(source, f"x_{split}", arrays[f"x_{split}"])
        if x.shape[1:] != x_train.shape[1:]:
            raise CommandError(
                f"{source}: 'x_{split}' has examples of shape {x.shape[1:]} but 'x_train' has "
                f"{x_train.shape[1:]}; every split needs the same feature shape"
            )
        y = _check_y(source, f"y_{split}", arrays[f"y_{split}"], task, x.shape[0])
        if y.shape[1:] != y_train.shape[1:]:
            raise CommandError(
                f"{source}: 'y_{split}' has targets of shape {y.shape[1:]} but 'y_train' has "
                f"{y_train.shape[1:]}; every split needs the same target shape"
            )
        checked[f"x_{split}"], checked[f"y_{split}"] = x, y
    if task == "classification":
        labels = {k: checked[k] for k in ("y_train", "y_val", "y_test") if checked[k] is not None}
        try:
            checked["num_classes"] = class_count(labels, num_classes=num_classes)
        except LabelError as error:
            raise CommandError(f"{sources[error.name]}: {error}") from None
        except ValueError as error:
            raise CommandError(f"--num-classes: {error}") from None
        for key in labels:
            checked[key] = checked[key].astype(np.int32)
    return DataSplits(**checked)
