"""optax's extra arguments of an update: what a training loop hands every transform."""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Callable
from typing import Any

import jax
import optax

from jaxtrain.optim._hyperparameters import INJECT, walk_transforms


def update_with_extra_args(optimizer: optax.GradientTransformation) -> Callable[..., Any]:
    """``update(grads, state, params, *, value, value_fn)``: ``optimizer.update`` given
    optax's extra arguments, as optax's own loops pass them.

    ``value`` (the loss L(θ)), ``grad`` (∇L(θ), the ``grads`` given) and ``value_fn`` (θ ↦
    L(θ)) go to every transform that takes them: ``optax.lbfgs``'s line search and
    ``optax.contrib.reduce_on_plateau`` need them; ``obj_fn`` (the same function) goes where a
    transform takes it (jaxtrain's escape transforms), as :func:`update_taking` hands them.
    """
    update = update_taking(optimizer)

    def update_fn(
        grads: Any, state: Any, params: Any, *, value: jax.Array, value_fn: Callable[..., Any]
    ) -> tuple[Any, Any]:
        extra = {"value": value, "grad": grads, "value_fn": value_fn, "obj_fn": value_fn}
        return update(grads, state, params, **extra)

    return update_fn


def update_taking(optimizer: optax.GradientTransformation) -> Callable[..., Any]:
    """``optimizer.update``, handed only the extra keyword arguments it takes of those given.

    ``obj_fn`` only where a transform takes it (:func:`takes_obj_fn`): optax's line search
    hands every extra argument it does not know to ``value_fn``, which refuses it. An update
    without ``**kwargs`` gets only the keywords it names (none for a plain
    ``GradientTransformation``; ``optax.contrib.sam`` names ``grad_fn`` alone); one that takes
    ``**kwargs`` (a ``GradientTransformationExtraArgs``, ``optax.MultiSteps``) gets the rest.
    """
    update = optimizer.update
    parameters = _parameters(update)
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
    named = {p.name for p in parameters}
    with_obj_fn = takes_obj_fn(optimizer)

    # Not named update_fn: the optimizer readers take a closure of that name for a transform.
    def handing_on(updates: Any, state: Any, params: Any = None, **extra: Any) -> tuple[Any, Any]:
        handed = {
            name: arg
            for name, arg in extra.items()
            if (takes_any or name in named) and (name != "obj_fn" or with_obj_fn)
        }
        return update(updates, state, params, **handed)

    return handing_on


def takes_obj_fn(optimizer: optax.GradientTransformation) -> bool:
    """Whether a transform of ``optimizer`` takes the loss as ``obj_fn`` (jaxtrain's escape
    transforms, ``optax.contrib.sophia``), under ``optax.inject_hyperparams`` too, whose
    inner transform is built only inside its update: there its factory's own update is read."""
    if any(p.name == "obj_fn" for p in _parameters(optimizer.update)):  # named otherwise
        return True
    for factory, cells, fn in walk_transforms(optimizer):
        if factory == INJECT:
            if _factory_update_takes_obj_fn(cells["inner_factory"]):
                return True
        elif any(p.name == "obj_fn" for p in _parameters(fn)):
            return True
    return False


def _factory_update_takes_obj_fn(factory: Callable[..., Any]) -> bool:
    """Whether an update function that ``factory`` (or the function a ``functools.partial``
    wraps) defines in its body takes ``obj_fn``, read off the compiled code of its body
    (nothing is built). A factory of the user's that calls an escape transform's is not
    looked into: pass the loss as ``obj_fn`` to such an update yourself."""
    while isinstance(factory, functools.partial):
        factory = factory.func
    code = getattr(inspect.unwrap(factory), "__code__", None)
    for inner in code.co_consts if code is not None else ():
        if isinstance(inner, types.CodeType) and inner.co_name.endswith("update_fn"):
            arguments = inner.co_varnames[: inner.co_argcount + inner.co_kwonlyargcount]
            if "obj_fn" in arguments:
                return True
    return False


def _parameters(fn: Callable[..., Any]) -> tuple[inspect.Parameter, ...]:
    try:
        return tuple(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # no signature to read (a builtin)
        return ()
