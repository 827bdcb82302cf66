"""Mean squared error, the lecture's foil for cross-entropy (§5)."""

import jax

from jaxtrain.losses import _checks
from jaxtrain.losses._checks import Reduction


def mse(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike | None = None,
    *,
    reduction: Reduction = "mean",
) -> jax.Array:
    r"""Squared error (ŷ − y)², averaged over every element by default.

    .. math::

        e = \frac{1}{n} \sum_k (\hat y_k - y_k)^2

    over all n elements. For classification the lecture feeds it softmax probabilities ŷ and
    one-hot targets y; there its gradient with respect to the logits is multiplied by the
    softmax Jacobian, which vanishes when the softmax saturates, so a bad start sits on a flat
    plateau (see :func:`jaxtrain.lecture.loss_functions.error_surfaces`). Integer class labels
    are one-hot encoded for that use. Without ``targets`` y = 0, as in
    ``optax.losses.squared_error`` (e.g. a penalty ‖ŷ‖²).

    Args:
        predictions: ŷ, floating point, any shape ``[..., C]``.
        targets: y of the same shape (not broadcast; compared in the promoted dtype, as
            optax subtracts), integer class labels of shape ``[...]`` (one-hot encoded to
            C = ``predictions.shape[-1]`` ≥ 2 classes), or ``None`` for zeros.
        reduction: ``"mean"`` over all elements (so over examples and outputs; the default),
            ``"sum"``, or ``"none"`` for elementwise values, equal to
            ``optax.losses.squared_error`` (which returns them by default; its ``l2_loss`` is
            half of them).

    Returns:
        The reduced loss (a scalar) or elementwise squared errors of the predictions' shape.

    Raises:
        ValueError: non-float predictions, targets of another shape, integer labels outside
            ``[0, C)`` (checked only when concrete, not under ``jit``), an unknown
            ``reduction``, or the mean over no elements (an empty batch).

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxtrain.losses import mse
        >>> print(mse(jnp.array([1.0, 2.0, 4.0]), jnp.array([1.0, 0.0, 1.0])).round(4))
        4.3333
        >>> print(mse(jnp.array([1.0, 2.0, 4.0]), reduction="none"))
        [ 1.  4. 16.]
        >>> probs = jnp.array([[0.9, 0.1], [0.2, 0.8]])
        >>> print(mse(probs, jnp.array([0, 0]), reduction="none").round(4))
        [[0.01 0.01]
         [0.64 0.64]]

    References:
        Hui and Belkin, `Evaluation of Neural Architectures Trained with Square Loss vs
        Cross-Entropy in Classification Tasks <https://arxiv.org/abs/2006.07322>`_, 2021.
    """
    _checks.check_reduction(reduction)
    predictions = _checks.as_float(predictions, "predictions")
    _checks.check_mean_has_examples(predictions.shape, reduction)
    if targets is None:
        return _checks.reduce(predictions**2, reduction)
    targets = _checks.as_labels(targets, "targets")
    if _checks.is_integer_labels(targets) and targets.shape != predictions.shape:
        if predictions.ndim < 1 or predictions.shape[-1] < 2:
            # One output is a regression: targets of shape (N,) against (N, 1) are a shape
            # mistake, not one-hot vectors of a single class.
            raise ValueError(
                f"integer targets of shape {targets.shape} need the predictions' shape "
                f"{predictions.shape}, or a class axis of at least 2 classes to be class labels"
            )
        _checks.check_class_labels(
            targets, predictions.shape[:-1], predictions.shape[-1], name="targets"
        )
        targets = jax.nn.one_hot(targets, predictions.shape[-1], dtype=predictions.dtype)
    elif targets.shape != predictions.shape:
        labels_shape = predictions.shape[:-1]
        why = (
            "class labels must be integers"
            if targets.shape == labels_shape
            else f"integer class labels need shape {labels_shape}"
        )
        raise ValueError(
            f"targets must have the predictions' shape {predictions.shape}, got "
            f"{targets.dtype} targets of shape {targets.shape} ({why})"
        )
    # Compared in the promoted dtype, as optax subtracts: float32 targets are not rounded to
    # bfloat16 predictions first.
    dtype = _checks.target_dtype(targets, predictions)
    errors = predictions.astype(dtype) - targets.astype(dtype)
    return _checks.reduce(errors**2, reduction)
