"""The setting shared by §3's critical batch size and §4's edge of stability.

The first N standardized digits, a tanh MLP with three hidden layers of 64 and squared error on
one-hot targets: small enough to train full-batch for thousands of steps with the sharpness and
noise-scale monitors running inside the compiled steps.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["half_squared_error", "stability_digits", "stability_model", "stability_optimizer"]


def half_squared_error(predictions: jax.Array, labels: jax.Array) -> jax.Array:
    r"""L = ½ Σₖ (ŷₖ − yₖ)² over the 10 classes, averaged over the batch (y one-hot).

    Five times :func:`jaxtrain.losses.mse` (which averages over the 10 outputs too), so its
    curvature, and the η at which training meets 2/η, differ by that factor: the step sizes
    η ∈ {0.1, 0.2, 0.5} of the edge-of-stability experiment belong to this loss.
    """
    from jaxtrain.losses import mse

    return 0.5 * jnp.mean(jnp.sum(mse(predictions, labels, reduction="none"), axis=-1))


@functools.lru_cache(maxsize=4)
def stability_digits(num_examples: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """The first ``num_examples`` digits, standardized with their own per-pixel μ and σ.

    Returns read-only arrays ``(x float32 [N, 64], y int32 [N])``.
    """
    from jaxtrain.data import fit_standardizer, load_digits, standardize

    x, y = load_digits()
    if isinstance(num_examples, bool) or not 2 <= int(num_examples) <= len(x):
        raise ValueError(f"num_examples must be in [2, {len(x)}]; got {num_examples!r}")
    x, y = x[: int(num_examples)], y[: int(num_examples)]
    mean, std = fit_standardizer(x)
    x = standardize(x, mean, std)
    for array in (x, y):
        array.setflags(write=False)
    return x, y


@functools.lru_cache(maxsize=4)
def stability_model(seed: int) -> Any:
    """The network as one ``(apply, params, state)`` triple per seed: runs that share the
    triple and the optimizer share ``fit``'s compiled steps (``fit`` copies the arrays)."""
    from flax import nnx

    from jaxtrain.nn import MLP, functional

    return functional(MLP(64, 64, 10, depth=3, activation="tanh", rngs=nnx.Rngs(seed)))


@functools.lru_cache(maxsize=32)
def stability_optimizer(name: str, learning_rate: float) -> Any:
    """``"sgd"`` or ``"adam"`` at ``learning_rate``; one object per setting, so ``fit`` reuses
    its compiled steps for runs with an equal optimizer."""
    from jaxtrain.optim import adam, sgd

    return adam(learning_rate) if name == "adam" else sgd(learning_rate)
