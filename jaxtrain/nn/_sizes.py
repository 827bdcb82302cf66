"""The models' size arguments checked alike: counts of features, channels, layers, pixels."""

from __future__ import annotations

from typing import Any

from jaxtrain._numbers import is_int

__all__ = ["check_sizes"]


def check_sizes(minimum: int, **sizes: Any) -> None:
    """Refuses any of ``sizes`` that is not an int (NumPy's too, not a bool) ≥ ``minimum``.

    A float depth or a zero kernel failed deep inside the layers (a ``TypeError`` from
    ``range``, a ``ZeroDivisionError`` in the initializer); the message names the argument.
    """
    for name, value in sizes.items():
        if not is_int(value) or value < minimum:
            raise ValueError(f"{name} must be an int ≥ {minimum}, got {value!r}")
