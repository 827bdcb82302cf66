"""Numbers in sentences: counts with their noun, shares as percentages, values beside the
thresholds they were compared with."""

from __future__ import annotations

import math

__all__ = ["beside", "counted", "percent"]


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``count`` and its noun, singular for exactly one: ``"1 step"``, ``"1,438 examples"``."""
    return f"{count:,} {noun if count == 1 else plural or noun + 's'}"


def percent(share: float) -> str:
    """A share as a percentage in fixed point: ``"150%"``, ``"3.2%"``, ``"0.041%"``.

    Two significant digits below 10%, whole percents from there on (``%g`` would print
    ``1.5e+02%``); NaN is ``"n/a"`` and infinities ``"∞%"``.
    """
    value = 100.0 * float(share)
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "∞%" if value > 0 else "−∞%"
    if abs(value) >= 10:
        return f"{value:,.0f}%"
    return f"{value:.2g}%"


def beside(value: float, threshold: float, digits: int = 3, *, fixed: bool = False) -> str:
    """``value`` with enough digits that it compares with ``threshold`` as it is.

    A sentence such as "0.2 (threshold 0.2)" for 0.2004 makes the reader see equality where
    the rule saw "above". From ``digits`` significant digits on (decimals, with ``fixed``),
    digits are added until the printed number lies on the same side of ``threshold`` as
    ``value`` (or equals it exactly); the 17 of a float64 always do. NaN is ``"n/a"`` and
    infinities ``"∞"``.

    Examples:
      >>> beside(0.2004, 0.2), beside(0.734, 0.2), beside(0.35, 0.2, 2, fixed=True)
      ('0.2004', '0.734', '0.35')
    """
    value, threshold = float(value), float(threshold)
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    side = (value > threshold) - (value < threshold)
    style = "f" if fixed else "g"
    if not fixed and abs(value) >= 1:
        # Whole digits are never cut to an exponent: 1234.5 is "1234.5" or "1235", not "1.23e+03".
        digits = max(digits, math.floor(math.log10(abs(value))) + 1)
    for precision in range(digits, digits + 18):
        text = f"{value:.{precision}{style}}"
        shown = float(text)
        if (shown > threshold) - (shown < threshold) == side:
            return text
    return repr(value)
