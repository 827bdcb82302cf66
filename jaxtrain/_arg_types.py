"""argparse types for numbers: one checked conversion per kind of value, shared by the
command line (``jaxtrain.cli``) and the examples' scripts (``jaxtrain.lecture``)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

__all__ = [
    "checked_number",
    "fraction",
    "non_negative_float",
    "non_negative_int",
    "number_of_classes",
    "positive_float",
    "positive_int",
    "random_seed",
]


def checked_number(
    convert: Callable[[str], Any], accept: Callable[[Any], bool], expected: str, doc: str
) -> Callable[[str], Any]:
    """An argparse type: ``convert`` the text, then keep it only when ``accept(value)``."""

    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    parse.__doc__ = doc
    parse.__name__ = expected  # argparse names the type by it in its own messages
    return parse


positive_int = checked_number(int, lambda v: v >= 1, "a positive integer", "An int ≥ 1.")
number_of_classes = checked_number(
    int, lambda v: v >= 2, "an integer >= 2", "A count of classes: ≥ 2."
)
non_negative_int = checked_number(int, lambda v: v >= 0, "an integer >= 0", "An int ≥ 0.")
positive_float = checked_number(
    float, lambda v: v > 0 and math.isfinite(v), "a positive number", "A finite float > 0."
)
non_negative_float = checked_number(
    float, lambda v: v >= 0 and math.isfinite(v), "a number >= 0", "A finite float ≥ 0."
)
fraction = checked_number(float, lambda v: 0 < v < 1, "a number in (0, 1)", "A float in (0, 1).")
# jax.random.key and NumPy's generators take seeds in [0, 2**32) alike.
random_seed = checked_number(
    int, lambda v: 0 <= v < 2**32, "an integer in [0, 2**32)", "A seed: an int in [0, 2³²)."
)
