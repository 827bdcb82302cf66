"""``fit``: the training loop of the lecture (§1, §3) as scanned, donated, jitted epochs.

``fit`` reads as its parts: the settings resolved and checked (``_settings``), the state and
the compiled steps, the checkpoint to start from (``_run_checkpoints``), then the epoch loop
below, which runs one compiled segment per epoch (or per few short epochs) through the feed
(``_feed``), stops at a non-finite step (``_nonfinite``) and records the history
(``_records``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import jax
import numpy as np
import optax

from jaxtrain._dtypes import check_float_leaves
from jaxtrain.monitor._monitor import Monitor
from jaxtrain.train._evaluate import evaluate_arrays
from jaxtrain.train._feed import Feed
from jaxtrain.train._history import History
from jaxtrain.train._nonfinite import raise_at_first_nonfinite
from jaxtrain.train._progress import ProgressBar
from jaxtrain.train._read_now import optimizer_now, schedule_now
from jaxtrain.train._records import epoch_row, step_rows
from jaxtrain.train._run_checkpoints import RunCheckpoints
from jaxtrain.train._settings import FitSettings, resolve_settings
from jaxtrain.train._sharding import mesh_scope
from jaxtrain.train._state import TrainState, donatable_copy, init_train_state
from jaxtrain.train._step import StepFunctions, learning_rate_source, step_functions

__all__ = ["fit"]


def fit(
    model: Any,
    optimizer: optax.GradientTransformation,
    train_data: tuple[Any, Any],
    *,
    loss: Callable[..., Any],
    epochs: int | None = None,
    steps: int | None = None,
    batch_size: int | None,
    val_data: tuple[Any, Any] | None = None,
    metrics: Sequence[Callable[..., Any]] | Mapping[str, Callable[..., Any]] = (),
    augment: Callable[..., Any] | None = None,
    seed: int | jax.Array = 0,
    checkpoint_dir: str | None = None,
    checkpoint_every: int = 1,
    keep_checkpoints: int | None = 3,
    resume: bool = False,
    metadata: Mapping[str, Any] | None = None,
    progress: bool = True,
    mesh: jax.sharding.Mesh | None = None,
    drop_last: bool = False,
    on_nonfinite: Literal["raise", "skip"] = "raise",
    learning_rate: float | Callable[[Any], Any] | None = None,
    data_on_device: bool | None = None,
    eval_batch_size: int | None = None,
    monitors: Sequence[Monitor] = (),
) -> tuple[TrainState, History]:
    r"""Trains a model with minibatch gradient descent and returns its final state and history.

    Lecture §3: each epoch shuffles the N training examples (from the key, so the same
    ``seed`` gives the same run) and cuts them into batches of B; each batch gives one
    update θ ← θ + optimizer(g), g = ∇θ L(θ; batch), L = ``loss``. B = 1 is SGD, B = N
    full-batch gradient descent: the same code. The last N mod B examples form a smaller
    last batch (or are left for the next shuffle with ``drop_last=True``).

    Everything inside is pure and compiled: one training step is a pure function
    ``state -> state``, and the steps of an epoch run as one compiled loop (``lax.fori_loop``
    over a step count known at run time; ``lax.scan`` over batches fed from the host) inside
    one ``jax.jit`` whose state buffers are donated (updated in place). The data are put on the
    devices once; each step gathers its batch there, so no Python runs per step and the
    host waits for the devices once per epoch, or less often: with the data on the devices,
    after the first epoch, epochs of few steps and no partial batch (at full batch, one)
    with nothing due on the host between them (no validation set, no checkpoint) run up to
    64 steps per call, since a call's wait and records cost about as much as a small
    model's step. The full batches of an epoch are one loop and a last partial batch one
    more step, in the same compiled call (with ``data_on_device=False``, sent from the host,
    the partial batch is a call of its own, compiled once). With ``steps=`` a run may stop,
    and resume, in the middle of an epoch.

    Learning rate record: ``history.per_step["learning_rate"]`` is the η of an
    ``optax.inject_hyperparams`` state; else the ``learning_rate`` given here (a number, or a
    schedule read at the updates applied before the step: the optimizer state's count, which
    skipped steps do not advance, or the run's step for an optimizer that keeps no count);
    else the optimizer's own η, read from its closure (the constant of its final
    ``scale(−η)``, or its schedule at the state's count: jaxtrain's and optax's optimizers
    alike); else NaN. It is only recorded, never applied.

    Non-finite steps: every step records whether its loss and its gradient norm are finite,
    computed inside the compiled step, and each call whether the state it ends with is
    (parameters and model state finite, the optimizer state free of NaN: optax keeps ±inf
    there as "nothing seen yet"); the host looks at those flags once per
    call, never per step. With ``on_nonfinite="raise"`` each call also returns a copy of the
    state it started from (one extra copy of parameters and optimizer state in memory); a
    call with a bad flag runs again from that copy with every step also checking the state
    it produces, which finds the first bad step exactly: a NaN learning rate or an
    overflowing update leaves the loss and gradient finite but the state not (a state that
    turns non-finite and finite again within one call, without reaching the parameters, the
    loss or the gradient, passes: the parameters, θ + Δθ at every step, never recover from
    inf or NaN). The steps before it are replayed from that copy, and
    :class:`NonFiniteLossError` names the step and the usual causes and carries that last
    finite state; no checkpoint is written after it, so every checkpoint holds a finite
    state. The state check costs a few kernels per step, 14% of a batch-32 MLP step on a
    CPU: paid per call, not per step, as long as nothing goes wrong. With ``"skip"`` the bad steps'
    updates (parameters, model state and optimizer state alike) are dropped inside the step,
    and so are the monitors' state and measurements (NaN, not measured), the run goes on, and
    ``history.per_step["skipped"]`` / ``per_epoch["skipped_steps"]`` count them.

    Devices: with a ``mesh`` (by default the mesh of an enclosing ``jax.set_mesh``, else,
    when ``jax.device_count() > 1``, a mesh of all devices on one ``"data"`` axis), each
    batch is split over the data axis and the parameters and optimizer state are
    replicated; one ``jit`` sees the global batch, so BatchNorm's statistics are over the
    whole batch and the result equals the one-device run up to float rounding. The batch
    size must be a multiple of the number of devices on that axis; a last partial batch
    that is not is computed whole on every device. With several processes
    (``jax.distributed.initialize()``), each process passes its own, equally sized share of
    the data as ``train_data`` and feeds its local part of every global batch (see the
    README's multi-host section); ``batch_size`` is global. An error one process finds in
    its share is raised by every process, naming that process.

    Checkpoints: with ``checkpoint_dir``, orbax writes the whole state (parameters, model
    state, optimizer state, step, key), the history and ``metadata`` atomically every
    ``checkpoint_every`` epochs (epochs, not steps: the host sees the state only between
    scanned epochs) and at the end. ``resume=True`` continues from the newest one; because
    every random draw is folded from the key and the step, the resumed run reproduces the
    uninterrupted one exactly. A checkpoint whose parameters or optimizer state have another
    structure (leaf paths, shapes, dtypes) is refused (:class:`CheckpointMismatchError`:
    another learning rate or activation of the same shapes is not detected), so is one of
    another seed, and one whose files
    changed since they were saved (:class:`CheckpointCorruptError`: the SHA-256 of every
    file is recorded at save and checked before loading). ``checkpoint_dir`` must be new,
    empty or one jaxtrain made (its manifest ``jaxtrain-checkpoints.json`` names the run
    and its steps); the run holds the directory's lock from its start, before the first
    step, so a second writer is refused; only the run family's own steps are ever deleted.

    Monitors: ``jaxtrain.monitor`` measurements (sharpness against the stability threshold,
    gradient noise scale, Hessian trace, update ratio) run inside the compiled epoch, each
    under a ``lax.cond`` on the step number, and write ``history.per_step[name]`` (NaN at
    the steps they skip). Their state is part of the :class:`TrainState`, so it is
    checkpointed and a resumed run measures exactly what the uninterrupted one did. Monitors
    on the Hessian share one fixed probe batch drawn from ``train_data`` with the run's key.
    A run may resume with other monitors; their state is restored by monitor name: a monitor
    in the run and the checkpoint resumes its state, one new to the run starts from its
    initial state (its records NaN before), one only in the checkpoint is ignored (its
    records NaN from then on). A monitor with other settings than the checkpoint's (its
    ``every`` aside) is refused with a ``ValueError``, and one whose saved state has another
    structure with :class:`CheckpointMismatchError`, rather than restarted, so that one
    history column never joins two settings' values.

    Args:
      model: an NNX module, an ``(apply, params, state)`` triple or anything else
        :func:`jaxtrain.nn.functional` accepts; or a :class:`TrainState`, whose apply,
        parameters and model state start the run (with a fresh optimizer state).
      optimizer: any ``optax.GradientTransformation`` (e.g. ``jaxtrain.optim.sgd``). Its
        update is given optax's extra arguments, the batch's loss ``value``, ``grad`` and
        ``value_fn`` (θ ↦ L(θ; batch)), and ``obj_fn`` (the same function) where a
        transform takes it: ``optax.contrib.reduce_on_plateau``, ``optax.lbfgs``,
        ``optax.contrib.sophia`` and the escape transforms
        (:func:`jaxtrain.optim.negative_curvature_descent`, ...) train as they are.
      train_data: ``(x, y)`` arrays, examples on axis 0 (this process's share when there are
        several processes).
      loss: ``loss(predictions, targets) -> scalar`` mean over the batch, e.g.
        :func:`jaxtrain.losses.softmax_cross_entropy`.
      epochs: passes over the data; give this or ``steps``.
      steps: optimizer steps in all (batches, partial ones included); give this or
        ``epochs``.
      batch_size: B, from 1 to N; ``None`` for the whole set (full-batch descent).
      val_data: ``(x, y)`` evaluated after every epoch in evaluation mode.
      metrics: functions ``metric(predictions, targets) -> scalar`` (e.g.
        :func:`jaxtrain.losses.accuracy`), named by ``__name__``, or a dict name → function;
        recorded as ``train_<name>`` (on the fly, in training mode) and ``val_<name>``.
        Epochs and validation average the batches' values weighted by their sizes: exact
        for a mean over the examples, not for a ratio such as one over a mask's count.
      augment: a per-example augmentation ``aug(key, x) -> x`` (``jaxtrain.data``), applied
        to every training batch with its step's key inside the jitted step.
      seed: an int or a ``jax.random`` key: the shuffles, augmentations and dropout.
      checkpoint_dir: where to write checkpoints; ``None`` for none.
      checkpoint_every: save every this many epochs (and always at the end).
      keep_checkpoints: how many of the newest checkpoints to keep (``None``: all).
      resume: continue from the newest checkpoint in ``checkpoint_dir`` (a fresh start when
        there is none). Without it, a directory that already holds checkpoints is refused.
      metadata: a JSON-serializable dict saved with every checkpoint (e.g. how to rebuild
        the model).
      progress: show a tqdm bar on a terminal or in a notebook (never when the output is
        not interactive).
      mesh: a ``jax.sharding.Mesh`` with a ``"data"`` axis (or a single axis); inside
        ``jax.set_mesh``, the context's mesh by default.
      drop_last: leave out the last partial batch of every epoch.
      on_nonfinite: ``"raise"`` or ``"skip"``, see above.
      learning_rate: what to record as η when no ``inject_hyperparams`` state keeps one: a
        finite number ≥ 0 or a schedule ``t -> η`` (see above).
      data_on_device: put the whole training set on the devices (default with one
        process) or feed each epoch's batches from the host (default with several; each
        process sends its own examples, at most 256 MiB of batches per scan).
      eval_batch_size: chunk size of the validation pass (see :func:`evaluate`).
      monitors: ``jaxtrain.monitor`` monitors, e.g. ``[monitor.sharpness(every=50),
        monitor.gradient_noise_scale()]``.

    Returns:
      ``(state, history)``: the final :class:`TrainState` and the :class:`History`.

    Raises:
      ValueError: for bad data (empty, mismatched lengths, NaN inputs, labels out of range)
        or arguments (``batch_size`` ≤ 0 or > N, both or neither of ``epochs``/``steps``, a
        batch size not divisible by the devices, an integer or boolean parameter, a flag
        that is not a bool, a size or count that is not a positive int, a negative or
        non-finite ``learning_rate``; each whether or not the run would use it), all before
        any step runs; or a checkpoint from other batching.
      NonFiniteLossError: a non-finite loss, gradient or updated state with
        ``on_nonfinite="raise"``.
      CheckpointMismatchError: ``resume`` from a checkpoint of another structure, or whose
        state of a monitor of this run has another structure.
      CheckpointCorruptError: ``resume`` from a checkpoint whose files changed since saved.
      CheckpointDirectoryError: ``checkpoint_dir`` is a file, is not empty and not
        jaxtrain's, is locked by another writer, holds another seed's checkpoints, or holds
        checkpoints and ``resume`` is False; all before the first step.

    Examples:
      >>> import numpy as np
      >>> from flax import nnx
      >>> from jaxtrain.losses import accuracy, softmax_cross_entropy
      >>> from jaxtrain.nn import MLP
      >>> from jaxtrain.optim import sgd
      >>> from jaxtrain.train import fit
      >>> rng = np.random.default_rng(0)
      >>> x = rng.normal(size=(100, 2)).astype(np.float32)
      >>> y = (x[:, 0] > 0).astype(np.int32)
      >>> state, history = fit(MLP(2, 16, 2, depth=1, rngs=nnx.Rngs(0)), sgd(0.5), (x, y),
      ...                      loss=softmax_cross_entropy, epochs=20, batch_size=32,
      ...                      val_data=(x, y), metrics=[accuracy], progress=False)
      >>> print(int(state.step), history.per_step["loss"].shape,
      ...       history.per_epoch["val_accuracy"][-1] > 0.95)
      80 (80,) True

    References:
      Bottou, Curtis and Nocedal, *Optimization Methods for Large-Scale Machine Learning*,
      2018 (minibatch SGD), https://arxiv.org/abs/1606.04838
    """
    with mesh_scope(mesh):  # inside jax.set_mesh: under the mesh passed, if one is
        settings = resolve_settings(
            model,
            optimizer,
            train_data,
            loss=loss,
            epochs=epochs,
            steps=steps,
            batch_size=batch_size,
            val_data=val_data,
            metrics=metrics,
            augment=augment,
            seed=seed,
            checkpoint_dir=checkpoint_dir,
            checkpoint_every=checkpoint_every,
            keep_checkpoints=keep_checkpoints,
            resume=resume,
            metadata=metadata,
            progress=progress,
            mesh=mesh,
            drop_last=drop_last,
            on_nonfinite=on_nonfinite,
            learning_rate=learning_rate,
            data_on_device=data_on_device,
            eval_batch_size=eval_batch_size,
            monitors=monitors,
        )
        _check_differentiable(settings.params)
        return _run(settings)


def _run(settings: FitSettings) -> tuple[TrainState, History]:
    """The run of resolved settings: the state, the checkpoint to start from, the epochs."""
    state = _initial_state(settings)
    fns = _step_functions(settings, state.opt_state)
    checkpoints = RunCheckpoints(
        settings.checkpoint_dir,
        keep=settings.keep_checkpoints,
        every=settings.checkpoint_every,
        metadata=settings.metadata,
        config=settings.checkpoint_config,
    )
    try:
        state, history = checkpoints.start(state, resume=settings.resume)
        state = _train(state, history, settings, fns, checkpoints)
    finally:
        checkpoints.close()
    return state, history


def _check_differentiable(params: Any) -> None:
    """Refuses a parameter that is not floating-point: ``fit`` differentiates every leaf of
    ``params`` (an NNX module's ``nnx.Param`` s; its other variables are model state), and
    ``jax.grad`` of an integer or boolean fails deep inside the first step's tracing.

    Raises:
      ValueError: naming the first such leaf's path and dtype.
    """
    check_float_leaves(
        params,
        "fit differentiates every parameter; keep it out of the trainable ones (in an NNX "
        "module, an nnx.Variable that is not an nnx.Param; in an (apply, params, state) "
        "triple, in the state) or cast it to a float dtype",
    )


def _initial_state(settings: FitSettings) -> TrainState:
    """A fresh state on the devices, copied: the first step donates its buffers, and the
    caller's parameters must survive."""
    state = init_train_state(
        settings.apply,
        settings.params,
        settings.model_state,
        settings.optimizer,
        settings.key,
        settings.monitors,
    )
    return settings.placement.put_replicated(donatable_copy(state))


def _step_functions(settings: FitSettings, opt_state: Any) -> StepFunctions:
    """The compiled steps of these settings, shared with earlier ``fit`` calls that had the
    same ones (a new jitted function would compile anew)."""
    source = learning_rate_source(opt_state, settings.learning_rate, settings.optimizer)
    needing = [m.name for m in settings.monitors if m.needs_learning_rate]
    if source is None and needing:
        # Its threshold would be NaN at every step, without a word.
        raise ValueError(
            f"the {needing[0]} monitor's stability threshold is a function of η, and η cannot "
            "be read from this optimizer (optax.multi_transform groups with different η, or "
            "a transform that keeps its step to itself): pass fit(..., learning_rate=η), or "
            "a threshold that is a number (sharpness(..., threshold=20.0))"
        )
    key = (
        settings.optimizer,
        settings.loss,
        settings.metrics,
        settings.augment,
        schedule_now(source),
        settings.skip_nonfinite,
        settings.placement,
        settings.monitors,
    )
    try:
        return step_functions(optimizer_now(settings.optimizer, settings.params, opt_state), *key)
    except TypeError:  # an unhashable setting: compile for this call only
        return StepFunctions(*key)


def _train(
    state: TrainState,
    history: History,
    settings: FitSettings,
    fns: StepFunctions,
    checkpoints: RunCheckpoints,
) -> TrainState:
    """The epoch loop: one compiled segment at a time, the host looks once per segment.

    A segment is an epoch (or the part of one where the run starts or stops), or several
    whole epochs when the feed joins them and nothing on the host is due between them (no
    validation set, no checkpoint). Runs from ``state``'s step to the run's last, appending
    to ``history`` and saving checkpoints; returns the final state.
    """
    placement, plan, total = settings.placement, settings.plan, settings.total_steps
    # Epochs may be joined into one call when no validation or checkpoint follows each one.
    nothing_between_epochs = settings.val is None and (
        settings.checkpoint_dir is None or settings.checkpoint_every > 1
    )
    # The key is fixed for the whole run (draws fold in the epoch or step), so the feed
    # keeps its own copy, on the host for the host feed: the state's copy is donated.
    feed = Feed(
        fns,
        plan,
        placement,
        jax.device_get(state.key),
        settings.x,
        settings.y,
        on_host=settings.on_host,
        join_epochs=nothing_between_epochs,
        probe_size=settings.probe_size,
    )
    val = None
    if settings.val is not None:
        val = (placement.put_data(settings.val[0]), placement.put_data(settings.val[1]))
    spe = plan.steps_per_epoch
    done = int(jax.device_get(state.step))
    bar = ProgressBar(settings.progress, total=total, initial=done)
    # The first call may compile: alone, its epoch's time is the one that includes it.
    first_call = True
    try:
        while done < total:
            epochs = 1 if first_call else feed.epochs_per_call
            first_call = False
            due = checkpoints.epochs_until_save(done // spe)
            if due is not None:
                epochs = min(epochs, due)
            stop = min(total, (done // spe + epochs) * spe)
            state, rows = _train_segment(
                state, history, feed, settings, checkpoints, first=done, stop=stop
            )
            if val is not None:  # then epochs are not joined: the segment is (part of) one
                rows[-1].update(_validation_scores(state, val, settings))
            for row in rows:
                history.append_epoch(row)
            checkpoints.after_segment(
                state,
                history,
                epoch=(stop - 1) // spe,
                ends_epoch=stop % spe == 0,
                ends_run=stop == total,
            )
            shown = {"loss": rows[-1]["train_loss"]}
            if "val_loss" in rows[-1]:
                shown["val_loss"] = rows[-1]["val_loss"]
            bar.update(stop - done, **shown)
            done = stop
        checkpoints.finish(state, history, step=done)
    finally:
        bar.close()
    return state


def _train_segment(
    state: TrainState,
    history: History,
    feed: Feed,
    settings: FitSettings,
    checkpoints: RunCheckpoints,
    *,
    first: int,
    stop: int,
) -> tuple[TrainState, list[dict[str, Any]]]:
    """Steps ``first..stop-1`` as one compiled call.

    Appends their steps to ``history`` and returns the new state and a per-epoch row for
    each epoch the segment ends or stops in (validation aside).

    Raises:
      NonFiniteLossError: a step was not finite, with ``on_nonfinite="raise"``; the rows of
        the epochs finished before it are in ``history`` first.
    """
    began = time.perf_counter()
    # `before` is the state at the segment's start, kept while `state` is donated: a bad
    # step is found only at the segment's end, and the last good state is rebuilt from it
    # by replaying up to that step.
    state, records, before = feed.run(state, first, stop)
    elapsed = time.perf_counter() - began
    plan = settings.plan
    spe = plan.steps_per_epoch
    # (epoch, first step, stop) of each epoch the segment runs in.
    spans = [
        (epoch, max(first, epoch * spe), min(stop, (epoch + 1) * spe))
        for epoch in range(first // spe, (stop - 1) // spe + 1)
    ]
    sizes = np.concatenate(
        [plan.batch_sizes(lo - epoch * spe, hi - epoch * spe) for epoch, lo, hi in spans]
    ).astype(np.int32)
    rows = [
        epoch_row(
            {k: v[lo - first : hi - first] for k, v in records.items()},
            sizes[lo - first : hi - first],
            step=hi,
            steps_per_epoch=spe,
            seconds=elapsed * (hi - lo) / (stop - first),
        )
        for _, lo, hi in spans
    ]
    finite = records["finite"].astype(bool)
    if not settings.skip_nonfinite and not finite.all():
        del state  # the replay needs memory for one more state, not two
        bad = first + int(np.argmin(finite))
        for (_, _, hi), row in zip(spans, rows, strict=True):
            if hi <= bad:  # an epoch finished before the bad step, as with one call per epoch
                history.append_epoch(row)
        raise_at_first_nonfinite(
            feed,
            before,
            records,
            sizes,
            history,
            first=first,
            last_checkpoint=checkpoints.latest(),
        )
    del before
    history.append_steps(step_rows(records, sizes, len(sizes)))
    return state, rows


def _validation_scores(
    state: TrainState, val: tuple[jax.Array, jax.Array], settings: FitSettings
) -> dict[str, float]:
    """``val_<name>`` of the loss and each metric on the validation set, in evaluation mode."""
    scores = evaluate_arrays(
        state.apply,
        state.params,
        state.model_state,
        *val,
        loss=settings.loss,
        metrics=settings.metrics,
        placement=settings.placement,
        batch_size=settings.eval_batch_size,
    )
    return {f"val_{name}": value for name, value in scores.items()}
