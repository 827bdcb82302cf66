"""One training run of one candidate, through ``jaxtrain.train.fit`` (no second loop here)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxtrain._host_tree import host_flat
from jaxtrain.diagnose._budget import Budget
from jaxtrain.diagnose._candidates import Candidate
from jaxtrain.losses import chunked_mean

if TYPE_CHECKING:
    # Annotations only: importing jaxtrain.train (orbax, …) is deferred to the first run.
    from jaxtrain.train import History, TrainState

__all__ = [
    "Run",
    "equal_sizes",
    "evaluate_loss",
    "fit_candidate",
    "fit_run",
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

    Attributes:
      apply: ``apply(params, state, x, *, train, rng=None) -> (y, new_state)``, the model.
      params0: the initial parameters θ₀ (a pytree of arrays).
      state0: the initial non-trainable state (BatchNorm statistics; ``{}`` for none).
      final: the ``TrainState`` at the end (the last finite one when diverged).
      history: the run's ``History`` (per-step and per-epoch curves).
      n_params: the number of trainable parameters.
      diverged_at: the step of the first non-finite loss or gradient, ``None`` if none.
    """

    apply: Callable[..., tuple[Any, Any]]
    params0: Any
    state0: Any
    final: TrainState
    history: History
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

    from jaxtrain import nn

    apply, params, state = nn.functional(candidate.factory(nnx.Rngs(seed)))
    if previous is not None and jax.tree.structure((params, state)) == jax.tree.structure(
        (previous.params0, previous.state0)
    ):
        apply = previous.apply
    return fit_run(
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


def output_shape(apply: Any, params: Any, state: Any, x: np.ndarray) -> tuple[int, ...]:
    """The shape of a model's output for one example of ``x`` (``()`` for outputs (N,)),
    found by tracing only."""
    out = jax.eval_shape(lambda p, s, xb: apply(p, s, xb, train=False)[0], params, state, x[:1])
    return tuple(int(size) for size in out.shape[1:])


def fit_run(
    triple: tuple[Any, Any, Any],
    optimizer: Any,
    train_pair: tuple[Any, Any],
    **fit_kwargs: Any,
) -> Run:
    """``train.fit`` on equal batches, as a :class:`Run`; a run that diverges is kept.

    A non-finite loss is evidence (a learning rate too large for the curvature), not a crash:
    the run keeps the last good state, the history up to the bad step and that step. Equal
    batches only (``drop_last``): a last partial batch would be one more compilation.
    """
    from jaxtrain import train

    apply, params, state = triple
    n_params = int(sum(np.size(leaf) for leaf in jax.tree.leaves(params)))
    try:
        final, history = train.fit(triple, optimizer, train_pair, drop_last=True, **fit_kwargs)
    except train.NonFiniteLossError as error:
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


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _variance(apply, loss, chunk, params, model_state, x, y):
    """The variance of the per-example losses ℓᵢ over (x, y), in one pass over the chunks."""

    def per_example(xb, yb):
        predictions, _ = apply(params, model_state, xb, train=False)
        values = loss(predictions, yb, reduction="none")
        return jnp.mean(values.reshape(values.shape[0], -1), axis=1)

    # Shifted by the first chunk's mean K: Var ℓ = E[(ℓ − K)²] − (E[ℓ − K])² in one pass,
    # without the cancellation of E[ℓ²] − E[ℓ]² in float32 when the losses are large and alike.
    shift = jnp.mean(per_example(x[:chunk], y[:chunk]))

    def moments(xb, yb):
        d = per_example(xb, yb) - shift
        return jnp.mean(d), jnp.mean(d**2)

    first, second = chunked_mean(moments, (x, y), chunk_size=chunk)
    return second - first**2


def loss_standard_error(
    state: TrainState,
    pair: tuple[np.ndarray, np.ndarray] | None,
    loss: Any,
    *,
    chunk_size: int = _CHUNK,
) -> float:
    """The standard error std(ℓᵢ)/√n of the mean loss over the n examples of ``pair``.

    It measures how much the mean loss would move on another sample of the same size from
    the same distribution: the noise floor under which two losses cannot be told apart.
    Needs ``loss(..., reduction="none")`` (every :mod:`jaxtrain.losses` loss has it); NaN
    when the loss does not offer it or ``pair`` is ``None``. One jitted pass over chunks of
    ``chunk_size`` examples (:func:`jaxtrain.losses.chunked_mean`), read back once.
    """
    if pair is None:
        return float("nan")
    x, y = pair
    n = int(x.shape[0])
    if n < 2:
        return float("nan")
    from jaxtrain.train._read_now import loss_and_metrics_now

    # Read now: a static argument keyed by identity kept what it closed over at first.
    loss = loss_and_metrics_now(loss, (), state.apply, state.params, state.model_state, pair)[0]
    try:
        variance = _variance(
            state.apply, loss, min(chunk_size, n), state.params, state.model_state, x, y
        )
    except TypeError:
        # The loss has no reduction="none": no per-example values, no spread to measure.
        return float("nan")
    variance = float(jax.device_get(variance)) * n / (n - 1)  # unbiased, as ddof=1
    return float(np.sqrt(variance / n))


def full_batch_loss_fn(
    apply: Any, state: Any, x: np.ndarray, y: np.ndarray, loss: Any, *, rng: Any = None
) -> Any:
    """L(θ) over all of (x, y) in evaluation mode, for gradients and Hessians; with ``rng``
    in training mode (each chunk's own BatchNorm statistics, dropout by that key)."""
    from jaxtrain import curvature

    batches = [(x[i : i + _CHUNK], y[i : i + _CHUNK]) for i in range(0, x.shape[0], _CHUNK)]
    return curvature.loss_from_model(apply, state, batches, loss, train=rng is not None, rng=rng)


def training_grad_norm(
    apply: Any, state: Any, params: Any, x: np.ndarray, y: np.ndarray, loss: Any, seed: int
) -> float:
    """‖∇L(θ)‖ over all of (x, y) in training mode, as the run's steps saw the loss: each
    chunk's own BatchNorm statistics, dropout by one key fixed by ``seed``. Read so at both
    ends of a run, ‖g_T‖/‖g₀‖ compares one function: in evaluation mode a BatchNorm net at θ₀
    normalizes with the running statistics it starts with (mean 0, variance 1), which the run
    never used (inputs ×10⁴ trained as ×1 but read ‖g₀‖ = 2.4e4 where the run's was 1.4), and
    one end in each mode put dropout's mask on one side only (η = 0 read a ratio of 0.22)."""
    loss_fn = full_batch_loss_fn(apply, state, x, y, loss, rng=jax.random.key(seed))
    return grad_norm(loss_fn, params)


def grad_norm(loss_fn: Any, params: Any) -> float:
    """‖∇L(θ)‖ of a ``loss_fn(params)`` (a pytree-callable from :func:`full_batch_loss_fn`)."""
    from jaxtrain.curvature._operators import value_and_gradient

    # loss_fn is a pytree-callable: its data are arguments, so the one program of
    # value_and_gradient (shared with the escape test) serves every call of these shapes.
    _, grads = value_and_gradient(loss_fn, params)
    return float(np.linalg.norm(host_flat(grads, np.float64)))


def equal_sizes(
    pairs: list[tuple[np.ndarray, np.ndarray]],
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Trims each pair to the smallest one's length (folds differ by at most one example),
    so every seed's run has the same shapes and reuses the same compilation."""
    n = min(int(x.shape[0]) for x, _ in pairs)
    return [(x[:n], y[:n]) for x, y in pairs]
