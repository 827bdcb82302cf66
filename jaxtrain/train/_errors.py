"""The errors training raises: a non-finite step, and checkpoints that do not fit, are damaged,
or live in a directory jaxtrain may not write."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "CheckpointCorruptError",
    "CheckpointDirectoryError",
    "CheckpointMismatchError",
    "NonFiniteLossError",
]


class NonFiniteLossError(ValueError):
    """A training step was not finite; neither it nor anything after it was applied.

    A step is not finite when its loss or gradient is NaN or infinite, or when the state it
    would produce is: any parameter, model state (BatchNorm statistics) or optimizer state
    (e.g. after a NaN learning rate, or an overflow in the update). :func:`jaxtrain.train.fit`
    raises it with ``on_nonfinite="raise"`` (the default) at the end of the epoch in which the
    first bad step happened: the check runs inside the compiled step, on a flag carried
    through the scanned steps, so no step waits for the host. The steps after the bad one in
    that epoch are not applied either, so :attr:`state` is the last finite state, and no
    checkpoint is written after it (the last good one stays on disk).

    Attributes:
      reason: what was not finite, at which step (0-based, as History's rows) and which batch
        of which epoch (both counted from 1): the message's first sentence, without the
        advice that follows it in the Python API's terms.
      step: the global step (0-based) that was not finite.
      epoch: the epoch (0-based) of that step.
      loss: the loss value at that step (NaN or ±inf; finite when only the gradient or the
        updated state was not).
      state: the :class:`~jaxtrain.train.TrainState` just before that step.
      history: the :class:`~jaxtrain.train.History` up to and including that epoch's steps.
      last_checkpoint: the step of the newest checkpoint on disk, kept as it was, or ``None``
        (no ``checkpoint_dir``, or none saved yet).

    Examples:
      >>> from jaxtrain.train import NonFiniteLossError
      >>> issubclass(NonFiniteLossError, ValueError)
      True
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str = "",
        step: int,
        epoch: int,
        loss: float,
        state: Any = None,
        history: Any = None,
        last_checkpoint: int | None = None,
    ):
        super().__init__(message)
        self.reason = reason or message
        self.step = step
        self.epoch = epoch
        self.loss = loss
        self.state = state
        self.history = history
        self.last_checkpoint = last_checkpoint


class CheckpointMismatchError(ValueError):
    """A checkpoint's tree of arrays does not fit the model or optimizer it is loaded into.

    Raised by :func:`jaxtrain.train.load_checkpoint` and by ``fit(..., resume=True)`` before
    any array is read: the checkpoint stores a fingerprint (every leaf's path, shape,
    dtype and the type names of the nodes above it), and a target whose fingerprint differs
    is refused whole, never loaded in part. The message lists the first differences.

    Examples:
      >>> from jaxtrain.train import CheckpointMismatchError
      >>> issubclass(CheckpointMismatchError, ValueError)
      True
    """


class CheckpointCorruptError(ValueError):
    """A checkpoint's files changed, are missing or are cut short since they were saved.

    Every checkpoint step records the size and SHA-256 of each of its files once orbax has
    committed it; :func:`jaxtrain.train.load_checkpoint` (and so ``fit(..., resume=True)``
    and ``jaxtrain hessian``) compares them before anything is read, and refuses the whole
    step, naming it and the first damaged file and its item (``params``, ``opt_state``...).

    Examples:
      >>> from jaxtrain.train import CheckpointCorruptError
      >>> issubclass(CheckpointCorruptError, ValueError)
      True
    """


class CheckpointDirectoryError(ValueError):
    """jaxtrain may not write checkpoints into this directory, for the reason the message gives.

    Raised by ``fit(checkpoint_dir=...)`` before the first step and by
    :func:`jaxtrain.train.save_checkpoint` before writing: the path is a file; the directory
    holds files but is not a jaxtrain checkpoint directory (it has no manifest); another
    process is writing to it (it holds the directory's lock); its checkpoints are of another
    run (another seed); or a step folder that this run did not write is in the way. ``fit``
    also raises it for a directory that holds checkpoints when ``resume`` is False.

    Attributes:
      steps: the checkpoint steps already in the directory where they are why it was
        refused (``fit`` without ``resume``); empty otherwise.

    Examples:
      >>> from jaxtrain.train import CheckpointDirectoryError
      >>> issubclass(CheckpointDirectoryError, ValueError)
      True
    """

    def __init__(self, message: str, *, steps: Sequence[int] = ()):
        super().__init__(message)
        self.steps = tuple(steps)
