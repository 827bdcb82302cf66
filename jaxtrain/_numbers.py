"""What counts as an integer argument: one rule for every size, count, seed and axis."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["is_int"]


def is_int(value: Any) -> bool:
    """Whether ``value`` is an integer: a Python or NumPy int, not a bool (``True`` is an
    ``int`` to Python, but no one means a batch of ``True``), not a float, not an array.

    Examples:
        >>> is_int(3), is_int(np.int64(3)), is_int(True), is_int(3.0)
        (True, True, False, False)
    """
    return isinstance(value, int | np.integer) and not isinstance(value, bool)
