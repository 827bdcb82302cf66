"""Cross-entropy for classification: softmax over classes, sigmoid for binary outputs (§5)."""

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxtrain._dtypes import working_dtype
from jaxtrain.losses import _checks, _class_axes
from jaxtrain.losses._checks import Reduction
from jaxtrain.losses._class_axes import Axis


def softmax_cross_entropy(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    axis: Axis = -1,
    where: jax.typing.ArrayLike | None = None,
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

    Label smoothing with α = ``label_smoothing`` replaces y by (1 − α)·y + α/K for the K kept
    classes (K = C without ``where``), as ``optax.smooth_labels(y, α, where=where)``.

    ``axis`` and ``where`` are optax's (both ``optax.losses.softmax_cross_entropy`` and
    ``optax.losses.softmax_cross_entropy_with_integer_labels``, positional in the same places).
    The classes lie along ``axis``, or along several axes, whose C entries an integer label
    indexes in their flattened order (row-major in the order the axes are given). ``where``
    keeps the classes where it is ``True``: the sums over i run over kept classes only, and an
    example with none kept has loss 0. An integer label whose class is masked out still
    contributes its logit, −z_c + logsumexp of the kept ones, as in optax's integer version.
    Integer labels c smooth to (1 − α)·(−log p_c) + (α/K)·Σ_{i kept} (−log p_i), which is
    optax's smoothed soft loss wherever c is kept; where c is masked out, optax's soft loss
    drops the first term and this one keeps it, so that α = 0 is the integer loss whether α
    is a Python 0, an array or traced by ``jit``. Derivatives with respect to masked classes
    are 0, for logits and soft labels alike (optax's with respect to a masked soft label is
    NaN), except the logit of a masked-out integer label, which the loss contains.

    Args:
        logits: unnormalized scores z, floating point, with the classes along ``axis``.
        labels: integer class indices of the logits' shape without the class axes, in
            ``[0, C)``; or one-hot / soft targets y of the logits' shape (floating point, or
            bool or integer 0/1 one-hot vectors, as optax takes them, integer ones with a
            batch axis: against one example's 1-D logits integer labels are class indices;
            float targets are not rounded to the logits' dtype; not broadcast, so a shape
            mix-up is an error rather than a silent outer product).
        axis: the class axis, a tuple of class axes, or ``None`` for all axes (default -1).
        where: optional boolean mask of the logits' shape (keeps single classes) or of the
            per-example shape (keeps whole examples); broadcast like optax's.
        label_smoothing: α in [0, 1]: a number, or an array that broadcasts to the logits
            with the classes last (e.g. one α per example, of shape (N, 1)).
        reduction: ``"mean"`` over examples (the default; masked-out examples count as 0, so
            it equals ``optax_loss(...).mean()``), ``"sum"``, or ``"none"`` for per-example
            values of the logits' shape without the class axes: optax's (which returns them
            by default), equal for one-hot and soft targets and within a few units in the
            last place for integer labels (read off the log-softmax, which keeps its accuracy
            at large logits).

    Returns:
        The reduced loss (a scalar) or per-example losses.

    Raises:
        ValueError: non-float logits; labels of the wrong shape or dtype; integer labels
            outside ``[0, C)`` (checked only when concrete: under ``jit``, ``grad`` or ``vmap``
            traced labels are not checked); an ``axis`` out of range or repeated; a non-bool
            ``where`` or one that does not broadcast; α outside [0, 1] (checked only when
            concrete); an unknown ``reduction``; the mean over no examples (an empty batch).
            Floating-point targets are never value-checked: the loss is linear in them, and
            derivatives with respect to them (finite differences included) work.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxtrain.losses import softmax_cross_entropy
        >>> logits = jnp.array([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
        >>> print(softmax_cross_entropy(logits, jnp.array([0, 2]), reduction="none").round(4))
        [0.1698 1.0986]
        >>> print(softmax_cross_entropy(jnp.array([[-1e4, 1e4]]), jnp.array([0])))
        20000.0
        >>> keep = jnp.array([[True, True, False], [True, True, True]])
        >>> print(softmax_cross_entropy(logits, jnp.array([0, 2]), where=keep, reduction="none")
        ...       .round(4))
        [0.1269 1.0986]
        >>> print(softmax_cross_entropy(logits.T, jnp.array([0, 2]), axis=0, reduction="none")
        ...       .round(4))
        [0.1698 1.0986]

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
    smoothing = _uses_smoothing(label_smoothing)
    axes = _class_axes.canonical_axes(axis, logits.shape)
    batch_shape = _class_axes.batch_shape(logits.shape, axes)
    _checks.check_mean_has_examples(batch_shape, reduction)
    mask = None if where is None else _class_axes.class_mask(where, logits.shape, axes)
    num_classes = math.prod(logits.shape[a] for a in axes)
    labels = _checks.as_labels(labels)
    # Class indices lack the class axes; labels of the logits' own shape are one-hot or soft
    # targets, of any dtype (bool and integer one-hot vectors too, as optax takes them). The
    # labels choose the formula, never α: α = 0 gives the same loss as a Python 0, an array
    # or a traced value.
    integer = _checks.checked_class_indices(labels, logits, batch_shape, num_classes)
    z = _class_axes.classes_last(logits, axes)
    mask = None if mask is None else _class_axes.classes_last(mask, axes)
    # With no classes there is nothing to smooth over.
    alpha = label_smoothing if smoothing and num_classes else None
    if integer:
        return _checks.reduce(_integer_label_loss(z, labels, mask, alpha), reduction)
    return _checks.reduce(_target_loss(z, labels, axes, mask, alpha), reduction)


def _uses_smoothing(label_smoothing: jax.typing.ArrayLike) -> bool:
    """Checks α ∈ [0, 1] when concrete; whether the smoothing terms need computing at all.

    Only an α known to be 0 everywhere skips them. That is a saving, not another formula: at
    α = 0 they add exactly 0, so a traced 0 gives the same bits as a Python 0.
    """
    if not _checks.is_concrete(label_smoothing):  # a traced α can be neither checked nor read
        return True
    alpha = np.asarray(label_smoothing)
    number = any(jnp.issubdtype(alpha.dtype, kind) for kind in (jnp.integer, jnp.floating))
    if not number or not np.all((alpha >= 0) & (alpha <= 1)):
        raise ValueError(f"label_smoothing must lie in [0, 1], got {label_smoothing}")
    return bool(np.any(alpha != 0))


def _smoothing_spread(
    alpha: jax.typing.ArrayLike, mask: jax.Array | None, shape: tuple[int, ...], dtype: Any
) -> jax.Array:
    """α/K for the K kept classes of each example ``[..., C]``, as ``optax.smooth_labels``.

    K = C without a mask. An example with no class kept counts K = 1: nothing of it is summed,
    and α/0 = ∞ would turn its zero cotangents into NaN.
    """
    # Divided in float32 at least (float64 in float64) and rounded once: a bfloat16 K would
    # already round a vocabulary of 50257 classes to 50176.
    working = working_dtype(dtype)
    if mask is None:
        kept = jnp.asarray(shape[-1], working)
    else:
        kept = jnp.maximum(jnp.sum(mask, axis=-1, keepdims=True, dtype=working), 1.0)
    return (jnp.asarray(alpha, working) / kept).astype(dtype)


def _kept_log_softmax(z: jax.Array, mask: jax.Array | None) -> jax.Array:
    """zᵢ − logsumexp of the kept zⱼ, ``[..., C]``: log softmax, finite at masked classes too.

    jax.nn.log_softmax's steps, minus its −inf at masked classes: optax gives a label whose
    class is masked out its finite logsumexp(kept) − z_c. Shifting by the largest kept logit
    keeps float32's precision near 0 for logits of ±1e4 (logsumexp(z) − z_c would round at
    1e4); the shift is 0 for a row with nothing kept, whose sum is 1 so that its log is 0.
    """
    top = jnp.max(z, axis=-1, where=mask, initial=-jnp.inf, keepdims=True)
    shifted = z - lax.stop_gradient(jnp.where(jnp.isfinite(top), top, 0.0))
    # Masked before the exp, not only left out of the sum: a masked logit more than about 88
    # above the kept ones (11 in float16) overflows exp to ∞, and the backward pass multiplies
    # that ∞ by its zero cotangent, a NaN that reaches every parameter.
    shifted_kept = shifted if mask is None else jnp.where(mask, shifted, -jnp.inf)
    total = jnp.sum(jnp.exp(shifted_kept), axis=-1, keepdims=True)
    if mask is not None:
        total = jnp.where(jnp.any(mask, axis=-1, keepdims=True), total, 1.0)
    return shifted - jnp.log(total)


def _weighted(weight: jax.Array, neg_log_prob: jax.Array) -> jax.Array:
    """weight·(−log p) with 0·∞ = 0: a class of weight 0 adds nothing, even at a logit of −∞.

    The ∞ alone is replaced, not the product: d/dweight stays −log p wherever that is finite
    (d/dα at α = 0 keeps the uniform term's share).
    """
    infinite_unweighted = (weight == 0) & jnp.isinf(neg_log_prob)
    return weight * jnp.where(infinite_unweighted, 0.0, neg_log_prob)


def _integer_label_loss(
    z: jax.Array,
    labels: jax.Array,
    mask: jax.Array | None,
    alpha: jax.typing.ArrayLike | None,
) -> jax.Array:
    r"""Cross-entropy of z ``[..., C]`` with integer labels c, smoothed by α over kept classes.

    .. math::

        e = (1 - α)\,(-\log p_c) + \frac{α}{K} \sum_{i \text{ kept}} (-\log p_i),
        \qquad \log p_i = z_i - \operatorname{logsumexp}_{j \text{ kept}} z_j,

    with K the number of kept classes; e = 0 for an example with none kept. At α = 0 (or
    ``alpha=None``) this is optax's integer-label loss, for any class c, masked or not. Where c
    is kept it equals optax's soft loss of ``smooth_labels(one_hot(c), α, where=mask)``; where
    c is masked out optax's soft loss drops the first term, this one keeps it (as at α = 0).
    """
    log_probs = _kept_log_softmax(z, mask)
    label_term = -jnp.take_along_axis(log_probs, labels[..., None], axis=-1)[..., 0]
    if alpha is None:
        per_example = label_term
    else:
        # α may vary by example (any shape that broadcasts to the logits'), as for soft labels.
        dtype = jnp.result_type(z, alpha)
        alpha_at_label = jnp.take_along_axis(
            jnp.broadcast_to(jnp.asarray(alpha, dtype), z.shape), labels[..., None], axis=-1
        )[..., 0]
        spread = _smoothing_spread(alpha, mask, z.shape, dtype)
        if mask is not None:
            spread = jnp.where(mask, spread, 0.0)
        per_example = _weighted(1.0 - alpha_at_label, label_term) + jnp.sum(
            _weighted(spread, -log_probs), axis=-1
        )
    if mask is not None:
        per_example = jnp.where(jnp.any(mask, axis=-1), per_example, 0.0)
    return per_example


def _target_loss(
    z: jax.Array, labels: jax.Array, axes: tuple[int, ...], mask: jax.Array | None, alpha: Any
) -> jax.Array:
    """The per-example loss of one-hot or soft ``labels`` (classes along ``axes``) against
    ``z`` ``[..., C]``, smoothed by α unless ``alpha`` is ``None``."""
    # Never rounded to the logits' dtype: float32 targets against bfloat16 logits keep
    # their precision, and the loss is float32, as optax's promoting product gives.
    targets = _class_axes.classes_last(labels.astype(_checks.target_dtype(labels, z)), axes)
    if alpha is not None:
        spread = _smoothing_spread(alpha, mask, z.shape, jnp.result_type(targets, alpha))
        targets = (1.0 - alpha) * targets + spread
    return _soft_label_loss(z, targets, mask)


def _soft_label_loss(z: jax.Array, targets: jax.Array, mask: jax.Array | None) -> jax.Array:
    """−Σᵢ yᵢ log softmax(z)ᵢ over the kept classes of ``[..., C]``, as optax."""
    log_probs = jax.nn.log_softmax(z, axis=-1, where=mask)
    if mask is not None:
        # A masked class has log-probability −inf; 0 there makes d/dy exactly 0 (the loss does
        # not depend on it) where optax's product rule gives 0·(−inf) = NaN.
        log_probs = jnp.where(mask, log_probs, 0.0)
    return -jnp.sum(targets * log_probs, axis=-1, where=mask)


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
        labels: y of the same shape as ``logits``: bool, {0, 1} integers, or probabilities
            (float, not value-checked: the loss is linear in y, so derivatives with respect
            to y work, finite differences included).
        reduction: ``"mean"`` over all elements (the default), ``"sum"``, or ``"none"`` for
            elementwise values, equal to ``optax.losses.sigmoid_binary_cross_entropy`` (which
            returns them by default).

    Returns:
        The reduced loss (a scalar) or elementwise losses of the logits' shape.

    Raises:
        ValueError: non-float logits, labels of another shape (no broadcasting, so a ``[N, 1]``
            vs ``[N]`` mix-up is caught; optax broadcasts), integer labels other than 0 and 1
            (checked only when concrete, not under ``jit``), an unknown ``reduction``, or the
            mean over no elements (an empty batch).

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
    _checks.check_mean_has_examples(logits.shape, reduction)
    labels = _checks.as_labels(labels)
    if labels.shape != logits.shape:
        raise ValueError(
            f"labels must have the logits' shape {logits.shape}, got {labels.shape} "
            "(squeeze a trailing output axis of size 1 if the model has one)"
        )
    _checks.check_binary_labels(labels)
    labels = labels.astype(logits.dtype)
    # log(1 − σ(z)) = log σ(−z): the right side never forms 1 − σ(z) ≈ 0 for large z.
    per_element = -labels * jax.nn.log_sigmoid(logits) - (1.0 - labels) * jax.nn.log_sigmoid(
        -logits
    )
    return _checks.reduce(per_element, reduction)
