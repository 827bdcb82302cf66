"""The diagonal preconditioner P of an adaptive optimizer, read from its state."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from jaxtrain.optim._effective_step import inverse_preconditioner, second_moment_owner
from jaxtrain.optim._hyperparameters import Part

__all__ = ["preconditioner_inverse", "preconditioner_set"]

# optax's default β₁, for a part whose b1 is not a constant it can read.
_DEFAULT_B1 = 0.9


def _first_moment_correction(b1: Any, count: jax.Array) -> jax.Array:
    """1/(1 − β₁ᵗ), the factor Adam's m̂ = m/(1 − β₁ᵗ) puts on the raw first moment m.

    ``count`` is t, the state's count after the update it measures (1 after the first
    update); before any update there is no step to match, and the factor is 1.
    """
    t = jnp.asarray(count).astype(jnp.float32)
    return jnp.where(t > 0, 1 / (1 - jnp.float32(b1) ** jnp.maximum(t, 1.0)), 1.0)


def preconditioner_inverse(parts: list[Part], opt_state: Any) -> Any:
    r"""P⁻¹ per parameter, P the preconditioner of the adaptive optimizer's last step.

    P is what the step θ ← θ − η P⁻¹ d divides by, d the direction it preconditions. For
    RMSProp and Adagrad d is the gradient (or RMSProp's momentum of it) and P is the state's
    σ, as :func:`jaxtrain.optim.effective_step_size` computes it at η = 1: √(ν + ε) or
    √ν + ε for RMSProp, √(s + ε) for Adagrad, with the ε and β₂ of the transform that owns
    the state, found in ``parts``.

    For Adam, AdamW, RAdam and Nadam d is the *uncorrected* first moment
    m ← β₁m + (1 − β₁)g, as Cohen et al. (2022) write Adam, so P carries m̂'s bias correction:

        P = (1 − β₁ᵗ)·diag(√(v̂ + ε̄) + ε),   v̂ = v/(1 − β₂ᵗ),

    and RAdam's P = (1 − β₁ᵗ)(√v̂ + ε)/r(ρₜ) once it rectifies,
    1 − β₁ᵗ before (its step is m̂ alone then). Their threshold (2 + 2β₁)/((1 − β₁)η) is for
    this P; without 1 − β₁ᵗ the first steps would read up to 1/(1 − β₁) = 10× low. t is the
    state's count *after* the update (the monitor sees that state), which is the t of the
    m̂ that the step just taken used; β₁ is the part's ``b1`` (optax's default 0.9). Read
    ``parts`` off the same state (``optimizer_parts(optimizer, opt_state)``): an
    ``inject_hyperparams`` schedule's β₁, β₂ and ε are then the ones this step used (optax's
    bias corrections take the current β too). Nadam's
    look-ahead corrects its newest-gradient term by 1 − β₁ᵗ too, and gets the same factor
    (the paper gives it no threshold).

    Raises:
      ValueError: if the state has no second moment (use ``preconditioned=False`` for SGD and
        momentum), or its owning transform is not among ``parts``.

    References:
      Cohen et al., "Adaptive Gradient Methods at the Edge of Stability", 2022,
      https://arxiv.org/abs/2207.14484 (their Adam: θ ← θ − η P⁻¹ m).
    """
    inverse = inverse_preconditioner(parts, opt_state)
    state, part = second_moment_owner(parts, opt_state)
    if not isinstance(state, optax.ScaleByAdamState):  # Adam's, AdamW's, RAdam's, Nadam's
        return inverse
    factor = _first_moment_correction(part.get("b1", _DEFAULT_B1), state.count)
    return jax.tree.map(lambda s: s * factor.astype(s.dtype), inverse)


def preconditioner_set(parts: list[Part], opt_state: Any) -> jax.Array:
    """Whether the adaptive transform has taken a step, so that P is a step's preconditioner.

    Before its first step its second moment is its initial value (0 for Adam and RMSProp)
    and P = ε: a preconditioned sharpness of P would be 1/ε times too large. In a run that
    happens under ``optax.MultiSteps``, whose inner optimizer steps once every k steps;
    its ``gradient_step`` and the transform's own ``count`` say whether it has.
    """
    state, _ = second_moment_owner(parts, opt_state)
    stepped = jnp.bool_(True)
    if "count" in getattr(state, "_fields", ()):
        stepped &= jnp.asarray(state.count) > 0
    multi = optax.MultiStepsState
    for node in jax.tree_util.tree_leaves(opt_state, is_leaf=lambda x: isinstance(x, multi)):
        if isinstance(node, multi):
            stepped &= jnp.asarray(node.gradient_step) > 0
    return stepped
