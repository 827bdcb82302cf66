"""Construction-time checks of hyperparameters, skipped for traced values.

Under ``optax.inject_hyperparams`` inside ``jit`` a factory is re-run with every numeric
hyperparameter as a tracer: its value is unknown at trace time, so the checks below only look
at concrete values (Python numbers, NumPy and concrete JAX arrays) and let tracers through.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def concrete_float(name: str, value: Any) -> float | None:
    """The value of hyperparameter ``name`` as a Python float, or None when it is traced.

    Raises:
      TypeError: for a value that is not a number (a string, ``None``, an object), naming
        ``name``: NumPy's own message would not say which argument was wrong.
      ValueError: for an array that is not a scalar.
    """
    if isinstance(value, jax.core.Tracer):
        return None
    array = np.asarray(value) if _numeric(value) else None
    # jnp.issubdtype, not NumPy's: NumPy does not count ml_dtypes' bfloat16 as a number.
    if array is None or not (jnp.issubdtype(array.dtype, jnp.number) or array.dtype == np.bool_):
        raise TypeError(f"`{name}` must be a number, got {value!r} ({type(value).__name__}).")
    if array.ndim != 0:
        raise ValueError(f"`{name}` must be a scalar, got an array of shape {array.shape}.")
    return float(array)


def half_precision_note(value: Any) -> str:
    """Why a half-precision hyperparameter may be out of range though nobody wrote that
    value, and the remedy; ``""`` for any other value.

    ``optax.inject_hyperparams`` casts every hyperparameter to the parameters' dtype: in
    float16 a default ``eps=1e-8`` rounds to 0, in bfloat16 a default ``b2=0.999`` to 1.
    """
    dtype = getattr(value, "dtype", None)
    if dtype is None or not jnp.issubdtype(dtype, jnp.floating) or jnp.finfo(dtype).bits > 16:
        return ""
    return (
        f" It is a {np.dtype(dtype).name} value: optax.inject_hyperparams casts hyperparameters "
        "to the parameters' dtype, where 1e-8 rounds to 0 (float16) and 0.999 to 1 (bfloat16); "
        "keep them in float32 with inject_hyperparams(..., hyperparam_dtype=jnp.float32)."
    )


def _numeric(value: Any) -> bool:
    return not isinstance(value, str | bytes) and value is not None


def check_finite(name: str, value: Any) -> None:
    """Raises ValueError when ``value`` is concrete and NaN or infinite."""
    number = concrete_float(name, value)
    if number is not None and not math.isfinite(number):
        raise ValueError(f"`{name}` must be finite, got {number}.")


def check_non_negative(name: str, value: Any) -> None:
    """Raises ValueError when ``value`` is concrete and negative or not finite."""
    number = concrete_float(name, value)
    if number is None:
        return
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"`{name}` must be finite and >= 0, got {number}.")


def check_positive(name: str, value: Any) -> None:
    """Raises ValueError when ``value`` is concrete and not a finite number > 0."""
    number = concrete_float(name, value)
    if number is None:
        return
    if not math.isfinite(number) or number <= 0:
        note = half_precision_note(value) if number == 0 else ""  # 1e-8 rounds to 0
        raise ValueError(f"`{name}` must be finite and > 0, got {number}.{note}")


def check_unit_interval(name: str, value: Any) -> None:
    """Raises ValueError when ``value`` is concrete and outside [0, 1)."""
    number = concrete_float(name, value)
    if number is None:
        return
    if not 0.0 <= number < 1.0:
        note = half_precision_note(value) if number == 1 else ""  # 0.999 rounds to 1
        raise ValueError(f"`{name}` must lie in [0, 1), got {number}.{note}")


def check_at_least(name: str, value: Any, minimum: float, reason: str) -> None:
    """Raises ValueError when ``value`` is concrete and not a finite number >= ``minimum``."""
    number = concrete_float(name, value)
    if number is None:
        return
    if not math.isfinite(number) or number < minimum:
        raise ValueError(f"`{name}` must be finite and >= {minimum:g}, got {number}: {reason}.")


def check_learning_rate(value: Any) -> None:
    """A learning rate is a schedule (checked when called) or a finite number >= 0."""
    if callable(value):
        return
    if value is None:
        raise ValueError("`learning_rate` must be a number or a schedule, got None.")
    check_non_negative("learning_rate", value)


def check_scheduled(name: str, value: Any, count: Any, *, negative_ok: bool = False) -> None:
    """Raises ValueError when a schedule's ``value`` at ``count`` is concrete and not finite,
    or negative (unless ``negative_ok``); ``name`` is the hyperparameter it schedules.

    Inside ``jit`` a schedule of the traced count returns a traced value, which cannot be read
    without a host sync per step, so only concrete values are checked: every value outside
    ``jit`` (``init`` and eager updates) and a schedule returning Python numbers anywhere.
    """
    number = concrete_float(name, value)
    if number is None or (math.isfinite(number) and (negative_ok or number >= 0)):
        return
    step = concrete_float("count", count)
    at = "" if step is None else f" at step {int(step)}"
    bound = "finite" if negative_ok else "finite and >= 0"
    raise ValueError(
        f"`{name}` schedule returned {number}{at}: a {name.replace('_', ' ')} must be {bound}."
    )


def checked_schedule(
    name: str, schedule: Callable[[Any], Any], *, negative_ok: bool = False
) -> Callable[[Any], Any]:
    """``schedule`` with each value it returns checked by :func:`check_scheduled` (``name``
    the hyperparameter it schedules): a scheduled η's, AdamW's λ's and a decay's wrapper."""

    def checked(count: Any) -> Any:
        value = schedule(count)
        check_scheduled(name, value, count, negative_ok=negative_ok)
        return value

    return checked


def check_steps(name: str, value: Any) -> None:
    """Raises ValueError when a step count is concrete and negative or not an integer."""
    number = concrete_float(name, value)
    if number is None:
        return
    if not math.isfinite(number) or number < 0 or number != int(number):
        raise ValueError(f"`{name}` must be an integer >= 0, got {value}.")
