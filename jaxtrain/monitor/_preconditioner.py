"""The diagonal preconditioner P of an adaptive optimizer, read from its state."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from jaxtrain.optim._hyperparameters import Part

__all__ = ["preconditioner_inverse"]


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
