"""Whether every floating-point entry of a pytree is finite, exactly and in few kernels."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp


def all_finite(tree: Any, inf_allowed: Any = None) -> jax.Array:
    """Whether every floating-point entry of ``tree`` is finite (integers and keys always are),
    and no entry of ``inf_allowed`` is NaN.

    Exact, through one sum per shape and dtype: ``x − x`` is 0 for a finite entry and NaN for
    NaN or ±inf, so the sum of ``x − x`` over the leaves of one shape and dtype (a weight, its
    momentum and its second moment) is 0 exactly when all of them are finite, and NaN
    otherwise. Nothing is scaled, so nothing can overflow, in any floating dtype. One fused sum
    per shape where ``isfinite`` then ``all`` per leaf are three kernels per leaf on XLA's CPU:
    the check's kernel count, which is its cost on a small step, no longer grows with the
    optimizer's state. It still costs 14% of a batch-32 MLP step with momentum on a CPU
    (97 against 86 µs), which is why ``fit`` checks each call's last state and each step's
    only where it must (:class:`jaxtrain.train._step.StepFunctions`).

    ``inf_allowed`` is for optimizer states: optax keeps ±inf there as "nothing seen yet"
    (``reduce_on_plateau``'s best value until its first accumulation ends, a line search's
    value before its first step), never NaN. Its leaves join the same sums with ±inf read as
    0 (one more elementwise op in each fused sum).

    Returns:
      A boolean scalar; ``True`` for a tree without floating-point leaves.
    """
    # x − x is not folded to 0 because XLA keeps IEEE semantics for floats by default; with
    # fast math's no-NaN/no-inf assumptions (xla_cpu_enable_fast_math) it could be, as could
    # every isfinite.
    same_shape: dict[tuple[tuple[int, ...], jnp.dtype], list[jax.Array]] = {}
    leaves = [(leaf, False) for leaf in jax.tree.leaves(tree)]
    leaves += [(leaf, True) for leaf in jax.tree.leaves(inf_allowed)]
    for leaf, may_be_inf in leaves:
        if jnp.issubdtype(leaf.dtype, jnp.inexact):
            if may_be_inf:
                leaf = jnp.where(jnp.isinf(leaf), jnp.zeros_like(leaf), leaf)
            same_shape.setdefault((leaf.shape, leaf.dtype), []).append(leaf)
    flags = []
    for group in same_shape.values():
        zeros = group[0] - group[0]
        for leaf in group[1:]:
            zeros = zeros + (leaf - leaf)
        flags.append(jnp.isfinite(jnp.sum(zeros)))
    return jnp.all(jnp.stack(flags)) if flags else jnp.bool_(True)
