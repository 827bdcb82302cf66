"""The lecture's optimizers, each one line of composition of the building blocks.

Every optimizer is ``optax.chain(direction..., scale_by_learning_rate(learning_rate))`` with
optax's signature, defaults, numerics and chain of links, so it matches optax's optimizer of
the same name and its state has the same tree structure (its η is read back from the
optimizer by :func:`learning_rate_from_state`).
"""

from __future__ import annotations

from typing import Any

import jax
import optax

from jaxtrain.optim._adagrad import scale_by_adagrad
from jaxtrain.optim._adam import scale_by_adam, scale_by_radam
from jaxtrain.optim._learning_rate import ScalarOrSchedule, scale_by_learning_rate
from jaxtrain.optim._momentum import scale_by_momentum
from jaxtrain.optim._rmsprop import scale_by_rms
from jaxtrain.optim._validation import (
    check_learning_rate,
    check_non_negative,
    check_unit_interval,
    checked_schedule,
)
from jaxtrain.optim._weight_decay import add_decayed_weights


def _descent(learning_rate: ScalarOrSchedule) -> optax.GradientTransformation:
    """An optimizer's last link, ``scale_by_learning_rate(η)``, with η required: optax's
    aliases pass ``None`` on as "no scaling", a step of the raw direction, where jaxtrain's
    refuse it (the η the lecture's rules and the monitors' threshold read)."""
    check_learning_rate(learning_rate)
    return scale_by_learning_rate(learning_rate)


def sgd(
    learning_rate: ScalarOrSchedule,
    momentum: float | jax.Array | None = None,
    nesterov: bool = False,
    accumulator_dtype: Any = None,
) -> optax.GradientTransformationExtraArgs:
    """(Stochastic) gradient descent, with heavy-ball or Nesterov momentum (lecture §3).

    Without momentum: θ ← θ − ηg. With momentum λ the lecture's movement m ← λm − ηg,
    θ ← θ + m is computed as b ← g + λb, θ ← θ − ηb (the same iterates for a constant η,
    see :func:`scale_by_momentum`); Nesterov uses g + λb with the new b. Equal to
    ``optax.sgd``, state included: ``(EmptyState(), ...)`` without momentum, an
    ``optax.TraceState`` with it (``momentum=0.0`` keeps a zero-decay trace, as in optax).

    Symbols: θ parameters, g gradient, η is ``learning_rate``, λ is ``momentum``.

    Args:
      learning_rate: η >= 0 or a schedule ``count -> η``.
      momentum: λ in [0, 1), or None (the default) for plain gradient descent.
      nesterov: use Nesterov's look-ahead direction.
      accumulator_dtype: optional dtype of the momentum buffer.

    Returns:
      An ``optax.GradientTransformationExtraArgs``.

    Raises:
      ValueError: for a negative or non-finite learning rate or ``momentum`` outside
        [0, 1) (concrete values).

    Examples:
      >>> import jax.numpy as jnp
      >>> import optax
      >>> from jaxtrain.optim import sgd
      >>> opt = sgd(0.1, momentum=0.9)
      >>> params = jnp.array([1.0])
      >>> state = opt.init(params)
      >>> for _ in range(2):
      ...     updates, state = opt.update(jnp.array([1.0]), state)
      ...     params = optax.apply_updates(params, updates)
      >>> print(params)  # 1 − 0.1 − 0.1·(1 + 0.9)
      [0.71]

    References:
      Polyak, 1964; Sutskever et al., ICML 2013,
      https://proceedings.mlr.press/v28/sutskever13.html
    """
    if momentum is None:
        direction = optax.identity()
    else:
        check_unit_interval("momentum", momentum)
        direction = scale_by_momentum(momentum, nesterov, accumulator_dtype)
    return optax.chain(direction, _descent(learning_rate))


def adagrad(
    learning_rate: ScalarOrSchedule,
    initial_accumulator_value: float | jax.Array = 0.1,
    eps: float | jax.Array = 1e-7,
) -> optax.GradientTransformationExtraArgs:
    """Adagrad: θᵢ ← θᵢ − η gᵢ / σᵢ, σᵢ the root of the sum of all past gᵢ² (lecture §4).

    σᵢᵗ = √(s₀ + Σₖ₌₀ᵗ (gᵢᵏ)² + ε). Equal to ``optax.adagrad``. The lecture's σ is the root
    *mean* square with ηᵗ = η/√(t+1); with ``initial_accumulator_value=0`` this optimizer
    takes exactly the same steps (see :func:`scale_by_root_mean_square_history`).

    Symbols: η is ``learning_rate``, s₀ is ``initial_accumulator_value``, ε is ``eps``.

    Args:
      learning_rate: η >= 0 or a schedule.
      initial_accumulator_value: s₀ >= 0.
      eps: ε > 0, under the square root.

    Returns:
      An ``optax.GradientTransformationExtraArgs``.

    Raises:
      ValueError: for a negative or non-finite learning rate, s₀ < 0 or ε <= 0.

    Examples:
      >>> import jax.numpy as jnp
      >>> import numpy as np
      >>> from jaxtrain.optim import adagrad
      >>> opt = adagrad(1.0, initial_accumulator_value=0.0)
      >>> updates, _ = opt.update(jnp.array([5.0, -0.5]), opt.init(jnp.zeros(2)))
      >>> print(np.asarray(updates, float).round(4))  # the first step is −η·sign(g)
      [-1.  1.]

    References:
      Duchi, Hazan, Singer, JMLR 2011, https://jmlr.org/papers/v12/duchi11a.html
    """
    return optax.chain(
        scale_by_adagrad(initial_accumulator_value=initial_accumulator_value, eps=eps),
        _descent(learning_rate),
    )


def rmsprop(
    learning_rate: ScalarOrSchedule,
    decay: float | jax.Array = 0.9,
    eps: float | jax.Array = 1e-8,
    initial_scale: float | jax.Array = 0.0,
    eps_in_sqrt: bool = True,
    centered: bool = False,
    momentum: float | jax.Array | None = None,
    nesterov: bool = False,
    bias_correction: bool = False,
) -> optax.GradientTransformationExtraArgs:
    """RMSProp: θ ← θ − η g/σ with σ² ← ασ² + (1 − α)g² (lecture §4).

    Optional ``centered`` (divide by the variance instead of the second moment),
    ``bias_correction`` and ``momentum``. Like ``optax.rmsprop`` — which it equals — the
    momentum buffer is applied *after* the learning rate: b ← −η g/σ + λb, θ ← θ + b (the
    lecture's m exactly; for a constant η the same as momentum before η).

    Symbols: η is ``learning_rate``, α is ``decay``, σ² is the state's ``nu``, ε is ``eps``,
    λ is ``momentum``.

    Args:
      learning_rate: η >= 0 or a schedule.
      decay: α in [0, 1).
      eps: ε > 0.
      initial_scale: σ² at t = 0.
      eps_in_sqrt: ε under the square root (optax) or outside it (PyTorch).
      centered: use the centered (variance) form.
      momentum: λ in [0, 1), or None for no momentum.
      nesterov: Nesterov's direction for the momentum.
      bias_correction: divide σ² by 1 − αᵗ.

    Returns:
      An ``optax.GradientTransformationExtraArgs``.

    Raises:
      ValueError: for a negative or non-finite learning rate, ``decay`` or ``momentum``
        outside [0, 1), ε <= 0 or ``initial_scale`` < 0.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxtrain.optim import rmsprop
      >>> opt = rmsprop(0.01)
      >>> updates, _ = opt.update(jnp.array([10.0]), opt.init(jnp.zeros(1)))
      >>> print(updates.round(5))  # −η g / √(0.1 g²) = −η √10
      [-0.03162]

    References:
      Tieleman and Hinton, COURSERA lecture 6.5, 2012; Graves 2013,
      https://arxiv.org/abs/1308.0850
    """
    if momentum is not None:
        check_unit_interval("momentum", momentum)
    scale = scale_by_rms(decay, eps, initial_scale, eps_in_sqrt, bias_correction, centered=centered)
    # optax's three links, identity included, so that the states have the same structure.
    after = optax.identity() if momentum is None else scale_by_momentum(momentum, nesterov)
    return optax.chain(scale, _descent(learning_rate), after)


def adam(
    learning_rate: ScalarOrSchedule,
    b1: float | jax.Array = 0.9,
    b2: float | jax.Array = 0.999,
    eps: float | jax.Array = 1e-8,
    eps_root: float | jax.Array = 0.0,
    mu_dtype: Any = None,
    *,
    nesterov: bool = False,
) -> optax.GradientTransformationExtraArgs:
    """Adam: RMSProp + momentum, bias-corrected: θ ← θ − η m̂/(√v̂ + ε) (lecture §4).

    m ← β₁m + (1 − β₁)g, v ← β₂v + (1 − β₂)g², m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ),
    θ ← θ − η m̂/(√(v̂ + ε̄) + ε). Equal to ``optax.adam``; ``nesterov=True`` is Nadam.

    Symbols: η is ``learning_rate``, β₁ ``b1``, β₂ ``b2``, ε ``eps``, ε̄ ``eps_root``;
    m, v are the state's ``mu``, ``nu``.

    Args:
      learning_rate: η >= 0 or a schedule.
      b1: β₁ in [0, 1).
      b2: β₂ in [0, 1).
      eps: ε ≥ 0 (not 0 together with ``eps_root``).
      eps_root: ε̄ >= 0.
      mu_dtype: optional dtype of m.
      nesterov: Nadam's look-ahead.

    Returns:
      An ``optax.GradientTransformationExtraArgs``.

    Raises:
      ValueError: for a negative or non-finite learning rate, β outside [0, 1), ε < 0,
        or ε = ε̄ = 0.

    Examples:
      >>> import jax.numpy as jnp
      >>> import numpy as np
      >>> from jaxtrain.optim import adam
      >>> opt = adam(0.1)
      >>> updates, _ = opt.update(jnp.array([3.0, -1e-3]), opt.init(jnp.zeros(2)))
      >>> print(np.asarray(updates, float).round(4))  # the first step is −η·sign(g)
      [-0.1  0.1]

    References:
      Kingma and Ba, ICLR 2015, https://arxiv.org/abs/1412.6980
    """
    return optax.chain(
        scale_by_adam(
            b1=b1, b2=b2, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype, nesterov=nesterov
        ),
        _descent(learning_rate),
    )


def adamw(
    learning_rate: ScalarOrSchedule,
    b1: float | jax.Array = 0.9,
    b2: float | jax.Array = 0.999,
    eps: float | jax.Array = 1e-8,
    eps_root: float | jax.Array = 0.0,
    mu_dtype: Any = None,
    weight_decay: float | jax.Array = 1e-4,
    mask: Any = None,
    *,
    nesterov: bool = False,
) -> optax.GradientTransformationExtraArgs:
    """AdamW: Adam with decoupled weight decay, θ ← θ − η(m̂/(√v̂ + ε) + λθ).

    The decay λθ is added after Adam's scaling and multiplied by the learning rate η (as
    in optax, which it equals), unlike an L2 term in the loss, which Adam would divide by σ̂.

    Symbols: as :func:`adam`; λ is ``weight_decay``.

    Args:
      learning_rate: η >= 0 or a schedule.
      b1: β₁ in [0, 1).
      b2: β₂ in [0, 1).
      eps: ε ≥ 0 (not 0 together with ``eps_root``).
      eps_root: ε̄ >= 0.
      mu_dtype: optional dtype of m.
      weight_decay: λ >= 0 (or a schedule, whose λ is checked as a scheduled η is);
        optax's default 1e-4.
      mask: optional boolean pytree (or function of the params) of leaves to decay.
      nesterov: Nadam's look-ahead.

    Returns:
      An ``optax.GradientTransformationExtraArgs``; its ``update`` needs ``params``.

    Raises:
      ValueError: for a negative or non-finite learning rate or weight decay, β outside
        [0, 1), ε < 0, or ε = ε̄ = 0; for a schedule's (η's or λ's) concrete value that is
        negative or not finite, at ``init`` and in eager updates.

    Examples:
      >>> import jax.numpy as jnp
      >>> import numpy as np
      >>> from jaxtrain.optim import adamw
      >>> opt = adamw(0.1, weight_decay=0.5)
      >>> params = jnp.array([2.0])
      >>> updates, _ = opt.update(jnp.array([1.0]), opt.init(params), params)
      >>> print(np.asarray(updates, float).round(4))  # −0.1·(1 + 0.5·2)
      [-0.2]

    References:
      Loshchilov and Hutter, ICLR 2019, https://arxiv.org/abs/1711.05101
    """
    # add_decayed_weights takes a λ < 0, as optax's own fromage builds on it; AdamW's decay
    # pulls weights to 0.
    if callable(weight_decay):
        # Refused where concrete and negative, at init and in eager updates, as a scheduled
        # η is (add_decayed_weights checks only that it is finite).
        weight_decay = checked_schedule("weight_decay", weight_decay)
    else:
        check_non_negative("weight_decay", weight_decay)
    return optax.chain(
        scale_by_adam(
            b1=b1, b2=b2, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype, nesterov=nesterov
        ),
        add_decayed_weights(weight_decay, mask),
        _descent(learning_rate),
    )


def radam(
    learning_rate: ScalarOrSchedule,
    b1: float | jax.Array = 0.9,
    b2: float | jax.Array = 0.999,
    eps: float | jax.Array = 1e-8,
    eps_root: float | jax.Array = 0.0,
    threshold: float | jax.Array = 5.0,
    *,
    nesterov: bool = False,
) -> optax.GradientTransformationExtraArgs:
    """RAdam: Adam with the variance of its adaptive step rectified (no warmup needed).

    Plain momentum steps θ ← θ − η m̂ while ρₜ < ``threshold``, then
    θ ← θ − η r(ρₜ) m̂/(√v̂ + ε); see :func:`scale_by_radam`. Equal to ``optax.radam``.

    Symbols: as :func:`adam`; ρ∞ = 2/(1 − β₂) − 1.

    Args:
      learning_rate: η >= 0 or a schedule.
      b1: β₁ in [0, 1).
      b2: β₂ in [0, 1).
      eps: ε ≥ 0 (not 0 together with ``eps_root``).
      eps_root: ε̄ >= 0.
      threshold: ρₜ from which the rectified adaptive step is used (>= 4, see
        :func:`scale_by_radam`).
      nesterov: Nadam's look-ahead.

    Returns:
      An ``optax.GradientTransformationExtraArgs``.

    Raises:
      ValueError: for a negative or non-finite learning rate, β outside [0, 1), ε < 0,
        or ε = ε̄ = 0.

    Examples:
      >>> import jax.numpy as jnp
      >>> import numpy as np
      >>> from jaxtrain.optim import radam
      >>> opt = radam(0.1)
      >>> updates, _ = opt.update(jnp.array([3.0]), opt.init(jnp.zeros(1)))
      >>> print(np.asarray(updates, float).round(4))  # −η m̂ = −0.1·3 in the first steps
      [-0.3]

    References:
      Liu et al., ICLR 2020, https://arxiv.org/abs/1908.03265
    """
    return optax.chain(
        scale_by_radam(
            b1=b1, b2=b2, eps=eps, eps_root=eps_root, threshold=threshold, nesterov=nesterov
        ),
        _descent(learning_rate),
    )
