"""Loss values on a log scale, floored so that zeros and round-off show as a floor."""

from __future__ import annotations

from typing import Any

import numpy as np


def log10_above_floor(values: Any, relative: float, floor: float | None = None) -> np.ndarray:
    """log₁₀ of ``values``, each raised to a floor first; cells that are not finite are NaN.

    The floor is ``floor``, else ``relative`` × the largest *finite* value (and at least the
    smallest positive float): a loss that is 0, or below the float's resolution of the
    surface, sits on it instead of at −∞. A NaN or overflowed cell is left blank (contour plots
    skip NaN), so one bad cell does not set the floor, and with it every other cell, to NaN
    or infinity.
    """
    values = np.asarray(values, dtype=float)
    finite = np.isfinite(values)
    if floor is None:
        top = float(np.max(values[finite])) if finite.any() else 1.0
        floor = max(relative * top, np.finfo(float).tiny)
    with np.errstate(invalid="ignore"):
        return np.where(finite, np.log10(np.maximum(values, floor)), np.nan)
