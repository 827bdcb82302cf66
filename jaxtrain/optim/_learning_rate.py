"""The learning rate η as a transform that remembers it: scale, count and read back.

Every jaxtrain optimizer ends with :func:`scale_by_learning_rate`, whose state records the
step count and the η it used last. That makes the learning rate of any (nested) optimizer
state readable inside ``jit`` by :func:`learning_rate_from_state`, which the training loop
uses to log η per step, and which the lecture's schedule plots use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxtrain.optim._validation import check_learning_rate, check_scheduled_learning_rate

ScalarOrSchedule = float | jax.Array | Callable[[jax.Array], Any]

# optax 0.2.8 has both classes (the old name kept for compatibility); either records the
# hyperparameters. Looked up by name so that a later optax dropping one still imports.
_INJECT_STATES: tuple[type, ...] = tuple(
    getattr(optax, name)
    for name in ("InjectStatefulHyperparamsState", "InjectHyperparamsState")
    if hasattr(optax, name)
)


class ScaleByLearningRateState(NamedTuple):
    """State of :func:`scale_by_learning_rate`: the step count and the η it used last.

    Attributes:
      count: int32 scalar, the number of updates done so far (t). The next update uses
        η(count), so step 0 uses η(0) as in ``optax.scale_by_schedule``.
      learning_rate: float32 scalar, the η used by the latest update; before the first
        update, the η the first update will use. Kept in float32 whatever the parameter
        dtype, so that the state's dtypes never change between steps.
    """

    count: jax.Array
    learning_rate: jax.Array


def _as_float32(value: Any) -> jax.Array:
    return jnp.asarray(value).astype(jnp.float32)


def scale_by_learning_rate(
    learning_rate: ScalarOrSchedule, *, flip_sign: bool = True
) -> optax.GradientTransformation:
    """Multiplies the update by −η (a number or a schedule η(t)) and records η and t.

    The last link of every optimizer: a transform before it proposes a direction d (the
    gradient, a momentum buffer, an Adam ratio); this one turns it into the step
    Δθ = −η d. With a schedule the step at count t uses η(t) and the count then advances,
    exactly as ``optax.scale_by_schedule`` (step 0 uses η(0)); a constant η multiplies like
    ``optax.scale``. Either way the state keeps ``count`` and the η just used, which
    :func:`learning_rate_from_state` and :func:`step_count_from_state` read back.

    Args:
      learning_rate: η, a finite number >= 0, or a schedule ``count -> η`` (for example from
        :mod:`jaxtrain.optim.schedules`). A schedule's η is checked whenever it is concrete:
        in ``init`` and eager updates, and inside ``jit`` when the schedule returns a Python
        number; a traced η is not read back (that would sync to host every step).
      flip_sign: multiply by −η (the default, for gradient descent) or by +η.

    Returns:
      An ``optax.GradientTransformation`` with state :class:`ScaleByLearningRateState`.

    Raises:
      ValueError: if a concrete ``learning_rate``, or a schedule's concrete value, is negative
        or not finite.
      TypeError: if ``learning_rate`` is neither a number nor a schedule.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxtrain.optim import scale_by_learning_rate
      >>> tx = scale_by_learning_rate(lambda t: 0.1 / (t + 1))
      >>> state = tx.init(jnp.zeros(2))
      >>> updates, state = tx.update(jnp.ones(2), state)
      >>> updates, state = tx.update(jnp.ones(2), state)
      >>> print(updates, int(state.count), round(float(state.learning_rate), 3))
      [-0.05 -0.05] 2 0.05
    """
    check_learning_rate(learning_rate)
    sign = -1 if flip_sign else 1
    scheduled = callable(learning_rate)

    def eta_at(count):
        if not scheduled:
            return learning_rate
        eta = learning_rate(count)
        check_scheduled_learning_rate(eta, count)
        return eta

    def init_fn(params):
        del params
        count = jnp.zeros([], jnp.int32)
        return ScaleByLearningRateState(count=count, learning_rate=_as_float32(eta_at(count)))

    def update_fn(updates, state, params=None):
        del params
        eta = eta_at(state.count)
        step_size = sign * eta
        if scheduled:
            # A schedule's value is cast to each leaf's dtype (optax.scale_by_schedule's rule).
            updates = jax.tree.map(lambda g: jnp.array(step_size, dtype=g.dtype) * g, updates)
        else:
            updates = jax.tree.map(lambda g: step_size * g, updates)
        new_state = ScaleByLearningRateState(
            count=optax.safe_increment(state.count), learning_rate=_as_float32(eta)
        )
        return updates, new_state

    return optax.GradientTransformation(init_fn, update_fn)


def _recording_states(opt_state: Any) -> Iterator[Any]:
    """Yields, in pytree order, every sub-state that records a step count or hyperparameters."""
    kinds = (ScaleByLearningRateState, optax.ScaleByScheduleState, *_INJECT_STATES)
    nodes = jax.tree_util.tree_leaves(opt_state, is_leaf=lambda x: isinstance(x, kinds))
    for node in nodes:
        if isinstance(node, kinds):
            yield node
            if isinstance(node, _INJECT_STATES):
                yield from _recording_states(node.inner_state)


def learning_rate_from_state(opt_state: Any) -> jax.Array:
    """Reads η, the learning rate used by the latest update, out of an optimizer state.

    Works inside ``jit`` (it only walks the state's pytree structure) on any nesting of
    states: a jaxtrain optimizer alone, inside ``optax.chain``, ``optax.MultiSteps``,
    ``optax.masked``, :func:`skip_nonfinite`, or under ``optax.inject_hyperparams`` (whose
    ``hyperparams["learning_rate"]`` is read when present, also for optax's own optimizers).
    The first recording found in pytree order wins; in a state with several learning rates
    (``optax.multi_transform``) that is the first group's.

    Before the first update the value is the η the first update will use; after update t it
    is η(t), the one that update applied, so calling it right after ``update`` logs the
    learning rate of that step.

    Args:
      opt_state: the state of an optimizer built from :func:`scale_by_learning_rate` (every
        jaxtrain optimizer) or wrapped in ``optax.inject_hyperparams``.

    Returns:
      A float32 scalar array η.

    Raises:
      ValueError: if no learning rate is recorded in ``opt_state`` (for example the state of
        a bare ``optax.adam``: its schedule is not part of the state).

    Examples:
      >>> import jax.numpy as jnp
      >>> import optax
      >>> from jaxtrain.optim import adam, learning_rate_from_state
      >>> from jaxtrain.optim.schedules import linear
      >>> opt = optax.chain(optax.clip(1.0), adam(linear(0.0, 1.0, transition_steps=10)))
      >>> state = opt.init(jnp.zeros(3))
      >>> for _ in range(3):
      ...     _, state = opt.update(jnp.ones(3), state)
      >>> print(round(float(learning_rate_from_state(state)), 3))
      0.2
    """
    for node in _recording_states(opt_state):
        if isinstance(node, ScaleByLearningRateState):
            return _as_float32(node.learning_rate)
        if isinstance(node, _INJECT_STATES) and "learning_rate" in node.hyperparams:
            return _as_float32(node.hyperparams["learning_rate"])
    raise ValueError(
        "no learning rate is recorded in this optimizer state: build the optimizer with "
        "jaxtrain.optim (its scale_by_learning_rate keeps η in the state) or wrap an optax "
        "optimizer in optax.inject_hyperparams."
    )


def step_count_from_state(opt_state: Any) -> jax.Array:
    """Reads t, the number of updates applied so far, out of an optimizer state.

    Looks, in pytree order, for the first :class:`ScaleByLearningRateState`, optax
    ``ScaleByScheduleState`` or ``InjectHyperparamsState`` and returns its ``count``. Inside
    ``optax.MultiSteps`` this counts real (accumulated) updates; inside
    :func:`skip_nonfinite` it does not advance on a skipped step. Works inside ``jit``.

    Args:
      opt_state: an optimizer state, possibly nested.

    Returns:
      The int32 scalar count t.

    Raises:
      ValueError: if the state records no step count.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxtrain.optim import sgd, step_count_from_state
      >>> opt = sgd(0.1)
      >>> state = opt.init(jnp.zeros(2))
      >>> _, state = opt.update(jnp.ones(2), state)
      >>> print(int(step_count_from_state(state)))
      1
    """
    for node in _recording_states(opt_state):
        return jnp.asarray(node.count)
    raise ValueError(
        "no step count is recorded in this optimizer state: it has no "
        "scale_by_learning_rate, optax.scale_by_schedule or optax.inject_hyperparams state."
    )


def learning_rate_at(learning_rate: ScalarOrSchedule, step: Any) -> jax.Array:
    """Evaluates a learning rate (a number or a schedule) at one step or an array of steps.

    What a schedule plot needs: η(t) for every t in ``step``, vectorized with ``jax.vmap``
    so that any jit-traceable schedule works. A constant gives η at every step. To read the
    η that an optimizer actually used, call :func:`learning_rate_from_state` on its state:
    a ``GradientTransformation`` does not expose its schedule.

    Args:
      learning_rate: a number or a schedule ``count -> η``.
      step: an int or an integer array of steps t (any shape).

    Returns:
      An array of η(t) with the shape of ``step``.

    Raises:
      TypeError: if given an optimizer instead of a schedule.

    Examples:
      >>> import numpy as np
      >>> from jaxtrain.optim import learning_rate_at
      >>> from jaxtrain.optim.schedules import exponential_decay
      >>> sched = exponential_decay(1.0, transition_steps=1, decay_rate=0.5)
      >>> print(np.asarray(learning_rate_at(sched, np.arange(4))))
      [1.    0.5   0.25  0.125]
    """
    if isinstance(learning_rate, optax.GradientTransformation):
        raise TypeError(
            "learning_rate_at takes a number or a schedule; to read the learning rate an "
            "optimizer used, call learning_rate_from_state(opt_state)."
        )
    steps = jnp.asarray(step)
    if not jnp.issubdtype(steps.dtype, jnp.integer):
        steps = steps.astype(jnp.int32)
    if not callable(learning_rate):
        return jnp.full(steps.shape, learning_rate)
    flat = jax.vmap(lambda t: jnp.asarray(learning_rate(t)))(steps.reshape(-1))
    return flat.reshape(np.shape(steps))
