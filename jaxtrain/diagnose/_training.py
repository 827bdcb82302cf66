"""One training run of one candidate, through ``jaxtrain.train.fit`` (no second loop here)."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np
from jax.flatten_util import ravel_pytree

from jaxtrain.diagnose._budget import Budget
from jaxtrain.diagnose._candidates import Candidate

__all__ = [
    "Run",
    "equal_sizes",
    "evaluate_loss",
    "fit_candidate",
    "full_batch_loss_fn",
    "grad_norm",
    "loss_standard_error",
]

# Full-batch losses and gradients are accumulated over chunks of this many examples, so
# memory stays bounded on large training sets.
_CHUNK = 2048


@dataclasses.dataclass(frozen=True)
class Run:
    """A finished run: the initial triple, the final ``TrainState`` and the ``History``.

    A run that hit a non-finite loss or gradient has ``diverged_at`` = that step: ``final``
    is the last good state and the history ends with the bad step.
    """

    apply: Any
    params0: Any
    state0: Any
    final: Any
    history: Any
    n_params: int
    diverged_at: int | None = None

    @property
    def diverged(self) -> bool:
        """Whether the run hit a non-finite loss or gradient."""
        return self.diverged_at is not None


def fit_candidate(
    candidate: Candidate,
    seed: int,
    train_pair: tuple[np.ndarray, np.ndarray],
    *,
    loss: Any,
    budget: Budget,
    optimizer: Any,
    val_pair: tuple[np.ndarray, np.ndarray] | None = None,
    previous: Run | None = None,
) -> Run:
    """Builds ``candidate`` with ``nnx.Rngs(seed)`` and trains it on ``train_pair``.

    ``previous``, a run of the same candidate, lends its ``apply``: ``fit`` keys its compiled
    steps on the optimizer, the loss and ``apply``, so every seed after the first reuses the
    first one's compilation instead of paying for its own.
    """
    from flax import nnx

    from jaxtrain import nn, train

    apply, params, state = nn.functional(candidate.factory(nnx.Rngs(seed)))
    if previous is not None and jax.tree.structure((params, state)) == jax.tree.structure(
        (previous.params0, previous.state0)
    ):
        apply = previous.apply
    n_params = int(sum(np.size(leaf) for leaf in jax.tree.leaves(params)))
    try:
        final, history = train.fit(
            (apply, params, state),
            optimizer,
            train_pair,
            loss=loss,
            steps=budget.steps,
            batch_size=min(budget.batch_size, int(train_pair[0].shape[0])),
            # Equal batches only: a last partial batch would be one more compilation.
            drop_last=True,
            val_data=val_pair,
            seed=seed,
            progress=False,
        )
    except train.NonFiniteLossError as error:
        # A diverging candidate is evidence (a learning rate too large for it), not a crash.
        return Run(
            apply, params, state, error.state, error.history, n_params, diverged_at=error.step
        )
    return Run(apply, params, state, final, history, n_params)


def evaluate_loss(state: Any, pair: tuple[np.ndarray, np.ndarray] | None, loss: Any) -> float:
    """The full-batch, evaluation-mode loss of a trained state on ``pair`` (NaN for none)."""
    if pair is None:
        return float("nan")
    from jaxtrain import train

    return float(train.evaluate(state, pair, loss=loss)["loss"])


def loss_standard_error(state: Any, pair: tuple[np.ndarray, np.ndarray] | None, loss: Any) -> float:
    """The standard error std(ℓᵢ)/√n of the mean loss over the n examples of ``pair``.

    It measures how much the mean loss would move on another sample of the same size from
    the same distribution: the noise floor under which two losses cannot be told apart.
    Needs ``loss(..., reduction="none")`` (every :mod:`jaxtrain.losses` loss has it); NaN
    when the loss does not offer it or ``pair`` is ``None``.
    """
    if pair is None:
        return float("nan")
    x, y = pair
    parts = []
    for i in range(0, x.shape[0], _CHUNK):
        predictions, _ = state.apply(
            state.params, state.model_state, x[i : i + _CHUNK], train=False
        )
        try:
            values = loss(predictions, y[i : i + _CHUNK], reduction="none")
        except TypeError:
            return float("nan")
        values = np.asarray(values, dtype=np.float64)
        parts.append(values.reshape(values.shape[0], -1).mean(axis=1))
    per_example = np.concatenate(parts)
    if per_example.size < 2:
        return float("nan")
    return float(np.std(per_example, ddof=1) / np.sqrt(per_example.size))


def full_batch_loss_fn(apply: Any, state: Any, x: np.ndarray, y: np.ndarray, loss: Any) -> Any:
    """L(θ) over all of (x, y) in evaluation mode, for gradients and Hessians."""
    from jaxtrain import curvature

    batches = [(x[i : i + _CHUNK], y[i : i + _CHUNK]) for i in range(0, x.shape[0], _CHUNK)]
    return curvature.loss_from_model(apply, state, batches, loss)


@jax.jit
def _gradient(loss_fn: Any, params: Any) -> Any:
    # loss_fn is a pytree-callable (curvature.loss_from_model): its data are arguments, so
    # one compilation serves every call with the same model and shapes.
    return jax.grad(loss_fn)(params)


def grad_norm(loss_fn: Any, params: Any) -> float:
    """‖∇L(θ)‖ of a ``loss_fn(params)`` (a pytree-callable from :func:`full_batch_loss_fn`)."""
    grads = _gradient(loss_fn, params)
    return float(np.linalg.norm(np.asarray(ravel_pytree(grads)[0], dtype=np.float64)))


def equal_sizes(
    pairs: list[tuple[np.ndarray, np.ndarray]],
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Trims each pair to the smallest one's length (folds differ by at most one example),
    so every seed's run has the same shapes and reuses the same compilation."""
    n = min(int(x.shape[0]) for x, _ in pairs)
    return [(x[:n], y[:n]) for x, y in pairs]
