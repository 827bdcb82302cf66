"""Power iteration with deflation: the simple way to the top eigenvalues, for comparison."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxtrain._numbers import is_int
from jaxtrain.curvature._lanczos import scaled_norm
from jaxtrain.curvature._operators import (
    as_pytree_callable,
    check_key,
    dot,
    flat_operator,
    flat_space,
    highest_precision,
    linearized,
    random_unit_vector,
)

__all__ = ["PowerIterationResult", "power_iteration"]


class PowerIterationResult(NamedTuple):
    """The top eigenpairs found one at a time by :func:`power_iteration`.

    Attributes:
        eigenvalues: the Rayleigh quotients vᵀHv, in the order found (largest |λ| first).
        eigenvectors: the unit vectors as one pytree like ``like`` with a leading axis k.
        num_matvecs: the total number of operator applications.
        iterations: the applications spent on each eigenvalue, shape (k,).
        converged: whether each eigenvalue met the tolerance with a residual
            ‖Hv − λv‖ ≤ √tol·‖Hv‖, shape (k,) (the relative-change test alone also stops
            where ±λ lead and v swings between them, on no eigenpair).
    """

    eigenvalues: jax.Array
    eigenvectors: Any
    num_matvecs: int
    iterations: jax.Array
    converged: jax.Array


@functools.partial(jax.jit, static_argnames=("k",))
def _power_program(matvec, like, key, num_iters, tol, *, k):
    f, flat_like, unravel = flat_operator(linearized(matvec), like)
    n, dtype = flat_like.size, flat_like.dtype
    found = jnp.zeros((k, n), dtype)

    def deflate(found, v):
        # Projecting out the eigenvectors already found leaves the next one on top.
        return v - dot(dot(found, v), found)

    def one_eigenvalue(i, carry):
        found, values, iterations, converged = carry
        v = random_unit_vector(jax.random.fold_in(key, i), n, dtype)

        def cond(state):
            _, _, it, done, _ = state
            return (it < num_iters) & ~done

        def body(state):
            v, lam, it, _, _ = state
            v = deflate(found, v)
            v = v / scaled_norm(v)
            w = f(v)
            new_lam = jnp.vdot(v, w)
            w_norm = scaled_norm(w)
            # The relative-change test of PyHessian (Yao et al. 2020), so counts compare; and
            # Hv = 0 (an operator of lower rank, deflated to nothing) is an eigenpair as it is.
            done = (it > 0) & (jnp.abs(new_lam - lam) / (jnp.abs(lam) + 1e-6) < tol)
            done = done | (w_norm == 0)
            # That test also passes where no eigenpair is: with ±λ on top, vᵀHv stays put
            # while v swings between the two. The residual tells: ‖Hv − λv‖ of an eigenvector
            # to about √tol is about √tol·‖Hv‖ (λ's error is the square of v's).
            accurate = scaled_norm(w - new_lam * v) <= jnp.sqrt(tol) * w_norm
            v_next = jnp.where(w_norm > 0, w / jnp.where(w_norm > 0, w_norm, 1.0), v)
            return v_next, new_lam, it + 1, done, accurate

        start = (v, jnp.zeros((), dtype), 0, False, False)
        v, lam, it, done, accurate = lax.while_loop(cond, body, start)
        v = deflate(found, v)
        v = v / scaled_norm(v)
        return (
            found.at[i].set(v),
            values.at[i].set(lam),
            iterations.at[i].set(it),
            converged.at[i].set(done & accurate),
        )

    init = (found, jnp.zeros((k,), dtype), jnp.zeros((k,), jnp.int32), jnp.zeros((k,), bool))
    found, values, iterations, converged = lax.fori_loop(0, k, one_eigenvalue, init)
    return values, jax.vmap(unravel)(found), iterations, converged


def power_iteration(
    matvec: Callable[[Any], Any],
    like: Any,
    *,
    k: int = 1,
    num_iters: int = 100,
    tol: float = 1e-3,
    key: jax.Array,
) -> PowerIterationResult:
    """The k eigenvalues of largest magnitude, one at a time, by deflated power iteration.

    v ← Hv/‖Hv‖ converges to the eigenvector of the largest |λ|, with error shrinking like
    |λ₂/λ₁| per step; λ is the Rayleigh quotient vᵀHv. The eigenvalue stops when its
    relative change |λₜ − λₜ₋₁|/(|λₜ₋₁| + 10⁻⁶) drops below ``tol`` (PyHessian's test) or
    after ``num_iters`` steps, or at once where Hv = 0 (past the operator's rank). For the
    next one, the vectors already found are projected out of v before every step
    (deflation). Lanczos (:func:`~jaxtrain.curvature.eigenvalues`)
    uses the same products far better; this exists to compare against.

    Note that power iteration finds the largest |λ|: with a negative eigenvalue of larger
    magnitude than the top positive one, that negative one comes first.

    Args:
        matvec: v ↦ Hv on pytrees like ``like``.
        like: a pytree fixing the vector space, e.g. ``params``.
        k: how many eigenvalues.
        num_iters: the most steps per eigenvalue.
        tol: relative-change tolerance.
        key: ``jax.random`` key for the starting vectors.

    Returns:
        A :class:`PowerIterationResult`, including the number of products used.

    Raises:
        ValueError: for a non-positive ``k``, ``num_iters`` or ``tol``, or ``k`` > n.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from jaxtrain.curvature import power_iteration
        >>> H = jnp.diag(jnp.array([5.0, 1.0, 0.5]))
        >>> result = power_iteration(lambda v: H @ v, jnp.zeros(3), k=2, tol=1e-6,
        ...                          key=jax.random.key(0))
        >>> print(jnp.round(result.eigenvalues, 3))
        [5. 1.]

    References:
        Yao, Gholami, Keutzer, Mahoney, "PyHessian: Neural Networks Through the Lens of the
        Hessian", 2020, https://arxiv.org/abs/1912.07145
    """
    key = check_key(key)
    flat_like = flat_space(like)
    n = int(flat_like.size)
    if not is_int(k) or not 1 <= k <= n:
        raise ValueError(f"k must be an int in [1, {n}], got {k!r}")
    if not is_int(num_iters) or num_iters < 1:
        raise ValueError(f"num_iters must be a positive int, got {num_iters!r}")
    k, num_iters = int(k), int(num_iters)
    if not tol > 0:
        raise ValueError(f"tol must be > 0, got {tol}")
    with highest_precision():
        values, vectors, iterations, converged = _power_program(
            as_pytree_callable(matvec, (like,)),
            like,
            key,
            np.int32(num_iters),
            np.asarray(tol, flat_like.dtype),
            k=k,
        )
    return PowerIterationResult(values, vectors, int(jnp.sum(iterations)), iterations, converged)
