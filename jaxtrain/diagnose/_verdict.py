"""The lecture's flowchart as a pure function of measured losses.

No training happens here: :func:`decide` reads the numbers in :class:`CandidateResult` s and
returns the verdict, the reasons in words and every number it compared. That keeps the logic
testable on hand-made numbers and lets a user re-decide with other thresholds for free.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from jaxtrain._text import beside, counted
from jaxtrain.diagnose._candidates import check_capacity_order
from jaxtrain.diagnose._results import CandidateResult
from jaxtrain.diagnose._thresholds import Thresholds

__all__ = ["VERDICTS", "Decision", "compare_candidates", "decide"]

VERDICTS = ("model_bias", "optimization", "overfitting", "mismatch", "ok")
"""The flowchart's verdicts (lecture §1): the training loss large, from a model too simple
(``"model_bias"``) or an optimizer that fails (``"optimization"``); small but the validation
loss large, on the training distribution (``"overfitting"``) or only on another one
(``"mismatch"``); or both small (``"ok"``)."""


@dataclasses.dataclass(frozen=True)
class Decision:
    """A verdict of the flowchart with its reasons and the numbers behind them.

    Attributes:
      verdict: one of :data:`VERDICTS`: ``"model_bias"``, ``"optimization"``,
        ``"overfitting"``, ``"mismatch"`` or ``"ok"``.
      reasons: sentences, in the order the flowchart asked its questions.
      numbers: every compared quantity (relative losses, gaps, paired differences).

    Examples:
      >>> from jaxtrain.diagnose import Decision
      >>> Decision("ok", ("both losses are small",), {}).verdict
      'ok'
    """

    verdict: str
    reasons: tuple[str, ...]
    numbers: dict[str, Any]


def _difference(comparison: dict[str, Any]) -> float:
    """A comparison's Δ for ranking; ``None`` (the primary diverged: Δ is not finite) ranks
    above every finite Δ, as a diverged primary is worse than any candidate that trains."""
    difference = comparison["difference"]
    return math.inf if difference is None else difference


def compare_candidates(
    losses_a: Sequence[float],
    losses_b: Sequence[float],
    *,
    baseline: float,
    thresholds: Thresholds | None = None,
) -> dict[str, Any]:
    """Is candidate a's loss higher than b's beyond seed noise? Paired over seeds.

    With per-seed losses aₛ, bₛ (seed s shares the data split and batch order) and baseline B,
    the relative difference dₛ = (aₛ − bₛ)/B has mean Δ and standard error
    SE = std(d)/√n. a is *worse* when Δ > ``min_difference`` and Δ > ``noise_factor`` · SE.
    With a single seed there is no noise estimate and only ``min_difference`` applies.

    Args:
      losses_a: a's loss per seed.
      losses_b: b's loss per seed (same seeds, same order).
      baseline: the baseline loss B (> 0).
      thresholds: supplies ``min_difference`` and ``noise_factor`` (default
        :class:`Thresholds` ()).

    Returns:
      A dict with ``difference`` (Δ), ``standard_error`` (SE; ``None`` for one seed),
      ``seeds`` (n) and ``worse`` (whether a is worse than b beyond noise).

    Raises:
      ValueError: for different seed counts, no seeds or a non-positive baseline.

    Examples:
      >>> from jaxtrain.diagnose import compare_candidates
      >>> c = compare_candidates([0.9, 0.95, 0.92], [0.1, 0.12, 0.2], baseline=1.0)
      >>> round(c["difference"], 3), c["worse"]
      (0.783, True)

    References:
      He et al., *Deep Residual Learning for Image Recognition*, 2016 (a 56-layer plain
      network trains worse than a 20-layer one), https://arxiv.org/abs/1512.03385
    """
    thresholds = Thresholds() if thresholds is None else thresholds
    a = np.asarray(losses_a, dtype=np.float64).reshape(-1)
    b = np.asarray(losses_b, dtype=np.float64).reshape(-1)
    if a.size == 0 or a.size != b.size:
        raise ValueError(
            f"compare needs the same, non-zero number of seeds; got {a.size} and {b.size}."
        )
    if not baseline > 0:
        raise ValueError(f"`baseline` must be > 0; got {baseline!r}.")
    d = (a - b) / baseline
    difference = float(np.mean(d))
    if a.size > 1 and np.all(np.isfinite(d)):
        standard_error = float(np.std(d, ddof=1) / math.sqrt(a.size))
        beyond_noise = difference > thresholds.noise_factor * standard_error
    elif a.size > 1:  # a seed diverged: no error bar (not "± nan"), and no noise to beat
        standard_error, beyond_noise = None, False
    else:
        standard_error = None
        beyond_noise = True
    worse = bool(math.isfinite(difference) and difference > thresholds.min_difference)
    # A non-finite loss (diverged run) is worse than any finite one.
    if not np.all(np.isfinite(a)) and np.all(np.isfinite(b)):
        worse, beyond_noise = True, True
    return {
        "difference": difference if math.isfinite(difference) else None,
        "standard_error": standard_error,
        "seeds": int(a.size),
        "worse": bool(worse and beyond_noise),
    }


def _relative(result: CandidateResult, baseline: float) -> dict[str, float | None]:
    """Each split's mean loss over the baseline; ``None`` where a split was not measured.

    A measured held-out, validation or test loss that is not finite (the model overflowed on
    those examples) is +inf, an infinitely bad loss: dropping it as unmeasured would let the
    other splits vouch for the model. A training loss that is not finite is a diverged run,
    judged apart (``None`` here).
    """
    out: dict[str, float | None] = {}
    for split in ("train", "heldout", "val", "test"):
        measured = len(getattr(result, f"{split}_loss")) > 0
        value = result.mean(split) / baseline
        if math.isfinite(value):
            out[split] = value
        else:
            out[split] = math.inf if measured and split != "train" else None
    return out


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3g}"


def _resolve_primary(candidates: Sequence[CandidateResult], primary: int | str) -> int:
    if isinstance(primary, str):
        names = [c.name for c in candidates]
        if primary not in names:
            raise ValueError(f"`primary` {primary!r} is not a candidate name; choose from {names}.")
        return names.index(primary)
    index = int(primary)
    if not -len(candidates) <= index < len(candidates):
        raise ValueError(
            f"`primary` index {primary} is out of range for {len(candidates)} candidates."
        )
    return index % len(candidates)


def decide(
    candidates: Sequence[CandidateResult],
    *,
    primary: int | str = -1,
    baseline: float,
    thresholds: Thresholds | None = None,
) -> Decision:
    """Runs the lecture's flowchart on measured losses and returns the :class:`Decision`.

    The candidates are ordered by increasing capacity; ``primary`` is the user's model.
    With the baseline B (loss of the best constant prediction) and means over seeds:

    1. Training loss large (L_train/B > ``large_train_loss``)?
       - If a *simpler* (earlier) candidate reaches a lower training loss than the primary
         beyond seed noise (:func:`compare_candidates`), the verdict is ``"optimization"``:
         the bigger model could represent the smaller one's function but the optimizer did
         not find it (He et al. 2016's 56- vs 20-layer plain nets).
       - A primary that diverged is ``"optimization"`` too: its step was too large for the
         curvature, and no finite loss says what it can represent.
       - Otherwise it is ``"model_bias"``: a more flexible (later) candidate did better, or
         none did, so the function family (or the features) must grow.
    2. Training loss small. With the gap G = (L − L_train)/B on the held-out split of the
       training distribution (G_h) and on the given validation/test data (G_v, the worst):
       - G_v ≤ ``large_gap``: ``"ok"``;
       - G_h ≤ ``large_gap``, G_v > ``mismatch_factor`` · G_h and G_v − G_h beyond
         ``noise_factor`` × the two losses' sampling noise (their standard errors over the
         examples): ``"mismatch"`` (the model generalizes within its distribution, the
         validation data come from another);
       - else ``"overfitting"`` (it fails on unseen data of its own distribution too).

    Args:
      candidates: the measured candidates, in order of increasing capacity.
      primary: index or name of the user's model (default: the last, the largest).
      baseline: B, the loss of the best constant prediction on the training data (> 0).
      thresholds: the :class:`Thresholds` (default: the documented defaults).

    Returns:
      The :class:`Decision`.

    Raises:
      ValueError: for no candidates, an unknown ``primary``, a non-positive baseline,
        candidates measured over different numbers of seeds, or a candidate with fewer
        parameters than one before it (:func:`check_capacity_order`).

    Examples:
      >>> from jaxtrain.diagnose import CandidateResult, decide
      >>> shallow = CandidateResult("shallow", 100, [0.10, 0.12], [0.2, 0.2], [0.2, 0.2])
      >>> deep = CandidateResult("deep", 900, [0.95, 0.97], [1.0, 1.0], [1.0, 1.0])
      >>> decide([shallow, deep], baseline=1.0).verdict
      'optimization'
      >>> fine = CandidateResult("mlp", 500, [0.01, 0.02], [0.05, 0.06], [0.9, 1.1],
      ...                        heldout_se=[0.01, 0.01], val_se=[0.02, 0.02])
      >>> decide([fine], baseline=1.0).verdict
      'mismatch'
      >>> unmeasured = CandidateResult("mlp", 500, [0.01, 0.02], [0.05, 0.06], [0.9, 1.1])
      >>> decide([unmeasured], baseline=1.0).verdict  # no held-out noise: cannot vouch
      'overfitting'

    References:
      He et al., *Deep Residual Learning for Image Recognition*, 2016,
      https://arxiv.org/abs/1512.03385
    """
    thresholds = Thresholds() if thresholds is None else thresholds
    candidates = list(candidates)
    if not candidates:
        raise ValueError("`candidates` is empty: diagnose needs at least one measured model.")
    if not (isinstance(baseline, int | float | np.floating) and baseline > 0):
        raise ValueError(
            f"`baseline` must be a positive loss (the constant predictor's); got {baseline!r}."
        )
    seeds = {len(c.train_loss) for c in candidates}
    if len(seeds) != 1:
        raise ValueError(
            f"all candidates must be measured over the same seeds; got seed counts {sorted(seeds)}."
        )
    check_capacity_order([(c.name, c.n_params) for c in candidates])
    p = _resolve_primary(candidates, primary)
    me = candidates[p]
    relative = {c.name: _relative(c, baseline) for c in candidates}
    train_rel = relative[me.name]["train"]
    train_large = train_rel is None or train_rel > thresholds.large_train_loss
    numbers: dict[str, Any] = {
        "baseline": float(baseline),
        "primary": me.name,
        "relative_losses": relative,
        "train_relative": train_rel,
        "train_large": bool(train_large),
    }
    if train_rel is None:
        first = f"The training loss of {me.name!r} is not finite: the run diverged."
    else:
        # Named, because the stall section reads another one: one seed's mini-batch curve.
        measured = f"full batch, evaluation mode, mean over {counted(len(me.train_loss), 'seed')}"
        first = (
            f"The training loss of {me.name!r} ({measured}) is "
            f"{'large' if train_large else 'small'}: "
            f"{beside(train_rel, thresholds.large_train_loss)} × the baseline (threshold "
            f"{thresholds.large_train_loss:g})."
        )
    if train_large:
        verdict, reasons, found = _judge_training(candidates, p, baseline, thresholds)
    else:
        verdict, reasons, found = _judge_generalization(me, relative[me.name], baseline, thresholds)
    return Decision(verdict, (first, *reasons), {**numbers, **found})


def _noise_text(comparison: dict[str, Any]) -> str:
    """A paired comparison's error bar in words."""
    if comparison["seeds"] == 1:
        return "one seed, so no error bar"
    return f"± {_fmt(comparison['standard_error'])} over {comparison['seeds']} seeds"


def _not_down_text(comparisons: list[dict[str, Any]], thresholds: Thresholds) -> str:
    """Why no other candidate counts as training lower: "gets the training loss down" when
    none is lower by more than ``min_difference``, "trains lower beyond seed noise" when one
    is but within noise; the candidate that comes closest is named with its numbers."""
    lower = [c for c in comparisons if c["difference"] is not None and c["difference"] > 0]
    if not lower:
        return "gets the training loss down"
    best = max(lower, key=_difference)
    difference = beside(best["difference"], 0.0)
    by = f"{best['candidate']!r} is lower by only {difference} × the baseline"
    if best["difference"] <= thresholds.min_difference:
        minimum = thresholds.min_difference
        return f"gets the training loss down ({by}, below the {minimum:g} that counts)"
    return f"trains lower beyond seed noise ({by}, {_noise_text(best)})"


def _judge_training(
    candidates: list[CandidateResult], p: int, baseline: float, thresholds: Thresholds
) -> tuple[str, list[str], dict[str, Any]]:
    """Step 1 of the flowchart, the training loss being large: an optimization issue if a
    simpler candidate trains lower beyond seed noise, else model bias."""
    me = candidates[p]
    comparisons = []
    for i, other in enumerate(candidates):
        if i == p:
            continue
        role = "simpler" if i < p else "more_flexible"
        # "other is better" ⇔ the primary is worse than it beyond seed noise.
        cmp = compare_candidates(
            me.train_loss, other.train_loss, baseline=baseline, thresholds=thresholds
        )
        comparisons.append({"candidate": other.name, "role": role, "better": cmp["worse"], **cmp})
    numbers = {"comparisons": comparisons}
    simpler_better = [c for c in comparisons if c["role"] == "simpler" and c["better"]]
    flexible_better = [c for c in comparisons if c["role"] == "more_flexible" and c["better"]]
    if simpler_better:
        best = max(simpler_better, key=_difference)
        if best["difference"] is None:
            how = f"{me.name!r} diverged where {best['candidate']!r} trained"
        else:
            how = (
                f"{me.name!r} is worse by {beside(best['difference'], thresholds.min_difference)} "
                f"× the baseline ({_noise_text(best)})"
            )
        reason = (
            f"The simpler candidate {best['candidate']!r} reaches a lower training loss with "
            f"the same budget: {how}. {me.name!r} can represent everything "
            f"{best['candidate']!r} can, so the optimizer failed to find it: an optimization "
            "issue."
        )
        return "optimization", [reason], numbers
    diverged = sum(not math.isfinite(loss) for loss in me.train_loss)
    if diverged:
        # No finite loss says what the model can represent: a run that diverged failed in
        # the optimizer, whose step was too large for the curvature.
        lower = (
            f"the more flexible {max(flexible_better, key=_difference)['candidate']!r} trains "
            "lower, which does not make it model bias"
            if flexible_better
            else "no candidate trains lower"
        )
        reason = (
            f"{me.name!r} diverged (its training loss is not finite in {diverged} of "
            f"{len(me.train_loss)} seeds) and {lower}: a diverged run says nothing about what "
            "the model can represent. Its step was too large for the curvature (§4): an "
            "optimization issue; lower the learning rate."
        )
        return "optimization", [reason], numbers
    if flexible_better:
        # The primary trained (a diverged one returned above): every Δ here is a number.
        best = max(flexible_better, key=_difference)
        how = f"by {beside(best['difference'], thresholds.min_difference)} × the baseline"
        reason = (
            f"The more flexible candidate {best['candidate']!r} reaches a lower training loss "
            f"({how}): {me.name!r} is too simple for the data, which is model bias."
        )
        return "model_bias", [reason], numbers
    not_down = _not_down_text(comparisons, thresholds)
    if any(c["role"] == "simpler" for c in comparisons):
        reason = (
            "No simpler candidate trains better, so the optimizer is not the first suspect, "
            f"and no candidate {not_down}: the model family (or its input features) is too "
            "restricted, which is model bias."
        )
    elif comparisons:
        reason = (
            f"No candidate {not_down}, not even the more flexible ones: the input features "
            "carry too little, or every candidate is too restricted; that is model bias. (No "
            "simpler candidate was trained: add a shallower one to rule out an optimization "
            "issue.)"
        )
    else:
        reason = (
            "Only one candidate was trained, so an optimization issue cannot be ruled out: "
            "add a shallower candidate to tell the two apart. Until then the verdict is "
            "model bias."
        )
    return "model_bias", [reason], numbers


def _unknown_noise(me: CandidateResult, external: str) -> str:
    """Which of the two losses whose noise the mismatch test needs has no standard error."""
    unknown = [
        f"{split} loss" if split != "heldout" else "held-out loss"
        for split in ("heldout", external)
        if not math.isfinite(me.standard_error(split))
    ]
    return f"{' and the '.join(unknown)} {'has' if len(unknown) == 1 else 'have'}"


def _judge_generalization(
    me: CandidateResult,
    rel: dict[str, float | None],
    baseline: float,
    thresholds: Thresholds,
) -> tuple[str, list[str], dict[str, Any]]:
    """Step 2 of the flowchart, the training loss being small: ok, mismatch or overfitting,
    from the held-out and the validation/test gaps."""
    train_rel = rel["train"]
    heldout_gap = None if rel["heldout"] is None else rel["heldout"] - train_rel
    external = {
        split: rel[split] - train_rel for split in ("val", "test") if rel[split] is not None
    }
    if not external:
        raise ValueError(
            f"candidate {me.name!r} has no validation loss: give validation data to judge "
            "generalization."
        )
    worst = max(external, key=external.__getitem__)
    external_gap = external[worst]
    numbers: dict[str, Any] = {
        "gaps": {"heldout": heldout_gap, **external, "external": external_gap},
        "worst_external": worst,
    }
    large = thresholds.large_gap
    if external_gap <= large:
        reasons = [
            f"The {worst} loss is close to the training loss too: gap "
            f"{beside(external_gap, large)} × the baseline (threshold {large:g}). Nothing to fix."
        ]
        if heldout_gap is not None and heldout_gap > large:
            reasons.append(
                f"(The in-distribution held-out gap, {beside(heldout_gap, large)}, is larger; "
                "the held-out split is small, so treat the validation number with care.)"
            )
        return "ok", reasons, numbers
    reasons = [
        f"The {worst} loss is much larger: gap {beside(external_gap, large)} × the baseline "
        f"(threshold {large:g})."
    ]
    if heldout_gap is None:
        reasons.append(
            "No in-distribution held-out split was measured, so mismatch cannot be told from "
            "overfitting; overfitting is the default."
        )
        return "overfitting", reasons, numbers
    # Only a positive held-out gap makes a ratio; at or below the training loss it would
    # read as ~10¹² (the verdict below does not use it).
    numbers["gap_ratio"] = external_gap / heldout_gap if heldout_gap > 0 else None
    # The held-out split may hold only a few examples: its mean loss must be reliably below
    # the validation loss, beyond the sampling noise of both, before "fine" is believed.
    noise = math.hypot(me.standard_error("heldout"), me.standard_error(worst)) / baseline
    numbers["gap_noise"] = noise if math.isfinite(noise) else None
    # An unknown noise (one held-out example per seed, a loss without per-example values)
    # vouches for nothing: only a difference beyond a measured noise does.
    known = math.isfinite(noise)
    beyond_noise = known and external_gap - heldout_gap > thresholds.noise_factor * noise
    numbers["gap_beyond_noise"] = bool(beyond_noise)
    factor = thresholds.mismatch_factor
    heldout_fine = heldout_gap <= large
    looks_fine = heldout_fine and external_gap > factor * max(heldout_gap, 0.0)
    if looks_fine and not beyond_noise:
        why = (
            f"the difference to the {worst} gap is within {thresholds.noise_factor:g} × its "
            f"sampling noise (± {_fmt(noise)})"
            if known
            else f"its sampling noise is unknown (the {_unknown_noise(me, worst)} no standard "
            "error: one example per seed, or a loss without per-example values), so the "
            f"difference to the {worst} gap cannot be told from it"
        )
        reasons.append(
            f"The held-out split of the training distribution looks fine (gap "
            f"{beside(heldout_gap, large)} × the baseline), but {why}: the held-out split is "
            "too small to vouch for the model, so this is treated as overfitting. More data, or "
            "more seeds, would tell."
        )
        return "overfitting", reasons, numbers
    if looks_fine:
        reasons.append(
            f"But a held-out split of the training distribution is fine: gap "
            f"{beside(heldout_gap, large)} × the baseline, while the {worst} gap is "
            f"{beside(external_gap, factor * max(heldout_gap, 0.0))} (more than {factor:g}× as "
            "large). The model generalizes "
            f"within its distribution; the {worst} data come from another one: a mismatch. "
            "More training data of the same kind will not fix it."
        )
        return "mismatch", reasons, numbers
    if heldout_fine:
        reasons.append(
            f"A held-out split of the training distribution has a gap of "
            f"{beside(heldout_gap, large)} × the baseline, within the threshold {large:g}, but "
            f"the {worst} gap is not more than {factor:g}× as large: the two gaps differ too "
            "little to blame a second distribution. The model fits its training examples "
            "better than new ones: overfitting."
        )
        return "overfitting", reasons, numbers
    reasons.append(
        f"A held-out split of the training distribution is bad as well: gap "
        f"{beside(heldout_gap, large)} × the baseline. The model fits its training examples "
        "but not new ones from the same distribution: overfitting."
    )
    if external_gap > factor * heldout_gap + large:
        reasons.append(
            f"The {worst} gap is also much larger than the held-out one: a distribution mismatch "
            "may add to the overfitting."
        )
    return "overfitting", reasons, numbers
