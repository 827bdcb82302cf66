"""The yardstick of "large": the loss of the best prediction that ignores the input."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from jaxtrain._numbers import is_int
from jaxtrain.data import check_class_labels

__all__ = ["baseline_loss", "default_loss", "infer_task", "resolved_loss"]

_TASKS = ("classification", "regression")


def infer_task(y: Any) -> str:
    """``"classification"`` for integer (or boolean) targets, ``"regression"`` for floats.

    Args:
      y: the training targets.

    Returns:
      ``"classification"`` or ``"regression"``.

    Raises:
      ValueError: for targets that are neither integers nor floats.

    Examples:
      >>> import numpy as np
      >>> from jaxtrain.diagnose import infer_task
      >>> infer_task(np.array([0, 2, 1])), infer_task(np.array([[0.5], [1.5]]))
      ('classification', 'regression')
    """
    kind = np.asarray(y).dtype.kind
    if kind in "biu":
        return "classification"
    if kind == "f":
        return "regression"
    raise ValueError(
        f"targets must be integer class labels or float regression targets; got dtype "
        f"{np.asarray(y).dtype}."
    )


def default_loss(task: str) -> Callable[..., Any]:
    """Softmax cross-entropy for classification, mean squared error for regression.

    Args:
      task: ``"classification"`` or ``"regression"``.

    Returns:
      :func:`jaxtrain.losses.softmax_cross_entropy` or :func:`jaxtrain.losses.mse`.

    Raises:
      ValueError: for another task.

    Examples:
      >>> from jaxtrain.diagnose import default_loss
      >>> default_loss("regression").__name__
      'mse'
    """
    from jaxtrain import losses

    if task == "classification":
        return losses.softmax_cross_entropy
    if task == "regression":
        return losses.mse
    raise ValueError(f"unknown task {task!r}; choose from {_TASKS}.")


def resolved_loss(loss: Any, task: str) -> Callable[..., Any]:
    """``loss`` itself, or :func:`default_loss` of ``task`` for ``"auto"``; a clear error else."""
    if isinstance(loss, str) and loss == "auto":
        return default_loss(task)
    if callable(loss):
        return loss
    raise ValueError(f"`loss` must be 'auto' or a function (predictions, targets); got {loss!r}.")


def baseline_loss(
    loss: Callable[..., Any],
    y_train: Any,
    *,
    task: str,
    num_classes: int | None = None,
    outputs: int | tuple[int, ...] | None = None,
) -> float:
    """B: the loss of the best constant prediction, the unit in which "large" is measured.

    A model that ignores its input can at best predict the label statistics. For
    classification that is the class prior πₖ = nₖ/N, as logits zₖ = log πₖ, whose
    cross-entropy is the label entropy H(π) = −Σₖ πₖ log πₖ; for regression the target mean
    ȳ, whose MSE is the target variance. ``loss`` is evaluated on that constant prediction,
    so any loss taking logits (or predictions shaped like the targets) works. L/B ≈ 1 means
    nothing learned beyond the label statistics, L/B ≈ 0 a perfect fit.

    Args:
      loss: ``loss(predictions, targets) -> scalar``.
      y_train: the training targets (int labels, or float targets (N,) or (N, d)).
      task: ``"classification"`` or ``"regression"``.
      num_classes: K, the width of the logits (default: the largest label + 1).
      outputs: the model's output width, where known, or the shape of its output for one
        example: ``()`` for one value per example, outputs (N,); an int w is ``(w,)``. One
        output for classification is a binary classifier's single logit (a sigmoid): its
        constant prediction is the logit log(π₁/π₀), in the model's output shape, and the
        labels must be 0 and 1.

    Returns:
      B as a Python float, > 0.

    Raises:
      ValueError: for an unknown task, empty targets, negative labels, or constant targets
        (a single class, or one value), whose B is 0: no loss can be judged against it.
      LabelError: (a ValueError) for a label outside 0..num_classes − 1 when
        ``num_classes`` is given, checked before the class counts are allocated.

    Examples:
      >>> import numpy as np
      >>> from jaxtrain import losses
      >>> from jaxtrain.diagnose import baseline_loss
      >>> y = np.array([0, 0, 1, 1])
      >>> round(baseline_loss(losses.softmax_cross_entropy, y, task="classification"), 4)
      0.6931
      >>> baseline_loss(losses.mse, np.array([[1.0], [3.0]]), task="regression")
      1.0
    """
    y = np.asarray(y_train)
    if y.shape[0] == 0:
        raise ValueError("`y_train` is empty: there is no baseline without training targets.")
    example_shape = _example_shape(outputs) if task == "classification" else None
    if task == "classification" and y.size != y.shape[0]:
        raise ValueError(
            f"class labels must be one per example, (N,) or (N, 1); got `y_train` of shape "
            f"{y.shape}."
        )
    if task == "classification" and example_shape in ((), (1,)):
        check_class_labels(y.reshape(-1), 2, name="y_train")
        share = float(np.mean(y == 1))
        value = 0.0  # one class only: nothing to learn, refused below
        if 0 < share < 1:
            logit = math.log(share / (1 - share))
            predictions = np.full((y.shape[0], *example_shape), logit, np.float32)
            # The labels in the shape training passes them, as numbers (bool labels too).
            value = float(_loss_of(loss, predictions, y.astype(np.int32)))
    elif task == "classification":
        if num_classes is not None:
            # Before the count: np.bincount sizes its result by the largest label.
            check_class_labels(y.reshape(-1), int(num_classes), name="y_train")
        labels = y.astype(np.int64).reshape(-1)
        if labels.min() < 0:
            raise ValueError(f"class labels must be >= 0; got {int(labels.min())}.")
        k = int(labels.max()) + 1 if num_classes is None else int(num_classes)
        prior = np.bincount(labels, minlength=k)[:k] / labels.size
        # An absent class gets a finite, very negative logit: −inf would turn 0·log 0 into NaN.
        logits = np.log(np.maximum(prior, 1e-12)).astype(np.float32)
        predictions = np.broadcast_to(logits, (labels.size, k))
        # K logits take one int label per example (bool labels and a column (N, 1) too).
        value = float(_loss_of(loss, predictions, labels.astype(np.int32)))
    elif task == "regression":
        mean = y.astype(np.float64).mean(axis=0)
        predictions = np.broadcast_to(mean, y.shape).astype(np.float32)
        value = float(_loss_of(loss, predictions, y.astype(np.float32)))
    else:
        raise ValueError(f"unknown task {task!r}; choose from {_TASKS}.")
    if not math.isfinite(value):
        raise ValueError(
            f"the constant predictor's loss is not finite ({value}): the targets hold NaN or "
            "infinite values, their squares overflow float32, or the loss does not suit the "
            "model's outputs (a one-output classifier needs a sigmoid loss); check both."
        )
    flat = y.reshape(y.shape[0], -1)
    constant = value <= 0 or bool(np.all(flat == flat[0]))
    if constant:
        # Every loss is judged as a multiple of B: with B = 0 a rounding error would read as
        # "far above the baseline" and a perfect fit as model bias. (Small but varying
        # targets keep a small B: a scale, not a constant.)
        raise ValueError(
            f"the constant predictor already reaches a loss of {value:.3g}: the training "
            f"targets are constant (every one {y.reshape(y.shape[0], -1)[0].tolist()}), so "
            "there is nothing to learn and no scale to judge a loss against; check the targets."
        )
    return value


def _example_shape(outputs: int | tuple[int, ...] | None) -> tuple[int, ...] | None:
    """The shape of the model's output for one example: ``outputs`` as a tuple."""
    if outputs is None:
        return None
    shape = (outputs,) if is_int(outputs) else tuple(outputs)
    if len(shape) > 1 or any(not is_int(size) or size < 1 for size in shape):
        raise ValueError(
            "`outputs` must be the model's output width (an int >= 1), or the shape of its "
            f"output for one example, () or (width,); got {outputs!r}."
        )
    return tuple(int(size) for size in shape)


def _loss_of(loss: Callable[..., Any], predictions: np.ndarray, targets: np.ndarray) -> jax.Array:
    # One program: run eagerly, a loss compiles each of its operations on its own.
    from jaxtrain.curvature._operators import as_pytree_callable

    return _loss_program(as_pytree_callable(loss, (predictions, targets)), predictions, targets)


@jax.jit
def _loss_program(loss: Any, predictions: jax.Array, targets: jax.Array) -> jax.Array:
    return loss(predictions, targets)
