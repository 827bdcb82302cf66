"""Warmup schedules: start small while Adam's statistics are still unreliable (lecture §4)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from jaxtrain.optim._validation import check_finite, check_positive, check_steps
from jaxtrain.optim.schedules._decay import cosine_decay, linear
from jaxtrain.optim.schedules._join import join


def warmup_constant(
    init_value: float | jax.Array, peak_value: float | jax.Array, warmup_steps: int
) -> Callable[[Any], jax.Array]:
    """Linear warmup from η₀ to η_peak over w steps, then constant η_peak.

    Equal to ``optax.warmup_constant_schedule``, including at w = 0: then, as there, the
    schedule is η₀ at every step (a linear ramp of no steps stays at its start), so with the
    usual η₀ = 0 nothing trains. For no warmup use ``constant(peak_value)``.

    Symbols: η₀ ``init_value``, η_peak ``peak_value``, w ``warmup_steps``.

    Args:
      init_value: η₀ (usually 0).
      peak_value: η_peak.
      warmup_steps: w >= 0.

    Returns:
      A jit-traceable schedule ``count -> η``.

    Raises:
      ValueError: if ``warmup_steps`` is negative or not an integer.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxtrain.optim.schedules import warmup_constant
      >>> print(warmup_constant(0.0, 1.0, warmup_steps=2)(jnp.arange(4)))
      [0.  0.5 1.  1. ]
    """
    check_steps("warmup_steps", warmup_steps)
    return linear(init_value, peak_value, transition_steps=warmup_steps)


def warmup_cosine_decay(
    init_value: float | jax.Array,
    peak_value: float | jax.Array,
    warmup_steps: int,
    decay_steps: int,
    end_value: float | jax.Array = 0.0,
    exponent: float | jax.Array = 1.0,
) -> Callable[[Any], jax.Array]:
    """Linear warmup from η₀ to η_peak over w steps, then cosine decay to η_end.

    The schedule of most Transformer and ResNet recipes: warmup while Adam's σ̂ is still an
    average of a few gradients (lecture §4), then the cosine of :func:`cosine_decay` over the
    remaining T − w steps. Note that ``decay_steps`` T *includes* the warmup, as in
    ``optax.warmup_cosine_decay_schedule``, which this equals.

    Symbols: η₀ ``init_value``, η_peak ``peak_value``, w ``warmup_steps``, T
    ``decay_steps``, η_end ``end_value``, p ``exponent``.

    Args:
      init_value: η₀.
      peak_value: η_peak.
      warmup_steps: w >= 0.
      decay_steps: T > w, the total length of warmup plus decay.
      end_value: η_end, reached at step T and kept after it.
      exponent: p, the power of the cosine factor.

    Returns:
      A jit-traceable schedule ``count -> η``.

    Raises:
      ValueError: if ``warmup_steps`` or ``decay_steps`` are negative or not integers, or
        ``decay_steps`` <= ``warmup_steps``.

    Examples:
      >>> import jax.numpy as jnp
      >>> import numpy as np
      >>> from jaxtrain.optim.schedules import warmup_cosine_decay
      >>> sched = warmup_cosine_decay(0.0, 1.0, warmup_steps=2, decay_steps=6)
      >>> print(np.asarray(sched(jnp.arange(8)), float).round(4))
      [0.     0.5    1.     0.8536 0.5    0.1464 0.     0.    ]

    References:
      Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour", 2017,
      https://arxiv.org/abs/1706.02677; Loshchilov and Hutter, ICLR 2017,
      https://arxiv.org/abs/1608.03983
    """
    check_steps("warmup_steps", warmup_steps)
    check_steps("decay_steps", decay_steps)
    check_finite("peak_value", peak_value)
    check_finite("end_value", end_value)
    if decay_steps <= warmup_steps:
        raise ValueError(
            "`decay_steps` counts the warmup too and must exceed `warmup_steps`, got "
            f"decay_steps={decay_steps}, warmup_steps={warmup_steps}."
        )
    alpha = 0.0 if peak_value == 0.0 else end_value / peak_value
    return join(
        [
            linear(init_value, peak_value, transition_steps=warmup_steps),
            cosine_decay(peak_value, decay_steps - warmup_steps, alpha=alpha, exponent=exponent),
        ],
        [warmup_steps],
    )


def inverse_sqrt(
    model_dim: float, warmup_steps: int, *, scale: float = 1.0
) -> Callable[[Any], jax.Array]:
    """The Transformer's schedule: η(t) = s · d^(−½) · min(t^(−½), t · w^(−3/2)), t = count + 1.

    Linear warmup for w steps up to the peak s/√(d·w), then decay like 1/√t. The paper
    counts steps from 1, optax's ``count`` from 0: step ``count`` uses t = count + 1. With
    w = 0 there is no warmup, η(t) = s/√(d·t): for ``model_dim=1, scale=η`` it is the
    lecture's Adagrad decay ηᵗ = η/√(t+1) (t counted from 0 there).

    Symbols: d ``model_dim``, w ``warmup_steps``, s ``scale``.

    Args:
      model_dim: d > 0 (the Transformer's d_model; 1 for a plain 1/√t decay).
      warmup_steps: w >= 0.
      scale: s > 0, a factor on the whole schedule.

    Returns:
      A jit-traceable schedule ``count -> η``.

    Raises:
      ValueError: if ``model_dim`` or ``scale`` are not > 0, or ``warmup_steps`` is
        negative or not an integer.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxtrain.optim.schedules import inverse_sqrt
      >>> print(inverse_sqrt(model_dim=1, warmup_steps=4)(jnp.array([0, 3, 15])))
      [0.125 0.5   0.25 ]

    References:
      Vaswani et al., "Attention Is All You Need", NeurIPS 2017 (section 5.3),
      https://arxiv.org/abs/1706.03762
    """
    check_positive("model_dim", model_dim)
    check_steps("warmup_steps", warmup_steps)
    check_positive("scale", scale)
    factor = scale / math.sqrt(model_dim)

    def schedule(count):
        t = jnp.asarray(count, dtype=float) + 1
        decay = jax.lax.rsqrt(t)
        if warmup_steps == 0:
            return factor * decay
        return factor * jnp.minimum(decay, t * warmup_steps**-1.5)

    return schedule
