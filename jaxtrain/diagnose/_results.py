"""What one candidate's training runs measured: losses per seed and the curves behind them."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["CandidateResult"]

_LOSSES = ("train_loss", "heldout_loss", "val_loss", "test_loss")
_ERRORS = ("heldout_se", "val_se", "test_se")


def _floats(values: Any, name: str) -> tuple[float, ...]:
    if values is None:
        return ()
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    return tuple(float(v) for v in array)


def _curves(values: Sequence[Any] | None) -> tuple[np.ndarray, ...]:
    if values is None:
        return ()
    return tuple(np.asarray(curve, dtype=np.float64).reshape(-1) for curve in values)


def _json_float(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


@dataclasses.dataclass(frozen=True)
class CandidateResult:
    """The measurements of one candidate model, repeated over seeds.

    Seed s of every candidate uses the same held-out split and the same batch order, so two
    candidates' losses at the same index form a *pair*: their difference is free of the
    split's noise. All losses are full-batch, evaluation mode, at the end of the budget.

    Attributes:
      name: the candidate's name.
      n_params: its number of trainable parameters (its capacity).
      train_loss: per seed, the loss on the part of the training data it was fitted on.
      heldout_loss: per seed, the loss on the held-out split of the *training* distribution.
      val_loss: per seed, the loss on the given validation data.
      test_loss: per seed, the loss on the given test data (empty without one).
      heldout_se, val_se, test_se: per seed, the standard error std(ℓᵢ)/√n of each mean
        loss over its n examples: the sampling noise of that number (empty if unknown).
      seeds: the seeds, one per run.
      curves: per seed, the training loss of every step (mini-batch values).
      grad_norms: per seed, the gradient norm ‖g‖ of every step.
      heldout_curves: per seed, the held-out loss after every epoch.
      seconds: wall time of all its runs.

    Examples:
      >>> from jaxtrain.diagnose import CandidateResult
      >>> r = CandidateResult("mlp", 120, train_loss=[0.1, 0.3], heldout_loss=[0.2, 0.4],
      ...                     val_loss=[0.2, 0.5])
      >>> r.mean("train"), r.mean("val"), r.mean("test")
      (0.2, 0.35, nan)
    """

    name: str
    n_params: int
    train_loss: tuple[float, ...]
    heldout_loss: tuple[float, ...]
    val_loss: tuple[float, ...]
    test_loss: tuple[float, ...] = ()
    heldout_se: tuple[float, ...] = ()
    val_se: tuple[float, ...] = ()
    test_se: tuple[float, ...] = ()
    seeds: tuple[int, ...] = ()
    curves: tuple[np.ndarray, ...] = ()
    grad_norms: tuple[np.ndarray, ...] = ()
    heldout_curves: tuple[np.ndarray, ...] = ()
    seconds: float = 0.0

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        for field in (*_LOSSES, *_ERRORS):
            set_(self, field, _floats(getattr(self, field), field))
        for field in ("curves", "grad_norms", "heldout_curves"):
            set_(self, field, _curves(getattr(self, field)))
        set_(self, "seeds", tuple(int(s) for s in self.seeds))
        if not self.train_loss:
            raise ValueError(
                f"candidate {self.name!r} has no training loss: run at least one seed."
            )
        for field in (*_LOSSES[1:], *_ERRORS):
            values = getattr(self, field)
            if values and len(values) != len(self.train_loss):
                raise ValueError(
                    f"candidate {self.name!r}: `{field}` has {len(values)} seeds but "
                    f"`train_loss` has {len(self.train_loss)}; give one value per seed."
                )

    def mean(self, split: str) -> float:
        """The mean over seeds of the loss on ``split`` (train, heldout, val or test).

        Seeds hold out different splits, so the mean pools every held-out example once.
        """
        values = getattr(self, f"{split}_loss")
        return float(np.mean(values)) if values else float("nan")

    def standard_error(self, split: str) -> float:
        """The sampling noise of :meth:`mean` on ``split`` (heldout, val or test); NaN if unknown.

        Held-out splits differ between seeds, so their errors pool as √(Σ SEₛ²)/S over the S
        seeds; the validation and test sets are the same for every seed, so more seeds do not
        shrink their noise and the mean of SEₛ is used.
        """
        values = np.asarray(getattr(self, f"{split}_se"), dtype=np.float64)
        if values.size == 0 or not np.all(np.isfinite(values)):
            return float("nan")
        if split == "heldout":
            return float(np.sqrt(np.sum(values**2)) / values.size)
        return float(np.mean(values))

    def to_dict(self) -> dict[str, Any]:
        """The numbers as a JSON-ready dict (curves as lists; non-finite values as ``None``)."""
        return {
            "name": self.name,
            "n_params": int(self.n_params),
            "seeds": list(self.seeds),
            "train_loss": [_json_float(v) for v in self.train_loss],
            "heldout_loss": [_json_float(v) for v in self.heldout_loss],
            "val_loss": [_json_float(v) for v in self.val_loss],
            "test_loss": [_json_float(v) for v in self.test_loss],
            "heldout_se": [_json_float(v) for v in self.heldout_se],
            "val_se": [_json_float(v) for v in self.val_se],
            "test_se": [_json_float(v) for v in self.test_se],
            "curves": [[_json_float(v) for v in c] for c in self.curves],
            "grad_norms": [[_json_float(v) for v in c] for c in self.grad_norms],
            "heldout_curves": [[_json_float(v) for v in c] for c in self.heldout_curves],
            "seconds": round(float(self.seconds), 3),
        }
