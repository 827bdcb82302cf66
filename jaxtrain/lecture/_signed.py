"""A difference in a sentence, with its sign: "+8.0 points", "-0.3 points", "0.0 points"."""

from __future__ import annotations

import math

from jaxtrain._text import beside

__all__ = ["signed"]


def signed(value: float, decimals: int = 1) -> str:
    """``value`` with its sign in ``decimals`` decimals, more where it would print as zero.

    ``f"{x:+.1f}"`` prints a zero (or a value that rounds to one) as "-0.0" or "+0.0", a sign
    on no change, or a change hidden by the rounding. Here zero prints without a sign and any
    other value keeps its sign and the digits that show it off zero (as
    :func:`jaxtrain._text.beside` prints a value beside 0). NaN is "n/a".

    Examples:
      >>> signed(8.04), signed(-0.3), signed(0.04), signed(-0.0)
      ('+8.0', '-0.3', '+0.04', '0.0')
    """
    value = float(value)
    if math.isnan(value):
        return "n/a"
    if value == 0:
        return f"{0.0:.{decimals}f}"
    return ("+" if value > 0 else "-") + beside(abs(value), 0.0, decimals, fixed=True)
