"""Values as strict JSON: what every ``*.json`` the library writes goes through.

Strict JSON has no NaN and no infinity, and the two mean different things: a NaN is a number
missing (not measured, not defined), an infinity a measured one (a loss that overflowed). So
NaN is written as ``null`` and ±∞ as the strings ``"Infinity"`` and ``"-Infinity"`` (the
spellings ``float()`` in Python and ``Number()`` in JavaScript read back), everywhere: a
report, a diagnosis, a history and a command's ``--json`` agree.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["from_json_float", "json_float", "to_jsonable"]

_INFINITIES = {"Infinity": math.inf, "-Infinity": -math.inf}


def json_float(value: float) -> float | str | None:
    """One float as a JSON value: itself if finite, ``None`` for NaN, ``"Infinity"`` or
    ``"-Infinity"``.

    Examples:
      >>> [json_float(v) for v in (0.5, float("nan"), float("inf"), -float("inf"))]
      [0.5, None, 'Infinity', '-Infinity']
    """
    value = float(value)
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return None
    return "Infinity" if value > 0 else "-Infinity"


def from_json_float(value: float | str | None) -> float:
    """The float :func:`json_float` wrote: ``None`` is NaN, the two strings ±∞.

    Raises:
      ValueError: for any other string.
    """
    if value is None:
        return math.nan
    if isinstance(value, str):
        if value not in _INFINITIES:
            raise ValueError(f"not a JSON float: {value!r}")
        return _INFINITIES[value]
    return float(value)


def to_jsonable(value: Any, *, fallback: Callable[[Any], Any] | None = None) -> Any:
    """Converts NumPy/JAX scalars and arrays, tuples and mappings to plain JSON values.

    Floats are written by :func:`json_float`: NaN as ``None`` (a number missing), ±∞ as
    ``"Infinity"``/``"-Infinity"`` (a number measured). Write the result with
    ``json.dumps(..., allow_nan=False)``.

    Args:
      value: the value to convert.
      fallback: what to make of any other object (e.g. ``str``); ``None`` refuses it.

    Returns:
      Dicts with string keys, lists, strings, booleans, ints, floats and ``None``.

    Raises:
      TypeError: for an object of no JSON type when there is no ``fallback``.

    Examples:
      >>> to_jsonable({"loss": np.float32(0.5), "curve": (1.0, float("nan"), float("inf"))})
      {'loss': 0.5, 'curve': [1.0, None, 'Infinity']}
    """
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v, fallback=fallback) for k, v in value.items()}
    if isinstance(value, bool | np.bool_):  # before int: a bool is an int
        return bool(value)
    if isinstance(value, str) or value is None:
        return value
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return json_float(value)
    if isinstance(value, Sequence):
        return [to_jsonable(v, fallback=fallback) for v in value]
    if hasattr(value, "__array__"):
        array = np.asarray(value)
        if array.dtype == bool:
            return array.tolist() if array.ndim else bool(array)
        if np.issubdtype(array.dtype, np.integer):
            return array.tolist() if array.ndim else int(array)
        if _is_real_float(array.dtype):
            return to_jsonable(array.astype(np.float64).tolist() if array.ndim else float(array))
    if fallback is not None:
        return fallback(value)
    raise TypeError(f"cannot store {type(value).__name__} in JSON: {value!r}")


def _is_real_float(dtype: np.dtype) -> bool:
    """NumPy's floats and ml_dtypes' (bfloat16, float8_*), which NumPy does not call floating."""
    if np.issubdtype(dtype, np.floating):
        return True
    if dtype.kind not in "fV":  # ml_dtypes' float8_e5m2 says "f", bfloat16 "V"
        return False
    import ml_dtypes  # only here: jax has already imported it for any array of these dtypes

    try:
        ml_dtypes.finfo(dtype)
    except ValueError:  # int2/int4 and other non-float extension types
        return False
    return True
