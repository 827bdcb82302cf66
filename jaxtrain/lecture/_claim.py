"""A claim of the lecture: the numbers an experiment measured, the figure drawn from them and a
caption that states what those numbers show."""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import math
import pathlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from jaxtrain._output_dir import OutputDir
from jaxtrain._text import non_finite

__all__ = ["EXAMPLES", "Claim", "LectureConfig", "png_bytes"]

# Who wrote the PNGs of Claim.save, in the folder's manifest. Every section's example script
# shares it: the examples write distinct names, so they may share a folder.
EXAMPLES = "the lecture examples"

_DPI = 100


@dataclasses.dataclass(frozen=True)
class LectureConfig:
    """The size of every lecture experiment.

    ``quick=True`` shrinks each experiment (fewer epochs, smaller nets, fewer seeds) so the whole
    lecture runs in about a minute on a 2-core CPU; the full size takes a few minutes. Nothing is
    device specific: the same experiments run on CPU, GPU or TPU.

    Example:
      >>> from jaxtrain.lecture import LectureConfig
      >>> LectureConfig(quick=True).size(quick=8, full=30)
      8
    """

    quick: bool = False

    def size(self, *, quick: Any, full: Any) -> Any:
        """``quick`` under the quick configuration, else ``full``."""
        return quick if self.quick else full


def png_bytes(figure: Any) -> tuple[bytes, int, int]:
    """Renders a matplotlib figure to PNG; returns (bytes, width, height) in pixels.

    The figure stays open, so a claim can be rendered more than once (a report and a folder).
    """
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI, bbox_inches="tight", facecolor="white")
    data = buffer.getvalue()
    # The PNG header stores the pixel size big-endian at bytes 16..24 (the IHDR chunk).
    return data, int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _rounded(value: Any) -> str:
    """A number, array or list as a person reads it: 4 significant digits, long arrays cut."""
    if value is None:  # a number not measured (a run that never got there)
        return "n/a"
    if isinstance(value, str | bool | int | np.integer):
        return str(value)
    if isinstance(value, float | np.floating):
        if not math.isfinite(value):
            return non_finite(value)
        return f"{value:.4g}"
    array = np.asarray(value)
    if array.dtype == object or array.dtype.kind in "USO":
        return str(value)
    if array.ndim == 0:
        return _rounded(array.item())
    if array.ndim == 1 and array.size <= 8:
        return "[" + ", ".join(_rounded(item) for item in array.tolist()) + "]"
    if array.ndim == 1:
        first, last = _rounded(array[0].item()), _rounded(array[-1].item())
        return f"[{first}, …, {last}] ({array.size} values)"
    return f"array of shape {array.shape}, from {_rounded(array.min().item())} to " + (
        f"{_rounded(array.max().item())}"
    )


@dataclasses.dataclass(frozen=True)
class Claim:
    """One claim of the lecture, as measured.

    Every renderer (``jaxtrain tour``, the examples, the notebooks) shows the same claim: the
    figure, the caption and, for readers who want to check, the numbers.

    Attributes:
      section: the lecture section's id (``"batch_normalization"``).
      id: the claim's id, unique within its section (``"test_time_statistics"``).
      title: a short title.
      numbers: the measured values the figure and the caption are drawn from (floats, ints,
        strings or arrays; stored in ``report.json``).
      figure: the matplotlib figure drawn from ``numbers``.
      caption: one to three sentences in the lecture's terms, filled in from ``numbers``; it
        states only what the numbers show.
    """

    section: str
    id: str
    title: str
    numbers: Mapping[str, Any]
    figure: Any
    caption: str

    @property
    def name(self) -> str:
        """``"<section>-<id>"``: the claim's name in file names and reports."""
        return f"{self.section}-{self.id}"

    def numbers_text(self, *paths: str) -> str:
        """The named numbers, one ``path = value`` line each, rounded for reading.

        A notebook prints them after the figure, so a reader sees the values behind what
        the figure shows. A path names a key of ``numbers``; ``"a/b"`` names key ``b`` of the
        mapping at ``a``. Floats show 4 significant digits; short arrays in full, long ones as
        their first and last values; a mapping one line per item.

        Args:
          *paths: the numbers to show, in order.

        Returns:
          The lines, joined by newlines.

        Raises:
          KeyError: naming the path and the keys that exist there, for a path that does not.

        Example:
          >>> from jaxtrain.lecture import Claim
          >>> claim = Claim("s", "c", "T", {"loss": {"final": 0.123456}}, None, "")
          >>> print(claim.numbers_text("loss/final"))
          loss/final = 0.1235
        """
        lines = []
        for path in paths:
            value: Any = self.numbers
            for key in path.split("/") if path not in self.numbers else [path]:
                if not isinstance(value, Mapping) or key not in value:
                    known = sorted(value) if isinstance(value, Mapping) else []
                    raise KeyError(f"claim {self.name} has no number {path!r}; there: {known}")
                value = value[key]
            if isinstance(value, Mapping):
                lines.append(f"{path}:")
                lines.extend(f"  {key} = {_rounded(item)}" for key, item in value.items())
            else:
                lines.append(f"{path} = {_rounded(value)}")
        return "\n".join(lines)

    def save(self, out_dir: str | pathlib.Path) -> pathlib.Path:
        """Writes the figure to ``out_dir/<section>-<id>.png`` and returns the path.

        The folder is created if missing; the file is written atomically, a link at its name
        is replaced (never written through), and the folder's manifest records it as the
        lecture examples' (see :class:`jaxtrain._output_dir.OutputDir`).
        """
        return OutputDir(out_dir, EXAMPLES).write_bytes(
            f"{self.name}.png", png_bytes(self.figure)[0]
        )

    def close(self) -> None:
        """Frees the figure's memory (matplotlib keeps every open figure)."""
        import matplotlib.pyplot as plt

        plt.close(self.figure)

    def _repr_html_(self) -> str:
        # A notebook shows a claim as its figure with the caption below it. Closing the figure
        # keeps the inline backend from showing it a second time; a closed figure still saves.
        data = base64.b64encode(png_bytes(self.figure)[0]).decode("ascii")
        self.close()
        return (
            f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(self.title)}">'
            f"<figcaption><b>{html.escape(self.title)}.</b> {html.escape(self.caption)}"
            "</figcaption></figure>"
        )
