"""Loss values on a log scale, floored so that zeros and round-off show as a floor."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def log10_above_floor(values: Any, relative: float, floor: float | None = None) -> np.ndarray:
    """log₁₀ of ``values``, each raised to a floor first; cells that are not finite are NaN.

    The floor is ``floor``, else ``relative`` × the largest *finite* positive value (1 if
    none; and at least the smallest positive float): a loss that is 0, or below the float's
    resolution of the surface, sits on it instead of at −∞. A NaN or overflowed cell is left
    blank (contour plots skip NaN), so one bad cell does not set the floor, and with it every
    other cell, to NaN or infinity.

    Raises:
      ValueError: if ``floor`` is given and is not positive and finite (log₁₀ 0 is −∞: the
        cells it was meant to hold would be left blank).
    """
    if floor is not None and not (0.0 < floor < math.inf):
        raise ValueError(f"a log floor must be positive and finite, got {floor}")
    values = np.asarray(values, dtype=float)
    finite = np.isfinite(values)
    if floor is None:
        # Without a positive value there is no scale to take a share of: 1 stands in.
        positive = values[finite & (values > 0)]
        top = float(np.max(positive)) if positive.size else 1.0
        floor = max(relative * top, np.finfo(float).tiny)
    with np.errstate(invalid="ignore"):
        return np.where(finite, np.log10(np.maximum(values, floor)), np.nan)


def contour_values(
    values: Any, log_scale: bool | None, relative: float, floor: float | None = None
) -> tuple[np.ndarray, bool]:
    """The loss values a contour map draws, and whether they are log₁₀ values.

    One rule for every contour map of the plot package. A log scale cannot show a loss below
    zero: :func:`log10_above_floor` would draw every such cell at the floor, the whole
    descending side of a saddle as one flat band. So ``log_scale=None`` draws log₁₀ where no
    finite value is negative and the values as they are otherwise; ``True`` refuses a
    negative value; ``False`` draws the values as they are. Zeros are not negative: they sit
    on the floor (``relative`` × the largest finite value, or ``floor``).

    Raises:
      ValueError: with ``log_scale=True``, if a finite value is negative; with a log scale, if
        ``floor`` is not positive and finite.
    """
    values = np.asarray(values, dtype=float)
    if not draws_log(values, log_scale):
        return values, False
    return log10_above_floor(values, relative, floor), True


def draws_log(values: Any, log_scale: bool | None) -> bool:
    """Whether ``values`` are drawn on a log scale: the rule of :func:`contour_values`, for
    every plot of losses (``False``: no; ``None``: where no finite value is negative;
    ``True``: yes, refusing a negative value).

    Raises:
      ValueError: with ``log_scale=True``, if a finite value is negative.
    """
    if log_scale is False:
        return False
    values = np.asarray(values, dtype=float)
    finite = values[np.isfinite(values)]
    negative = int(np.sum(finite < 0))
    if negative and log_scale is None:
        return False
    if negative:
        raise ValueError(
            f"log_scale=True draws log₁₀ of the loss, but {negative} of the {finite.size} finite"
            f" losses are negative (lowest {float(finite.min()):.4g}); pass log_scale=False, or"
            " None to draw a log scale only where no loss is negative"
        )
    return True
