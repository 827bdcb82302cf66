"""Gradient clipping by the global norm: bound the step when the error surface is a cliff."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from jaxtrain._dtypes import working_dtype
from jaxtrain.optim._numerics import global_norm
from jaxtrain.optim._validation import concrete_float, half_precision_note


def clip_by_global_norm(max_norm: float | jax.Array) -> optax.GradientTransformation:
    """Rescales the whole update so that its global L2 norm is at most ``max_norm``.

    Near a cliff of the error surface one gradient can be huge and throw θ far away. With
    ‖g‖ = √(Σ over all leaves of Σ |g|²), the update becomes g · c/‖g‖ when ‖g‖ ≥ c and is
    left alone otherwise, so the direction is kept and only the length is bounded. Equal to
    ``optax.clip_by_global_norm`` in float32 and float64. For half-precision updates ‖g‖ is
    summed in float32 (optax sums in the updates' dtype): a float16 g whose norm reaches 256
    is scaled to c, where optax's ‖g‖ overflows to inf and its update is 0.

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
        # √Σ|g|², in float32 at least: a float16 g of norm 256 or more gave ‖g‖ = inf and
        # the step g/inf·c = 0 (optax's does), where clipping exists to scale it to c.
        norm = global_norm(updates)
        # An infinite bound keeps g even where ‖g‖ overflowed to inf.
        keep = (norm < max_norm) | jnp.isposinf(max_norm)

        def clip(g):
            # Scaled in the norm's dtype: a float16 ‖g‖ past 65504 cast back would be inf.
            work = working_dtype(g.dtype)
            scaled = (g.astype(work) / norm.astype(work)) * max_norm
            return jax.lax.select(keep, g, scaled.astype(g.dtype))

        return jax.tree.map(clip, updates), state

    return optax.GradientTransformation(init_fn, update_fn)
