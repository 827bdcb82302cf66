"""The per-parameter step size η/σᵢᵗ of an adaptive optimizer: its state read with its
hyperparameters.

The state holds the moving averages (σ², the step count); ε, β₂ and the other constants are
read from the optimizer's closures (:func:`jaxtrain.optim._hyperparameters.optimizer_parts`),
so the same code serves jaxtrain's and optax's optimizers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import optax

from jaxtrain.optim._adagrad import ScaleByRootMeanSquareHistoryState
from jaxtrain.optim._adam import radam_rectification, radam_rho
from jaxtrain.optim._hyperparameters import (
    ADAGRAD_FACTORIES,
    ADAM_FACTORIES,
    MEAN_SQUARE_FACTORIES,
    RADAM_FACTORIES,
    RMS_FACTORIES,
    Part,
    optimizer_parts,
)
from jaxtrain.optim._learning_rate import learning_rate_from_state
from jaxtrain.optim._rmsprop import ScaleByRmsWithCountState, ScaleByRStdDevWithCountState

__all__ = ["effective_step_size", "inverse_preconditioner", "second_moment_owner"]


# Which transforms (factories, or aliases under inject_hyperparams) own each second-moment
# state; optax's Lion and Adamax also keep a ScaleByAdamState but have no σ of this kind.
_OWNERS: dict[type, tuple[str, ...]] = {
    optax.ScaleByAdamState: ADAM_FACTORIES + RADAM_FACTORIES,
    optax.ScaleByRmsState: RMS_FACTORIES,
    ScaleByRmsWithCountState: RMS_FACTORIES,
    optax.ScaleByRStdDevState: RMS_FACTORIES,
    ScaleByRStdDevWithCountState: RMS_FACTORIES,
    optax.ScaleByRssState: ADAGRAD_FACTORIES,
    ScaleByRootMeanSquareHistoryState: MEAN_SQUARE_FACTORIES,
}


def _correction(decay: Any, count: jax.Array) -> jax.Array:
    # Before the first update there is nothing to correct (and 1 − β⁰ = 0).
    return jnp.where(count > 0, 1 - decay ** jnp.maximum(count, 1), 1.0)


def _second_moment_state(opt_state: Any) -> Any:
    kinds = tuple(_OWNERS)
    nodes = jax.tree_util.tree_leaves(opt_state, is_leaf=lambda x: isinstance(x, kinds))
    for node in nodes:
        if isinstance(node, kinds):
            return node
    raise ValueError(
        "no second moment σ² in this optimizer state: η/σ and a preconditioned sharpness need "
        "an adaptive optimizer (Adam, AdamW, RAdam, RMSProp, Adagrad; jaxtrain's or optax's). "
        "Plain SGD and momentum have the same step η for every parameter."
    )


def second_moment_owner(parts: Sequence[Part], opt_state: Any) -> tuple[Any, Part]:
    """``(state, part)``: the optimizer state's first second-moment state and the first of
    ``parts`` of a transform that owns that kind of state (whose ε, β₂ and β₁ apply to it).

    Raises:
      ValueError: if the state has no second moment, or no transform owning it is found.
    """
    state = _second_moment_state(opt_state)
    owners = _OWNERS[type(state)]
    part = next((p for p in parts if p.factory in owners), None)
    if part is None:
        raise ValueError(
            f"found a {type(state).__name__} but not the transform that owns it "
            f"({' or '.join(owners)}) in the optimizer, so its ε and β₂ are unknown."
        )
    return state, part


def _inverse_rms(state: Any, part: Part) -> Any:
    decay = part.get("decay", 0.9)
    eps = part.get("eps", 1e-8)
    eps_in_sqrt = bool(part.get("eps_in_sqrt", True))
    # Only the *WithCount* states (bias correction) have a count field; a bare tuple's
    # ``count`` would be its method.
    bias_corrected = "count" in state._fields
    correction = _correction(decay, jnp.asarray(state.count)) if bias_corrected else 1.0

    def unbiased(x):
        return x / jnp.asarray(correction).astype(x.real.dtype)

    second = jax.tree.map(unbiased, state.nu)
    if "mu" in state._fields:
        second = jax.tree.map(
            lambda n, m: n - jnp.real(unbiased(m) * jnp.conj(unbiased(m))), second, state.mu
        )
    if eps_in_sqrt:
        return jax.tree.map(lambda v: jax.lax.rsqrt(v + eps), second)
    return jax.tree.map(lambda v: 1 / (jnp.sqrt(v) + eps), second)


def _inverse_adam(state: optax.ScaleByAdamState, part: Part, rectified: bool) -> Any:
    b2 = part.get("b2", 0.999)
    eps = part.get("eps", 1e-8)
    eps_root = part.get("eps_root", 0.0)
    count = jnp.asarray(state.count)
    correction = _correction(b2, count)
    inverse = jax.tree.map(
        lambda v: 1 / (jnp.sqrt(v / correction.astype(v.real.dtype) + eps_root) + eps), state.nu
    )
    if not rectified:
        return inverse
    rho = radam_rho(b2, jnp.maximum(count, 1))
    rectification = radam_rectification(b2, rho)
    adaptive = rho >= part.get("threshold", 5.0)
    return jax.tree.map(
        lambda s: jnp.where(adaptive, rectification.astype(s.dtype) * s, jnp.ones_like(s)),
        inverse,
    )


def inverse_preconditioner(parts: Sequence[Part], opt_state: Any) -> Any:
    """P⁻¹ per parameter, 1/σ: what the optimizer's adaptive transform multiplies g (or m̂) by.

    ``parts`` are the optimizer's transforms with their constants
    (:func:`~jaxtrain.optim._hyperparameters.optimizer_parts`), ``opt_state`` its state; the
    first second-moment state is paired with the first transform that owns that kind of
    state. Formulas, with the transform's own ε (defaults optax's):

    - Adagrad (sum form): 1/√(s + ε), 0 where s = 0;
    - the lecture's mean form: 1/√((ε + Σₖ|g|²)/(t+1)), 0 where the sum is 0;
    - RMSProp: 1/√(σ̂² + ε) or 1/(√σ̂² + ε), σ̂² centered and bias-corrected as configured;
    - Adam: 1/(√(v̂ + ε̄) + ε), v̂ = v/(1 − β₂ᵗ);
    - RAdam: r(ρₜ)/(√(v̂ + ε̄) + ε) once ρₜ ≥ threshold, 1 before.

    Raises:
      ValueError: if the state has no second moment, or no transform owning it is found.
    """
    state, part = second_moment_owner(parts, opt_state)
    if isinstance(state, optax.ScaleByRssState):
        eps = part.get("eps", 1e-7)
        return jax.tree.map(
            lambda s: jnp.where(s > 0, jax.lax.rsqrt(s + eps), 0.0), state.sum_of_squares
        )
    if isinstance(state, ScaleByRootMeanSquareHistoryState):
        eps = part.get("eps", 1e-7)
        count = jnp.maximum(state.count, 1)

        def inverse(s):
            return jnp.where(s > 0, jax.lax.rsqrt((s + eps) / count.astype(s.dtype)), 0.0)

        return jax.tree.map(inverse, state.sum_of_squares)
    if isinstance(state, optax.ScaleByAdamState):
        return _inverse_adam(state, part, rectified=part.factory in RADAM_FACTORIES)
    return _inverse_rms(state, part)


def effective_step_size(
    optimizer: optax.GradientTransformation, opt_state: Any, learning_rate: Any = None
) -> Any:
    """The per-parameter step size η/σᵢᵗ that an adaptive optimizer applied last.

    The lecture's picture of adaptive learning rates: every parameter i has its own step
    η/σᵢᵗ, small where gradients have been large, large where they have been small. This
    computes it, as a pytree shaped like the parameters, from the state's moving averages
    and the optimizer's own hyperparameters (ε, β₂, bias correction, read from its
    closures), so it serves jaxtrain's and optax's ``adam``, ``adamw``, ``radam``,
    ``rmsprop``, ``adagrad``, their building blocks, chains and wrappers
    (``optax.chain``, ``MultiSteps``, ``masked``, ``inject_hyperparams``,
    :func:`skip_nonfinite`), inside ``jit``:

    - Adagrad (sum form): η / √(s₀ + Σₖ |g|² + ε) (0 where the accumulator is 0);
    - the lecture's mean form: η / √((ε + Σₖ |g|²)/(t+1)) (η there is the decayed ηᵗ);
    - RMSProp: η / √(σ̂² + ε) or η / (√σ̂² + ε), σ̂² the (centered, bias-corrected) average;
    - Adam: η / (√(v̂ + ε̄) + ε) with v̂ = v/(1 − β₂ᵗ): the factor multiplying m̂;
    - RAdam: η r(ρₜ)/(√(v̂ + ε̄) + ε) once ρₜ ≥ threshold, and η before (plain momentum).

    Args:
      optimizer: the ``optax.GradientTransformation`` that made ``opt_state``.
      opt_state: its state.
      learning_rate: η; by default the optimizer's (:func:`learning_rate_from_state`).

    Returns:
      A pytree like the parameters of η/σᵢᵗ (masked-out leaves of ``optax.masked`` as
      ``MaskedNode``).

    Raises:
      ValueError: if the state has no second moment (SGD, momentum), or η is not found.

    Examples:
      >>> import jax
      >>> import jax.numpy as jnp
      >>> from jaxtrain.optim import adagrad, effective_step_size
      >>> opt = adagrad(1.0, initial_accumulator_value=0.0, eps=1e-12)
      >>> state = opt.init(jnp.zeros(2))
      >>> _, state = opt.update(jnp.array([4.0, 0.5]), state)
      >>> print(jax.jit(lambda s: effective_step_size(opt, s))(state))  # η/|g|
      [0.25 2.  ]
    """
    inverse = inverse_preconditioner(optimizer_parts(optimizer, opt_state), opt_state)
    eta = learning_rate_from_state(opt_state, optimizer) if learning_rate is None else learning_rate
    eta = jnp.asarray(eta)
    return jax.tree.map(lambda s: eta.astype(s.dtype) * s, inverse)
