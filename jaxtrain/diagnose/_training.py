"""One training run of one candidate, through ``jaxtrain.train.fit`` (no second loop here)."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np
from jax.flatten_util import ravel_pytree

from jaxtrain.diagnose._budget import Budget
from jaxtrain.diagnose._candidates import Candidate

__all__ = ["Run", "evaluate_loss", "fit_candidate", "full_batch_loss_fn", "grad_norm"]

# Full-batch losses and gradients are accumulated over chunks of this many examples, so
# memory stays bounded on large training sets.
_CHUNK = 2048


@dataclasses.dataclass(frozen=True)
class Run:
    """A finished run: the initial triple, the final ``TrainState`` and the ``History``."""

    apply: Any
    params0: Any
    state0: Any
    final: Any
    history: Any
    n_params: int


def fit_candidate(
    candidate: Candidate,
    seed: int,
    train_pair: tuple[np.ndarray, np.ndarray],
    *,
    loss: Any,
    budget: Budget,
    optimizer: Any,
    val_pair: tuple[np.ndarray, np.ndarray] | None = None,
) -> Run:
    """Builds ``candidate`` with ``nnx.Rngs(seed)`` and trains it on ``train_pair``."""
    from flax import nnx

    from jaxtrain import nn, train

    apply, params, state = nn.functional(candidate.factory(nnx.Rngs(seed)))
    final, history = train.fit(
        (apply, params, state),
        optimizer,
        train_pair,
        loss=loss,
        steps=budget.steps,
        batch_size=min(budget.batch_size, int(train_pair[0].shape[0])),
        val_data=val_pair,
        seed=seed,
        progress=False,
    )
    n_params = int(sum(np.size(leaf) for leaf in jax.tree.leaves(params)))
    return Run(apply, params, state, final, history, n_params)


def evaluate_loss(state: Any, pair: tuple[np.ndarray, np.ndarray] | None, loss: Any) -> float:
    """The full-batch, evaluation-mode loss of a trained state on ``pair`` (NaN for none)."""
    if pair is None:
        return float("nan")
    from jaxtrain import train

    return float(train.evaluate(state, pair, loss=loss)["loss"])


def full_batch_loss_fn(apply: Any, state: Any, x: np.ndarray, y: np.ndarray, loss: Any) -> Any:
    """L(θ) over all of (x, y) in evaluation mode, for gradients and Hessians."""
    from jaxtrain import curvature

    batches = [(x[i : i + _CHUNK], y[i : i + _CHUNK]) for i in range(0, x.shape[0], _CHUNK)]
    return curvature.loss_from_model(apply, state, batches, loss)


def grad_norm(loss_fn: Any, params: Any) -> float:
    """‖∇L(θ)‖ of a ``loss_fn(params)``."""
    grads = jax.grad(loss_fn)(params)
    return float(np.linalg.norm(np.asarray(ravel_pytree(grads)[0], dtype=np.float64)))
