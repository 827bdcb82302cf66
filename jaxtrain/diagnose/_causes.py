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
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from jaxtrain._json import json_float
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
        "loss); the loss is flat over the last quarter (falls or rises < flat_drop); and a "
        "step along "
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
        """The cause as JSON values (NaN as ``None``, ±inf as ``"Infinity"``/``"-Infinity"``)."""
        evidence = {key: json_float(value) for key, value in self.evidence.items()}
        return {
            "name": self.name,
            "section": self.section,
            "title": self.title,
            "score": json_float(self.score),  # exact: 0.49996 rounded read as 0.5, reported
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
    # A rise is no plateau either: flat is a small change in either direction.
    return t.soft_le(abs(e.late_drop), t.flat_drop, t.narrow_span)


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


# ---- what a rule says when it does not apply ----


class Condition(NamedTuple):
    """One condition of a rule: its degree in [0, 1], and what it needs with the numbers
    measured for it (shown when the cause is not reported and this condition fell short)."""

    degree: float
    needs: str


def _short_of(conditions: Sequence[Condition], t: CauseThresholds) -> str:
    """The conditions below ``report_score``, each with its numbers and its degree."""
    return "; ".join(
        f"{c.needs}, degree {beside(c.degree, t.report_score, 2)}"
        for c in conditions
        if c.degree < t.report_score
    )


def _unreported(facts: str, score: float, needs: str, t: CauseThresholds) -> str:
    """The text of a cause below the report score: what was measured, then what the rule
    needs and did not get. It concludes nothing: a score of 0 is no finding of the cause."""
    bar = t.report_score
    shown = beside(score, bar, 2, fixed=True)
    return f"{facts} Not reported (score {shown} < {bar:g}): the rule needs {needs}."


def _text(
    facts: str, conclusion: str, conditions: Sequence[Condition], t: CauseThresholds
) -> tuple[float, str]:
    """``(score, text)``: the smallest degree, and ``conclusion`` (the cause in words, with
    its numbers) where that reaches the report score, else the measured ``facts`` and the
    conditions that fell short."""
    score = min(c.degree for c in conditions)
    if score >= t.report_score:
        return score, conclusion
    return score, _unreported(facts, score, _short_of(conditions, t), t)


def _failed_condition(e: RunEvidence, t: CauseThresholds) -> Condition:
    measured = f"L/B = {beside(e.loss_ratio, t.failed_loss)} against failed_loss {t.failed_loss:g}"
    return Condition(failed(e, t), f"a failed run ({measured})")


def _gradient_numbers(e: RunEvidence, t: CauseThresholds) -> str:
    if e.diverged:
        return "the run diverged: no gradient at a critical point"
    return (
        f"‖g_T‖/‖g₀‖ = {beside(e.grad_ratio, t.critical_grad_ratio, 2)} against "
        f"critical_grad_ratio {t.critical_grad_ratio:g}, ρ = "
        f"{beside(e.progress, t.critical_progress, 2)} against critical_progress "
        f"{t.critical_progress:g}"
    )


def _critical_condition(e: RunEvidence, t: CauseThresholds) -> Condition:
    return Condition(critical(e, t), f"a small gradient ({_gradient_numbers(e, t)})")


def _large_gradient_condition(e: RunEvidence, t: CauseThresholds) -> Condition:
    return Condition(
        1.0 - critical(e, t), f"a gradient that is not small ({_gradient_numbers(e, t)})"
    )


def _flat_condition(e: RunEvidence, t: CauseThresholds) -> Condition:
    measured = (
        "the run diverged"
        if e.diverged
        else f"{_late_change(e, t.flat_drop)} against flat_drop {t.flat_drop:g}"
    )
    return Condition(_flat(e, t), f"a flat loss over the last quarter ({measured})")


def _escape_condition(e: RunEvidence, t: CauseThresholds, *, way_down: bool) -> Condition:
    """A measured way down (``way_down``), or none (for a minimum)."""
    if math.isnan(e.escape_change):
        measured = "no escape test was run"
    else:
        measured = (
            f"the best step changed the loss by {percent(e.escape_change, -t.escape_decrease)} "
            "beyond its "
            f"first-order part, against a fall of escape_decrease {t.escape_decrease:g}"
        )
    degree = _escaped(e, t)
    if way_down:
        return Condition(degree, f"a measured way down ({measured})")
    return Condition(1.0 - degree, f"no way down ({measured})")


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


def _late_change(e: RunEvidence, flat_drop: float) -> str:
    """The loss's change over the last quarter in words, printed beside ``flat_drop``."""
    if math.isnan(e.late_drop):
        return "its change over the last quarter was not measured"
    if e.late_drop < 0:
        return f"rising {percent(-e.late_drop, flat_drop)}"
    # "Only" is the flat rule's word: a fall of flat_drop or more is no small one.
    only = "only " if e.late_drop < flat_drop else ""
    return f"falling {only}{percent(e.late_drop, flat_drop)}"


def _stuck_text(e: RunEvidence, t: CauseThresholds) -> str:
    return (
        f"The loss stayed at {_g(e.loss_ratio)} × the baseline, "
        f"{_late_change(e, t.flat_drop)} over the last quarter of the run; the gradient is small "
        f"(‖g_T‖/‖g₀‖ = {_g(e.grad_ratio, 2)}; one gradient step of the largest stable size "
        f"would remove ρ = {_g(e.progress, 2)} of the loss). The Hessian ({e.curvature_method}) "
        f"has λmin = {_g(e.lambda_min)} and λmax = {_g(e.lambda_max)}"
    )


def _stuck_facts(e: RunEvidence, t: CauseThresholds) -> str:
    """What the stuck rules measured, in words that assert none of their conditions."""
    hessian = (
        f"the Hessian ({e.curvature_method}) has λmin = {_g(e.lambda_min)} and λmax = "
        f"{_g(e.lambda_max)}"
        if math.isfinite(e.lambda_min)
        else "the Hessian at the end was not measured"
    )
    escape = (
        f"; a step of {_g(e.escape_step, 2)} changed the loss by at best "
        f"{percent(e.escape_change)} beyond its first-order part"
        if math.isfinite(e.escape_change)
        else ""
    )
    return (
        f"The loss ended at {_g(e.loss_ratio)} × the baseline, "
        f"{_late_change(e, t.flat_drop)} over the last quarter; ‖g_T‖/‖g₀‖ = "
        f"{_g(e.grad_ratio, 2)}, ρ = {_g(e.progress, 2)}; {hessian}"
        f"{escape}."
    )


def saddle_point(e: RunEvidence, t: CauseThresholds) -> Cause:
    """§2: a flat, high loss at a small gradient, and a measured way down (not at a positive
    definite Hessian: that is a strict minimum)."""
    tol = e.eig_tol if math.isfinite(e.eig_tol) else 0.0
    conditions = [
        _failed_condition(e, t),
        _critical_condition(e, t),
        _flat_condition(e, t),
        _escape_condition(e, t, way_down=True),
        Condition(
            0.0 if _positive_definite(e) else 1.0,
            f"a Hessian that is not positive definite (λmin = {_g(e.lambda_min)}, round-off "
            f"{_g(tol)})",
        ),
    ]
    negative = e.lambda_min < -e.eig_tol if math.isfinite(e.eig_tol) else e.lambda_min < 0
    order = "a negative eigenvalue" if negative else "no negative eigenvalue beyond round-off"
    if e.escape_along == "eigenvector":
        where = "its eigenvector"
    elif negative:
        where = "a random direction (which lowered the loss more than the eigenvector did)"
    else:
        where = "a random direction (the Hessian is degenerate; the way down is of higher order)"
    conclusion = (
        f"{_stuck_text(e, t)}: {order}, and a step of {_g(e.escape_step, 2)} along {where} "
        f"changed the loss by {percent(e.escape_change)} beyond its first-order part "
        "(measured): a saddle point, not a minimum (§2)."
    )
    score, text = _text(_stuck_facts(e, t), conclusion, conditions, t)
    return _cause("saddle_point", score, _curvature_numbers(e), text)


def local_minimum(e: RunEvidence, t: CauseThresholds) -> Cause:
    """§2: a flat, high loss at a small gradient, and no way down along the lowest curvature."""
    # The floor of a narrow valley also has a tiny gradient for the steep walls' step size,
    # but the curvature along it is far smaller: still descending, not a minimum.
    valley = t.soft_ge(e.valley_ratio, t.valley_ratio)
    strict = _positive_definite(e)
    # A positive definite Hessian is a strict minimum whatever a long step finds beyond it.
    way_out = Condition(1.0, "") if strict else _escape_condition(e, t, way_down=False)
    conditions = [
        _failed_condition(e, t),
        _critical_condition(e, t),
        _flat_condition(e, t),
        way_out,
        Condition(0.0 if math.isnan(e.escape_change) else 1.0, "an escape test (none was run)"),
        Condition(
            1.0 - valley,
            f"no narrow valley (λmax‖g‖²/gᵀHg = {beside(e.valley_ratio, t.valley_ratio)} against "
            "valley_ratio "
            f"{t.valley_ratio:g})",
        ),
    ]
    if strict and _escaped(e, t) > 0:
        conclusion = (
            f"{_stuck_text(e, t)}: the Hessian is positive definite, a local minimum with a high "
            f"loss (§2); a step of {_g(e.escape_step, 2)} (the test steps up to ‖θ‖) changed the "
            f"loss by {percent(e.escape_change)} beyond its first-order part: a deeper basin "
            "lies that far away, not a way down from here."
        )
    else:
        conclusion = (
            f"{_stuck_text(e, t)}, and no step along ± its lowest eigenvector or a random "
            f"direction lowered the loss beyond its first-order part (best change "
            f"{percent(e.escape_change)}): a local minimum with a high loss (§2)."
        )
    score, text = _text(_stuck_facts(e, t), conclusion, conditions, t)
    return _cause("local_minimum", score, _curvature_numbers(e), text)


def _plain_edge(e: RunEvidence) -> float:
    """λmax·η/2 where it means the edge of stability at 1, else NaN (not meaningful).

    λmax·η/2 is λmax over the threshold only for plain gradient descent (2/η on the plain
    sharpness); beside another rule (momentum's (2+2β)/η, Adam's preconditioned 38/η) it
    would read as past the edge at a fraction of the real threshold. The sentence and the
    evidence both take it from here, so the table and the JSON never show what the text
    leaves out.
    """
    if e.threshold_rule == "2/η" and not e.preconditioned:
        return e.lambda_eta_over_2
    return math.nan


def _run_outcome(e: RunEvidence, *, gradient_large: bool) -> str:
    """How the run ended: diverged, or its final loss and rise (the gradient called large
    only where the rule found it so)."""
    if e.diverged and math.isfinite(e.diverged_at):
        return f"The loss diverged at step {_g(e.diverged_at, 6)}"
    if e.diverged:  # no step loss went non-finite; the final full-batch loss did
        return "The loss at the final parameters is not finite"
    gradient = "while the gradient stayed large " if gradient_large else ""
    return (
        f"The loss ended at {_g(e.loss_ratio)} × the baseline and rose up to "
        f"{percent(e.loss_rise)} above its best {gradient}"
        f"(‖g_T‖/‖g₀‖ = {_g(e.grad_ratio, 2)})"
    )


def _probe_text(e: RunEvidence, t: CauseThresholds, *, conclude: bool) -> str:
    """What the lower-η re-run found; "η is too large" only where ``conclude`` says the rule
    holds."""
    verdict = ": η is too large for the curvature (§4)." if conclude else "."
    if math.isnan(e.probe_gain):
        return ". No lower-η re-run was made."
    if math.isinf(e.probe_gain):
        return (
            f". Re-run at {_g(e.probe_factor, 2)}·η from the same start on the same batches, "
            f"training did not diverge in {_g(e.probe_steps, 6)} steps{verdict}"
        )
    rerun = (
        f". Re-run at {_g(e.probe_factor, 2)}·η for {_g(e.probe_steps, 6)} steps on the "
        "same batches"
    )
    if e.probe_gain >= t.probe_gain:
        outcome = (
            f"the loss over their last tenth was {beside(e.probe_gain, t.probe_gain)} × "
            f"lower{verdict}"
        )
    elif e.probe_gain > 1:
        outcome = (
            f"the loss over their last tenth was {beside(e.probe_gain, t.probe_gain)} × lower, "
            f"less than the {_g(t.probe_gain, 3)} × that would show η too large."
        )
    elif e.probe_gain == 0:  # the re-run diverged in its window, the run did not
        outcome = "the re-run diverged: a lower η did not train better."
    elif e.diverged and e.probe_gain == 1:  # both diverged
        outcome = "the re-run diverged too."
    elif e.probe_gain == 1:
        outcome = "the loss over their last tenth was the same: a lower η did not train better."
    else:
        outcome = (
            f"the loss over their last tenth was {_g(1 / e.probe_gain, 3)} × higher: a lower η "
            "did not train better."
        )
    return f"{rerun}, {outcome}"


def learning_rate_too_high(e: RunEvidence, t: CauseThresholds) -> Cause:
    """§4: an unstable run away from a critical point, which a lower η trains better."""
    # No "the run failed" condition: an oscillating run that still ends lowish is held back
    # by η too, and the probe, not the final loss, says whether a lower η does better.
    probe = (
        "a lower-η re-run (none was made)"
        if math.isnan(e.probe_gain)
        else f"a lower-η re-run that trains better (gain {_g(e.probe_gain)} against probe_gain "
        f"{t.probe_gain:g})"
    )
    conditions = [
        _large_gradient_condition(e, t),
        Condition(
            unstable(e, t),
            f"a sign of instability (a divergence, a median sharpness of "
            f"{beside(e.sharpness_ratio, t.edge_ratio)} × the threshold against edge_ratio "
            f"{t.edge_ratio:g}, a rise of {percent(e.loss_rise, t.loss_rise)} against loss_rise "
            f"{t.loss_rise:g}, or a step of {beside(e.max_update_ratio, t.step_ratio, 2)} × ‖θ‖ "
            f"against step_ratio {t.step_ratio:g})",
        ),
        Condition(t.soft_ge(e.probe_gain, t.probe_gain, t.narrow_span), probe),
    ]
    lambda_eta = _plain_edge(e)
    plain_edge = f"; λmax·η/2 = {_g(lambda_eta)}" if math.isfinite(lambda_eta) else ""
    edge = (
        f"; the sharpness sat at a median {_g(e.sharpness_ratio)} × the stability threshold "
        f"({e.threshold_rule}{plain_edge}, max {_g(e.sharpness_ratio_max)}×)"
        if math.isfinite(e.sharpness_ratio)
        else ""
    )
    step = (
        f"; the largest step moved θ by {_g(e.max_update_ratio, 2)} × ‖θ‖"
        if math.isfinite(e.max_update_ratio)
        else ""
    )
    facts = _run_outcome(e, gradient_large=False) + edge + step + _probe_text(e, t, conclude=False)
    conclusion = (
        _run_outcome(e, gradient_large=True) + edge + step + _probe_text(e, t, conclude=True)
    )
    score, text = _text(facts, conclusion, conditions, t)
    evidence = {
        "loss_ratio": e.loss_ratio,
        "diverged_at": e.diverged_at,
        "loss_rise": e.loss_rise,
        "grad_ratio": e.grad_ratio,
        "sharpness_ratio": e.sharpness_ratio,
        "lambda_eta_over_2": lambda_eta,
        "max_update_ratio": e.max_update_ratio,
        "probe_gain": e.probe_gain,
    }
    return _cause("learning_rate_too_high", score, evidence, text)


def ill_conditioned(e: RunEvidence, t: CauseThresholds) -> Cause:
    """§4, §6: features on wildly different scales, or a valley much steeper than long."""
    spread = t.soft_ge(e.feature_spread, t.feature_spread)
    narrow = max(spread, t.soft_ge(e.valley_ratio, t.valley_ratio))
    conditions = [
        _failed_condition(e, t),
        Condition(
            narrow,
            f"features on far different scales (spread "
            f"{beside(e.feature_spread, t.feature_spread)} against feature_spread "
            f"{t.feature_spread:g}) or a narrow valley (λmax‖g‖²/gᵀHg = "
            f"{beside(e.valley_ratio, t.valley_ratio)} against valley_ratio {t.valley_ratio:g})",
        ),
    ]
    outcome = (
        f"diverged at step {_g(e.diverged_at, 6)}"
        if e.diverged
        else f"ended at {_g(e.loss_ratio)} × the baseline"
    )
    if math.isnan(e.feature_spread):
        scales = "The input features' scales were not measured"
    elif spread >= t.report_score:
        scales = (
            f"The largest input feature is {_g(e.feature_spread)} × the typical one (root mean "
            "square): the first layer's curvature spreads over the square of that"
        )
    else:
        scales = f"The input features are on one scale (spread {_g(e.feature_spread)})"
    valley = (
        f"at the end the top curvature is {_g(e.valley_ratio)} × the curvature along the gradient"
        if math.isfinite(e.valley_ratio)
        else "the curvature at the end was not measured"
    )
    facts = f"The run {outcome}. {scales}; {valley}."
    conclusion = (
        f"{facts} A narrow valley: any η small enough for the steep walls crawls along the "
        "floor (§4); normalized inputs and layers make the surface rounder (§6)."
    )
    score, text = _text(facts, conclusion, conditions, t)
    evidence = {
        "loss_ratio": e.loss_ratio,
        "feature_spread": e.feature_spread,
        "valley_ratio": e.valley_ratio,
        "lambda_max": e.lambda_max,
    }
    return _cause("ill_conditioned", score, evidence, text)


def saturated_loss(e: RunEvidence, t: CauseThresholds) -> Cause:
    """§5: most wrong predictions saturated, with (nearly) no gradient on their logits."""
    measured = (
        "not measured: a regression, or no wrong prediction"
        if math.isnan(e.saturated_share)
        else f"{percent(e.saturated_share, t.saturated_share)} of the wrong ones against "
        "saturated_share "
        f"{t.saturated_share:g}"
    )
    conditions = [
        _failed_condition(e, t),
        Condition(
            t.soft_ge(e.saturated_share, t.saturated_share, t.narrow_span),
            f"saturated wrong predictions ({measured})",
        ),
    ]
    facts = (
        f"The loss ended at {_g(e.loss_ratio)} × the baseline with {percent(e.wrong_share)} "
        f"of the training examples wrong; {percent(e.saturated_share)} of those are "
        f"saturated (probability > {t.saturation_probability:g}) and receive a median "
        f"{_g(e.push_ratio, 2)} of cross-entropy's gradient on their logits"
    )
    if math.isnan(e.saturated_share):
        facts = f"The loss ended at {_g(e.loss_ratio)} × the baseline; saturation was not measured"
    conclusion = f"{facts}: the loss cannot push them (MSE after a softmax, §5)."
    score, text = _text(facts + ".", conclusion, conditions, t)
    evidence = {
        "loss_ratio": e.loss_ratio,
        "wrong_share": e.wrong_share,
        "saturated_share": e.saturated_share,
        "push_ratio": e.push_ratio,
    }
    return _cause("saturated_loss", score, evidence, text)


def batch_size(e: RunEvidence, t: CauseThresholds) -> Cause:
    """§3: a batch far above the noise scale (wasted compute) or far below it (noise wins)."""
    large = Condition(
        t.soft_ge(e.batch_to_noise, t.batch_over_noise),
        f"a batch far above the noise scale (B/B_simple = "
        f"{beside(e.batch_to_noise, t.batch_over_noise, 2)} against batch_over_noise "
        f"{t.batch_over_noise:g})",
    )
    stable = t.soft_le(e.sharpness_ratio, t.edge_ratio) if math.isfinite(e.sharpness_ratio) else 1.0
    small = [
        _failed_condition(e, t),
        Condition(
            t.soft_le(e.batch_to_noise, t.batch_under_noise),
            f"a batch far below it (B/B_simple = "
            f"{beside(e.batch_to_noise, t.batch_under_noise, 2)} against batch_under_noise "
            f"{t.batch_under_noise:g})",
        ),
        Condition(
            t.soft_ge(e.tail_fluctuation, t.noisy_loss, t.narrow_span),
            "a noisy loss (its fluctuation was not measured: too few steps)"
            if math.isnan(e.tail_fluctuation)
            else f"a noisy loss (fluctuation {percent(e.tail_fluctuation, t.noisy_loss)} "
            f"against noisy_loss {t.noisy_loss:g})",
        ),
        _large_gradient_condition(e, t),
        Condition(
            stable,
            f"a stable run (median sharpness {_g(e.sharpness_ratio)} × the threshold; "
            f"edge_ratio {t.edge_ratio:g})",
        ),
    ]
    small_score = min(c.degree for c in small)
    evidence = {
        "batch_size": float(e.batch_size),
        "noise_scale": e.noise_scale,
        "batch_to_noise": e.batch_to_noise,
        "tail_fluctuation": e.tail_fluctuation,
        "direction": 1.0 if large.degree >= small_score else -1.0,
    }
    score = max(large.degree, small_score)
    if score < t.report_score:
        facts = (
            f"The batch of {e.batch_size} examples is {_g(e.batch_to_noise, 2)} × the gradient "
            f"noise scale B_simple = {_g(e.noise_scale)}; the loss fluctuated by "
            f"{percent(e.tail_fluctuation)} over the last quarter."
            if math.isfinite(e.noise_scale)
            else f"The gradient noise scale was not measured (batch of {e.batch_size})."
        )
        needs = f"either {_short_of([large], t)}, or {_short_of(small, t)}"
        return _cause("batch_size", score, evidence, _unreported(facts, score, needs, t))
    if large.degree >= small_score:
        text = (
            f"The batch of {e.batch_size} examples is {_g(e.batch_to_noise)} × the gradient "
            f"noise scale B_simple = {_g(e.noise_scale)} measured over the run: too large. "
            "Beyond B_simple a bigger batch barely improves a step, so most of the compute per "
            "step is wasted (§3)."
        )
        remedy = (
            f"Use a smaller batch, near B_simple ≈ {_g(e.noise_scale, 2)}, and more steps: "
            "the same compute then buys many nearly as good steps."
            if e.noise_scale >= 1
            else f"Use the smallest batch that keeps the device busy, and more steps: B_simple "
            f"≈ {_g(e.noise_scale, 2)} < 1, so one example's gradient is already nearly the "
            "whole batch's."
        )
        return _cause("batch_size", large.degree, evidence, text, remedy)
    text = (
        f"The batch of {e.batch_size} examples is only {_g(e.batch_to_noise, 2)} × the gradient "
        f"noise scale B_simple = {_g(e.noise_scale)}: too small. The gradient's noise dominates "
        f"its signal; the loss ended at {_g(e.loss_ratio)} × the baseline, fluctuating by "
        f"{percent(e.tail_fluctuation)} (§3)."
    )
    remedy = "Use a larger batch, or a lower (decaying) learning rate, so the noise averages out."
    return _cause("batch_size", small_score, evidence, text, remedy)


def learning_rate_too_low(e: RunEvidence, t: CauseThresholds) -> Cause:
    """§4: still falling steadily at the end, far below the stability threshold."""
    if e.diverged:
        falling = "the run diverged"
    elif math.isnan(e.late_share):
        falling = "not measured: the run is too short for a last quarter of two steps"
    else:
        falling = (
            f"{percent(e.late_share, t.still_falling)} of the decrease in the last quarter "
            f"against still_falling {t.still_falling:g}"
        )
    conditions = [
        _failed_condition(e, t),
        Condition(
            0.0 if e.diverged else t.soft_ge(e.late_share, t.still_falling, t.narrow_span),
            f"a loss still falling at the end ({falling})",
        ),
        Condition(
            t.soft_le(e.loss_rise, t.loss_rise, t.narrow_span),
            f"no rise (it rose {percent(e.loss_rise, t.loss_rise)} above its best against "
            f"loss_rise {t.loss_rise:g})",
        ),
    ]
    if math.isfinite(e.sharpness_ratio):
        conditions.append(
            Condition(
                t.soft_le(e.sharpness_ratio, t.low_sharpness_ratio),
                f"a sharpness far below the threshold (median "
                f"{beside(e.sharpness_ratio, t.low_sharpness_ratio)} × it against "
                f"low_sharpness_ratio {t.low_sharpness_ratio:g})",
            )
        )
    sharpness = (
        f", and the sharpness sat at a median {_g(e.sharpness_ratio)} × the stability "
        "threshold: steps several times larger would still be stable (§4)"
        if math.isfinite(e.sharpness_ratio)
        else " (the sharpness was not measured): more steps, or a larger η, would go on (§4)"
    )
    conclusion = (
        f"The loss was still falling when the run ended ({percent(e.late_share)} of its "
        f"decrease came in the last quarter) at {_g(e.loss_ratio)} × the baseline"
        f"{sharpness}."
    )
    measured_sharpness = (
        f"; the sharpness sat at a median {_g(e.sharpness_ratio)} × the stability threshold"
        if math.isfinite(e.sharpness_ratio)
        else "; the sharpness was not measured"
    )
    share = (
        "The run is too short to tell what share of the loss's decrease came in its last "
        "quarter; it"
        if math.isnan(e.late_share)
        else f"{percent(e.late_share, t.still_falling)} of the loss's decrease came in the last "
        "quarter of the run, which"
    )
    facts = f"{share} ended at {_g(e.loss_ratio)} × the baseline{measured_sharpness}."
    score, text = _text(facts, conclusion, conditions, t)
    evidence = {
        "loss_ratio": e.loss_ratio,
        "late_share": e.late_share,
        "sharpness_ratio": e.sharpness_ratio,
        "lambda_eta_over_2": _plain_edge(e),
    }
    return _cause("learning_rate_too_low", score, evidence, text)


RULES: Mapping[str, Callable[[RunEvidence, CauseThresholds], Cause]] = {
    "saddle_point": saddle_point,
    "local_minimum": local_minimum,
    "ill_conditioned": ill_conditioned,
    "saturated_loss": saturated_loss,
    "learning_rate_too_high": learning_rate_too_high,
    "batch_size": batch_size,
    "learning_rate_too_low": learning_rate_too_low,
}


def wastes_compute_only(cause: Cause) -> bool:
    """Whether ``cause`` is a batch far above the gradient noise scale: compute spent for
    nothing, which does not stop training, so it explains no failed run."""
    return cause.name == "batch_size" and cause.evidence.get("direction", 0.0) > 0


def top_cause(causes: Sequence[Cause], report_score: float, *, failed: bool) -> Cause | None:
    """The first of ranked ``causes`` that reaches ``report_score``; for a failed run, the
    first that could have caused the failure (not :func:`wastes_compute_only`)."""
    for cause in causes:
        if cause.score >= report_score and not (failed and wastes_compute_only(cause)):
            return cause
    return None


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
        return (
            not reported,
            reported and run_failed and wastes_compute_only(cause),
            -cause.score,
            order[cause.name],
        )

    return tuple(sorted(causes, key=key))
