"""The lecture's causes of a failed training run (§2–§6), as rules on measured evidence.

One vocabulary, :data:`CAUSES`, serves :func:`~jaxtrain.diagnose.explain_run` and
:func:`~jaxtrain.diagnose.diagnose`. Each cause has a rule: a pure function of a
:class:`~jaxtrain.diagnose.RunEvidence` and the :class:`~jaxtrain.diagnose.CauseThresholds`,
which returns a :class:`Cause` with a score in [0, 1], the numbers it rests on, a sentence
with those numbers and a remedy. :func:`rank_causes` evaluates every rule and orders them.
No training happens here, so every rule is testable on hand-made numbers.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from jaxtrain._text import beside, percent
from jaxtrain.diagnose._evidence import RunEvidence
from jaxtrain.diagnose._thresholds import CauseThresholds

__all__ = ["CAUSES", "Cause", "CauseSpec", "rank_causes"]


class CauseSpec(NamedTuple):
    """What a cause means: its lecture section, a title, the rule in words, the remedy.

    Attributes:
      section: the lecture section(s), e.g. ``"§2"``.
      title: a short title.
      rule: the measured conditions, all of which must hold (see
        :class:`~jaxtrain.diagnose.CauseThresholds` for the numbers).
      remedy: what to do, in general; a reported :class:`Cause` carries a sharper one.
    """

    section: str
    title: str
    rule: str
    remedy: str


CAUSES: Mapping[str, CauseSpec] = {
    "saddle_point": CauseSpec(
        "§2",
        "Stuck at a saddle point",
        "the run failed (L/B > failed_loss); the gradient is small (‖g_T‖/‖g₀‖ < "
        "critical_grad_ratio, or one stable step removes less than critical_progress of the "
        "loss); the loss is flat over the last quarter (falls < flat_drop); and a step along "
        "the eigenvector of the lowest Hessian eigenvalue (or, where the Hessian is "
        "degenerate, along a random direction) lowers the loss beyond its first-order part "
        "(measured: −ΔL/L > escape_decrease).",
        "Escape the saddle: momentum (§3) or an adaptive method such as Adam (§4) keeps moving "
        "where plain gradient descent stalls; start from a standard (He/Glorot) initialization "
        "instead of a tiny one; or step along the negative-curvature eigenvector.",
    ),
    "local_minimum": CauseSpec(
        "§2",
        "Stuck at a local minimum",
        "the run failed, the gradient is small and the loss flat (as for a saddle point), but "
        "no step along ± the lowest-curvature eigenvector, nor along a few random directions, "
        "lowers the loss beyond its first-order part; and it is no narrow valley (λmax‖g‖²/gᵀHg "
        "below valley_ratio).",
        "Restart from other seeds or initializations, or change the model (wider, residual "
        "connections) so that a lower minimum exists and is easier to reach.",
    ),
    "ill_conditioned": CauseSpec(
        "§4, §6",
        "A narrow valley: ill-conditioned curvature",
        "the run failed, and the input features' scales spread over orders of magnitude (max "
        "over median root mean square > feature_spread) or the top curvature is far above the "
        "curvature along the gradient (λmax‖g‖²/gᵀHg > valley_ratio).",
        "Standardize the input features (jaxtrain.data.fit_standardizer and standardize) or add "
        "BatchNorm (§6); an adaptive method such as Adam (§4) rescales each direction.",
    ),
    "saturated_loss": CauseSpec(
        "§5",
        "The loss cannot push saturated outputs",
        "the run failed, and at least saturated_share of the wrong predictions are saturated "
        "(probability > saturation_probability) with a gradient on the logits below "
        "push_ratio of cross-entropy's (MSE after a softmax).",
        "Use cross-entropy on the logits (jaxtrain.losses.softmax_cross_entropy) instead of a "
        "squared error on probabilities: its gradient p − y never vanishes on a wrong "
        "prediction.",
    ),
    "learning_rate_too_high": CauseSpec(
        "§4",
        "Learning rate too high for the curvature",
        "the gradient is not small; the run was unstable (it diverged, the median sharpness "
        "reached edge_ratio of the stability threshold, the smoothed loss rose loss_rise above "
        "its best, or a step moved θ by step_ratio·‖θ‖); and the re-run at probe_factor·η "
        "(or lower, as the sharpness demands) trains better (the run's loss over the probe's > "
        "probe_gain). The run need not have "
        "failed outright: an oscillating loss that a lower η beats is the cause too.",
        "Lower the learning rate, or add warmup and decay (§4); clip the gradient norm to stop "
        "single violent steps.",
    ),
    "batch_size": CauseSpec(
        "§3",
        "Batch size far from the gradient noise scale",
        "the batch is far above the measured noise scale B_simple (B/B_simple > "
        "batch_over_noise: compute wasted per step), or so far below it (B/B_simple < "
        "batch_under_noise) that noise dominates while the run failed with a noisy, stable "
        "loss away from a critical point.",
        "Bring the batch near the gradient noise scale: smaller (and more steps) when it is far "
        "above, larger (or a lower, decaying η) when it is far below.",
    ),
    "learning_rate_too_low": CauseSpec(
        "§4",
        "Learning rate too low (or too few steps)",
        "the run failed but its loss was still falling steadily at the end (the last quarter "
        "brought still_falling of the decrease, with no rise), and the sharpness is far below "
        "the stability threshold (median ratio < low_sharpness_ratio, when measured).",
        "Train for more steps, or raise the learning rate as far as the sharpness stays below "
        "the stability threshold (monitor.sharpness measures it).",
    ),
}
"""The causes, in the order that breaks ties between equal scores: root causes first (a saddle,
ill-conditioning or a saturating loss is why no learning rate works), then the learning rate,
the batch, and too few steps."""


@dataclasses.dataclass(frozen=True)
class Cause:
    """One cause of a failed run, scored by the evidence for it.

    Attributes:
      name: a key of :data:`CAUSES` (``"saddle_point"``, ``"learning_rate_too_high"``...).
      section: the lecture section(s) it belongs to.
      score: the degree in [0, 1] to which every condition of its rule holds (the smallest
        condition's degree); reported from ``CauseThresholds.report_score`` (½) on.
      evidence: the measured numbers the rule used, by name (NaN: not measured).
      explanation: one paragraph with those numbers.
      remedy: what to do about it here.

    Examples:
      >>> from jaxtrain.diagnose import Cause
      >>> c = Cause("saddle_point", "§2", 0.9, {"lambda_min": -0.5}, "stuck", "use momentum")
      >>> c.to_dict()["evidence"]
      {'lambda_min': -0.5}
    """

    name: str
    section: str
    score: float
    evidence: dict[str, float]
    explanation: str
    remedy: str

    @property
    def title(self) -> str:
        """The cause's short title (from :data:`CAUSES`)."""
        spec = CAUSES.get(self.name)
        return spec.title if spec is not None else self.name

    def score_text(self, report_score: float) -> str:
        """The score in two decimals, or as many more as place it against ``report_score``
        (0.4996 is not "0.50", the score it missed)."""
        return beside(self.score, report_score, 2, fixed=True)

    def to_dict(self) -> dict[str, Any]:
        """The cause as JSON values (NaN as ``None``, ±inf as ``"inf"``/``"-inf"``)."""
        evidence = {}
        for key, value in self.evidence.items():
            value = float(value)
            if math.isnan(value):
                evidence[key] = None
            elif math.isinf(value):
                evidence[key] = "inf" if value > 0 else "-inf"
            else:
                evidence[key] = value
        return {
            "name": self.name,
            "section": self.section,
            "title": self.title,
            "score": round(float(self.score), 4),
            "evidence": evidence,
            "explanation": self.explanation,
            "remedy": self.remedy,
        }


def _g(value: float, digits: int = 3) -> str:
    value = float(value)
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    return f"{value:.{digits}g}"


def _cause(
    name: str, score: float, evidence: dict[str, float], text: str, remedy: str = ""
) -> Cause:
    spec = CAUSES[name]
    return Cause(
        name,
        spec.section,
        float(min(1.0, max(0.0, score))),
        {k: float(v) for k, v in evidence.items()},
        text,
        remedy or spec.remedy,
    )


# ---- the conditions several rules share ----


def failed(e: RunEvidence, t: CauseThresholds) -> float:
    """The run did not fit: it diverged, or L(θ_T)/B exceeds ``failed_loss``."""
    if e.diverged:
        return 1.0
    return t.soft_ge(e.loss_ratio, t.failed_loss, t.narrow_span)


def critical(e: RunEvidence, t: CauseThresholds) -> float:
    """The gradient at the end is small: relative to its start, or to what a step can do."""
    if e.diverged:
        return 0.0
    return max(
        t.soft_le(e.grad_ratio, t.critical_grad_ratio),
        t.soft_le(e.progress, t.critical_progress),
    )


def _flat(e: RunEvidence, t: CauseThresholds) -> float:
    if e.diverged:
        return 0.0
    return t.soft_le(e.late_drop, t.flat_drop, t.narrow_span)


def _escaped(e: RunEvidence, t: CauseThresholds) -> float:
    return t.soft_ge(-e.escape_change, t.escape_decrease)


def _positive_definite(e: RunEvidence) -> bool:
    """λmin above round-off: a strict minimum, whatever a step as long as ‖θ‖ finds beyond
    it (a deeper basin in reach is no way down from this point)."""
    tol = e.eig_tol if math.isfinite(e.eig_tol) else 0.0
    return e.lambda_min > tol


def unstable(e: RunEvidence, t: CauseThresholds) -> float:
    """Any sign of a step too large for the curvature: divergence, edge, rise, violent step."""
    if e.diverged:
        return 1.0
    return max(
        t.soft_ge(e.sharpness_ratio, t.edge_ratio),
        t.soft_ge(e.loss_rise, t.loss_rise, t.narrow_span),
        t.soft_ge(e.max_update_ratio, t.step_ratio),
    )


# ---- one rule per cause ----


def _curvature_numbers(e: RunEvidence) -> dict[str, float]:
    return {
        "loss_ratio": e.loss_ratio,
        "late_drop": e.late_drop,
        "grad_ratio": e.grad_ratio,
        "progress": e.progress,
        "lambda_min": e.lambda_min,
        "lambda_max": e.lambda_max,
        "escape_change": e.escape_change,
        "escape_step": e.escape_step,
    }


def _stuck_text(e: RunEvidence) -> str:
    change = (
        f"falling only {percent(e.late_drop)}"
        if not e.late_drop < 0
        else f"rising {percent(-e.late_drop)}"
    )
    return (
        f"The loss stayed at {_g(e.loss_ratio)} × the baseline, {change} over the last "
        "quarter of the run; the gradient is small "
        f"(‖g_T‖/‖g₀‖ = {_g(e.grad_ratio, 2)}; one gradient step of the largest stable size "
        f"would remove ρ = {_g(e.progress, 2)} of the loss). The Hessian ({e.curvature_method}) "
        f"has λmin = {_g(e.lambda_min)} and λmax = {_g(e.lambda_max)}"
    )


def saddle_point(e: RunEvidence, t: CauseThresholds) -> Cause:
    """§2: a flat, high loss at a small gradient, and a measured way down (not at a positive
    definite Hessian: that is a strict minimum)."""
    score = min(failed(e, t), critical(e, t), _flat(e, t), _escaped(e, t))
    if _positive_definite(e):
        score = 0.0
    negative = e.lambda_min < -e.eig_tol if math.isfinite(e.eig_tol) else e.lambda_min < 0
    order = "a negative eigenvalue" if negative else "no negative eigenvalue beyond round-off"
    if e.escape_along == "eigenvector":
        where = "its eigenvector"
    elif negative:
        where = "a random direction (which lowered the loss more than the eigenvector did)"
    else:
        where = "a random direction (the Hessian is degenerate; the way down is of higher order)"
    text = (
        f"{_stuck_text(e)}: {order}, and a step of {_g(e.escape_step, 2)} along {where} "
        f"changed the loss by {percent(e.escape_change)} beyond its first-order part "
        "(measured): a saddle point, not a minimum (§2)."
    )
    return _cause("saddle_point", score, _curvature_numbers(e), text)


def local_minimum(e: RunEvidence, t: CauseThresholds) -> Cause:
    """§2: a flat, high loss at a small gradient, and no way down along the lowest curvature."""
    measured = 0.0 if math.isnan(e.escape_change) else 1.0
    # The floor of a narrow valley also has a tiny gradient for the steep walls' step size,
    # but the curvature along it is far smaller: still descending, not a minimum.
    valley = t.soft_ge(e.valley_ratio, t.valley_ratio)
    strict = _positive_definite(e)
    no_way_down = 1.0 if strict else 1.0 - _escaped(e, t)
    score = min(failed(e, t), critical(e, t), _flat(e, t), no_way_down, measured, 1.0 - valley)
    if strict and _escaped(e, t) > 0:
        text = (
            f"{_stuck_text(e)}: the Hessian is positive definite, a local minimum with a high "
            f"loss (§2); a step of {_g(e.escape_step, 2)} (the test steps up to ‖θ‖) changed the "
            f"loss by {percent(e.escape_change)} beyond its first-order part: a deeper basin "
            "lies that far away, not a way down from here."
        )
    else:
        text = (
            f"{_stuck_text(e)}, and no step along ± its lowest eigenvector or a random "
            f"direction lowered the loss beyond its first-order part (best change "
            f"{percent(e.escape_change)}): a local minimum with a high loss (§2)."
        )
    return _cause("local_minimum", score, _curvature_numbers(e), text)


def learning_rate_too_high(e: RunEvidence, t: CauseThresholds) -> Cause:
    """§4: an unstable run away from a critical point, which a lower η trains better."""
    probe = t.soft_ge(e.probe_gain, t.probe_gain, t.narrow_span)
    # No "the run failed" condition: an oscillating run that still ends lowish is held back
    # by η too, and the probe, not the final loss, says whether a lower η does better.
    score = min(1.0 - critical(e, t), unstable(e, t), probe)
    if e.diverged and math.isfinite(e.diverged_at):
        what = f"The loss diverged at step {_g(e.diverged_at, 6)}"
    elif e.diverged:  # no step loss went non-finite; the final full-batch loss did
        what = "The loss at the final parameters is not finite"
    else:
        what = (
            f"The loss ended at {_g(e.loss_ratio)} × the baseline and rose up to "
            f"{percent(e.loss_rise)} above its best while the gradient stayed large "
            f"(‖g_T‖/‖g₀‖ = {_g(e.grad_ratio, 2)})"
        )
    edge = (
        f"; the sharpness sat at a median {_g(e.sharpness_ratio)} × the stability threshold "
        f"({e.threshold_rule}; λmax·η/2 = {_g(e.lambda_eta_over_2)}, max "
        f"{_g(e.sharpness_ratio_max)}×)"
        if math.isfinite(e.sharpness_ratio)
        else ""
    )
    step = (
        f"; the largest step moved θ by {_g(e.max_update_ratio, 2)} × ‖θ‖"
        if math.isfinite(e.max_update_ratio)
        else ""
    )
    if math.isnan(e.probe_gain):
        probe_text = ". No lower-η re-run was made."
    elif math.isinf(e.probe_gain):
        probe_text = (
            f". Re-run at {_g(e.probe_factor, 2)}·η from the same start on the same batches, "
            f"training did not diverge in {_g(e.probe_steps, 6)} steps: η is too large for the "
            "curvature (§4)."
        )
    else:
        rerun = (
            f". Re-run at {_g(e.probe_factor, 2)}·η for {_g(e.probe_steps, 6)} steps on the "
            "same batches"
        )
        if e.probe_gain >= t.probe_gain:
            outcome = (
                f"the loss was {beside(e.probe_gain, t.probe_gain)} × lower: η is too large for "
                "the curvature (§4)."
            )
        elif e.probe_gain > 1:
            outcome = (
                f"the loss was {beside(e.probe_gain, t.probe_gain)} × lower, less than the "
                f"{_g(t.probe_gain, 3)} × that would show η too large."
            )
        elif e.probe_gain == 0:  # the re-run diverged in its window, the run did not
            outcome = "the re-run diverged: a lower η did not train better."
        elif e.diverged and e.probe_gain == 1:  # both diverged
            outcome = "the re-run diverged too."
        elif e.probe_gain == 1:
            outcome = "the loss was the same: a lower η did not train better."
        else:
            outcome = (
                f"the loss was {_g(1 / e.probe_gain, 3)} × higher: a lower η did not train better."
            )
        probe_text = f"{rerun}, {outcome}"
    evidence = {
        "loss_ratio": e.loss_ratio,
        "diverged_at": e.diverged_at,
        "loss_rise": e.loss_rise,
        "grad_ratio": e.grad_ratio,
        "sharpness_ratio": e.sharpness_ratio,
        "lambda_eta_over_2": e.lambda_eta_over_2,
        "max_update_ratio": e.max_update_ratio,
        "probe_gain": e.probe_gain,
    }
    return _cause("learning_rate_too_high", score, evidence, what + edge + step + probe_text)


def ill_conditioned(e: RunEvidence, t: CauseThresholds) -> Cause:
    """§4, §6: features on wildly different scales, or a valley much steeper than long."""
    narrow = max(
        t.soft_ge(e.feature_spread, t.feature_spread), t.soft_ge(e.valley_ratio, t.valley_ratio)
    )
    score = min(failed(e, t), narrow)
    outcome = (
        f"diverged at step {_g(e.diverged_at, 6)}"
        if e.diverged
        else f"ended at {_g(e.loss_ratio)} × the baseline"
    )
    scales = (
        f"The largest input feature is {_g(e.feature_spread)} × the typical one (root mean "
        "square): the first layer's curvature spreads over the square of that"
        if t.soft_ge(e.feature_spread, t.feature_spread) >= t.report_score
        else f"The input features are on one scale (spread {_g(e.feature_spread)})"
    )
    valley = (
        f"at the end the top curvature is {_g(e.valley_ratio)} × the curvature along the gradient"
        if math.isfinite(e.valley_ratio)
        else "the curvature at the end was not measured"
    )
    text = (
        f"The run {outcome}. {scales}; {valley}. A narrow valley: any η small enough for the "
        "steep walls crawls along the floor (§4); normalized inputs and layers make the "
        "surface rounder (§6)."
    )
    evidence = {
        "loss_ratio": e.loss_ratio,
        "feature_spread": e.feature_spread,
        "valley_ratio": e.valley_ratio,
        "lambda_max": e.lambda_max,
    }
    return _cause("ill_conditioned", score, evidence, text)


def saturated_loss(e: RunEvidence, t: CauseThresholds) -> Cause:
    """§5: most wrong predictions saturated, with (nearly) no gradient on their logits."""
    score = min(failed(e, t), t.soft_ge(e.saturated_share, t.saturated_share, t.narrow_span))
    text = (
        f"The loss ended at {_g(e.loss_ratio)} × the baseline with {percent(e.wrong_share)} "
        f"of the training examples wrong; {percent(e.saturated_share)} of those are "
        f"saturated (probability > {t.saturation_probability:g}) and receive a median "
        f"{_g(e.push_ratio, 2)} of cross-entropy's gradient on their logits: the loss cannot "
        "push them (MSE after a softmax, §5)."
    )
    evidence = {
        "loss_ratio": e.loss_ratio,
        "wrong_share": e.wrong_share,
        "saturated_share": e.saturated_share,
        "push_ratio": e.push_ratio,
    }
    return _cause("saturated_loss", score, evidence, text)


def batch_size(e: RunEvidence, t: CauseThresholds) -> Cause:
    """§3: a batch far above the noise scale (wasted compute) or far below it (noise wins)."""
    large = t.soft_ge(e.batch_to_noise, t.batch_over_noise)
    stable = t.soft_le(e.sharpness_ratio, t.edge_ratio) if math.isfinite(e.sharpness_ratio) else 1.0
    small = min(
        failed(e, t),
        t.soft_le(e.batch_to_noise, t.batch_under_noise),
        t.soft_ge(e.tail_fluctuation, t.noisy_loss, t.narrow_span),
        1.0 - critical(e, t),
        stable,
    )
    evidence = {
        "batch_size": float(e.batch_size),
        "noise_scale": e.noise_scale,
        "batch_to_noise": e.batch_to_noise,
        "tail_fluctuation": e.tail_fluctuation,
        "direction": 1.0 if large >= small else -1.0,
    }
    if large >= small:
        text = (
            f"The batch of {e.batch_size} examples is {_g(e.batch_to_noise)} × the gradient "
            f"noise scale B_simple = {_g(e.noise_scale)} measured over the run: too large. "
            "Beyond B_simple a bigger batch barely improves a step, so most of the compute per "
            "step is wasted (§3)."
        )
        remedy = (
            f"Use a smaller batch, near B_simple ≈ {_g(e.noise_scale, 2)}, and more steps: "
            "the same compute then buys many nearly as good steps."
        )
        return _cause("batch_size", large, evidence, text, remedy)
    text = (
        f"The batch of {e.batch_size} examples is only {_g(e.batch_to_noise, 2)} × the gradient "
        f"noise scale B_simple = {_g(e.noise_scale)}: too small. The gradient's noise dominates "
        f"its signal; the loss ended at {_g(e.loss_ratio)} × the baseline, fluctuating by "
        f"{percent(e.tail_fluctuation)} (§3)."
    )
    remedy = "Use a larger batch, or a lower (decaying) learning rate, so the noise averages out."
    return _cause("batch_size", small, evidence, text, remedy)


def learning_rate_too_low(e: RunEvidence, t: CauseThresholds) -> Cause:
    """§4: still falling steadily at the end, far below the stability threshold."""
    conditions = [
        failed(e, t),
        0.0 if e.diverged else t.soft_ge(e.late_share, t.still_falling, t.narrow_span),
        t.soft_le(e.loss_rise, t.loss_rise, t.narrow_span),
    ]
    if math.isfinite(e.sharpness_ratio):
        conditions.append(t.soft_le(e.sharpness_ratio, t.low_sharpness_ratio))
    sharpness = (
        f", and the sharpness sat at a median {_g(e.sharpness_ratio)} × the stability "
        "threshold: steps several times larger would still be stable (§4)"
        if math.isfinite(e.sharpness_ratio)
        else " (the sharpness was not measured): more steps, or a larger η, would go on (§4)"
    )
    text = (
        f"The loss was still falling when the run ended ({percent(e.late_share)} of its "
        f"decrease came in the last quarter) at {_g(e.loss_ratio)} × the baseline"
        f"{sharpness}."
    )
    evidence = {
        "loss_ratio": e.loss_ratio,
        "late_share": e.late_share,
        "sharpness_ratio": e.sharpness_ratio,
        "lambda_eta_over_2": e.lambda_eta_over_2,
    }
    return _cause("learning_rate_too_low", min(conditions), evidence, text)


RULES: Mapping[str, Callable[[RunEvidence, CauseThresholds], Cause]] = {
    "saddle_point": saddle_point,
    "local_minimum": local_minimum,
    "ill_conditioned": ill_conditioned,
    "saturated_loss": saturated_loss,
    "learning_rate_too_high": learning_rate_too_high,
    "batch_size": batch_size,
    "learning_rate_too_low": learning_rate_too_low,
}


def rank_causes(
    evidence: RunEvidence, thresholds: CauseThresholds | None = None
) -> tuple[Cause, ...]:
    """Every cause of :data:`CAUSES`, scored on the evidence and ranked.

    Each rule returns the degree to which all of its conditions hold (see
    :class:`~jaxtrain.diagnose.CauseThresholds`). Order: reported causes (score ≥
    ``report_score``) first; among them, when the run failed, the causes of failure before a
    batch far above the noise scale (which wastes compute but does not stop training); then
    by score, ties broken by the order of :data:`CAUSES` (root causes first: an
    ill-conditioned problem is why no η works).

    Args:
      evidence: the run's :class:`~jaxtrain.diagnose.RunEvidence`.
      thresholds: the :class:`~jaxtrain.diagnose.CauseThresholds` (default ones).

    Returns:
      A :class:`Cause` per name of :data:`CAUSES`, best first.

    Examples:
      >>> from jaxtrain.diagnose import RunEvidence, rank_causes
      >>> e = RunEvidence(loss_ratio=1.0, late_drop=0.0, grad_ratio=1e-5, lambda_min=-2.0,
      ...                 lambda_max=2.0, eig_tol=1e-3, escape_change=-0.1, escape_step=0.3)
      >>> top = rank_causes(e)[0]
      >>> top.name, top.section, top.score
      ('saddle_point', '§2', 1.0)
      >>> rank_causes(RunEvidence(loss_ratio=0.01))[0].score
      0.0
    """
    thresholds = CauseThresholds() if thresholds is None else thresholds
    order = {name: i for i, name in enumerate(CAUSES)}
    causes = [rule(evidence, thresholds) for rule in RULES.values()]
    run_failed = failed(evidence, thresholds) >= thresholds.report_score

    def key(cause: Cause) -> tuple[Any, ...]:
        reported = cause.score >= thresholds.report_score
        cost_only = cause.name == "batch_size" and cause.evidence.get("direction", 0.0) > 0
        return (
            not reported,
            reported and run_failed and cost_only,
            -cause.score,
            order[cause.name],
        )

    return tuple(sorted(causes, key=key))
