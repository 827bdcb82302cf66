"""The learning rate η as the last transform of every optimizer, and η read back.

Every jaxtrain optimizer ends with :func:`scale_by_learning_rate`, which is optax's: a constant
η is ``optax.scale(−η)`` (state ``optax.EmptyState()``) and a schedule is
``optax.scale_by_schedule`` (state ``optax.ScaleByScheduleState(count)``), so the state holds
no η. :func:`learning_rate_from_state` reads η from the optimizer's closure (the constant, or
the schedule at the state's count) — the same path for jaxtrain's and optax's optimizers —
which the training loop uses to log η per step inside ``jit``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from optax.contrib import ReduceLROnPlateauState

from jaxtrain.optim._hyperparameters import (
    ADAGRAD_FACTORIES,
    ADAM_FACTORIES,
    MEAN_SQUARE_FACTORIES,
    RADAM_FACTORIES,
    RMS_FACTORIES,
    walk_transforms,
)
from jaxtrain.optim._validation import check_learning_rate, checked_schedule

ScalarOrSchedule = float | jax.Array | Callable[[jax.Array], Any]

# optax 0.2.8 has both classes (the old name kept for compatibility); either records the
# hyperparameters. Looked up by name so that a later optax dropping one still imports.
_INJECT_STATES: tuple[type, ...] = tuple(
    getattr(optax, name)
    for name in ("InjectStatefulHyperparamsState", "InjectHyperparamsState")
    if hasattr(optax, name)
)


def _as_float32(value: Any) -> jax.Array:
    return jnp.asarray(value).astype(jnp.float32)


def scale_by_learning_rate(
    learning_rate: ScalarOrSchedule | None = None, *, flip_sign: bool = True
) -> optax.GradientTransformation:
    """Multiplies the update by −η (a number or a schedule η(t)), as ``optax`` does.

    The last link of every optimizer: a transform before it proposes a direction d (the
    gradient, a momentum buffer, an Adam ratio); this one turns it into the step
    Δθ = −η d. A constant η is ``optax.scale(−η)`` (no state); a schedule is
    ``optax.scale_by_schedule`` (state: the count t; the step at count t uses η(t), step 0
    uses η(0)). ``None`` (the default, as in optax) scales by nothing: optax's own
    optimizers pass it where another part sets the step (L-BFGS's line search). This is
    ``optax.scale_by_learning_rate`` plus jaxtrain's checks of η.
    :func:`learning_rate_from_state` reads η back given the optimizer.

    Args:
      learning_rate: η, a finite number >= 0, or a schedule ``count -> η`` (for example from
        :mod:`jaxtrain.optim.schedules`), or ``None`` for no scaling (``optax.identity()``).
        A schedule's η is checked whenever it is concrete: in ``init`` and eager updates,
        and inside ``jit`` when the schedule returns a Python number; a traced η is not read
        back (that would sync to host every step).
      flip_sign: multiply by −η (the default, for gradient descent) or by +η.

    Returns:
      An ``optax.GradientTransformation`` with state ``optax.EmptyState()`` (constant η, or
      ``None``) or ``optax.ScaleByScheduleState`` (a schedule).

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
      >>> print(updates, int(state.count))
      [-0.05 -0.05] 2
    """
    if learning_rate is None:
        return optax.identity()
    check_learning_rate(learning_rate)
    sign = -1 if flip_sign else 1
    if not callable(learning_rate):
        return optax.scale(sign * learning_rate)

    checked = checked_schedule("learning_rate", learning_rate)

    def step_size(count):
        return sign * checked(count)

    scheduled = optax.scale_by_schedule(step_size)

    def init_fn(params):
        # η(0) is checked at init as a constant η is at construction (optax checks neither).
        step_size(jnp.zeros([], jnp.int32))
        return scheduled.init(params)

    return optax.GradientTransformation(init_fn, scheduled.update)


def _recording_states(opt_state: Any) -> Iterator[Any]:
    """Yields, in pytree order, every sub-state that records a step count or hyperparameters."""
    kinds = (optax.ScaleByScheduleState, *_INJECT_STATES)
    nodes = jax.tree_util.tree_leaves(opt_state, is_leaf=lambda x: isinstance(x, kinds))
    for node in nodes:
        if isinstance(node, kinds):
            yield node
            if isinstance(node, _INJECT_STATES):
                yield from _recording_states(node.inner_state)


# Transforms that divide what they receive by its own running size (Adam's, RMSProp's and
# Adagrad's normalizations, and optax's AMSGrad and Adamax): a scale before one cancels, up
# to ε, so it is no part of η.
_NORMALIZING = (
    *ADAM_FACTORIES,
    *RADAM_FACTORIES,
    *RMS_FACTORIES,
    *ADAGRAD_FACTORIES,
    *MEAN_SQUARE_FACTORIES,
    "scale_by_amsgrad",
    "scale_by_adamax",
)

# Scalings whose factor is kept in their state, by factory: the state's class and field.
# optax.contrib.reduce_on_plateau's scale; a line search's step size (optax.lbfgs ends in
# the zoom line search), the one the latest update applied.
_STATE_SCALINGS: dict[str, tuple[type, str]] = {
    "reduce_on_plateau": (ReduceLROnPlateauState, "scale"),
    "scale_by_zoom_linesearch": (optax.ScaleByZoomLinesearchState, "learning_rate"),
    "scale_by_backtracking_linesearch": (
        optax.ScaleByBacktrackingLinesearchState,
        "learning_rate",
    ),
}
_STATEFUL_LINKS = ("injected", *_STATE_SCALINGS)

# ("scale", −η), ("schedule", t -> −η(t)), or a link whose factor is in its own state, named
# by the id of its update: ("injected", ...) an optax.inject_hyperparams transform's η, or
# (factory, ...) one of _STATE_SCALINGS.
Scaling = tuple[str, Any]


def _same_scalings(a: list[Scaling], b: list[Scaling]) -> bool:
    def key(link: Scaling) -> tuple[Any, ...]:
        kind, value = link
        if kind in _STATEFUL_LINKS:
            return (kind, None)
        if kind == "schedule":
            schedule, factor = _unwrapped_schedule(value)
            return (kind, id(schedule), factor)
        return (kind, float(value))

    return [key(link) for link in a] == [key(link) for link in b]


def _unwrapped_schedule(fn: Callable[[Any], Any]) -> tuple[Callable[[Any], Any], float]:
    """``(schedule, factor)``: the user's schedule inside the closures the libraries wrap it
    in (a sign, a validity check), and the constant those multiply it by. Each optimizer
    wraps the schedule anew, so the wrappers of one schedule are never the same object."""
    factor = 1.0
    while getattr(fn, "__code__", None) in _schedule_wrappers():
        inner = _wrapped(fn)
        if inner is None:
            break
        for cell in fn.__closure__:
            number = cell.cell_contents
            if isinstance(number, int | float) and not isinstance(number, bool):
                factor *= number
        fn = inner
    return fn, factor


def _wrapped(fn: Callable[[Any], Any]) -> Callable[[Any], Any] | None:
    """The one function ``fn`` closes over (what a wrapper wraps), or ``None``."""
    inner = [c.cell_contents for c in fn.__closure__ or () if callable(c.cell_contents)]
    return inner[0] if len(inner) == 1 else None


@functools.cache
def _schedule_wrappers() -> frozenset[Any]:
    """The code of every closure that optax's and jaxtrain's ``scale_by_learning_rate`` put
    around a schedule, found by wrapping one and unwrapping it again."""

    def probe(count: Any) -> Any:
        return count

    codes = set()
    for wrap in (optax.scale_by_learning_rate, scale_by_learning_rate):
        for factory, cells, _ in walk_transforms(wrap(probe)):
            fn = cells.get("step_size_fn") if factory == "scale_by_schedule" else probe
            while fn is not probe and hasattr(fn, "__code__"):
                codes.add(fn.__code__)
                fn = _wrapped(fn) or probe
    return frozenset(codes)


def _scalings(optimizer: optax.GradientTransformation) -> tuple[bool, list[Scaling]]:
    """``(normalizes, links)``: the scaling links whose product is the step's η, in chain order.

    Read from the closures of ``optax.scale`` and ``optax.scale_by_schedule`` (which both
    libraries' ``scale_by_learning_rate`` return), and the states of the scalings that keep
    their factor there (``_STATE_SCALINGS``). Every one of them multiplies the step
    (momentum and the other linear links commute with a scale), except those before a
    normalizing transform (Adam's, RMSProp's, Adagrad's), which cancel in its ratio;
    ``normalizes`` says whether the chain has one. The groups of ``optax.multi_transform``
    must agree, else η is not one number.
    """
    links: list[Scaling] = []
    normalizes = False
    inside_groups: set[int] = set()
    for factory, cells, fn in walk_transforms(optimizer):
        if id(fn) in inside_groups:
            continue
        if factory in _NORMALIZING:
            links, normalizes = [], True
        elif factory == "scale" and "step_size" in cells:
            links.append(("scale", cells["step_size"]))
        elif factory == "scale_by_schedule" and callable(cells.get("step_size_fn")):
            links.append(("schedule", cells["step_size_fn"]))
        elif factory in _STATE_SCALINGS:
            links.append((factory, id(fn)))
        elif factory == "perturbed_gd" and "learning_rate" in cells:
            # Gradient descent between its kicks, by this η.
            links.append(("scale", cells["learning_rate"]))
        elif factory == "inject_hyperparams":
            # Its inner optimizer is built from the state's values at each update, out of
            # reach of the closures: its η is read from the state, in this place of the chain
            # (the link names the transform, to find its own state).
            if getattr(cells.get("inner_factory"), "__name__", "") in _NORMALIZING:
                links, normalizes = [], True
            links.append(("injected", id(fn)))
        elif factory == "partition" and isinstance(cells.get("transforms"), dict):
            groups = list(cells["transforms"].values())
            inside_groups |= {id(f) for group in groups for _, _, f in walk_transforms(group)}
            found = [_scalings(group) for group in groups]
            first_normalizes, first_links = found[0]
            if any(
                n != first_normalizes or not _same_scalings(g, first_links) for n, g in found[1:]
            ):
                raise ValueError(
                    "the learning rate differs between the groups of optax.multi_transform, so "
                    "no single η describes the step: pass fit(..., learning_rate=...) or wrap "
                    "each group in optax.inject_hyperparams."
                )
            if first_normalizes:
                links, normalizes = list(first_links), True
            else:
                links = links + first_links
    return normalizes, links


def _schedule_count(opt_state: Any) -> jax.Array:
    nodes = jax.tree_util.tree_leaves(
        opt_state, is_leaf=lambda x: isinstance(x, optax.ScaleByScheduleState)
    )
    for node in nodes:
        if isinstance(node, optax.ScaleByScheduleState):
            return jnp.asarray(node.count)
    raise ValueError("the optimizer has a schedule but its state has no ScaleByScheduleState.")


def learning_rate_from_state(
    opt_state: Any, optimizer: optax.GradientTransformation | None = None
) -> jax.Array:
    """η, the learning rate of the latest update, from an optimizer state (and the optimizer).

    Works inside ``jit`` on any nesting of states: ``optax.chain``, ``optax.MultiSteps``,
    ``optax.masked``, :func:`skip_nonfinite`. Two sources, in this order:

    - ``optax.inject_hyperparams``: its state's ``hyperparams["learning_rate"]``;
    - with ``optimizer`` (jaxtrain's or optax's, which keep no η in the state): the constant η
      of its closing ``scale(−η)``, or its schedule at the state's ``ScaleByScheduleState``
      count t, as η(t − 1), the η the latest update applied, and η(0) before the first.

    With ``optimizer``, η is the product of every scaling the step passes through after the
    chain's last normalizing transform (Adam's, RMSProp's, Adagrad's ratio cancels what comes
    before it), an injected η, ``optax.contrib.reduce_on_plateau``'s current scale and a
    line search's step size (``optax.lbfgs``'s) among them:
    ``chain(inject_hyperparams(sgd)(0.1), scale(0.5))`` steps by 0.05·g. Where the
    groups of an ``optax.multi_transform`` disagree (a frozen ``set_to_zero`` group beside an
    injected one), the injected η is taken.

    Args:
      opt_state: the optimizer's state.
      optimizer: the ``optax.GradientTransformation`` that made ``opt_state``; needed unless
        it is wrapped in ``optax.inject_hyperparams``.

    Returns:
      A float32 scalar array η.

    Raises:
      ValueError: if η can be found in neither (no ``inject_hyperparams`` state, and no
        ``optimizer`` or one without a learning-rate scaling).

    Examples:
      >>> import jax.numpy as jnp
      >>> import optax
      >>> from jaxtrain.optim import adam, learning_rate_from_state
      >>> from jaxtrain.optim.schedules import linear
      >>> opt = optax.chain(optax.clip(1.0), adam(linear(0.0, 1.0, transition_steps=10)))
      >>> state = opt.init(jnp.zeros(3))
      >>> for _ in range(3):
      ...     _, state = opt.update(jnp.ones(3), state)
      >>> print(round(float(learning_rate_from_state(state, opt)), 3))  # η(2)
      0.2
    """
    # Each inject_hyperparams state's η (None where it injects none), in the chain's order.
    injected = [
        node.hyperparams.get("learning_rate")
        for node in _recording_states(opt_state)
        if isinstance(node, _INJECT_STATES)
    ]
    links = None if optimizer is None else _links_or_none(optimizer, injected)
    if links is None:
        # The optimizer's other links are out of sight: the first injected η is all there is.
        factors = [rate for rate in injected if rate is not None][:1]
    else:
        factors = _link_factors(links, optimizer, opt_state, injected)
    if not factors and optimizer is not None:
        raise ValueError(
            "no learning rate found: the optimizer has no scale, scale_by_schedule or "
            "optax.inject_hyperparams η after its last normalizing transform to read it from; "
            "give it yourself (fit(..., learning_rate=...))."
        )
    if not factors:
        raise ValueError(
            "no learning rate found: pass the optimizer, learning_rate_from_state(opt_state, "
            "optimizer) (its η is in the closure of its scale or scale_by_schedule, not in the "
            "state), or wrap it in optax.inject_hyperparams."
        )
    eta = jnp.float32(1.0)
    for factor in factors:
        eta = eta * _as_float32(factor)
    # |η|: a sign only says whether the scaling descends (flip_sign, optax.scale(-1.0)).
    return jnp.abs(eta)


def _link_factors(
    links: list[Scaling], optimizer: optax.GradientTransformation, opt_state: Any, injected: list
) -> list[Any]:
    """Each link's factor of η: a constant, a schedule at the state's count, an injected η
    (an ``inject_hyperparams`` link without one has no factor)."""
    # Walk order is the states' order: the i-th inject transform owns the i-th state, the
    # i-th reduce_on_plateau the i-th plateau state (and so on).
    walked = list(walk_transforms(optimizer))

    def owned(factory: str, factors: list[Any]) -> dict[int, Any]:
        owners = [id(fn) for name, _, fn in walked if name == factory]
        return dict(zip(owners, factors, strict=False))

    # The walk does not enter inject_hyperparams, nor does this: a plateau inside an injected
    # optimizer is out of reach, as its η is.
    kinds = tuple(kind for kind, _ in _STATE_SCALINGS.values())
    nodes = jax.tree_util.tree_leaves(
        opt_state, is_leaf=lambda x: isinstance(x, (*kinds, *_INJECT_STATES))
    )
    factor_of = {"injected": owned("inject_hyperparams", injected)}
    for factory, (kind, field) in _STATE_SCALINGS.items():
        held = [getattr(node, field) for node in nodes if isinstance(node, kind)]
        factor_of[factory] = owned(factory, held)
    factors = []
    for kind, value in links:
        if kind == "schedule":
            factors.append(value(jnp.maximum(_schedule_count(opt_state) - 1, 0)))
        elif kind == "scale":
            factors.append(value)
        elif factor_of[kind].get(value) is not None:
            factors.append(factor_of[kind][value])
    return factors


def _links_or_none(optimizer: optax.GradientTransformation, injected: list[Any]) -> Any:
    """The optimizer's scaling links; ``None`` where groups of ``optax.multi_transform``
    disagree but an injected η is there to fall back on (a frozen group, ``set_to_zero``,
    has none of the other group's links)."""
    try:
        return _scalings(optimizer)[1]
    except ValueError:
        if any(rate is not None for rate in injected):
            return None
        raise


# States whose ``count`` is no number of updates: reduce_on_plateau's counts the losses it
# has accumulated and restarts every ``accumulation_size`` updates, apply_every's cycles
# modulo k.
_OTHER_COUNTS = (ReduceLROnPlateauState, optax.ApplyEvery)


def _counting_state(node: Any) -> bool:
    return isinstance(node, tuple) and "count" in getattr(node, "_fields", ())


def step_count_from_state(opt_state: Any) -> jax.Array:
    """Reads t, the number of updates applied so far, out of an optimizer state.

    Looks, in pytree order, for the first ``ScaleByScheduleState`` or
    ``InjectHyperparamsState``, else the first state with a ``count`` field (Adam's, RMSProp's
    with bias correction...) that counts updates (not ``reduce_on_plateau``'s nor
    ``apply_every``'s, which restart), and returns its ``count``. Inside ``optax.MultiSteps`` this
    counts real (accumulated) updates; inside :func:`skip_nonfinite` it does not advance on
    a skipped step. Works inside ``jit``.

    Args:
      opt_state: an optimizer state, possibly nested.

    Returns:
      The int32 scalar count t.

    Raises:
      ValueError: if the state records no step count (as in optax, ``sgd`` with a constant η
        and no momentum keeps no state at all).

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxtrain.optim import adam, step_count_from_state
      >>> opt = adam(0.1)
      >>> state = opt.init(jnp.zeros(2))
      >>> _, state = opt.update(jnp.ones(2), state)
      >>> print(int(step_count_from_state(state)))
      1
    """
    for node in _recording_states(opt_state):
        return jnp.asarray(node.count)
    nodes = jax.tree_util.tree_leaves(opt_state, is_leaf=_counting_state)
    for node in nodes:
        if _counting_state(node) and not isinstance(node, _OTHER_COUNTS):
            return jnp.asarray(node.count)
    raise ValueError(
        "no step count is recorded in this optimizer state: it has no state with a count "
        "(optax.scale_by_schedule, inject_hyperparams, Adam's...); sgd with a constant "
        "learning rate keeps none, as in optax."
    )


def learning_rate_at(learning_rate: ScalarOrSchedule, step: Any) -> jax.Array:
    """Evaluates a learning rate (a number or a schedule) at one step or an array of steps.

    What a schedule plot needs: η(t) for every t in ``step``, vectorized with ``jax.vmap``
    so that any jit-traceable schedule works. A constant gives η at every step. To read the
    η that an optimizer actually used, call :func:`learning_rate_from_state` on its state:
    it reads the optimizer's closure.

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
            "optimizer used, call learning_rate_from_state(opt_state, optimizer)."
        )
    steps = jnp.asarray(step)
    if not jnp.issubdtype(steps.dtype, jnp.integer):
        steps = steps.astype(jnp.int32)
    if not callable(learning_rate):
        return jnp.full(steps.shape, learning_rate)
    flat = jax.vmap(lambda t: jnp.asarray(learning_rate(t)))(steps.reshape(-1))
    return flat.reshape(np.shape(steps))
