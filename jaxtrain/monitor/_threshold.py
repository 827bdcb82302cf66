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
    walk_transforms,
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
# optax.contrib's reduce_on_plateau scales like a schedule (its factor is in the recorded
# η); negative-curvature descent takes its inner optimizer's steps except near a critical
# point, where the threshold of gradient steps says nothing; perturbed gradient descent is
# gradient descent between its kicks.
_NEUTRAL = (
    "reduce_on_plateau",
    "negative_curvature_descent",
    "perturbed_gd",
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
      numerator: c in c/η, e.g. 2 for gradient descent (``None`` for a user's threshold:
        a NaN would make two equal rules unequal, and every run compile anew).
      rule: how it was derived, for reports (``"2/η"``, ``"(2+2β)/η, β=0.9"``...).
      function: a user's threshold as a function of η, used instead of c/η when given.
      constant: a user's constant threshold, used instead of c/η when given.
    """

    numerator: float | None
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


class _UnknownThresholdError(ValueError):
    """A ``ValueError`` that keeps its reason apart, to be quoted for a multi_transform's group."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"the stability threshold of this optimizer is not known: {reason}. Pass the "
            "threshold yourself, e.g. sharpness(every, threshold=lambda eta: 2 / eta) or "
            "threshold=20.0."
        )
        self.reason = reason


def _is_neutral(part: Part) -> bool:
    """Whether a transform leaves the threshold alone (momentum with β = 0 is the identity)."""
    if part.factory in _MOMENTUM:
        beta = part.get("decay", part.get("momentum"))
        return beta is None or beta == 0
    return part.factory in _NEUTRAL


def _groups(factory: str, cells: dict[str, Any]) -> dict[Any, optax.GradientTransformation] | None:
    """The transforms a wrapper applies to only some parameters, by group (``None`` if not one).

    ``optax.masked(inner, mask)`` applies ``inner`` to the masked leaves; ``optax.partition``
    (``multi_transform``) applies ``transforms[label]`` to the leaves labelled ``label``.
    """
    if factory == "masked" and isinstance(cells.get("inner"), optax.GradientTransformation):
        return {"masked": cells["inner"]}
    if factory == "partition" and isinstance(cells.get("transforms"), dict):
        return dict(cells["transforms"])
    return None


def _reason(error: ValueError) -> str:
    return error.reason if isinstance(error, _UnknownThresholdError) else str(error)


def _shared_parts(
    factory: str, group_parts: dict[Any, list[Part]], preconditioned: bool
) -> list[Part]:
    """What a masked or partitioned part amounts to for every parameter.

    Nothing when every transform inside it is neutral (masked weight decay or clipping); for a
    partition whose groups all give the same rule, the first group's non-neutral parts, which
    give that rule. Otherwise the parameters have different thresholds, and no one number
    bounds the sharpness of them all: a ``ValueError`` that says so.
    """
    active = {
        label: [p for p in parts if not _is_neutral(p)] for label, parts in group_parts.items()
    }
    if factory == "masked":
        (inner,) = group_parts.values()
        _classify(inner)  # an unknown transform is named as such, masked or not
        if active["masked"]:
            names = ", ".join(repr(p.factory) for p in active["masked"])
            raise _UnknownThresholdError(
                f"optax.masked applies {names} to only some parameters, which then have "
                "different thresholds (only clipping, weight decay and scaling may be masked)"
            )
        return []
    if not any(active.values()):
        return []
    rules: dict[Any, StabilityThreshold | ValueError] = {}
    for label, parts in group_parts.items():
        try:
            rules[label] = _rule(parts, preconditioned)
        except ValueError as error:
            rules[label] = error
    errors = [rule for rule in rules.values() if isinstance(rule, ValueError)]
    if len(errors) == len(rules) and len({str(error) for error in errors}) == 1:
        raise errors[0]  # the groups fail alike: the plain optimizer's own message
    if errors or len({(rule.numerator, rule.rule) for rule in rules.values()}) > 1:
        described = "; ".join(
            f"{label!r}: {_reason(rule) if isinstance(rule, ValueError) else rule.rule}"
            for label, rule in rules.items()
        )
        raise _UnknownThresholdError(
            "optax.multi_transform gives its groups of parameters different thresholds "
            f"({described})"
        )
    return next(parts for parts in active.values() if parts)


def _effective_parts(
    transform: optax.GradientTransformation, part_of: dict[int, Part], preconditioned: bool
) -> list[Part]:
    """The parts that set ``transform``'s threshold, in chain order.

    Its own transforms, with each ``optax.masked`` or ``optax.multi_transform`` inside it
    replaced by what it amounts to for every parameter (:func:`_shared_parts`). ``part_of``
    maps a transform's ``update`` to its :class:`Part` (constants read once, for the whole
    optimizer and its state).
    """
    parts: list[Part] = []
    inside: set[int] = set()  # the updates of the wrappers' groups, resolved with them
    for factory, cells, update in walk_transforms(transform):
        if id(update) in inside:
            continue
        groups = _groups(factory, cells)
        if groups is None:
            parts.append(part_of[id(update)])
            continue
        for group in groups.values():
            inside.update(id(fn) for _, _, fn in walk_transforms(group))
        group_parts = {
            label: _effective_parts(group, part_of, preconditioned)
            for label, group in groups.items()
        }
        parts.extend(_shared_parts(factory, group_parts, preconditioned))
    return parts


# The hyperparameters a threshold's numerator is made of, by the parts that hold them.
_NUMERATOR_HYPERPARAMS = {
    **dict.fromkeys(_MOMENTUM, ("decay", "momentum")),
    **dict.fromkeys(_ADAM, ("b1",)),
    "rmsprop": ("momentum",),
}


def _check_not_scheduled(part: Part) -> None:
    """Refuses a β or β₁ that an ``inject_hyperparams`` schedule moves: the threshold's c is
    read once, before the run (the preconditioner P reads its β₁ at each step)."""
    for name in _NUMERATOR_HYPERPARAMS.get(part.factory, ()):
        if name in part.scheduled:
            raise _UnknownThresholdError(
                f"its {name} is a schedule, so the threshold moves at every step, and it is "
                "read once before the run (give it as a constant)"
            )
        if isinstance(part.get(name), jax.core.Tracer):
            raise ValueError(
                f"the optimizer's {name} is traced here (an inject_hyperparams state inside "
                "jit), and the threshold is a number read once: call stability_threshold "
                "outside jit, on the state's concrete values"
            )


def _classify(parts: list[Part]) -> tuple[list[Part], list[Part], list[Part]]:
    """The momentum, Adam and other adaptive parts; a ``ValueError`` for an unknown one."""
    momentum: list[Part] = []
    adam: list[Part] = []
    other_adaptive: list[Part] = []
    for part in parts:
        _check_not_scheduled(part)
        if part.factory in _MOMENTUM:
            if not _is_neutral(part):
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
            raise _UnknownThresholdError(f"it contains {part.factory!r}")
    return momentum, adam, other_adaptive


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

    η is the step's learning rate (a schedule's current value); β and β₁ are read once, from
    the optimizer (its transforms' closures, or ``optax.inject_hyperparams``'s state at the
    start), so a β or β₁ that an ``inject_hyperparams`` schedule moves is refused.
    Clipping, weight decay and the learning-rate scaling count as neutral. For weight decay
    that is an approximation: with decay wd inside gradient descent's or momentum's direction
    the exact bound is λmax + wd < c/η, so the threshold returned is high by wd.

    Parts that act on only some parameters: an ``optax.masked`` part (``adamw(mask=...)``,
    ``add_decayed_weights(mask=...)``) is neutral when every transform inside it is neutral;
    an ``optax.multi_transform`` (``optax.partition``) is accepted when every group gives the
    same rule (weight decay on the kernels only, the same momentum or Adam everywhere), and
    is neutral when every group is. The groups are taken to share the recorded η. A masked
    momentum or Adam, or groups with different rules, give different parameters different
    thresholds, which no one c/η bounds: those are refused.

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
        plain SGD with ``preconditioned=True``, a momentum or adaptive transform under
        ``optax.masked``, ``optax.multi_transform`` groups with different rules, a scheduled
        β or β₁).

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
    part_of = {
        id(update): part
        for (_, _, update), part in zip(walk_transforms(optimizer), parts, strict=True)
    }
    return _rule(_effective_parts(optimizer, part_of, preconditioned), preconditioned)


def _in_unit_interval(beta: float, name: str) -> float:
    """``beta`` when in [0, 1), where the thresholds' derivations hold (a heavy ball with
    β ≥ 1 diverges at every λ > 0; the formulas divide by 1 − β₁ and 1 + 2β)."""
    if not 0 <= beta < 1:
        raise _UnknownThresholdError(f"{name} = {beta:g} is outside [0, 1)")
    return beta


def _rule(parts: list[Part], preconditioned: bool) -> StabilityThreshold:
    """The threshold of an optimizer made of ``parts`` (none of them masked or partitioned)."""
    momentum, adam, other_adaptive = _classify(parts)
    if len(momentum) > 1 or len(adam) + len(other_adaptive) > 1:
        raise _UnknownThresholdError("it stacks several momentum or adaptive transforms")
    if adam:
        (part,) = adam
        if not preconditioned:
            raise ValueError(
                "Adam's stability threshold bounds the preconditioned sharpness "
                "λmax(P^{-1/2} H P^{-1/2}), not λmax(H): use sharpness(..., "
                "preconditioned=True), or pass threshold= yourself"
            )
        if part.get("nesterov"):
            raise _UnknownThresholdError("Nesterov momentum inside Adam (NAdam)")
        if momentum:
            raise _UnknownThresholdError("it adds momentum on top of Adam")
        b1 = _in_unit_interval(float(part.get("b1", 0.9)), "Adam's β₁")
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
    beta = _in_unit_interval(float(part.get("decay", part.get("momentum"))), "momentum β")
    if part.get("nesterov"):
        return StabilityThreshold(
            (2 + 2 * beta) / (1 + 2 * beta), f"(2+2β)/((1+2β)η), Nesterov β={beta:g}"
        )
    return StabilityThreshold(2 + 2 * beta, f"(2+2β)/η, β={beta:g}")
