"""The per-parameter step size η/σᵢᵗ of an adaptive optimizer, read from its state."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxtrain.optim._adagrad import ScaleByAdagradState, ScaleByRootMeanSquareHistoryState
from jaxtrain.optim._adam import (
    ScaleByAdamState,
    ScaleByRAdamState,
    radam_rectification,
    radam_rho,
)
from jaxtrain.optim._learning_rate import learning_rate_from_state
from jaxtrain.optim._rmsprop import ScaleByRmsState

_SECOND_MOMENT_STATES = (
    ScaleByAdagradState,
    ScaleByRootMeanSquareHistoryState,
    ScaleByRmsState,
    ScaleByAdamState,
    ScaleByRAdamState,
)


def _correction(decay, count):
    # Before the first update there is nothing to correct (and 1 − β⁰ = 0).
    return jnp.where(count > 0, 1 - decay ** jnp.maximum(count, 1), 1.0)


def _inverse_sigma(state: Any) -> Any:
    """1/σ per parameter, exactly as the transform that owns ``state`` divides by it."""
    if isinstance(state, ScaleByAdagradState):
        return jax.tree.map(
            lambda s: jnp.where(s > 0, jax.lax.rsqrt(s + state.eps.astype(s.dtype)), 0.0),
            state.sum_of_squares,
        )
    if isinstance(state, ScaleByRootMeanSquareHistoryState):
        count = jnp.maximum(state.count, 1)

        def inverse(s):
            mean = (s + state.eps.astype(s.dtype)) / count.astype(s.dtype)
            return jnp.where(s > 0, jax.lax.rsqrt(mean), 0.0)

        return jax.tree.map(inverse, state.sum_of_squares)
    if isinstance(state, ScaleByRmsState):
        correction = jnp.where(state.bias_correction, _correction(state.decay, state.count), 1.0)
        nu_hat = jax.tree.map(lambda n: n / correction.astype(n.dtype), state.nu)
        if jax.tree.leaves(state.mu):
            nu_hat = jax.tree.map(
                lambda n, m: n - jnp.square(m / correction.astype(m.dtype)), nu_hat, state.mu
            )

        def inverse(v):
            eps = state.eps.astype(v.dtype)
            inside = jnp.where(state.eps_in_sqrt, eps, 0)
            outside = jnp.where(state.eps_in_sqrt, 0, eps)
            return 1 / (jnp.sqrt(v + inside) + outside)

        return jax.tree.map(inverse, nu_hat)
    # Adam and RAdam: 1/(√(v̂ + ε̄) + ε).
    correction = _correction(state.b2, state.count)
    return jax.tree.map(
        lambda v: (
            1
            / (
                jnp.sqrt(v / correction.astype(v.dtype) + state.eps_root.astype(v.dtype))
                + state.eps.astype(v.dtype)
            )
        ),
        state.nu,
    )


def _find_second_moment_state(opt_state: Any) -> Any:
    nodes = jax.tree_util.tree_leaves(
        opt_state, is_leaf=lambda x: isinstance(x, _SECOND_MOMENT_STATES)
    )
    for node in nodes:
        if isinstance(node, _SECOND_MOMENT_STATES):
            return node
    kinds = sorted(
        {
            type(node).__name__
            for node in jax.tree_util.tree_leaves(
                opt_state, is_leaf=lambda x: isinstance(x, tuple) and hasattr(x, "_fields")
            )
        }
    )
    raise ValueError(
        "effective_step_size needs a second moment σ² in the optimizer state (jaxtrain's "
        "adagrad, scale_by_root_mean_square_history, rmsprop, adam, adamw or radam); this "
        f"state has none (it holds: {', '.join(kinds) or 'no NamedTuple states'}). Plain SGD "
        "and momentum have the same step η for every parameter."
    )


def effective_step_size(opt_state: Any, learning_rate: Any = None) -> Any:
    """The per-parameter step size η/σᵢᵗ that an adaptive optimizer applied last.

    The lecture's picture of adaptive learning rates: every parameter i has its own step
    η/σᵢᵗ, small where gradients have been large, large where they have been small. This
    reads it out of an optimizer state as a pytree shaped like the parameters, using the
    exact σ of the transform (its ε and bias correction included, which the state records):

    - Adagrad (sum form): η / √(s₀ + Σₖ g² + ε) (0 where the accumulator is 0);
    - the lecture's mean form: η / √((ε + Σₖ g²)/(t+1)) (η there is the decayed ηᵗ);
    - RMSProp: η / √(σ̂² + ε) or η / (√σ̂² + ε), σ̂² the (centered, bias-corrected) average;
    - Adam: η / (√(v̂ + ε̄) + ε) with v̂ = v/(1 − β₂ᵗ): the factor multiplying m̂;
    - RAdam: η r(ρₜ)/(√(v̂ + ε̄) + ε) once ρₜ ≥ threshold, and η before (plain momentum).

    The first matching state in pytree order is used, so a wrapped or chained optimizer
    works (``optax.chain``, ``MultiSteps``, ``masked``, ``inject_hyperparams``,
    :func:`skip_nonfinite`). Masked-out leaves of ``optax.masked`` come back as they are in
    the state (``MaskedNode``).

    Args:
      opt_state: an optimizer state holding one of the states above.
      learning_rate: η; by default the one recorded in the state
        (:func:`learning_rate_from_state`).

    Returns:
      A pytree like the parameters of η/σᵢᵗ.

    Raises:
      ValueError: if the state has no second moment (SGD, momentum, optax's own states), or
        no recorded learning rate when ``learning_rate`` is not given.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxtrain.optim import adagrad, effective_step_size
      >>> opt = adagrad(1.0, initial_accumulator_value=0.0, eps=1e-12)
      >>> state = opt.init(jnp.zeros(2))
      >>> _, state = opt.update(jnp.array([4.0, 0.5]), state)
      >>> print(effective_step_size(state))  # η / |g|: large where g was small
      [0.25 2.  ]
    """
    state = _find_second_moment_state(opt_state)
    eta = learning_rate_from_state(opt_state) if learning_rate is None else learning_rate
    eta = jnp.asarray(eta)
    inverse = _inverse_sigma(state)
    if isinstance(state, ScaleByRAdamState):
        rho = radam_rho(state.b2, jnp.maximum(state.count, 1))
        rectified = radam_rectification(state.b2, rho)
        adaptive = rho >= state.threshold
        inverse = jax.tree.map(
            lambda s: jnp.where(adaptive, rectified.astype(s.dtype) * s, jnp.ones_like(s)),
            inverse,
        )
    return jax.tree.map(lambda s: eta.astype(s.dtype) * s, inverse)
