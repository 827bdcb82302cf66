"""Heavy-ball and Nesterov momentum (lecture §3) as a gradient transformation."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from jaxtrain.optim._numerics import map_updates
from jaxtrain.optim._validation import check_unit_interval

# optax.trace's state, so that states move between the two libraries.
ScaleByMomentumState = optax.TraceState


def scale_by_momentum(
    decay: float | jax.Array = 0.9,
    nesterov: bool = False,
    accumulator_dtype: Any = None,
) -> optax.GradientTransformation:
    """Momentum: keep moving in the direction of past gradients (heavy ball, Nesterov).

    The lecture writes gradient descent with momentum as a movement m that remembers the
    previous movement: m ← λm − ηg, θ ← θ + m. Here it is written in optax's
    accumulate-then-scale form: the direction b ← g + λb is built first and a following
    :func:`scale_by_learning_rate` multiplies it by −η. Since m = −ηb, both give the same
    iterates for a constant η (and with a schedule, the movement is re-scaled by the current
    η each step). Nesterov's variant looks ahead: the direction is g + λb with the new b.
    Equal to ``optax.trace`` (no dampening, as in PyTorch's SGD).

    Symbols: g is the incoming update, λ is ``decay``, b is the state's ``trace``.

    Args:
      decay: λ in [0, 1), the weight kept on the previous direction.
      nesterov: use Nesterov's accelerated direction g + λb instead of b.
      accumulator_dtype: optional dtype for b (for example ``jnp.bfloat16`` to save memory);
        by default that of the parameters.

    Returns:
      An ``optax.GradientTransformation`` with state ``optax.TraceState``.

    Raises:
      ValueError: if a concrete ``decay`` lies outside [0, 1).

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxtrain.optim import scale_by_momentum
      >>> tx = scale_by_momentum(0.5)
      >>> state = tx.init(jnp.zeros(1))
      >>> for _ in range(3):
      ...     direction, state = tx.update(jnp.ones(1), state)
      >>> print(direction)  # 1 + 0.5 + 0.25
      [1.75]

    References:
      Polyak, "Some methods of speeding up the convergence of iteration methods", 1964.
      Sutskever et al., "On the importance of initialization and momentum in deep
      learning", ICML 2013, https://proceedings.mlr.press/v28/sutskever13.html
    """
    check_unit_interval("decay", decay)
    if accumulator_dtype is not None:
        accumulator_dtype = jax.dtypes.canonicalize_dtype(accumulator_dtype)

    def init_fn(params):
        return optax.TraceState(
            trace=jax.tree.map(lambda p: jnp.zeros_like(p, dtype=accumulator_dtype), params)
        )

    def update_fn(updates, state, params=None):
        del params

        def accumulate(g, b):
            return g + decay * b

        trace = map_updates(accumulate, updates, state.trace)
        direction = map_updates(accumulate, updates, trace) if nesterov else trace
        if accumulator_dtype is not None:
            trace = map_updates(lambda b: b.astype(accumulator_dtype), trace)
        return direction, optax.TraceState(trace=trace)

    return optax.GradientTransformation(init_fn, update_fn)
