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
    return effective_step_size(_as_jaxtrain_state(node, part), 1.0)


def _as_jaxtrain_state(node: Any, part: Part) -> Any:
    """optax's second-moment state as jaxtrain's, which carries ε and β₂ itself.

    :func:`jaxtrain.optim.effective_step_size` then computes P⁻¹ with the same formula for
    both libraries (the two are numerically equal by construction; tests compare them).
    """
    from jaxtrain.optim import ScaleByAdagradState, ScaleByAdamState, ScaleByRmsState

    def scalar(name: str, default: float) -> jax.Array:
        return jnp.float32(part.get(name, default))

    if isinstance(node, optax.ScaleByAdamState):
        return ScaleByAdamState(
            node.count,
            node.mu,
            node.nu,
            scalar("b2", 0.999),
            scalar("eps", 1e-8),
            scalar("eps_root", 0.0),
        )
    if isinstance(node, optax.ScaleByRmsState):
        return ScaleByRmsState(
            count=jnp.zeros([], jnp.int32),
            nu=node.nu,
            mu=optax.EmptyState(),
            trace=optax.EmptyState(),
            decay=scalar("decay", 0.9),
            eps=scalar("eps", 1e-8),
            eps_in_sqrt=jnp.asarray(bool(part.get("eps_in_sqrt", True))),
            bias_correction=jnp.asarray(False),
        )
    return ScaleByAdagradState(node.sum_of_squares, scalar("eps", 1e-7))
