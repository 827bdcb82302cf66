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
gradient norm and the Hessian (:mod:`jaxtrain.curvature`) tell a critical point (saddle or
minimum, §2) from an oscillating learning rate (§4). The result, a :class:`Diagnosis`, keeps
every number behind the verdict, lists remedies, renders as Markdown and JSON and plots the
training curves. :func:`decide` is the verdict alone, a pure function of measured losses, and
:func:`cross_validate` does k-fold model selection among the same kind of candidates.
"""

from jaxtrain.diagnose._baseline import baseline_loss, default_loss, infer_task
from jaxtrain.diagnose._budget import Budget
from jaxtrain.diagnose._candidates import Candidate, ModelSpec, as_candidates
from jaxtrain.diagnose._cross_validate import CrossValidation, cross_validate
from jaxtrain.diagnose._diagnosis import HEADLINES, Diagnosis
from jaxtrain.diagnose._flowchart import diagnose
from jaxtrain.diagnose._remedies import REMEDIES, remedies
from jaxtrain.diagnose._results import CandidateResult
from jaxtrain.diagnose._stall import analyze_stall
from jaxtrain.diagnose._thresholds import Thresholds
from jaxtrain.diagnose._verdict import VERDICTS, Decision, compare_candidates, decide

__all__ = [
    "HEADLINES",
    "REMEDIES",
    "VERDICTS",
    "Budget",
    "Candidate",
    "CandidateResult",
    "CrossValidation",
    "Decision",
    "Diagnosis",
    "ModelSpec",
    "Thresholds",
    "analyze_stall",
    "as_candidates",
    "baseline_loss",
    "compare_candidates",
    "cross_validate",
    "decide",
    "default_loss",
    "diagnose",
    "infer_task",
    "remedies",
]
