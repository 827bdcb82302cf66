"""What a monitor needs to know about the optimizer: its momentum, β₁, and preconditioner P.

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
import optax

__all__ = ["Part", "optimizer_parts", "preconditioner_inverse"]

_UPDATE_FN = re.compile(r"^(\w+)\.<locals>\.update_fn$")
_INJECT = "inject_hyperparams"


@dataclasses.dataclass(frozen=True)
class Part:
    """One transform of an optimizer: the factory's name and its numeric hyperparameters."""

    factory: str
    hyperparams: tuple[tuple[str, Any], ...]

    def get(self, name: str, default: Any = None) -> Any:
        return dict(self.hyperparams).get(name, default)


def _scalar(value: Any) -> Any:
    """A Python number for a hyperparameter value, or ``None`` when it is not a constant."""
    if isinstance(value, bool | numbers.Number):
        return value
    if isinstance(value, jax.Array | jnp.ndarray) and value.shape == ():
        try:
            return value.item()
        except jax.errors.ConcretizationTypeError:
            return None
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
    if isinstance(fn, tuple | list):
        for item in fn:
            yield from _walk(item, seen)
        return
    if isinstance(fn, dict):
        for item in fn.values():
            yield from _walk(item, seen)
        return
    code = getattr(fn, "__code__", None)
    if code is None:
        if isinstance(fn, optax.GradientTransformation):
            yield from _walk(fn.update, seen)
        return
    cells = {}
    for name, cell in zip(code.co_freevars, fn.__closure__ or (), strict=True):
        try:
            cells[name] = cell.cell_contents
        except ValueError:  # an empty cell
            continue
    qualname = fn.__qualname__
    if qualname.startswith(_INJECT) and "inner_factory" in cells:
        yield _INJECT, cells, fn
        return
    match = _UPDATE_FN.match(qualname)
    if match:
        yield match.group(1), cells, fn
    for value in cells.values():
        if callable(value) or isinstance(value, tuple | list | dict):
            yield from _walk(value, seen)


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
    for factory, cells, _ in _walk(optimizer.update, set()):
        if factory == _INJECT:
            inner = cells["inner_factory"]
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
        parts.append(Part(factory, tuple(sorted(constants.items()))))
    return parts


def _second_moment_nodes(opt_state: Any) -> list[Any]:
    kinds = (optax.ScaleByAdamState, optax.ScaleByRmsState, optax.ScaleByRssState)
    nodes = jax.tree_util.tree_leaves(opt_state, is_leaf=lambda x: isinstance(x, kinds))
    return [n for n in nodes if isinstance(n, kinds)]


_OPTAX_OWNERS = {
    optax.ScaleByAdamState: ("scale_by_adam", "adam", "adamw"),
    optax.ScaleByRmsState: ("scale_by_rms", "rmsprop"),
    optax.ScaleByRssState: ("scale_by_rss", "adagrad"),
}


def preconditioner_inverse(parts: list[Part], opt_state: Any) -> Any:
    """P⁻¹ per parameter: what the optimizer's adaptive transform divides the gradient by.

    jaxtrain's states keep their own ε and β₂, so :func:`jaxtrain.optim.effective_step_size`
    at η = 1 is P⁻¹ exactly (RAdam's rectification included). optax's ``adam``/``adamw``
    (``ScaleByAdamState``: P = √(ν̂ + ε̄) + ε, ν̂ = ν/(1 − β₂ᵗ)), ``rmsprop``
    (``ScaleByRmsState``: P = √(ν + ε) or √ν + ε) and ``adagrad`` (``ScaleByRssState``:
    P = √(s + ε)) take their constants from ``parts``.

    Raises:
      ValueError: if the state has no second moment.
    """
    from jaxtrain.optim import effective_step_size

    try:
        return effective_step_size(opt_state, 1.0)
    except ValueError:
        pass
    nodes = _second_moment_nodes(opt_state)
    if not nodes:
        raise ValueError(
            "a preconditioned sharpness needs an adaptive optimizer (Adam, AdamW, RAdam, "
            "RMSProp or Adagrad, jaxtrain's or optax's); this optimizer state has no second "
            "moment. Use preconditioned=False for SGD and momentum."
        )
    node = nodes[0]
    owners = _OPTAX_OWNERS[type(node)]
    part = next((p for p in parts if p.factory in owners), None)
    if part is None:
        raise ValueError(
            f"found optax's {type(node).__name__} but not the transform that owns it "
            f"({' or '.join(owners)}) in the optimizer, so its ε and β₂ are unknown"
        )
    if isinstance(node, optax.ScaleByAdamState):
        b2, eps, eps_root = part.get("b2", 0.999), part.get("eps", 1e-8), part.get("eps_root", 0.0)
        count = jnp.maximum(node.count, 1)
        correction = jnp.where(node.count > 0, 1 - jnp.asarray(b2, jnp.float32) ** count, 1.0)

        def adam(v):
            return 1 / (jnp.sqrt(v / correction.astype(v.dtype) + eps_root) + eps)

        return jax.tree.map(adam, node.nu)
    if isinstance(node, optax.ScaleByRmsState):
        eps, in_sqrt = part.get("eps", 1e-8), bool(part.get("eps_in_sqrt", True))
        if in_sqrt:
            return jax.tree.map(lambda v: jax.lax.rsqrt(v + eps), node.nu)
        return jax.tree.map(lambda v: 1 / (jnp.sqrt(v) + eps), node.nu)
    eps = part.get("eps", 1e-7)
    return jax.tree.map(
        lambda s: jnp.where(s > 0, jax.lax.rsqrt(s + eps), 0.0), node.sum_of_squares
    )
