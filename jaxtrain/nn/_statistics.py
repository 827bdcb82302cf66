"""Mean and variance over chosen axes, and the normalize-scale-shift step every norm shares.

Kept apart from the modules so BatchNorm, LayerNorm, GroupNorm and InstanceNorm compute their
statistics the same way, in the same order of floating-point operations as Flax (so the tests can
demand equality, not closeness).
"""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax import lax


def canonical_axes(ndim: int, axes: int | Sequence[int]) -> tuple[int, ...]:
    """Sorted, non-negative, de-duplicated ``axes`` of an ``ndim``-dimensional array."""
    if isinstance(axes, int):
        axes = (axes,)
    out = []
    for axis in axes:
        if not -ndim <= axis < ndim:
            raise ValueError(f"axis {axis} is out of range for an input with {ndim} dimensions")
        out.append(axis % ndim)
    return tuple(sorted(set(out)))


def mean_and_variance(
    x: jax.Array,
    axes: tuple[int, ...],
    *,
    axis_name: str | None = None,
    use_fast_variance: bool = False,
) -> tuple[jax.Array, jax.Array]:
    """μ and σ² of ``x`` over ``axes`` (and over the mapped axis ``axis_name`` when given).

    Two-pass by default: σ² = mean((x − μ)²). The one-pass form E[x²] − E[x]² (Flax's default,
    ``use_fast_variance=True``) subtracts two nearly equal numbers when |μ| ≫ σ and loses all
    digits of σ² in float32: inputs of mean 1e3 and spread 0.1 come out with σ² ≈ 0 or even
    clipped negative. Statistics are computed in at least float32, so bfloat16 inputs do not
    accumulate in bfloat16.
    """
    x = jnp.asarray(x, jnp.promote_types(x.dtype, jnp.float32))

    def global_mean(*values: jax.Array) -> tuple[jax.Array, ...]:
        means = tuple(v.mean(axes) for v in values)
        if axis_name is None:
            return means
        if len(means) == 1:
            return (lax.pmean(means[0], axis_name),)
        # One collective for both moments instead of two round trips.
        stacked = lax.pmean(jnp.stack(means), axis_name)
        return tuple(stacked[i] for i in range(len(means)))

    if use_fast_variance:
        mean, mean_sq = global_mean(x, lax.square(x))
        var = jnp.maximum(0.0, mean_sq - lax.square(mean))
    else:
        (mean,) = global_mean(x)
        (var,) = global_mean(lax.square(x - jnp.expand_dims(mean, axes)))
    return mean, var


def normalize(
    x: jax.Array,
    mean: jax.Array,
    var: jax.Array,
    scale: jax.Array | None,
    bias: jax.Array | None,
    reduction_axes: tuple[int, ...],
    feature_axes: tuple[int, ...],
    epsilon: float,
    dtype: jnp.dtype | None,
) -> jax.Array:
    """y = (x − μ) / √(σ² + ε) · γ + β, with μ, σ² broadcast over ``reduction_axes``."""
    stats_shape = [1 if i in reduction_axes else d for i, d in enumerate(x.shape)]
    feature_shape = [d if i in feature_axes else 1 for i, d in enumerate(x.shape)]
    y = x - mean.reshape(stats_shape)
    multiplier = lax.rsqrt(var.reshape(stats_shape) + epsilon)
    if scale is not None:
        multiplier = multiplier * scale.reshape(feature_shape)
    y = y * multiplier
    if bias is not None:
        y = y + bias.reshape(feature_shape)
    if dtype is None:
        dtype = jnp.result_type(x, *(p for p in (scale, bias) if p is not None))
    return jnp.asarray(y, dtype)
