"""A ``fit`` run's checkpoints: when they are written, and when a run may resume from one.

Checkpoints are written between segments (the host sees the state only then): at the end
of every ``every``-th epoch and at the end of the run. A resumed run continues from the
newest checkpoint only when it would draw the same batches; because every random draw is
folded from the key and the step, it then reproduces the uninterrupted run exactly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from jaxtrain._text import counted, listed
from jaxtrain.train._checkpoint import Checkpoint, CheckpointWriter, load_checkpoint
from jaxtrain.train._errors import CheckpointDirectoryError
from jaxtrain.train._history import History
from jaxtrain.train._state import TrainState

__all__ = ["RunCheckpoints", "check_resumable"]

# Settings a resumed run must share with the checkpoint, or its batches would differ.
_BATCHING = ("num_examples", "batch_size", "drop_last")


class RunCheckpoints:
    """The checkpoints of one ``fit`` call in ``directory``; with ``None``, none (no-ops).

    Args:
      directory: the checkpoint directory, or ``None``.
      keep: how many of the newest checkpoints to keep (``None``: all).
      every: save at the end of every this many epochs.
      metadata: the caller's JSON-ready dict, saved with every checkpoint.
      config: the run's configuration, saved with every checkpoint and compared on resume.

    Raises:
      ValueError: if ``keep`` is not a positive int or ``None``.
    """

    def __init__(
        self,
        directory: str | os.PathLike | None,
        *,
        keep: int | None,
        every: int,
        metadata: Mapping[str, Any] | None,
        config: Mapping[str, Any],
    ):
        self._writer = None if directory is None else CheckpointWriter(directory, keep=keep)
        self._every, self._metadata, self._config = every, metadata, config

    def start(self, state: TrainState, *, resume: bool) -> tuple[TrainState, History]:
        """The state and history the run starts from, with the directory opened and locked.

        ``state`` and an empty history, unless ``resume`` and the directory holds a
        checkpoint of this run: then the newest one's state and history. Runs before the
        first step, so a directory that cannot be written is refused before any training.

        Raises:
          CheckpointDirectoryError: the directory is a file, not jaxtrain's, locked by
            another writer, holds the checkpoints of a run with another seed, or holds
            checkpoints and ``resume`` is False (their steps in ``.steps``).
          ValueError: the newest checkpoint does not fit this run (see
            :func:`check_resumable`).
          CheckpointMismatchError: the checkpoint is of another model, optimizer or monitors.
          CheckpointCorruptError: the newest checkpoint's files changed since it was saved.
        """
        if self._writer is None:
            return state, History()
        existing = self._writer.steps()
        if existing and not resume:
            raise CheckpointDirectoryError(
                f"{self._writer.directory} already holds checkpoints ({listed(existing, 'step')}); "
                "pass resume=True to continue that run, or choose a new directory",
                steps=existing,
            )
        # Loaded before the claim: a checkpoint of another model or optimizer is refused by
        # the load, which lists the differences.
        checkpoint = None
        if existing:
            checkpoint = load_checkpoint(self._writer.directory, state, step=existing[-1])
            check_resumable(checkpoint, self._config)
        self._writer.claim(state, self._config.get("seed"))
        if checkpoint is None:
            return state, History()
        return checkpoint.state, checkpoint.history or History()

    def after_segment(
        self, state: TrainState, history: History, *, epoch: int, ends_epoch: bool, ends_run: bool
    ) -> None:
        """Saves after a segment of epoch ``epoch`` that ends every-th epoch, or the run."""
        if self._writer is not None and (
            (ends_epoch and (epoch + 1) % self._every == 0) or ends_run
        ):
            self._save(state, history)

    def epochs_until_save(self, epoch: int) -> int | None:
        """How many epochs from ``epoch`` on (itself included) run until one ends with a save;
        ``None`` without a directory."""
        return None if self._writer is None else self._every - epoch % self._every

    def finish(self, state: TrainState, history: History, *, step: int) -> None:
        """Saves the final state unless its step is already on disk."""
        if self._writer is not None and step not in self._writer.steps():
            self._save(state, history)

    def latest(self) -> int | None:
        """The step of the newest checkpoint on disk, or ``None``."""
        steps = self._writer.steps() if self._writer is not None else []
        return steps[-1] if steps else None

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()

    def _save(self, state: TrainState, history: History) -> None:
        self._writer.save(state, history=history, metadata=self._metadata, config=self._config)


def _batching_value(config: Mapping[str, Any], name: str) -> Any:
    """A batching setting as it acts on the batches: ``drop_last`` only where the examples
    leave a partial batch to drop."""
    if name == "drop_last":
        size, count = config.get("batch_size"), config.get("num_examples")
        if size and count is not None and count % size == 0:
            return None
    return config[name]


def _check_monitor_settings(saved: Mapping[str, Any], current: Mapping[str, Any]) -> None:
    """Refuses a monitor of the checkpoint's name with other settings than it had there: its
    history column would join two settings' values (``every`` may change)."""
    for name in sorted(set(saved) & set(current)):
        before, now = saved[name], current[name]
        changed = [
            f"{key}={_shown(before.get(key))} → {_shown(now.get(key))}"
            for key in sorted(set(before) | set(now))
            if before.get(key) != now.get(key)
        ]
        if changed:
            raise ValueError(
                f"cannot resume: the checkpoint's monitor {name!r} measured with other settings "
                f"({', '.join(changed)}); its records would join two settings' values in one "
                "column. Use the checkpoint's settings (any every), or a new directory."
            )


def _shown(value: Any) -> str:
    """A setting as typed: floats are kept as the float32 the monitors use (0.001, not
    0.0010000000474974513)."""
    return f"{value:.7g}" if isinstance(value, float) else repr(value)


def _check_processes(checkpoint: Checkpoint, config: Mapping[str, Any]) -> None:
    """Refuses a checkpoint written by another number of processes where the run would not
    continue as it began: in the middle of an epoch, or with a probe batch.

    Each process shuffles its own examples (seeded by its index) and draws its share of the
    monitors' probe batch from them. At the end of an epoch another count is fine: the next
    epoch is shuffled anew. In the middle of one, the rest of it would be cut from other
    shuffles, training some examples twice and skipping others; and the probe batch would be
    other examples, joining two probes' measurements in one column.
    """
    # A checkpoint written before the count was recorded does not say how many processes
    # wrote it. Taking it for one process would refuse the mid-epoch resume of every earlier
    # multi-process run with its own count, which was exact; unknown, it resumes as it did.
    saved = checkpoint.config.get("processes")
    now = config.get("processes", 1)
    if saved is None or saved == now:
        return
    wrote = counted(saved, "process", "processes")
    steps_per_epoch = config["steps_per_epoch"]
    if checkpoint.step % steps_per_epoch:
        raise ValueError(
            f"cannot resume: the checkpoint was written by {wrote} in the middle of an epoch "
            f"(step {checkpoint.step}; epochs end every {counted(steps_per_epoch, 'step')}), "
            f"and this run has {now}; each process shuffles its own examples, so the rest of "
            f"that epoch would train some examples twice and skip others. Resume with {saved}, "
            "or from a checkpoint at the end of an epoch (fit saves one there every "
            "checkpoint_every epochs), or use a new directory."
        )
    saved_probe = checkpoint.config.get("probe_size") or 0
    if saved_probe and config["probe_size"]:
        raise ValueError(
            f"cannot resume: the checkpoint's monitors measured on a probe batch of "
            f"{counted(saved_probe, 'example')} drawn by {wrote}, each from its own examples, "
            f"and this run has {now}: its probe would be other examples, and the measurements "
            f"of the two would join in one column. Resume with {saved}, without the monitors "
            "that use a probe batch, or use a new directory."
        )


def check_resumable(checkpoint: Checkpoint, config: Mapping[str, Any]) -> None:
    """Refuses a checkpoint that this run cannot continue.

    Raises:
      ValueError: the checkpoint was written with other batching (``_BATCHING``: the batches
        would differ), another probe batch size for the monitors, or by another number of
        processes in the middle of an epoch or with a probe batch (see
        :func:`_check_processes`), or it is past the run's ``total_steps``.
    """
    saved = checkpoint.config
    for name in _BATCHING:
        if name in saved and _batching_value(saved, name) != _batching_value(config, name):
            raise ValueError(
                f"cannot resume: the checkpoint was written with {name}={saved[name]}, this "
                f"run has {name}={config[name]}; the batches would differ. Use the same data "
                "and batching, or a new directory."
            )
    saved_probe = saved.get("probe_size") or 0
    probe_size = config["probe_size"]
    if saved_probe and probe_size and saved_probe != probe_size:
        raise ValueError(
            f"cannot resume: the checkpoint's monitors used a probe batch of "
            f"{counted(saved_probe, 'example')}, this run's use {probe_size}; their "
            "measurements would differ. Use the same probe_size, or a new directory."
        )
    _check_processes(checkpoint, config)
    _check_monitor_settings(saved.get("monitors") or {}, config.get("monitors") or {})
    if checkpoint.step > config["total_steps"]:
        raise ValueError(
            f"cannot resume: the checkpoint is at step {checkpoint.step}, past the "
            f"{counted(config['total_steps'], 'step')} this run asks for"
        )
