"""The errors training raises: a non-finite loss, and a checkpoint that does not fit."""

from __future__ import annotations

from typing import Any

__all__ = ["CheckpointMismatchError", "NonFiniteLossError"]


class NonFiniteLossError(ValueError):
    """Training produced a NaN or infinite loss (or gradient); nothing after it was applied.

    :func:`jaxtrain.train.fit` raises it with ``on_nonfinite="raise"`` (the default) at the
    end of the epoch in which the first bad step happened: the check runs once per epoch on
    a flag carried through the scanned steps, so no step waits for the host. The steps after
    the bad one in that epoch are not applied either, so :attr:`state` holds the parameters
    of the last good step, and no checkpoint is written after it (the last good one stays
    on disk).

    Attributes:
      step: the global step (0-based) whose loss or gradient was not finite.
      epoch: the epoch (0-based) of that step.
      loss: the loss value at that step (NaN or ±inf; finite when only the gradient was not).
      state: the :class:`~jaxtrain.train.TrainState` just before that step.
      history: the :class:`~jaxtrain.train.History` up to and including that epoch's steps.

    Examples:
      >>> from jaxtrain.train import NonFiniteLossError
      >>> issubclass(NonFiniteLossError, ValueError)
      True
    """

    def __init__(
        self,
        message: str,
        *,
        step: int,
        epoch: int,
        loss: float,
        state: Any = None,
        history: Any = None,
    ):
        super().__init__(message)
        self.step = step
        self.epoch = epoch
        self.loss = loss
        self.state = state
        self.history = history


class CheckpointMismatchError(ValueError):
    """A checkpoint's tree of arrays does not fit the model or optimizer it is loaded into.

    Raised by :func:`jaxtrain.train.load_checkpoint` and by ``fit(..., resume=True)`` before
    any array is read: the checkpoint stores a fingerprint (every leaf's path, shape and
    dtype), and a target whose fingerprint differs is refused whole, never loaded in part.
    The message lists the first differences.

    Examples:
      >>> from jaxtrain.train import CheckpointMismatchError
      >>> issubclass(CheckpointMismatchError, ValueError)
      True
    """
