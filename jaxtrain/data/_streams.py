"""Reading a file-like stream up to a size a header promised, and never beyond it; and the
sign of a file whose end was never written."""

from __future__ import annotations

import os
import warnings
from typing import BinaryIO

import numpy as np

__all__ = ["read_up_to", "warn_if_blank_tail"]

_CHUNK = 1 << 20


def read_up_to(stream: BinaryIO, size: int) -> np.ndarray:
    """Up to ``size`` bytes of ``stream`` as uint8, fewer only where the stream ends.

    The buffer is allocated once with ``np.empty``, whose pages the system commits only as
    data arrive, and filled in chunks: a header that promises far more than the stream
    holds costs what the stream held, and a decompressing stream (gzip, a zip member) is
    never asked for more than ``size`` bytes.

    Raises:
      MemoryError: when even the address space for ``size`` bytes cannot be reserved.
    """
    buffer = np.empty(size, np.uint8)
    filled = 0
    with memoryview(buffer) as view:
        while filled < size:
            got = stream.readinto(view[filled : filled + _CHUNK])
            if not got:
                break
            filled += got
    return buffer[:filled]


def warn_if_blank_tail(path: str | os.PathLike, records: np.ndarray) -> None:
    """Warns when the last two or more of ``records`` (examples on axis 0) are all zero bytes.

    A download that reserves the file's full size before the data arrive, and stops, leaves
    a file of the promised length whose end is zeros: it reads as valid, its last images
    black (a gzip file's checksum catches this; a plain one has none). Two black images in
    a row at the very end are rare in real data; the file is read all the same (a warning,
    not an error: a data set may hold such images).
    """
    if records.ndim < 2 or len(records) < 2 or records[0].size == 0:
        return
    written = np.flatnonzero(records.reshape(len(records), -1).any(axis=1))
    blank = len(records) - (int(written[-1]) + 1 if written.size else 0)
    if blank >= 2:
        warnings.warn(
            f"{path}: the last {blank} of {len(records)} records are all zero bytes; the file "
            "may be incomplete (a download that reserved its full size and stopped). "
            "Download it again unless these examples are meant to be blank.",
            UserWarning,
            stacklevel=3,
        )
