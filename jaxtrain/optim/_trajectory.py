"""The path an optimizer takes on a loss surface, computed in one ``lax.scan``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from jaxtrain._hoisted import hoisted
from jaxtrain.optim._extra_args import update_with_extra_args


@functools.partial(jax.jit, static_argnames=("optimizer", "num_steps"))
def _scan_trajectory(optimizer, loss_fn, init_params, num_steps):
    value_and_grad = jax.value_and_grad(loss_fn)
    # The loss goes to update as optax's extra arguments (value, grad, value_fn: L-BFGS,
    # reduce_on_plateau) and as obj_fn to the escape transforms that take it.
    update = update_with_extra_args(optimizer)

    def step(carry, _):
        params, opt_state = carry
        loss, grads = value_and_grad(params)
        updates, opt_state = update(grads, opt_state, params, value=loss, value_fn=loss_fn)
        return (optax.apply_updates(params, updates), opt_state), (params, loss)

    (last, _), (visited, losses) = jax.lax.scan(
        step, (init_params, optimizer.init(init_params)), None, length=num_steps
    )
    visited = jax.tree.map(lambda path, p: jnp.concatenate([path, p[None]]), visited, last)
    losses = jnp.concatenate([losses, jnp.asarray(loss_fn(last))[None]])
    return visited, losses


def optimize_trajectory(
    optimizer: optax.GradientTransformation,
    loss_fn: Callable[[Any], jax.Array],
    init_params: Any,
    num_steps: int,
) -> tuple[Any, jax.Array]:
    """Runs ``num_steps`` full-batch steps of ``optimizer`` on ``loss_fn`` and keeps the path.

    θ⁰ = ``init_params``; then θᵗ⁺¹ = θᵗ + update(∇L(θᵗ)). The whole run is one jitted
    ``lax.scan`` (no per-step dispatch), so hundreds of steps of a 2-D toy take
    milliseconds: what the lecture's pictures of SGD, momentum, Adagrad, RMSProp and Adam on
    a long narrow valley need. The compiled run is cached per (optimizer, loss_fn,
    num_steps), so keep those objects to reuse it; ``loss_fn`` is read at each call, so the
    arrays it closes over may change between calls without a new compilation.

    Args:
      optimizer: any ``optax.GradientTransformation``; its ``update`` is given optax's extra
        arguments ``value``, ``grad`` and ``value_fn=loss_fn`` (``optax.lbfgs``,
        ``optax.contrib.reduce_on_plateau``), and ``obj_fn=loss_fn`` where it takes it, so
        the escape transforms (:func:`negative_curvature_descent`,
        :func:`saddle_free_newton`, :func:`perturbed_gd`) run too.
      loss_fn: L(θ) -> scalar, differentiable with ``jax.grad``.
      init_params: θ⁰ (any pytree of float arrays).
      num_steps: the number of updates T >= 0.

    Returns:
      ``(params, losses)``: ``params`` is θ⁰ … θᵀ stacked along a new leading axis of
      length T + 1 (a pytree like ``init_params``), ``losses`` the T + 1 values L(θᵗ).

    Raises:
      ValueError: if ``num_steps`` is not an integer >= 0.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxtrain.optim import optimize_trajectory, sgd
      >>> path, losses = optimize_trajectory(
      ...     sgd(0.25), lambda p: jnp.sum(p**2), jnp.array([1.0, -2.0]), 3
      ... )
      >>> print(path)  # each step halves θ
      [[ 1.    -2.   ]
       [ 0.5   -1.   ]
       [ 0.25  -0.5  ]
       [ 0.125 -0.25 ]]
      >>> print(losses)
      [5.       1.25     0.3125   0.078125]
    """
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 0:
        raise ValueError(f"`num_steps` must be an integer >= 0, got {num_steps!r}.")
    # The loss as an argument read now (its closed-over arrays leaves), not a static one
    # compiled with its first call's data.
    return _scan_trajectory(optimizer, hoisted(loss_fn, (init_params,)), init_params, num_steps)
