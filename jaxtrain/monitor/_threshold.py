"""The stability threshold: the largest sharpness at which the optimizer's iteration is stable."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from jaxtrain.optim._hyperparameters import (
    ADAGRAD_FACTORIES,
    ADAM_FACTORIES,
    MEAN_SQUARE_FACTORIES,
    RADAM_FACTORIES,
    RMS_FACTORIES,
    Part,
    optimizer_parts,
)

__all__ = ["StabilityThreshold", "stability_threshold"]

_MOMENTUM = ("trace", "scale_by_momentum", "sgd")
_ADAM = ADAM_FACTORIES + RADAM_FACTORIES
_RMS = RMS_FACTORIES
_ADAGRAD = ADAGRAD_FACTORIES + MEAN_SQUARE_FACTORIES
# Transforms counted as neutral: they scale by η (recorded separately), clip only large
# steps, or guard against non-finite values. Weight decay is the approximation among them:
# wd·θ added to the direction adds wd to every curvature the step sees, so the exact bound
# is λmax + wd < c/η, below the reported c/η by wd (1e-4 beside 2/η = 20 at η = 0.1).
_NEUTRAL = (
    "scale",
    "scale_by_learning_rate",
    "scale_by_schedule",
    "clip",
    "clip_by_global_norm",
    "add_decayed_weights",
    "skip_nonfinite",
    "identity",
    "init_empty_state",
    "chain",
    "named_chain",
)


@dataclasses.dataclass(frozen=True)
class StabilityThreshold:
    """A stability threshold c/η, or a user's constant or function of η.

    Attributes:
      numerator: c in c/η, e.g. 2 for gradient descent (NaN for a user's threshold).
      rule: how it was derived, for reports (``"2/η"``, ``"(2+2β)/η, β=0.9"``...).
      function: a user's threshold as a function of η, used instead of c/η when given.
      constant: a user's constant threshold, used instead of c/η when given.
    """

    numerator: float
    rule: str
    function: Callable[[Any], Any] | None = None
    constant: float | None = None

    def __call__(self, learning_rate: jax.Array) -> jax.Array:
        """The threshold at step size η (NaN when η is NaN, i.e. not recorded)."""
        eta = jnp.asarray(learning_rate, jnp.float32)
        if self.constant is not None:
            return jnp.float32(self.constant)
        if self.function is not None:
            return jnp.asarray(self.function(eta), jnp.float32)
        return jnp.float32(self.numerator) / eta


def _unknown(what: str) -> ValueError:
    return ValueError(
        f"the stability threshold of this optimizer is not known: {what}. Pass the threshold "
        "yourself, e.g. sharpness(every, threshold=lambda eta: 2 / eta) or threshold=20.0."
    )


def stability_threshold(
    optimizer: optax.GradientTransformation,
    opt_state: Any,
    *,
    preconditioned: bool = False,
) -> StabilityThreshold:
    r"""The sharpness above which the optimizer's step is unstable on a quadratic.

    On a quadratic with curvature λ, gradient descent θ ← θ − ηλθ is stable while ηλ < 2,
    so λmax ≤ 2/η; the edge of stability (Cohen et al., 2021) is training hovering there.

    - SGD: 2/η;
    - heavy-ball momentum β (b ← g + βb, θ ← θ − ηb): (2 + 2β)/η;
    - Nesterov momentum β: (2 + 2β)/((1 + 2β)η) (Cohen et al. 2021, appendix);
    - Adam/AdamW/RAdam, for the *preconditioned* sharpness λmax(P^{-1/2} H P^{-1/2}):
      (2 + 2β₁)/((1 − β₁)η) = 38/η at β₁ = 0.9 (Cohen et al. 2022);
    - RMSProp and Adagrad, preconditioned: 2/η, or (2 + 2β)/η with RMSProp's momentum β.

    η is the step's learning rate (a schedule's current value); β and β₁ are read from the
    optimizer (its transforms' closures, or ``optax.inject_hyperparams``'s state at the start).
    Clipping, weight decay and the learning-rate scaling count as neutral. For weight decay
    that is an approximation: with decay wd inside gradient descent's or momentum's direction
    the exact bound is λmax + wd < c/η, so the threshold returned is high by wd.

    Args:
      optimizer: the ``optax.GradientTransformation`` that trains.
      opt_state: its state (``optimizer.init(params)``).
      preconditioned: whether the sharpness is measured through the adaptive optimizer's
        preconditioner.

    Returns:
      A :class:`StabilityThreshold`; call it with η.

    Raises:
      ValueError: for an optimizer whose threshold is not known here (another adaptive
        method, Nesterov inside Adam, an adaptive optimizer without ``preconditioned=True``,
        plain SGD with ``preconditioned=True``).

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxtrain.monitor import stability_threshold
      >>> from jaxtrain.optim import adam, sgd
      >>> params = jnp.zeros(3)
      >>> opt = sgd(0.1, momentum=0.9)
      >>> print(stability_threshold(opt, opt.init(params))(0.1))  # (2 + 2·0.9)/0.1
      38.0
      >>> opt = adam(0.01)
      >>> print(stability_threshold(opt, opt.init(params), preconditioned=True)(0.01))
      3800.0

    References:
      Cohen, Kaur, Li, Kolter, Talwalkar, "Gradient Descent on Neural Networks Typically
      Occurs at the Edge of Stability", ICLR 2021, https://arxiv.org/abs/2103.00065

      Cohen et al., "Adaptive Gradient Methods at the Edge of Stability", 2022,
      https://arxiv.org/abs/2207.14484
    """
    parts = optimizer_parts(optimizer, opt_state)
    momentum: list[Part] = []
    adam: list[Part] = []
    other_adaptive: list[Part] = []
    for part in parts:
        if part.factory in _MOMENTUM:
            beta = part.get("decay", part.get("momentum"))
            if beta is not None and beta != 0:
                momentum.append(part)
        elif part.factory in _ADAM:
            adam.append(part)
        elif part.factory in _RMS or part.factory in _ADAGRAD:
            other_adaptive.append(part)
            if part.factory == "rmsprop" and part.get("momentum"):
                # RMSProp's momentum as a trace of its own, Nesterov's or the heavy ball's.
                momentum.append(
                    Part(
                        "rmsprop",
                        (
                            ("decay", part.get("momentum")),
                            ("nesterov", part.get("nesterov", False)),
                        ),
                    )
                )
        elif part.factory not in _NEUTRAL:
            raise _unknown(f"it contains {part.factory!r}")
    if len(momentum) > 1 or len(adam) + len(other_adaptive) > 1:
        raise _unknown("it stacks several momentum or adaptive transforms")
    if adam:
        (part,) = adam
        if not preconditioned:
            raise ValueError(
                "Adam's stability threshold bounds the preconditioned sharpness "
                "λmax(P^{-1/2} H P^{-1/2}), not λmax(H): use sharpness(..., "
                "preconditioned=True), or pass threshold= yourself"
            )
        if part.get("nesterov"):
            raise _unknown("Nesterov momentum inside Adam (NAdam)")
        if momentum:
            raise _unknown("it adds momentum on top of Adam")
        b1 = float(part.get("b1", 0.9))
        return StabilityThreshold((2 + 2 * b1) / (1 - b1), f"(2+2β₁)/((1−β₁)η), β₁={b1:g}")
    if other_adaptive and not preconditioned:
        raise ValueError(
            f"{other_adaptive[0].factory}'s stability threshold bounds the preconditioned "
            "sharpness: use sharpness(..., preconditioned=True), or pass threshold= yourself"
        )
    if not other_adaptive and preconditioned:
        raise ValueError(
            "preconditioned=True needs an adaptive optimizer (Adam, AdamW, RAdam, RMSProp, "
            "Adagrad); this one has no preconditioner"
        )
    if not momentum:
        return StabilityThreshold(2.0, "2/η")
    (part,) = momentum
    beta = float(part.get("decay", part.get("momentum")))
    if part.get("nesterov"):
        return StabilityThreshold(
            (2 + 2 * beta) / (1 + 2 * beta), f"(2+2β)/((1+2β)η), Nesterov β={beta:g}"
        )
    return StabilityThreshold(2 + 2 * beta, f"(2+2β)/η, β={beta:g}")
