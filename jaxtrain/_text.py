"""Numbers in sentences: counts with their noun, shares as percentages, values beside the
thresholds they were compared with, differences with their sign."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

__all__ = [
    "beside",
    "counted",
    "listed",
    "non_finite",
    "percent",
    "printed",
    "side_by_side",
    "signed",
]


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``count`` and its noun, singular for exactly one: ``"1 step"``, ``"1,438 examples"``."""
    return f"{count:,} {noun if count == 1 else plural or noun + 's'}"


def listed(items: Sequence[Any], noun: str, plural: str | None = None) -> str:
    """``items`` after their noun, singular for one: ``"step 5"``, ``"steps 5, 10"``.

    A Python list after a plural ("steps [5]") reads as several where there is one.
    """
    if not items:
        return f"no {plural or noun + 's'}"
    return f"{noun if len(items) == 1 else plural or noun + 's'} {', '.join(map(str, items))}"


def percent(share: float, against: float | None = None) -> str:
    """A share as a percentage in fixed point: ``"150%"``, ``"3.2%"``, ``"0.041%"``.

    Two significant digits below 10%, whole percents from there on (``%g`` would print
    ``1.5e+02%``); NaN is ``"n/a"`` and infinities ``"∞%"``. With ``against``, a share it
    was compared with, digits are added as :func:`beside` does until the printed percentage
    lies on the same side of it: 0.0996 against 0.1 is ``"9.96%"``, not ``"10%"``.

    Examples:
      >>> percent(0.032), percent(0.0996), percent(0.0996, against=0.1)
      ('3.2%', '10%', '9.96%')
    """
    value = 100.0 * float(share)
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "∞%" if value > 0 else "−∞%"
    shown = f"{value:,.0f}" if abs(value) >= 10 else f"{value:.2g}"
    if against is not None:
        threshold = 100.0 * float(against)
        if _sign(float(shown.replace(",", "")) - threshold) != _sign(value - threshold):
            shown = beside(value, threshold)
    return f"{shown}%"


def non_finite(value: float) -> str:
    """A number that is not finite, in a sentence: ``"n/a"`` for NaN, ``"∞"`` or ``"−∞"``."""
    if math.isnan(value):
        return "n/a"
    return "∞" if value > 0 else "−∞"


def beside(value: float, threshold: float, digits: int = 3, *, fixed: bool = False) -> str:
    """``value`` with enough digits that it compares with ``threshold`` as it is.

    A sentence such as "0.2 (threshold 0.2)" for 0.2004 makes the reader see equality where
    the rule saw "above". From ``digits`` significant digits on (decimals, with ``fixed``),
    digits are added until the printed number lies on the same side of ``threshold`` as
    ``value`` (or equals it exactly); the 17 of a float64 always do. Whole digits are never
    cut to an exponent. A value that is not finite prints as :func:`non_finite` says.

    Examples:
      >>> beside(0.2004, 0.2), beside(0.734, 0.2), beside(0.35, 0.2, 2, fixed=True)
      ('0.2004', '0.734', '0.35')
    """
    value = float(value)
    if not math.isfinite(value):
        return non_finite(value)
    significant = not fixed
    precision = _first_precision(
        [value], [float(threshold)], range(digits, digits + 18), significant
    )
    return repr(value) if precision is None else _formatted(value, precision, significant)


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


def side_by_side(
    values: Sequence[float],
    thresholds: Sequence[float] = (),
    decimals: int = 2,
    *,
    significant: bool = False,
) -> list[str]:
    """``values`` in one number of decimals, from ``decimals`` on, that keeps their order.

    Numbers printed next to each other are read against each other: "linear 0.30, MLP 0.30"
    beside "the MLP gets it lower" reads as a tie. Decimals are added (up to 17) until every
    two values that differ print differently in the right order, and every value lies on the
    same side of each of ``thresholds`` in print as it does exactly. With ``significant``,
    ``decimals`` counts significant digits instead (for values of very different sizes, such
    as an eigenvalue and its tolerance), and whole digits are never cut to an exponent
    (1234.5 is "1234", not "1.23e+03"). Non-finite values print as :func:`non_finite` says.

    Examples:
      >>> side_by_side([0.3004, 0.2996]), side_by_side([0.2004], thresholds=[0.2])
      (['0.3004', '0.2996'], ['0.2004'])
    """
    values = [float(v) for v in values]
    finite = [v for v in values if math.isfinite(v)]
    thresholds = [float(t) for t in thresholds]
    precision = _first_precision(finite, thresholds, range(decimals, 18), significant)
    precision = 17 if precision is None else precision
    return [
        _formatted(v, precision, significant) if math.isfinite(v) else non_finite(v) for v in values
    ]


def printed(text: str) -> float:
    """The number a caption shows as ``text``, as :func:`side_by_side`, :func:`beside` and
    :func:`signed` print one: ``"9.8"``, ``"1,234"``, or as :func:`non_finite` names it.

    A difference or ratio stated beside its operands is computed from them as printed, so a
    reader who redoes it gets the same: "9.8 ms and 1.5 ms: 6.5× faster", not the 6.6× of
    the unrounded times.

    Examples:
      >>> printed("9.8") / printed("1.5"), printed("1,234")
      (6.533333333333334, 1234.0)
    """
    names = {"∞": math.inf, "−∞": -math.inf, "n/a": math.nan}
    if text in names:
        return names[text]
    return float(text.replace(",", "").replace("−", "-"))


def _formatted(value: float, precision: int, significant: bool) -> str:
    """``value`` in ``precision`` decimals, or significant digits never cutting whole ones."""
    if not significant:
        return f"{value:.{precision}f}"
    whole = math.floor(math.log10(abs(value))) + 1 if abs(value) >= 1 else 0
    return f"{value:.{max(precision, whole)}g}"


def _first_precision(
    values: list[float], thresholds: list[float], precisions: range, significant: bool
) -> int | None:
    """The first of ``precisions`` at which the finite ``values`` print in their order and
    each on its side of every threshold (equal to it only where it is equal); ``None`` if
    none does."""
    for precision in precisions:
        shown = [float(_formatted(v, precision, significant)) for v in values]
        pairs = itertools.combinations(range(len(values)), 2)
        in_order = all(_sign(shown[i] - shown[j]) == _sign(values[i] - values[j]) for i, j in pairs)
        if in_order and all(
            _sign(p - t) == _sign(v - t)
            for p, v in zip(shown, values, strict=True)
            for t in thresholds
        ):
            return precision
    return None


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)
