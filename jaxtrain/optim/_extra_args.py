"""optax's extra arguments of an update: what a training loop hands every transform."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import jax
import optax

from jaxtrain.optim._hyperparameters import walk_transforms


def update_with_extra_args(optimizer: optax.GradientTransformation) -> Callable[..., Any]:
    """``update(grads, state, params, *, value, value_fn)``: ``optimizer.update`` given
    optax's extra arguments, as optax's own loops pass them.

    ``value`` (the loss L(θ)), ``grad`` (∇L(θ), the ``grads`` given) and ``value_fn`` (θ ↦
    L(θ)) go to every transform that takes them: ``optax.lbfgs``'s line search and
    ``optax.contrib.reduce_on_plateau`` need them. ``obj_fn`` (the same function) is passed
    too where a transform takes it (jaxtrain's escape transforms), and only then: optax's
    line search hands every extra argument it does not know to ``value_fn``. An update that
    takes no extra arguments drops them (``optax.with_extra_args_support``); one that takes
    ``**kwargs`` without being a ``GradientTransformationExtraArgs`` (``optax.MultiSteps``)
    gets them.
    """
    update = optimizer.update
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in _parameters(update)):
        update = optax.with_extra_args_support(optimizer).update
    takes_obj_fn = any(
        p.name == "obj_fn" for _, _, fn in walk_transforms(optimizer) for p in _parameters(fn)
    )

    def update_fn(
        grads: Any, state: Any, params: Any, *, value: jax.Array, value_fn: Callable[..., Any]
    ) -> tuple[Any, Any]:
        extra = {"value": value, "grad": grads, "value_fn": value_fn}
        if takes_obj_fn:
            extra["obj_fn"] = value_fn
        return update(grads, state, params, **extra)

    return update_fn


def _parameters(fn: Callable[..., Any]) -> tuple[inspect.Parameter, ...]:
    try:
        return tuple(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # no signature to read (a builtin)
        return ()
