"""The user's loss, metrics and augmentation as settings of compiled programs, read at each
call.

``fit`` and ``evaluate`` compile their steps with these functions as static settings, shared
by later calls with the same functions. A function is read when a call
starts (:func:`jaxtrain._hoisted.static_now`): a later call shares those programs only while
the function still computes the same from the same arrays, so a weight it closes over,
changed between two runs, is never trained or reported with its old value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

from jaxtrain._hoisted import static_now
from jaxtrain.train._checks import one_example_like

__all__ = ["augmentation_now", "loss_and_metrics_now"]


def loss_and_metrics_now(
    loss: Callable[..., Any],
    metrics: tuple[tuple[str, Callable[..., Any]], ...],
    apply: Callable[..., Any],
    params: Any,
    model_state: Any,
    data: tuple[Any, Any],
) -> tuple[Callable[..., Any], tuple[tuple[str, Callable[..., Any]], ...]]:
    """``loss`` and each metric read now, at the model's predictions on one example of
    ``data`` (traced, not computed).

    Returns:
      ``(loss, metrics)``: callables computing the same, equal to those of a later call only
      while the functions read the same (see :func:`jaxtrain._hoisted.static_now`).
    """
    x_one, y_one = one_example_like(data)
    predictions = jax.eval_shape(lambda xb: apply(params, model_state, xb, train=False)[0], x_one)
    call = (predictions, y_one)
    return static_now(loss, call), tuple((name, static_now(fn, call)) for name, fn in metrics)


def augmentation_now(
    augment: Callable[..., Any] | None, key: jax.Array, x: Any
) -> Callable[..., Any] | None:
    """``augment(key, example)`` read now, at one example of ``x`` (``None`` stays ``None``)."""
    if augment is None:
        return None
    example = jax.ShapeDtypeStruct(x.shape[1:], x.dtype)
    return static_now(augment, (jax.ShapeDtypeStruct(key.shape, key.dtype), example))
