"""Numbers in the JSON of :mod:`jaxtrain.diagnose`: a missing one and an infinite one differ.

Strict JSON has no NaN and no infinity. :func:`jaxtrain._json.to_jsonable` writes both as
``null``, which would make a loss that overflowed (measured, +inf: an infinitely bad model) read
like a loss that was never measured (no test set). The diagnosis, the run explanation and the
cross-validation keep them apart:

- NaN (not measured, or not defined) is ``null``;
- +inf and −inf are the strings ``"inf"`` and ``"-inf"``.

``History.to_dict`` (``jaxtrain.train``) writes the infinities as ``"Infinity"`` and
``"-Infinity"`` instead, and ``to_jsonable`` as ``null``: one project-wide spelling is still to be
chosen; this module is the one place to change for this package.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from jaxtrain._json import to_jsonable

__all__ = ["INFINITIES", "json_number", "jsonable"]

# How ±inf is written; NaN is None.
INFINITIES = {math.inf: "inf", -math.inf: "-inf"}


def json_number(value: Any) -> float | str | None:
    """One float as a JSON value: itself if finite, ``None`` for NaN, ``"inf"``/``"-inf"``.

    Examples:
      >>> [json_number(v) for v in (0.5, float("nan"), float("inf"), -float("inf"))]
      [0.5, None, 'inf', '-inf']
    """
    value = float(value)
    if math.isnan(value):
        return None
    return INFINITIES.get(value, value)


def jsonable(value: Any) -> Any:
    """:func:`jaxtrain._json.to_jsonable` (any other object as its ``str``), with ±inf kept
    apart from NaN as :func:`json_number` writes them.

    Examples:
      >>> jsonable({"val": np.float32("inf"), "test": np.nan, "curve": np.array([1.0, -np.inf])})
      {'val': 'inf', 'test': None, 'curve': [1.0, '-inf']}
    """
    return to_jsonable(_infinities_named(value), fallback=str)


def _infinities_named(value: Any) -> Any:
    """``value`` with every infinite float (Python, NumPy scalar or in a float array) replaced
    by its string, before ``to_jsonable`` turns what is left of the non-finite into null."""
    if isinstance(value, Mapping):
        return {k: _infinities_named(v) for k, v in value.items()}
    if isinstance(value, float | np.floating):
        return INFINITIES.get(float(value), value)
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_infinities_named(v) for v in value]
    if hasattr(value, "__array__"):
        array = np.asarray(value)
        if np.issubdtype(array.dtype, np.floating) and np.isinf(array).any():
            return _infinities_named(array.astype(np.float64).tolist())
    return value
