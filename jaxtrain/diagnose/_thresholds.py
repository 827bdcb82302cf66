"""The numbers that turn measured losses into the flowchart's "large" and "small"."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

__all__ = ["Thresholds"]


def _positive(value: Any, name: str, *, allow_zero: bool = False) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a number; got {value!r}.") from None
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
        if (
            isinstance(self.dense_max_params, bool)
            or not isinstance(self.dense_max_params, int)
            or self.dense_max_params < 1
        ):
            raise ValueError(
                f"`dense_max_params` must be a positive int; got {self.dense_max_params!r}."
            )

    def to_dict(self) -> dict[str, float | int]:
        """The thresholds as a plain dict (for JSON)."""
        return dataclasses.asdict(self)
