"""``fit``'s settings: its arguments resolved and checked before anything is compiled or run."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxtrain._numbers import is_int
from jaxtrain._text import counted
from jaxtrain.monitor._monitor import (
    DEFAULT_PROBE_SIZE,
    Monitor,
    RunSetup,
    check_monitors,
    check_record_names,
)
from jaxtrain.train._batching import BatchPlan
from jaxtrain.train._checkpoint import json_ready
from jaxtrain.train._checks import (
    check_flag,
    check_loss_is_a_mean,
    check_loss_takes,
    check_positive_int,
    is_one_key,
)
from jaxtrain.train._evaluate import checked_share, every_share, metric_names, split_model
from jaxtrain.train._nonfinite import NONFINITE_POLICIES
from jaxtrain.train._processes import check_same_run
from jaxtrain.train._read_now import augmentation_now, loss_and_metrics_now, optimizer_program
from jaxtrain.train._records import ROW_RECORDS, TRAIN_PREFIX
from jaxtrain.train._sharding import Placement, resolve_placement
from jaxtrain.train._step import STEP_RECORDS

__all__ = ["FitSettings", "resolve_settings"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class FitSettings:
    """Everything a ``fit`` call resolved from its arguments, every one checked.

    The arguments ``fit`` documents keep their names; the rest are resolved from them.

    Attributes:
      apply: the model's ``apply``; ``params`` and ``model_state`` start the run.
      x: this process's training inputs (NumPy), ``y`` their targets.
      val: the whole validation set ``(x, y)`` as NumPy (every process's share, joined in
        process order), or ``None``.
      metrics: ``(name, function)`` pairs.
      placement: where arrays live: one device, or split over a mesh's data axis.
      on_host: feed each segment's batches from the host instead of keeping the training
        set on the devices.
      plan: how an epoch of the N examples (all processes') is cut into batches.
      processes: how many processes train (``jax.process_count()``).
      total_steps: the run's optimizer steps, partial batches included.
      monitors: the monitors, prepared for this run.
      probe_size: examples in the monitors' shared probe batch; 0 for none.
      key: the run's ``jax.random`` key; ``seed`` the int it came from, or ``None``.
      skip_nonfinite: ``on_nonfinite == "skip"``.
    """

    apply: Callable[..., Any]
    params: Any
    model_state: Any
    optimizer: optax.GradientTransformation
    loss: Callable[..., Any]
    x: np.ndarray
    y: np.ndarray
    val: tuple[np.ndarray, np.ndarray] | None
    metrics: tuple[tuple[str, Callable[..., Any]], ...]
    augment: Callable[..., Any] | None
    placement: Placement
    on_host: bool
    plan: BatchPlan
    processes: int
    total_steps: int
    monitors: tuple[Monitor, ...]
    probe_size: int
    key: jax.Array
    seed: int | None
    skip_nonfinite: bool
    learning_rate: float | Callable[[Any], Any] | None
    eval_batch_size: int | None
    progress: bool
    checkpoint_dir: str | os.PathLike | None
    checkpoint_every: int
    keep_checkpoints: int | None
    resume: bool
    metadata: dict[str, Any] | None

    @property
    def checkpoint_config(self) -> dict[str, Any]:
        """The configuration saved with every checkpoint; a resumed run must match it."""
        return {
            "num_examples": self.plan.num_examples,
            "batch_size": self.plan.batch_size,
            "drop_last": self.plan.drop_last,
            "steps_per_epoch": self.plan.steps_per_epoch,
            "total_steps": self.total_steps,
            "on_nonfinite": "skip" if self.skip_nonfinite else "raise",
            "seed": self.seed,
            "probe_size": self.probe_size,
            "monitors": {monitor.name: monitor.settings() for monitor in self.monitors},
            # Each process shuffles its own examples and draws its share of the probe batch
            # from them: a run resumed by another count continues other batches.
            "processes": self.processes,
        }


def resolve_settings(
    model: Any,
    optimizer: optax.GradientTransformation,
    train_data: tuple[Any, Any],
    *,
    loss: Callable[..., Any],
    epochs: int | None,
    steps: int | None,
    batch_size: int | None,
    val_data: tuple[Any, Any] | None,
    metrics: Sequence[Callable[..., Any]] | Mapping[str, Callable[..., Any]],
    augment: Callable[..., Any] | None,
    seed: int | jax.Array,
    checkpoint_dir: str | os.PathLike | None,
    checkpoint_every: int,
    keep_checkpoints: int | None,
    resume: bool,
    metadata: Mapping[str, Any] | None,
    progress: bool,
    mesh: jax.sharding.Mesh | None,
    drop_last: bool,
    on_nonfinite: str,
    learning_rate: float | Callable[[Any], Any] | None,
    data_on_device: bool | None,
    eval_batch_size: int | None,
    monitors: Sequence[Monitor],
) -> FitSettings:
    """``fit``'s arguments (see :func:`jaxtrain.train.fit`) resolved and checked.

    The plain arguments are checked first, then the model and the data, so a wrong argument
    is reported before any model is traced.

    Raises:
      ValueError: for every bad argument or data set ``fit`` lists.
    """
    epochs, steps = _run_length(epochs, steps)
    _check_step_arguments(optimizer, loss, augment, on_nonfinite)
    # Checked whatever the other arguments say, so that a bad value never waits for the
    # run that would use it.
    drop_last = check_flag(drop_last, "drop_last")
    progress = check_flag(progress, "progress")
    resume = check_flag(resume, "resume")
    data_on_device = check_flag(data_on_device, "data_on_device", or_none=True)
    eval_batch_size = check_positive_int(eval_batch_size, "eval_batch_size", or_none=True)
    keep_checkpoints = check_positive_int(keep_checkpoints, "keep_checkpoints", or_none=True)
    learning_rate = _check_learning_rate(learning_rate)
    checkpoint_every, metadata = _checkpoint_arguments(
        checkpoint_dir, checkpoint_every, resume, metadata
    )
    apply, params, model_state = split_model(model)
    named_metrics = metric_names(metrics)
    (x, y), sizes = checked_share(train_data, apply, params, model_state, name="train_data")
    placement = resolve_placement(mesh)
    processes = jax.process_count()
    on_host = _feeds_from_host(data_on_device, processes)
    plan = _batch_plan(_global_num_examples(sizes), batch_size, drop_last, processes, placement)
    monitors = check_monitors(monitors)
    setup = RunSetup(optimizer, optimizer.init(params), params, plan.num_examples, plan.batch_size)
    monitors = tuple(m.prepare(setup) for m in monitors)
    check_record_names(monitors, params, (*STEP_RECORDS, *ROW_RECORDS), prefix=TRAIN_PREFIX)
    probe_size = _probe_size(monitors, plan.num_examples, processes)
    val = None
    if val_data is not None:
        val = every_share(val_data, apply, params, model_state, name="val_data")
        check_loss_takes(loss, apply, params, model_state, val, name="val_data")
    for m in monitors:
        if m.uses_half_gradients and not m.needs_whole_batch_gradient:
            check_loss_is_a_mean(loss, apply, params, model_state, (x, y), monitor_name=m.name)
    key = _as_key(seed)
    # Read last, once every argument passed its checks.
    loss, named_metrics = loss_and_metrics_now(
        loss, named_metrics, apply, params, model_state, (x, y)
    )
    augment = augmentation_now(augment, key, x)
    settings = FitSettings(
        apply=apply,
        params=params,
        model_state=model_state,
        optimizer=optimizer,
        loss=loss,
        x=x,
        y=y,
        val=val,
        metrics=named_metrics,
        augment=augment,
        placement=placement,
        on_host=on_host,
        plan=plan,
        processes=processes,
        total_steps=epochs * plan.steps_per_epoch if epochs is not None else steps,
        monitors=monitors,
        probe_size=probe_size,
        key=key,
        seed=int(seed) if isinstance(seed, int | np.integer) else None,
        skip_nonfinite=on_nonfinite == "skip",
        learning_rate=learning_rate,
        eval_batch_size=eval_batch_size,
        progress=progress,
        checkpoint_dir=checkpoint_dir,
        checkpoint_every=checkpoint_every,
        keep_checkpoints=keep_checkpoints,
        resume=resume,
        metadata=metadata,
    )
    if processes > 1:
        check_same_run(_run_digests(settings, setup.opt_state))
    return settings


def _run_digests(settings: FitSettings, opt_state: Any) -> dict[str, int]:
    """The CRC-32 of what every process's run must share, by name: each argument that shapes
    the run, the key, the initial values of the model (the parts this process holds whole: a
    state the processes trained spans them all already) and the optimizer (its program, the
    arrays it closes over, and its initial state, where ``inject_hyperparams`` keeps η)."""
    arguments = {
        **settings.checkpoint_config,
        "eval_batch_size": settings.eval_batch_size,
        "checkpoint_every": settings.checkpoint_every,
        "resume": settings.resume,
        "data_on_device": not settings.on_host,
        "learning_rate": settings.learning_rate,
    }
    digests = {
        name: zlib.crc32(json.dumps(value, sort_keys=True, default=_named).encode())
        for name, value in arguments.items()
    }
    program = optimizer_program(settings.optimizer, settings.params, opt_state)
    optimizer = zlib.crc32(str(program).encode()) if program is not None else 0
    return {
        **digests,
        "seed": _leaves_crc(settings.key),
        "initial model": _leaves_crc((settings.params, settings.model_state)),
        "optimizer": _leaves_crc(
            (program.consts if program is not None else [], opt_state), optimizer
        ),
    }


def _named(value: Any) -> str:
    """A function by its qualified name, anything else by its text (for a digest)."""
    return getattr(value, "__qualname__", None) or str(value)


def _leaves_crc(tree: Any, crc: int = 0) -> int:
    """The CRC-32 of the bytes of every leaf this process holds whole, leaf by leaf (no copy
    of the whole tree): a typed key by its data, a leaf spread over the processes skipped."""
    for leaf in jax.tree.leaves(tree):
        if isinstance(leaf, jax.Array):
            if not leaf.is_fully_addressable:
                continue
            if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
                leaf = jax.random.key_data(leaf)
        crc = zlib.crc32(np.ascontiguousarray(jax.device_get(leaf)).tobytes(), crc)
    return crc


def _run_length(epochs: Any, steps: Any) -> tuple[int | None, int | None]:
    """``(epochs, steps)`` as ints, exactly one of them given."""
    if (epochs is None) == (steps is None):
        raise ValueError("give exactly one of epochs= and steps=")
    if epochs is not None:
        epochs = check_positive_int(epochs, "epochs")
    if steps is not None:
        steps = check_positive_int(steps, "steps")
    return epochs, steps


def _check_learning_rate(value: Any) -> float | Callable[[Any], Any] | None:
    """``value`` (a number as a float): ``None``, a schedule, or a finite number ≥ 0, since
    the record takes it as given and a NaN or negative η describes no update."""
    if value is None or callable(value):
        return value
    is_number = (
        not isinstance(value, bool)
        and np.ndim(value) == 0
        and np.asarray(value).dtype.kind in "iuf"
    )
    if not (is_number and math.isfinite(float(value)) and float(value) >= 0):
        raise ValueError(
            f"learning_rate must be a finite number ≥ 0, a schedule t -> η, or None; got {value!r}"
        )
    return float(value)


def _check_step_arguments(optimizer: Any, loss: Any, augment: Any, on_nonfinite: Any) -> None:
    """What the compiled step is built from, checked before it is traced."""
    if on_nonfinite not in NONFINITE_POLICIES:
        raise ValueError(f"on_nonfinite must be 'raise' or 'skip'; got {on_nonfinite!r}")
    if not (hasattr(optimizer, "init") and hasattr(optimizer, "update")):
        raise ValueError(
            f"optimizer must be an optax.GradientTransformation; got {type(optimizer).__name__}"
        )
    if not callable(loss):
        raise ValueError(f"loss must be a function loss(predictions, targets); got {loss!r}")
    if augment is not None and not callable(augment):
        raise ValueError(f"augment must be a function aug(key, x) -> x; got {augment!r}")


def _checkpoint_arguments(
    checkpoint_dir: Any, checkpoint_every: Any, resume: bool, metadata: Any
) -> tuple[int, dict[str, Any] | None]:
    """``(checkpoint_every, metadata)`` checked; ``metadata`` as JSON-ready data."""
    checkpoint_every = check_positive_int(checkpoint_every, "checkpoint_every")
    if resume and checkpoint_dir is None:
        raise ValueError("resume=True needs the checkpoint_dir to resume from")
    if metadata is not None:
        metadata = json_ready(dict(metadata), "metadata")
    return checkpoint_every, metadata


def _feeds_from_host(data_on_device: bool | None, processes: int) -> bool:
    """Whether batches are sent from the host: asked for, or by default with several processes."""
    if data_on_device and processes > 1:
        raise ValueError(
            "data_on_device=True needs a single process; with several, each process feeds "
            "its own examples from the host"
        )
    return not data_on_device if data_on_device is not None else processes > 1


def _global_num_examples(sizes: np.ndarray) -> int:
    """N over all processes (``sizes``: each one's share), which must pass equal shares."""
    if len(set(sizes.tolist())) != 1:
        raise ValueError(
            "every process must pass the same number of training examples; got "
            f"{', '.join(map(str, sizes.tolist()))} (processes 0..{len(sizes) - 1})"
        )
    return int(sizes.sum())


def _batch_plan(
    num_examples: int,
    batch_size: int | None,
    drop_last: bool,
    processes: int,
    placement: Placement,
) -> BatchPlan:
    """The epoch's batches, checked to divide among the processes and the data axis."""
    plan = BatchPlan.create(num_examples, batch_size, drop_last=drop_last)
    if plan.batch_size % processes or plan.remainder % processes:
        raise ValueError(
            f"with {processes} processes, batch_size ({plan.batch_size}) and the last "
            f"partial batch ({plan.remainder}) must divide among them"
        )
    shards = placement.num_shards
    if plan.num_full and plan.batch_size % shards:
        lower = plan.batch_size - plan.batch_size % shards
        # Only sizes the data can fill: a full batch of 10 over 4 devices cannot take 12.
        sizes = [
            s for s in dict.fromkeys((max(lower, shards), lower + shards)) if s <= num_examples
        ]
        example = f" (e.g. {' or '.join(map(str, sizes))})" if sizes else ""
        raise ValueError(
            f"batch_size={plan.batch_size} does not split over the {shards} devices of the "
            f"data axis; use a multiple of {shards}{example}, or pass a mesh with fewer devices"
        )
    return plan


def _probe_size(monitors: tuple[Monitor, ...], num_examples: int, processes: int) -> int:
    """The size of the probe batch the monitors share: the largest asked, a monitor without a
    size asking for its default min(N, 2048), rounded down to a multiple of the processes
    (each draws its share from its own examples); 0 for none."""
    default = min(num_examples, DEFAULT_PROBE_SIZE) // processes * processes
    asked = [default if m.probe_size is None else m.probe_size for m in monitors if m.uses_probe]
    if not asked:
        return 0
    size = max(asked)
    if size > num_examples:
        raise ValueError(
            f"probe_size={size} exceeds the {counted(num_examples, 'training example')}"
        )
    if size % processes:
        raise ValueError(
            f"a monitor's probe_size ({size}) must divide among the {processes} processes, "
            f"each drawing its share from its own examples: e.g. {size // processes * processes}"
        )
    return size


def _as_key(seed: Any) -> jax.Array:
    if is_int(seed):
        # A key holds 32 bits of a seed without x64: 2³² + 7 would be 7 (and not with x64).
        if not 0 <= seed < 2**32:
            raise ValueError(
                f"seed must be an int in [0, 2³²) (a jax.random key holds 32 bits of it) or a "
                f"jax.random key; got {seed!r}"
            )
        return jax.random.key(int(seed))
    if is_one_key(seed):
        typed = jax.dtypes.issubdtype(seed.dtype, jax.dtypes.prng_key)
        return seed if typed else jax.random.wrap_key_data(jnp.asarray(seed))
    raise ValueError(f"seed must be an int or a jax.random key; got {seed!r}")
