"""The lecture's task strategy (§1) as a tool: why does this model fail, and what do I do?

:func:`diagnose` trains candidate models of increasing capacity with one budget over several
seeds and runs the flowchart:

- training loss large → **model bias** (a more flexible model does better, or none does) or
  an **optimization** issue (a simpler model trains *better*: He et al. 2016);
- training loss small but validation loss large → **overfitting** (a held-out split of the
  training distribution is bad too) or **mismatch** (it is fine: the validation data come
  from another distribution);
- both small → **ok**.

"Large" is relative to a baseline, the loss of the best constant prediction, so one set of
:class:`Thresholds` serves classification and regression. Where training stalled, the
gradient norm and the Hessian (:mod:`jaxtrain.curvature`) tell a critical point from an
oscillating learning rate (§4), and the critical point's kind in the words of
:data:`jaxtrain.curvature.KINDS` (saddle, minimum, degenerate, …, §2): a
:class:`StallReport` with its :class:`CurvatureCheck`. The result, a :class:`Diagnosis`, keeps
every number behind the verdict, lists remedies, renders as Markdown and JSON and plots the
training curves. :func:`decide` is the verdict alone, a pure function of measured losses, and
:func:`cross_validate` does k-fold model selection among the same kind of candidates.

For one run with the user's own optimizer, :func:`explain_run` trains it with the monitors of
:mod:`jaxtrain.monitor` on, probes what it needs (the Hessian at the end and a step along its
lowest eigenvector, a re-run at a lower η, the features' scales, the outputs' saturation) and
ranks the lecture's causes (§2–§6), :data:`CAUSES`: ``saddle_point``, ``local_minimum``,
``ill_conditioned``, ``saturated_loss``, ``learning_rate_too_high``, ``batch_size`` and
``learning_rate_too_low``. Each is a rule, a pure function of the measured
:class:`RunEvidence` (:func:`rank_causes`), with its thresholds in :class:`CauseThresholds`.
:func:`diagnose` reports the same causes for its primary model (``Diagnosis.causes``).
"""

from jaxtrain.diagnose._baseline import baseline_loss, default_loss, infer_task
from jaxtrain.diagnose._budget import Budget
from jaxtrain.diagnose._candidates import Candidate, ModelSpec, as_candidates
from jaxtrain.diagnose._causes import CAUSES, Cause, CauseSpec, rank_causes
from jaxtrain.diagnose._critical_point import CurvatureCheck
from jaxtrain.diagnose._cross_validate import CrossValidation, cross_validate
from jaxtrain.diagnose._diagnosis import HEADLINES, Diagnosis
from jaxtrain.diagnose._evidence import (
    RunEvidence,
    feature_spread,
    loss_curve_statistics,
    noise_statistics,
    saturation_statistics,
    sharpness_statistics,
)
from jaxtrain.diagnose._explain import explain_run
from jaxtrain.diagnose._explanation import RunExplanation
from jaxtrain.diagnose._flowchart import diagnose
from jaxtrain.diagnose._remedies import REMEDIES, remedies
from jaxtrain.diagnose._results import CandidateResult
from jaxtrain.diagnose._stall import Plateau, StallReport, analyze_stall
from jaxtrain.diagnose._thresholds import CauseThresholds, Thresholds
from jaxtrain.diagnose._verdict import VERDICTS, Decision, compare_candidates, decide

__all__ = [
    "CAUSES",
    "HEADLINES",
    "REMEDIES",
    "VERDICTS",
    "Budget",
    "Candidate",
    "CandidateResult",
    "Cause",
    "CauseSpec",
    "CauseThresholds",
    "CrossValidation",
    "CurvatureCheck",
    "Decision",
    "Diagnosis",
    "ModelSpec",
    "Plateau",
    "RunEvidence",
    "RunExplanation",
    "StallReport",
    "Thresholds",
    "analyze_stall",
    "as_candidates",
    "baseline_loss",
    "compare_candidates",
    "cross_validate",
    "decide",
    "default_loss",
    "diagnose",
    "explain_run",
    "feature_spread",
    "infer_task",
    "loss_curve_statistics",
    "noise_statistics",
    "rank_causes",
    "remedies",
    "saturation_statistics",
    "sharpness_statistics",
]
