"""Whether every floating-point entry of a pytree is finite, exactly and in few kernels."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp


def all_finite(tree: Any) -> jax.Array:
    """Whether every floating-point entry of ``tree`` is finite (integers and keys always are).

    Exact, through one sum per shape and dtype: ``x − x`` is 0 for a finite entry and NaN for
    NaN or ±inf, so the sum of ``x − x`` over the leaves of one shape and dtype (a weight, its
    momentum and its second moment) is 0 exactly when all of them are finite, and NaN
    otherwise. Nothing is scaled, so nothing can overflow, in any floating dtype. One fused sum
    per shape where ``isfinite`` then ``all`` per leaf are three kernels per leaf on XLA's CPU:
    the check's kernel count, which is its cost on a small step, no longer grows with the
    optimizer's state. It still costs 14% of a batch-32 MLP step with momentum on a CPU
    (97 against 86 µs), which is why ``fit`` checks each call's last state and each step's
    only where it must (:class:`jaxtrain.train._step.StepFunctions`).

    Returns:
      A boolean scalar; ``True`` for a tree without floating-point leaves.
    """
    # x − x is not folded to 0 because XLA keeps IEEE semantics for floats by default; with
    # fast math's no-NaN/no-inf assumptions (xla_cpu_enable_fast_math) it could be, as could
    # every isfinite.
    same_shape: dict[tuple[tuple[int, ...], jnp.dtype], list[jax.Array]] = {}
    for leaf in jax.tree.leaves(tree):
        if jnp.issubdtype(leaf.dtype, jnp.inexact):
            same_shape.setdefault((leaf.shape, leaf.dtype), []).append(leaf)
    flags = []
    for group in same_shape.values():
        zeros = group[0] - group[0]
        for leaf in group[1:]:
            zeros = zeros + (leaf - leaf)
        flags.append(jnp.isfinite(jnp.sum(zeros)))
    return jnp.all(jnp.stack(flags)) if flags else jnp.bool_(True)
