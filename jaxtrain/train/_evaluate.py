"""Evaluation mode: the loss and metrics of a model on a data set, with running statistics."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxtrain.losses import chunked_mean
from jaxtrain.train._checks import check_data, check_positive_int, check_scalar
from jaxtrain.train._processes import check_same_layout, example_layout, joined_shares, together
from jaxtrain.train._read_now import loss_and_metrics_now
from jaxtrain.train._sharding import Placement, mesh_scope, resolve_placement
from jaxtrain.train._state import TrainState

__all__ = ["checked_share", "evaluate", "every_share", "metric_names", "split_model"]

_DEFAULT_CHUNK = 2048


def metric_names(metrics: Any) -> tuple[tuple[str, Callable[..., Any]], ...]:
    """``metrics`` (a sequence of functions, or a mapping name → function) as named pairs.

    Raises:
      ValueError: for a metric that is not callable, has no ``__name__`` (pass a mapping), is
        called ``loss``, or repeats a name.
    """
    if metrics is None:
        return ()
    if isinstance(metrics, Mapping):
        pairs = [(str(name), fn) for name, fn in metrics.items()]
    elif callable(metrics):
        raise ValueError("metrics must be a sequence of functions, e.g. metrics=[accuracy]")
    else:
        pairs = []
        for fn in metrics:
            name = getattr(fn, "__name__", None)
            if not name or name == "<lambda>":
                raise ValueError(
                    f"cannot name the metric {fn!r}: pass metrics as a dict, e.g. "
                    "metrics={'top1': fn}"
                )
            pairs.append((name, fn))
    names = [name for name, _ in pairs]
    for name, fn in pairs:
        if not callable(fn):
            raise ValueError(f"metric {name!r} is not callable: {fn!r}")
    if "loss" in names:
        raise ValueError("a metric may not be called 'loss' (that key holds the loss)")
    if len(set(names)) != len(names):
        raise ValueError(f"metric names repeat: {names}")
    return tuple(pairs)


def split_model(model_or_state: Any) -> tuple[Callable[..., Any], Any, Any]:
    """``(apply, params, model_state)`` of a TrainState or of anything ``functional`` takes."""
    if isinstance(model_or_state, TrainState):
        return model_or_state.apply, model_or_state.params, model_or_state.model_state
    from jaxtrain.nn import functional

    return functional(model_or_state)


def checked_share(
    data: Any, apply: Callable[..., Any], params: Any, model_state: Any, *, name: str
) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    """``(x, y)``, this process's share of ``data`` checked (:func:`check_data`), and every
    process's share size (``sizes[p]``).

    Each process checks its own share; the outcomes, sizes and example layouts travel in one
    exchange, so a bad share, or shares whose examples differ in shape or dtype, are refused
    by every process, naming the one at fault (one process raising alone would leave the
    others waiting in the next collective).
    """
    checked, shares = together(
        lambda: check_data(data, apply, params, model_state, name=name),
        numbers=lambda pair: (len(pair[0]), example_layout(pair)),
        count=2,
    )
    check_same_layout(shares[:, 1], name)
    return checked, shares[:, 0]


def every_share(
    data: Any, apply: Callable[..., Any], params: Any, model_state: Any, *, name: str
) -> tuple[np.ndarray, np.ndarray]:
    """``data`` checked (:func:`check_data`) as NumPy ``(x, y)``; with several processes,
    every process's share of it, joined in process order, on every process.

    Each process checks its own share; the outcomes and the shares' sizes travel in one
    exchange, so a bad share is refused by every process, naming the one that holds it.
    The shares may differ in size (33 examples split 17 and 16): each example is there once.

    Raises:
      ValueError: for bad data in any process's share, or shares whose examples differ in
        shape or dtype.
    """
    (x, y), sizes = checked_share(data, apply, params, model_state, name=name)
    if len(sizes) == 1:
        return x, y
    return joined_shares((x, y), sizes.tolist())


def _chunk_size(n: int, batch_size: int | None, placement: Placement) -> int:
    if batch_size is not None:
        return min(check_positive_int(batch_size, "batch_size", or_none=True), n)
    chunk = min(n, _DEFAULT_CHUNK)
    shards = placement.num_shards
    if chunk > shards and chunk % shards:
        chunk -= chunk % shards
    return chunk


def _sums(apply, loss, metrics, placement, chunk, params, model_state, x, y):
    """The loss and metrics over all of (x, y), in chunks, each weighted by its size."""

    def values(xb, yb):
        xb, yb = placement.constrain_batch((xb, yb))
        predictions, _ = apply(params, model_state, xb, train=False)
        row = [check_scalar(loss(predictions, yb), "the loss")] + [
            check_scalar(metric(predictions, yb), f"metric {name!r}") for name, metric in metrics
        ]
        # float32 at least (counts and flags average to fractions); float64 stays float64.
        dtype = jnp.result_type(jnp.float32, *row)
        return jnp.stack([jnp.asarray(v, dtype) for v in row])

    return chunked_mean(values, (x, y), chunk_size=chunk)


_cached_sums = jax.jit(_sums, static_argnums=(0, 1, 2, 3, 4))


def _evaluate_sums(apply, loss, metrics, placement, chunk, params, model_state, x, y):
    """:func:`_sums` compiled once per setting; an unhashable loss or metric (a dataclass
    with ``eq=True``) cannot key that cache, and compiles for this call only."""
    settings = (apply, loss, metrics, placement, chunk)
    try:
        hash(settings)
    except TypeError:
        return jax.jit(functools.partial(_sums, *settings))(params, model_state, x, y)
    return _cached_sums(*settings, params, model_state, x, y)


def evaluate_arrays(
    apply: Callable[..., Any],
    params: Any,
    model_state: Any,
    x: jax.Array,
    y: jax.Array,
    *,
    loss: Callable[..., Any],
    metrics: tuple[tuple[str, Callable[..., Any]], ...],
    placement: Placement,
    batch_size: int | None = None,
) -> dict[str, float]:
    """``evaluate`` on arrays already on the devices (``fit`` calls this every epoch)."""
    chunk = _chunk_size(int(x.shape[0]), batch_size, placement)
    means = np.asarray(
        _evaluate_sums(apply, loss, metrics, placement, chunk, params, model_state, x, y)
    )
    names = ["loss"] + [name for name, _ in metrics]
    return {name: float(value) for name, value in zip(names, means, strict=True)}


def evaluate(
    model_or_state: Any,
    data: tuple[Any, Any],
    *,
    loss: Callable[..., Any],
    metrics: Sequence[Callable[..., Any]] | Mapping[str, Callable[..., Any]] = (),
    batch_size: int | None = None,
    mesh: Any = None,
) -> dict[str, float]:
    """The loss and metrics of a model on a data set, in evaluation mode.

    Evaluation mode is ``apply(..., train=False)``: BatchNorm uses its running statistics μ̄
    and σ̄² (not the batch's), dropout is off, nothing is updated. Each example's output is
    then independent of the others, so the data are evaluated in chunks of ``batch_size``
    and each value is the chunk-size-weighted mean over all N examples,

        L = (1/N) Σₙ ℓ(f(xₙ; θ), yₙ),

    exact for the loss and for per-example-mean metrics such as accuracy
    (:func:`jaxtrain.losses.chunked_mean`). Everything runs in one jitted function (a
    ``lax.scan`` over the chunks), compiled once per model, data shape and chunk size: calling
    it again (as ``fit`` does every epoch) does not recompile. With several processes every
    process calls it, each with its share (a collective: called by one, it waits for good).

    Args:
      model_or_state: a :class:`TrainState`, or anything :func:`jaxtrain.nn.functional`
        accepts (an NNX module, an ``(apply, params, state)`` triple).
      data: ``(x, y)`` arrays with the examples on axis 0; with several processes, this
        process's share (of any size: all of them are evaluated, each example once).
      loss: ``loss(predictions, targets) -> scalar`` mean, e.g.
        :func:`jaxtrain.losses.softmax_cross_entropy`.
      metrics: functions ``metric(predictions, targets) -> scalar`` named by their
        ``__name__`` (e.g. :func:`jaxtrain.losses.accuracy`), or a dict name → function.
      batch_size: examples per chunk; by default up to 2048 (a multiple of the device count
        on several devices).
      mesh: a ``jax.sharding.Mesh`` to split the chunks over (its ``"data"`` axis); by
        default the mesh of an enclosing ``jax.set_mesh``, else all devices when there are
        several.

    Returns:
      ``{"loss": L, "<metric>": value, ...}`` as Python floats.

    Raises:
      ValueError: for empty or mismatched data, NaN inputs, labels out of the model's class
        range, badly named metrics, or a loss or metric that does not return a scalar
        (refused as it is traced, before the pass).

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxtrain.losses import accuracy, softmax_cross_entropy
      >>> from jaxtrain.train import evaluate
      >>> apply = lambda p, s, x, *, train, rng=None: (x @ p, s)
      >>> x, y = jnp.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), jnp.array([0, 1, 1])
      >>> out = evaluate((apply, jnp.eye(2), {}), (x, y), loss=softmax_cross_entropy,
      ...                metrics=[accuracy])
      >>> print({k: round(v, 4) for k, v in out.items()})
      {'loss': 0.4399, 'accuracy': 0.6667}
    """
    with mesh_scope(mesh):  # inside jax.set_mesh: under the mesh passed, if one is
        apply, params, model_state = split_model(model_or_state)
        named = metric_names(metrics)
        # Each process passed its own examples; all of them are evaluated, on every device.
        x, y = every_share(data, apply, params, model_state, name="data")
        loss, named = loss_and_metrics_now(loss, named, apply, params, model_state, (x, y))
        placement = resolve_placement(mesh)
        x_dev, y_dev = placement.put_data(x), placement.put_data(y)
        params, model_state = placement.put_replicated((params, model_state))
        return evaluate_arrays(
            apply,
            params,
            model_state,
            x_dev,
            y_dev,
            loss=loss,
            metrics=named,
            placement=placement,
            batch_size=batch_size,
        )
