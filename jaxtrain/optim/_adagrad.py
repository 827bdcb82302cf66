"""Adagrad (lecture §4): divide each parameter's step by the size of its past gradients.

Two forms of σ, the per-parameter scale, are offered and both are exact:

- :func:`scale_by_adagrad` — Duchi et al.'s (and optax's): σᵢᵗ = √(s₀ + Σₖ₌₀ᵗ (gᵢᵏ)² + ε), the
  root of the *sum* of squared gradients, with an initial accumulator s₀.
- :func:`scale_by_root_mean_square_history` — the lecture's: σᵢᵗ = √((1/(t+1)) Σₖ₌₀ᵗ (gᵢᵏ)²),
  the root of their *mean*, paired in the lecture with the decay ηᵗ = η/√(t+1).

The √(t+1) cancels: ηᵗ/σᵢᵗ (mean form) = η/√(Σₖ (gᵢᵏ)²) (sum form with s₀ = 0), so the lecture's
Adagrad with η/√(t+1) takes exactly the steps of ``adagrad(η, initial_accumulator_value=0)``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxtrain.optim._numerics import abs_sq, map_updates
from jaxtrain.optim._validation import check_non_negative, check_positive

# optax.scale_by_rss's state, so that states move between the two libraries.
ScaleByAdagradState = optax.ScaleByRssState


class ScaleByRootMeanSquareHistoryState(NamedTuple):
    """State of :func:`scale_by_root_mean_square_history` (the lecture's mean form).

    Attributes:
      count: int32 scalar, the number t + 1 of gradients seen.
      sum_of_squares: Σₖ |gᵢᵏ|² per parameter; divided by ``count`` it is the mean.
    """

    count: jax.Array
    sum_of_squares: Any


def _rsqrt_where_positive(total, eps):
    # A parameter that has only seen zero gradients keeps a zero step (optax's guard) rather
    # than 0/√ε, which matters when ε is tiny.
    return jnp.where(total > 0, jax.lax.rsqrt(total + eps), 0.0)


def scale_by_adagrad(
    initial_accumulator_value: float | jax.Array = 0.1,
    eps: float | jax.Array = 1e-7,
) -> optax.GradientTransformation:
    """Adagrad's per-parameter scale in the sum form: g / √(s₀ + Σₖ g² + ε).

    A parameter whose gradients have been large gets small steps and one whose gradients
    have been small gets large steps: σᵢᵗ = √(s₀ + Σₖ₌₀ᵗ (gᵢᵏ)² + ε) and the update direction
    is gᵢᵗ/σᵢᵗ (a zero step while the accumulator is still 0). Follow it with
    :func:`scale_by_learning_rate` for θ ← θ − η g/σ. Equal to ``optax.scale_by_rss``.
    The lecture writes σ as a root *mean* square: see
    :func:`scale_by_root_mean_square_history` and the module docstring for the exact
    correspondence.

    Symbols: g is the incoming update, s₀ is ``initial_accumulator_value``, ε is ``eps``.

    Args:
      initial_accumulator_value: s₀ >= 0, the starting value of Σ g² (optax's 0.1).
      eps: ε > 0, added under the square root.

    Returns:
      An ``optax.GradientTransformation`` with state ``optax.ScaleByRssState``.

    Raises:
      ValueError: if ``initial_accumulator_value`` < 0 or ``eps`` <= 0 (concrete values).

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxtrain.optim import scale_by_adagrad
      >>> tx = scale_by_adagrad(initial_accumulator_value=0.0, eps=1e-12)
      >>> state = tx.init(jnp.zeros(2))
      >>> direction, state = tx.update(jnp.array([3.0, -4.0]), state)
      >>> direction, state = tx.update(jnp.array([4.0, 3.0]), state)
      >>> print(direction)  # g / sqrt(sum of g²) = (4, 3) / 5
      [0.8 0.6]

    References:
      Duchi, Hazan, Singer, "Adaptive Subgradient Methods for Online Learning and
      Stochastic Optimization", JMLR 2011, https://jmlr.org/papers/v12/duchi11a.html
    """
    check_non_negative("initial_accumulator_value", initial_accumulator_value)
    check_positive("eps", eps)

    def init_fn(params):
        return ScaleByAdagradState(
            sum_of_squares=jax.tree.map(
                lambda p: jnp.full_like(p, initial_accumulator_value), params
            )
        )

    def update_fn(updates, state, params=None):
        del params
        sum_of_squares = map_updates(lambda g, s: abs_sq(g) + s, updates, state.sum_of_squares)
        scale = jax.tree.map(lambda s: _rsqrt_where_positive(s, eps), sum_of_squares)
        updates = jax.tree.map(lambda c, g: c * g, scale, updates)
        return updates, ScaleByAdagradState(sum_of_squares=sum_of_squares)

    return optax.GradientTransformation(init_fn, update_fn)


def scale_by_root_mean_square_history(
    eps: float | jax.Array = 1e-7,
) -> optax.GradientTransformation:
    """The lecture's Adagrad scale: g / σ with σ the root *mean* square of all past gradients.

    σᵢᵗ = √((1/(t+1)) (ε + Σₖ₌₀ᵗ (gᵢᵏ)²)) and the direction is gᵢᵗ/σᵢᵗ (a zero step while
    the sum is 0). The lecture pairs it with a decaying learning rate ηᵗ = η/√(t+1)
    (``schedules.inverse_sqrt(model_dim=1, warmup_steps=0, scale=η)``); then
    ηᵗ/σᵢᵗ = η/√(ε + Σₖ (gᵢᵏ)²) and the iterates are exactly those of
    ``adagrad(η, initial_accumulator_value=0.0, eps=ε)`` (the sum form). ε is added to the
    running *sum* (not to the mean) precisely so that this equality holds for every ε.
    With a constant η the steps instead shrink like 1/σ alone.

    Symbols: g is the incoming update, t + 1 is the state's ``count``, ε is ``eps``.

    Args:
      eps: ε > 0, added to the sum of squares under the square root.

    Returns:
      An ``optax.GradientTransformation`` with state
      :class:`ScaleByRootMeanSquareHistoryState`.

    Raises:
      ValueError: if a concrete ``eps`` <= 0.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxtrain.optim import scale_by_root_mean_square_history
      >>> tx = scale_by_root_mean_square_history(eps=1e-12)
      >>> state = tx.init(jnp.zeros(1))
      >>> direction, state = tx.update(jnp.array([1.0]), state)
      >>> direction, state = tx.update(jnp.array([7.0]), state)
      >>> print(direction)  # 7 / sqrt((1 + 49) / 2) = 7 / 5
      [1.4]

    References:
      Duchi, Hazan, Singer, "Adaptive Subgradient Methods for Online Learning and
      Stochastic Optimization", JMLR 2011, https://jmlr.org/papers/v12/duchi11a.html
    """
    check_positive("eps", eps)

    def init_fn(params):
        return ScaleByRootMeanSquareHistoryState(
            count=jnp.zeros([], jnp.int32),
            sum_of_squares=jax.tree.map(jnp.zeros_like, params),
        )

    def update_fn(updates, state, params=None):
        del params
        count = optax.safe_increment(state.count)
        sum_of_squares = map_updates(lambda g, s: abs_sq(g) + s, updates, state.sum_of_squares)

        def scale(s):
            mean = (s + eps) / count.astype(s.dtype)
            return jnp.where(s > 0, jax.lax.rsqrt(mean), 0.0)

        updates = jax.tree.map(lambda s, g: scale(s) * g, sum_of_squares, updates)
        new_state = ScaleByRootMeanSquareHistoryState(count=count, sum_of_squares=sum_of_squares)
        return updates, new_state

    return optax.GradientTransformation(init_fn, update_fn)
