"""The training budget every candidate gets: the same steps, batches, optimizer and seeds."""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from jaxtrain._numbers import is_int

__all__ = ["Budget"]


@dataclasses.dataclass(frozen=True)
class Budget:
    """One training budget, identical for every candidate so their losses compare fairly.

    Each candidate is trained ``len(seeds)`` times with :func:`jaxtrain.train.fit` for
    ``steps`` mini-batch steps of ``batch_size`` examples. Seed s fixes the initialization
    (``nnx.Rngs(s)``) and the batch order, and is shared by all candidates, so their losses
    pair up seed by seed. A ``holdout_fraction`` share of the training data (stratified by
    class) is held out: the in-distribution check that tells overfitting from mismatch. The
    held-out sets are the folds of one k-fold partition, k = round(1/``holdout_fraction``),
    shuffled with the first seed; the i-th seed of the list holds out fold i mod k. So the
    first k seeds hold out different examples, and more seeds reuse the folds in turn: their
    held-out losses are pooled per fold, not counted as independent samples (see
    :class:`~jaxtrain.diagnose.CandidateResult`). A seed's split thus depends on its place in
    the list, not on its value alone.

    Attributes:
      steps: optimizer steps per run (default 300).
      batch_size: examples per step (default 64), capped at the examples a seed trains on;
        a diagnosis reports the size that ran.
      learning_rate: η of the default optimizer, Adam (default 3e-3); unused, and not
        reported, with a custom ``optimizer``.
      optimizer: an ``optax.GradientTransformation`` to use instead of
        ``jaxtrain.optim.adam(learning_rate)``; its own η is reported as the runs record it
        (:meth:`to_dict`).
      seeds: how many seeds (0, 1, …) or the seeds themselves (default 3).
      holdout_fraction: share of the training data held out (default 0.2, at most 0.5); the
        share that is held out is 1/k (:attr:`holdout_folds`).

    Examples:
      >>> from jaxtrain.diagnose import Budget
      >>> Budget(steps=100, seeds=2).seed_list(), Budget(seeds=[5, 7]).seed_list()
      ((0, 1), (5, 7))
    """

    steps: int = 300
    batch_size: int = 64
    learning_rate: float = 3e-3
    optimizer: Any = None
    seeds: int | Sequence[int] = 3
    holdout_fraction: float = 0.2

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size"):
            value = getattr(self, name)
            if not is_int(value) or value < 1:
                raise ValueError(f"`{name}` must be a positive int; got {value!r}.")
        rate = self.learning_rate
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 < rate < math.inf:
            raise ValueError(f"`learning_rate` must be a finite number > 0; got {rate!r}.")
        if not 0 < self.holdout_fraction <= 0.5:
            # Disjoint folds of a partition into k >= 2 parts hold out at most half.
            raise ValueError(
                f"`holdout_fraction` must be in (0, 0.5]; got {self.holdout_fraction!r}."
            )
        if self.optimizer is not None and not (
            hasattr(self.optimizer, "init") and hasattr(self.optimizer, "update")
        ):
            raise ValueError(
                "`optimizer` must be an optax.GradientTransformation (with init and update); "
                f"got {type(self.optimizer).__name__}."
            )
        self.seed_list()

    def seed_list(self) -> tuple[int, ...]:
        """The seeds as a tuple of ints."""
        if is_int(self.seeds):
            if self.seeds < 1:
                raise ValueError(f"`seeds` must be >= 1; got {self.seeds}.")
            return tuple(range(self.seeds))
        # A string is a sequence too ("12" is not the seeds 1 and 2), and 0.5 is no seed.
        if (
            isinstance(self.seeds, str)
            or not isinstance(self.seeds, Sequence | np.ndarray)
            or not all(is_int(s) for s in self.seeds)
        ):
            raise ValueError(f"`seeds` must be a count or a sequence of ints; got {self.seeds!r}.")
        seeds = tuple(int(s) for s in self.seeds)
        if not seeds or len(set(seeds)) != len(seeds):
            raise ValueError(f"`seeds` must be distinct and non-empty; got {self.seeds!r}.")
        if min(seeds) < 0:
            # The held-out partition is shuffled by NumPy's generator, which takes no negative
            # seed: refused here, before any candidate trains.
            raise ValueError(f"`seeds` must be non-negative ints; got {self.seeds!r}.")
        return seeds

    @property
    def holdout_folds(self) -> int:
        """k = round(1/``holdout_fraction``), at least 2: the folds of the held-out partition;
        each holds out a 1/k share (fewer folds where the training data have fewer examples).
        """
        return max(2, round(1.0 / self.holdout_fraction))

    def make_optimizer(self) -> Any:
        """The optimizer: ``optimizer`` if given, else ``jaxtrain.optim.adam(learning_rate)``."""
        if self.optimizer is not None:
            return self.optimizer
        return _default_optimizer(self.learning_rate)

    def to_dict(self, *, learning_rates: Any = None) -> dict[str, Any]:
        """The budget as JSON values (a custom optimizer by its type name).

        ``learning_rate`` and ``final_learning_rate`` are the η of the first and the last
        step. With the default Adam both are ``learning_rate``. A custom ``optimizer`` has its
        own η, which the budget does not know: both are ``None`` (unknown) unless
        ``learning_rates``, the η a run recorded per step (``History.per_step
        ["learning_rate"]``, NaN where the optimizer keeps no η jaxtrain can read), says.

        Args:
          learning_rates: the recorded η per step of a run with this budget, or ``None``.

        Examples:
          >>> import optax
          >>> from jaxtrain.diagnose import Budget
          >>> Budget(learning_rate=0.01).to_dict()["learning_rate"]
          0.01
          >>> print(Budget(optimizer=optax.sgd(0.5)).to_dict()["learning_rate"])
          None
          >>> Budget(optimizer=optax.sgd(0.5)).to_dict(learning_rates=[0.5, 0.5])["learning_rate"]
          0.5
        """
        if self.optimizer is None:
            first = last = float(self.learning_rate)
        else:
            first, last = _recorded_ends(learning_rates)
        return {
            "steps": int(self.steps),
            "batch_size": int(self.batch_size),
            "learning_rate": first,
            "final_learning_rate": last,
            "optimizer": "adam" if self.optimizer is None else type(self.optimizer).__name__,
            "seeds": list(self.seed_list()),
            "holdout_fraction": self.holdout_fraction,
            "holdout_folds": self.holdout_folds,
        }


def _recorded_ends(learning_rates: Any) -> tuple[float | None, float | None]:
    """The η of the first and the last step of a recorded curve; ``None`` for one not known
    (no record, or NaN: the optimizer keeps no η that ``fit`` can read)."""
    if learning_rates is None:
        return None, None
    values = np.asarray(learning_rates, dtype=np.float64).reshape(-1)
    if values.size == 0:
        return None, None
    return tuple(float(v) if math.isfinite(v) else None for v in (values[0], values[-1]))


@functools.lru_cache(maxsize=16)
def _default_optimizer(learning_rate: float) -> Any:
    # One optimizer object per η: ``fit`` reuses its compiled steps for an equal optimizer
    # object, so diagnoses with the same budget share them instead of compiling again.
    from jaxtrain import optim

    return optim.adam(learning_rate)
