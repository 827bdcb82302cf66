"""What a training run records: per-step and per-epoch curves, as arrays and as JSON."""

from __future__ import annotations

import json
import math
import os
import pathlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from jaxtrain._atomic import write_atomically
from jaxtrain._columns import common_length
from jaxtrain._json import from_json_float, json_float
from jaxtrain._text import counted

__all__ = ["History"]

_FORMAT = "jaxtrain.History/1"


class History:
    """The curves of a training run: per-step and per-epoch values as NumPy arrays.

    ``per_step`` has one entry per optimizer step t (skipped ones included):

    - ``"loss"``: the training loss L(θₜ) of batch t, before its update;
    - ``"grad_norm"``: ‖g‖, the global L2 norm of that batch's gradient;
    - ``"learning_rate"``: the η the update used (read from the optimizer state; NaN when the
      optimizer does not record it and ``fit`` was given no ``learning_rate=``);
    - ``"batch_size"``: the number of examples in batch t (smaller for a last partial batch);
    - ``"skipped"``: True where the loss or gradient was not finite and the update was not
      applied (``on_nonfinite="skip"``).

    ``per_epoch`` has one entry per epoch (a run that stops mid-epoch, with ``steps=``,
    records that partial epoch too; resumed to more steps, the rest of that epoch gets an
    entry of its own, so an epoch split by a stop has two rows, told apart by ``"step"``):

    - ``"epoch"``: epochs completed (an epoch is a pass over the N examples); a partial
      epoch counts the share of its steps taken (3 of its 4 steps: 0.75, even where the
      fourth is a partial batch of 2 of N = 50);
    - ``"step"``: the step count at the end of the epoch;
    - ``"train_loss"``: the mean of the epoch's step losses weighted by batch size, i.e. the
      average loss over the examples seen, each with the parameters of its own step (not the
      loss of the final parameters; skipped steps left out);
    - ``"train_<metric>"``: the same running average of each metric, in training mode
      (batch statistics, augmentation, dropout);
    - ``"val_loss"``, ``"val_<metric>"``: :func:`jaxtrain.train.evaluate` on the validation
      data after the epoch, in evaluation mode (running statistics);
    - ``"skipped_steps"``: steps skipped in the epoch;
    - ``"epoch_time"``: wall-clock seconds of the epoch (the first includes compilation);
      later epochs run in one call (few steps each, see :func:`fit`) share its time by
      steps.

    Examples:
      >>> import numpy as np
      >>> from jaxtrain.train import History
      >>> h = History({"loss": np.array([2.0, 1.0])}, {"train_loss": np.array([1.5])})
      >>> h2 = History.from_json(h.to_json())
      >>> print(h2.per_step["loss"], h2.per_epoch["train_loss"])
      [2. 1.] [1.5]
    """

    def __init__(
        self,
        per_step: Mapping[str, Any] | None = None,
        per_epoch: Mapping[str, Any] | None = None,
    ):
        self._step_chunks: dict[str, list[np.ndarray]] = {}
        self._epoch_rows: dict[str, list[Any]] = {}
        self._cache: tuple[dict[str, np.ndarray], dict[str, np.ndarray]] | None = None
        for name, values in (per_step or {}).items():
            self._step_chunks[name] = [np.asarray(values)]
        for name, values in (per_epoch or {}).items():
            self._epoch_rows[name] = list(np.asarray(values).tolist())
        common_length({name: chunks[0] for name, chunks in self._step_chunks.items()}, "per_step")
        common_length(self._epoch_rows, "per_epoch")

    @property
    def per_step(self) -> dict[str, np.ndarray]:
        """Per-step curves, one array per name (a fresh dict; the arrays are shared)."""
        return dict(self._arrays()[0])

    @property
    def per_epoch(self) -> dict[str, np.ndarray]:
        """Per-epoch curves, one array per name (a fresh dict; the arrays are shared)."""
        return dict(self._arrays()[1])

    @property
    def num_steps(self) -> int:
        """The number of steps recorded."""
        chunks = next(iter(self._step_chunks.values()), [])
        return int(sum(len(chunk) for chunk in chunks))

    @property
    def num_epochs(self) -> int:
        """The number of epochs recorded (a partial epoch counts as one)."""
        return len(next(iter(self._epoch_rows.values()), []))

    def _arrays(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        if self._cache is None:
            per_step = {
                name: np.concatenate(chunks) if chunks else np.zeros(0)
                for name, chunks in self._step_chunks.items()
            }
            per_epoch = {name: np.asarray(rows) for name, rows in self._epoch_rows.items()}
            self._cache = (per_step, per_epoch)
        return self._cache

    def append_steps(self, values: Mapping[str, Any]) -> None:
        """Appends a block of consecutive steps (every array of equal length). A record the
        block lacks (a run resumed without its monitors) is NaN there; a floating-point
        record new in it (a monitor added on resume) is NaN in the steps before."""
        lengths = {len(np.asarray(v)) for v in values.values()}
        if len(lengths) > 1:
            raise ValueError(f"step records of unequal lengths: {sorted(lengths)}")
        previous = self.num_steps
        arrays = {name: np.asarray(array) for name, array in values.items()}
        # Checked before anything is appended: a refused block leaves the history as it was.
        for name, array in arrays.items():
            new = not self._step_chunks.get(name)
            if new and previous and not np.issubdtype(array.dtype, np.floating):
                raise ValueError(f"per-step record {name!r} appeared after {previous} steps")
        for name, chunks in self._step_chunks.items():
            if name not in arrays and not np.issubdtype(chunks[0].dtype, np.floating):
                raise ValueError(f"per-step record {name!r} is missing from these steps")
        for name, array in arrays.items():
            chunks = self._step_chunks.setdefault(name, [])
            if not chunks and previous:
                chunks.append(np.full(previous, np.nan, array.dtype))
            chunks.append(array)
        (length,) = lengths or {0}
        for name, chunks in self._step_chunks.items():
            if name not in arrays:
                chunks.append(np.full(length, np.nan, chunks[0].dtype))
        self._cache = None

    def append_epoch(self, values: Mapping[str, Any]) -> None:
        """Appends one epoch's values (a name absent before is padded with NaN)."""
        done = self.num_epochs
        for name, value in values.items():
            self._epoch_rows.setdefault(name, [math.nan] * done).append(value)
        for rows in self._epoch_rows.values():
            if len(rows) == done:
                rows.append(math.nan)
        self._cache = None

    def to_dict(self) -> dict[str, Any]:
        """The history as plain lists (NaN as ``None``, ±inf as ``"Infinity"`` and
        ``"-Infinity"``), ready for ``json.dumps``."""
        per_step, per_epoch = self._arrays()
        return {
            "format": _FORMAT,
            "per_step": {k: _to_list(v) for k, v in per_step.items()},
            "per_epoch": {k: _to_list(v) for k, v in per_epoch.items()},
            "dtypes": {
                "per_step": {k: v.dtype.str for k, v in per_step.items()},
                "per_epoch": {k: v.dtype.str for k, v in per_epoch.items()},
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> History:
        """The inverse of :meth:`to_dict`.

        Raises:
          ValueError: if ``data`` is not a saved history.
        """
        if data.get("format") != _FORMAT:
            raise ValueError(
                f"not a jaxtrain History (format {data.get('format')!r}, expected {_FORMAT!r})"
            )
        dtypes = data.get("dtypes", {})
        sections = []
        for section in ("per_step", "per_epoch"):
            kinds = dtypes.get(section, {})
            sections.append(
                {
                    name: _from_list(values, kinds.get(name))
                    for name, values in data[section].items()
                }
            )
        return cls(*sections)

    def to_json(self) -> str:
        """The history as strict JSON text (NaN written as ``null``)."""
        return json.dumps(self.to_dict(), allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> History:
        """Reads a history written by :meth:`to_json`."""
        return cls.from_dict(json.loads(text))

    def save(self, path: str | os.PathLike) -> pathlib.Path:
        """Writes the JSON to ``path`` atomically (a temporary file, then a rename).

        Returns:
          The path written.
        """
        path = pathlib.Path(path)
        write_atomically(path, self.to_json())
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> History:
        """Reads a history saved by :meth:`save`."""
        return cls.from_json(pathlib.Path(path).read_text())

    def plot(self, axes: Any = None, **kwargs: Any) -> Any:
        """Draws the curves with :func:`jaxtrain.plot.plot_history` and returns its axes."""
        from jaxtrain.plot import plot_history

        return plot_history(self, axes, **kwargs)

    def __repr__(self) -> str:
        per_step, per_epoch = self._arrays()
        return (
            f"History({counted(self.num_steps, 'step')}: {sorted(per_step)}; "
            f"{counted(self.num_epochs, 'epoch')}: {sorted(per_epoch)})"
        )


def _to_list(values: np.ndarray) -> list[Any]:
    # Strict JSON has no NaN or infinity: jaxtrain's one spelling (null, "Infinity").
    if values.dtype.kind in "fc":
        return [json_float(v) for v in values.tolist()]
    return values.tolist()


def _from_list(values: list[Any], dtype: str | None) -> np.ndarray:
    if dtype is not None and np.dtype(dtype).kind in "biu":
        return np.asarray(values, dtype=dtype)
    numbers = [from_json_float(v) for v in values]
    array = np.asarray(numbers, dtype=np.float64)
    return array.astype(dtype) if dtype is not None else array
