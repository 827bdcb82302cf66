"""One training step, and many of them as one compiled loop: no Python work per step."""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from jaxtrain.monitor._monitor import Monitor, StepView, run_monitors
from jaxtrain.optim._extra_args import update_with_extra_args
from jaxtrain.optim._finite import all_finite
from jaxtrain.optim._numerics import global_norm
from jaxtrain.train._checks import check_optimizer_output, check_scalar
from jaxtrain.train._records import TRAIN_PREFIX
from jaxtrain.train._sharding import Placement
from jaxtrain.train._state import TrainState

__all__ = ["STEP_RECORDS", "StepFunctions", "learning_rate_source", "step_functions"]

# What every step records, before its metrics (``train_<name>``) and monitors.
STEP_RECORDS = ("loss", "grad_norm", "learning_rate", "finite")


def learning_rate_source(
    opt_state: Any, learning_rate: Any, optimizer: optax.GradientTransformation | None = None
) -> Any:
    """Where the recorded η comes from: ``"state"``, a float, a schedule, or ``None`` (NaN).

    In this order: an ``optax.inject_hyperparams`` state's η (``"state"``); the
    ``learning_rate`` given to ``fit`` (a number, or a schedule read at the updates applied:
    see :func:`_schedule_step`); the optimizer's own η, read by
    ``jaxtrain.optim.learning_rate_from_state(opt_state, optimizer)`` from its closure (a
    constant, or a schedule at the state's count: jaxtrain's and optax's optimizers alike,
    ``"state"``); else NaN.
    """
    from jaxtrain.optim import learning_rate_from_state

    def readable(given: optax.GradientTransformation | None) -> bool:
        try:
            learning_rate_from_state(opt_state, given)
        except ValueError:
            return False
        return True

    if readable(None):
        return "state"
    if learning_rate is not None:
        return learning_rate if callable(learning_rate) else float(learning_rate)
    if optimizer is not None and readable(optimizer):
        return "state"
    return None


def _read_learning_rate(
    source: Any, opt_state: Any, step: jax.Array, optimizer: optax.GradientTransformation
) -> jax.Array:
    if source == "state":
        from jaxtrain.optim import learning_rate_from_state

        return learning_rate_from_state(opt_state, optimizer)
    if source is None:
        return jnp.float32(math.nan)
    if callable(source):
        return jnp.asarray(source(_schedule_step(opt_state, step)), jnp.float32)
    return jnp.float32(source)


def _schedule_step(opt_state: Any, step: jax.Array) -> jax.Array:
    """The t at which a given schedule is read: the updates the optimizer applied before this
    one, from its count in the state the update made (read as ``learning_rate_from_state``
    reads the optimizer's own schedule); the run's step when it keeps no count.

    A skipped step leaves the optimizer's count, and so its schedule, where they were, while
    the run's step goes on: reading the run's step would record, after a skip, an η ahead of
    the one the updates used.
    """
    from jaxtrain.optim import step_count_from_state

    try:
        count = step_count_from_state(opt_state)
    except ValueError:  # a stateless optimizer (sgd with a constant η): nothing stops
        return step
    return jnp.maximum(count - 1, 0)


def _uses_key(loss_of_key: Callable[[jax.Array], jax.Array], key: jax.Array) -> bool:
    """Whether ``loss_of_key(key)`` depends on the key (a model drawing dropout masks), read
    off its program with the unused parts removed (a jitted apply takes the key whether or
    not it uses it); where that cannot be read, it is taken to."""
    closed = jax.make_jaxpr(loss_of_key)(key)
    try:
        from jax._src.interpreters import partial_eval

        _, used = partial_eval.dce_jaxpr(closed.jaxpr, [True] * len(closed.jaxpr.outvars))
    except (ImportError, AttributeError, TypeError):
        return True
    return bool(used[0])


def _select(take: jax.Array, new: Any, old: Any) -> Any:
    return jax.tree.map(lambda a, b: jnp.where(take, a, b), new, old)


def _halves(tree: Any, size: int) -> Any:
    """Examples at even and odd positions of the first 2·``size`` as a leading axis of 2.

    Pairs of neighbours stay together, so a batch split over devices splits its halves the
    same way.
    """

    def one(a):
        a = a[: 2 * size].reshape(size, 2, *a.shape[1:])
        return jnp.moveaxis(a, 1, 0)

    return jax.tree.map(one, tree)


def _interleave(tree: Any) -> Any:
    """The inverse of :func:`_halves` over the whole batch."""
    return jax.tree.map(lambda a: jnp.moveaxis(a, 0, 1).reshape(-1, *a.shape[2:]), tree)


@functools.lru_cache(maxsize=16)
def step_functions(optimizer_reading: Any, *args: Any) -> StepFunctions:
    """The :class:`StepFunctions` of these settings, reused across ``fit`` calls.

    A new jitted function compiles anew, so calls of ``fit`` with the same optimizer, loss,
    metrics, augmentation and mesh (a model search, repeated seeds) share one; the model's
    ``apply`` is part of the state's static data and keys its own compilation.
    ``optimizer_reading`` only keys the cache: the optimizer read at this call
    (:func:`jaxtrain.train._read_now.optimizer_now`), so that one whose schedule reads other
    values now compiles anew.
    """
    del optimizer_reading
    return StepFunctions(*args)


@dataclasses.dataclass(frozen=True, eq=False)
class StepFunctions:
    """The compiled pieces of a run: one step, and scans of steps (gathered or fed)."""

    optimizer: optax.GradientTransformation
    loss: Callable[..., Any]
    metrics: tuple[tuple[str, Callable[..., Any]], ...]
    augment: Callable[..., Any] | None
    learning_rate: Any
    skip_nonfinite: bool
    placement: Placement
    monitors: tuple[Monitor, ...] = ()
    # Whether every step checks the state it produces. Skipping a bad step needs it inside
    # the step; stopping at one does not: a call checks its last state, and only a call that
    # ends non-finite runs again with every step checked (:attr:`checking_each_step`), to find
    # the step. On a small step each check is a few kernels: 14% of a batch-32 MLP step.
    checks_each_step: bool = False

    @functools.cached_property
    def _update(self) -> Callable[..., Any]:
        """The optimizer's update, given optax's extra arguments (and ``obj_fn``)."""
        return update_with_extra_args(self.optimizer)

    @functools.cached_property
    def checking_each_step(self) -> StepFunctions:
        """These functions with every step checking the state it produces."""
        return dataclasses.replace(self, checks_each_step=True)

    def step(
        self, state: TrainState, xb: Any, yb: Any, keys: jax.Array, probe: Any = None
    ) -> tuple[TrainState, dict[str, jax.Array]]:
        """θ ← θ + optimizer(∇L(θ; batch)), and the step's record.

        A step is finite when its loss, its gradient norm and every entry of the state it
        produces (parameters, model state) are, and its optimizer state holds no NaN (optax
        keeps ±inf there as "nothing seen yet"): a NaN learning rate or an overflowing update
        leaves the loss and gradient finite but the state not. The flag is
        computed here, inside the compiled step, and carried out in the step's record; the
        state part only with ``skip_nonfinite`` or ``checks_each_step`` (otherwise the call
        checks its last state: :attr:`run_indexed`).

        With ``skip_nonfinite`` a step that is not finite leaves parameters, model state and
        optimizer state as they were (a select per leaf). Without it every update is
        applied: ``fit`` looks at the records' ``finite`` flags once per call and, on a bad
        step, replays the call's steps up to it from a copy (no per-step cost).
        """
        xb, yb = self.placement.constrain_batch((xb, yb))
        aug_key, dropout_key = keys[0], keys[1]
        if self.augment is not None:
            from jaxtrain.data import augment_batch

            xb = self.placement.constrain_batch(augment_batch(self.augment, aug_key, xb))

        loss, predictions, new_model_state, grads, half_grads = self._gradients(
            state, xb, yb, dropout_key
        )

        def batch_loss(params):
            return self._objective(state)(params, xb, yb, dropout_key)[0]

        # For the transforms that take the loss: optax's reduce_on_plateau (value), L-BFGS's
        # line search (value, grad, value_fn), sophia and jaxtrain's escape transforms
        # (obj_fn). A loss function no transform calls is never traced.
        updates, new_opt_state = self._update(
            grads, state.opt_state, state.params, value=loss, value_fn=batch_loss
        )
        check_optimizer_output(updates, new_opt_state, state.params, state.opt_state)
        new_params = optax.apply_updates(state.params, updates)
        # In float32 at least: float16 squares overflow once ‖g‖ ≥ 256, a finite gradient.
        grad_norm = global_norm(grads)
        finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
        if self.skip_nonfinite or self.checks_each_step:
            finite &= all_finite((new_params, new_model_state), inf_allowed=new_opt_state)
        learning_rate = _read_learning_rate(
            self.learning_rate, new_opt_state, state.step, self.optimizer
        )
        monitor_state, monitor_records = state.monitor_state, {}
        if self.monitors:
            monitor_state, monitor_records = run_monitors(
                self.monitors,
                state.monitor_state,
                StepView(
                    step=state.step,
                    params=state.params,
                    new_params=new_params,
                    opt_state=new_opt_state,
                    learning_rate=learning_rate,
                    grads=grads,
                    half_grads=half_grads,
                    batch_size=int(xb.shape[0]),
                    probe_loss=self._probe_loss(state, probe),
                    key=jax.random.fold_in(dropout_key, 1),
                ),
            )
        if self.skip_nonfinite:
            new_params = _select(finite, new_params, state.params)
            new_model_state = _select(finite, new_model_state, state.model_state)
            new_opt_state = _select(finite, new_opt_state, state.opt_state)
            monitor_state = _select(finite, monitor_state, state.monitor_state)
            # The step did not happen: its measurements are not kept (an update ratio would
            # describe the update thrown away), as the monitors' state is not.
            monitor_records = {
                name: jnp.where(finite, value, jnp.nan) for name, value in monitor_records.items()
            }
        new_state = state.replace(
            params=new_params,
            model_state=new_model_state,
            opt_state=new_opt_state,
            step=state.step + 1,
            monitor_state=monitor_state,
        )
        values = (loss.astype(jnp.float32), grad_norm.astype(jnp.float32), learning_rate, finite)
        record = {**dict(zip(STEP_RECORDS, values, strict=True)), **monitor_records}
        for name, metric in self.metrics:
            value = check_scalar(metric(predictions, yb), f"metric {name!r}")
            record[f"{TRAIN_PREFIX}{name}"] = jnp.asarray(value, jnp.float32)
        return new_state, record

    def _gradients(self, state: TrainState, xb: Any, yb: Any, rng: jax.Array):
        """``(loss, predictions, new model state, g, halves' gradients or None)`` of a batch.

        The halves' gradients (even and odd positions, stacked) are computed only for a
        monitor that uses them (the gradient noise scale). Without batch statistics coupling
        the examples, g is their mean, so they cost no extra pass; otherwise (BatchNorm, an
        odd batch) they are an extra pass beside the usual whole-batch gradient.
        """

        objective = self._objective(state)
        value_and_grad = jax.value_and_grad(objective, has_aux=True)
        batch_size = int(xb.shape[0])
        half = batch_size // 2
        if half < 1 or not any(m.uses_half_gradients for m in self.monitors):
            (loss, (predictions, new_model_state)), grads = value_and_grad(
                state.params, xb, yb, rng
            )
            return loss, predictions, new_model_state, grads, None
        halves = (*_halves((xb, yb), half), jax.random.split(rng))
        # The halves' mean is the step only where it equals the whole batch's gradient: not
        # with batch statistics (model state), a coupled batch, or a loss drawing on the key
        # (dropout: the halves' masks are not the whole batch's).
        separable = (
            batch_size % 2 == 0
            and not any(m.needs_whole_batch_gradient for m in self.monitors)
            and not jax.tree.leaves(state.model_state)
            and not _uses_key(lambda key: objective(state.params, xb, yb, key)[0], rng)
        )
        if separable:
            (losses, (predictions, new_model_state)), half_grads = jax.vmap(
                value_and_grad, in_axes=(None, 0, 0, 0)
            )(state.params, *halves)
            grads = jax.tree.map(lambda g: jnp.mean(g, axis=0), half_grads)
            new_model_state = jax.tree.map(lambda a: a[0], new_model_state)
            return jnp.mean(losses), _interleave(predictions), new_model_state, grads, half_grads
        (loss, (predictions, new_model_state)), grads = value_and_grad(state.params, xb, yb, rng)
        half_grads = jax.vmap(
            lambda x, y, k: jax.grad(lambda p: objective(p, x, y, k)[0])(state.params)
        )(*halves)
        return loss, predictions, new_model_state, grads, half_grads

    def _objective(self, state: TrainState) -> Callable[..., Any]:
        """``(params, xb, yb, rng) -> (loss, (predictions, new model state))`` in training
        mode, from the state's model state."""

        def objective(params, xb, yb, rng):
            predictions, new_model_state = state.apply(
                params, state.model_state, xb, train=True, rng=rng
            )
            value = check_scalar(self.loss(predictions, yb), "the loss")
            return value, (predictions, new_model_state)

        return objective

    def _probe_loss(self, state: TrainState, probe: Any) -> Callable[[Any], jax.Array] | None:
        """θ ↦ L(θ; probe batch) in training mode, with one dropout key for the whole run."""
        if probe is None:
            return None
        px, py = self.placement.constrain_batch(jax.tree.map(lambda a: a[0], probe))
        rng = jax.random.fold_in(state.key, 2)

        def probe_loss(params):
            predictions, _ = state.apply(params, state.model_state, px, train=True, rng=rng)
            return self.loss(predictions, py)

        return probe_loss

    @functools.cached_property
    def run_indexed(self) -> Callable[..., Any]:
        """The steps of a segment on device data, then the last partial batch if any.

        ``(state, x, y, rows[n, B], rest[r], keys[n + 1, 2], count, with_rest, probe) ->
        (state, records, before, finite)``: the first ``count`` rows of ``rows`` are the segment's
        batches, then the partial batch ``rest`` when ``with_rest``; ``probe`` is the
        monitors' fixed ``(x, y)`` batch (a leading axis of 1) or ``None``. Every segment of
        a run passes arrays of one shape (``n`` is the feed's capacity: an epoch's full
        batches, or those of a few joined epochs; the unused rows padding), so a run compiles
        this once whatever its step count, resume point or last short epoch; ``count`` and
        ``with_rest`` are data. One dispatch and one host sync per segment. ``records`` has
        ``n + 1`` entries, of which the first ``count`` and, with the partial batch, the last
        are the segment's. ``before`` is a copy of the input state (``None`` when skipping
        non-finite steps), made inside the same call, from which ``fit`` replays up to a bad
        step. ``finite``: whether the state the call ends with is (:meth:`_finish`).
        """

        def run(state, x, y, rows, rest, keys, count, with_rest, probe):
            before = self._copy_unless_skipping(state)

            # Jitted so that its trace is cached by argument shapes: the records' shapes and
            # the loop's body share one trace of a full batch's step instead of two.
            @jax.jit
            def step(state, batch_rows, batch_keys):
                xb, yb = self.placement.take_batch((x, y), batch_rows)
                return self.step(state, xb, yb, batch_keys, probe)

            records_shape = jax.eval_shape(lambda s: step(s, rows[0], keys[0])[1], state)
            records = jax.tree.map(
                lambda r: jnp.zeros((rows.shape[0] + 1, *r.shape), r.dtype), records_shape
            )

            # A while loop over the `count` steps (a scan would need a static length): the
            # same in-place record writes a scan compiles to, no work on the padding.
            def body(i, carry):
                state, records = carry
                state, record = step(state, rows[i], keys[i])
                return state, jax.tree.map(lambda a, r: a.at[i].set(r), records, record)

            state, records = jax.lax.fori_loop(0, count, body, (state, records))
            if rest.shape[0]:

                def last_step(state):
                    return step(state, rest, keys[count])

                def no_step(state):
                    return state, jax.tree.map(lambda r: jnp.zeros(r.shape, r.dtype), records_shape)

                state, last = jax.lax.cond(with_rest, last_step, no_step, state)
                records = jax.tree.map(lambda a, r: a.at[-1].set(r), records, last)
            return self._finish(state, records, before)

        return jax.jit(run, donate_argnums=0)

    @functools.cached_property
    def run_fed(self) -> Callable[..., Any]:
        """``(state, xb[k, B, ...], yb[k, B, ...], keys[k, 2], probe) -> (state, records,
        before, finite)``, as :attr:`run_indexed`."""

        def run(state, xb, yb, keys, probe):
            before = self._copy_unless_skipping(state)

            def body(state, batch):
                return self.step(state, *batch, probe)

            state, records = jax.lax.scan(body, state, (xb, yb, keys))
            return self._finish(state, records, before)

        return jax.jit(run, donate_argnums=0)

    def _finish(self, state: TrainState, records: Any, before: TrainState | None) -> Any:
        """A call's outputs: its state and records replicated, ``before``, and whether the
        state it ends with is finite (one check per call; a non-finite state stays so: the
        parameters are θ + Δθ at every step, and inf or NaN plus anything is inf or NaN)."""
        finite = all_finite((state.params, state.model_state), inf_allowed=state.opt_state)
        records = self.placement.constrain_replicated(records)
        return self._replicated(state), records, before, self.placement.constrain_replicated(finite)

    def _copy_unless_skipping(self, state: TrainState) -> TrainState | None:
        # The input state is donated; its copy is what a bad step's replay starts from.
        return None if self.skip_nonfinite else jax.tree.map(jnp.copy, state)

    def _replicated(self, state: TrainState) -> TrainState:
        return state.replace(
            params=self.placement.constrain_replicated(state.params),
            model_state=self.placement.constrain_replicated(state.model_state),
            opt_state=self.placement.constrain_replicated(state.opt_state),
            monitor_state=self.placement.constrain_replicated(state.monitor_state),
        )
