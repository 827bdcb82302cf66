"""Skip updates whose gradients hold a NaN or an infinity, and count them."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxtrain._dtypes import INT32_MAX
from jaxtrain._numbers import is_int
from jaxtrain.optim._finite import all_finite


class SkipNonfiniteState(NamedTuple):
    """State of :func:`skip_nonfinite` (the fields of ``optax.ApplyIfFiniteState``).

    Attributes:
      notfinite_count: int32 scalar, consecutive non-finite updates so far (reset to 0 by a
        finite one).
      last_finite: bool scalar, whether the latest update was finite.
      total_notfinite: int32 scalar, all non-finite updates since ``init`` (never reset).
      inner_state: the wrapped transformation's state, untouched by skipped steps.
    """

    notfinite_count: jax.Array
    last_finite: jax.Array
    total_notfinite: jax.Array
    inner_state: Any


def skip_nonfinite(
    inner: optax.GradientTransformation, max_consecutive_errors: int | None = None
) -> optax.GradientTransformationExtraArgs:
    """Wraps an optimizer so that a step with a NaN or inf gradient changes nothing.

    One bad batch (a log of 0, an overflow in bfloat16) gives a non-finite gradient; applied,
    it would write NaN into θ and into every moving average of the optimizer for good. Here
    such a step returns zero updates and leaves the inner state as it was, and the wrapper
    counts it. With ``max_consecutive_errors=k``, after k consecutive skipped steps the next
    non-finite update is applied anyway (``optax.apply_if_finite``'s semantics: a run that
    keeps failing does fail visibly); with None (the default) non-finite updates are always
    skipped and only counted, so the training loop can stop on ``total_notfinite``.

    Args:
      inner: any ``optax.GradientTransformation`` (jaxtrain's or optax's).
      max_consecutive_errors: k >= 0 as above, or None to skip forever.

    Returns:
      An ``optax.GradientTransformationExtraArgs`` with state :class:`SkipNonfiniteState`.

    Raises:
      ValueError: if ``max_consecutive_errors`` is negative or not an integer.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxtrain.optim import adam, skip_nonfinite
      >>> opt = skip_nonfinite(adam(0.1))
      >>> state = opt.init(jnp.zeros(2))
      >>> updates, state = opt.update(jnp.array([1.0, jnp.nan]), state)
      >>> print(updates, int(state.total_notfinite), int(state.inner_state[0].count))
      [0. 0.] 1 0
    """
    if max_consecutive_errors is not None and (
        not is_int(max_consecutive_errors) or max_consecutive_errors < 0
    ):
        raise ValueError(
            "`max_consecutive_errors` must be an integer >= 0 or None, got "
            f"{max_consecutive_errors!r}."
        )
    inner = optax.with_extra_args_support(inner)

    def init_fn(params):
        return SkipNonfiniteState(
            notfinite_count=jnp.zeros([], jnp.int32),
            last_finite=jnp.array(True, jnp.bool_),
            total_notfinite=jnp.zeros([], jnp.int32),
            inner_state=inner.init(params),
        )

    def update_fn(updates, state, params=None, **extra_args):
        is_finite = all_finite(updates)
        notfinite_count = jnp.where(
            is_finite, jnp.zeros([], jnp.int32), optax.safe_increment(state.notfinite_count)
        )
        apply = is_finite
        if max_consecutive_errors is not None:
            # The int32 count stops at its largest value: a larger k never lets one through.
            limit = min(int(max_consecutive_errors), INT32_MAX)
            apply = jnp.logical_or(is_finite, notfinite_count > limit)

        def do_update(_):
            return inner.update(updates, state.inner_state, params, **extra_args)

        def skip_update(_):
            # Zeros of the updates the inner transform returns, which may differ from the
            # gradient's dtype (bfloat16 g, Adam with a float32 mu_dtype: float32 updates).
            shapes, _ = jax.eval_shape(do_update, None)
            return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes), state.inner_state

        new_updates, inner_state = jax.lax.cond(apply, do_update, skip_update, None)
        total = jnp.where(
            is_finite, state.total_notfinite, optax.safe_increment(state.total_notfinite)
        )
        return new_updates, SkipNonfiniteState(
            notfinite_count=notfinite_count,
            last_finite=is_finite,
            total_notfinite=total,
            inner_state=inner_state,
        )

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
