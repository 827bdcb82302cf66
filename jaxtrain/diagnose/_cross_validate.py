"""k-fold cross-validation for model selection (§1): choose on folds, not on the test set."""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from jaxtrain._json import to_jsonable
from jaxtrain._text import beside
from jaxtrain.diagnose._baseline import resolved_loss
from jaxtrain.diagnose._budget import Budget
from jaxtrain.diagnose._candidates import as_candidates
from jaxtrain.diagnose._flowchart import prepare_data
from jaxtrain.diagnose._training import equal_sizes, evaluate_loss, fit_candidate

__all__ = ["CrossValidation", "cross_validate"]


@dataclasses.dataclass(frozen=True)
class CrossValidation:
    """The per-fold table of a k-fold cross-validation and the chosen candidate.

    Attributes:
      k: the number of folds.
      table: one row per (candidate, fold): ``candidate``, ``fold``, ``n_params``,
        ``train_loss`` (on the k − 1 training folds) and ``val_loss`` (on the held-out fold).
      mean_val_loss: per candidate, the mean validation loss over the folds.
      std_val_loss: per candidate, its standard deviation over the folds.
      choice: the candidate with the lowest mean validation loss (the earlier, simpler one
        on a tie).
      seconds: wall time.

    Examples:
      >>> from jaxtrain.diagnose import CrossValidation
      >>> cv = CrossValidation(2, [], {"a": 0.3, "b": 0.2}, {"a": 0.1, "b": 0.1}, "b")
      >>> cv.to_dict()["choice"]
      'b'
    """

    k: int
    table: list[dict[str, Any]]
    mean_val_loss: dict[str, float]
    std_val_loss: dict[str, float]
    choice: str
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The table and summary as JSON-ready values (NaN as ``None``, ±inf as ``"Infinity"``)."""
        return to_jsonable(dataclasses.asdict(self), fallback=str)

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as strict JSON."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def to_markdown(self) -> str:
        """The summary table, one row per candidate, the choice marked ★."""
        chosen = self.mean_val_loss.get(self.choice, math.nan)
        if math.isfinite(chosen):
            title = f"{self.k}-fold cross-validation: choice **{self.choice}**"
        else:
            title = (
                f"{self.k}-fold cross-validation: no candidate has a finite mean validation "
                f"loss (each diverged in a fold), so there is no choice ({self.choice} is the "
                "first listed)"
            )
        lines = [
            title,
            "",
            "| candidate | mean validation loss | std over folds |",
            "|---|---:|---:|",
        ]
        for name, mean in self.mean_val_loss.items():
            star = " ★" if name == self.choice else ""
            std = self.std_val_loss[name]
            if not math.isfinite(mean):
                shown = "not finite (diverged)"
            elif name == self.choice or not math.isfinite(chosen):
                shown = f"{mean:.4g}"
            else:  # with the digits that show it above the chosen mean
                shown = beside(mean, chosen, 4)
            lines.append(
                f"| {name}{star} | {shown} | {f'{std:.2g}' if math.isfinite(std) else '–'} |"
            )
        return "\n".join(lines) + "\n"


def lowest_finite(losses: dict[str, float]) -> str | None:
    """The name of the lowest finite loss, ties to the earlier one; ``None`` when none is
    finite. A NaN is no loss at all: ``min`` would keep one that came first."""
    finite = {name: loss for name, loss in losses.items() if math.isfinite(loss)}
    return min(finite, key=finite.__getitem__) if finite else None


def choose(mean_val_loss: dict[str, float]) -> str:
    """The name with the lowest finite mean; ties go to the earlier (simpler) candidate, and
    the first where no mean is finite."""
    best = lowest_finite(mean_val_loss)
    return next(iter(mean_val_loss)) if best is None else best


def cross_validate(
    models: Any,
    data: tuple[Any, Any],
    k: int = 5,
    *,
    loss: str | Callable[..., Any] = "auto",
    task: str = "auto",
    budget: Budget | None = None,
    seed: int = 0,
    progress: bool = False,
) -> CrossValidation:
    """k-fold model selection: train every candidate on k − 1 folds, validate on the k-th.

    The N examples are dealt into k folds (:func:`jaxtrain.data.kfold_indices`, stratified
    by class for classification). Candidate m gets the validation loss Lₘ,ᵢ on fold i after
    training on the others, and the choice is argminₘ (1/k) Σᵢ Lₘ,ᵢ. Every example is
    validated exactly once, so the estimate uses all the data, and the public test set stays
    untouched for the final report. Each (candidate, fold) is trained once with the budget's
    first seed and :func:`jaxtrain.train.fit`.

    Args:
      models: candidates as for :func:`~jaxtrain.diagnose.diagnose` (a single
        :class:`~jaxtrain.diagnose.ModelSpec` expands into its shallower and wider variants).
      data: ``(x, y)``, all the labelled data available for selection.
      k: the number of folds, 2 ≤ k ≤ N.
      loss: ``"auto"`` or ``loss(predictions, targets) -> scalar``.
      task: ``"auto"``, ``"classification"`` or ``"regression"``.
      budget: the training :class:`~jaxtrain.diagnose.Budget` of every run.
      seed: seed of the fold assignment.
      progress: show a tqdm bar over the runs.

    Returns:
      A :class:`CrossValidation` with the per-fold table and the choice.

    Raises:
      ValueError: for bad data, ``k`` out of range or bad candidates.

    Examples:
      >>> import numpy as np
      >>> from jaxtrain.diagnose import Budget, ModelSpec, cross_validate
      >>> rng = np.random.default_rng(0)
      >>> x = rng.normal(size=(90, 2)).astype(np.float32)
      >>> y = (x[:, 0] * x[:, 1] > 0).astype(np.int32)  # XOR: not linearly separable
      >>> cands = [ModelSpec("mlp", (2,), 2, depth=0), ModelSpec("mlp", (2,), 2, width=32, depth=1)]
      >>> cv = cross_validate(cands, (x, y), k=3, budget=Budget(steps=150, learning_rate=0.03))
      >>> cv.choice, len(cv.table)
      ('mlp-1x32-relu', 6)

    References:
      Stone, *Cross-Validatory Choice and Assessment of Statistical Predictions*, JRSS B
      36(2), 1974, https://doi.org/10.1111/j.2517-6161.1974.tb00994.x
    """
    from tqdm.auto import tqdm

    from jaxtrain import data as jdata

    start = time.perf_counter()
    budget = Budget() if budget is None else budget
    task, splits = prepare_data(data, data, task=task)
    x, y = splits["train"]
    loss_fn = resolved_loss(loss, task)
    folds = jdata.kfold_indices(
        int(x.shape[0]), k, seed=seed, stratify_labels=y if task == "classification" else None
    )
    candidates, _ = as_candidates(models)
    optimizer = budget.make_optimizer()
    run_seed = budget.seed_list()[0]
    # Training folds differ by at most one example; equal sizes share one compilation.
    train_pairs = equal_sizes([(x[train_idx], y[train_idx]) for train_idx, _ in folds])
    table: list[dict[str, Any]] = []
    with tqdm(total=len(candidates) * k, desc="cross-validate", disable=not progress) as bar:
        for candidate in candidates:
            first = None
            for fold, (_, val_idx) in enumerate(folds):
                train_pair, val_pair = train_pairs[fold], (x[val_idx], y[val_idx])
                run = fit_candidate(
                    candidate,
                    run_seed,
                    train_pair,
                    loss=loss_fn,
                    budget=budget,
                    optimizer=optimizer,
                    previous=first,
                )
                first = first or run
                nan = float("nan")
                table.append(
                    {
                        "candidate": candidate.name,
                        "fold": fold,
                        "n_params": run.n_params,
                        "train_loss": nan
                        if run.diverged
                        else evaluate_loss(run.final, train_pair, loss_fn),
                        "val_loss": nan
                        if run.diverged
                        else evaluate_loss(run.final, val_pair, loss_fn),
                    }
                )
                bar.update(1)
    means, stds = {}, {}
    for candidate in candidates:
        values = np.array([r["val_loss"] for r in table if r["candidate"] == candidate.name])
        means[candidate.name] = float(np.mean(values))
        stds[candidate.name] = float(np.std(values))
    return CrossValidation(
        k=k,
        table=table,
        mean_val_loss=means,
        std_val_loss=stds,
        choice=choose(means),
        seconds=time.perf_counter() - start,
    )
