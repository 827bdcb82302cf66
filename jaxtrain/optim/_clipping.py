"""Gradient clipping by the global norm: bound the step when the error surface is a cliff."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from jaxtrain.optim._numerics import abs_sq
from jaxtrain.optim._validation import concrete_float, half_precision_note


def clip_by_global_norm(max_norm: float | jax.Array) -> optax.GradientTransformation:
    """Rescales the whole update so that its global L2 norm is at most ``max_norm``.

    Near a cliff of the error surface one gradient can be huge and throw θ far away. With
    ‖g‖ = √(Σ over all leaves of Σ |g|²), the update becomes g · c/‖g‖ when ‖g‖ ≥ c and is
    left alone otherwise, so the direction is kept and only the length is bounded. Equal to
    ``optax.clip_by_global_norm``.

    Symbols: g is the incoming update (all leaves together), c is ``max_norm``.

    Args:
      max_norm: c > 0, the largest global norm let through; +inf lets every update through
        unchanged (as in optax: clipping switched off).

    Returns:
      A stateless ``optax.GradientTransformation`` (state ``optax.EmptyState()``).

    Raises:
      ValueError: if a concrete ``max_norm`` is NaN or <= 0 (+inf is taken).

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxtrain.optim import clip_by_global_norm
      >>> tx = clip_by_global_norm(1.0)
      >>> updates, _ = tx.update({"a": jnp.array([3.0]), "b": jnp.array([4.0])}, tx.init(None))
      >>> print(updates["a"], updates["b"])
      [0.6] [0.8]

    References:
      Pascanu, Mikolov, Bengio, "On the difficulty of training recurrent neural networks",
      ICML 2013, https://arxiv.org/abs/1211.5063
    """
    number = concrete_float("max_norm", max_norm)
    # +inf is optax's (and the usual) way to switch clipping off: ‖g‖ < ∞ lets g through.
    if number is not None and not number > 0:  # NaN too
        note = half_precision_note(max_norm) if number == 0 else ""
        raise ValueError(f"`max_norm` must be > 0 (or +inf for no clipping), got {number}.{note}")

    def init_fn(params):
        del params
        return optax.EmptyState()

    def update_fn(updates, state, params=None):
        del params
        # √Σ|g|² (optax.tree.norm): for complex g, Σg² is not a squared length.
        squares = [jnp.sum(abs_sq(g)) for g in jax.tree.leaves(updates)]
        norm = jnp.sqrt(sum(squares)) if squares else jnp.zeros([])
        # An infinite bound keeps g even where ‖g‖ overflowed to inf (float16 past 256).
        keep = (norm < max_norm) | jnp.isposinf(max_norm)

        def clip(g):
            return jax.lax.select(keep, g, (g / norm.astype(g.dtype)) * max_norm)

        return jax.tree.map(clip, updates), state

    return optax.GradientTransformation(init_fn, update_fn)
