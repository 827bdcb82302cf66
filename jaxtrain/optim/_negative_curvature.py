"""Negative-curvature descent: where the gradient vanishes, step along H's most negative λ."""

from __future__ import annotations

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
    check_optimizer,
    check_seed,
    hessian_product,
    initial_eigenpair,
    negative_curvature_step,
    objective,
    ritz_pairs,
    saturating_add,
    warm_eigenpair,
    warm_start,
)
from jaxtrain.optim._extra_args import update_taking
from jaxtrain.optim._validation import check_non_negative, check_positive

__all__ = ["NegativeCurvatureDescentState", "negative_curvature_descent"]


class NegativeCurvatureDescentState(NamedTuple):
    """State of :func:`negative_curvature_descent`.

    Attributes:
      count: steps taken (int32, saturating).
      key: the PRNG key of the Lanczos starting vectors, split every step.
      vector: the last finite λmin eigenvector (flat, ``ravel_pytree`` order, float32 at
        least; zeros before the first), the next Lanczos run's warm start.
      eigenvalue: the last finite λmin estimate (0 before the first: ``matvecs`` is 0 then).
      matvecs: Hessian-vector products used so far (int32, saturating).
      loss_evaluations: losses evaluated so far to choose the sign and length (int32,
        saturating).
      gradient_evaluations: gradients evaluated so far by the update itself, one per Lanczos
        run: the linearization of ∇L at θ that its Hessian-vector products reuse (int32,
        saturating; the gradient passed in as ``updates`` is not counted).
      inner_state: the wrapped optimizer's state.
    """

    count: jax.Array
    key: jax.Array
    vector: jax.Array
    eigenvalue: jax.Array
    matvecs: jax.Array
    loss_evaluations: jax.Array
    gradient_evaluations: jax.Array
    inner_state: Any


def negative_curvature_descent(
    optimizer: optax.GradientTransformation,
    *,
    gradient_threshold: float = 1e-3,
    curvature_threshold: float = 1e-3,
    hessian_lipschitz: float = 1.0,
    num_iters: int = 10,
    tol: float = 1e-3,
    max_halvings: int = 10,
    seed: int = 0,
) -> optax.GradientTransformationExtraArgs:
    r"""Wraps ``optimizer``; near a critical point, steps along H's most negative eigenvector.

    Lecture §2: at a critical point (g = 0) a saddle is told from a minimum by the Hessian
    H = ∇²L(θ), and the eigenvector u of a negative eigenvalue λ is a way down,
    L(θ + t·u) ≈ L(θ) + ½λt². Gradient descent cannot see it (it moves by g, which is 0);
    this transform looks for it whenever the gradient is small:

    - ‖g‖ ≥ ε_g: the wrapped optimizer's step (no Hessian work).
    - ‖g‖ < ε_g: Lanczos on v ↦ Hv (at most ``num_iters`` Hessian-vector products,
      warm-started from the previous eigenvector) estimates λmin and its unit eigenvector u.
      If λmin < −ε_H the update is s·t·u: t = |λmin|/ρ, the length at which the cubic model
      L(θ + t·u) ≤ L(θ) + t·gᵀu + ½λt² + ρt³/6 guarantees a decrease of at least
      |λmin|³/(3ρ²) (for a Hessian ρ-Lipschitz along the step), and s = ±1, whichever lowers
      the loss, checked by evaluating L(θ ± t·u). When neither does (ρ was too small), t is
      halved up to ``max_halvings`` times; if still neither lowers L, the wrapped
      optimizer's step. (A decrease below the loss's rounding, |λmin|³/(3ρ²) ≈ 3e-9 for
      λmin = −2e-3 and ρ = 1 against a float32 loss of order 1, lowers nothing that can be
      seen: a zero update there would leave θ and the state as they were, and every later
      step would repeat it.) Otherwise (no negative curvature) the wrapped optimizer's step.
    - A Lanczos estimate that is not finite (a NaN Hessian-vector product) counts as no
      negative curvature, and the state keeps the last finite eigenpair.

    ε_g is ``gradient_threshold``, ε_H ``curvature_threshold``, ρ ``hessian_lipschitz``.
    Every branch is a ``lax.cond``: the update is jit-able, and nothing waits on the host.
    A Lanczos run costs a gradient besides its products (the linearization of ∇L at θ) and
    the line search one loss per trial plus L(θ): the state counts all three.
    ``updates`` must be the raw gradient g (put this transform first in a chain); the loss
    ``obj_fn(params) -> scalar`` arrives as an extra argument of ``update``, as
    ``optax.contrib.sophia`` takes it, and is passed on to the wrapped optimizer too.

    Args:
      optimizer: the step away from critical points (e.g. ``jaxtrain.optim.sgd(0.1)``); an
        ``optax.GradientTransformation`` or ``GradientTransformationExtraArgs``.
      gradient_threshold: ε_g > 0, the gradient norm below which curvature is examined.
      curvature_threshold: ε_H ≥ 0, how negative λmin must be to count (Lanczos estimates
        carry round-off of order ε·‖H‖).
      hessian_lipschitz: ρ > 0, the Lipschitz constant of the Hessian assumed for the length.
      num_iters: the most Lanczos steps (Hessian-vector products) per examination, >= 1.
      tol: relative tolerance on λmin at which Lanczos stops early.
      max_halvings: how many times the length may be halved to lower the loss, >= 0.
      seed: seeds the PRNG key of the Lanczos starting vectors.

    Returns:
      An ``optax.GradientTransformationExtraArgs``; its state is a
      :class:`NegativeCurvatureDescentState`, and its ``update(updates, state, params,
      obj_fn=...)`` needs ``params`` and ``obj_fn``.

    Raises:
      ValueError: for a threshold, ρ or ``tol`` out of range, a ``num_iters`` or
        ``max_halvings`` that is not a Python int in range; at update time, when ``params``
        or ``obj_fn`` is missing.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jaxtrain import optim
      >>> loss = lambda w: (1.0 - w[0] * w[1]) ** 2  # the lecture's toy: a saddle at 0
      >>> opt = optim.negative_curvature_descent(optim.sgd(0.1), hessian_lipschitz=4.0)
      >>> w = jnp.zeros(2)
      >>> state = opt.init(w)
      >>> update = jax.jit(lambda g, state, w: opt.update(g, state, w, obj_fn=loss))
      >>> updates, state = update(jax.grad(loss)(w), state, w)
      >>> print(float(loss(w + updates)) < 0.8, round(float(state.eigenvalue), 3))
      True -2.0

    References:
      Nesterov, Polyak, "Cubic regularization of Newton method and its global performance",
      Math. Program. 108 (2006) (the decrease |λ|³/(3ρ²) of a step |λ|/ρ).

      Carmon, Duchi, Hinder, Sidford, "Accelerated Methods for Non-Convex Optimization",
      2016, https://arxiv.org/abs/1611.00756 (negative-curvature steps from Lanczos).

      Dauphin et al., "Identifying and attacking the saddle point problem in
      high-dimensional non-convex optimization", 2014, https://arxiv.org/abs/1406.2572
    """
    check_positive("gradient_threshold", gradient_threshold)
    check_non_negative("curvature_threshold", curvature_threshold)
    check_positive("hessian_lipschitz", hessian_lipschitz)
    check_positive("tol", tol)
    check_optimizer("optimizer", optimizer)
    counts = ("num_iters", "max_halvings")
    check_count("num_iters", num_iters, counts=counts)
    check_count("max_halvings", max_halvings, minimum=0, counts=counts)
    check_seed(seed)
    # The loss goes on to the wrapped optimizer only where it takes it (optax.lbfgs does not).
    inner_update = update_taking(optimizer)

    def init_fn(params: Any) -> NegativeCurvatureDescentState:
        vector, eigenvalue = initial_eigenpair(params)
        zero = jnp.zeros([], jnp.int32)
        return NegativeCurvatureDescentState(
            count=zero,
            key=jax.random.key(seed),
            vector=vector,
            eigenvalue=eigenvalue,
            matvecs=zero,
            loss_evaluations=zero,
            gradient_evaluations=zero,
            inner_state=optimizer.init(params),
        )

    def update_fn(
        updates: Any,
        state: NegativeCurvatureDescentState,
        params: Any = None,
        *,
        obj_fn: Callable[[Any], jax.Array] | None = None,
        **extra_args: Any,
    ) -> tuple[Any, NegativeCurvatureDescentState]:
        loss_fn = objective("negative_curvature_descent", obj_fn, params)
        flat_grad = ravel_pytree(updates)[0]
        if flat_grad.size == 0:  # no parameter to move: no curvature to measure
            new_updates, inner_state = inner_update(
                updates, state.inner_state, params, obj_fn=obj_fn, **extra_args
            )
            return new_updates, state._replace(
                count=saturating_add(state.count, 1), inner_state=inner_state
            )
        key, subkey = jax.random.split(state.key)
        small = jnp.linalg.norm(flat_grad.astype(working_dtype(flat_grad.dtype))) < (
            gradient_threshold
        )

        def examine():
            product = hessian_product(loss_fn, params)
            v0 = warm_start(state.vector, subkey)
            values, vectors, steps = ritz_pairs(product, v0, num_iters, k=1, tol=tol)
            return (
                values[0].astype(state.eigenvalue.dtype),
                vectors[0].astype(state.vector.dtype),
                steps,
            )

        finite, eigenvalue, vector, steps = warm_eigenpair(
            small, examine, state.eigenvalue, state.vector
        )
        negative = small & finite & (eigenvalue < -curvature_threshold)

        step, trials, escaped = negative_curvature_step(
            loss_fn,
            params,
            negative,
            eigenvalue,
            vector,
            hessian_lipschitz=hessian_lipschitz,
            max_halvings=max_halvings,
            loss=lambda: loss_fn(params),
        )
        evaluations = trials + negative  # and L(θ), where it searched

        def take_escape():
            return ravel_pytree(updates)[1](step.astype(flat_grad.dtype)), state.inner_state

        def descend():
            # Also where the escape lowered nothing: the wrapped optimizer still moves θ.
            return inner_update(updates, state.inner_state, params, obj_fn=obj_fn, **extra_args)

        new_updates, inner_state = lax.cond(escaped, take_escape, descend)
        return new_updates, NegativeCurvatureDescentState(
            count=saturating_add(state.count, 1),
            key=key,
            vector=vector.astype(state.vector.dtype),
            eigenvalue=eigenvalue,
            matvecs=saturating_add(state.matvecs, steps),
            loss_evaluations=saturating_add(state.loss_evaluations, evaluations),
            gradient_evaluations=saturating_add(state.gradient_evaluations, small),
            inner_state=inner_state,
        )

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
