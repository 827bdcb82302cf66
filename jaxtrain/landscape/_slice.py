"""The loss along a line and over a plane through θ: the error surface, one slice at a time."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from jaxtrain._batched_map import map_in_batches
from jaxtrain._dtypes import check_float_leaves, working_dtype
from jaxtrain._hoisted import hoisted

__all__ = ["loss_slice_1d", "loss_surface_2d"]

# θ + α·d in an integer leaf's dtype would truncate α to an integer.
_FLOAT_ONLY = (
    "slices move floating-point parameters only (keep counters and integer state out of params)"
)


def _check_direction(direction: Any, params: Any, name: str) -> None:
    if jax.tree.structure(direction) != jax.tree.structure(params):
        raise ValueError(f"{name} must have the pytree structure of params")
    for d, p in zip(jax.tree.leaves(direction), jax.tree.leaves(params), strict=True):
        if jnp.shape(d) != jnp.shape(p):
            raise ValueError(f"{name} leaf of shape {jnp.shape(d)} does not match {jnp.shape(p)}")
        # Cast to a real θ's dtype, a complex d would lose its imaginary part silently.
        if jnp.iscomplexobj(d) and not jnp.iscomplexobj(p):
            raise ValueError(f"{name} leaf is complex ({jnp.result_type(d)}) but θ's is real")


def _coordinates(values: Any, name: str) -> jax.Array:
    values = jnp.asarray(values)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {values.shape}")
    if not (
        jnp.issubdtype(values.dtype, jnp.floating) or jnp.issubdtype(values.dtype, jnp.integer)
    ):
        raise ValueError(f"{name} must be real numbers, got dtype {values.dtype}")
    return values


def _moved(params: Any, steps: tuple[tuple[jax.Array, Any], ...]) -> Any:
    def leaf(p, *ds):
        # θ + Σ α·d in float32 at least, rounded once to θ's dtype: in bfloat16, α, d and α·d
        # were each rounded first, and the point landed an ulp or more off θ + α·d.
        work = working_dtype(jnp.result_type(p, *ds))
        out = p.astype(work)
        for (coefficient, _), d in zip(steps, ds, strict=True):
            out = out + coefficient.astype(work) * d.astype(work)
        return out.astype(p.dtype)

    return jax.tree.map(leaf, params, *[d for _, d in steps])


def _scalar_loss(loss_fn: Callable[..., Any], params: Any, args: tuple[Any, ...]) -> jax.Array:
    """``loss_fn(params, *args)``, refused at trace time unless it is one number."""
    value = loss_fn(params, *args)
    if isinstance(value, tuple | list | dict):
        raise ValueError(
            f"loss_fn must return a scalar, got a {type(value).__name__} (for a (loss, aux) "
            "function, slice lambda p, *a: loss_fn(p, *a)[0])"
        )
    if jnp.ndim(value) != 0:
        raise ValueError(
            f"loss_fn must return a scalar, got shape {jnp.shape(value)} (a missing mean?)"
        )
    return value


@functools.partial(jax.jit, static_argnames=("batch_size",))
def _slice_1d(loss_fn, params, direction, alphas, args, *, batch_size):
    def at(alpha):
        return _scalar_loss(loss_fn, _moved(params, ((alpha, direction),)), args)

    return map_in_batches(at, alphas, batch_size)


@functools.partial(jax.jit, static_argnames=("batch_size",))
def _surface_2d(loss_fn, params, d1, d2, alphas, betas, args, *, batch_size):
    grid = jnp.stack(jnp.meshgrid(alphas, betas, indexing="ij"), axis=-1).reshape(-1, 2)

    def at(point):
        return _scalar_loss(loss_fn, _moved(params, ((point[0], d1), (point[1], d2))), args)

    return map_in_batches(at, grid, batch_size).reshape(alphas.shape[0], betas.shape[0])


def loss_slice_1d(
    loss_fn: Callable[..., jax.Array],
    params: Any,
    direction: Any,
    alphas: Any,
    *args: Any,
    batch_size: int | None = None,
) -> jax.Array:
    """The loss along a line through θ: L(θ + α·d) for each α in ``alphas``.

    θ is ``params``, d is ``direction`` (a pytree like ``params``: an escape direction, an
    eigenvector, the gradient or :func:`random_direction`), α are ``alphas``. The points are
    evaluated together, vmapped (or ``batch_size`` at a time in a ``lax.map``), in one
    compiled program, with matrix products at ``precision=HIGHEST``. Each point θ + α·d is
    computed in float32 at least and rounded once to θ's dtype (bfloat16 θ included).

    Args:
        loss_fn: ``loss_fn(params, *args) -> scalar``. It is traced at each call, the arrays
            it closes over made arguments of the compiled program: a loss that computes the
            same on new data or parameters reuses the compilation.
        params: the point θ.
        direction: d, a pytree like ``params``.
        alphas: 1-D array of step sizes α.
        *args: further arguments of ``loss_fn`` (data), held fixed.
        batch_size: evaluate this many points at a time (bounds memory); ``None``: all.

    Returns:
        Losses of shape ``(len(alphas),)``.

    Raises:
        ValueError: for a leaf of ``params`` that is not floating point, a direction unlike
            ``params`` (or complex where θ is real), ``alphas`` that is not a 1-D array of
            real numbers, or a loss that is not a scalar.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxtrain.landscape import loss_slice_1d
        >>> loss = lambda w: (1.0 - w[0] * w[1]) ** 2  # the lecture's toy, saddle at 0
        >>> u = jnp.array([1.0, 1.0]) / jnp.sqrt(2.0)
        >>> print(loss_slice_1d(loss, jnp.zeros(2), u, jnp.array([-1.0, 0.0, 1.0])))
        [0.25 1.   0.25]
    """
    check_float_leaves(params, _FLOAT_ONLY)
    _check_direction(direction, params, "direction")
    alphas = _coordinates(alphas, "alphas")
    with jax.default_matmul_precision("highest"):
        return _slice_1d(
            hoisted(loss_fn, (params, *args)),
            params,
            direction,
            alphas,
            args,
            batch_size=batch_size,
        )


def loss_surface_2d(
    loss_fn: Callable[..., jax.Array],
    params: Any,
    d1: Any,
    d2: Any,
    alphas: Any,
    betas: Any,
    *args: Any,
    batch_size: int | None = None,
) -> jax.Array:
    """The loss over a plane through θ: L(θ + α·d₁ + β·d₂) on the grid ``alphas × betas``.

    The 2-D error surface of the lecture's pictures. θ is ``params``; d₁, d₂ are pytrees like
    ``params`` (two :func:`random_direction` s, or an eigenvector pair); α and β run over
    ``alphas`` and ``betas``. All grid points are evaluated in one compiled, vmapped program
    (``batch_size`` points at a time if given).

    Args:
        loss_fn: ``loss_fn(params, *args) -> scalar``; data through ``args``, as in
            :func:`loss_slice_1d`.
        params: the point θ.
        d1: d₁, a pytree like ``params``.
        d2: d₂, a pytree like ``params``.
        alphas: 1-D array of coefficients α of d₁.
        betas: 1-D array of coefficients β of d₂.
        *args: further arguments of ``loss_fn`` (data), held fixed.
        batch_size: evaluate this many points at a time; ``None``: all.

    Returns:
        Losses of shape ``(len(alphas), len(betas))``: entry ``[i, j]`` is at
        α = ``alphas[i]``, β = ``betas[j]``.

    Raises:
        ValueError: for a leaf of ``params`` that is not floating point, directions unlike
            ``params`` (or complex where θ is real), coordinates that are not 1-D arrays of
            real numbers, or a loss that is not a scalar.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxtrain.landscape import loss_surface_2d
        >>> loss = lambda w: (1.0 - w[0] * w[1]) ** 2
        >>> e1, e2 = jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0])
        >>> ticks = jnp.array([-1.0, 0.0, 1.0])
        >>> print(loss_surface_2d(loss, jnp.zeros(2), e1, e2, ticks, ticks))
        [[0. 1. 4.]
         [1. 1. 1.]
         [4. 1. 0.]]
    """
    check_float_leaves(params, _FLOAT_ONLY)
    _check_direction(d1, params, "d1")
    _check_direction(d2, params, "d2")
    alphas = _coordinates(alphas, "alphas")
    betas = _coordinates(betas, "betas")
    with jax.default_matmul_precision("highest"):
        return _surface_2d(
            hoisted(loss_fn, (params, *args)),
            params,
            d1,
            d2,
            alphas,
            betas,
            args,
            batch_size=batch_size,
        )
