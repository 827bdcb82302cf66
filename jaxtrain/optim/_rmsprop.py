"""RMSProp (lecture §4): σ from an exponential moving average of squared gradients."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxtrain.optim._validation import check_non_negative, check_positive, check_unit_interval


class ScaleByRmsState(NamedTuple):
    """State of :func:`scale_by_rms`.

    Attributes:
      count: int32 scalar, the number of updates t (used by ``bias_correction``).
      nu: σ² before bias correction: the moving average of g², per parameter.
      mu: the moving average of g when ``centered`` (``optax.EmptyState()`` otherwise).
      trace: the momentum buffer when ``momentum`` is set (``optax.EmptyState()`` otherwise).
      decay: float32 scalar α; with ``eps``, ``eps_in_sqrt`` and ``bias_correction`` it lets
        :func:`effective_step_size` rebuild σ from the state alone.
      eps: float32 scalar ε.
      eps_in_sqrt: bool scalar, whether ε sits under the square root.
      bias_correction: bool scalar, whether σ² is divided by 1 − αᵗ.
    """

    count: jax.Array
    nu: Any
    mu: Any
    trace: Any
    decay: jax.Array
    eps: jax.Array
    eps_in_sqrt: jax.Array
    bias_correction: jax.Array


def scale_by_rms(
    decay: float | jax.Array = 0.9,
    eps: float | jax.Array = 1e-8,
    initial_scale: float | jax.Array = 0.0,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
    *,
    centered: bool = False,
    momentum: float | jax.Array | None = None,
    nesterov: bool = False,
) -> optax.GradientTransformation:
    """RMSProp's per-parameter scale: g / σ with σ² a moving average of g².

    Adagrad's σ remembers every past gradient equally, so its steps only ever shrink.
    RMSProp forgets: σ² ← ασ² + (1 − α)g², so when the error surface changes from steep to
    flat the step grows again within a few steps. The direction is g/√(σ² + ε) (or
    g/(√σ² + ε) with ``eps_in_sqrt=False``). ``centered`` divides by the variance σ² − m̄²
    instead, with m̄ ← αm̄ + (1 − α)g the moving mean of g; ``bias_correction``
    divides σ² by 1 − αᵗ (with ``initial_scale=0``, the first steps are then not inflated).
    ``momentum`` then accumulates the scaled direction: b ← d + λb (Nesterov: d + λb_new).

    Equal to ``optax.scale_by_rms`` (``centered=False``) and ``optax.scale_by_stddev``
    (``centered=True``), followed by ``optax.trace`` when ``momentum`` is set. Note that
    :func:`jaxtrain.optim.rmsprop`, like ``optax.rmsprop``, puts the momentum *after* the
    learning rate; for a constant η both orders give the same steps.

    Symbols: g is the incoming update, σ² is ``nu``, α is ``decay``, ε is ``eps``, λ is
    ``momentum``.

    Args:
      decay: α in [0, 1), the weight kept on the old σ².
      eps: ε > 0.
      initial_scale: σ² at t = 0 (>= 0).
      eps_in_sqrt: add ε under the square root (optax's default) or outside it (PyTorch's).
      bias_correction: divide σ² (and the centered mean) by 1 − αᵗ.
      centered: normalize by the variance of g instead of its second moment.
      momentum: λ in [0, 1) for a momentum buffer on the scaled direction, or None.
      nesterov: Nesterov's direction for that buffer.

    Returns:
      An ``optax.GradientTransformation`` with state :class:`ScaleByRmsState`.

    Raises:
      ValueError: if ``decay`` or ``momentum`` lie outside [0, 1), ``eps`` <= 0 or
        ``initial_scale`` < 0 (concrete values).

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxtrain.optim import scale_by_rms
      >>> tx = scale_by_rms(decay=0.5, eps=1e-12)
      >>> state = tx.init(jnp.zeros(1))
      >>> direction, state = tx.update(jnp.array([2.0]), state)
      >>> print(state.nu, direction)  # σ² = 0.5·4; 2 / sqrt(2)
      [2.] [1.4142135]

    References:
      Tieleman and Hinton, "Lecture 6.5 — RMSProp", COURSERA: Neural Networks for Machine
      Learning, 2012. Graves, "Generating Sequences With Recurrent Neural Networks" (the
      centered form), 2013, https://arxiv.org/abs/1308.0850
    """
    check_unit_interval("decay", decay)
    check_positive("eps", eps)
    check_non_negative("initial_scale", initial_scale)
    if momentum is not None:
        check_unit_interval("momentum", momentum)

    def constants():
        return dict(
            decay=jnp.asarray(decay, jnp.float32),
            eps=jnp.asarray(eps, jnp.float32),
            eps_in_sqrt=jnp.asarray(eps_in_sqrt, jnp.bool_),
            bias_correction=jnp.asarray(bias_correction, jnp.bool_),
        )

    def init_fn(params):
        return ScaleByRmsState(
            count=jnp.zeros([], jnp.int32),
            nu=jax.tree.map(lambda p: jnp.full_like(p, initial_scale), params),
            mu=jax.tree.map(jnp.zeros_like, params) if centered else optax.EmptyState(),
            trace=jax.tree.map(jnp.zeros_like, params)
            if momentum is not None
            else optax.EmptyState(),
            **constants(),
        )

    def update_fn(updates, state, params=None):
        del params
        count = optax.safe_increment(state.count)
        nu = jax.tree.map(lambda g, n: (1 - decay) * (g**2) + decay * n, updates, state.nu)
        nu_hat = nu
        if bias_correction:
            correction = 1 - decay**count
            nu_hat = jax.tree.map(lambda n: n / correction.astype(n.dtype), nu)
        if centered:
            mu = jax.tree.map(lambda g, m: (1 - decay) * g + decay * m, updates, state.mu)
            mu_hat = mu
            if bias_correction:
                mu_hat = jax.tree.map(lambda m: m / correction.astype(m.dtype), mu)
            second = jax.tree.map(lambda n, m: n - m * m, nu_hat, mu_hat)
        else:
            mu = state.mu
            second = nu_hat
        if eps_in_sqrt:
            scale = jax.tree.map(lambda v: jax.lax.rsqrt(v + eps), second)
        else:
            scale = jax.tree.map(lambda v: 1 / (jnp.sqrt(v) + eps), second)
        updates = jax.tree.map(lambda s, g: s * g, scale, updates)
        trace = state.trace
        if momentum is not None:
            trace = jax.tree.map(lambda d, b: d + momentum * b, updates, state.trace)
            updates = (
                jax.tree.map(lambda d, b: d + momentum * b, updates, trace) if nesterov else trace
            )
        new_state = ScaleByRmsState(count=count, nu=nu, mu=mu, trace=trace, **constants())
        return updates, new_state

    return optax.GradientTransformation(init_fn, update_fn)
