"""The lecture's experiments, one pure function per claim.

Each lecture section is a module here; each experiment in it is a pure function
``(config, seed) -> Claim`` that measures something with jaxtrain's public API and returns the
numbers, a figure drawn from them and a caption filled in from them. ``jaxtrain tour``, the
scripts in ``examples/`` and the notebooks only render these claims, so each experiment is
written once, here.

Example:
  >>> from jaxtrain import lecture
  >>> [section.id for section in lecture.SECTIONS][:2]
  ['task_strategy', 'critical_points']
  >>> claim = lecture.batch_normalization.statistics_at_test_time(  # doctest: +SKIP
  ...     lecture.LectureConfig(quick=True), seed=0)
  >>> round(claim.numbers["accuracy"]["batch statistics, batches of one"], 2)  # doctest: +SKIP
  0.1
"""

from jaxtrain.lecture import (
    adaptive_learning_rate,
    batch_and_momentum,
    batch_normalization,
    critical_points,
    loss_functions,
    task_strategy,
)
from jaxtrain.lecture._claim import Claim, LectureConfig
from jaxtrain.lecture._script import run_example
from jaxtrain.lecture._section import Experiment, Section

__all__ = [
    "SECTIONS",
    "Claim",
    "Experiment",
    "LectureConfig",
    "Section",
    "adaptive_learning_rate",
    "batch_and_momentum",
    "batch_normalization",
    "critical_points",
    "loss_functions",
    "run_example",
    "section",
    "task_strategy",
]

SECTIONS: tuple[Section, ...] = (
    task_strategy.SECTION,
    critical_points.SECTION,
    batch_and_momentum.SECTION,
    adaptive_learning_rate.SECTION,
    loss_functions.SECTION,
    batch_normalization.SECTION,
)
"""The lecture's sections, in its order."""


def section(id: str) -> Section:
    """The section with this id; a ``ValueError`` lists the ids when there is none."""
    for candidate in SECTIONS:
        if candidate.id == id:
            return candidate
    raise ValueError(f"no lecture section {id!r}; choose from {[s.id for s in SECTIONS]}")
