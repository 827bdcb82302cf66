"""Numbers in sentences: counts with their noun, shares as percentages."""

from __future__ import annotations

import math

__all__ = ["counted", "percent"]


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
