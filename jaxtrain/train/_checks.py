"""Checks on the arguments of ``fit`` and ``evaluate``, run before any step."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxtrain._numbers import is_int, is_real_dtype

__all__ = [
    "check_data",
    "check_flag",
    "check_optimizer_output",
    "check_positive_int",
    "check_scalar",
    "num_classes_of",
]


def check_optimizer_output(updates: Any, new_state: Any, params: Any, state: Any) -> None:
    """Refuses, while the step is traced, an optimizer whose ``update`` returned updates
    structured unlike the params or a state unlike the one it was given: the step carries
    the state from one step to the next, and JAX's and optax's own errors for either name
    neither the optimizer nor the leaf."""
    checks = (
        ("updates unlike the params", updates, params, False),
        ("a state unlike the one it was given", new_state, state, True),
    )
    for what, returned, expected, same_dtype in checks:
        difference = _first_difference(returned, expected, same_dtype=same_dtype)
        if difference is not None:
            raise ValueError(f"the optimizer's update returned {what}: {difference}.")


def _describe(leaf: Any) -> str:
    return f"{jnp.result_type(leaf)}{list(jnp.shape(leaf))}"


def _first_difference(returned: Any, expected: Any, *, same_dtype: bool) -> str | None:
    """Where two pytrees first differ in structure, shape or (with ``same_dtype``) dtype."""
    if jax.tree.structure(returned) != jax.tree.structure(expected):
        return f"structure {jax.tree.structure(returned)}, expected {jax.tree.structure(expected)}"
    paths = jax.tree_util.tree_flatten_with_path(expected)[0]
    for (path, want), got in zip(paths, jax.tree.leaves(returned), strict=True):
        shape_differs = jnp.shape(got) != jnp.shape(want)
        if shape_differs or (same_dtype and jnp.result_type(got) != jnp.result_type(want)):
            where = jax.tree_util.keystr(path) or "the whole tree"
            return f"{where} is {_describe(got)} where {_describe(want)} was expected"
    return None


def check_scalar(value: Any, what: str) -> Any:
    """``value``, refused while its function is traced (before any step or pass runs) unless
    a scalar: an epoch and ``evaluate`` average the batches' values, and an array of shape
    (1,) would be summed into the mean, one of per-class values fail on the host after the
    first chunk."""
    if jnp.shape(value) != ():
        raise ValueError(
            f"{what} must return a scalar, the batch's mean; it returned shape "
            f"{jnp.shape(value)} (reduction='none', or keepdims?)"
        )
    return value


def check_flag(value: Any, name: str, *, or_none: bool = False) -> bool | None:
    """``value`` as a bool, refused unless one (or ``None``, ``or_none``): taken by
    truthiness, ``drop_last="no"`` would drop the partial batch."""
    if value is None and or_none:
        return None
    if not isinstance(value, bool | np.bool_):
        choices = "True, False or None" if or_none else "True or False"
        raise ValueError(f"{name} must be {choices}; got {value!r}")
    return bool(value)


def check_positive_int(value: Any, name: str, *, or_none: bool = False) -> int | None:
    """``value`` as an int ≥ 1, refused unless one (or ``None``, ``or_none``)."""
    if value is None and or_none:
        return None
    if not is_int(value) or value < 1:
        choices = "a positive int or None" if or_none else "a positive int"
        raise ValueError(f"{name} must be {choices}; got {value!r}")
    return int(value)


def num_classes_of(
    apply: Callable[..., Any],
    params: Any,
    model_state: Any,
    x: np.ndarray,
    y: np.ndarray,
    name: str = "the data",
) -> int | None:
    """The class count to check integer labels against: the model's output width.

    Only for integer labels of shape (N,) and outputs (N, C) with C ≥ 2 (logits of a
    classifier); ``None`` (no label check) otherwise.
    """
    if y.ndim != 1 or not (np.issubdtype(y.dtype, np.integer) or y.dtype == np.bool_):
        return None
    probe = jax.ShapeDtypeStruct((1, *x.shape[1:]), x.dtype)
    try:
        out = jax.eval_shape(
            lambda p, s, xb: apply(p, s, xb, train=False)[0], params, model_state, probe
        )
    except Exception as error:
        raise ValueError(
            f"{name}: the model cannot take inputs of shape {x.shape[1:]} (dtype {x.dtype}): "
            f"{type(error).__name__}: {error}"
        ) from error
    shape = getattr(out, "shape", ())
    if len(shape) == 2 and shape[-1] >= 2:
        return int(shape[-1])
    return None


def is_one_key(key: Any) -> bool:
    """Whether ``key`` is one ``jax.random`` key: typed (shape ``()``), or raw (a row of uint32
    words: two for threefry, four for rbg)."""
    if isinstance(key, jax.Array) and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        return key.shape == ()
    return isinstance(key, jax.Array | np.ndarray) and key.dtype == np.uint32 and key.ndim == 1


def one_example_like(data: tuple[Any, Any]) -> tuple[jax.ShapeDtypeStruct, ...]:
    """The shapes and dtypes of one example of ``(x, y)``: each array's first row."""
    return tuple(jax.ShapeDtypeStruct((1, *a.shape[1:]), a.dtype) for a in data)


def check_loss_is_a_mean(
    loss: Callable[..., Any],
    apply: Callable[..., Any],
    params: Any,
    model_state: Any,
    data: tuple[np.ndarray, np.ndarray],
    *,
    monitor_name: str,
) -> None:
    """Refuses a loss that is not the mean of per-example losses, measured on two examples.

    A monitor of the two half-batch gradients (the noise scale) makes the step's gradient
    their mean, the batch's only for such a loss: with a sum, every step would be half.

    Raises:
      ValueError: naming the monitor, with the loss of the two examples and their mean.
    """
    x, y = data
    if len(x) < 2:
        return
    predictions = apply(params, model_state, jnp.asarray(x[:2]), train=False)[0]
    targets = jnp.asarray(y[:2])

    def loss_of(rows: slice) -> float:
        return float(loss(jax.tree.map(lambda a: a[rows], predictions), targets[rows]))

    both, mean = loss_of(slice(0, 2)), (loss_of(slice(0, 1)) + loss_of(slice(1, 2))) / 2
    # A sum is twice the mean here; 10% leaves room for a bfloat16 loss's rounding (0.3%).
    if not np.isclose(both, mean, rtol=0.1, atol=1e-7 * max(1.0, abs(mean))):
        raise ValueError(
            f"the {monitor_name} monitor: the step's gradient becomes the mean of the two "
            "half-batches' gradients, the batch's own only for a loss that is the mean of "
            f"per-example losses; on two training examples this loss is {both:.6g} where "
            f"their own losses' mean is {mean:.6g} (a sum reduction?). Pass a mean loss, or "
            "coupled_batch=True to the monitor for a loss that couples a batch's examples."
        )


def check_loss_takes(
    loss: Callable[..., Any],
    apply: Callable[..., Any],
    params: Any,
    model_state: Any,
    data: tuple[np.ndarray, np.ndarray],
    *,
    name: str,
) -> None:
    """Traces the model and the loss on one example of ``data`` (no computation).

    Run before training, so that data the model or the loss cannot take (a feature short,
    targets of another shape, class labels stored as floats) fails at once, naming the data,
    and not when its first use comes: the validation set's after a whole epoch.

    Raises:
      ValueError: naming ``name``, with the model's or the loss's own error.
    """
    x, y = data
    one = one_example_like(data)

    def one_example(xb, yb):
        return loss(apply(params, model_state, xb, train=False)[0], yb)

    try:
        jax.eval_shape(one_example, *one)
    except Exception as error:
        raise ValueError(
            f"{name}: the model and the loss cannot take its examples (inputs {x.shape[1:]} "
            f"{x.dtype}, targets {y.shape[1:]} {y.dtype}): {type(error).__name__}: {error}"
        ) from error


def check_data(
    data: Any, apply: Callable[..., Any], params: Any, model_state: Any, *, name: str
) -> tuple[np.ndarray, np.ndarray]:
    """``data`` as NumPy ``(x, y)``, checked with :func:`jaxtrain.data.check_dataset`.

    Raises:
      ValueError: ``data`` is not an ``(x, y)`` pair, is empty, has mismatched lengths,
        non-finite inputs, or integer labels outside the model's class range.
    """
    from jaxtrain.data import check_dataset

    if not isinstance(data, tuple | list) or len(data) != 2:
        raise ValueError(
            f"{name} must be an (x, y) pair of arrays with the examples on axis 0; got "
            f"{type(data).__name__}"
            + (f" of length {len(data)}" if isinstance(data, tuple | list) else "")
        )
    x, y = (np.asarray(a) for a in data)
    num_classes = None
    # The class count comes from the model's output, which needs a well-formed x; a
    # malformed one is reported by check_dataset below.
    well_formed = x.ndim >= 1 and y.ndim >= 1 and 0 < len(x) == len(y)
    if well_formed and is_real_dtype(x.dtype):  # bfloat16 too
        num_classes = num_classes_of(apply, params, model_state, x, y, name)
    check_dataset(x, y, num_classes=num_classes, name=name)
    return x, y
