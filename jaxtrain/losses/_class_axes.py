"""The class axis (or axes) of a classification loss and its mask, as optax's ``axis=``/``where=``.

optax lets the classes lie along any axis, or along several (a label then indexes the flattened
slice ``logits[axis]``). The losses move the class axes last, in the order given, and flatten them
into one axis of C classes: after that every loss is written for ``[..., C]`` only.
"""

import math

import jax
import jax.numpy as jnp

from jaxtrain._numbers import is_int

Axis = int | tuple[int, ...] | None


def canonical_axes(axis: Axis, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The class axes of an array of ``shape`` as non-negative ints (``None``: every axis)."""
    ndim = len(shape)
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, tuple):
        axes = axis
    elif is_int(axis):
        axes = (axis,)
    else:
        raise ValueError(f"axis must be an int, a tuple of ints or None, got {axis!r}")
    if not axes:
        raise ValueError("axis must name at least one class axis, got ()")
    out = []
    for a in axes:
        if not is_int(a):
            raise ValueError(f"axis must be an int, a tuple of ints or None, got {axis!r}")
        if not -ndim <= a < ndim:
            raise ValueError(f"axis {a} is out of bounds for logits of shape {shape}")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"axis names the same axis twice: {axis!r}")
    return tuple(out)


def batch_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    """``shape`` without the class ``axes``: the shape of the per-example losses."""
    return tuple(n for i, n in enumerate(shape) if i not in axes)


def classes_last(x: jax.Array, axes: tuple[int, ...]) -> jax.Array:
    """``x`` with the class ``axes`` moved last, in their given order, and flattened into one."""
    batch = tuple(i for i in range(x.ndim) if i not in axes)
    if batch + axes != tuple(range(x.ndim)):
        x = jnp.transpose(x, batch + axes)
    # An explicit class count: reshape(…, -1) is ambiguous when the batch is empty.
    return x.reshape(*x.shape[: len(batch)], math.prod(x.shape[len(batch) :]))


def class_mask(
    where: jax.typing.ArrayLike, shape: tuple[int, ...], axes: tuple[int, ...]
) -> jax.Array:
    """optax's ``where``: a boolean mask over the logits, or over the examples (one per example).

    A mask with the per-example losses' number of dimensions gets the class axes inserted, as
    optax does (``jnp.expand_dims(where, axis)``), so it keeps or drops whole examples; a mask
    with the logits' number of dimensions keeps or drops single classes. Either is then
    broadcast to the logits' ``shape``.
    """
    where = jnp.asarray(where)
    if where.dtype != jnp.bool_:
        raise ValueError(
            f"where must be a boolean array, got dtype {where.dtype}; pass where.astype(bool)"
        )
    expanded = where
    if where.ndim + len(axes) == len(shape):
        expanded = jnp.expand_dims(where, axes)
    if expanded.ndim == len(shape):
        try:
            return jnp.broadcast_to(expanded, shape)
        except ValueError:
            pass
    raise ValueError(
        f"where must broadcast to the logits' shape {shape} or to the per-example shape "
        f"{batch_shape(shape, axes)}, got shape {where.shape}"
    )
