"""Records kept as columns of one length: a training run's curves, per step and per epoch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["common_length"]


def common_length(records: Mapping[str, Any], kind: str) -> int:
    """The one length of every record (0 with none), ``kind`` naming them in the refusal.

    ``num_steps``/``num_epochs`` read one column, and every later append would keep columns
    of different lengths out of step; a plot would draw them against the wrong x.

    Raises:
      ValueError: for records of different lengths.
    """
    lengths = {name: len(values) for name, values in records.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"{kind} records must have one length each; got {lengths}")
    return next(iter(lengths.values()), 0)
