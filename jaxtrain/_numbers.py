"""What counts as a number argument: one rule for every size, count, seed and axis (an
integer), and one for every probability, scale, fraction and level (a real number).

A real number may come as a Python float, a NumPy scalar (``np.float32(0.8)``, read from a
config array) or a 0-d JAX array (``jnp.float32(0.8)``, computed by a schedule); all are one
number and are taken alike. A bool is refused although Python counts it as an int: no one
means a batch of ``True`` or a probability of ``True``. A string is refused although
``float("0.5")`` reads it: it is text, and ``"11"`` read as a pair would be (1, 1).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import numpy as np

__all__ = ["is_float_dtype", "is_int", "is_real_dtype", "pair_of", "real_number", "real_pair"]


def is_int(value: Any) -> bool:
    """Whether ``value`` is an integer: a Python or NumPy int, not a bool (``True`` is an
    ``int`` to Python, but no one means a batch of ``True``), not a float, not an array.

    Examples:
        >>> is_int(3), is_int(np.int64(3)), is_int(True), is_int(3.0)
        (True, True, False, False)
    """
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def is_float_dtype(dtype: Any) -> bool:
    """Whether arrays of ``dtype`` hold floating-point numbers, bfloat16 too (to NumPy an
    extension type, not a ``np.floating``).

    Examples:
        >>> is_float_dtype(np.float16), is_float_dtype(jnp.bfloat16), is_float_dtype(np.int8)
        (True, True, False)
    """
    return bool(jnp.issubdtype(dtype, jnp.floating))


def is_real_dtype(dtype: Any) -> bool:
    """Whether arrays of ``dtype`` hold real numbers: bools, integers or floats (bfloat16
    too, which is no NumPy float); not complex numbers, strings, dates or objects.

    Examples:
        >>> is_real_dtype(np.uint8), is_real_dtype(jnp.bfloat16), is_real_dtype(object)
        (True, True, False)
    """
    return dtype == np.bool_ or any(
        jnp.issubdtype(dtype, kind) for kind in (jnp.integer, jnp.floating)
    )


def real_number(value: Any) -> float | None:
    """``value`` as a float when it is one real number, else ``None``.

    Real numbers are Python and NumPy ints and floats (bools excluded) and 0-d integer or
    float arrays (NumPy or JAX, bfloat16 too); NaN and inf are numbers here, ranges are the
    caller's to check.

    Examples:
        >>> import numpy as np, jax.numpy as jnp
        >>> real_number(0.5), real_number(np.float32(0.5)), real_number(jnp.float32(0.5))
        (0.5, 0.5, 0.5)
        >>> real_number(True), real_number("0.5"), real_number(np.array([0.5]))
        (None, None, None)
    """
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, numbers.Real):
        return float(value)
    dtype = getattr(value, "dtype", None)
    scalar = getattr(value, "shape", None) == () and dtype is not None
    if scalar and dtype != np.bool_ and is_real_dtype(dtype):
        return float(value)  # a 0-d array: jnp.float32(0.8) is one
    return None


def pair_of(value: Any, one: Callable[[Any], Any]) -> tuple[Any, Any] | None:
    """``value`` as two items when it is a pair (a tuple, a list, a 1-D array of two) whose
    items ``one`` reads (``None`` for an item it refuses), else ``None``; a string is no
    pair, though it iterates."""
    if isinstance(value, str | bytes):
        return None
    try:
        items = tuple(value)
    except TypeError:  # not iterable: a number, a 0-d array
        return None
    if len(items) != 2:
        return None
    first, second = one(items[0]), one(items[1])
    if first is None or second is None:
        return None
    return first, second


def real_pair(value: Any) -> tuple[float, float] | None:
    """``value`` as two floats when it is a pair of real numbers, else ``None``
    (:func:`pair_of`)."""
    return None if real_number(value) is not None else pair_of(value, real_number)
