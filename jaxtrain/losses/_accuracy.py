"""Classification accuracy, the metric the losses stand in for (§5)."""

import jax
import jax.numpy as jnp

from jaxtrain.losses import _checks
from jaxtrain.losses._checks import Reduction


def accuracy(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    reduction: Reduction = "mean",
) -> jax.Array:
    r"""Fraction of examples whose highest logit is the label's class.

    .. math::

        \text{acc} = \frac{1}{N} \sum_n [\arg\max_i z_{n,i} = c_n]

    with cₙ the label, or the argmax of the one-hot / soft target. Accuracy is what one wants;
    it is piecewise constant in the parameters (zero gradient almost everywhere), which is why
    training minimizes cross-entropy instead. An example with a NaN among its logits counts
    as wrong: it has no highest logit (``argmax`` would pick the NaN's class, and a diverged
    model would score the share of class 0).

    Args:
        logits: scores z of shape ``[..., C]`` (logits or probabilities; only the order counts).
        labels: integer class indices of shape ``[...]`` in ``[0, C)``, or one-hot / soft targets
            of shape ``[..., C]``.
        reduction: ``"mean"``, ``"sum"`` (number correct) or ``"none"`` (1.0 where correct).

    Returns:
        The accuracy (float32 scalar) or per-example correctness.

    Raises:
        ValueError: non-float logits, labels of the wrong shape or dtype, labels outside
            ``[0, C)`` (checked only when concrete, not under ``jit``), an unknown ``reduction``,
            or the mean over no examples (an empty batch).

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxtrain.losses import accuracy
        >>> logits = jnp.array([[2.0, 0.0], [0.0, 1.0], [3.0, -1.0]])
        >>> print(accuracy(logits, jnp.array([0, 1, 1])).round(4))
        0.6667
    """
    _checks.check_reduction(reduction)
    logits = _checks.as_float(logits, "logits")
    if logits.ndim < 1:
        raise ValueError(f"logits must have a class axis, got shape {logits.shape}")
    _checks.check_mean_has_examples(logits.shape[:-1], reduction)
    labels = _checks.as_labels(labels)
    # Labels of the logits' shape are one-hot (any dtype); indices lack the class axis.
    if not _checks.checked_class_indices(labels, logits, logits.shape[:-1], logits.shape[-1]):
        labels = jnp.argmax(labels, axis=-1)
    # argmax returns a NaN's index, which would score a diverged model (all-NaN logits) at
    # the share of class 0: a row with any NaN has no highest logit, so it is wrong.
    predicted = jnp.argmax(logits, axis=-1)
    correct = (predicted == labels) & ~jnp.any(jnp.isnan(logits), axis=-1)
    return _checks.reduce(correct.astype(jnp.float32), reduction)
