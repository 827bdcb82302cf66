"""What one candidate's training runs measured: losses per seed and the curves behind them."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from jaxtrain._json import to_jsonable

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


def _fold_means(values: np.ndarray, folds: Sequence[int]) -> np.ndarray:
    """The mean of ``values`` over the seeds of each distinct fold, in order of first use;
    ``values`` itself when no folds are given (then each seed held out a fold of its own)."""
    if not folds:
        return values
    labels = np.asarray(folds)
    return np.array([np.mean(values[labels == f]) for f in dict.fromkeys(folds)])


@dataclasses.dataclass(frozen=True)
class CandidateResult:
    """The measurements of one candidate model, repeated over seeds.

    Seed s of every candidate uses the same held-out split and the same batch order, so two
    candidates' losses at the same index form a *pair*: their difference is free of the
    split's noise. All losses are full-batch, evaluation mode, at the end of the budget.

    The held-out splits are the folds of one k-fold partition, one per seed in turn, so with
    more seeds than folds some seeds share a fold (``heldout_folds``). Seeds on one fold
    measure the same examples, as every seed measures the same validation set: they are not
    independent samples of the distribution. The held-out mean and its standard error are
    therefore taken per distinct fold first (see :meth:`mean` and :meth:`standard_error`).

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
      heldout_folds: per seed, the fold of the partition it held out (empty: every seed its
        own fold).

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
    heldout_folds: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        for field in (*_LOSSES, *_ERRORS):
            set_(self, field, _floats(getattr(self, field), field))
        for field in ("curves", "grad_norms", "heldout_curves"):
            set_(self, field, _curves(getattr(self, field)))
        set_(self, "seeds", tuple(int(s) for s in self.seeds))
        set_(self, "heldout_folds", tuple(int(f) for f in self.heldout_folds))
        if not self.train_loss:
            raise ValueError(
                f"candidate {self.name!r} has no training loss: run at least one seed."
            )
        for field in (*_LOSSES[1:], *_ERRORS, "heldout_folds"):
            values = getattr(self, field)
            if values and len(values) != len(self.train_loss):
                raise ValueError(
                    f"candidate {self.name!r}: `{field}` has {len(values)} seeds but "
                    f"`train_loss` has {len(self.train_loss)}; give one value per seed."
                )

    def mean(self, split: str) -> float:
        """The mean over seeds of the loss on ``split`` (train, heldout, val or test).

        The held-out mean is the mean over the distinct folds of each fold's mean over its
        seeds, so every held-out example weighs the same, however many seeds shared its fold.
        """
        values = np.asarray(getattr(self, f"{split}_loss"), dtype=np.float64)
        if values.size == 0:
            return float("nan")
        if split == "heldout":
            values = _fold_means(values, self.heldout_folds)
        return float(np.mean(values))

    def standard_error(self, split: str) -> float:
        """The sampling noise of :meth:`mean` on ``split`` (heldout, val or test); NaN if unknown.

        A set of examples measured by several seeds is one sample, whose noise more seeds do
        not shrink: its error is the mean of their SEₛ. The validation and test sets are one
        set for all seeds. The held-out folds are disjoint sets, independent samples: with
        SE_f the error of fold f, they pool as √(Σ SE_f²)/F over the F distinct folds (over
        the S seeds, when every seed held out its own fold).
        """
        values = np.asarray(getattr(self, f"{split}_se"), dtype=np.float64)
        if values.size == 0 or not np.all(np.isfinite(values)):
            return float("nan")
        if split == "heldout":
            per_fold = _fold_means(values, self.heldout_folds)
            return float(np.sqrt(np.sum(per_fold**2)) / per_fold.size)
        return float(np.mean(values))

    def to_dict(self) -> dict[str, Any]:
        """The numbers as a JSON-ready dict (curves as lists; NaN as ``None``, ±inf as
        ``"Infinity"``/``"-Infinity"``: :func:`~jaxtrain._json.json_float`)."""
        curves = ("curves", "grad_norms", "heldout_curves")
        numbers = {name: getattr(self, name) for name in (*_LOSSES, *_ERRORS, *curves)}
        return {
            "name": self.name,
            "n_params": int(self.n_params),
            "seeds": list(self.seeds),
            "heldout_folds": list(self.heldout_folds),
            **to_jsonable(numbers),
            "seconds": round(float(self.seconds), 3),
        }
