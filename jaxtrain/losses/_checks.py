"""Input checks shared by the losses: shapes and dtypes always, values only when concrete.

Shape and dtype checks are Python-level, so they run once at trace time and cost nothing inside
``jax.jit``. Value checks need the numbers, so they run only on concrete arrays and are skipped
under tracing (``jit``, ``grad``, ``vmap``), where reading a value would fail. Only integer (and
bool) labels are value-checked: they are class indices, and an index outside ``[0, classes)``
would be read silently as some other number. Floating-point labels are targets that the losses
are linear in; they are not value-checked, so derivatives with respect to them work however
they are taken (finite differences step a target of 0 to −ε).
"""

import math
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np

from jaxtrain._dtypes import check_integers_fit_the_device
from jaxtrain._text import counted

Reduction = Literal["mean", "sum", "none"]
_REDUCTIONS = ("mean", "sum", "none")


def is_concrete(x: jax.typing.ArrayLike) -> bool:
    """Whether ``x`` holds readable values (not a tracer inside ``jit``/``grad``/``vmap``)."""
    return not isinstance(x, jax.core.Tracer)


def check_reduction(reduction: str) -> None:
    """Raises ``ValueError`` unless ``reduction`` is ``"mean"``, ``"sum"`` or ``"none"``."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def check_mean_has_examples(shape: tuple[int, ...], reduction: str) -> None:
    """Raises ``ValueError`` for a mean over values of ``shape`` when there are none.

    A mean over zero examples is 0/0, undefined: returned, it would be a NaN that training
    carries on with. The shape is static, so the check runs once at trace time, free under
    ``jit``. A sum (0) and per-example values (none) are defined.
    """
    if reduction == "mean" and math.prod(shape) == 0:
        raise ValueError(
            f"the mean over an empty batch is undefined: the per-example values have shape "
            f"{shape}; skip empty batches, or pass reduction='sum' or 'none'"
        )


def reduce(values: jax.Array, reduction: str) -> jax.Array:
    """Reduces per-example ``values`` by ``reduction`` (checked by :func:`check_reduction`)."""
    if reduction == "mean":
        return jnp.mean(values)
    if reduction == "sum":
        return jnp.sum(values)
    return values


def as_float(x: jax.typing.ArrayLike, name: str) -> jax.Array:
    """``x`` as a JAX array, raising ``ValueError`` unless it is floating point."""
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise ValueError(
            f"{name} must be a floating-point array, got dtype {x.dtype}; "
            f"cast it with {name}.astype(jnp.float32)"
        )
    return x


def as_labels(labels: Any, name: str = "labels") -> jax.Array:
    """``labels`` as a JAX array, integer ones checked in their own dtype first: JAX stores
    a NumPy int64 array as int32 when x64 is off, and the cast wraps (2³² + 1 becomes class 1
    and passes every later range check)."""
    if not isinstance(labels, jax.Array):
        host = np.asarray(labels)
        if host.dtype.kind in "iu":
            check_integers_fit_the_device(host, name)
    return jnp.asarray(labels)


def is_integer_labels(labels: jax.Array) -> bool:
    """Whether ``labels`` hold class indices (integer dtype) rather than targets (float)."""
    return jnp.issubdtype(labels.dtype, jnp.integer)


def is_class_indices(labels: jax.Array, logits: jax.Array) -> bool:
    """Whether integer ``labels`` are class indices rather than one-hot vectors.

    Indices lack the class axis; integer labels of the logits' own shape are one-hot
    vectors, as optax reads them, once the logits have a batch axis. Against one example's
    logits (1-D) they are refused: a batch's labels against logits that lost their class
    axis look the same, and a softmax across the batch would be a loss without meaning.

    Raises:
      ValueError: for integer labels of 1-D logits' own shape.
    """
    integer, same_shape = is_integer_labels(labels), labels.shape == logits.shape
    if integer and same_shape and logits.ndim == 1:
        raise ValueError(
            f"integer labels of one example's logits' own shape {labels.shape} are read as "
            "class indices, not a one-hot vector (a batch's labels against logits that lost "
            "their class axis look the same): pass a one-hot vector as float or bool, or give "
            "the logits and the labels a batch axis"
        )
    return integer and not same_shape


def check_class_labels(
    labels: jax.Array,
    batch_shape: tuple[int, ...],
    classes: int,
    name: str = "labels",
) -> None:
    """Integer class labels: shape ``batch_shape``, values in ``[0, classes)`` when concrete."""
    if labels.shape != batch_shape:
        raise ValueError(
            f"integer {name} must have the logits' shape without the class axis, {batch_shape}, "
            f"got {labels.shape}"
        )
    if is_concrete(labels) and labels.size:
        values = np.asarray(labels)
        low, high = int(values.min()), int(values.max())
        if low < 0 or high >= classes:
            raise ValueError(
                f"{name} must lie in [0, {classes}) for {counted(classes, 'class', 'classes')}, "
                f"got values in [{low}, {high}]"
            )


def checked_class_indices(
    labels: jax.Array, logits: jax.Array, batch_shape: tuple[int, ...], classes: int
) -> bool:
    """Whether ``labels`` are class indices (:func:`is_class_indices`), once checked as such
    (:func:`check_class_labels`) or as one-hot or soft targets (:func:`check_targets`)."""
    if is_class_indices(labels, logits):
        check_class_labels(labels, batch_shape, classes)
        return True
    check_targets(labels, logits)
    return False


def check_targets(targets: jax.Array, logits: jax.Array, name: str = "labels") -> None:
    """Checks one-hot or soft targets: the logits' shape (no broadcasting), a real dtype."""
    if targets.shape != logits.shape:
        raise ValueError(
            f"one-hot/soft {name} must have the logits' shape {logits.shape}, got "
            f"{targets.shape}; integer class labels have the logits' shape without the class axis"
        )
    if not (
        jnp.issubdtype(targets.dtype, jnp.floating)
        or jnp.issubdtype(targets.dtype, jnp.integer)
        or targets.dtype == jnp.bool_
    ):
        raise ValueError(
            f"{name} must be integer class indices, or one-hot/soft targets (floating point, "
            f"integer or bool), got dtype {targets.dtype}"
        )
    if jnp.issubdtype(targets.dtype, jnp.integer) and is_concrete(targets) and targets.size:
        values = np.unique(np.asarray(targets))
        if not np.isin(values, (0, 1)).all():
            raise ValueError(
                f"integer {name} of the logits' shape are one-hot vectors, so 0 or 1; got "
                f"values {values[:5].tolist()} (class indices have the logits' shape without "
                "the class axis)"
            )


def target_dtype(targets: jax.Array, predictions: jax.Array) -> Any:
    """The dtype to compare ``targets`` with ``predictions`` in: the two promoted when the
    targets are floating point (float32 targets are not rounded to bfloat16 predictions),
    the predictions' own for integer or bool targets (0 and 1 are exact in any float)."""
    if jnp.issubdtype(targets.dtype, jnp.floating):
        return jnp.promote_types(targets.dtype, predictions.dtype)
    return predictions.dtype


def check_binary_labels(labels: jax.Array, name: str = "labels") -> None:
    """Binary labels: bool, integer (0 or 1 when concrete) or float (not value-checked)."""
    if labels.dtype == jnp.bool_ or jnp.issubdtype(labels.dtype, jnp.floating):
        return
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise ValueError(f"{name} must be bool, integer or float, got dtype {labels.dtype}")
    if is_concrete(labels) and labels.size:
        values = np.asarray(labels)
        low, high = int(values.min()), int(values.max())
        if low < 0 or high > 1:
            raise ValueError(f"integer binary {name} must be 0 or 1, got values in [{low}, {high}]")
