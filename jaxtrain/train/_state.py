"""The training state: everything that changes during training, as one pytree."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

__all__ = ["TrainState", "donatable_copy", "init_train_state", "step_key"]


@struct.dataclass
class TrainState:
    """Parameters, model state, optimizer state, step and key of a training run.

    A pytree (``jax.tree`` sees the arrays; ``apply`` rides along as static data), so a
    whole training step ``state -> state`` can be jitted, scanned and donated.
    :func:`jaxtrain.train.fit` returns it, :func:`jaxtrain.train.evaluate` accepts it, and
    checkpoints store it.

    Every random draw of a run comes from ``key`` by folding in a counter, never by
    splitting and threading: the shuffle of epoch e is NumPy's permutation seeded by the
    key's bits and e (``jaxtrain.train.epoch_batches``); the augmentation and dropout of
    step t use the two keys of ``jax.random.split(fold_in(fold_in(key, 1), t))``, in that
    order. The key itself therefore never changes, and a run resumed from any step draws
    exactly what the uninterrupted run would have drawn.

    Attributes:
      apply: the model's ``apply(params, state, x, *, train, rng) -> (y, new_state)``
        (static: not a leaf).
      params: θ, the trainable parameters (the optimizer's target).
      model_state: the non-trainable model variables (BatchNorm's running μ̄ and σ̄²);
        ``{}`` when there are none.
      opt_state: the ``optax`` optimizer state.
      step: int32 scalar, the number of training steps taken (skipped ones included).
      key: the run's ``jax.random`` key (typed key array).
      monitor_state: each monitor's state by name (``jaxtrain.monitor``; e.g. the
        sharpness monitor's last top eigenvector), ``{}`` without monitors.

    Examples:
      >>> import jax, jax.numpy as jnp, optax
      >>> from jaxtrain.train import TrainState
      >>> apply = lambda p, s, x, *, train, rng=None: (x @ p, s)
      >>> params = jnp.zeros((3, 2))
      >>> state = TrainState(apply=apply, params=params, model_state={},
      ...                    opt_state=optax.sgd(0.1).init(params),
      ...                    step=jnp.int32(0), key=jax.random.key(0))
      >>> print(int(state.replace(step=state.step + 1).step), len(jax.tree.leaves(state)))
      1 3
    """

    apply: Callable[..., Any] = struct.field(pytree_node=False)
    params: Any
    model_state: Any
    opt_state: Any
    step: jax.Array
    key: jax.Array
    monitor_state: Any = struct.field(default_factory=dict)


def init_train_state(
    apply: Callable[..., Any],
    params: Any,
    model_state: Any,
    optimizer: Any,
    key: jax.Array,
    monitors: tuple[Any, ...] = (),
) -> TrainState:
    """A fresh state at step 0: the optimizer and the monitors initialized on ``params``."""
    return TrainState(
        apply=apply,
        params=params,
        model_state=model_state,
        opt_state=optimizer.init(params),
        step=jnp.zeros([], jnp.int32),
        key=key,
        monitor_state={m.name: m.init(params) for m in monitors},
    )


def step_key(key: jax.Array, step: Any) -> jax.Array:
    """The key of step ``step``, split in two for its augmentation and dropout."""
    return jax.random.fold_in(jax.random.fold_in(key, 1), step)


def donatable_copy(tree: Any) -> Any:
    """A copy of ``tree``'s arrays for a call that donates its input.

    ``fit``'s compiled epochs donate the state's buffers (update them in place); the state and
    key they start from are copies, so the caller's arrays survive the run.
    """
    return jax.tree.map(_copy, tree)


def _copy(a: Any) -> jax.Array:
    # device_put copies a buffer without a program; jnp.array(a, copy=True) compiles a copy
    # per shape (hundreds of small compilations over many short runs).
    if not isinstance(a, jax.Array):
        return jax.device_put(np.asarray(a), may_alias=False)
    if a.is_fully_addressable:
        return jax.device_put(a, may_alias=False)
    # An array spanning other processes' devices (a state an earlier multi-process fit
    # returned): device_put takes only what this process holds, so each of its shards is
    # copied on its device and the copies joined into an array of the same sharding.
    if jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key):
        return jax.random.wrap_key_data(_copy(jax.random.key_data(a)), impl=jax.random.key_impl(a))
    shards = [jax.device_put(s.data, s.device, may_alias=False) for s in a.addressable_shards]
    return jax.make_array_from_single_device_arrays(a.shape, a.sharding, shards)
