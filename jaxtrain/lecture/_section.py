"""A lecture section: its title, the idea in one paragraph and its experiments, in order."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Protocol

from jaxtrain.lecture._claim import Claim, LectureConfig

__all__ = ["Experiment", "Section"]


class Experiment(Protocol):
    """A lecture experiment: ``(config, seed) -> Claim``, a pure function of its arguments.

    Its ``__name__`` is the id of the claim it makes.
    """

    __name__: str

    def __call__(self, config: LectureConfig, seed: int = 0, /) -> Claim: ...


@dataclasses.dataclass(frozen=True)
class Section:
    """A section of the lecture and the experiments behind its claims.

    Attributes:
      id: the section's id (``"batch_normalization"``), also its module's name.
      title: the heading, numbered as in the lecture (``"6. Batch normalization"``).
      summary: the section's idea in one paragraph, with its formulas.
      experiments: the experiments, in the order the lecture makes their claims.
    """

    id: str
    title: str
    summary: str
    experiments: tuple[Experiment, ...]

    def claims(self, config: LectureConfig, seed: int = 0) -> Iterator[Claim]:
        """Runs the experiments in order, yielding each claim as soon as it is measured."""
        for experiment in self.experiments:
            claim = experiment(config, seed)
            if claim.section != self.id:
                raise ValueError(
                    f"{experiment.__name__} made a claim of section {claim.section!r}, "
                    f"not {self.id!r}"
                )
            yield claim
