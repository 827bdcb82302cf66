"""Joining schedules one after another: warmup, then decay, then anything."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from jaxtrain._text import counted
from jaxtrain.optim._validation import check_steps


def join(
    schedules: Sequence[Callable[[Any], Any]], boundaries: Sequence[int]
) -> Callable[[Any], jax.Array]:
    """Runs ``schedules[0]`` until ``boundaries[0]``, then ``schedules[1]``, and so on.

    Each later schedule sees the step counted from its own boundary: η(t) = ηₖ(t − bₖ) for
    bₖ <= t < bₖ₊₁ (b₀ = 0). Equal to ``optax.join_schedules``.

    Args:
      schedules: k schedules.
      boundaries: k − 1 steps >= 0 (in increasing order) where each next schedule starts.

    Returns:
      A jit-traceable schedule ``count -> η``.

    Raises:
      ValueError: if ``boundaries`` does not hold exactly one step fewer than
        ``schedules``, a boundary is negative, or the boundaries decrease.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxtrain.optim.schedules import constant, join, linear
      >>> sched = join([linear(0.0, 1.0, transition_steps=2), constant(0.5)], [2])
      >>> print(sched(jnp.arange(4)))
      [0.  0.5 0.5 0.5]
    """
    schedules = list(schedules)
    boundaries = list(boundaries)
    if not schedules:
        raise ValueError("`schedules` must hold at least one schedule.")
    if len(boundaries) != len(schedules) - 1:
        raise ValueError(
            f"`boundaries` must hold len(schedules) - 1 = {counted(len(schedules) - 1, 'step')}, "
            f"got {len(boundaries)}."
        )
    for boundary in boundaries:
        check_steps("boundaries", boundary)
    if any(later < earlier for earlier, later in itertools.pairwise(boundaries)):
        raise ValueError(f"`boundaries` must not decrease, got {boundaries}.")

    def schedule(count):
        value = schedules[0](count)
        for boundary, later in zip(boundaries, schedules[1:], strict=True):
            value = jnp.where(count < boundary, value, later(count - boundary))
        return value

    return schedule
