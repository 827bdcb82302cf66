"""The diagonal preconditioner P of an adaptive optimizer, read from its state."""

from __future__ import annotations

from typing import Any

from jaxtrain.optim._effective_step import inverse_preconditioner
from jaxtrain.optim._hyperparameters import Part

__all__ = ["preconditioner_inverse"]


def preconditioner_inverse(parts: list[Part], opt_state: Any) -> Any:
    """P⁻¹ per parameter: what the optimizer's adaptive transform multiplies the gradient by.

    The same computation as :func:`jaxtrain.optim.effective_step_size` at η = 1, for
    jaxtrain's and optax's optimizers alike: the state's second moment with the ε, β₂ (and
    RAdam's rectification) of the transform that owns it, found in ``parts`` (P = √(ν̂ + ε̄) + ε
    for Adam, √(ν + ε) or √ν + ε for RMSProp, √(s + ε) for Adagrad).

    Raises:
      ValueError: if the state has no second moment (use ``preconditioned=False`` for SGD and
        momentum) or its owning transform is not among ``parts``.
    """
    return inverse_preconditioner(parts, opt_state)
