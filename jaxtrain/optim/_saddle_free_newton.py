"""Saddle-free Newton (Dauphin et al. 2014): |H|⁻¹g in a k-dimensional Krylov subspace, damped."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax import lax
from jax.flatten_util import ravel_pytree

from jaxtrain._dtypes import working_dtype
from jaxtrain.optim._escape_step import (
    check_count,
    check_seed,
    hessian_product,
    initial_eigenpair,
    keep_finite,
    krylov_ritz_pairs,
    line_search,
    negative_curvature_step,
    objective,
    ritz_pairs,
    saturating_add,
    warm_eigenpair,
    warm_start,
)
from jaxtrain.optim._validation import check_non_negative, check_positive

__all__ = ["SaddleFreeNewtonState", "saddle_free_newton"]


class SaddleFreeNewtonState(NamedTuple):
    """State of :func:`saddle_free_newton`.

    Attributes:
      count: steps taken (int32, saturating).
      key: the PRNG key of the Lanczos starting vectors, split every step.
      vector: the last finite most negative Ritz vector (flat, ``ravel_pytree`` order,
        float32 at least; zeros before the first), the warm start where the gradient vanishes.
      eigenvalue: the last finite smallest Ritz value of H in the subspace (0 before the
        first).
      matvecs: Hessian-vector products used so far (int32, saturating).
      loss_evaluations: losses evaluated so far by the line searches, L(θ) once per update
        (int32, saturating).
      gradient_evaluations: gradients evaluated so far by the update itself: one per update,
        the linearization of ∇L at θ that all its Hessian-vector products reuse (int32,
        saturating; the gradient passed in as ``updates`` is not counted).
    """

    count: jax.Array
    key: jax.Array
    vector: jax.Array
    eigenvalue: jax.Array
    matvecs: jax.Array
    loss_evaluations: jax.Array
    gradient_evaluations: jax.Array


def saddle_free_newton(
    k: int,
    *,
    learning_rate: float = 1.0,
    damping: float = 1e-2,
    gradient_threshold: float = 1e-3,
    curvature_threshold: float = 1e-3,
    hessian_lipschitz: float = 1.0,
    tol: float | None = None,
    max_halvings: int = 10,
    seed: int = 0,
) -> optax.GradientTransformationExtraArgs:
    r"""Saddle-free Newton: the step −|H|⁻¹g, with H restricted to a k-dimensional Krylov subspace.

    Lecture §2: Newton's step −H⁻¹g is attracted to saddles, because along an eigenvector of
    a negative λ it moves *toward* the critical point. Dauphin et al. replace H by |H|, the
    same eigenvectors with |λ|: along every direction the step goes downhill, by g's
    component divided by the curvature, so flat directions (plateaus) get long steps and
    negative curvature is a way down instead of a trap. Each update:

    1. k Lanczos steps (k Hessian-vector products) from g/‖g‖ build an orthonormal basis of
       the Krylov subspace span{g, Hg, …, H^{k−1}g} and the tridiagonal T = VᵀHV; its
       eigenpairs (θᵢ, yᵢ) are the Ritz pairs of H there. Fewer steps only where the subspace
       is invariant (a Lanczos breakdown), where the step below is exact.
    2. d = −Σᵢ (yᵢᵀg)/(|θᵢ| + δ) · yᵢ, the damped |H|⁻¹g in the subspace (δ ``damping``).
    3. The update is t·d with t the first of η, η/2, … (at most ``max_halvings`` halvings)
       that lowers the loss, evaluated on ``obj_fn``: d is a descent direction
       (gᵀd < 0), so a short enough step always does.
    4. Where none does, or d is not finite (a Hessian-vector product was NaN: a loss whose
       curvature is infinite at θ), the gradient step t·(−g), t chosen as in 3; the zero
       update only where that fails too (g = 0, or a loss that is not finite).

    At a critical point g = 0, so |H|⁻¹g = 0 too and the step alone would never leave a saddle.
    Where ‖g‖ < ε_g the Lanczos run starts instead from the last most negative Ritz vector
    (random at first), and if its smallest Ritz value λ < −ε_H the update is the
    negative-curvature step of :func:`negative_curvature_descent`: length |λ|/ρ along that
    vector, halved until the loss falls, with the sign that lowers it. If there is no such λ,
    or no sign and length lowers the loss (a decrease |λ|³/(3ρ²) below the loss's rounding,
    which a zero update would meet again at every later step), the update is steps 1–4 after
    all (k more products, from g). Both runs share one linearization of ∇L at θ, and a Ritz
    pair that is not finite never reaches the state: it keeps the last finite one.

    ε_g is ``gradient_threshold``, ε_H ``curvature_threshold``, ρ ``hessian_lipschitz``, η
    ``learning_rate``. ``updates`` must be the raw gradient g (put this transform first in a
    chain, and no learning rate after it: η is applied here); the loss
    ``obj_fn(params) -> scalar`` arrives as an extra argument of ``update``, as
    ``optax.contrib.sophia`` takes it.

    Args:
      k: the dimension of the Krylov subspace (Hessian-vector products per step), >= 1.
      learning_rate: η > 0, the first length tried (1 is the full Newton step).
      damping: δ > 0, added to every |θᵢ|: it bounds the step along flat directions.
      gradient_threshold: ε_g > 0.
      curvature_threshold: ε_H ≥ 0.
      hessian_lipschitz: ρ > 0.
      tol: deprecated and without effect; a ``DeprecationWarning`` says so when it is
        given. Lanczos from g stops early only on an invariant subspace (Ritz values within
        a tolerance do not make one, and stopping there dropped the part of g along flat
        directions, the part |H|⁻¹ amplifies most), and the run from the warm start takes
        its k steps.
      max_halvings: the most halvings of the length, >= 0.
      seed: seeds the PRNG key of the Lanczos starting vectors.

    Returns:
      An ``optax.GradientTransformationExtraArgs`` whose state is a
      :class:`SaddleFreeNewtonState`, and whose ``update(updates, state, params,
      obj_fn=...)`` needs ``params`` and ``obj_fn``.

    Raises:
      ValueError: for hyperparameters out of range (``k`` and ``max_halvings`` must be
        Python ints); at update time, when ``params`` or ``obj_fn`` is missing.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jaxtrain import optim
      >>> loss = lambda w: 0.5 * (w[0] ** 2 - w[1] ** 2) + 0.25 * w[1] ** 4  # saddle at 0
      >>> opt = optim.saddle_free_newton(2)
      >>> w = jnp.array([1.0, 0.1])
      >>> state = opt.init(w)
      >>> update = jax.jit(lambda g, state, w: opt.update(g, state, w, obj_fn=loss))
      >>> updates, state = update(jax.grad(loss)(w), state, w)
      >>> print([round(float(x), 3) for x in w + updates])  # −|H|⁻¹g: away from 0 along w₂
      [0.01, 0.201]

    References:
      Dauphin, Pascanu, Gulcehre, Cho, Ganguli, Bengio, "Identifying and attacking the
      saddle point problem in high-dimensional non-convex optimization", 2014,
      https://arxiv.org/abs/1406.2572 (Algorithm 1).
    """
    counts = ("k", "max_halvings")
    check_count("k", k, counts=counts)
    check_positive("learning_rate", learning_rate)
    check_positive("damping", damping)
    check_positive("gradient_threshold", gradient_threshold)
    check_non_negative("curvature_threshold", curvature_threshold)
    check_positive("hessian_lipschitz", hessian_lipschitz)
    if tol is not None:
        warnings.warn(
            "saddle_free_newton(tol=...) has no effect: both Lanczos runs take their k steps"
            " (the run from g stops early only where its Krylov space is invariant); drop tol",
            DeprecationWarning,
            stacklevel=2,
        )
    check_count("max_halvings", max_halvings, minimum=0, counts=counts)
    check_seed(seed)

    def init_fn(params: Any) -> SaddleFreeNewtonState:
        vector, eigenvalue = initial_eigenpair(params)
        zero = jnp.zeros([], jnp.int32)
        return SaddleFreeNewtonState(
            count=zero,
            key=jax.random.key(seed),
            vector=vector,
            eigenvalue=eigenvalue,
            matvecs=zero,
            loss_evaluations=zero,
            gradient_evaluations=zero,
        )

    def update_fn(
        updates: Any,
        state: SaddleFreeNewtonState,
        params: Any = None,
        *,
        obj_fn: Callable[[Any], jax.Array] | None = None,
        **extra_args: Any,
    ) -> tuple[Any, SaddleFreeNewtonState]:
        del extra_args
        loss_fn = objective("saddle_free_newton", obj_fn, params)
        flat_grad, unravel = ravel_pytree(updates)
        if flat_grad.size == 0:  # no parameter to move: no curvature to measure
            return updates, state._replace(count=saturating_add(state.count, 1))
        update_dtype = flat_grad.dtype
        # The Ritz pairs come in this dtype too (ritz_pairs works in working_dtype).
        flat_grad = flat_grad.astype(working_dtype(state.vector.dtype))
        key, subkey = jax.random.split(state.key)
        grad_norm = jnp.linalg.norm(flat_grad)
        small = grad_norm < gradient_threshold
        warm = warm_start(state.vector, subkey)
        # Every update runs Lanczos at least once and searches a line at least once: one
        # linearization of ∇L and one L(θ) serve all of them.
        product = hessian_product(loss_fn, params)
        loss = loss_fn(params)

        def search(direction, length, *, both_signs):
            step, trials, found = line_search(
                loss_fn, params, direction, length, max_halvings, both_signs=both_signs, loss=loss
            )
            return step.astype(flat_grad.dtype), trials, found

        # Near a critical point: λmin from the warm start, and its negative-curvature step.
        def examine():
            # No tolerance: for k values from k steps, ritz_pairs's first stop test falls at
            # step k, where the run ends anyway.
            values, vectors, steps = ritz_pairs(product, warm, k, k=k, tol=0.0)
            return values[0], vectors[0], steps

        finite, eigenvalue, vector, steps = warm_eigenpair(
            small, examine, state.eigenvalue, state.vector
        )
        negative = small & finite & (eigenvalue < -curvature_threshold)

        escape_step, escape_trials, escaped = negative_curvature_step(
            loss_fn,
            params,
            negative,
            eigenvalue,
            vector,
            hessian_lipschitz=hessian_lipschitz,
            max_halvings=max_halvings,
            loss=lambda: loss,
        )

        # Otherwise the damped Newton step in the Krylov space of g (where g = 0 it is 0, and
        # a NaN g makes the update NaN below: neither needs the products).
        def newton():
            start = flat_grad / jnp.where(grad_norm > 0, grad_norm, 1.0)
            values, vectors, newton_steps = krylov_ritz_pairs(product, start, k)
            # Positions past the steps Lanczos took repeat its last pair: count each pair once.
            valid = jnp.arange(values.shape[0]) < newton_steps
            coefficients = (vectors @ flat_grad) / (jnp.abs(values) + damping)
            direction = -(jnp.where(valid, coefficients, 0.0) @ vectors)
            step, trials, found = search(direction, learning_rate, both_signs=False)
            # Where no trial lowered L, or the direction was not finite, the gradient step.
            step, more_trials, _ = lax.cond(
                found,
                lambda: (step, jnp.zeros([], jnp.int32), found),
                lambda: search(-flat_grad, learning_rate, both_signs=False),
            )
            return step, trials + more_trials, values[0], vectors[0], newton_steps

        def no_newton():
            return (
                jnp.zeros_like(flat_grad),
                jnp.zeros([], jnp.int32),
                state.eigenvalue,
                state.vector,
                jnp.zeros([], jnp.int32),
            )

        newton_step, newton_trials, newton_value, newton_vector, newton_steps = lax.cond(
            ~escaped & (grad_norm > 0), newton, no_newton
        )
        step = jnp.where(escaped, escape_step.astype(flat_grad.dtype), newton_step)
        # The state's pair: the warm-started estimate where g is small, else the smallest
        # Ritz pair of g's space (a start for the next small gradient), if finite.
        _, eigenvalue, vector = keep_finite(
            jnp.where(small, eigenvalue, newton_value),
            jnp.where(small, vector, newton_vector),
            state.eigenvalue,
            state.vector,
        )
        # A gradient that is not finite is a fault to show, not a step to skip: the line
        # search would turn its NaN direction into a zero step, and the run would stall
        # silently where gradient descent's update would carry the NaN.
        step = jnp.where(jnp.isfinite(grad_norm), step, jnp.nan)
        return unravel(step.astype(update_dtype)), SaddleFreeNewtonState(
            count=saturating_add(state.count, 1),
            key=key,
            vector=vector.astype(state.vector.dtype),
            eigenvalue=eigenvalue.astype(state.eigenvalue.dtype),
            matvecs=saturating_add(state.matvecs, steps + newton_steps),
            loss_evaluations=saturating_add(
                state.loss_evaluations, 1 + escape_trials + newton_trials
            ),
            gradient_evaluations=saturating_add(state.gradient_evaluations, 1),
        )

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
