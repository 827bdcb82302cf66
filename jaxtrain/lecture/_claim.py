"""A claim of the lecture: the numbers an experiment measured, the figure drawn from them and a
caption that states what those numbers show."""

from __future__ import annotations

import base64
import collections
import dataclasses
import html
import io
import math
import pathlib
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from jaxtrain._json import from_json_float
from jaxtrain._output_dir import OutputDir
from jaxtrain._text import non_finite

__all__ = ["EXAMPLES", "Claim", "LectureConfig", "png_bytes", "rounded_apart"]

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


def _four_digits(number: float | int) -> str:
    return str(number) if isinstance(number, int) else f"{number:.4g}"


def _json_infinities_as_floats(value: Any) -> Any:
    """JSON's ``"Infinity"``/``"-Infinity"`` (:mod:`jaxtrain._json`) as the floats they stand
    for, in lists too: the report's numbers went through JSON."""
    if isinstance(value, list):
        return [_json_infinities_as_floats(item) for item in value]
    if isinstance(value, str) and value in ("Infinity", "-Infinity"):
        return from_json_float(value)
    return value


def _rounded(value: Any, number: Callable[[float | int], str] = _four_digits) -> str:
    """A number, array, list or mapping as a person reads it: each finite number as ``number``
    prints it (4 significant digits), long arrays cut, a number not measured "n/a"."""
    if value is None:  # a number not measured (a run that never got there), or JSON's NaN
        return "n/a"
    value = _json_infinities_as_floats(value)
    if isinstance(value, str | bool | np.bool_):
        return str(value)
    if isinstance(value, int | np.integer):
        return number(int(value))
    if isinstance(value, float | np.floating):
        return number(float(value)) if math.isfinite(value) else non_finite(float(value))
    if isinstance(value, Mapping):
        items = (f"{key}: {_rounded(item, number)}" for key, item in value.items())
        return "{" + ", ".join(items) + "}"
    try:
        array = np.asarray(value)
    except ValueError:  # a ragged list (one seed's curve stopped early): item by item
        return "[" + ", ".join(_rounded(item, number) for item in value) + "]"
    if array.dtype.kind in "US":
        return str(value)
    if array.dtype == object:
        try:  # a JSON list: None stands for a number that is not finite
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            return "[" + ", ".join(_rounded(item, number) for item in value) + "]"
    if array.ndim == 0:
        return _rounded(array.item(), number)
    if array.ndim == 1 and array.size <= 8:
        return "[" + ", ".join(_rounded(item, number) for item in array.tolist()) + "]"
    if array.ndim == 1:
        first, last = _rounded(array[0].item(), number), _rounded(array[-1].item(), number)
        return f"[{first}, …, {last}] ({array.size} values)"
    if array.size == 0:
        return f"array of shape {array.shape}, empty"
    # The range of the finite cells: one diverged seed's NaN must not hide every other value.
    finite = array[np.isfinite(array)]
    shown = finite if finite.size else array  # none finite: its n/a (or ∞) ends
    low, high = _rounded(shown.min().item(), number), _rounded(shown.max().item(), number)
    text = f"array of shape {array.shape}, from {low} to {high}"
    if 0 < finite.size < array.size:
        text += f" ({array.size - finite.size} of {array.size} not finite)"
    return text


def _digits_apart(numbers: list[float | int]) -> dict[float, int]:
    """For each float of ``numbers``, the fewest significant digits, from 4, at which it
    prints apart from every other of ``numbers`` that differs from it (ints print whole)."""
    floats = {v for v in numbers if isinstance(v, float)}
    # Each different value once: an int equal to a float is the same number, no rival.
    others = [float(v) for v in set(numbers) - floats if float(v) not in floats]
    digits: dict[float, int] = {}
    for precision in range(4, 18):
        printed = {v: float(f"{v:.{precision}g}") for v in floats}
        counts = collections.Counter([*printed.values(), *others])
        for value in floats - digits.keys():
            # Alone at this print, or printed exactly: a rival that prints alike gets more.
            if counts[printed[value]] == 1 or printed[value] == value:
                digits[value] = precision
    return digits


def rounded_apart(values: list[Any]) -> list[str]:
    """``values`` rounded for reading, read side by side: numbers in 4 significant digits,
    more where two different numbers among all of them would otherwise print alike.

    A caption prints the numbers it compares with the digits that keep them apart ("linear
    0.300041, MLP 0.300039, 'large' above 0.3"); the numbers shown to check it must not show
    the tie (0.3, 0.3, 0.3) the caption avoided. Lists and mappings read as in
    ``Claim.numbers_text``; NaN (or JSON's null) is "n/a", infinities "∞" and "−∞".

    Example:
      >>> rounded_apart([{"linear": 0.300041, "mlp": 0.300039}, 0.3, [0.5, None]])
      ['{linear: 0.300041, mlp: 0.300039}', '0.3', '[0.5, n/a]']
    """
    shown: list[float | int] = []

    def collect(number: float | int) -> str:
        shown.append(number)
        return ""

    for value in values:  # a first pass collects the numbers that will be printed
        _rounded(value, collect)
    digits = _digits_apart(shown)

    def apart(number: float | int) -> str:
        return str(number) if isinstance(number, int) else f"{number:.{digits[number]}g}"

    return [_rounded(value, apart) for value in values]


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
        mapping at ``a``. Floats show 4 significant digits, more where two different numbers
        shown would print alike (see :func:`rounded_apart`); short arrays in full, long ones
        as their first and last values, an array of two or more axes as the range of its
        finite values and how many are not finite; a mapping one line per item, a mapping
        inside it as ``{key: value, …}``.

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
        # A heading line, or a line's start and the value that ends it.
        lines: list[str | tuple[str, Any]] = []
        for path in paths:
            value: Any = self.numbers
            for key in path.split("/") if path not in self.numbers else [path]:
                if not isinstance(value, Mapping) or key not in value:
                    known = sorted(value) if isinstance(value, Mapping) else []
                    raise KeyError(f"claim {self.name} has no number {path!r}; there: {known}")
                value = value[key]
            if isinstance(value, Mapping):
                lines.append(f"{path}:")
                lines.extend((f"  {key} = ", item) for key, item in value.items())
            else:
                lines.append((f"{path} = ", value))
        texts = iter(rounded_apart([line[1] for line in lines if isinstance(line, tuple)]))
        return "\n".join(line if isinstance(line, str) else line[0] + next(texts) for line in lines)

    def save(self, out_dir: str | pathlib.Path, *, overwrite: bool = False) -> pathlib.Path:
        """Writes the figure to ``out_dir/<section>-<id>.png`` and returns the path.

        The folder is created if missing; the file is written atomically, a link at its name
        is replaced (never written through), and the folder's manifest records it as the
        lecture examples' (see :class:`jaxtrain._output_dir.OutputDir`). A file of that name
        that is not an earlier example's output is replaced only with ``overwrite``.
        """
        return OutputDir(out_dir, EXAMPLES, overwrite=overwrite).write_bytes(
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
