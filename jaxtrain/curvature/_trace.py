"""Stochastic trace estimation: tr(H) from Hessian-vector products only."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxtrain._batched_map import check_batch_size, map_in_batches
from jaxtrain._numbers import is_int
from jaxtrain.curvature._operators import (
    as_pytree_callable,
    check_key,
    dot,
    flat_operator,
    flat_space,
    highest_precision,
    linearized,
)

__all__ = ["TraceEstimate", "trace"]

_METHODS = ("hutchinson", "hutch++")


class TraceEstimate(NamedTuple):
    """A stochastic estimate of tr(H).

    Attributes:
        estimate: the estimate of tr(H).
        stderr: its standard error from the spread of the random quadratic forms (for
            Hutch++ that of the residual part; the low-rank part is exact given its sketch).
        num_matvecs: the number of operator applications used.
    """

    estimate: jax.Array
    stderr: jax.Array
    num_matvecs: int


def _rademacher(key: jax.Array, shape: tuple[int, ...], dtype: Any) -> jax.Array:
    return jax.random.rademacher(key, shape, jnp.int32).astype(dtype)


@functools.partial(jax.jit, static_argnames=("num_samples", "method", "batch_size"))
def _trace_program(matvec, like, key, *, num_samples, method, batch_size):
    f, flat_like, _ = flat_operator(linearized(matvec), like)
    n, dtype = flat_like.size, flat_like.dtype

    def apply_rows(Z):  # each row z ↦ Hz
        return map_in_batches(f, Z, batch_size)

    def quadratic_forms(Z):
        return jnp.sum(Z * apply_rows(Z), axis=1)

    if method == "hutchinson":
        samples = quadratic_forms(_rademacher(key, (num_samples, n), dtype))
        low_rank = jnp.zeros((), dtype)
    else:
        # Hutch++: a third of the products sketch the top of the spectrum, whose trace is
        # taken exactly on the sketch's range Q; the rest estimate the remainder, which has
        # a much smaller Frobenius norm, with Hutchinson on the complement of Q.
        sketch = num_samples // 3
        k_sketch, k_rest = jax.random.split(key)
        S = _rademacher(k_sketch, (sketch, n), dtype)
        Q, _ = jnp.linalg.qr(apply_rows(S).T)
        low_rank = jnp.sum(Q.T * apply_rows(Q.T))
        G = _rademacher(k_rest, (num_samples - 2 * sketch, n), dtype)
        G = G - dot(dot(G, Q), Q.T)
        samples = quadratic_forms(G)
    m = samples.shape[0]
    estimate = low_rank + jnp.mean(samples)
    stderr = jnp.std(samples, ddof=1) / jnp.sqrt(m) if m > 1 else jnp.full((), jnp.inf, dtype)
    return estimate, stderr


def trace(
    matvec: Callable[[Any], Any],
    like: Any,
    *,
    num_samples: int,
    key: jax.Array,
    method: str = "hutchinson",
    batch_size: int | None = None,
) -> TraceEstimate:
    """Estimates tr(H) from products with random vectors (Hutchinson or Hutch++).

    Hutchinson: for Rademacher z (entries ±1), E[zᵀHz] = tr(H), so
    tr(H) ≈ (1/m) Σᵢ zᵢᵀHzᵢ with m = ``num_samples`` products; the standard error is about
    √(2(‖H‖²_F − Σᵢ H²ᵢᵢ)/m). Hutch++ spends m/3 products on a sketch Q of the dominant
    subspace, takes tr(QᵀHQ) exactly (m/3 more) and applies Hutchinson to what is left
    (the last m/3), which converges like 1/m instead of 1/√m when the spectrum decays.

    Args:
        matvec: v ↦ Hv on pytrees like ``like``.
        like: a pytree fixing the vector space, e.g. ``params``.
        num_samples: m, the total number of products (Hutch++ needs at least 3).
        key: ``jax.random`` key for the probes.
        method: ``"hutchinson"`` or ``"hutch++"``.
        batch_size: products evaluated together (vmapped) per step of a ``lax.map``;
            ``None`` evaluates all at once. Lower it to bound memory on large models.

    Returns:
        A :class:`TraceEstimate` ``(estimate, stderr, num_matvecs)``.

    Raises:
        ValueError: for an unknown method or too few samples.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from jaxtrain.curvature import trace
        >>> H = jnp.diag(jnp.array([3.0, 2.0, 1.0]))
        >>> result = trace(lambda v: H @ v, jnp.zeros(3), num_samples=10, key=jax.random.key(0))
        >>> print(round(float(result.estimate), 4))  # diagonal H: z_i² = 1 makes it exact
        6.0

    References:
        Hutchinson, "A stochastic estimator of the trace of the influence matrix for
        Laplacian smoothing splines", Comm. Stat. Simul. Comput. 18 (1989).

        Meyer, Musco, Musco, Woodruff, "Hutch++: Optimal Stochastic Trace Estimation", 2021,
        https://arxiv.org/abs/2010.09649
    """
    key = check_key(key)
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    minimum = 3 if method == "hutch++" else 1
    if not is_int(num_samples):
        raise ValueError(f"num_samples must be an int, got {num_samples!r}")
    # A NumPy int is a static argument below and the reported count: make it a Python int.
    num_samples = int(num_samples)
    if num_samples < minimum:
        raise ValueError(f"{method} needs num_samples >= {minimum}, got {num_samples}")
    check_batch_size(batch_size)  # before anything is traced
    flat_like = flat_space(like)
    if method == "hutch++" and num_samples // 3 > flat_like.size:
        raise ValueError(
            f"hutch++ sketches num_samples // 3 = {num_samples // 3} directions, more than"
            f" the dimension {flat_like.size}"
        )
    with highest_precision():
        estimate, stderr = _trace_program(
            as_pytree_callable(matvec, (like,)),
            like,
            key,
            num_samples=num_samples,
            method=method,
            batch_size=batch_size,
        )
    return TraceEstimate(estimate, stderr, num_samples)
