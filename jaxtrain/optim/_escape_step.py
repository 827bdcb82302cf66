"""Shared by the saddle-escape transforms: the objective from the update's extra arguments, a
warm-started Lanczos estimate of the Hessian's extreme eigenpairs, and a step along a direction
whose length and sign are checked on the loss itself.

:func:`~jaxtrain.optim.negative_curvature_descent` and
:func:`~jaxtrain.optim.saddle_free_newton` both need λmin of H = ∇²L(θ) and its eigenvector inside
a jitted update, and both step along a direction only as far as the loss confirms.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.flatten_util import ravel_pytree

from jaxtrain._dtypes import INT32_MAX, working_dtype
from jaxtrain.curvature import hvp
from jaxtrain.curvature._lanczos import basis_rows, extreme_ritz_pairs
from jaxtrain.curvature._operators import flat_operator, flat_space, highest_precision

__all__ = [
    "check_count",
    "check_optimizer",
    "check_seed",
    "initial_eigenpair",
    "line_search",
    "objective",
    "ritz_pairs",
    "saturating_add",
    "warm_start",
]

# A warm start is the last eigenvector plus this much of a fresh random direction, so a new
# most-negative direction that the old vector misses still enters the Krylov space (the same
# rule as jaxtrain.monitor.sharpness).
_FRESH_WEIGHT = 0.1


def check_count(
    name: str,
    value: Any,
    minimum: int = 1,
    maximum: int = INT32_MAX,
    *,
    counts: tuple[str, ...] = (),
) -> int:
    """``value`` as a Python int in [``minimum``, ``maximum``]: it sizes a compiled loop or
    fills an int32 in a state, so it must be static and fit (the largest int32 at most).
    ``counts`` names all the transform's such arguments, for the advice given when an array
    arrives (what ``optax.inject_hyperparams`` passes for every numeric argument not in its
    ``static_args``)."""
    if isinstance(value, jax.Array | np.ndarray):
        static = ", ".join(repr(count) for count in counts or (name,))
        raise ValueError(
            f"`{name}` must be a Python int >= {minimum}, got an array ({value!r}): it is "
            "static (it sizes a compiled loop or bounds an int32 counter). Under "
            "optax.inject_hyperparams, "
            f"name it static: inject_hyperparams(..., static_args=({static},))."
        )
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"`{name}` must be a Python int >= {minimum}, got {value!r}.")
    if value < minimum:
        raise ValueError(f"`{name}` must be a Python int >= {minimum}, got {value}.")
    if value > maximum:
        raise ValueError(f"`{name}` must be at most {maximum}, got {value}.")
    return value


def check_seed(seed: Any) -> None:
    """Refuses a ``seed`` that is not an integer (a float, None, a string, a bool) before
    ``init`` turns it into a key; an integer array (injected by optax) passes."""
    kind = seed.dtype if isinstance(seed, jax.Array | np.ndarray | np.integer) else None
    if isinstance(seed, bool) or not (
        isinstance(seed, int) or (kind is not None and np.issubdtype(kind, np.integer))
    ):
        raise ValueError(f"`seed` must be an int (it seeds a jax.random.key), got {seed!r}.")


def check_optimizer(name: str, optimizer: Any) -> None:
    """Refuses a wrapped optimizer that is not a gradient transformation (a learning rate
    passed in its place failed deep inside optax)."""
    if not (
        callable(getattr(optimizer, "init", None)) and callable(getattr(optimizer, "update", None))
    ):
        raise TypeError(
            f"`{name}` must be an optax GradientTransformation (such as optim.sgd(0.1)), got "
            f"{optimizer!r}."
        )


def objective(
    transform: str, obj_fn: Callable[[Any], jax.Array] | None, params: Any
) -> Callable[[Any], jax.Array]:
    """The loss ``obj_fn(params) -> scalar`` the update received, refused when missing."""
    if params is None:
        raise ValueError(f"{transform}'s update needs `params` (the point θ), got None.")
    if obj_fn is None:
        raise ValueError(
            f"{transform}'s update needs the loss as an extra argument: "
            "update(grads, state, params, obj_fn=lambda p: loss(p, batch))."
        )
    if not callable(obj_fn):
        raise ValueError(f"`obj_fn` must be a function of params, got {obj_fn!r}.")

    def scalar_loss(p: Any) -> jax.Array:
        value = obj_fn(p)
        if jnp.shape(value) != ():
            raise ValueError(
                f"`obj_fn` must return a scalar loss; got shape {jnp.shape(value)} (a missing "
                "mean or [0]?)."
            )
        return value

    return scalar_loss


def saturating_add(counter: jax.Array, amount: jax.Array) -> jax.Array:
    """``counter + amount`` for int32 counters, saturating at the largest int32 (no wrap)."""
    amount = jnp.asarray(amount, jnp.int32)
    return jnp.where(counter > INT32_MAX - amount, INT32_MAX, counter + amount)


def initial_eigenpair(params: Any) -> tuple[jax.Array, jax.Array]:
    """A state's eigenvector and eigenvalue before the first estimate: zeros, in the working
    dtype (float32 for half-precision parameters, whose dtype holds neither a long vector's
    norm nor its orthogonality). Zero, not NaN: a finiteness check of the state must pass."""
    space = flat_space(params)
    return jnp.zeros(space.shape, space.dtype), jnp.zeros([], space.dtype)


def warm_start(vector: jax.Array, key: jax.Array) -> jax.Array:
    """The starting vector of a Lanczos run: the last eigenvector, freshened; random at first.

    In the working dtype: the norm of a fresh normal vector of more than 65,504 float16
    entries overflows, which made the start zero and every later estimate NaN.
    """
    vector = vector.astype(working_dtype(vector.dtype))
    fresh = jax.random.normal(key, vector.shape, vector.dtype)
    fresh = fresh / jnp.linalg.norm(fresh)
    norm = jnp.linalg.norm(vector)
    warm = vector / jnp.where(norm > 0, norm, 1.0) + _FRESH_WEIGHT * fresh
    return jnp.where(norm > 0, warm, fresh)


def ritz_pairs(
    obj_fn: Callable[[Any], jax.Array],
    params: Any,
    v0: jax.Array,
    num_iters: int,
    *,
    k: int,
    tol: float,
    krylov_of_gradient: bool | jax.Array = False,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The k smallest Ritz pairs of H = ∇²L(θ) from at most ``num_iters`` Lanczos steps from v0.

    Traceable: it runs inside the caller's jitted update. Hessian-vector products linearize
    ∇L once (:func:`~jaxtrain.curvature.hvp`); Lanczos keeps its full basis and stops when
    the wanted Ritz values meet ``tol`` (relative). From a warm start the first check waits
    for max(2k, k + 5) steps: an early check could accept the start's own eigenvalue before
    a lower one has entered the Krylov space. ``krylov_of_gradient`` (v0 = g, a Newton step
    wanted in its Krylov space) checks from the first step, so a space that is invariant
    after fewer than ``num_iters`` steps stops there.

    Returns:
      ``(values, vectors, steps)``: ascending Ritz values (k), the Ritz vectors as rows of a
      (k, n) matrix over the flattened parameters, both in the working dtype
      (:func:`jaxtrain._dtypes.working_dtype`), and the number of Hessian-vector products
      (int32). When Lanczos stopped after fewer than k
      steps, positions from ``steps`` on repeat the last value and must be ignored.
    """
    with highest_precision():
        f, flat, _ = flat_operator(hvp(obj_fn, params), params)
        work = working_dtype(flat.dtype)

        def product(v):
            return f(v.astype(flat.dtype)).astype(work)

        n = flat.size
        num_iters = min(num_iters, n)
        values, vectors, _, steps, _ = extreme_ritz_pairs(
            product,
            v0.astype(work),
            jnp.int32(num_iters),
            jnp.asarray(tol, work),
            m=basis_rows(num_iters, n),
            k=min(k, num_iters),
            which="smallest",
            min_iters=jnp.where(krylov_of_gradient, 1, min(num_iters, max(2 * k, k + 5))),
        )
    return values, vectors, steps.astype(jnp.int32)


def line_search(
    obj_fn: Callable[[Any], jax.Array],
    params: Any,
    direction: jax.Array,
    length: jax.Array,
    max_halvings: int,
    *,
    both_signs: bool,
) -> tuple[jax.Array, jax.Array]:
    """The step s·t·d that lowers the loss, t the first of length, length/2, … that does.

    L is evaluated at θ + t·d (and at θ − t·d when ``both_signs``: the sign of an eigenvector
    is arbitrary, so the one that lowers the loss is chosen by evaluating both; a NaN counts as
    no decrease). Halving stops after ``max_halvings``; if no trial lowers L the step is zero (a
    direction that is not finite lowers nothing).
    A single sign (a descent direction) also accepts an unchanged loss, a decrease below float
    rounding.

    Returns:
      ``(step, evaluations)``: the flat step and the number of loss evaluations (int32).
    """
    flat, unravel = ravel_pytree(params)
    direction = direction.astype(flat.dtype)
    length = jnp.asarray(length, flat.dtype)
    loss = obj_fn(params)

    def at(t):
        # A NaN (outside the loss's domain: a log, a square root) is no lower loss; as +inf it
        # loses every comparison, so the other sign or a shorter step is taken instead.
        value = obj_fn(unravel(flat + t * direction))
        return jnp.where(jnp.isnan(value), jnp.inf, value)

    def trial(t):
        plus = at(t)
        if not both_signs:
            return plus, jnp.asarray(1.0, flat.dtype)
        minus = at(-t)
        return jnp.minimum(plus, minus), jnp.where(minus < plus, -1.0, 1.0).astype(flat.dtype)

    def lowered(lowest):
        # A descent direction (``both_signs=False``) is also kept when the change is below
        # the loss's rounding: on a plateau in float32 a true decrease of 1e-10 reads as 0,
        # and refusing it would freeze the method exactly where it is needed.
        return lowest < loss if both_signs else lowest <= loss

    def cond(carry):
        trials, _, lowest = carry
        return (trials <= max_halvings) & ~lowered(lowest)

    def body(carry):
        trials, _, _ = carry
        t = length * jnp.asarray(0.5, flat.dtype) ** trials.astype(flat.dtype)
        lowest, sign = trial(t)
        return trials + 1, sign * t, lowest

    # A zero step (g = 0 for a Newton direction) cannot lower the loss: no trials at all.
    first = jnp.where(length * jnp.linalg.norm(direction) > 0, 0, max_halvings + 1)
    init = (jnp.int32(first), jnp.zeros((), flat.dtype), jnp.asarray(jnp.inf, loss.dtype))
    trials, t, lowest = lax.while_loop(cond, body, init)
    trials = trials - first
    evaluations = 1 + (2 if both_signs else 1) * trials
    # Selected, not multiplied by a zero t: 0 · NaN would leave a NaN direction in the step.
    return jnp.where(lowered(lowest), t * direction, 0.0), evaluations
