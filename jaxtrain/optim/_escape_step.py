"""Shared by the saddle-escape transforms: the objective from the update's extra arguments, the
Hessian-vector product, a warm-started Lanczos estimate of the Hessian's extreme eigenpairs,
the Ritz pairs of the Krylov space of g, and a step along a direction whose length and sign
are checked on the loss itself.

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
import optax
from jax import lax
from jax.flatten_util import ravel_pytree

from jaxtrain._dtypes import INT32_MAX, working_dtype
from jaxtrain.curvature import hvp
from jaxtrain.curvature._lanczos import basis_rows, extreme_ritz_pairs, lanczos_loop, ritz
from jaxtrain.curvature._operators import dot, flat_operator, flat_space, highest_precision

__all__ = [
    "check_count",
    "check_optimizer",
    "check_seed",
    "hessian_product",
    "initial_eigenpair",
    "keep_finite",
    "krylov_ritz_pairs",
    "line_search",
    "negative_curvature_step",
    "objective",
    "ritz_pairs",
    "saturating_add",
    "warm_eigenpair",
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
    masked = lambda leaf: isinstance(leaf, optax.MaskedNode)  # noqa: E731
    if any(masked(leaf) for leaf in jax.tree.leaves(params, is_leaf=masked)):
        raise ValueError(
            f"{transform} needs every parameter, to evaluate the loss and its curvature, but "
            "it runs on part of them (optax.masked or optax.multi_transform, which hand it "
            "the others as MaskedNode); give it all the parameters, and the other groups' "
            "transforms inside it or after it in a chain."
        )

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


def hessian_product(
    obj_fn: Callable[[Any], jax.Array], params: Any
) -> Callable[[jax.Array], jax.Array]:
    """v ↦ Hv for H = ∇²L(θ), on flat vectors in the working dtype.

    ∇L is linearized at θ once here (:func:`~jaxtrain.curvature.hvp`): one forward and
    backward pass, a gradient's worth of work that every product then reuses. The update that
    calls this counts it in its state's ``gradient_evaluations``: the gradient it receives as
    ``updates`` holds none of the intermediate values the linearization needs.
    """
    with highest_precision():
        f, flat, _ = flat_operator(hvp(obj_fn, params), params)
    work = working_dtype(flat.dtype)

    def product(v: jax.Array) -> jax.Array:
        with highest_precision():
            return f(v.astype(flat.dtype)).astype(work)

    return product


def ritz_pairs(
    product: Callable[[jax.Array], jax.Array],
    v0: jax.Array,
    num_iters: int,
    *,
    k: int,
    tol: float,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The k smallest Ritz pairs of H from at most ``num_iters`` Lanczos steps from a warm v0.

    Traceable: it runs inside the caller's jitted update, on ``product`` from
    :func:`hessian_product`. Lanczos keeps its full basis and stops when the wanted Ritz
    values meet ``tol`` (relative), an eigenvalue estimate's test. The first check waits for
    max(2k, k + 5) steps: an early check could accept the start's own eigenvalue before a
    lower one has entered the Krylov space.

    Returns:
      ``(values, vectors, steps)``: ascending Ritz values (k), the Ritz vectors as rows of a
      (k, n) matrix over the flattened parameters, both in the working dtype
      (:func:`jaxtrain._dtypes.working_dtype`), and the number of Hessian-vector products
      (int32). When Lanczos stopped after fewer than k
      steps, positions from ``steps`` on repeat the last value and must be ignored.
    """
    n = v0.shape[0]
    num_iters = min(num_iters, n)
    with highest_precision():
        values, vectors, _, steps, _ = extreme_ritz_pairs(
            product,
            v0,
            jnp.int32(num_iters),
            jnp.asarray(tol, v0.dtype),
            m=basis_rows(num_iters, n),
            k=min(k, num_iters),
            which="smallest",
            min_iters=min(num_iters, max(2 * k, k + 5)),
        )
    return values, vectors, steps.astype(jnp.int32)


def krylov_ritz_pairs(
    product: Callable[[jax.Array], jax.Array], v0: jax.Array, num_iters: int
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The Ritz pairs of H in span{v0, Hv0, …, H^{num_iters−1}v0}: for a step −f(H)g, v0 = g.

    All ``num_iters`` Lanczos steps are taken unless the Krylov space becomes invariant first:
    a breakdown, where the new direction vanishes against the scale of T (Lanczos records
    β = 0 there). Then span{g, …} holds g's whole component in every eigendirection it meets,
    and −f(H)g is exact in it. No tolerance on the Ritz values stops it earlier: values that
    have converged (residual ≤ tol·|θ|) say nothing about how much of g the space still
    misses. A part c of g along a direction of curvature ≈ 0 leaves a residual of only |θ|·c
    on the stiff pair, yet saddle-free Newton's |H|⁻¹ multiplies it by 1/δ (Dauphin et al.
    2014, the long step along a plateau).

    Returns:
      ``(values, vectors, steps)`` as :func:`ritz_pairs`, for all min(num_iters, n) pairs.
    """
    n = v0.shape[0]
    num_iters = min(num_iters, n)
    m = basis_rows(num_iters, n)

    def invariant(alphas, betas, j):
        del alphas
        return jnp.any((jnp.arange(m) < j) & (betas == 0)), None

    with highest_precision():
        # The check reads only β, no eigensolve; the Ritz pairs are solved once, after the
        # loop. It runs on the loop's schedule (every step up to 32, then every j/16), so a
        # breakdown may be seen a few steps late: those steps restart orthogonally to g's
        # Krylov space, and their Ritz vectors add nothing to −f(H)g.
        alphas, betas, basis, steps, _ = lanczos_loop(
            product, v0, jnp.int32(num_iters), m, check=invariant, min_iters=1
        )
        values, columns, _ = ritz(alphas, betas, steps, m)
        # ritz sorts the first ``steps`` values first; later positions repeat the last one.
        first = jnp.minimum(jnp.arange(num_iters), steps - 1)
        vectors = dot(columns[:, first].T, basis)
    return values[first], vectors, steps.astype(jnp.int32)


def keep_finite(
    value: jax.Array, vector: jax.Array, last_value: jax.Array, last_vector: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The new eigenpair where it is finite, the last one otherwise.

    A Hessian-vector product that is not finite (a loss whose second derivative is infinite
    at θ, such as |w|^1.5 at 0) makes every Ritz value and vector NaN. Kept, it would fail the
    finiteness check of the optimizer state that marks a step as failed (``all_finite`` in
    :func:`~jaxtrain.train.fit`) and poison every later warm start; the last finite pair is
    still a good start.

    Returns:
      ``(finite, value, vector)``: whether the new pair was finite, and the pair to keep.
    """
    finite = jnp.isfinite(value) & jnp.all(jnp.isfinite(vector))
    return finite, jnp.where(finite, value, last_value), jnp.where(finite, vector, last_vector)


def warm_eigenpair(
    small: jax.Array,
    examine: Callable[[], tuple[jax.Array, jax.Array, jax.Array]],
    last_value: jax.Array,
    last_vector: jax.Array,
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """λmin and its vector: ``examine()`` where the gradient is ``small``, else the last pair,
    and the last pair too where the new one is not finite (:func:`keep_finite`).

    ``examine`` returns ``(value, vector, products)``, traced in a ``lax.cond`` so that a large
    gradient costs no Hessian-vector product.

    Returns:
      ``(finite, value, vector, products)``.
    """

    def skip():
        return last_value, last_vector, jnp.zeros([], jnp.int32)

    value, vector, products = lax.cond(small, examine, skip)
    finite, value, vector = keep_finite(value, vector, last_value, last_vector)
    return finite, value, vector, products


def line_search(
    obj_fn: Callable[[Any], jax.Array],
    params: Any,
    direction: jax.Array,
    length: jax.Array,
    max_halvings: int,
    *,
    both_signs: bool,
    loss: jax.Array,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The step s·t·d that lowers the loss, t the first of length, length/2, … that does.

    L is evaluated at θ + t·d (and at θ − t·d when ``both_signs``: the sign of an eigenvector
    is arbitrary, so the one that lowers the loss is chosen by evaluating both; a NaN counts as
    no decrease) and compared with ``loss``, L(θ), which the caller evaluates once for all its
    searches. Halving stops after ``max_halvings``; if no trial lowers L the step is zero and
    ``lowered`` is False, for the caller to take another step instead (a direction that is
    not finite, or zero, lowers nothing).
    A single sign (a descent direction) also accepts an unchanged loss, a decrease below float
    rounding.

    Returns:
      ``(step, evaluations, lowered)``: the flat step, the number of trial losses evaluated
      (int32; L(θ) is the caller's) and whether a trial lowered L.
    """
    flat, unravel = ravel_pytree(params)
    direction = direction.astype(flat.dtype)
    length = jnp.asarray(length, flat.dtype)

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
    # Tested entry by entry: a float16 norm squares entries below ~2.4e-4 to 0.
    moves = (length > 0) & jnp.any(direction != 0) & jnp.all(jnp.isfinite(direction))
    first = jnp.where(moves, 0, max_halvings + 1)
    init = (jnp.int32(first), jnp.zeros((), flat.dtype), jnp.asarray(jnp.inf, loss.dtype))
    trials, t, lowest = lax.while_loop(cond, body, init)
    evaluations = (2 if both_signs else 1) * (trials - first)
    found = lowered(lowest)
    # Selected, not multiplied by a zero t: 0 · NaN would leave a NaN direction in the step.
    return jnp.where(found, t * direction, 0.0), evaluations, found


def negative_curvature_step(
    obj_fn: Callable[[Any], jax.Array],
    params: Any,
    negative: jax.Array,
    eigenvalue: jax.Array,
    vector: jax.Array,
    *,
    hessian_lipschitz: float,
    max_halvings: int,
    loss: Callable[[], jax.Array],
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Where ``negative``, the step of length |λ|/ρ along ±u that lowers the loss
    (:func:`line_search` over both signs, halving the length), λ = ``eigenvalue`` and
    u = ``vector``; elsewhere no step and no evaluation, in a ``lax.cond``.

    ``loss()`` gives L(θ), called inside the branch: a caller that has it already passes it
    back, one that does not pays for it only where it escapes.

    Returns:
      ``(step, trials, escaped)`` as :func:`line_search` returns them (``escaped`` False and
      the step zero where not ``negative``).
    """

    def escape():
        length = jnp.abs(eigenvalue) / hessian_lipschitz
        return line_search(
            obj_fn, params, vector, length, max_halvings, both_signs=True, loss=loss()
        )

    def no_escape():
        flat, _ = ravel_pytree(params)
        return jnp.zeros_like(flat), jnp.zeros([], jnp.int32), jnp.asarray(False)

    return lax.cond(negative, escape, no_escape)
