"""Adam and RAdam (lecture §4): RMSProp's σ plus momentum, and its warmup-free rectification."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from jaxtrain.optim._numerics import abs_sq, bias_corrected, map_updates
from jaxtrain.optim._validation import (
    check_at_least,
    check_non_negative,
    check_unit_interval,
    concrete_float,
    half_precision_note,
)

_RECTIFIED_FROM_FOUR = (
    "the rectification √((ρ−4)(ρ−2)ρ∞ / ((ρ∞−4)(ρ∞−2)ρ)) is NaN for ρ in (2, 4), which ρₜ"
    " passes through in the first steps"
)


# optax's own classes, so that a state saved from optax restores into jaxtrain and back, and
# ``jax.tree.structure`` of both libraries' states is equal. RAdam's state is Adam's, as in optax.
ScaleByAdamState = optax.ScaleByAdamState


def _check_moments(b1, b2, eps, eps_root):
    check_unit_interval("b1", b1)
    check_unit_interval("b2", b2)
    # ε may sit wholly inside the square root (eps=0, eps_root > 0: optax's form for
    # differentiating through the update); with neither, a zero gradient divides 0 by 0.
    check_non_negative("eps", eps)
    check_non_negative("eps_root", eps_root)
    if concrete_float("eps", eps) == 0 and concrete_float("eps_root", eps_root) == 0:
        raise ValueError(
            "`eps` and `eps_root` cannot both be 0: a zero gradient would give 0/0."
            + half_precision_note(eps)
        )


def _moments(updates, mu, nu, b1, b2):
    # v averages |g|² = g·conj(g) (optax's abs_sq): for complex parameters g² would be complex
    # and the step would not be a descent direction.
    mu = map_updates(lambda g, m: (1 - b1) * g + b1 * m, updates, mu)
    nu = map_updates(lambda g, v: (1 - b2) * abs_sq(g) + b2 * v, updates, nu)
    return mu, nu


def _first_moment_hat(updates, mu, b1, count, nesterov):
    if not nesterov:
        return bias_corrected(mu, b1, count)
    # Nadam (Dozat 2016): look one step ahead, m̂ = β₁ m/(1 − β₁ᵗ⁺¹) + (1 − β₁) g/(1 − β₁ᵗ).
    return jax.tree.map(
        lambda m, g: b1 * m + (1 - b1) * g,
        bias_corrected(mu, b1, optax.safe_increment(count)),
        bias_corrected(updates, b1, count),
    )


def scale_by_adam(
    b1: float | jax.Array = 0.9,
    b2: float | jax.Array = 0.999,
    eps: float | jax.Array = 1e-8,
    eps_root: float | jax.Array = 0.0,
    mu_dtype: Any = None,
    *,
    nesterov: bool = False,
) -> optax.GradientTransformation:
    """Adam's direction: momentum m divided by RMSProp's σ, both bias-corrected.

    Adam = RMSProp + momentum. Both moving averages start at 0, so early on they are biased
    towards 0; dividing by 1 − βᵗ removes that bias:

        m ← β₁m + (1 − β₁)g,   v ← β₂v + (1 − β₂)|g|²,
        m̂ = m/(1 − β₁ᵗ),       v̂ = v/(1 − β₂ᵗ),
        direction = m̂ / (√(v̂ + ε̄) + ε),

    with t = count + 1 (the update being made). Follow it with
    :func:`scale_by_learning_rate` for θ ← θ − η m̂/(σ̂ + ε), σ̂ = √v̂. Equal to
    ``optax.scale_by_adam``. ``nesterov=True`` gives Nadam's look-ahead m̂.

    Symbols: g is the incoming update, m is ``mu``, v = σ² is ``nu``, β₁ is ``b1``, β₂ is
    ``b2``, ε is ``eps``, ε̄ is ``eps_root``.

    Warning:
      PyTorch's Adam also adds ε outside the square root, but optax's ε̄ (inside) has no
      PyTorch counterpart; keep ``eps_root=0`` to compare with PyTorch.

    Args:
      b1: β₁ in [0, 1), the decay of the first moment.
      b2: β₂ in [0, 1), the decay of the second moment.
      eps: ε ≥ 0, added to σ̂ (0 with ``eps_root`` > 0 puts all of ε inside the root).
      eps_root: ε̄ >= 0, added to v̂ under the square root (helps when differentiating
        through the update).
      mu_dtype: optional dtype for m (for example ``jnp.bfloat16``); by default that of the
        parameters.
      nesterov: use Nadam's look-ahead first moment.

    Returns:
      An ``optax.GradientTransformation`` with state ``optax.ScaleByAdamState``.

    Raises:
      ValueError: if ``b1`` or ``b2`` lie outside [0, 1), ``eps`` or ``eps_root`` < 0 (or both 0)
        (concrete values).

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxtrain.optim import scale_by_adam
      >>> tx = scale_by_adam()
      >>> state = tx.init(jnp.zeros(2))
      >>> direction, state = tx.update(jnp.array([0.01, -100.0]), state)
      >>> print(direction.round(4))  # the first step is ±1 whatever the gradient's size
      [ 1. -1.]

    References:
      Kingma and Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015,
      https://arxiv.org/abs/1412.6980. Dozat, "Incorporating Nesterov Momentum into Adam",
      ICLR 2016 workshop, https://openreview.net/forum?id=OM0jvwB8jIp57ZJjtNEZ
    """
    _check_moments(b1, b2, eps, eps_root)
    if mu_dtype is not None:
        mu_dtype = jax.dtypes.canonicalize_dtype(mu_dtype)

    def init_fn(params):
        return ScaleByAdamState(
            count=jnp.zeros([], jnp.int32),
            mu=jax.tree.map(lambda p: jnp.zeros_like(p, dtype=mu_dtype), params),
            nu=jax.tree.map(jnp.zeros_like, params),
        )

    def update_fn(updates, state, params=None):
        del params
        mu, nu = _moments(updates, state.mu, state.nu, b1, b2)
        count = optax.safe_increment(state.count)
        mu_hat = _first_moment_hat(updates, mu, b1, count, nesterov)
        nu_hat = bias_corrected(nu, b2, count)
        updates = jax.tree.map(lambda m, v: m / (jnp.sqrt(v + eps_root) + eps), mu_hat, nu_hat)
        if mu_dtype is not None:
            mu = jax.tree.map(lambda m: m.astype(mu_dtype), mu)
        nu = map_updates(lambda v, old: v.astype(old.dtype), nu, state.nu)
        return updates, ScaleByAdamState(count=count, mu=mu, nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)


def radam_rho(b2: Any, count: Any) -> Any:
    """ρₜ, the length of RAdam's approximated simple moving average at step t = ``count``."""
    rho_inf = 2.0 / (1.0 - b2) - 1.0
    b2t = b2**count
    return rho_inf - 2 * count * b2t / (1 - b2t)


def radam_rectification(b2: Any, rho: Any) -> Any:
    """RAdam's variance rectification r(ρₜ) (only meaningful where ρₜ > 4)."""
    rho_inf = 2.0 / (1.0 - b2) - 1.0
    return jnp.sqrt((rho - 4.0) * (rho - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho))


def scale_by_radam(
    b1: float | jax.Array = 0.9,
    b2: float | jax.Array = 0.999,
    eps: float | jax.Array = 1e-8,
    eps_root: float | jax.Array = 0.0,
    threshold: float | jax.Array = 5.0,
    *,
    nesterov: bool = False,
) -> optax.GradientTransformation:
    """Rectified Adam: Adam whose adaptive step switches on only once σ̂ can be trusted.

    In the first steps v̂ averages only a handful of g², so 1/σ̂ has a huge variance: the
    reason warmup helps Adam (lecture §4). RAdam measures how many gradients the average
    effectively holds, ρₜ = ρ∞ − 2tβ₂ᵗ/(1 − β₂ᵗ) with ρ∞ = 2/(1 − β₂) − 1. While
    ρₜ < ``threshold`` (5: the first 5 steps for β₂ = 0.999) the direction is the
    bias-corrected momentum m̂ alone (SGD with momentum); after that it is Adam's direction
    times the rectification
    r = √((ρₜ − 4)(ρₜ − 2)ρ∞ / ((ρ∞ − 4)(ρ∞ − 2)ρₜ)),  direction = r m̂ / (√(v̂ + ε̄) + ε).
    Equal to ``optax.scale_by_radam``.

    Symbols: as :func:`scale_by_adam`; ρ is ``threshold``'s quantity.

    Args:
      b1: β₁ in [0, 1).
      b2: β₂ in [0, 1).
      eps: ε ≥ 0 (not 0 together with ``eps_root``).
      eps_root: ε̄ >= 0.
      threshold: the ρₜ from which the adaptive (rectified) step is used, >= 4: below 4 the
        rectification is NaN at the ρₜ between 2 and 4 that every run passes through.
      nesterov: use Nadam's look-ahead first moment.

    Returns:
      An ``optax.GradientTransformation`` with state ``optax.ScaleByAdamState``
      (as ``optax.scale_by_radam``).

    Raises:
      ValueError: if ``b1`` or ``b2`` lie outside [0, 1), ``eps`` or ``eps_root`` < 0 (or both
        0), or ``threshold`` < 4 or not finite (concrete values).

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxtrain.optim import scale_by_radam
      >>> tx = scale_by_radam()
      >>> state = tx.init(jnp.zeros(1))
      >>> direction, state = tx.update(jnp.array([0.01]), state)
      >>> print(direction)  # step 1 is plain (bias-corrected) momentum: m̂ = g
      [0.01]

    References:
      Liu et al., "On the Variance of the Adaptive Learning Rate and Beyond", ICLR 2020,
      https://arxiv.org/abs/1908.03265
    """
    _check_moments(b1, b2, eps, eps_root)
    check_at_least("threshold", threshold, 4.0, _RECTIFIED_FROM_FOUR)

    def init_fn(params):
        return ScaleByAdamState(
            count=jnp.zeros([], jnp.int32),
            mu=jax.tree.map(jnp.zeros_like, params),
            nu=jax.tree.map(jnp.zeros_like, params),
        )

    def update_fn(updates, state, params=None):
        del params
        mu, nu = _moments(updates, state.mu, state.nu, b1, b2)
        count = optax.safe_increment(state.count)
        rho = radam_rho(b2, count)
        mu_hat = _first_moment_hat(updates, mu, b1, count, nesterov)
        nu_hat = bias_corrected(nu, b2, count)
        r = radam_rectification(b2, rho)
        adaptive = jax.tree.map(
            lambda m, v: r.astype(m.dtype) * m / (jnp.sqrt(v + eps_root) + eps), mu_hat, nu_hat
        )
        updates = jax.tree.map(lambda a, m: jnp.where(rho >= threshold, a, m), adaptive, mu_hat)
        return updates, ScaleByAdamState(count=count, mu=mu, nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)
