"""``diagnose``: train the candidates, measure, and run the lecture's flowchart."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np

from jaxtrain.data import class_count, class_indices
from jaxtrain.data._checks import check_finite
from jaxtrain.diagnose._baseline import baseline_loss, infer_task, resolved_loss
from jaxtrain.diagnose._budget import Budget
from jaxtrain.diagnose._candidates import (
    Candidate,
    as_candidates,
    check_capacity_order,
    parameter_count,
)
from jaxtrain.diagnose._causes import rank_causes, top_cause
from jaxtrain.diagnose._critical_point import curvature_check
from jaxtrain.diagnose._diagnosis import Diagnosis
from jaxtrain.diagnose._measure import measure_run
from jaxtrain.diagnose._remedies import remedies
from jaxtrain.diagnose._results import CandidateResult
from jaxtrain.diagnose._stall import StallReport, analyze_stall
from jaxtrain.diagnose._thresholds import CauseThresholds, Thresholds
from jaxtrain.diagnose._training import (
    Run,
    equal_sizes,
    evaluate_loss,
    fit_candidate,
    full_batch_loss_fn,
    loss_standard_error,
    output_shape,
    training_grad_norm,
)
from jaxtrain.diagnose._verdict import decide
from jaxtrain.train._progress import StageProgress

__all__ = ["diagnose", "prepare_data"]


def checked_pair(data: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` as NumPy arrays with the same, non-zero number of examples on axis 0."""
    if not (isinstance(data, tuple | list) and len(data) == 2):
        raise ValueError(f"`{name}` must be an (x, y) pair of arrays; got {type(data).__name__}.")
    x, y = np.asarray(data[0]), np.asarray(data[1])
    if x.ndim == 0 or y.ndim == 0 or x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError(
            f"`{name}` must hold the same, non-zero number of inputs and targets on axis 0; "
            f"got shapes {x.shape} and {y.shape}."
        )
    return x, y


def prepare_data(
    train_data: Any, val_data: Any, test_data: Any = None, *, task: str = "auto"
) -> tuple[str, dict[str, tuple[np.ndarray, np.ndarray] | None]]:
    """Checks the splits and brings them to one form for training and the baseline.

    Inputs become float32; classification labels int32 of shape (N,); regression targets
    float32 of shape (N, d), 1-D ones as (N, 1) to match a model's (N, 1) output.

    Returns:
      ``(task, {"train": ..., "val": ..., "test": ...})``.
    """
    pairs = {
        "train": checked_pair(train_data, "train_data"),
        "val": checked_pair(val_data, "val_data"),
    }
    pairs["test"] = None if test_data is None else checked_pair(test_data, "test_data")
    task = infer_task(pairs["train"][1]) if task == "auto" else task
    if task not in ("classification", "regression"):
        raise ValueError(f"`task` must be 'auto', 'classification' or 'regression'; got {task!r}.")
    x_shape = pairs["train"][0].shape[1:]
    out: dict[str, tuple[np.ndarray, np.ndarray] | None] = {"test": None}
    for split, pair in pairs.items():
        if pair is None:
            continue
        x, y = pair
        # Here, on the user's arrays: the held-out split renumbers the examples, and the
        # first training run would only stop at them later.
        check_finite(x, f"{split}_data inputs x", into_float32=True)
        if task == "regression":
            check_finite(y, f"{split}_data targets y", into_float32=True)
        if x.shape[1:] != x_shape:
            raise ValueError(
                f"{split} inputs have shape {x.shape[1:]} per example but training inputs "
                f"{x_shape}; every split needs the same input shape."
            )
        out[split] = (x.astype(np.float32), prepared_targets(y, task, split))
    return task, out


def prepared_targets(y: np.ndarray, task: str, what: str) -> np.ndarray:
    """Classification labels as int32 of shape (N,); regression targets float32 (N, d).

    Raises:
      ValueError: for classification targets that are not integer labels of shape (N,).
      LabelError: for a label the cast to int32 would change (negative or above 2³¹ − 1).
    """
    if task == "classification":
        if y.dtype.kind not in "biu" or y.ndim != 1:
            raise ValueError(
                f"{what} targets must be integer class labels of shape (N,) for "
                f"classification; got dtype {y.dtype} and shape {y.shape}."
            )
        return class_indices(y, name=what)
    y = y.astype(np.float32)
    return y[:, None] if y.ndim == 1 else y


class HoldoutSplit(NamedTuple):
    """One seed's split of the training data: the part it fits, the part it holds out, and
    which fold of the partition that is."""

    fit: tuple[np.ndarray, np.ndarray]
    heldout: tuple[np.ndarray, np.ndarray]
    fold: int


def _holdout_splits(
    x: np.ndarray, y: np.ndarray, *, task: str, budget: Budget
) -> dict[int, HoldoutSplit]:
    """The i-th seed holds out fold i mod k of one k-fold partition, k = round(1/holdout_fraction).

    Disjoint folds make the seeds' held-out losses independent estimates (random re-splits
    of a small set would hold out nearly the same examples every time), and stratification
    keeps every class in every fold where the counts allow. The partition is shuffled with
    the first seed and dealt by position, so the first k seeds hold out k distinct folds
    whatever their values; a seed's split depends on the list it is in. More than k seeds
    reuse the folds in turn: :class:`CandidateResult` records each seed's fold and pools the
    held-out losses per distinct fold, not as independent samples.
    """
    from jaxtrain import data as jdata

    seeds = budget.seed_list()
    n = int(x.shape[0])
    k = min(budget.holdout_folds, n)
    if n < 2:
        raise ValueError(f"the training data need at least 2 examples to hold one out; got {n}.")
    folds = jdata.kfold_indices(
        n, k, seed=seeds[0], stratify_labels=y if task == "classification" else None
    )
    chosen = [i % k for i in range(len(seeds))]
    fits = equal_sizes([(x[folds[f][0]], y[folds[f][0]]) for f in chosen])
    helds = equal_sizes([(x[folds[f][1]], y[folds[f][1]]) for f in chosen])
    return {seed: HoldoutSplit(fits[i], helds[i], chosen[i]) for i, seed in enumerate(seeds)}


def _train_candidate(
    candidate: Candidate,
    splits: dict[int, HoldoutSplit],
    data: dict[str, Any],
    *,
    loss: Any,
    budget: Budget,
    optimizer: Any,
    stages: StageProgress,
) -> tuple[CandidateResult, Run]:
    start = time.perf_counter()
    seeds = budget.seed_list()
    keys = ("train", "heldout", "val", "test", "heldout_se", "val_se", "test_se")
    numbers: dict[str, list[Any]] = {k: [] for k in (*keys, "curves", "grads", "held")}
    runs: list[Run] = []
    for seed in seeds:
        stages.stage(f"training {candidate.name}, seed {seed}")
        fit_pair, heldout_pair, _ = splits[seed]
        run = fit_candidate(
            candidate,
            seed,
            fit_pair,
            loss=loss,
            budget=budget,
            optimizer=optimizer,
            val_pair=heldout_pair,
            previous=runs[0] if runs else None,
        )
        # A diverged run has no final loss: NaN marks it, and the verdict reads NaN as large.
        nan = float("nan")
        numbers["train"].append(nan if run.diverged else evaluate_loss(run.final, fit_pair, loss))
        for split, pair in (
            ("heldout", heldout_pair),
            ("val", data["val"]),
            ("test", data["test"]),
        ):
            if pair is not None:
                diverged = run.diverged
                numbers[split].append(nan if diverged else evaluate_loss(run.final, pair, loss))
                se = nan if diverged else loss_standard_error(run.final, pair, loss)
                numbers[f"{split}_se"].append(se)
        numbers["curves"].append(np.asarray(run.history.per_step["loss"], dtype=np.float64))
        numbers["grads"].append(np.asarray(run.history.per_step["grad_norm"], dtype=np.float64))
        held = run.history.per_epoch.get("val_loss")
        numbers["held"].append(np.asarray([] if held is None else held, dtype=np.float64))
        runs.append(run)
    result = CandidateResult(
        name=candidate.name,
        n_params=runs[0].n_params,
        train_loss=numbers["train"],
        heldout_loss=numbers["heldout"],
        val_loss=numbers["val"],
        test_loss=numbers["test"],
        heldout_se=numbers["heldout_se"],
        val_se=numbers["val_se"],
        test_se=numbers["test_se"],
        seeds=seeds,
        curves=numbers["curves"],
        grad_norms=numbers["grads"],
        heldout_curves=numbers["held"],
        seconds=time.perf_counter() - start,
        heldout_folds=[splits[seed].fold for seed in seeds],
    )
    return result, runs[0]


def _stall_report(
    run: Run,
    fit_pair: tuple[np.ndarray, np.ndarray],
    curve: np.ndarray,
    *,
    loss: Any,
    baseline: float,
    thresholds: Thresholds,
    curvature: bool,
    seed: int,
) -> StallReport:
    x, y = fit_pair
    g0 = training_grad_norm(run.apply, run.state0, run.params0, x, y, loss, seed)
    final = run.final
    gT = training_grad_norm(final.apply, final.model_state, final.params, x, y, loss, seed)
    report = analyze_stall(
        curve,
        initial_grad_norm=g0,
        final_grad_norm=gT if math.isfinite(gT) else math.inf,
        baseline=baseline,
        diverged_at=run.diverged_at,
        thresholds=thresholds,
    )
    check = None
    if curvature and report.critical:
        loss_at_end = full_batch_loss_fn(final.apply, final.model_state, x, y, loss)
        check = curvature_check(
            loss_at_end,
            run.final.params,
            dense_max_params=thresholds.dense_max_params,
            key=jax.random.key(seed),
        )
    return dataclasses.replace(report, seed=seed, curvature=check)


def diagnose(
    models: Any,
    train_data: tuple[Any, Any],
    val_data: tuple[Any, Any],
    *,
    test_data: tuple[Any, Any] | None = None,
    loss: str | Callable[..., Any] = "auto",
    task: str = "auto",
    budget: Budget | None = None,
    thresholds: Thresholds | None = None,
    primary: int | str | None = None,
    train_all: bool = False,
    curvature: bool = True,
    progress: bool | Callable[[str, int, int], None] = False,
    cause_thresholds: CauseThresholds | None = None,
) -> Diagnosis:
    """Runs the lecture's task-strategy flowchart on candidate models and data.

    1. Every seed s holds out its own fold, a ``budget.holdout_fraction`` share of the
       training data (stratified; disjoint between the first k = round(1/holdout_fraction)
       seeds, reused in turn by more, and then pooled per fold: see
       :class:`~jaxtrain.diagnose.CandidateResult`), and the primary model is trained
       on the rest with :func:`jaxtrain.train.fit` for the
       same ``budget``; its loss is measured on the fitted part, the held-out part, the
       validation and the test data (full batch, evaluation mode).
    2. If its training loss is large relative to the baseline B (the best constant
       prediction: class prior or target mean), the other candidates are trained with the
       same budget and seeds, and :func:`~jaxtrain.diagnose.decide` compares them: a simpler
       candidate that trains better beyond seed noise means *optimization*; otherwise it is
       *model bias*. If the training loss is small, the held-out and validation gaps decide
       between *overfitting*, *mismatch* and *ok*.
    3. Where the primary's training stalled (seed 0) is located on its loss curve; the
       full-batch gradient norm there says critical point (then the Hessian, dense up to
       ``thresholds.dense_max_params`` parameters and Lanczos above, says saddle or minimum)
       or a learning rate that oscillates (:func:`~jaxtrain.diagnose.analyze_stall`).
    4. The same run is measured for the lecture's causes (§2–§6) in the vocabulary of
       :func:`~jaxtrain.diagnose.explain_run` (:data:`~jaxtrain.diagnose.CAUSES`, ranked by
       :func:`~jaxtrain.diagnose.rank_causes`): ``Diagnosis.causes``. Candidates train
       without monitors, so the sharpness, noise-scale and update-size evidence that
       ``explain_run`` adds is missing here; the loss curve, the gradients, the Hessian at
       the end, the features, the saturation and the lower-η re-run are measured. When the
       verdict is a large training loss (model bias or optimization) and a cause is
       reported, its remedy comes first.

    Candidates (``models``): a :class:`~jaxtrain.diagnose.ModelSpec` (its shallower and
    wider variants are derived), a factory ``rngs -> model`` (``model`` is anything
    :func:`jaxtrain.nn.functional` accepts, typically an NNX module built with the given
    ``nnx.Rngs``), a ``(name, factory)`` pair, or a sequence of these in order of increasing
    capacity (see :func:`~jaxtrain.diagnose.as_candidates`). Factories, not models, so every
    seed gets a fresh initialization.

    Args:
      models: the candidates, as above.
      train_data: ``(x, y)`` training data.
      val_data: ``(x, y)`` validation data (possibly from another distribution).
      test_data: optional ``(x, y)`` test data, judged like the validation data.
      loss: ``"auto"`` (softmax cross-entropy for integer labels, MSE for float targets) or
        ``loss(predictions, targets) -> scalar``.
      task: ``"auto"``, ``"classification"`` or ``"regression"`` (for the baseline).
      budget: the :class:`~jaxtrain.diagnose.Budget` (steps, batch size, optimizer, seeds).
      thresholds: the :class:`~jaxtrain.diagnose.Thresholds`.
      primary: index or name of the user's model among the candidates (default: the spec
        itself, or the last of a sequence).
      train_all: train every candidate even when the primary's training loss is small.
      curvature: run the Hessian check at a critical point (and for the causes).
      progress: ``True`` shows a tqdm bar over the stages (each training run, the stall
        check, the causes) on a terminal or in a notebook; a function
        ``progress(stage, index, total)`` is called as each stage starts instead (the
        command line prints it as a line where stderr is no terminal).
      cause_thresholds: the :class:`~jaxtrain.diagnose.CauseThresholds` of the causes.

    Returns:
      A :class:`~jaxtrain.diagnose.Diagnosis`.

    Raises:
      ValueError: for malformed data, an unknown loss or task, or bad candidates.

    Examples:
      >>> import numpy as np
      >>> from jaxtrain.diagnose import Budget, ModelSpec, diagnose
      >>> rng = np.random.default_rng(0)
      >>> x = rng.normal(size=(200, 2)).astype(np.float32)
      >>> y = (x[:, 0] > 0).astype(np.int32)
      >>> spec = ModelSpec("mlp", (2,), 2, width=16, depth=1)
      >>> d = diagnose([spec], (x[:150], y[:150]), (x[150:], y[150:]),
      ...              budget=Budget(steps=150, seeds=2), curvature=False)
      >>> d.verdict
      'ok'

    References:
      He et al., *Deep Residual Learning for Image Recognition*, 2016,
      https://arxiv.org/abs/1512.03385
    """
    start = time.perf_counter()
    thresholds = Thresholds() if thresholds is None else thresholds
    budget = Budget() if budget is None else budget
    task, data = prepare_data(train_data, val_data, test_data, task=task)
    loss_fn = resolved_loss(loss, task)
    num_classes = None
    if task == "classification":
        labels = {f"{split}_data": pair[1] for split, pair in data.items() if pair is not None}
        num_classes = class_count(labels)
    x_train, y_train = data["train"]
    candidates, p = as_candidates(models, primary=primary)
    if len(candidates) > 1:
        check_capacity_order([(c.name, parameter_count(c.factory)) for c in candidates])
    # A one-output classifier (a sigmoid) has a baseline of its own: the logit log(π₁/π₀).
    outputs = None
    if task == "classification":
        from flax import nnx

        from jaxtrain import nn

        outputs = output_shape(*nn.functional(candidates[p].factory(nnx.Rngs(0))), x_train)
    baseline = baseline_loss(
        loss_fn,
        y_train,
        task=task,
        num_classes=num_classes if outputs not in ((), (1,)) else None,
        outputs=outputs,
    )
    seeds = budget.seed_list()
    splits = _holdout_splits(x_train, y_train, task=task, budget=budget)
    fit_size = int(splits[seeds[0]].fit[0].shape[0])
    if budget.batch_size > fit_size:
        # The diagnosis reports the budget that ran: full batches of each seed's training
        # split, not the larger size asked for.
        budget = dataclasses.replace(budget, batch_size=fit_size)
    optimizer = budget.make_optimizer()
    results: dict[int, CandidateResult] = {}
    runs: dict[int, Run] = {}
    common = {"loss": loss_fn, "budget": budget, "optimizer": optimizer}
    # The primary's runs, then the stall check and the causes; more runs if the flowchart asks.
    with StageProgress(progress, desc="diagnose", total=len(seeds) + 2) as stages:
        # The flowchart's first question needs only the primary: the other candidates are
        # trained when its training loss is large (or when asked to).
        results[p], runs[p] = _train_candidate(candidates[p], splits, data, stages=stages, **common)
        primary_rel = results[p].mean("train") / baseline
        if train_all or not primary_rel <= thresholds.large_train_loss:
            stages.expect((len(candidates) - 1) * len(seeds))
            for i, candidate in enumerate(candidates):
                if i != p:
                    results[i], runs[i] = _train_candidate(
                        candidate, splits, data, stages=stages, **common
                    )
        stages.stage(
            "where training stalled: the gradient"
            + (", the Hessian at a critical point" if curvature else "")
        )
        stall = _stall_report(
            runs[p],
            splits[seeds[0]].fit,
            results[p].curves[0],
            loss=loss_fn,
            baseline=baseline,
            thresholds=thresholds,
            curvature=curvature,
            seed=seeds[0],
        )
        cause_thresholds = CauseThresholds() if cause_thresholds is None else cause_thresholds
        measured = "curvature, " if curvature else ""
        stages.stage(f"the causes of §2–§6: {measured}feature scales, saturation, a lower η")
        evidence, _ = measure_run(
            runs[p],
            splits[seeds[0]].fit,
            loss=loss_fn,
            optimizer=optimizer,
            batch_size=budget.batch_size,
            seed=seeds[0],
            task=task,
            baseline=baseline,
            steps=budget.steps,
            thresholds=cause_thresholds,
            curvature=curvature,
        )
    order = sorted(results)
    measured = [results[i] for i in order]
    decision = decide(measured, primary=order.index(p), baseline=baseline, thresholds=thresholds)
    causes = rank_causes(evidence, cause_thresholds)
    advice = remedies(decision.verdict, stall=stall)
    failed = decision.verdict in ("optimization", "model_bias")
    top = top_cause(causes, cause_thresholds.report_score, failed=failed)
    if top is not None and failed:
        advice = [top.remedy, *(r for r in advice if r != top.remedy)]
    return Diagnosis(
        verdict=decision.verdict,
        reasons=decision.reasons,
        remedies=tuple(advice),
        candidates=tuple(measured),
        primary=candidates[p].name,
        baseline=baseline,
        task=task,
        numbers=decision.numbers,
        stall=stall,
        thresholds=thresholds,
        # The η the primary's first run recorded: a custom optimizer's own, not the budget's.
        budget=budget.to_dict(learning_rates=runs[p].history.per_step.get("learning_rate")),
        seconds=time.perf_counter() - start,
        causes=causes,
        cause_thresholds=cause_thresholds,
    )
