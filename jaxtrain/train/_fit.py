"""``fit``: the training loop of the lecture (§1, §3) as scanned, donated, jitted epochs."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxtrain.monitor._monitor import DEFAULT_PROBE_SIZE, Monitor, RunSetup, check_monitors
from jaxtrain.train._batching import BatchPlan, key_bits, shuffled, step_keys
from jaxtrain.train._checkpoint import CheckpointWriter, json_ready, load_checkpoint
from jaxtrain.train._checks import check_data, check_positive_int
from jaxtrain.train._errors import NonFiniteLossError
from jaxtrain.train._evaluate import evaluate_arrays, metric_names, split_model
from jaxtrain.train._history import History
from jaxtrain.train._progress import ProgressBar
from jaxtrain.train._sharding import Placement, resolve_placement
from jaxtrain.train._state import TrainState, init_train_state
from jaxtrain.train._step import StepFunctions, learning_rate_source, step_functions

__all__ = ["fit"]

# The host feed sends at most this many bytes of batches to the devices per scan.
_HOST_CHUNK_BYTES = 256 * 2**20

# Mixed into the probe batch's seed, so it is not the first epoch's shuffle.
_PROBE_TAG = 0x9E0BE

# Settings a resumed run must share with the checkpoint, or its batches would differ.
_BATCHING = ("num_examples", "batch_size", "drop_last")


def _as_key(seed: Any) -> jax.Array:
    if isinstance(seed, int | np.integer) and not isinstance(seed, bool):
        return jax.random.key(int(seed))
    if isinstance(seed, jax.Array) and jax.dtypes.issubdtype(seed.dtype, jax.dtypes.prng_key):
        return seed
    if isinstance(seed, jax.Array | np.ndarray) and seed.dtype == np.uint32:
        return jax.random.wrap_key_data(jnp.asarray(seed))
    raise ValueError(f"seed must be an int or a jax.random key; got {seed!r}")


def _copy(tree: Any) -> Any:
    # The first step donates the state's buffers; copy so the caller's arrays survive.
    return jax.tree.map(lambda a: jnp.array(a, copy=True), tree)


def _nonfinite_message(
    *, value: float, grad_norm: float, step: int, epoch: int, batch: int, spe: int, kept: str
) -> str:
    what = (
        f"the training loss is {value}"
        if not math.isfinite(value)
        else f"the gradient norm is {grad_norm} (loss {value:.4g})"
    )
    return (
        f"{what} at step {step} (epoch {epoch}, batch {batch} of {spe}); training stopped. "
        f"The error's .state holds the state just before that step. {kept}Usual causes: "
        "(1) a learning "
        "rate too large: try a 10x smaller one, gradient clipping or a warmup schedule; "
        "(2) inputs not normalized: standardize the features (jaxtrain.data."
        "fit_standardizer) or add BatchNorm; (3) bad data: NaN/inf inputs or labels outside "
        "the classes (jaxtrain.data.check_dataset); (4) a loss taking log(0): give "
        "softmax_cross_entropy logits, not probabilities. To skip such steps instead, pass "
        "on_nonfinite='skip'."
    )


class _Feed:
    """Runs positions ``start..stop-1`` of an epoch's batches as scans; one per fit call."""

    def __init__(
        self,
        fns: StepFunctions,
        plan: BatchPlan,
        placement: Placement,
        key: jax.Array,
        x: np.ndarray,
        y: np.ndarray,
        *,
        on_host: bool,
        probe_size: int = 0,
    ):
        self.fns, self.plan, self.placement, self.on_host = fns, plan, placement, on_host
        self.x, self.y = x, y
        self.processes = jax.process_count()
        # The run's key never changes; the state's copy is donated with the state.
        self.key = placement.put_replicated(_copy(key))
        self.key_bits = key_bits(key)
        if on_host:
            self.local_batch = plan.batch_size // self.processes
            self.local_remainder = plan.remainder // self.processes
            row_bytes = x[:1].nbytes + y[:1].nbytes
            self.chunk = max(1, _HOST_CHUNK_BYTES // max(1, row_bytes * self.local_batch))
        else:
            self.x_dev, self.y_dev = placement.put_data(x), placement.put_data(y)
        self.probe = self._probe(probe_size) if probe_size else None

    def _probe(self, size: int) -> tuple[jax.Array, jax.Array]:
        """The monitors' fixed probe batch: ``size`` examples drawn once with the run's key.

        Each process draws its share from its own examples (a permutation seeded by the key's
        bits, a tag and the process), so a resumed run has the same probe.
        """
        local = size // self.processes
        entropy = [*self.key_bits, _PROBE_TAG] + (
            [jax.process_index()] if self.processes > 1 else []
        )
        rows = np.sort(np.random.default_rng(entropy).permutation(len(self.x))[:local])
        xb = self.placement.put_local_batches(self.x[rows][None])
        yb = self.placement.put_local_batches(self.y[rows][None])
        return xb, yb

    def run(self, state: TrainState, epoch: int, start: int, stop: int):
        """Positions ``start..stop-1`` of epoch ``epoch``.

        Returns ``(state, records as NumPy, before)``, ``before`` being a copy of the input
        state (``None`` when non-finite steps are skipped).
        """
        plan = self.plan
        last_full = min(stop, plan.num_full)
        with_remainder = stop > plan.num_full
        first_step = epoch * plan.steps_per_epoch + start
        if not self.on_host:
            full, rest = plan.split(self._local_permutation(epoch))
            rows = full[min(start, plan.num_full) : last_full]
            rest = rest if with_remainder else rest[:0]
            keys = step_keys(self.key, first_step, count=len(rows) + (len(rest) > 0))
            if self.placement.mesh is not None:
                # (One device: the compiled call takes NumPy directly, 10× faster than a put.)
                rows, rest = self.placement.put_replicated((rows, rest))
            state, records, before = self.fns.run_indexed(
                state, self.x_dev, self.y_dev, rows, rest, keys, self.probe
            )
            return state, jax.device_get(records), before
        pieces: list[dict[str, np.ndarray]] = []
        befores: list[TrainState | None] = []
        if last_full > start:
            state = self._run_on_host(state, epoch, start, last_full, first_step, pieces, befores)
        if with_remainder:
            step = epoch * plan.steps_per_epoch + plan.num_full
            state = self._run_on_host(state, epoch, plan.num_full, stop, step, pieces, befores)
        records = {k: np.concatenate([np.asarray(p[k]) for p in pieces]) for k in pieces[0]}
        return state, records, befores[0]

    def _local_permutation(self, epoch: int) -> np.ndarray:
        """This process's order of its own examples (all of them with one process)."""
        process = jax.process_index() if self.processes > 1 else None
        return shuffled(self.key_bits, epoch, len(self.x), process=process)

    def _run_on_host(self, state, epoch, start, stop, first_step, pieces, befores):
        perm = self._local_permutation(epoch)
        b, nb = self.local_batch, self.plan.num_full
        if start >= nb:
            batches = perm[nb * b : nb * b + self.local_remainder][None]
        else:
            batches = perm[: nb * b].reshape(nb, b)[start:stop]
        for i in range(0, len(batches), self.chunk):
            rows = batches[i : i + self.chunk]
            xb = self.placement.put_local_batches(self.x[rows])
            yb = self.placement.put_local_batches(self.y[rows])
            keys = step_keys(self.key, first_step + i, count=len(rows))
            state, records, before = self.fns.run_fed(state, xb, yb, keys, self.probe)
            pieces.append(jax.device_get(records))
            befores.append(before)
        return state


def _probe_size(monitors: tuple[Monitor, ...], num_examples: int, processes: int) -> int:
    """The size of the probe batch the monitors share: the largest asked, 0 for none."""
    if not any(m.uses_probe for m in monitors):
        return 0
    asked = [m.probe_size for m in monitors if m.uses_probe and m.probe_size is not None]
    size = max(asked) if asked else min(num_examples, DEFAULT_PROBE_SIZE)
    if size > num_examples:
        raise ValueError(f"probe_size={size} exceeds the {num_examples} training examples")
    if size % processes:
        raise ValueError(f"with {processes} processes, probe_size ({size}) must divide among them")
    return size


def _weighted_means(records: dict[str, np.ndarray], sizes: np.ndarray) -> dict[str, float]:
    weights = sizes * records["finite"]
    total = weights.sum()
    means = {}
    for name in ("loss", *sorted(k for k in records if k.startswith("train_"))):
        values = np.where(records["finite"], records[name], 0.0).astype(np.float64)
        means[name] = float((weights * values).sum() / total) if total else math.nan
    return means


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
    ``state -> state``, and the steps of an epoch run as one ``lax.scan`` inside one
    ``jax.jit`` whose state buffers are donated (updated in place). The data are put on the
    devices once; each step gathers its batch there, so no Python runs per step and the
    host waits for the devices once per epoch. The full batches of an epoch are one scan and
    a last partial batch one more step (its own compilation, once). With ``steps=`` a run
    may stop, and resume, in the middle of an epoch.

    Learning rate record: jaxtrain's optimizers (and optax optimizers wrapped in
    ``optax.inject_hyperparams``) keep the η they used in their state, and
    ``history.per_step["learning_rate"]`` reads it there. A plain optax optimizer keeps
    none: then the ``learning_rate`` given here (a number or a schedule of the step) is what
    is recorded, else the constant η of the optimizer's final ``scale(−η)`` (optax's
    ``adam(1e-3)``), else NaN (an optax schedule). It is only recorded, never applied.

    Non-finite losses: every step records whether its loss and gradient norm are finite,
    and the host looks at those flags once per epoch, never per step. With
    ``on_nonfinite="raise"`` the epoch's call also returns a copy of the state it started
    from (one extra copy of parameters and optimizer state in memory); on a bad step the
    steps before it are replayed from that copy, and :class:`NonFiniteLossError` names the
    step and the usual causes and carries that last good state; no checkpoint is written
    after it. With ``"skip"`` the bad steps' updates (parameters, model state and optimizer
    state alike) are dropped inside the step, the run goes on, and
    ``history.per_step["skipped"]`` / ``per_epoch["skipped_steps"]`` count them.

    Devices: with a ``mesh`` (or by default when ``jax.device_count() > 1``, a mesh of all
    devices on one ``"data"`` axis), each batch is split over the data axis and the
    parameters and optimizer state are replicated; one ``jit`` sees the global batch, so
    BatchNorm's statistics are over the whole batch and the result equals the one-device
    run up to float rounding. The batch size must be a multiple of the number of devices on
    that axis; a last partial batch that is not is computed whole on every device. With
    several processes (``jax.distributed.initialize()``), each process passes its own,
    equally sized share of the data as ``train_data`` and feeds its local part of every
    global batch (see the README's multi-host section); ``batch_size`` is global.

    Checkpoints: with ``checkpoint_dir``, orbax writes the whole state (parameters, model
    state, optimizer state, step, key), the history and ``metadata`` atomically every
    ``checkpoint_every`` epochs (epochs, not steps: the host sees the state only between
    scanned epochs) and at the end. ``resume=True`` continues from the newest one; because
    every random draw is folded from the key and the step, the resumed run reproduces the
    uninterrupted one exactly. A checkpoint of another model or optimizer is refused
    (:class:`CheckpointMismatchError`).

    Monitors: ``jaxtrain.monitor`` measurements (sharpness against the stability threshold,
    gradient noise scale, Hessian trace, update ratio) run inside the compiled epoch, each
    under a ``lax.cond`` on the step number, and write ``history.per_step[name]`` (NaN at
    the steps they skip). Their state is part of the :class:`TrainState`, so it is
    checkpointed and a resumed run measures exactly what the uninterrupted one did. Monitors
    on the Hessian share one fixed probe batch drawn from ``train_data`` with the run's key.

    Args:
      model: an NNX module, an ``(apply, params, state)`` triple or anything else
        :func:`jaxtrain.nn.functional` accepts; or a :class:`TrainState`, whose apply,
        parameters and model state start the run (with a fresh optimizer state).
      optimizer: any ``optax.GradientTransformation`` (e.g. ``jaxtrain.optim.sgd``).
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
      mesh: a ``jax.sharding.Mesh`` with a ``"data"`` axis (or a single axis).
      drop_last: leave out the last partial batch of every epoch.
      on_nonfinite: ``"raise"`` or ``"skip"``, see above.
      learning_rate: what to record as η when the optimizer state keeps none.
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
        batch size not divisible by the devices), all before any step runs; a checkpoint
        directory in use without ``resume``; or a checkpoint from other batching.
      NonFiniteLossError: a non-finite loss or gradient with ``on_nonfinite="raise"``.
      CheckpointMismatchError: ``resume`` from a checkpoint of another structure.

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
    # ---- arguments, all checked before anything is compiled or run ----
    if (epochs is None) == (steps is None):
        raise ValueError("give exactly one of epochs= and steps=")
    if epochs is not None:
        epochs = check_positive_int(epochs, "epochs")
    if steps is not None:
        steps = check_positive_int(steps, "steps")
    if on_nonfinite not in ("raise", "skip"):
        raise ValueError(f"on_nonfinite must be 'raise' or 'skip'; got {on_nonfinite!r}")
    if not (hasattr(optimizer, "init") and hasattr(optimizer, "update")):
        raise ValueError(
            f"optimizer must be an optax.GradientTransformation; got {type(optimizer).__name__}"
        )
    if not callable(loss):
        raise ValueError(f"loss must be a function loss(predictions, targets); got {loss!r}")
    if augment is not None and not callable(augment):
        raise ValueError(f"augment must be a function aug(key, x) -> x; got {augment!r}")
    checkpoint_every = check_positive_int(checkpoint_every, "checkpoint_every")
    if resume and checkpoint_dir is None:
        raise ValueError("resume=True needs the checkpoint_dir to resume from")
    if metadata is not None:
        metadata = json_ready(dict(metadata), "metadata")
    apply, params, model_state = split_model(model)
    named_metrics = metric_names(metrics)
    x, y = check_data(train_data, apply, params, model_state, name="train_data")
    placement = resolve_placement(mesh)
    processes = jax.process_count()
    if data_on_device and processes > 1:
        raise ValueError(
            "data_on_device=True needs a single process; with several, each process feeds "
            "its own examples from the host"
        )
    on_host = bool(data_on_device is False or (data_on_device is None and processes > 1))
    num_examples = len(x)
    if processes > 1:
        from jax.experimental import multihost_utils

        sizes = np.asarray(multihost_utils.process_allgather(np.int64(num_examples)))
        if len(set(sizes.ravel().tolist())) != 1:
            raise ValueError(
                f"every process must pass the same number of training examples; got {sizes}"
            )
        num_examples *= processes
    plan = BatchPlan.create(num_examples, batch_size, drop_last=drop_last)
    if plan.batch_size % processes or plan.remainder % processes:
        raise ValueError(
            f"with {processes} processes, batch_size ({plan.batch_size}) and the last "
            f"partial batch ({plan.remainder}) must divide among them"
        )
    shards = placement.num_shards
    if plan.num_full and plan.batch_size % shards:
        lower = plan.batch_size - plan.batch_size % shards
        raise ValueError(
            f"batch_size={plan.batch_size} does not split over the {shards} devices of the "
            f"data axis; use a multiple of {shards} (e.g. {max(lower, shards)} or "
            f"{lower + shards}), or pass a mesh with fewer devices"
        )
    spe = plan.steps_per_epoch
    total_steps = epochs * spe if epochs is not None else steps
    monitors = check_monitors(monitors)
    setup = RunSetup(optimizer, optimizer.init(params), params, num_examples, plan.batch_size)
    monitors = tuple(m.prepare(setup) for m in monitors)
    probe_size = _probe_size(monitors, num_examples, processes)
    val = None
    if val_data is not None:
        val = check_data(val_data, apply, params, model_state, name="val_data")
        if processes > 1:
            from jax.experimental import multihost_utils

            val = tuple(np.asarray(multihost_utils.process_allgather(a, tiled=True)) for a in val)
    key = _as_key(seed)

    # ---- the state, the compiled steps, the checkpoint to resume ----
    state = init_train_state(apply, params, model_state, optimizer, key, monitors)
    state = placement.put_replicated(_copy(state))
    settings = (
        optimizer,
        loss,
        named_metrics,
        augment,
        learning_rate_source(state.opt_state, learning_rate, optimizer),
        on_nonfinite == "skip",
        placement,
        monitors,
    )
    try:
        fns = step_functions(*settings)
    except TypeError:  # an unhashable setting: compile for this call only
        fns = StepFunctions(*settings)
    config = {
        "num_examples": plan.num_examples,
        "batch_size": plan.batch_size,
        "drop_last": plan.drop_last,
        "steps_per_epoch": spe,
        "total_steps": total_steps,
        "on_nonfinite": on_nonfinite,
        "seed": int(seed) if isinstance(seed, int | np.integer) else None,
        "probe_size": probe_size,
    }
    history = History()
    writer = None
    if checkpoint_dir is not None:
        writer = CheckpointWriter(checkpoint_dir, keep=keep_checkpoints)
        existing = writer.steps()
        if existing and not resume:
            writer.close()
            raise ValueError(
                f"{writer.directory} already holds checkpoints (steps {existing}); pass "
                "resume=True to continue that run, or choose a new directory"
            )
        if existing:
            ckpt = load_checkpoint(writer.directory, state)
            for name in _BATCHING:
                if name in ckpt.config and ckpt.config[name] != config[name]:
                    writer.close()
                    raise ValueError(
                        f"cannot resume: the checkpoint was written with {name}="
                        f"{ckpt.config[name]}, this run has {name}={config[name]}; the "
                        "batches would differ. Use the same data and batching, or a new "
                        "directory."
                    )
            saved_probe = ckpt.config.get("probe_size") or 0
            if saved_probe and probe_size and saved_probe != probe_size:
                writer.close()
                raise ValueError(
                    f"cannot resume: the checkpoint's monitors used a probe batch of "
                    f"{saved_probe} examples, this run's use {probe_size}; their measurements "
                    "would differ. Use the same probe_size, or a new directory."
                )
            if ckpt.step > total_steps:
                writer.close()
                raise ValueError(
                    f"cannot resume: the checkpoint is at step {ckpt.step}, past the "
                    f"{total_steps} steps this run asks for"
                )
            state, history = ckpt.state, ckpt.history or History()
    # The key is fixed for the whole run (draws fold in the epoch or step), so the feed
    # keeps its own copy, on the host for the host feed: the state's copy is donated.
    feed = _Feed(
        fns,
        plan,
        placement,
        jax.device_get(state.key),
        x,
        y,
        on_host=on_host,
        probe_size=probe_size,
    )
    if val is not None:
        val = (placement.put_data(val[0]), placement.put_data(val[1]))

    # ---- the loop: one scanned segment per epoch, the host looks once per epoch ----
    done = int(jax.device_get(state.step))
    bar = ProgressBar(progress, total=total_steps, initial=done)
    raise_on_nonfinite = on_nonfinite == "raise"
    try:
        while done < total_steps:
            epoch, start = divmod(done, spe)
            stop = min(spe, start + total_steps - done)
            began = time.perf_counter()
            # `before` is the state at the segment's start, kept while `state` is donated: a
            # bad step is found only at the epoch's end, and the last good state is rebuilt
            # from it by replaying up to that step.
            state, records, before = feed.run(state, epoch, start, stop)
            elapsed = time.perf_counter() - began
            sizes = np.asarray(plan.batch_sizes(start, stop), np.int32)
            finite = records["finite"].astype(bool)
            if raise_on_nonfinite and not finite.all():
                first = int(np.argmin(finite))
                del state
                good = before
                if first:
                    good, _, _ = feed.run(before, epoch, start, start + first)
                history.append_steps(_step_rows(records, sizes, first + 1))
                saved = writer.steps() if writer is not None else []
                kept = f"The last good checkpoint (step {saved[-1]}) is kept. " if saved else ""
                raise NonFiniteLossError(
                    _nonfinite_message(
                        value=float(records["loss"][first]),
                        grad_norm=float(records["grad_norm"][first]),
                        step=done + first,
                        epoch=epoch,
                        batch=start + first,
                        spe=spe,
                        kept=kept,
                    ),
                    step=done + first,
                    epoch=epoch,
                    loss=float(records["loss"][first]),
                    state=good,
                    history=history,
                )
            del before
            history.append_steps(_step_rows(records, sizes, len(sizes)))
            done = epoch * spe + stop
            means = _weighted_means(records, sizes)
            row = {
                "epoch": done / spe,
                "step": done,
                "train_loss": means.pop("loss"),
                **means,
                "skipped_steps": int((~finite).sum()),
                "epoch_time": elapsed,
            }
            if val is not None:
                scores = evaluate_arrays(
                    state.apply,
                    state.params,
                    state.model_state,
                    *val,
                    loss=loss,
                    metrics=named_metrics,
                    placement=placement,
                    batch_size=eval_batch_size,
                )
                row.update({f"val_{name}": value for name, value in scores.items()})
            history.append_epoch(row)
            at_epoch_end = stop == spe
            if writer is not None and (
                (at_epoch_end and (epoch + 1) % checkpoint_every == 0) or done == total_steps
            ):
                writer.save(state, history=history, metadata=metadata, config=config)
            shown = {"loss": row["train_loss"]}
            if "val_loss" in row:
                shown["val_loss"] = row["val_loss"]
            bar.update(stop - start, **shown)
        if writer is not None and done == total_steps and done not in writer.steps():
            writer.save(state, history=history, metadata=metadata, config=config)
    finally:
        bar.close()
        if writer is not None:
            writer.close()
    return state, history


def _step_rows(records: dict[str, np.ndarray], sizes: np.ndarray, count: int) -> dict:
    rows = {
        "loss": records["loss"][:count],
        "grad_norm": records["grad_norm"][:count],
        "learning_rate": records["learning_rate"][:count],
        "batch_size": sizes[:count],
        "skipped": ~records["finite"][:count].astype(bool),
    }
    # Monitors' records: everything the step wrote beyond the fixed ones and the metrics.
    for name in sorted(records):
        if name not in rows and name != "finite" and not name.startswith("train_"):
            rows[name] = records[name][:count]
    return rows
