"""An optimizer's hyperparameters, read from the optimizer itself: momentum, β₁, ε, η.

Hyperparameters that an optax transform keeps in its closure (optax's ``scale_by_adam``
keeps β₁, β₂ and ε there, not in its state) are read from the ``update`` function's closure:
every optax and jaxtrain transform is a factory ``name(...)`` whose ``update_fn`` closes over
its hyperparameters by name, and ``optax.chain`` closes over its members' functions. Under
``optax.inject_hyperparams`` they are in the state instead, and are read there.
"""

from __future__ import annotations

import dataclasses
import inspect
import numbers
import re
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

__all__ = [
    "ADAGRAD_FACTORIES",
    "ADAM_FACTORIES",
    "INJECT",
    "MEAN_SQUARE_FACTORIES",
    "RADAM_FACTORIES",
    "RMS_FACTORIES",
    "Part",
    "optimizer_parts",
    "walk_transforms",
]

# The adaptive transforms by family, as :func:`optimizer_parts` names them: the factory of
# the transform itself, and the alias's name under ``optax.inject_hyperparams``. Read by the
# effective step size, the stability threshold and the learning rate's reading alike.
ADAM_FACTORIES = ("scale_by_adam", "adam", "adamw")
RADAM_FACTORIES = ("scale_by_radam", "radam")
RMS_FACTORIES = ("scale_by_rms", "scale_by_stddev", "rmsprop")
ADAGRAD_FACTORIES = ("scale_by_rss", "scale_by_adagrad", "adagrad")
MEAN_SQUARE_FACTORIES = ("scale_by_root_mean_square_history",)

# A transform's update: optax names it update_fn, a wrapper with two modes X_update_fn
# (optax.contrib.sam's transparent_update_fn), which must not pass for no transform at all.
_UPDATE_FN = re.compile(r"^(\w+)\.<locals>\.(?:\w+_)?update_fn$")
# How walk_transforms names an optax.inject_hyperparams wrapper (its inner transform is built
# only inside its update).
INJECT = "inject_hyperparams"


@dataclasses.dataclass(frozen=True)
class Part:
    """One transform of an optimizer: the factory's name, its numeric hyperparameters, and the
    names of those an ``optax.inject_hyperparams`` schedule moves at every step (their values
    here are the state's current ones)."""

    factory: str
    hyperparams: tuple[tuple[str, Any], ...]
    scheduled: tuple[str, ...] = ()

    def get(self, name: str, default: Any = None) -> Any:
        return dict(self.hyperparams).get(name, default)


def _scalar(value: Any) -> Any:
    """A hyperparameter's number, or ``None`` when it is not one (a schedule, a string).

    A Python number for a constant (NumPy's 0-d arrays and JAX's concrete ones included), and
    the traced value itself inside ``jit``, where ``inject_hyperparams`` keeps the values in
    the traced state: dropping it would let the reader fall back to optax's default.
    """
    if isinstance(value, bool | numbers.Number):
        return value
    if isinstance(value, np.ndarray | jax.Array) and value.shape == ():
        if not jnp.issubdtype(value.dtype, jnp.number) and value.dtype != np.bool_:
            return None
        try:
            return value.item()
        except jax.errors.ConcretizationTypeError:
            return value
    return None


def _inject_states(opt_state: Any) -> list[Any]:
    def is_inject(x: Any) -> bool:
        return hasattr(x, "hyperparams") and hasattr(x, "inner_state")

    return [n for n in jax.tree_util.tree_leaves(opt_state, is_leaf=is_inject) if is_inject(n)]


def _walk(fn: Any, seen: set[int]) -> Iterator[tuple[str, dict[str, Any], Any]]:
    """Yields ``(factory, closure values, fn)`` for every transform ``update_fn`` under ``fn``."""
    if id(fn) in seen:
        return
    seen.add(id(fn))
    if isinstance(fn, optax.GradientTransformation):
        # Its update only: walking the tuple would visit ``init`` first, and an init that
        # closes over a transform (jaxtrain's scheduled learning rate) would put that
        # transform before the links that precede it in the chain.
        yield from _walk(fn.update, seen)
        return
    if isinstance(fn, tuple | list):
        for item in fn:
            yield from _walk(item, seen)
        return
    if isinstance(fn, dict):
        for item in fn.values():
            yield from _walk(item, seen)
        return
    owner = getattr(fn, "__self__", None)
    if owner is not None and hasattr(owner, "__dict__"):
        # A bound method (``optax.MultiSteps``'s update): its transforms are the instance's.
        for value in vars(owner).values():
            yield from _walk(value, seen)
        return
    code = getattr(fn, "__code__", None)
    if code is None:
        return
    cells = {}
    for name, cell in zip(code.co_freevars, fn.__closure__ or (), strict=True):
        try:
            cells[name] = cell.cell_contents
        except ValueError:  # an empty cell
            continue
    qualname = fn.__qualname__
    if qualname.startswith(INJECT) and "inner_factory" in cells:
        yield INJECT, cells, fn
        return
    match = _UPDATE_FN.match(qualname)
    if match:
        # A factory's own helpers (optax's scale_by_radam keeps ε in ``_radam_update``) hold
        # hyperparameters of the same transform.
        merged = dict(cells)
        helpers = f"{match.group(1)}.<locals>."
        for value in cells.values():
            if getattr(value, "__qualname__", "").startswith(helpers) and value is not fn:
                for name, cell in zip(
                    value.__code__.co_freevars, value.__closure__ or (), strict=True
                ):
                    try:
                        merged.setdefault(name, cell.cell_contents)
                    except ValueError:
                        continue
        yield match.group(1), merged, fn
    for value in cells.values():
        if callable(value) or isinstance(value, tuple | list | dict):
            yield from _walk(value, seen)


def walk_transforms(
    optimizer: optax.GradientTransformation,
) -> Iterator[tuple[str, dict[str, Any], Any]]:
    """Yields ``(factory, closure values, update_fn)`` for each transform, in chain order.

    ``optax.inject_hyperparams`` appears once, as ``"inject_hyperparams"``, not entered.
    """
    yield from _walk(optimizer.update, set())


def optimizer_parts(optimizer: optax.GradientTransformation, opt_state: Any) -> list[Part]:
    """The optimizer's transforms in order, each with its constant numeric hyperparameters.

    Args:
      optimizer: an ``optax.GradientTransformation`` (optax's, jaxtrain's, chains of them,
        ``optax.inject_hyperparams``).
      opt_state: its state (read for ``inject_hyperparams``'s hyperparameters).

    Returns:
      A list of :class:`Part`. An ``inject_hyperparams`` optimizer appears as its inner
      factory (``"adam"``, ``"sgd"``...) with the factory's defaults, the static arguments and
      the state's current values.
    """
    parts = []
    injected = iter(_inject_states(opt_state))
    for factory, cells, _ in walk_transforms(optimizer):
        scheduled: tuple[str, ...] = ()
        if factory == INJECT:
            inner = cells["inner_factory"]
            scheduled = tuple(sorted(cells.get("sched_hps") or {}))
            values = {
                name: p.default
                for name, p in inspect.signature(inner).parameters.items()
                if p.default is not inspect.Parameter.empty
            }
            values.update(cells.get("other_hps") or {})
            state = next(injected, None)
            if state is not None:
                values.update(state.hyperparams)
            factory = getattr(inner, "__name__", "inject_hyperparams")
        else:
            values = cells
        constants = {}
        for name, value in values.items():
            number = _scalar(value)
            if number is not None:
                constants[name] = number
        parts.append(Part(factory, tuple(sorted(constants.items())), scheduled))
    return parts
