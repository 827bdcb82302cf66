"""``explain_run``: train the user's own run with the monitors on and name what went wrong."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from jaxtrain._numbers import is_int
from jaxtrain.diagnose._baseline import baseline_loss, infer_task, resolved_loss
from jaxtrain.diagnose._causes import rank_causes
from jaxtrain.diagnose._explanation import RunExplanation
from jaxtrain.diagnose._flowchart import checked_pair, prepared_targets
from jaxtrain.diagnose._measure import measure_run
from jaxtrain.diagnose._thresholds import CauseThresholds
from jaxtrain.diagnose._training import fit_run, output_shape
from jaxtrain.train._checks import check_positive_int

__all__ = ["explain_run"]

# The sharpness monitor's probe batch: enough examples for a stable λmax, few enough that a
# Hessian-vector product costs a handful of training steps.
_PROBE_EXAMPLES = 1024
# About this many sharpness measurements over a run.
_MEASUREMENTS = 20
# The keys of the settings explain_run records of the run itself: a caller's ``settings`` adds
# to them and may not restate one, or the record could contradict what was run.
_OWN_SETTINGS = (
    "steps",
    "batch_size",
    "seed",
    "loss",
    "n_params",
    "sharpness_every",
    "monitor_probe_examples",
    "curvature",
    "probe",
)


def _callers_settings(settings: Any) -> dict[str, Any]:
    """``settings`` as a dict, refused when it is no mapping or restates one of
    :data:`_OWN_SETTINGS` (checked before the run, which may take minutes)."""
    if settings is None:
        return {}
    if not isinstance(settings, Mapping):
        raise ValueError(
            f"`settings` must be a mapping of names to values; got {type(settings).__name__}."
        )
    for key in settings:
        if key in _OWN_SETTINGS:
            raise ValueError(
                f"`settings` key {key!r} is recorded by explain_run itself; leave it out "
                "(explain_run's own value is what the run used)."
            )
    return dict(settings)


def _prepared_data(
    train_data: Any, val_data: Any, task: str, loss: Any
) -> tuple[str, tuple[np.ndarray, np.ndarray], Any, Callable[..., Any]]:
    """``(task, (x, y), val or None, loss_fn)``: checked pairs, float32 inputs, the loss."""
    x, y = checked_pair(train_data, "train_data")
    if task == "auto":
        task = infer_task(y)
    if task not in ("classification", "regression"):
        raise ValueError(f"`task` must be 'auto', 'classification' or 'regression'; got {task!r}.")
    pairs = [(x, y, "train_data")]
    if val_data is not None:
        pairs.append((*checked_pair(val_data, "val_data"), "val_data"))
    prepared = [(a.astype(np.float32), prepared_targets(b, task, name)) for a, b, name in pairs]
    loss_fn = resolved_loss(loss, task)
    return task, prepared[0], (prepared[1] if val_data is not None else None), loss_fn


def _sharpness_monitor(
    optimizer: Any, params: Any, every: int, probe_size: int, learning_rate: Any
) -> Any:
    """λmax against the optimizer's threshold: plain for SGD, preconditioned for Adam & co.

    Returns ``(monitor, threshold)``, or ``(None, None)`` for an optimizer whose threshold
    is not known, or whose η is neither given nor readable (then there is no sharpness
    evidence).
    """
    from jaxtrain import monitor
    from jaxtrain.optim import learning_rate_from_state

    state = optimizer.init(params)
    if learning_rate is None:
        try:
            learning_rate_from_state(state, optimizer)
        except ValueError:
            return None, None
    for preconditioned in (False, True):
        try:
            rule = monitor.stability_threshold(optimizer, state, preconditioned=preconditioned)
        except ValueError:
            continue
        sharp = monitor.sharpness(every, preconditioned=preconditioned, probe_size=probe_size)
        return sharp, rule
    return None, None


def _run_monitors(
    optimizer: Any, params: Any, every: int, probe_examples: int, batch: int, learning_rate: Any
) -> tuple[list[Any], Any, Any]:
    """The monitors the run is watched with, and the sharpness monitor with its threshold rule
    (both ``None`` where the optimizer's stability threshold is unknown)."""
    from jaxtrain import monitor

    monitors = [monitor.update_ratio()]
    sharp, rule = _sharpness_monitor(optimizer, params, every, probe_examples, learning_rate)
    if sharp is not None:
        monitors.append(sharp)
    if batch >= 2:  # the noise scale compares two halves of a batch
        monitors.append(monitor.gradient_noise_scale())
    return monitors, sharp, rule


def explain_run(
    model: Any,
    optimizer: Any,
    train_data: tuple[Any, Any],
    *,
    loss: str | Callable[..., Any] = "auto",
    steps: int | None = None,
    epochs: int | None = None,
    batch_size: int | None,
    val_data: tuple[Any, Any] | None = None,
    seed: int = 0,
    task: str = "auto",
    thresholds: CauseThresholds | None = None,
    measure_every: int | None = None,
    probe_size: int | None = None,
    curvature: bool = True,
    probe: bool = True,
    learning_rate: float | Callable[[Any], Any] | None = None,
    settings: Mapping[str, Any] | None = None,
    progress: bool = False,
) -> RunExplanation:
    """Trains the user's own run with the monitors on and ranks the lecture's causes (§2–§6).

    1. The run is trained as configured (:func:`jaxtrain.train.fit`, the same model,
       optimizer, batch size and seed) with :mod:`jaxtrain.monitor` measurements inside the
       compiled loop: the sharpness λmax against the optimizer's stability threshold (2/η for
       SGD, the preconditioned 38/η for Adam) about 20 times, the gradient noise scale
       B_simple and the update size ‖Δθ‖/‖θ‖ at every step. A diverging run is stopped at
       its first non-finite loss and is evidence, not an error.
    2. At the end it measures the full-batch loss against the baseline B of a constant
       prediction, the gradient at the start and the end, the input features' scales, and
       for a classifier how many wrong predictions are saturated with no gradient on their
       logits.
    3. It probes what a cause still needs: when the run failed, the Hessian at the end
       (dense up to ``thresholds.dense_max_params`` parameters, Lanczos above) with its
       extreme eigenvalues and a measured step along the lowest eigenvector; when every
       other sign points at the learning rate, a re-run at ``thresholds.probe_factor``·η
       from the same start on the same batches.
    4. :func:`~jaxtrain.diagnose.rank_causes` scores every cause of
       :data:`~jaxtrain.diagnose.CAUSES` and ranks them. A healthy run gets none.

    Args:
      model: what :func:`jaxtrain.train.fit` trains: an NNX module, an
        ``(apply, params, state)`` triple or a ``TrainState``.
      optimizer: an ``optax.GradientTransformation``.
      train_data: ``(x, y)``; integer labels of shape (N,) for classification.
      loss: ``"auto"`` (softmax cross-entropy for integer labels, MSE for floats) or
        ``loss(predictions, targets) -> scalar``.
      steps: optimizer steps; give this or ``epochs``.
      epochs: passes over the data; give this or ``steps``.
      batch_size: B; ``None`` for full-batch descent.
      val_data: optional ``(x, y)`` evaluated after every epoch (in the history).
      seed: the run's seed (batches, dropout); the probe reuses it.
      task: ``"auto"``, ``"classification"`` or ``"regression"``.
      thresholds: the :class:`~jaxtrain.diagnose.CauseThresholds`.
      measure_every: steps between sharpness measurements (default T/20).
      probe_size: examples of the monitors' fixed probe batch (default min(N, 1,024)).
      curvature: measure the Hessian at the end of a failed run.
      probe: re-run at a lower η when the learning rate is suspect.
      learning_rate: η for the record when the optimizer does not keep it (plain optax);
        needed for the stability threshold then.
      settings: what the caller knows of the run and wants recorded with it, e.g. the
        optimizer's name and hyperparameters, the model and the data file (an optax
        optimizer does not say which it is). Added to :attr:`RunExplanation.settings`
        beside explain_run's own entries (steps, batch_size, seed, loss, n_params, ...),
        which it may not restate. A ``"run"`` entry, one line of text naming the run, opens
        the Markdown's section on the run.
      progress: show fit's progress bar.

    Returns:
      A :class:`~jaxtrain.diagnose.RunExplanation`.

    Raises:
      ValueError: for malformed data, an unknown loss or task, both or neither of ``steps``
        and ``epochs``, a bad batch size, or ``settings`` restating one of explain_run's own.

    Examples:
      >>> import numpy as np
      >>> from flax import nnx
      >>> from jaxtrain import nn, optim
      >>> from jaxtrain.diagnose import explain_run
      >>> rng = np.random.default_rng(0)
      >>> x = rng.normal(size=(256, 2)).astype(np.float32)
      >>> y = (x[:, 0] + x[:, 1] > 0).astype(np.int32)
      >>> r = explain_run(nn.MLP(2, 8, 2, depth=1, rngs=nnx.Rngs(0)), optim.adam(1e-2),
      ...                 (x, y), steps=200, batch_size=32)
      >>> r.healthy, r.top
      (True, None)

    References:
      Cohen et al., "Gradient Descent on Neural Networks Typically Occurs at the Edge of
      Stability", ICLR 2021, https://arxiv.org/abs/2103.00065

      McCandlish, Kaplan, Amodei, "An Empirical Model of Large-Batch Training", 2018,
      https://arxiv.org/abs/1812.06162

      Dauphin et al., "Identifying and attacking the saddle point problem in
      high-dimensional non-convex optimization", 2014, https://arxiv.org/abs/1406.2572
    """
    from jaxtrain import nn, train

    start = time.perf_counter()
    thresholds = CauseThresholds() if thresholds is None else thresholds
    if not isinstance(thresholds, CauseThresholds):
        raise ValueError(
            f"`thresholds` must be a CauseThresholds; got {type(thresholds).__name__}."
        )
    if not (hasattr(optimizer, "init") and hasattr(optimizer, "update")):
        raise ValueError(
            "`optimizer` must be an optax.GradientTransformation (with init and update); "
            f"got {type(optimizer).__name__}."
        )
    if (steps is None) == (epochs is None):
        raise ValueError("give exactly one of `steps` and `epochs`.")
    steps = check_positive_int(steps, "`steps`", or_none=True)
    epochs = check_positive_int(epochs, "`epochs`", or_none=True)
    batch_size = check_positive_int(batch_size, "`batch_size`", or_none=True)
    measure_every = check_positive_int(measure_every, "`measure_every`", or_none=True)
    probe_size = check_positive_int(probe_size, "`probe_size`", or_none=True)
    if not is_int(seed):
        raise ValueError(f"`seed` must be an int; got {seed!r}.")
    recorded = _callers_settings(settings)
    task, (x, y), val, loss_fn = _prepared_data(train_data, val_data, task, loss)
    n = int(x.shape[0])
    if batch_size is not None and batch_size > n:
        raise ValueError(f"`batch_size` {batch_size} exceeds the {n} training examples.")
    batch = n if batch_size is None else batch_size
    total = steps if steps is not None else epochs * (n // batch)

    if isinstance(model, train.TrainState):
        apply, params0, state0 = model.apply, model.params, model.model_state
    else:
        apply, params0, state0 = nn.functional(model)
    outputs = output_shape(apply, params0, state0, x)
    width = outputs[-1] if outputs else 1
    num_classes = width if task == "classification" and width > 1 else None
    baseline = baseline_loss(loss_fn, y, task=task, num_classes=num_classes, outputs=outputs)

    every = measure_every or max(1, total // _MEASUREMENTS)
    probe_examples = probe_size or min(n, _PROBE_EXAMPLES)
    monitors, sharp, rule = _run_monitors(
        optimizer, params0, every, probe_examples, batch, learning_rate
    )
    run = fit_run(
        (apply, params0, state0),
        optimizer,
        (x, y),
        loss=loss_fn,
        steps=total,
        batch_size=batch_size,
        val_data=val,
        seed=int(seed),
        progress=progress,
        learning_rate=learning_rate,
        monitors=monitors,
    )
    evidence, probe_history = measure_run(
        run,
        (x, y),
        loss=loss_fn,
        optimizer=optimizer,
        batch_size=batch_size,
        seed=int(seed),
        task=task,
        baseline=baseline,
        steps=total,
        thresholds=thresholds,
        curvature=curvature,
        probe=probe,
        preconditioned=sharp is not None and sharp.preconditioned,
    )
    if sharp is not None:
        evidence = evidence.replace(preconditioned=sharp.preconditioned, threshold_rule=rule.rule)
    # No "optimizer" of explain_run's own: its type's name ("GradientTransformationExtraArgs"
    # for every optax chain) would not say which it is; a caller who knows passes it.
    settings = {
        "steps": total,
        "batch_size": batch,
        "seed": int(seed),
        "loss": getattr(loss_fn, "__name__", type(loss_fn).__name__),
        "n_params": run.n_params,
        "sharpness_every": every if sharp is not None else None,
        "monitor_probe_examples": probe_examples,
        "curvature": curvature,
        "probe": probe,
        **recorded,
    }
    return RunExplanation(
        causes=rank_causes(evidence, thresholds),
        evidence=evidence,
        history=run.history,
        probe_history=probe_history,
        thresholds=thresholds,
        settings=settings,
        seconds=time.perf_counter() - start,
    )
