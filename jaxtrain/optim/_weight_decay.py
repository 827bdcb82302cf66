"""Decoupled weight decay: add λθ to the update (AdamW's decay when placed after Adam)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from optax.transforms import _adding as optax_adding

from jaxtrain.optim._validation import check_finite, checked_schedule

# optax's states: none for a constant λ (``optax.AddDecayedWeightsState`` is its EmptyState),
# the step count for a scheduled λ. optax 0.2.8 does not export that class; an equal-looking
# one of our own would give a different tree structure, so it is imported from optax.
AddDecayedWeightsState = optax.AddDecayedWeightsState
WeightDecayScheduleState = optax_adding.WeightDecaySchedule


def add_decayed_weights(
    weight_decay: float | jax.Array | Callable[[jax.Array], Any] = 0.0,
    mask: Any = None,
) -> optax.GradientTransformation:
    """Adds λθ to the incoming update: weight decay, decoupled from the gradient's scaling.

    Placed after an adaptive scale (``chain(scale_by_adam(), add_decayed_weights(λ),
    scale_by_learning_rate(η))``) this is AdamW: θ ← θ − η(m̂/(σ̂ + ε) + λθ), so the decay
    is multiplied by the learning rate but not divided by σ̂ as an L2 penalty in the loss
    would be. Equal to ``optax.add_decayed_weights``.

    Symbols: λ is ``weight_decay``, θ are the parameters passed to ``update``.

    Args:
      weight_decay: λ, a finite number, or a schedule ``count -> λ``. λ > 0 pulls the
        weights toward 0 (AdamW, which refuses λ < 0); λ < 0, as optax allows, pushes them
        out: optax's ``fromage`` rescales θ by 1/√(1 + η²) through λ = 1/√(1 + η²) − 1.
      mask: optional pytree of booleans (or a function of the parameters returning one)
        choosing the leaves to decay, such as weights but not biases or norm scales
        (applied through ``optax.masked``).

    Returns:
      An ``optax.GradientTransformation`` with state ``optax.EmptyState()`` (a constant λ) or
      :class:`WeightDecayScheduleState` (a schedule)
      (wrapped in ``optax.MaskedState`` when ``mask`` is given). Its ``update`` needs
      ``params``.

    Raises:
      ValueError: at construction if a concrete ``weight_decay`` is not finite; if a
        schedule's concrete λ is not finite (at ``init``, in eager updates, and inside
        ``jit`` when the schedule returns a Python number; a traced λ is not read back);
        at update if ``params`` is None.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxtrain.optim import add_decayed_weights
      >>> tx = add_decayed_weights(0.1)
      >>> params = jnp.array([1.0, -2.0])
      >>> updates, _ = tx.update(jnp.zeros(2), tx.init(params), params)
      >>> print(updates)
      [ 0.1 -0.2]

    References:
      Loshchilov and Hutter, "Decoupled Weight Decay Regularization", ICLR 2019,
      https://arxiv.org/abs/1711.05101
    """
    scheduled = callable(weight_decay)
    if not scheduled:
        check_finite("weight_decay", weight_decay)

    # A λ < 0 is optax's (fromage); a NaN or infinite one only gives NaN updates.
    scheduled_decay = (
        checked_schedule("weight_decay", weight_decay, negative_ok=True) if scheduled else None
    )

    def init_fn(params):
        del params
        if scheduled:
            count = jnp.zeros([], jnp.int32)
            scheduled_decay(count)  # λ(0) checked at init, as a constant λ at construction
            return WeightDecayScheduleState(count=count)
        return AddDecayedWeightsState()

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError(
                "add_decayed_weights needs the parameters: call update(updates, state, params)."
            )
        new_state = state
        if scheduled:
            new_state = WeightDecayScheduleState(count=optax.safe_increment(state.count))
        if isinstance(weight_decay, int | float) and weight_decay == 0.0:
            return updates, new_state
        decay = scheduled_decay(state.count) if scheduled else weight_decay
        # A None update (a frozen leaf, or no updates at all) stays None, as in optax.
        updates = jax.tree.map(
            lambda g, p: None if g is None else g + decay * p,
            updates,
            params,
            is_leaf=lambda x: x is None,
        )
        return updates, new_state

    transform = optax.GradientTransformation(init_fn, update_fn)
    if mask is not None:
        return optax.masked(transform, mask)
    return transform
