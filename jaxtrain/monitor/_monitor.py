"""The monitor contract: measurements that run inside the compiled training step."""

from __future__ import annotations

import abc
import dataclasses
import functools
import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from jaxtrain._dtypes import INT32_MAX
from jaxtrain._numbers import is_int

__all__ = [
    "Monitor",
    "ProbeMonitor",
    "RunSetup",
    "StepView",
    "check_monitors",
    "check_record_names",
    "run_monitors",
]

# The most examples in the probe batch by default (Cohen et al. use 5,000; 2,048 keeps a
# Hessian-vector product at a few dozen training steps' cost).
DEFAULT_PROBE_SIZE = 2048


class RunSetup(NamedTuple):
    """What a monitor may check or resolve before the run compiles (plain Python values).

    Attributes:
      optimizer: the run's ``optax.GradientTransformation``.
      opt_state: its initial state.
      params: the initial parameters θ₀.
      num_examples: N, training examples (all processes).
      batch_size: B.
    """

    optimizer: optax.GradientTransformation
    opt_state: Any
    params: Any
    num_examples: int
    batch_size: int


class StepView(NamedTuple):
    """Everything of one training step that a monitor can measure (inside ``jit``).

    Attributes:
      step: t, the step count before this update (int32 scalar).
      params: θₜ, the parameters the gradient was taken at.
      new_params: θₜ₊₁ = θₜ + Δθ.
      opt_state: the optimizer state after the update (its preconditioner is the one the
        update used).
      learning_rate: η of this update (NaN when the optimizer does not record it).
      grads: g, the batch's gradient.
      half_grads: the gradients of the batch's two halves (B//2 examples each: an odd
        batch's last example is in neither) stacked on a leading axis of 2, or ``None`` when
        no monitor asked for them. g is their mean only for an even batch of a model without
        state (and no monitor needing the whole batch's gradient); otherwise g is the whole
        batch's own gradient, and with BatchNorm each half used its own statistics.
      batch_size: B of this step (static).
      probe_loss: θ ↦ L(θ; probe batch), the training loss (train mode) on the run's fixed
        probe batch, or ``None`` when no monitor asked for it.
      key: a key for this step's measurements.
    """

    step: jax.Array
    params: Any
    new_params: Any
    opt_state: Any
    learning_rate: jax.Array
    grads: Any
    half_grads: Any
    batch_size: int
    probe_loss: Callable[[Any], jax.Array] | None
    key: jax.Array


@dataclasses.dataclass(frozen=True)
class Monitor(abc.ABC):
    """A measurement taken inside ``fit``'s compiled epoch every ``every`` steps.

    A monitor is a hashable description (a frozen dataclass) with three pure functions:
    ``init(params) -> state``, ``measure(state, view) -> (state, records)`` and
    ``record_names(params)``. ``fit`` runs ``measure`` under ``lax.cond`` at steps
    t ≡ 0 (mod ``every``), writes NaN elsewhere, and keeps the state in
    ``TrainState.monitor_state[name]``, so it is checkpointed and resumes exactly.
    Subclasses set ``name`` (the state's key), ``uses_probe`` (the fixed probe batch's loss)
    and ``uses_half_gradients`` (the gradients of the batch's two halves).

    Attributes:
      every: measure at steps t with t mod ``every`` = 0 (t counts from 0).
    """

    every: int
    name: ClassVar[str] = ""
    uses_probe: ClassVar[bool] = False
    uses_half_gradients: ClassVar[bool] = False
    # Fields that ``prepare`` resolves from the run (not the user's settings).
    resolved: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        check_int("every", self.every, 1, owner=type(self).__name__)

    def settings(self) -> dict[str, Any]:
        """What a resumed run's monitor of this name must share with the checkpoint's, as
        JSON values: every field but ``every`` (measuring more or less often keeps what a
        record means) and those resolved from the run; a function by its qualified name."""
        return {
            field.name: _setting_value(getattr(self, field.name))
            for field in dataclasses.fields(self)
            if field.name != "every" and field.name not in self.resolved
        }

    @property
    def probe_size(self) -> int | None:
        """The probe batch size this monitor asks for (``None``: the default)."""
        return None

    @property
    def needs_learning_rate(self) -> bool:
        """Whether what it records is a function of the step's η (a threshold c/η)."""
        return False

    @property
    def needs_whole_batch_gradient(self) -> bool:
        """Whether the step must take its gradient on the whole batch even where the mean of
        the half-batch gradients equals it for a per-example model and loss."""
        return False

    def prepare(self, setup: RunSetup) -> Monitor:
        """Checks the monitor against the run and resolves what depends on it."""
        del setup
        return self

    @abc.abstractmethod
    def record_names(self, params: Any) -> tuple[str, ...]:
        """The per-step record names this monitor writes."""

    @abc.abstractmethod
    def init(self, params: Any) -> Any:
        """The monitor's state before the first step."""

    @abc.abstractmethod
    def measure(self, state: Any, view: StepView) -> tuple[Any, dict[str, jax.Array]]:
        """One measurement: the new state and a float32 scalar per record name."""


@dataclasses.dataclass(frozen=True)
class ProbeMonitor(Monitor):
    """A monitor of the Hessian on the run's fixed probe batch (``view.probe_loss``).

    Attributes:
      probe_examples: the probe batch size it asks for; ``None`` for min(N, 2,048).
    """

    probe_examples: int | None = None

    uses_probe: ClassVar[bool] = True
    # Compared on resume as the run's probe batch size (an omitted one resolves to it).
    resolved: ClassVar[tuple[str, ...]] = ("probe_examples",)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.probe_examples is not None:
            check_int("probe_size", self.probe_examples, 1)

    @property
    def probe_size(self) -> int | None:
        """The probe batch size this monitor asks for (``None``: the default)."""
        return self.probe_examples


def _setting_value(value: Any) -> Any:
    """A setting as a JSON value that the same setting gives in any process: numbers as the
    float32 the measurements use (1e-3 and float32(1e-3) are one tolerance), strings as they
    are, a function by its qualified name and anything else callable by its type's (a
    ``repr`` would carry an address, new in every process)."""
    if value is None or isinstance(value, bool | np.bool_ | str):
        return value if not isinstance(value, np.bool_) else bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(np.float32(value))
    if isinstance(value, functools.partial):
        return f"partial of {_setting_value(value.func)}"
    named = value if hasattr(value, "__qualname__") else type(value)
    return f"{named.__module__}.{named.__qualname__}"


def check_int(name: str, value: Any, minimum: int, *, owner: str = "") -> None:
    """Refuses a count that is not an int (NumPy's included, bools not) in [minimum, 2³¹ − 1]."""
    if not is_int(value) or not minimum <= value <= INT32_MAX:
        prefix = f"{owner}: " if owner else ""
        raise ValueError(
            f"{prefix}{name} must be an int ≥ {minimum} (at most {INT32_MAX:,}); got {value!r}"
        )


def check_number(name: str, value: Any, rule: str, ok: Callable[[float], bool]) -> None:
    """Refuses a value that is not a finite real number (NumPy's included, bools not) for which
    ``ok`` holds; ``rule`` says which in the message ("in [0, 1)")."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or not ok(float(value))
    ):
        raise ValueError(f"{name} must be a finite number {rule}; got {value!r}")


def check_monitors(monitors: Sequence[Monitor] | None) -> tuple[Monitor, ...]:
    """The monitors as a tuple, each a :class:`Monitor` and each name used once.

    Raises:
      ValueError: for something that is not a monitor, or two monitors of one kind.
    """
    if monitors is None:
        return ()
    if isinstance(monitors, Monitor):
        monitors = [monitors]
    monitors = tuple(monitors)
    names = set()
    for monitor in monitors:
        if not isinstance(monitor, Monitor):
            raise ValueError(
                "monitors must be jaxtrain.monitor monitors (sharpness(...), "
                f"gradient_noise_scale(...), ...); got {monitor!r}"
            )
        if monitor.name in names:
            raise ValueError(f"two {monitor.name!r} monitors: each kind can be used once")
        names.add(monitor.name)
    return monitors


def check_record_names(
    monitors: tuple[Monitor, ...], params: Any, taken: Any, *, prefix: str = ""
) -> None:
    """Refuses a record name that another monitor, or the step itself (``taken``), records,
    or that begins with the training metrics' ``prefix``.

    A step's records are one dict: a monitor's ``"grad_norm"`` would silently replace the
    step's own, a ``"finite"`` the flag the non-finite check reads, and a ``"train_x"`` would
    be taken for a training metric.

    Raises:
      ValueError: naming the monitor and the name.
    """
    owners = {name: "the training step" for name in taken}
    for monitor in monitors:
        for name in monitor.record_names(params):
            if prefix and name.startswith(prefix):
                raise ValueError(
                    f"monitor {monitor.name!r} records {name!r}, but names beginning "
                    f"{prefix!r} are the training metrics' records: give it another name"
                )
            if name in owners:
                raise ValueError(
                    f"monitor {monitor.name!r} records {name!r}, which {owners[name]} records "
                    "too: give it another name"
                )
            owners[name] = f"monitor {monitor.name!r}"


def run_monitors(
    monitors: tuple[Monitor, ...], states: dict[str, Any], view: StepView
) -> tuple[dict[str, Any], dict[str, jax.Array]]:
    """Every monitor whose step has come, each under a ``lax.cond``; NaN for the others."""
    new_states, records = dict(states), {}
    for monitor in monitors:
        names = monitor.record_names(view.params)

        def skipped(state, names=names):
            return state, {name: jnp.float32(math.nan) for name in names}

        def measured(state, monitor=monitor):
            state, values = monitor.measure(state, view)
            return state, {k: jnp.asarray(v, jnp.float32) for k, v in values.items()}

        if monitor.every == 1:  # always due: no conditional to dispatch
            new_states[monitor.name], values = measured(states[monitor.name])
        else:
            due = view.step % monitor.every == 0
            new_states[monitor.name], values = lax.cond(
                due, measured, skipped, states[monitor.name]
            )
        records.update(values)
    return new_states, records
