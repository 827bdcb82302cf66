"""The user's loss, metrics, augmentation and optimizer as settings of compiled programs, read
at each call.

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
from jax.tree_util import Partial

from jaxtrain._hoisted import static_now
from jaxtrain.optim._extra_args import update_with_extra_args
from jaxtrain.train._checks import one_example_like

__all__ = [
    "augmentation_now",
    "loss_and_metrics_now",
    "optimizer_now",
    "optimizer_program",
    "schedule_now",
]


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


def _stand_in_loss(params: Any, *args: Any, **kwargs: Any) -> jax.Array:
    """The loss an optimizer's update is read with: any fixed function serves, the same at
    every call (the step's own loss is read apart)."""
    del args, kwargs
    return sum(jax.numpy.sum(leaf) for leaf in jax.tree.leaves(params))


def _update_with_stand_in_loss(optimizer: Any, grads: Any, state: Any, params: Any) -> Any:
    update = update_with_extra_args(optimizer)
    return update(grads, state, params, value=jax.numpy.float32(0), value_fn=_stand_in_loss)


def _update_reading(optimizer: Any, params: Any, opt_state: Any) -> tuple[Partial, tuple]:
    """The optimizer's update with a stand-in loss, and the shapes it is read at."""
    shapes = jax.eval_shape(lambda *trees: trees, params, opt_state, params)
    return Partial(_update_with_stand_in_loss, optimizer), shapes


def optimizer_now(optimizer: Any, params: Any, opt_state: Any) -> Any:
    """``optimizer`` read now, as a key of the programs that run it: its update traced at the
    run's parameters and state (not computed).

    Equal to a later call's only while the same optimizer computes the same from the same
    arrays: a schedule reading a table of η that the user changed between two runs compiles
    anew, where keeping the programs by the optimizer object trained with the old table.
    Costs a trace per ``fit`` call: 2–8 ms for sgd or adam on a 25k-parameter MLP, 95–146 ms
    for optax.lbfgs and the escape transforms. An update that cannot be traced on its own
    (with a stand-in loss) is keyed by the optimizer object alone; the run then meets its
    error where it always did.
    """
    update, shapes = _update_reading(optimizer, params, opt_state)
    try:
        return static_now(update, shapes)
    except Exception:  # any error of the user's update belongs to the run itself
        return optimizer


def optimizer_program(optimizer: Any, params: Any, opt_state: Any) -> Any:
    """The closed jaxpr of ``optimizer``'s update at the run's parameters and state, to
    compare one process's optimizer with another's (its Python numbers are in the text, its
    arrays in the constants); ``None`` where the update cannot be traced on its own."""
    update, shapes = _update_reading(optimizer, params, opt_state)
    try:
        return jax.make_jaxpr(update)(*shapes)
    except Exception:  # any error of the user's update belongs to the run itself
        return None


def schedule_now(schedule: Any) -> Any:
    """A schedule η(t) given to ``fit`` for the record, read now (as the optimizer): a
    callable computing the same, equal to a later call's while it reads the same. Anything
    else (a number, ``"state"``, ``None``) is returned as it is."""
    if not callable(schedule):
        return schedule
    return static_now(schedule, (jax.ShapeDtypeStruct((), jax.numpy.int32),))
