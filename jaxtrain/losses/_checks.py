"""Input checks shared by the losses: shapes and dtypes always, values only when concrete.

Shape and dtype checks are Python-level, so they run once at trace time and cost nothing inside
``jax.jit``. Value checks need the numbers, so they run only on concrete arrays and are skipped
under tracing (``jit``, ``grad``, ``vmap``), where reading a value would fail. Only integer (and
bool) labels are value-checked: they are class indices, and an index outside ``[0, classes)``
would be read silently as some other number. Floating-point labels are targets that the losses
are linear in; they are not value-checked, so derivatives with respect to them work however
they are taken (finite differences step a target of 0 to −ε).
"""

from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

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


def is_integer_labels(labels: jax.Array) -> bool:
    """Whether ``labels`` hold class indices (integer dtype) rather than targets (float)."""
    return jnp.issubdtype(labels.dtype, jnp.integer)


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


def check_targets(targets: jax.Array, logits: jax.Array, name: str = "labels") -> None:
    """Checks one-hot or soft targets: the logits' shape (no broadcasting), floating point."""
    if targets.shape != logits.shape:
        raise ValueError(
            f"one-hot/soft {name} must have the logits' shape {logits.shape}, got "
            f"{targets.shape}; integer class labels have the logits' shape without the class axis"
        )
    if not jnp.issubdtype(targets.dtype, jnp.floating):
        raise ValueError(
            f"{name} must be integer class indices or floating-point targets, got dtype "
            f"{targets.dtype}"
        )


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
