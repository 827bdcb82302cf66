"""RMSProp (lecture §4): σ from an exponential moving average of squared gradients."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from optax._src import transform as optax_transform

from jaxtrain.optim._momentum import scale_by_momentum
from jaxtrain.optim._numerics import abs_sq, bias_corrected, map_updates
from jaxtrain.optim._validation import check_non_negative, check_positive, check_unit_interval

# optax's own classes, picked as optax 0.2.8 picks them: the centered form is optax's
# scale_by_stddev, and bias correction adds the step count.
ScaleByRmsState = optax.ScaleByRmsState
ScaleByRStdDevState = optax.ScaleByRStdDevState
# optax 0.2.8 uses but does not export the two *WithCount* classes; an equal-looking class of
# our own would give a different tree structure, so they are imported from where optax keeps
# them.
ScaleByRmsWithCountState = optax_transform.ScaleByRmsWithCountState
ScaleByRStdDevWithCountState = optax_transform.ScaleByRStdDevWithCountState


def _rms_state(count, mu, nu, centered, bias_correction):
    if centered and bias_correction:
        return ScaleByRStdDevWithCountState(count=count, mu=mu, nu=nu)
    if centered:
        return ScaleByRStdDevState(mu=mu, nu=nu)
    if bias_correction:
        return ScaleByRmsWithCountState(count=count, nu=nu)
    return ScaleByRmsState(nu=nu)


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
    """RMSProp's per-parameter scale: g / σ with σ² a moving average of |g|².

    Adagrad's σ remembers every past gradient equally, so its steps only ever shrink.
    RMSProp forgets: σ² ← ασ² + (1 − α)|g|², so when the error surface changes from steep to
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
      An ``optax.GradientTransformation`` whose state is optax's: ``ScaleByRmsState`` (nu),
      ``ScaleByRStdDevState`` (mu, nu) when ``centered``, their ``*WithCountState`` variants
      (with the step count) under ``bias_correction``; followed by ``optax.TraceState`` in a
      chain when ``momentum`` is set.

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

    def init_fn(params):
        nu = jax.tree.map(lambda p: jnp.full_like(p, initial_scale), params)
        mu = jax.tree.map(jnp.zeros_like, params) if centered else None
        return _rms_state(jnp.zeros([], jnp.int32), mu, nu, centered, bias_correction)

    def update_fn(updates, state, params=None):
        del params
        # σ² averages |g|² = g·conj(g) (optax's abs_sq), real for complex g.
        nu = map_updates(lambda g, n: (1 - decay) * abs_sq(g) + decay * n, updates, state.nu)
        count = optax.safe_increment(state.count) if bias_correction else None
        nu_hat = bias_corrected(nu, decay, count) if bias_correction else nu
        mu = None
        second = nu_hat
        if centered:
            mu = map_updates(lambda g, m: (1 - decay) * g + decay * m, updates, state.mu)
            mu_hat = bias_corrected(mu, decay, count) if bias_correction else mu
            second = jax.tree.map(lambda n, m: n - abs_sq(m), nu_hat, mu_hat)
        if eps_in_sqrt:
            scale = jax.tree.map(lambda v: jax.lax.rsqrt(v + eps), second)
        else:
            scale = jax.tree.map(lambda v: 1 / (jnp.sqrt(v) + eps), second)
        updates = jax.tree.map(lambda s, g: s * g, scale, updates)
        return updates, _rms_state(count, mu, nu, centered, bias_correction)

    transform = optax.GradientTransformation(init_fn, update_fn)
    if momentum is None:
        return transform
    return optax.chain(transform, scale_by_momentum(momentum, nesterov))
