"""Measuring a finished run: gradients, curvature and a way down, saturation, a lower-η re-run.

:func:`measure_run` turns a :class:`~jaxtrain.diagnose._training.Run` (its history, the initial
and the final state) and the training data into a :class:`~jaxtrain.diagnose.RunEvidence`. It
probes only what a cause needs: the Hessian at the end when the run failed (dense when small,
Lanczos above), the escape test along its lowest eigenvector, and a short re-run at a lower η
when every other condition of ``learning_rate_too_high`` holds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxtrain._host_tree import host_flat, host_unflat
from jaxtrain.diagnose._causes import failed, learning_rate_too_high
from jaxtrain.diagnose._evidence import (
    RunEvidence,
    feature_spread,
    loss_curve_statistics,
    noise_statistics,
    saturation_statistics,
    sharpness_statistics,
)
from jaxtrain.diagnose._thresholds import CauseThresholds
from jaxtrain.diagnose._training import (
    Run,
    evaluate_loss,
    fit_run,
    full_batch_loss_fn,
    training_grad_norm,
)

__all__ = ["escape_test", "measure_run", "saturation_at"]

_NAN = float("nan")
_CHUNK = 2048
# The escape test's steps t along ±u, in units of max(1, ‖θ‖): small enough that the local
# (second- or third-order) model holds, large enough that float32 resolves the change.
_ESCAPE_STEPS = (1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)
# Random directions the escape test also tries (where the Hessian is degenerate).
_RANDOM_DIRECTIONS = 4


@jax.jit
def _curvature_along(loss_fn: Any, params: Any, v: Any) -> jax.Array:
    # vᵀHv by forward-over-reverse: d/dε ∇L(θ + εv) at ε = 0, dotted with v.
    hv = jax.jvp(jax.grad(loss_fn), (params,), (v,))[1]
    return sum(jnp.vdot(a, b) for a, b in zip(jax.tree.leaves(v), jax.tree.leaves(hv), strict=True))


@jax.jit
def _losses_along(loss_fn: Any, params: Any, direction: Any, steps: jax.Array) -> jax.Array:
    def one(t: jax.Array) -> jax.Array:
        moved = jax.tree.map(lambda p, d: p + t.astype(p.dtype) * d, params, direction)
        return loss_fn(moved)

    return jax.lax.map(one, steps)


def escape_test(
    loss_fn: Callable[[Any], jax.Array],
    params: Any,
    direction: Any,
    *,
    value: float | None = None,
    gradient: Any = None,
    rise_tolerance: float = CauseThresholds.escape_decrease,
) -> tuple[float, float]:
    """Does the loss fall along ±u beyond what the gradient explains? Measured, not assumed.

    For steps t on a grid of (10⁻³ … 1)·max(1, ‖θ‖) in both signs, measures
    c(t) = [L(θ + t·u) − L(θ) − t·gᵀu] / L(θ): the change of the loss minus its first-order
    part, which gradient descent already follows. On a quadratic model c(t) = ½λt²/L, so a
    negative eigenvalue λ of u shows as c < 0; at a degenerate saddle (λ = 0) higher-order
    terms show; at a minimum, and on any convex loss, c ≥ 0 up to rounding.

    A way down must be a descent path from θ: along each sign, only the steps before c first
    rises (by more than ``rise_tolerance`` above its lowest so far, c = 0 at t = 0) count,
    and the smallest step always does. The grid reaches ‖θ‖, far enough to jump a barrier
    into a deeper basin; a loss that climbs before it falls is a minimum with a lower basin
    beyond, not a saddle.

    Args:
      loss_fn: θ ↦ L(θ), a pytree-callable (``curvature.loss_from_model``) or a function.
      params: θ.
      direction: u, a unit vector shaped like ``params``.
      value: L(θ), from a caller that has it (computed when ``None``).
      gradient: g = ∇L(θ), likewise.
      rise_tolerance: the rise of c that counts as one (default ``escape_decrease``, 10⁻⁶:
        a rise is resolved as finely as a fall is).

    Returns:
      ``(best c, its t)``: the most negative relative change on a descent path, and the
      signed step.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxtrain.diagnose._measure import escape_test
      >>> loss = lambda w: (1.0 - w[0] * w[1]) ** 2  # saddle at 0, λ = −2 along (1, 1)/√2
      >>> change, step = escape_test(loss, jnp.zeros(2), jnp.array([1.0, 1.0]) / 2**0.5)
      >>> round(change, 3), round(abs(step), 3)  # exact: (1 − t²/2)² − 1, best at t = 1
      (-0.75, 1.0)
    """
    from jaxtrain.curvature._operators import (
        as_pytree_callable,
        highest_precision,
        value_and_gradient,
    )

    fn = as_pytree_callable(loss_fn, (params,))
    with highest_precision():
        if value is None or gradient is None:
            value_at, gradient_at = value_and_gradient(fn, params)
            value = value_at if value is None else value
            gradient = gradient_at if gradient is None else gradient
        slope = float(np.dot(host_flat(gradient), host_flat(direction)))
        scale = max(1.0, float(np.linalg.norm(host_flat(params))))
        grid = np.asarray(_ESCAPE_STEPS) * scale
        steps = np.concatenate([grid, -grid]).astype(np.float32)
        losses = np.asarray(_losses_along(fn, params, direction, steps), np.float64)
    base = float(value)
    change = (losses - base - steps.astype(np.float64) * slope) / max(abs(base), 1e-12)
    change = np.where(np.isfinite(change), change, np.inf)
    n = grid.size
    on_path = np.zeros(change.size, dtype=bool)
    for side in (slice(0, n), slice(n, 2 * n)):
        on_path[side] = _descent_path(change[side], rise_tolerance)
    best = int(np.argmin(np.where(on_path, change, np.inf)))
    return float(change[best]), float(steps[best])


def _descent_path(changes: np.ndarray, tolerance: float) -> np.ndarray:
    """Which of the steps (smallest first) come before c first rises more than
    ``tolerance`` above its lowest so far (0 at t = 0); the smallest step always counts."""
    lowest = np.minimum.accumulate(np.concatenate([[0.0], changes]))[:-1]
    rose = np.cumsum(changes > lowest + tolerance) > 0
    rose[0] = False
    return ~rose


def _curvature(
    loss_fn: Any, params: Any, loss_value: float, *, thresholds: CauseThresholds, key: jax.Array
) -> dict[str, Any]:
    """λmin, λmax (dense or Lanczos), the escape test, ρ and the valley ratio at θ."""
    from jaxtrain import curvature
    from jaxtrain.curvature._operators import (
        as_pytree_callable,
        flat_space,
        highest_precision,
        value_and_gradient,
    )

    flat = flat_space(params)
    n = int(flat.size)
    unlifted = None  # the subspace random directions are drawn in (None: all of it)
    if n <= thresholds.dense_max_params:
        H = np.asarray(curvature.hessian(loss_fn, params), dtype=np.float64)
        evals, evecs = np.linalg.eigh((H + H.T) / 2)
        lam_min, lam_max = float(evals[0]), float(evals[-1])
        u = host_unflat(evecs[:, 0].astype(flat.dtype), params)
        method = "dense"
        tol = curvature.eigenvalue_tolerance([lam_min, lam_max], flat.dtype)
        unlifted = evecs[:, evals <= tol]
    else:
        result = curvature.eigenvalues(
            curvature.hvp(loss_fn, params),
            params,
            k=1,
            which="both",
            key=key,
            return_vectors=True,
        )
        values = np.asarray(result.eigenvalues, dtype=np.float64)
        lam_min, lam_max = float(values[0]), float(values[-1])
        u = jax.tree.map(lambda v: np.asarray(v)[0], result.eigenvectors)
        method = "lanczos"
        tol = curvature.eigenvalue_tolerance([lam_min, lam_max], flat.dtype)
    norm_u = float(np.linalg.norm(host_flat(u)))
    u = jax.tree.map(lambda a: a / norm_u, u)
    fn = as_pytree_callable(loss_fn, (params,))
    with highest_precision():
        value, grad = value_and_gradient(fn, params)
        g2 = float(sum(np.vdot(a, a) for a in jax.tree.leaves(jax.device_get(grad))))
        along_g = float(_curvature_along(fn, params, grad)) if g2 > 0 else _NAN
    # Along the lowest eigenvector first; a degenerate saddle (a deep linear net at the
    # origin, H = 0 but for its output bias) goes down only at third order, along directions
    # the Hessian cannot name, so a few random ones are tried too. On a convex loss, or at a
    # minimum with a positive definite Hessian, none can go down beyond the first-order part.
    rise = thresholds.escape_decrease
    # fn, read once above, serves every test (escape_test takes a read function as it is).
    change, step = escape_test(fn, params, u, value=value, gradient=grad, rise_tolerance=rise)
    along = "eigenvector"
    for v in _random_directions(key, params, flat, unlifted):
        c, t = escape_test(fn, params, v, value=value, gradient=grad, rise_tolerance=rise)
        if c < change:
            change, step, along = c, t, "random"
    progress = g2 / (2.0 * lam_max * loss_value) if lam_max > 0 and loss_value > 0 else _NAN
    valley = lam_max * g2 / along_g if along_g > 0 and lam_max > 0 else _NAN
    return {
        "lambda_min": lam_min,
        "lambda_max": lam_max,
        "eig_tol": tol,
        "curvature_method": method,
        "escape_change": change,
        "escape_step": step,
        "escape_along": along,
        "progress": progress,
        "valley_ratio": valley,
    }


def _random_directions(
    key: jax.Array, params: Any, flat: Any, unlifted: np.ndarray | None
) -> list[Any]:
    """Unit random directions shaped like ``params``, in the span of ``unlifted``'s columns.

    ``unlifted``: the eigenvectors of λ ≤ round-off (a dense Hessian's); ``None`` (Lanczos):
    anywhere. A way down of higher order runs where the quadratic part does not lift the
    loss: a direction with a part of positive curvature climbs first, and the escape test
    counts no way down that climbs (the deep linear net's output bias would hide its saddle).
    """
    directions = []
    for subkey in jax.random.split(key, _RANDOM_DIRECTIONS):
        v = np.asarray(jax.random.normal(subkey, flat.shape, flat.dtype), np.float64)
        if unlifted is not None:
            v = unlifted @ (unlifted.T @ v)
        norm = float(np.linalg.norm(v))
        if norm > 0:  # none where the Hessian is positive definite (nothing unlifted)
            directions.append(host_unflat((v / norm).astype(flat.dtype), params))
    return directions


@jax.jit
def _logit_push(loss: Any, predictions: jax.Array, labels: jax.Array) -> jax.Array:
    # N · ∂L/∂z: the per-example gradient of a mean loss on its outputs.
    return predictions.shape[0] * jax.grad(lambda z: loss(z, labels))(predictions)


def saturation_at(
    apply: Any,
    params: Any,
    state: Any,
    x: np.ndarray,
    y: np.ndarray,
    loss: Callable[..., Any],
    thresholds: CauseThresholds,
) -> dict[str, float]:
    """The saturation statistics of a classifier at θ (see :func:`saturation_statistics`).

    The model's outputs z are taken as probabilities when they already are (rows in [0, 1]
    summing to 1, or a single column in [0, 1]: a softmax or sigmoid inside the model), else
    as logits; a single column whose loss pushes it by σ(z) − y (sigmoid cross-entropy) is
    logits whatever its range. The push on the logits is ∂ℓ/∂z for logits, and Jᵀ∂ℓ/∂p
    through the softmax Jacobian J = diag(p) − ppᵀ (σ(1 − σ) for a sigmoid) for
    probabilities; cross-entropy's is p − y either way.
    """
    from jaxtrain.curvature._operators import as_pytree_callable

    outputs, pushes = [], []
    for i in range(0, x.shape[0], _CHUNK):
        z, _ = apply(params, state, x[i : i + _CHUNK], train=False)
        z = jnp.asarray(z, jnp.float32)
        labels = y[i : i + _CHUNK]
        # The loss takes the outputs in the model's shape: (N,) for one logit without an axis.
        fn = as_pytree_callable(loss, (z, labels))
        pushes.append(np.asarray(_logit_push(fn, z, labels), np.float64))
        outputs.append(np.asarray(z, np.float64).reshape(z.shape[0], -1))
    z = np.concatenate(outputs)
    dz = np.concatenate(pushes).reshape(z.shape)
    if z.shape[1] == 1:
        # A loss whose push is σ(z) − y is sigmoid cross-entropy on logits, whatever their
        # range: a net stuck at the prior has logits log(π₁/π₀), all in [0, 1] for π₁ = 0.502.
        takes_logits = np.allclose(dz[:, 0], 1.0 / (1.0 + np.exp(-z[:, 0])) - y, atol=1e-5)
        probabilities = not takes_logits and bool(np.all((z >= 0) & (z <= 1)))
        p = z if probabilities else 1.0 / (1.0 + np.exp(-z))
        push = np.abs(dz[:, 0]) * (p[:, 0] * (1 - p[:, 0]) if probabilities else 1.0)
        reference = np.abs(p[:, 0] - y)
    else:
        rows = np.abs(z.sum(axis=1) - 1.0) < 1e-3
        probabilities = bool(np.all((z >= 0) & (z <= 1)) and np.all(rows))
        if probabilities:
            p = z
            dz = p * dz - p * np.sum(p * dz, axis=1, keepdims=True)
        else:
            shifted = z - z.max(axis=1, keepdims=True)
            p = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
        onehot = np.eye(z.shape[1])[y]
        push = np.linalg.norm(dz, axis=1)
        reference = np.linalg.norm(p - onehot, axis=1)
    ratio = push / np.maximum(reference, 1e-30)
    return saturation_statistics(p, y, ratio, thresholds)


def _first_probe_factor(sharpness_ratio: float, probe_factor: float) -> float:
    """The lower-η probe's first factor on η: ``probe_factor`` (η/10), or lower where the
    measured sharpness says so, but not below ``probe_factor``² (η/100).

    r = λmax/threshold, so η·½/r puts λmax at half the threshold. The floor keeps the
    probe's two tries (this factor, then this × ``probe_factor`` if it diverges too) within
    the decades a learning-rate search tries first, η/10 to η/1000. Without it, a ratio read
    on a run already blowing up (3·10⁹) sent the probe to 1.5·10⁻¹⁰·η, where it cannot move,
    and "did not diverge" then says nothing about η.
    """
    first = probe_factor
    if math.isfinite(sharpness_ratio) and sharpness_ratio > 0:
        first = min(first, 0.5 / sharpness_ratio)
    return max(first, probe_factor**2)


def _probe_gain(run_losses: np.ndarray, probe_losses: np.ndarray, steps: int) -> float:
    """The run's mean step loss over the probe's, over the probe's last tenth of steps."""
    window = max(1, steps // 10)
    a, b = steps - window, steps

    def level(values: np.ndarray) -> float:
        if values.size < b or not np.all(np.isfinite(values[a:b])):
            return math.inf  # diverged before the window ended
        return float(np.mean(values[a:b]))

    run_level, probe_level = level(run_losses), level(probe_losses)
    if math.isinf(run_level) and math.isinf(probe_level):
        return 1.0
    if math.isinf(probe_level):
        return 0.0
    return run_level / max(probe_level, 1e-30)


def _lower_lr_probe(
    run: Run,
    train_pair: tuple[np.ndarray, np.ndarray],
    *,
    loss: Any,
    optimizer: Any,
    batch_size: int | None,
    seed: int,
    steps: int,
    factor: float,
) -> Any:
    """The same run from the same start on the same batches, every update times ``factor``.

    optax's (and jaxtrain's) updates are −η·direction with the direction independent of η
    (momentum and Adam's moments see the gradient, not the update), so chaining a scale of
    ``factor`` is exactly the run at η·``factor``, schedules, momentum and weight decay alike.
    """
    import optax

    # A diverging probe still has its history up to the bad step.
    return fit_run(
        (run.apply, run.params0, run.state0),
        optax.chain(optimizer, optax.scale(factor)),
        train_pair,
        loss=loss,
        steps=steps,
        batch_size=batch_size,
        seed=seed,
        progress=False,
    ).history


def _monitor_statistics(
    per_step: dict[str, Any],
    batch_size: int,
    *,
    preconditioned: bool,
) -> dict[str, float]:
    """The summaries of the monitors' curves the run recorded (sharpness against its
    threshold, gradient noise scale, update ratio); none for a monitor it did not run."""
    numbers: dict[str, float] = {}
    if "sharpness" in per_step:
        numbers.update(
            sharpness_statistics(
                per_step["sharpness"],
                per_step["stability_threshold"],
                per_step.get("learning_rate"),
                preconditioned=preconditioned,
                losses=per_step["loss"],
            )
        )
    if "noise_scale" in per_step:
        numbers.update(noise_statistics(per_step["noise_scale"], batch_size))
    if "update_ratio" in per_step:
        ratios = np.asarray(per_step["update_ratio"], dtype=np.float64)
        ratios = ratios[np.isfinite(ratios)]
        numbers["max_update_ratio"] = float(ratios.max()) if ratios.size else _NAN
    return numbers


def _curvature_at_end(
    run: Run,
    train_pair: tuple[np.ndarray, np.ndarray],
    *,
    loss: Any,
    seed: int,
    thresholds: CauseThresholds,
) -> dict[str, float]:
    """The Hessian's evidence at the final parameters, on a seeded subset of
    ``curvature_examples`` training examples (:func:`_curvature`)."""
    x, y = train_pair
    # seed mod 2⁶⁴: NumPy refuses negative seeds, which fit's jax.random.key takes; the map is
    # one to one, and a non-negative seed is its own image.
    rows = np.random.default_rng(seed % 2**64).permutation(x.shape[0])
    rows = np.sort(rows[: thresholds.curvature_examples])
    loss_fn = full_batch_loss_fn(run.final.apply, run.final.model_state, x[rows], y[rows], loss)
    at_end = evaluate_loss(run.final, (x[rows], y[rows]), loss)
    return _curvature(
        loss_fn, run.final.params, at_end, thresholds=thresholds, key=jax.random.key(seed)
    )


def measure_run(
    run: Run,
    train_pair: tuple[np.ndarray, np.ndarray],
    *,
    loss: Any,
    optimizer: Any,
    batch_size: int | None,
    seed: int,
    task: str,
    baseline: float,
    steps: int,
    thresholds: CauseThresholds,
    curvature: bool = True,
    probe: bool = True,
    preconditioned: bool = False,
) -> tuple[RunEvidence, Any]:
    """Everything :func:`~jaxtrain.diagnose.rank_causes` needs about one finished run.

    Args:
      run: the run (initial triple, final state, history; ``diverged_at`` if it diverged).
      train_pair: the ``(x, y)`` it trained on.
      loss: its loss.
      optimizer: its optimizer (for the lower-η probe).
      batch_size: its batch size (``None``: full batch).
      seed: its seed (the probe uses the same batches).
      task: ``"classification"`` or ``"regression"``.
      baseline: B.
      steps: T, the steps it was asked for.
      thresholds: the :class:`~jaxtrain.diagnose.CauseThresholds`.
      curvature: measure the Hessian at the end when the run failed.
      probe: re-run at a lower η when the learning rate is suspect.
      preconditioned: whether the run's ``sharpness`` monitor (if any) measured the
        preconditioned sharpness (its step 0 is left out: see :func:`sharpness_statistics`).

    Returns:
      ``(evidence, probe_history or None)``.
    """
    x, y = train_pair
    n = int(x.shape[0])
    per_step = run.history.per_step
    losses = np.asarray(per_step["loss"], dtype=np.float64)
    diverged = run.diverged
    numbers: dict[str, Any] = {
        "steps": int(steps),
        "batch_size": int(n if batch_size is None else min(batch_size, n)),
        "num_examples": n,
        "n_params": int(run.n_params),
        "task": task,
        "baseline": float(baseline),
        "diverged": diverged,
        "diverged_at": float(run.diverged_at) if diverged else _NAN,
    }
    numbers.update(loss_curve_statistics(losses, diverged=diverged))
    final_loss = math.inf if diverged else evaluate_loss(run.final, train_pair, loss)
    if not math.isfinite(final_loss):
        final_loss, diverged = math.inf, True
        numbers.update(diverged=True, loss_end=math.inf, loss_rise=math.inf)
    numbers["final_loss"] = final_loss
    numbers["loss_ratio"] = final_loss / baseline
    g0 = training_grad_norm(run.apply, run.state0, run.params0, x, y, loss, seed)
    numbers["grad_norm_start"] = g0
    if not diverged:
        final = run.final
        gT = training_grad_norm(final.apply, final.model_state, final.params, x, y, loss, seed)
        numbers["grad_norm_end"] = gT
        numbers["grad_ratio"] = gT / g0 if g0 > 0 else math.inf
    numbers.update(
        _monitor_statistics(per_step, numbers["batch_size"], preconditioned=preconditioned)
    )
    numbers["feature_spread"] = feature_spread(x)
    if task == "classification" and not diverged:
        numbers.update(
            saturation_at(
                run.final.apply,
                run.final.params,
                run.final.model_state,
                x,
                y,
                loss,
                thresholds,
            )
        )
    evidence = RunEvidence(**numbers)
    # The Hessian is what tells a saddle from a minimum, which only a failed run needs.
    if curvature and not diverged and failed(evidence, thresholds) >= thresholds.report_score:
        evidence = evidence.replace(
            **_curvature_at_end(run, train_pair, loss=loss, seed=seed, thresholds=thresholds)
        )
    probe_history = None
    # The lower-η probe only where every other sign already points at the learning rate.
    suspect = probe and (
        learning_rate_too_high(evidence.replace(probe_gain=math.inf), thresholds).score
        >= thresholds.report_score
    )
    if suspect:
        probe_steps = min(int(steps), max(100, int(steps) // 2))
        if diverged and run.diverged:
            # Up to the step the run diverged at: a shorter re-run compares only the steps
            # before the blow-up, where a lower η is merely slower (a warmup past 2/λmax that
            # diverged at step 263 was compared over steps 135-150 and not blamed on η).
            probe_steps = min(int(steps), max(probe_steps, int(run.diverged_at) + 1))
        first = _first_probe_factor(evidence.sharpness_ratio, thresholds.probe_factor)
        for factor in (first, first * thresholds.probe_factor):
            probe_history = _lower_lr_probe(
                run,
                train_pair,
                loss=loss,
                optimizer=optimizer,
                batch_size=batch_size,
                seed=seed,
                steps=probe_steps,
                factor=factor,
            )
            probe_losses = np.asarray(probe_history.per_step["loss"], dtype=np.float64)
            if probe_losses.size == probe_steps and np.all(np.isfinite(probe_losses)):
                break
        evidence = evidence.replace(
            probe_factor=factor,
            probe_steps=float(probe_steps),
            probe_gain=_probe_gain(losses, probe_losses, probe_steps),
        )
    return evidence, probe_history
