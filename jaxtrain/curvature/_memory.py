"""The memory guard of every curvature routine that allocates a matrix as large as n² or m × n.

A dense Hessian holds n² numbers and a fully reorthogonalized Lanczos basis m × n; for a model
of 33k parameters either is gigabytes. Both sizes are known from shapes alone, so they are
checked before anything is allocated, against one ``max_bytes`` limit.
"""

from __future__ import annotations

from jaxtrain._text import beside

__all__ = ["DEFAULT_MAX_BYTES", "MemoryLimitError", "check_memory"]

DEFAULT_MAX_BYTES = 2 * 1024**3
"""Largest matrix a curvature routine allocates unless told otherwise: 2 GiB."""


class MemoryLimitError(ValueError):
    """A curvature computation would allocate more than its ``max_bytes``; nothing was run.

    Beside the message, ``what`` (the matrix and its shape), ``nbytes`` and ``max_bytes``, so
    that a front end can word the refusal with its own options (:attr:`size_text`).
    """

    def __init__(self, message: str, *, what: str = "", nbytes: int = 0, max_bytes: int = 0):
        super().__init__(message)
        self.what, self.nbytes, self.max_bytes = what, nbytes, max_bytes

    @property
    def size_text(self) -> str:
        """``"<what> needs N bytes (X GiB), more than the limit of M"``, without advice."""
        gib, limit = _gib(self.nbytes, self.max_bytes), f"{self.max_bytes:,}"
        return f"{self.what} needs {self.nbytes:,} bytes ({gib}), more than the limit of {limit}"


def _gib(nbytes: int, max_bytes: int) -> str:
    """The size in GiB, with the digits that show it above the limit: two decimals from
    0.01 GiB on, two significant digits below (4 bytes are 3.7e-09 GiB, not 0.00)."""
    gib, limit = nbytes / 1024**3, max_bytes / 1024**3
    return f"{beside(gib, limit, 2, fixed=gib >= 0.01)} GiB"


def check_memory(what: str, nbytes: int, max_bytes: int, advice: str) -> None:
    """Raises :class:`MemoryLimitError` when ``what`` needs more than ``max_bytes`` bytes.

    Args:
      what: the matrix, with its shape, e.g. ``"the dense Hessian of 4,000 parameters"``.
      nbytes: its size in bytes.
      max_bytes: the limit.
      advice: what to do instead, one sentence.
    """
    if nbytes > max_bytes:
        raise MemoryLimitError(
            f"{what} needs {nbytes:,} bytes ({_gib(nbytes, max_bytes)}), more than"
            f" max_bytes={max_bytes:,}. {advice}",
            what=what,
            nbytes=nbytes,
            max_bytes=max_bytes,
        )
