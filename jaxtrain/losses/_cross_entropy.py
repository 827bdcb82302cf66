"""Cross-entropy for classification: softmax over classes, sigmoid for binary outputs (§5)."""

import jax
import jax.numpy as jnp

from jaxtrain.losses import _checks
from jaxtrain.losses._checks import Reduction


def softmax_cross_entropy(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
) -> jax.Array:
    r"""Cross-entropy between ``softmax(logits)`` and the labels.

    The network outputs logits z; softmax turns them into probabilities
    ŷᵢ = exp(zᵢ) / Σⱼ exp(zⱼ), and cross-entropy compares ŷ with the target distribution y:

    .. math::

        e = -\sum_i y_i \log \hat y_i = \operatorname{logsumexp}(z) - \sum_i y_i z_i .

    Minimizing it is maximizing the likelihood of the labels. Unlike the squared error after a
    softmax, its gradient with respect to the logits, ŷ − y, never vanishes while the prediction
    is wrong, which is why the lecture's error surface for cross-entropy has no flat plateau.
    The ``logsumexp`` form stays finite for logits of ±1e4.

    Label smoothing with α = ``label_smoothing`` replaces y by (1 − α)·y + α/C for C classes.

    Args:
        logits: unnormalized scores z of shape ``[..., C]``, floating point.
        labels: integer class indices of shape ``[...]`` in ``[0, C)``, or one-hot / soft targets
            y of shape ``[..., C]`` (floating point, non-negative).
        label_smoothing: α in [0, 1].
        reduction: ``"mean"`` over examples, ``"sum"``, or ``"none"`` for per-example values of
            shape ``[...]`` (equal to ``optax.losses.softmax_cross_entropy_with_integer_labels``
            or ``optax.losses.softmax_cross_entropy``).

    Returns:
        The reduced loss (a scalar) or per-example losses.

    Raises:
        ValueError: non-float logits, labels of the wrong shape or dtype, labels outside
            ``[0, C)`` or negative targets (value checks run only outside ``jit``), α outside
            [0, 1], or an unknown ``reduction``.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxtrain.losses import softmax_cross_entropy
        >>> logits = jnp.array([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
        >>> print(softmax_cross_entropy(logits, jnp.array([0, 2]), reduction="none").round(4))
        [0.1698 1.0986]
        >>> print(softmax_cross_entropy(jnp.array([[-1e4, 1e4]]), jnp.array([0])))
        20000.0

    References:
        Szegedy et al., `Rethinking the Inception Architecture for Computer Vision
        <https://arxiv.org/abs/1512.00567>`_, 2016 (label smoothing).

        Müller et al., `When Does Label Smoothing Help? <https://arxiv.org/abs/1906.02629>`_,
        2019.
    """
    _checks.check_reduction(reduction)
    logits = _checks.as_float(logits, "logits")
    if logits.ndim < 1:
        raise ValueError(f"logits must have a class axis, got shape {logits.shape}")
    if isinstance(label_smoothing, int | float) and not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must lie in [0, 1], got {label_smoothing}")
    labels = jnp.asarray(labels)
    num_classes = logits.shape[-1]

    if _checks.is_integer_labels(labels):
        _checks.check_class_labels(labels, logits)
        if isinstance(label_smoothing, int | float) and label_smoothing == 0.0:
            # log_softmax subtracts the max before the logsumexp, so for logits of ±1e4 the
            # result keeps float32's precision near 0 (logsumexp(z) − z_c would round at 1e4).
            log_probs = jax.nn.log_softmax(logits, axis=-1)
            per_example = -jnp.take_along_axis(log_probs, labels[..., None], axis=-1)[..., 0]
            return _checks.reduce(per_example, reduction)
        targets = jax.nn.one_hot(labels, num_classes, dtype=logits.dtype)
    else:
        _checks.check_targets(labels, logits)
        targets = labels.astype(logits.dtype)

    targets = (1.0 - label_smoothing) * targets + label_smoothing / num_classes
    per_example = -jnp.sum(targets * jax.nn.log_softmax(logits, axis=-1), axis=-1)
    return _checks.reduce(per_example, reduction)


def sigmoid_binary_cross_entropy(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    reduction: Reduction = "mean",
) -> jax.Array:
    r"""Binary cross-entropy between ``sigmoid(logits)`` and labels in [0, 1], elementwise.

    For one output z, σ(z) = 1 / (1 + e^{−z}) is the probability of class 1 and

    .. math::

        e = -y \log \sigma(z) - (1 - y) \log \sigma(-z),

    written with ``log_sigmoid`` so it stays finite for z = ±1e4. A 2-class softmax over
    (z₀, z₁) is exactly this sigmoid of the logit difference z = z₁ − z₀, so two-class
    softmax cross-entropy and sigmoid BCE are the same loss (the lecture's remark).

    Args:
        logits: z, floating point, any shape; each element an independent binary prediction.
        labels: y of the same shape as ``logits``: bool, {0, 1} integers, or probabilities.
        reduction: ``"mean"`` over all elements, ``"sum"``, or ``"none"`` for elementwise values
            (equal to ``optax.losses.sigmoid_binary_cross_entropy``).

    Returns:
        The reduced loss (a scalar) or elementwise losses of the logits' shape.

    Raises:
        ValueError: non-float logits, labels of another shape (no broadcasting, so a ``[N, 1]``
            vs ``[N]`` mix-up is caught), labels outside [0, 1] (checked only outside ``jit``),
            or an unknown ``reduction``.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxtrain.losses import sigmoid_binary_cross_entropy
        >>> z = jnp.array([2.0, -1.0, 0.0])
        >>> y = jnp.array([1, 0, 1])
        >>> per_element = sigmoid_binary_cross_entropy(z, y, reduction="none")
        >>> print([round(float(v), 4) for v in per_element])
        [0.1269, 0.3133, 0.6931]

    References:
        Goodfellow, Bengio and Courville, `Deep Learning, §6.2.2.2 (sigmoid units for Bernoulli
        outputs) <https://www.deeplearningbook.org/contents/mlp.html>`_, 2016.
    """
    _checks.check_reduction(reduction)
    logits = _checks.as_float(logits, "logits")
    labels = jnp.asarray(labels)
    if labels.shape != logits.shape:
        raise ValueError(
            f"labels must have the logits' shape {logits.shape}, got {labels.shape} "
            "(squeeze a trailing output axis of size 1 if the model has one)"
        )
    _checks.check_unit_interval(labels)
    labels = labels.astype(logits.dtype)
    # log(1 − σ(z)) = log σ(−z): the right side never forms 1 − σ(z) ≈ 0 for large z.
    per_element = -labels * jax.nn.log_sigmoid(logits) - (1.0 - labels) * jax.nn.log_sigmoid(
        -logits
    )
    return _checks.reduce(per_element, reduction)
