"""A segment's step records, as rows of the run's :class:`History`.

Each compiled step records its loss, gradient norm, learning rate, a ``finite`` flag, the
training metrics (``train_<name>``) and the monitors' values; the host reads them once per
segment and turns them into per-step rows and one per-epoch row.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["ROW_RECORDS", "TRAIN_PREFIX", "epoch_row", "step_rows"]

# Per-step rows the host adds to the step's own records, and the prefix of the training
# metrics' records: names no monitor may record.
ROW_RECORDS = ("batch_size", "skipped")
TRAIN_PREFIX = "train_"


def step_rows(records: dict[str, np.ndarray], sizes: np.ndarray, count: int) -> dict[str, Any]:
    """The per-step rows of the first ``count`` steps (``sizes``: their batch sizes)."""
    rows = {
        "loss": records["loss"][:count],
        "grad_norm": records["grad_norm"][:count],
        "learning_rate": records["learning_rate"][:count],
        "batch_size": sizes[:count],
        "skipped": ~records["finite"][:count].astype(bool),
    }
    # Monitors' records: everything the step wrote beyond the fixed ones and the metrics.
    for name in sorted(records):
        if name not in rows and name != "finite" and not name.startswith(TRAIN_PREFIX):
            rows[name] = records[name][:count]
    return rows


def epoch_row(
    records: dict[str, np.ndarray],
    sizes: np.ndarray,
    *,
    step: int,
    steps_per_epoch: int,
    seconds: float,
) -> dict[str, Any]:
    """The per-epoch row of a segment that ends at ``step``, validation aside.

    The training loss and metrics are the means of the segment's finite steps weighted by
    their batch sizes (NaN when none was finite).
    """
    means = _weighted_means(records, sizes)
    return {
        "epoch": step / steps_per_epoch,
        "step": step,
        "train_loss": means.pop("loss"),
        **means,
        "skipped_steps": int((~records["finite"].astype(bool)).sum()),
        "epoch_time": seconds,
    }


def _weighted_means(records: dict[str, np.ndarray], sizes: np.ndarray) -> dict[str, float]:
    weights = sizes * records["finite"]
    total = weights.sum()
    means = {}
    for name in ("loss", *sorted(k for k in records if k.startswith(TRAIN_PREFIX))):
        values = np.where(records["finite"], records[name], 0.0).astype(np.float64)
        means[name] = float((weights * values).sum() / total) if total else math.nan
    return means
