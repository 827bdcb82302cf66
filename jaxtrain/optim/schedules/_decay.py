"""Learning-rate decay schedules η(t): constant, exponential, piecewise, linear, cosine."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxtrain.optim._validation import (
    check_finite,
    check_non_negative,
    check_positive,
    check_steps,
    concrete_float,
)

Schedule = Callable[[Any], jax.Array]


def constant(value: float | jax.Array) -> Schedule:
    """η(t) = η for every step t.

    Args:
      value: η, a finite number.

    Returns:
      A schedule ``count -> η`` (an array shaped like ``count``).

    Raises:
      ValueError: if a concrete ``value`` is not finite.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxtrain.optim.schedules import constant
      >>> print(constant(0.1)(jnp.arange(3)))
      [0.1 0.1 0.1]
    """
    check_finite("value", value)

    def schedule(count):
        return jnp.broadcast_to(jnp.asarray(value, dtype=float), jnp.shape(count))

    return schedule


def exponential_decay(
    init_value: float | jax.Array,
    transition_steps: int,
    decay_rate: float,
    transition_begin: int = 0,
    staircase: bool = False,
    end_value: float | jax.Array | None = None,
) -> Schedule:
    """η(t) = η₀ · γ^((t − t₀)/T): multiply the learning rate by γ every T steps.

    Constant η₀ until t₀ = ``transition_begin``; with ``staircase`` the exponent is rounded
    down, so η drops by γ at once every T steps (the classic "divide by 10 at epochs …").
    ``end_value`` bounds η (from below when γ < 1, from above when γ > 1). Equal to
    ``optax.exponential_decay``; T = 0 or γ = 0 give the constant η₀ as there. One
    difference: with ``staircase`` an integer count is divided by T in integers, so η drops
    exactly at t₀ + kT, where optax's float32 division can land one step late under ``jit``
    (for example T = 55).

    Symbols: η₀ is ``init_value``, γ is ``decay_rate``, T is ``transition_steps``.

    Args:
      init_value: η₀.
      transition_steps: T >= 0, the steps over which η is multiplied by γ once.
      decay_rate: γ >= 0.
      transition_begin: t₀ >= 0, the step the decay starts at.
      staircase: decay in whole steps of γ.
      end_value: optional bound on η.

    Returns:
      A jit-traceable schedule ``count -> η``.

    Raises:
      ValueError: if ``transition_steps`` or ``transition_begin`` are negative or not
        integers, or ``decay_rate`` is negative or not finite.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxtrain.optim.schedules import exponential_decay
      >>> sched = exponential_decay(1.0, transition_steps=2, decay_rate=0.1, staircase=True)
      >>> print(sched(jnp.arange(6)))
      [1.   1.   0.1  0.1  0.01 0.01]

    References:
      "Decay the learning rate" schedules as in He et al., "Deep Residual Learning for
      Image Recognition", CVPR 2016, https://arxiv.org/abs/1512.03385
    """
    check_finite("init_value", init_value)
    check_steps("transition_steps", transition_steps)
    check_steps("transition_begin", transition_begin)
    check_non_negative("decay_rate", decay_rate)
    if end_value is not None:
        check_finite("end_value", end_value)
    if transition_steps == 0 or decay_rate == 0:
        return constant(init_value)
    clip = jnp.maximum if decay_rate < 1.0 else jnp.minimum

    def schedule(count):
        elapsed = count - transition_begin
        if staircase and isinstance(elapsed, int | np.integer):
            # A concrete count, divided exactly here: in JAX a NumPy int64 beyond int32 (x64
            # off) wrapped to a negative count, and η went back to init_value.
            power = float(max(int(elapsed), 0) // int(transition_steps))
        elif staircase and jnp.issubdtype(jnp.result_type(elapsed), jnp.integer):
            # Whole periods by integer division: float32 division (elapsed / T) can round
            # k·T/T just below k under jit, which would drop η one step late.
            power = jnp.floor_divide(jnp.maximum(elapsed, 0), transition_steps)
        else:
            power = elapsed / transition_steps
            if staircase:
                power = jnp.floor(power)
        value = jnp.where(elapsed <= 0, init_value, init_value * jnp.power(decay_rate, power))
        if end_value is not None:
            value = clip(value, end_value)
        return value

    return schedule


def piecewise_constant(
    init_value: float | jax.Array,
    boundaries_and_scales: Mapping[int, float] | None = None,
) -> Schedule:
    """η(t) = η₀ times every scale whose boundary is <= t: step decay at chosen steps.

    ``{100: 0.1, 200: 0.1}`` divides η by 10 at step 100 and again at step 200. Equal to
    ``optax.piecewise_constant_schedule``.

    Args:
      init_value: η₀.
      boundaries_and_scales: ``{step: scale}`` with steps >= 0 and scales >= 0.

    Returns:
      A jit-traceable schedule ``count -> η``.

    Raises:
      ValueError: for a negative boundary or a negative scale.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxtrain.optim.schedules import piecewise_constant
      >>> sched = piecewise_constant(1.0, {2: 0.5, 4: 0.1})
      >>> print(sched(jnp.arange(6)))
      [1.   1.   0.5  0.5  0.05 0.05]
    """
    check_finite("init_value", init_value)
    items = sorted((boundaries_and_scales or {}).items())
    for boundary, scale in items:
        check_steps("boundaries_and_scales", boundary)
        check_non_negative("boundaries_and_scales", scale)

    def schedule(count):
        value = jnp.asarray(init_value, dtype=float)
        value = jnp.broadcast_to(value, jnp.shape(count))
        for boundary, scale in items:
            value = jnp.where(count < boundary, value, scale * value)
        return value

    return schedule


def linear(
    init_value: float | jax.Array,
    end_value: float | jax.Array,
    transition_steps: int,
    transition_begin: int = 0,
) -> Schedule:
    """η(t) goes in a straight line from η₀ to η₁ over T steps, then stays at η₁.

    η(t) = η₁ + (η₀ − η₁)(1 − s/T) with s = clip(t − t₀, 0, T). Warmup is the rising case
    (η₀ = 0). Equal to ``optax.linear_schedule``; T = 0 gives the constant η₀ as there.

    Symbols: η₀ ``init_value``, η₁ ``end_value``, T ``transition_steps``, t₀
    ``transition_begin``.

    Args:
      init_value: η₀.
      end_value: η₁.
      transition_steps: T >= 0.
      transition_begin: t₀ >= 0.

    Returns:
      A jit-traceable schedule ``count -> η``.

    Raises:
      ValueError: if ``transition_steps`` or ``transition_begin`` are negative or not
        integers.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxtrain.optim.schedules import linear
      >>> print(linear(0.0, 1.0, transition_steps=4)(jnp.arange(6)))
      [0.   0.25 0.5  0.75 1.   1.  ]
    """
    check_finite("init_value", init_value)
    check_finite("end_value", end_value)
    check_steps("transition_steps", transition_steps)
    check_steps("transition_begin", transition_begin)
    if transition_steps == 0:
        return constant(init_value)

    def schedule(count):
        elapsed = jnp.clip(count - transition_begin, 0, transition_steps)
        remaining = 1 - elapsed / transition_steps
        return (init_value - end_value) * remaining + end_value

    return schedule


def cosine_decay(
    init_value: float | jax.Array,
    decay_steps: int,
    alpha: float | jax.Array = 0.0,
    exponent: float | jax.Array = 1.0,
) -> Schedule:
    """η(t) = η₀((1 − α)·(½(1 + cos(π min(t, T)/T)))^p + α): half a cosine from η₀ to αη₀.

    Slow decay at first, fast in the middle, slow again near the end (Loshchilov and
    Hutter's SGDR without restarts). Equal to ``optax.cosine_decay_schedule``.

    Symbols: η₀ ``init_value``, T ``decay_steps``, α ``alpha``, p ``exponent``.

    Args:
      init_value: η₀.
      decay_steps: T > 0.
      alpha: the final value as a fraction of η₀.
      exponent: p, the power of the cosine factor.

    Returns:
      A jit-traceable schedule ``count -> η``.

    Raises:
      ValueError: if ``decay_steps`` is not an integer > 0.

    Examples:
      >>> import jax.numpy as jnp
      >>> import numpy as np
      >>> from jaxtrain.optim.schedules import cosine_decay
      >>> print(np.asarray(cosine_decay(1.0, decay_steps=4)(jnp.arange(6)), float).round(4))
      [1.     0.8536 0.5    0.1464 0.     0.    ]

    References:
      Loshchilov and Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts",
      ICLR 2017, https://arxiv.org/abs/1608.03983
    """
    check_finite("init_value", init_value)
    check_steps("decay_steps", decay_steps)
    check_positive("decay_steps", decay_steps)
    check_finite("alpha", alpha)
    check_finite("exponent", exponent)
    total = concrete_float("decay_steps", decay_steps)
    total = decay_steps if total is None else total

    def schedule(count):
        count = float(count) if isinstance(count, int) else count
        elapsed = jnp.minimum(count, total)
        cosine = 0.5 * (1 + jnp.cos(jnp.pi * elapsed / total))
        return init_value * ((1 - alpha) * cosine**exponent + alpha)

    return schedule
