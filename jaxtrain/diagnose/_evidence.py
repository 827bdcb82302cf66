"""The numbers a run's causes are judged on, and the pure statistics that summarize its curves.

:class:`RunEvidence` holds every measured quantity of one training run (NaN where it was not
measured), so the rules of :mod:`jaxtrain.diagnose._causes` are pure functions of it and can be
tested on hand-made numbers. The functions here turn raw curves and arrays (NumPy, no JAX)
into those numbers: :func:`loss_curve_statistics`, :func:`sharpness_statistics`,
:func:`noise_statistics`, :func:`feature_spread` and :func:`saturation_statistics`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from jaxtrain._json import json_float
from jaxtrain.diagnose._thresholds import CauseThresholds

__all__ = [
    "RunEvidence",
    "feature_spread",
    "largest_rise",
    "loss_curve_statistics",
    "noise_statistics",
    "saturation_statistics",
    "sharpness_statistics",
    "smooth_losses",
]

_NAN = float("nan")


@dataclasses.dataclass(frozen=True)
class RunEvidence:
    """Everything measured about one training run that a cause can rest on.

    Losses are in the run's own loss; ratios to the baseline B (the loss of the best constant
    prediction) make them comparable across tasks. NaN means "not measured" (no sharpness
    monitor for an optimizer whose stability threshold is unknown, no curvature at a point
    that did not need it, no saturation for regression, no probe when η was not suspect).

    Attributes:
      steps: T, optimizer steps asked for.
      batch_size: B, examples per step.
      num_examples: N, training examples.
      n_params: trainable parameters.
      task: ``"classification"`` or ``"regression"``.
      baseline: B, the loss of the best constant prediction.
      diverged: whether the loss or gradient became non-finite.
      diverged_at: the step at which it did (NaN if it did not).
      final_loss: L(θ_T), full batch, evaluation mode (inf when diverged).
      loss_ratio: L(θ_T)/B.
      loss_start, loss_end: the smoothed step loss (window T/20) at the start and the end.
      loss_rise: the largest rise of the smoothed loss above its running minimum, relative
        to that minimum (inf when diverged).
      late_drop: how much the smoothed loss fell over the last quarter, relative to its
        level there (NaN for a run too short to have a last quarter: under five points).
      late_share: the last quarter's share of the run's total decrease (NaN likewise).
      tail_fluctuation: the std of the last quarter's step losses around their trend (a
        centred moving mean) over their mean: batch noise, not the fall itself.
      grad_norm_start, grad_norm_end: ‖∇L‖ at θ₀ and θ_T (full batch, training mode: the
        loss the steps saw, dropout by one fixed key).
      grad_ratio: ‖g_T‖/‖g₀‖.
      progress: ρ = ‖g_T‖²/(2·λmax·L(θ_T)), the share of the loss one gradient step of the
        largest stable size 1/λmax removes (first order).
      lambda_max, lambda_min: the extreme Hessian eigenvalues at θ_T (curvature examples).
      eig_tol: |λ| below this is zero curvature
        (:func:`jaxtrain.curvature.eigenvalue_tolerance`, √ε·max(max|λ|, 1)).
      curvature_method: ``"dense"``, ``"lanczos"`` or ``""`` (not measured).
      escape_change: the best measured (L(θ_T + t·u) − L(θ_T) − t·gᵀu)/L(θ_T) over a grid of
        steps t along ±u, u the eigenvector of λmin or a random direction (negative: the loss
        fell beyond its first-order part).
      escape_step: the t of that best change.
      escape_along: ``"eigenvector"`` (of λmin) or ``"random"`` (a random direction, where
        the Hessian is degenerate and the way down is of higher order); ``""`` if untested.
      valley_ratio: κ = λmax·‖g‖²/(gᵀHg), the top curvature over the curvature along the
        gradient at θ_T (NaN if gᵀHg ≤ 0).
      sharpness_ratio: the median over the run's measurements of λmax/threshold: λmax·η/2
        for gradient descent, λmax(P^{-1/2}HP^{-1/2})·η/38 for Adam (whose step-0 value is
        left out), none taken while the loss stood far above its best (a blow-up).
      sharpness_ratio_max: the largest of those.
      lambda_eta_over_2: the median of λmax·η/2 (the edge of stability for plain GD is 1).
      preconditioned: whether the sharpness was measured through the preconditioner.
      threshold_rule: the optimizer's stability threshold, e.g. ``"2/η"`` (``""`` if none).
      max_update_ratio: the largest step ‖Δθ‖/‖θ‖ of the run.
      noise_scale: the median over the run of the gradient noise scale B_simple.
      batch_to_noise: B/B_simple (inf when B_simple = 0: a gradient without noise).
      feature_spread: the largest root-mean-square input feature over the median one.
      wrong_share: the share of training examples predicted wrongly at θ_T.
      saturated_share: the share of the wrong predictions that are saturated (probability >
        0.99) and get less than 1% of cross-entropy's push on their logits.
      push_ratio: the median push ratio ‖∂ℓ/∂z‖/‖p − y‖ of the saturated wrong predictions.
      probe_factor: the lower-η probe's factor on η (NaN when no probe ran).
      probe_steps: the probe's steps.
      probe_gain: the run's step loss over the probe's, averaged over the probe's last tenth
        of steps, on the same batches (> 1: the lower η trains better).

    Examples:
      >>> from jaxtrain.diagnose import RunEvidence
      >>> e = RunEvidence(loss_ratio=0.9, grad_ratio=1e-4)
      >>> e.loss_ratio, e.to_dict()["sharpness_ratio"] is None
      (0.9, True)
    """

    steps: int = 0
    batch_size: int = 0
    num_examples: int = 0
    n_params: int = 0
    task: str = "classification"
    baseline: float = _NAN
    diverged: bool = False
    diverged_at: float = _NAN
    final_loss: float = _NAN
    loss_ratio: float = _NAN
    loss_start: float = _NAN
    loss_end: float = _NAN
    loss_rise: float = _NAN
    late_drop: float = _NAN
    late_share: float = _NAN
    tail_fluctuation: float = _NAN
    grad_norm_start: float = _NAN
    grad_norm_end: float = _NAN
    grad_ratio: float = _NAN
    progress: float = _NAN
    lambda_max: float = _NAN
    lambda_min: float = _NAN
    eig_tol: float = _NAN
    curvature_method: str = ""
    escape_change: float = _NAN
    escape_step: float = _NAN
    escape_along: str = ""
    valley_ratio: float = _NAN
    sharpness_ratio: float = _NAN
    sharpness_ratio_max: float = _NAN
    lambda_eta_over_2: float = _NAN
    preconditioned: bool = False
    threshold_rule: str = ""
    max_update_ratio: float = _NAN
    noise_scale: float = _NAN
    batch_to_noise: float = _NAN
    feature_spread: float = _NAN
    wrong_share: float = _NAN
    saturated_share: float = _NAN
    push_ratio: float = _NAN
    probe_factor: float = _NAN
    probe_steps: float = _NAN
    probe_gain: float = _NAN

    def to_dict(self) -> dict[str, Any]:
        """The evidence as JSON values (NaN becomes ``None``; ±inf stays a string)."""
        out: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            out[field.name] = json_float(value) if isinstance(value, float) else value
        return out

    def replace(self, **changes: Any) -> RunEvidence:
        """A copy with some fields changed (for what-if questions and tests)."""
        return dataclasses.replace(self, **changes)


def smooth_losses(losses: Any) -> np.ndarray:
    """The moving mean over T/20 steps that keeps a loss curve's trend, not its batch noise."""
    values = np.asarray(losses, dtype=np.float64).reshape(-1)
    window = max(1, values.size // 20)
    kernel = np.full(window, 1.0 / window)
    return np.convolve(values, kernel, mode="valid")


def loss_curve_statistics(losses: Any, *, diverged: bool = False) -> dict[str, float]:
    """The shape of a training-loss curve: its level, its rises, and whether it still falls.

    The step losses Lₜ are smoothed by a moving mean over T/20 steps to L̄ₜ (mini-batch noise
    averages out; a real oscillation does not). With q = the index three quarters through
    (the last quarter needs two smoothed points, so five of them; NaN below):

    - ``loss_rise`` = maxₜ (L̄ₜ − min_{s≤t} L̄ₛ)/min_{s≤t} L̄ₛ: how far the loss climbed back
      above its best so far (inf for a diverged run);
    - ``late_drop`` = (L̄_q − L̄_T)/L̄_q: the relative fall over the last quarter (flat: ≈ 0);
    - ``late_share`` = (L̄_q − L̄_T)/(L̄₀ − L̄_T): the last quarter's share of the whole
      decrease (a steady fall: ≈ ¼; converged or stuck: ≈ 0);
    - ``tail_fluctuation``: the batch noise of the last quarter, relative to its level
      (:func:`_tail_fluctuation`).

    Args:
      losses: the training loss of every step; a diverged run's may end with NaN or inf.
      diverged: whether the run ended on a non-finite loss or gradient.

    Returns:
      A dict with ``loss_start``, ``loss_end``, ``loss_rise``, ``late_drop``,
      ``late_share`` and ``tail_fluctuation``.

    Raises:
      ValueError: for an empty curve.

    Examples:
      >>> import numpy as np
      >>> from jaxtrain.diagnose import loss_curve_statistics
      >>> s = loss_curve_statistics(np.linspace(2.0, 1.0, 400))
      >>> round(s["late_share"], 2), s["loss_rise"]
      (0.25, 0.0)
      >>> loss_curve_statistics([2.0, 1.0, float("nan")], diverged=True)["loss_rise"]
      inf
    """
    values = np.asarray(losses, dtype=np.float64).reshape(-1)
    if values.size == 0:
        raise ValueError("`losses` is empty: there is no training curve to summarize.")
    finite = np.isfinite(values)
    bad = np.flatnonzero(~finite)
    diverged = bool(diverged or bad.size)
    good = values[: bad[0]] if bad.size else values
    if good.size == 0:
        return {
            "loss_start": _NAN,
            "loss_end": math.inf,
            "loss_rise": math.inf,
            "late_drop": _NAN,
            "late_share": _NAN,
            "tail_fluctuation": _NAN,
        }
    smooth = smooth_losses(good)
    start, end = float(smooth[0]), float(smooth[-1])
    return {
        "loss_start": start,
        "loss_end": math.inf if diverged else end,
        "loss_rise": math.inf if diverged else largest_rise(smooth),
        **_last_quarter_fall(smooth),
        "tail_fluctuation": _tail_fluctuation(good),
    }


def largest_rise(smooth: np.ndarray) -> float:
    """maxₜ (L̄ₜ − m)/|m| with m = min_{s≤t} L̄ₛ: how far the moving mean climbed above its
    best so far (a climb from a best of 0 reads as 10¹² × or more)."""
    best = np.minimum.accumulate(smooth)
    return float(np.max((smooth - best) / np.maximum(np.abs(best), 1e-12)))


def _last_quarter_fall(smooth: np.ndarray) -> dict[str, float]:
    """``late_drop`` and ``late_share`` over L̄_q … L̄_T, q = ⌊¾·m⌋ of m smoothed points.

    The last quarter must hold two points, its start and its end, or it has no fall to
    measure: q < m − 1, so m ≥ 5. Below that (q is then the last index) both are NaN, not
    measured, rather than 0, which would call a loss halving at every step flat.
    """
    q = int(0.75 * smooth.size)
    if q >= smooth.size - 1:
        return {"late_drop": _NAN, "late_share": _NAN}
    level_q, start, end = float(smooth[q]), float(smooth[0]), float(smooth[-1])
    total = start - end
    return {
        "late_drop": (level_q - end) / max(abs(level_q), 1e-12),
        "late_share": (level_q - end) / total if total > 0 else 0.0,
    }


def _tail_fluctuation(losses: np.ndarray) -> float:
    """The std of the last quarter's step losses around their trend, over their level.

    The trend at step t is the mean of the w steps centred on it (w odd, ≈ T/20, at least
    3: the smoothing of :func:`smooth_losses`, centred so that a straight fall leaves no
    residual). A std of the raw losses would count the fall itself as noise: a noiseless
    2·e^{−t/200} + 0.1 read 11%. For noise of std σ independent between steps (the batches
    are), the residual's std is σ·√(1 − 1/w) (Lₜ is in its own mean), so it is divided by
    that. NaN with fewer than two centred steps in the last quarter (under nine steps).
    """
    window = max(3, 2 * (losses.size // 40) + 1)
    half = window // 2
    first = max(int(0.75 * losses.size), half)
    last = losses.size - half  # the last steps have no centred window
    if last - first < 2:
        return _NAN
    trend = np.convolve(losses, np.full(window, 1.0 / window), mode="valid")
    residual = losses[first:last] - trend[first - half : last - half]
    noise = float(np.std(residual)) / math.sqrt(1.0 - 1.0 / window)
    return noise / max(abs(float(np.mean(losses[first:last]))), 1e-12)


# A loss at this multiple of its best is being thrown out of the landscape: far beyond batch
# noise and the oscillation loss_rise (50%) names, where the sharpness is still the evidence.
_BLOWN_UP = 10.0


def sharpness_statistics(
    sharpness: Any,
    threshold: Any,
    learning_rate: Any | None = None,
    *,
    preconditioned: bool = True,
    losses: Any | None = None,
) -> dict[str, float]:
    """Where the sharpness sat relative to the stability threshold over the run.

    r = λmax/threshold at every measured step (the monitor writes NaN elsewhere); for
    gradient descent r = λmax·η/2, and r ≥ 1 means a step overshoots along the sharpest
    direction. Two kinds of measurement are left out:

    - a preconditioned sharpness's first one (step 0), when there are later ones: an adaptive
      optimizer's preconditioner there comes from a single gradient. Plain gradient descent's
      λmax at θ₀ is as good as any later one, and for a run that blows up at once it is the
      only one taken on parameters that are not blowing up;
    - with ``losses``, those taken while the smoothed loss (the trailing mean over T/20 steps)
      stood at 10× its best so far or more, or after it went non-finite: λmax there is read
      on parameters being thrown out of the landscape the run trained on (a diverging SGD
      run's last one reached 3·10⁹ × the threshold, and a re-run at ½/r·η would not move).
      An oscillating loss (a rise of ``CauseThresholds.loss_rise``, 50%) or a noisy batch's
      loss stays far below that, and its measurements are the evidence of instability.

    Args:
      sharpness: ``history.per_step["sharpness"]``.
      threshold: ``history.per_step["stability_threshold"]``.
      learning_rate: ``history.per_step["learning_rate"]`` for λmax·η/2 (optional).
      preconditioned: whether λmax was measured through an adaptive preconditioner (the
        default, which leaves step 0 out, is the cautious reading).
      losses: ``history.per_step["loss"]`` (optional; ``None`` keeps every measurement).

    Returns:
      ``sharpness_ratio`` (median r), ``sharpness_ratio_max`` and ``lambda_eta_over_2``
      (median λmax·η/2, plain gradient descent's reading: NaN for a preconditioned λmax),
      NaN where nothing was measured.

    Examples:
      >>> import numpy as np
      >>> from jaxtrain.diagnose import sharpness_statistics
      >>> nan = float("nan")
      >>> s = sharpness_statistics([5.0, nan, 30.0, nan, 40.0], [20.0] * 5, [0.1] * 5)
      >>> s["sharpness_ratio"], s["lambda_eta_over_2"]  # step 0 left out
      (1.75, nan)
      >>> plain = sharpness_statistics([5.0, nan, 30.0], [20] * 3, [0.1] * 3, preconditioned=False)
      >>> plain["sharpness_ratio"], plain["lambda_eta_over_2"]  # step 0 counts for plain GD
      (0.875, 0.875)
    """
    lam = np.asarray(sharpness, dtype=np.float64).reshape(-1)
    limit = np.asarray(threshold, dtype=np.float64).reshape(-1)
    usable = np.isfinite(lam) & np.isfinite(limit) & (limit > 0)
    if losses is not None:
        usable &= ~_blowing_up(np.asarray(losses, dtype=np.float64).reshape(-1))
    measured = np.flatnonzero(usable)
    if preconditioned and measured.size > 1 and measured[0] == 0:
        measured = measured[1:]
    if measured.size == 0:
        return {"sharpness_ratio": _NAN, "sharpness_ratio_max": _NAN, "lambda_eta_over_2": _NAN}
    ratio = lam[measured] / limit[measured]
    out = {
        "sharpness_ratio": float(np.median(ratio)),
        "sharpness_ratio_max": float(np.max(ratio)),
        "lambda_eta_over_2": _NAN,
    }
    # λ·η/2 against 1 is plain gradient descent's reading: of a preconditioned λ (Adam's,
    # whose threshold is (2+2β₁)/((1−β₁)η)) it reads 6.5 where the ratio to its own is 0.34.
    if learning_rate is not None and not preconditioned:
        eta = np.asarray(learning_rate, dtype=np.float64).reshape(-1)[measured]
        if np.all(np.isfinite(eta)):
            out["lambda_eta_over_2"] = float(np.median(lam[measured] * eta / 2))
    return out


def _blowing_up(losses: np.ndarray) -> np.ndarray:
    """Per step: the trailing mean of the last T/20 losses stands at ``_BLOWN_UP`` × its
    best so far or more, or is not finite.

    Trailing, not centred: a step's parameters have seen only the losses up to it.
    """
    window = max(1, losses.size // 20)
    total = np.concatenate([[0.0], np.cumsum(losses)])
    steps = np.arange(losses.size)
    counts = np.minimum(steps + 1, window)
    with np.errstate(invalid="ignore"):  # inf − inf once the loss overflowed
        trailing = (total[steps + 1] - total[steps + 1 - counts]) / counts
        finite = np.isfinite(trailing)
        best = np.minimum.accumulate(np.where(finite, trailing, np.inf))
        blown_up = trailing >= _BLOWN_UP * np.abs(best)
    return ~finite | blown_up


def noise_statistics(noise_scale: Any, batch_size: int) -> dict[str, float]:
    """The run's gradient noise scale B_simple and the batch size over it.

    Where the averaged unbiased |G|² estimate is not positive (the true gradient is below the
    noise's resolution), :func:`~jaxtrain.monitor.gradient_noise_scale` records B_simple as
    +inf; its tr(Σ) estimate, from |g_a − g_b|²/4 of the batch's two halves, is never
    negative, so it records no negative B_simple. The +inf steps count as such in the median
    over the run, and B/B_simple is then 0. A median of 0 (a gradient without noise) gives
    B/B_simple = inf.

    Args:
      noise_scale: ``history.per_step["noise_scale"]`` (NaN where not measured). A negative
        value, which only a ratio computed elsewhere can hold, is read as a |G|² estimate
        below zero: +inf, as the monitor records it.
      batch_size: B.

    Returns:
      ``noise_scale`` (median B_simple) and ``batch_to_noise`` (B/B_simple).

    Examples:
      >>> from jaxtrain.diagnose import noise_statistics
      >>> noise_statistics([2.0, 4.0, 3.0, float("inf")], 4096)
      {'noise_scale': 3.5, 'batch_to_noise': 1170.2857142857142}
    """
    values = np.asarray(noise_scale, dtype=np.float64).reshape(-1)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return {"noise_scale": _NAN, "batch_to_noise": _NAN}
    # Dead for the monitor's records (see above); kept for histories made by hand or by
    # another estimator, whose tr(Σ)/|G|² from unbiased estimates goes negative with |G|².
    values = np.where(values < 0, np.inf, values)
    median = float(np.median(values))
    # B_simple = 0 is measured, not missing: the two half-batch gradients agreed exactly (every
    # example pulls the same way), so no batch reduces any noise and every batch is far above
    # the noise scale: B/B_simple → ∞, as B/x does when x → 0.
    ratio = math.inf if median == 0 else float(batch_size) / median
    return {"noise_scale": median, "batch_to_noise": ratio}


def feature_spread(x: Any) -> float:
    """How many times larger the largest input feature is than a typical one.

    Every feature j (an input coordinate; pixels of an image count one each) has a scale
    sⱼ = √(mean of xⱼ²), the root mean square, which is what sets the curvature of the first
    layer along its weights (∝ sⱼ²). The spread is maxⱼ sⱼ / medianⱼ sⱼ over the features
    that are not identically zero. Standardized data have a spread of 1; a feature in
    different units (metres vs millimetres) multiplies it by 1,000.

    Args:
      x: the training inputs, examples on axis 0.

    Returns:
      The spread (NaN for inputs that are all zero).

    Examples:
      >>> import numpy as np
      >>> from jaxtrain.diagnose import feature_spread
      >>> x = np.random.default_rng(0).normal(size=(500, 4))
      >>> round(feature_spread(x), 1) < 1.2, round(feature_spread(x * [1, 1, 1, 1000]), -2)
      (True, 1000.0)
    """
    array = np.asarray(x, dtype=np.float64)
    flat = array.reshape(array.shape[0], -1)
    rms = np.sqrt(np.mean(flat**2, axis=0))
    rms = rms[rms > 0]
    if rms.size == 0:
        return _NAN
    return float(rms.max() / np.median(rms))


def saturation_statistics(
    probabilities: Any,
    labels: Any,
    push_ratio: Any,
    thresholds: CauseThresholds | None = None,
) -> dict[str, float]:
    """How many wrong predictions are saturated and get no push from the loss (§5).

    A prediction is wrong when its most probable class is not the label; saturated when that
    probability exceeds ``saturation_probability`` (0.99). The push ratio rᵢ =
    ‖∂ℓᵢ/∂zᵢ‖/‖pᵢ − yᵢ‖ compares the loss's gradient on the logits zᵢ with cross-entropy's,
    which is pᵢ − yᵢ and never vanishes on a wrong prediction; MSE after a softmax multiplies
    it by the softmax Jacobian, which does (r ≈ 10⁻³ at p = 0.99). A wrong prediction with
    rᵢ < ``push_ratio`` (0.01) is stuck: gradient descent cannot move it.

    Args:
      probabilities: (N, K) class probabilities (K = 1: the probability of class 1).
      labels: (N,) integer labels.
      push_ratio: (N,) the push ratios rᵢ.
      thresholds: supplies ``saturation_probability`` and ``push_ratio``.

    Returns:
      ``wrong_share`` (wrong/N), ``saturated_share`` (stuck/wrong; 0 without wrong
      predictions) and ``push_ratio`` (the median rᵢ of the saturated wrong ones; NaN if
      none).

    Examples:
      >>> import numpy as np
      >>> from jaxtrain.diagnose import saturation_statistics
      >>> p = np.array([[0.995, 0.005], [0.999, 0.001], [0.3, 0.7], [0.2, 0.8]])
      >>> s = saturation_statistics(p, np.array([1, 1, 1, 0]), np.array([1e-3, 1.0, 1.0, 1.0]))
      >>> s["wrong_share"], round(s["saturated_share"], 3)
      (0.75, 0.333)
    """
    thresholds = CauseThresholds() if thresholds is None else thresholds
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels).reshape(-1)
    r = np.asarray(push_ratio, dtype=np.float64).reshape(-1)
    if p.ndim == 1:
        p = p[:, None]
    if p.shape[1] == 1:
        p = np.concatenate([1.0 - p, p], axis=1)
    predicted = np.argmax(p, axis=1)
    wrong = predicted != y
    saturated = np.max(p, axis=1) > thresholds.saturation_probability
    both = wrong & saturated
    stuck = both & (r < thresholds.push_ratio)
    n_wrong = int(wrong.sum())
    return {
        "wrong_share": float(wrong.mean()) if y.size else _NAN,
        "saturated_share": float(stuck.sum() / n_wrong) if n_wrong else 0.0,
        "push_ratio": float(np.median(r[both])) if both.any() else _NAN,
    }
