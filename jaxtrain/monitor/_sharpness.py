"""Sharpness λmax of the training loss, tracked during training by warm-started Lanczos."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jaxtrain._hoisted import static_now
from jaxtrain.curvature import hvp
from jaxtrain.curvature._lanczos import basis_rows, extreme_ritz_pairs
from jaxtrain.curvature._operators import flat_operator, flat_space, highest_precision
from jaxtrain.monitor._monitor import (
    ProbeMonitor,
    RunSetup,
    StepView,
    check_int,
    check_number,
)
from jaxtrain.monitor._preconditioner import preconditioner_inverse, preconditioner_set
from jaxtrain.monitor._threshold import StabilityThreshold, stability_threshold
from jaxtrain.optim._hyperparameters import Part, optimizer_parts

__all__ = ["Sharpness", "SharpnessState", "sharpness"]

# A warm start is the last top eigenvector plus this much of a fresh random direction, so a
# new top direction that the old vector misses still enters the Krylov space.
_FRESH_WEIGHT = 0.1
# The most Lanczos steps of a measurement: a cold start converges within it on the lecture's
# networks, and its basis (32 rows of the parameter count) stays small.
_DEFAULT_NUM_ITERS = 20
# Lanczos steps before the first convergence check of a cold measurement. A warm one runs at
# least as many steps as the cold one took (SharpnessState.cold_steps), plus one.
_MIN_ITERS = 3


class SharpnessState(NamedTuple):
    """State of :func:`sharpness`.

    Attributes:
      vector: the last measurement's top eigenvector (flat, ``ravel_pytree`` order; zeros
        before the first), the next measurement's starting vector.
      matvecs: Hessian-vector products the last measurement used (int32).
      cold_steps: the Lanczos steps the first (cold) measurement took (int32; 0 before it).
    """

    vector: jax.Array
    matvecs: jax.Array
    cold_steps: jax.Array


def probe_operator(monitor_view: StepView, parts: tuple[Part, ...], preconditioned: bool):
    """The flat v ↦ Hv (or v ↦ P^{-1/2} H P^{-1/2} v) of the probe loss at θₜ, and n."""
    product = hvp(monitor_view.probe_loss, monitor_view.params)
    f, flat_params, _ = flat_operator(product, monitor_view.params)
    if not preconditioned:
        return f, flat_params
    inverse = preconditioner_inverse(list(parts), monitor_view.opt_state)
    scale = ravel_pytree(jax.tree.map(jnp.sqrt, inverse))[0].astype(flat_params.dtype)
    return (lambda v: scale * f(scale * v)), flat_params


@dataclasses.dataclass(frozen=True)
class Sharpness(ProbeMonitor):
    """The monitor :func:`sharpness` returns (its fields are that function's arguments)."""

    preconditioned: bool = False
    num_iters: int = _DEFAULT_NUM_ITERS
    tol: float = 1e-3
    threshold: float | Callable[[Any], Any] | None = None
    rule: StabilityThreshold | None = None
    optimizer: Any = None

    name: ClassVar[str] = "sharpness"
    resolved: ClassVar[tuple[str, ...]] = (*ProbeMonitor.resolved, "rule", "optimizer")

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int("num_iters", self.num_iters, 2)
        # A relative tolerance of 1 or more accepts any Ritz value at all.
        check_number("tol", self.tol, "in (0, 1)", lambda tol: 0 < tol < 1)
        flag = self.preconditioned
        if not isinstance(flag, bool | np.bool_ | int | np.integer) or flag not in (0, 1):
            raise ValueError(f"preconditioned must be True or False; got {flag!r}")
        object.__setattr__(self, "preconditioned", bool(flag))  # 1 reads as True
        if self.threshold is not None and not callable(self.threshold):
            check_number(
                "threshold", self.threshold, "> 0 (or a function of η)", lambda value: value > 0
            )

    def prepare(self, setup: RunSetup) -> Sharpness:
        parts = tuple(optimizer_parts(setup.optimizer, setup.opt_state))
        if self.preconditioned:
            # Raises when there is none; traced only, since nothing of it is kept.
            inverse = jax.eval_shape(
                lambda s: preconditioner_inverse(list(parts), s), setup.opt_state
            )
            if jax.tree.structure(inverse) != jax.tree.structure(setup.params):
                raise ValueError(
                    "preconditioned=True needs the adaptive optimizer's preconditioner for every "
                    "parameter, but this optimizer keeps one for only some of the parameters "
                    "(optax.masked or optax.multi_transform): measure the plain sharpness "
                    "(preconditioned=False), with threshold= for the rule that applies."
                )
        if self.threshold is None:
            rule = stability_threshold(
                setup.optimizer, setup.opt_state, preconditioned=self.preconditioned
            )
        elif callable(self.threshold):
            # Read now: equal while it computes the same, so a run reuses the compiled steps
            # and a number it closes over, changed since, is not the last run's.
            eta = jax.ShapeDtypeStruct((), jnp.float32)
            rule = StabilityThreshold(None, "user function", static_now(self.threshold, (eta,)))
        else:
            constant = float(self.threshold)
            rule = StabilityThreshold(None, f"{constant:g}", constant=constant)
        return dataclasses.replace(self, rule=rule, optimizer=setup.optimizer)

    @property
    def needs_learning_rate(self) -> bool:
        return self.threshold is None or callable(self.threshold)

    def record_names(self, params: Any) -> tuple[str, ...]:
        del params
        return ("sharpness", "stability_threshold")

    def init(self, params: Any) -> SharpnessState:
        flat = flat_space(params)
        zero = jnp.zeros([], jnp.int32)
        return SharpnessState(jnp.zeros(flat.shape, flat.dtype), zero, zero)

    def measure(self, state: SharpnessState, view: StepView):
        # Read off this step's state: a scheduled ε or β of P is the one the step used.
        parts = (
            tuple(optimizer_parts(self.optimizer, view.opt_state)) if self.preconditioned else ()
        )
        with highest_precision():
            f, flat_params = probe_operator(view, parts, self.preconditioned)
            n = flat_params.size
            fresh = jax.random.normal(view.key, (n,), flat_params.dtype)
            fresh = fresh / jnp.linalg.norm(fresh)
            norm = jnp.linalg.norm(state.vector)
            is_warm = norm > 0  # not before the first measurement, nor after a NaN one
            warm = state.vector / jnp.where(is_warm, norm, 1.0) + _FRESH_WEIGHT * fresh
            v0 = jnp.where(is_warm, warm, fresh)
            num_iters = min(self.num_iters, n)
            # A new top direction (eigenvalues crossing, as sharpening goes on) enters only
            # through the fresh part, whose share of it is a cold start's; the old direction,
            # an eigenvector still (of λ₂ now), would pass the stop at once. So a warm start
            # runs the steps a cold start needs, one more for the old direction.
            min_iters = jnp.where(
                is_warm, jnp.maximum(state.cold_steps + 1, _MIN_ITERS), _MIN_ITERS
            )
            values, vectors, _, steps, _ = extreme_ritz_pairs(
                f,
                v0,
                jnp.int32(num_iters),
                jnp.asarray(self.tol, flat_params.dtype),
                m=basis_rows(num_iters, n),
                k=1,
                which="largest",
                min_iters=jnp.minimum(min_iters, num_iters),
            )
        assert self.rule is not None, "prepare() resolves the threshold before the run"
        value = values[0]
        if self.preconditioned:  # no step's P before the adaptive transform's first step
            value = jnp.where(preconditioner_set(list(parts), view.opt_state), value, jnp.nan)
        records = {"sharpness": value, "stability_threshold": self.rule(view.learning_rate)}
        steps = steps.astype(jnp.int32)
        cold_steps = jnp.where(is_warm, state.cold_steps, steps)
        return SharpnessState(vectors[0], steps, cold_steps), records


def sharpness(
    every: int,
    *,
    preconditioned: bool = False,
    probe_size: int | None = None,
    num_iters: int | None = None,
    tol: float = 1e-3,
    threshold: float | Callable[[Any], Any] | None = None,
) -> Sharpness:
    r"""Tracks the sharpness λmax(H) against the stability threshold (the edge of stability).

    Lecture §4: the loss can stop falling while the gradient is not small, because η is too
    large for the curvature and the parameters bounce across a narrow valley. On a quadratic,
    gradient descent is stable only while λmax < 2/η. Cohen et al. (2021) found that
    full-batch training *sharpens* (λmax rises) until λmax ≈ 2/η and then hovers there while
    the loss keeps falling, non-monotonically: the edge of stability.

    Every ``every`` steps this measures λmax of the Hessian H = ∇²L(θₜ) of the training loss
    on a fixed probe batch (drawn once from the training data with the run's seed), by
    Lanczos with full reorthogonalization, warm-started from the previous measurement's top
    eigenvector (plus 10% of a fresh random direction), and stopping when the Ritz value's
    error bound is below ``tol``·λ, but not before the steps the first, cold measurement
    took, and one more: a new top direction (eigenvalues crossing as the loss sharpens)
    enters only through the fresh part, as into a cold start, while the old direction, still
    an eigenvector, would pass the stop at once. The warm start buys accuracy and a tracked
    direction, not fewer products. Beside it, the stability threshold of the run's
    optimizer at the step's η (:func:`stability_threshold`).

    With ``preconditioned=True`` it measures λmax(P^{-1/2} H P^{-1/2}), P the adaptive
    optimizer's diagonal preconditioner of the step just taken, read from jaxtrain's and
    optax's states, for every parameter (not under ``optax.masked`` or
    ``optax.multi_transform``). Cohen et al. (2022) write Adam as θ ← θ − η P⁻¹ m with m
    the *uncorrected* first moment, so for Adam and AdamW

        P = (1 − β₁ᵗ)·diag(√v̂ + ε),   v̂ = v/(1 − β₂ᵗ),

    t the optimizer's count after the step (1 after the first); RAdam's is the same over
    its rectification r once it rectifies, and 1 − β₁ᵗ before. For RMSProp and Adagrad P
    is σ. Adam's threshold, (2 + 2β₁)/((1 − β₁)η) = 38/η at β₁ = 0.9 (Cohen et al., 2022),
    is for this P: without the 1 − β₁ᵗ the first steps would read up to 10× low.

    BatchNorm: the Hessian is that of the loss *as it is trained*, in training mode, with
    the probe batch's own statistics; dropout uses one fixed key for the whole run.

    Records ``history.per_step["sharpness"]`` and ``["stability_threshold"]`` (NaN at steps
    not measured, and a preconditioned sharpness NaN before the adaptive transform's first
    step, as under ``optax.MultiSteps``). ``sharpness·η/2`` near 1 (for SGD) is the edge of
    stability.

    Args:
      every: measure every this many steps (from step 0).
      preconditioned: measure the preconditioned sharpness of an adaptive optimizer.
      probe_size: examples in the probe batch; default min(N, 2,048). Monitors share one
        probe batch, of the largest size asked for.
      num_iters: the most Lanczos steps (Hessian-vector products) per measurement;
        ``None`` for 20 (a measurement stops when converged, and a warm-started one not
        before the cold one's steps, and one more).
      tol: the relative accuracy at which a measurement stops.
      threshold: the stability threshold as a number or a function of η, for an optimizer
        whose threshold is not known here (or to override it).

    Returns:
      A :class:`Sharpness` monitor for ``fit(..., monitors=[...])``.

    Raises:
      ValueError: for bad arguments here; at ``fit``, for an optimizer whose threshold is
        unknown (pass ``threshold=``), or ``preconditioned=True`` without a preconditioner.

    Examples:
      >>> import numpy as np
      >>> from flax import nnx
      >>> from jaxtrain import losses, monitor, nn, optim, train
      >>> rng = np.random.default_rng(0)
      >>> x = rng.normal(size=(64, 4)).astype(np.float32)
      >>> y = rng.normal(size=(64, 1)).astype(np.float32)
      >>> _, history = train.fit(nn.MLP(4, 8, 1, depth=1, rngs=nnx.Rngs(0)), optim.sgd(0.1),
      ...                        (x, y), loss=losses.mse, steps=10, batch_size=None,
      ...                        monitors=[monitor.sharpness(every=5)], progress=False)
      >>> print(np.isfinite(history.per_step["sharpness"]).nonzero()[0])
      [0 5]
      >>> print(history.per_step["stability_threshold"][0])  # 2/η
      20.0

    References:
      Cohen, Kaur, Li, Kolter, Talwalkar, "Gradient Descent on Neural Networks Typically
      Occurs at the Edge of Stability", ICLR 2021, https://arxiv.org/abs/2103.00065

      Cohen et al., "Adaptive Gradient Methods at the Edge of Stability", 2022,
      https://arxiv.org/abs/2207.14484
    """
    return Sharpness(
        every,
        preconditioned=preconditioned,
        probe_examples=probe_size,
        num_iters=_DEFAULT_NUM_ITERS if num_iters is None else num_iters,
        tol=tol,
        threshold=threshold,
    )
