"""Reading a file-like stream up to a size a header promised, and never beyond it."""

from __future__ import annotations

from typing import BinaryIO

import numpy as np

__all__ = ["read_up_to"]

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
