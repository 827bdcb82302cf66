"""``fit``'s non-finite policy: stop at the first bad step with its last good state, or skip.

Every step records whether its loss and its gradient norm are finite, and each call whether
its last state is (computed inside the compiled call; a call with a bad flag runs again with
every step checking the state it produces, :meth:`~jaxtrain.train._feed.Feed.run`), and the
host reads those flags once per segment, never per step. ``"skip"`` is applied inside the
compiled step (a bad step's updates are dropped, see
:class:`~jaxtrain.train._step.StepFunctions`).
``"raise"`` is here: the segment's call also returned a copy of the state it started from,
and on a bad step the steps before it are replayed from that copy, so the error carries the
state just before the bad step.
"""

from __future__ import annotations

import math
from typing import NoReturn

import numpy as np

from jaxtrain.train._errors import NonFiniteLossError
from jaxtrain.train._feed import Feed
from jaxtrain.train._history import History
from jaxtrain.train._records import step_rows
from jaxtrain.train._state import TrainState

__all__ = ["NONFINITE_POLICIES", "raise_at_first_nonfinite"]

NONFINITE_POLICIES = ("raise", "skip")


def raise_at_first_nonfinite(
    feed: Feed,
    before: TrainState,
    records: dict[str, np.ndarray],
    sizes: np.ndarray,
    history: History,
    *,
    first: int,
    last_checkpoint: int | None,
) -> NoReturn:
    """Raises :class:`NonFiniteLossError` for the segment's first non-finite step.

    Args:
      feed: the run's feed, which replays the steps before the bad one.
      before: the state the segment started from (donated to the replay).
      records: the segment's step records, with at least one ``finite`` flag False.
      sizes: the segment's batch sizes.
      history: the run's history; the steps up to and including the bad one are added.
      first: the segment's first step.
      last_checkpoint: the step of the newest checkpoint on disk, or ``None``.
    """
    bad = int(np.argmin(records["finite"].astype(bool)))
    good = before
    if bad:
        good, _, _ = feed.run(before, first, first + bad)
    history.append_steps(step_rows(records, sizes, bad + 1))
    spe = feed.plan.steps_per_epoch
    step = first + bad
    epoch, batch = divmod(step, spe)
    value = float(records["loss"][bad])
    kept = (
        f"The last good checkpoint (step {last_checkpoint}) is kept. "
        if last_checkpoint is not None
        else ""
    )
    reason = _reason(
        value=value,
        grad_norm=float(records["grad_norm"][bad]),
        step=step,
        epoch=epoch,
        batch=batch,
        spe=spe,
    )
    raise NonFiniteLossError(
        _message(reason, kept=kept),
        reason=reason,
        step=step,
        epoch=epoch,
        loss=value,
        state=good,
        history=history,
        last_checkpoint=last_checkpoint,
    )


def _non_finite(value: float) -> str:
    """A non-finite number in words: NaN (not a number, 0/0 or ∞ − ∞) or an infinity."""
    if math.isnan(value):
        return "NaN (not a number)"
    return "+∞ (it overflowed)" if value > 0 else "−∞ (it overflowed)"


def _reason(*, value: float, grad_norm: float, step: int, epoch: int, batch: int, spe: int) -> str:
    """What was not finite, and where: the message's first sentence, for any front end."""
    if not math.isfinite(value):
        what = f"the training loss is {_non_finite(value)}"
    elif not math.isfinite(grad_norm):
        what = f"the gradient norm is {_non_finite(grad_norm)} (loss {value:.4g})"
    else:
        what = (
            "the update made the parameters, model state or optimizer state NaN or infinite "
            f"(loss {value:.4g} and gradient norm {grad_norm:.4g} were finite: a learning "
            "rate or schedule giving NaN or inf, or an update that overflowed)"
        )
    # The step as History's rows count (from 0); its batch and epoch as people count them.
    where = f"step {step} (batch {batch + 1} of {spe} in epoch {epoch + 1})"
    return f"{what} at {where}; training stopped"


def _message(reason: str, *, kept: str) -> str:
    return (
        f"{reason}. The error's .state holds the last finite state, just before that step. "
        f"{kept}Usual causes: (1) a learning rate too large: try a 10x smaller one, gradient "
        "clipping or a warmup schedule; "
        "(2) inputs not normalized: standardize the features (jaxtrain.data."
        "fit_standardizer) or add BatchNorm; (3) bad data: NaN/inf inputs or labels outside "
        "the classes (jaxtrain.data.check_dataset); (4) a loss taking log(0): give "
        "softmax_cross_entropy logits, not probabilities. To skip such steps instead, pass "
        "on_nonfinite='skip'."
    )
