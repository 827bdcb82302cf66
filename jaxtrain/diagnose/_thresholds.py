"""The numbers that turn measured losses into the flowchart's "large" and "small"."""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any

from jaxtrain._numbers import is_int

__all__ = ["CauseThresholds", "Thresholds"]


def _positive(value: Any, name: str, *, allow_zero: bool = False) -> float:
    # A string or a bool would pass float() ("0.1", True) and be kept as given.
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"`{name}` must be a number; got {value!r}.")
    number = float(value)
    low_ok = number >= 0 if allow_zero else number > 0
    if not (low_ok and math.isfinite(number)):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"`{name}` must be a finite number {bound}; got {value!r}.")
    return number


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """When a loss counts as large, a difference as real and a gradient as small.

    Every loss is measured in units of a *baseline* B: the loss of the best constant
    prediction (the class prior for classification, the target mean for regression). A ratio
    L/B near 1 means the model learned nothing beyond the label statistics; near 0, that it fits
    the data. This makes one set of defaults work for cross-entropy and for MSE alike.

    The flowchart (lecture §1) reads:

    - training loss large ⇔ L_train/B > ``large_train_loss``;
    - a gap is large ⇔ (L_other − L_train)/B > ``large_gap`` (``other``: the in-distribution
      held-out split, the validation or the test set);
    - mismatch needs the held-out gap small and the validation gap larger than
      ``mismatch_factor`` × the held-out gap;
    - candidate a is worse than b ⇔ the seed-paired mean difference Δ = mean(L_a − L_b)/B
      exceeds ``min_difference`` *and* ``noise_factor`` standard errors of Δ;
    - a critical point (§2) ⇔ ‖g_final‖ ≤ ``critical_grad_ratio`` · ‖g_init‖ or
      ‖g_final‖ ≤ ``critical_grad_norm`` (full-batch gradients);
    - training stalled at the first step after which less than ``stall_tolerance`` of the
      total decrease of the (smoothed) training loss remained;
    - the Hessian check is dense (``jax.hessian`` + ``eigh``) up to ``dense_max_params``
      parameters and Lanczos above.

    Attributes:
      large_train_loss: L_train/B above this is a large training loss (default 0.2: the model
        removes less than 80% of the baseline loss).
      large_gap: a (held-out, validation or test) minus training loss gap above this, in units
        of B, is large (default 0.1).
      mismatch_factor: the validation gap must exceed this multiple of the in-distribution
        held-out gap for "mismatch" (default 2).
      min_difference: the smallest training-loss difference between candidates, in units of
        B, that counts (default 0.05).
      noise_factor: how many standard errors over seeds the difference must also exceed
        (default 2).
      critical_grad_ratio: final/initial full-batch gradient norm below this is a critical
        point (default 0.01).
      critical_grad_norm: a full-batch gradient norm below this is a critical point whatever
        the initial one (default 1e-3).
      stall_tolerance: share of the total loss decrease still to come below which training
        has stalled (default 0.05).
      dense_max_params: largest parameter count for the dense Hessian; Lanczos above
        (default 2000).

    Examples:
      >>> from jaxtrain.diagnose import Thresholds
      >>> t = Thresholds(large_gap=0.2)
      >>> t.large_train_loss, t.large_gap, t.to_dict()["dense_max_params"]
      (0.2, 0.2, 2000)

    References:
      He et al., *Deep Residual Learning for Image Recognition*, 2016 (deeper plain networks
      train worse), https://arxiv.org/abs/1512.03385
    """

    large_train_loss: float = 0.2
    large_gap: float = 0.1
    mismatch_factor: float = 2.0
    min_difference: float = 0.05
    noise_factor: float = 2.0
    critical_grad_ratio: float = 0.01
    critical_grad_norm: float = 1e-3
    stall_tolerance: float = 0.05
    dense_max_params: int = 2000

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            if field.name == "dense_max_params":
                continue
            allow_zero = field.name in ("noise_factor", "critical_grad_norm", "min_difference")
            _positive(getattr(self, field.name), field.name, allow_zero=allow_zero)
        if not 0 < self.stall_tolerance < 1:
            raise ValueError(f"`stall_tolerance` must be in (0, 1); got {self.stall_tolerance!r}.")
        if not is_int(self.dense_max_params) or self.dense_max_params < 1:
            raise ValueError(
                f"`dense_max_params` must be a positive int; got {self.dense_max_params!r}."
            )
        object.__setattr__(self, "dense_max_params", int(self.dense_max_params))

    def to_dict(self) -> dict[str, float | int]:
        """The thresholds as a plain dict (for JSON)."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class CauseThresholds:
    """The constants behind every cause of :func:`~jaxtrain.diagnose.explain_run`, in one place.

    Each rule of :func:`~jaxtrain.diagnose.rank_causes` compares measured numbers with these
    thresholds. A comparison x ≥ t is not a hard switch but a *degree*: with a span s > 1,

        soft(x ≥ t) = clip(½ + ½·log(x/t)/log s, 0, 1),

    so it is ½ exactly at the threshold, 1 at x = t·s and 0 at x = t/s (x ≤ t the mirror
    image). A cause's score is the smallest degree among its conditions (all must hold), and a
    cause is reported when its score reaches ``report_score`` (every condition at or past its
    threshold). The spans say how far past the threshold a number must be to count as
    certain; they are factors of the measured quantity, not tuned per case.

    Attributes:
      report_score: a cause with a score at or above this is reported (default 0.5: every
        condition at least at its threshold).
      failed_loss: the run failed to fit when its final full-batch training loss over the
        baseline B (best constant prediction) exceeds this (default 0.2, the flowchart's
        ``large_train_loss``); a diverged run failed too.
      critical_grad_ratio: the gradient is small (a critical point, §2) when ‖g_T‖/‖g₀‖ is
        below this (default 0.01)...
      critical_progress: ...or when one gradient step of the largest stable size 1/λmax
        would remove less than this share of the loss, ρ = ‖g‖²/(2·λmax·L) (default 1e-4):
        scale-free, and meaningful for a run that *started* at a saddle, where ‖g₀‖ is tiny.
      flat_drop: the loss is flat when its smoothed level fell by less than this share over
        the last quarter of the run (default 0.05, the stall tolerance).
      escape_decrease: a step along the lowest-curvature eigenvector *lowers* the loss when
        the best measured −ΔL/L over the step grid exceeds this (default 1e-6, about ten
        float32 roundings of the loss).
      edge_ratio: the sharpness is at the stability threshold when the median over the run
        of λmax/threshold (λmax·η/2 for gradient descent, the preconditioned λmax·η/38 for
        Adam) reaches this (default 0.9: Cohen et al. see training hover at 0.9–1.1).
      low_sharpness_ratio: the sharpness is far below the threshold (η could be larger) when
        that median ratio is below this (default 0.1).
      loss_rise: the loss oscillates when its smoothed curve (window T/20, which averages
        mini-batch noise away) rises this share above its running minimum (default 0.5).
      step_ratio: a step is violent when it moves θ by this multiple of ‖θ‖ (default 1: a
        single step as long as the parameter vector itself, outside any local model).
      probe_factor: the lower-η probe multiplies every update by this (default 0.1, η/10),
        or by ½/r when the median sharpness over the threshold r says a step that low is
        needed (λmax at half the threshold), but not below its square (η/100: a ratio read
        on a run already blowing up would send the probe where it cannot move); by this
        factor once more when that probe diverges too.
      probe_gain: the probe trains better when the run's loss over its probe's loss, at the
        same step on the same batches, exceeds this (default 1.5).
      feature_spread: the input features are on wildly different scales when the largest
        root-mean-square feature over the median one exceeds this (default 100: two orders
        of magnitude, a curvature ratio of 10⁴ in the first layer).
      valley_ratio: a narrow valley when λmax over the curvature along the gradient,
        λmax·‖g‖²/(gᵀHg), exceeds this (default 1000: gradient descent, held to η < 2/λmax by
        the steep walls, advances along the valley at most 2/1000 of a Newton step per step).
      saturation_probability: an output is saturated when its largest probability exceeds
        this (default 0.99).
      push_ratio: the loss cannot push a saturated wrong prediction when its gradient on the
        logits is below this share of cross-entropy's, ‖∂ℓ/∂z‖/‖p − y‖ (default 0.01).
      saturated_share: the loss is saturated when at least this share of the wrong
        predictions are saturated and cannot be pushed (default 0.25).
      batch_over_noise: the batch is far above the gradient noise scale B_simple (compute
        wasted per step, McCandlish et al. 2018) when B/B_simple exceeds this (default 10)...
      batch_under_noise: ...and so small that the noise dominates when B/B_simple is below
        this (default 0.1) while the loss is noisy and stuck.
      noisy_loss: the loss is noisy when the std of the last quarter's step losses around
        their moving mean (the trend taken out), over their level, exceeds this (default 0.1).
      still_falling: the loss is still falling steadily when the last quarter of the run
        brought at least this share of the run's total decrease (default 0.1, 40% of the
        average rate).
      dense_max_params: largest parameter count for the dense Hessian at the end; Lanczos
        above (default 1000).
      curvature_examples: the most training examples the curvature at the end is measured on
        (default 2048).
      span: how far past a threshold (a factor) a quantity that ranges over orders of
        magnitude (gradient ratios, sharpness, feature spread, batch/noise) must be to count
        as certain (default 10).
      narrow_span: the same for bounded quantities: loss ratios, shares, rises and
        fluctuations (default 2).

    Examples:
      >>> from jaxtrain.diagnose import CauseThresholds
      >>> t = CauseThresholds(edge_ratio=1.0)
      >>> t.edge_ratio, t.soft_ge(1.0, 1.0), t.soft_ge(10.0, 1.0), t.soft_le(10.0, 1.0)
      (1.0, 0.5, 1.0, 0.0)

    References:
      Cohen et al., "Gradient Descent on Neural Networks Typically Occurs at the Edge of
      Stability", ICLR 2021, https://arxiv.org/abs/2103.00065

      McCandlish, Kaplan, Amodei, "An Empirical Model of Large-Batch Training", 2018,
      https://arxiv.org/abs/1812.06162

      LeCun, Bottou, Orr, Müller, "Efficient BackProp", 1998 (input scales and conditioning).
    """

    report_score: float = 0.5
    failed_loss: float = 0.2
    critical_grad_ratio: float = 0.01
    critical_progress: float = 1e-4
    flat_drop: float = 0.05
    escape_decrease: float = 1e-6
    edge_ratio: float = 0.9
    low_sharpness_ratio: float = 0.1
    loss_rise: float = 0.5
    step_ratio: float = 1.0
    probe_factor: float = 0.1
    probe_gain: float = 1.5
    feature_spread: float = 100.0
    valley_ratio: float = 1000.0
    saturation_probability: float = 0.99
    push_ratio: float = 0.01
    saturated_share: float = 0.25
    batch_over_noise: float = 10.0
    batch_under_noise: float = 0.1
    noisy_loss: float = 0.1
    still_falling: float = 0.1
    dense_max_params: int = 1000
    curvature_examples: int = 2048

    span: float = 10.0
    narrow_span: float = 2.0

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            if field.name in ("dense_max_params", "curvature_examples"):
                value = getattr(self, field.name)
                if not is_int(value) or value < 1:
                    raise ValueError(f"`{field.name}` must be a positive int; got {value!r}.")
                object.__setattr__(self, field.name, int(value))
                continue
            _positive(getattr(self, field.name), field.name)
        for name in ("report_score", "probe_factor", "saturation_probability", "saturated_share"):
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"`{name}` must be in (0, 1); got {getattr(self, name)!r}.")
        for name in ("span", "narrow_span"):
            if not getattr(self, name) > 1:
                raise ValueError(f"`{name}` must be > 1; got {getattr(self, name)!r}.")

    def soft_ge(self, value: float, threshold: float, span: float | None = None) -> float:
        """The degree to which ``value ≥ threshold``: ½ at the threshold (0 for NaN)."""
        span = self.span if span is None else span
        value = float(value)
        if math.isnan(value):
            return 0.0
        if value <= 0:
            return 0.0
        if math.isinf(value):
            return 1.0
        degree = 0.5 + 0.5 * math.log(value / threshold) / math.log(span)
        return round(float(min(1.0, max(0.0, degree))), 12)

    def soft_le(self, value: float, threshold: float, span: float | None = None) -> float:
        """The degree to which ``value ≤ threshold``: ½ at the threshold (0 for NaN)."""
        value = float(value)
        if math.isnan(value):
            return 0.0
        if value <= 0:
            return 1.0
        return self.soft_ge(threshold / value, 1.0, span)

    def to_dict(self) -> dict[str, float | int]:
        """The thresholds as a plain dict (for JSON)."""
        return dataclasses.asdict(self)
