"""Progress shown only where someone is watching (a terminal or a notebook): a tqdm bar over
fit's steps, and over the stages of longer computations (diagnose, the command line)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

__all__ = ["ProgressBar", "StageProgress", "interactive"]


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        ipython = shell.get_ipython()
    except AttributeError:
        return False
    return ipython is not None and "IPKernelApp" in getattr(ipython, "config", {})


def interactive() -> bool:
    """True on a terminal (stderr is a TTY) or in a Jupyter/Colab kernel."""
    stream = sys.stderr
    try:
        if stream is not None and stream.isatty():
            return True
    except (AttributeError, ValueError):
        pass
    return _in_notebook()


class ProgressBar:
    """``tqdm.auto`` over ``total`` steps, updated once per compiled call; silent when not shown."""

    def __init__(self, enabled: bool, *, total: int, initial: int):
        self._bar: Any = None
        if enabled and interactive():
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True)

    def update(self, steps: int, **postfix: float) -> None:
        if self._bar is not None:
            self._bar.set_postfix({k: f"{v:.4g}" for k, v in postfix.items()}, refresh=False)
            self._bar.update(steps)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


class StageProgress:
    """Which stage of a long computation is running, told to whoever watches.

    ``show`` is ``True`` (a tqdm bar over the stages with the running one written beside it,
    on a terminal or in a notebook only, like fit's bar), ``False`` (nothing), or a function
    ``show(stage, index, total)`` called as each stage starts, with its 1-based index and the
    number of stages known so far (the command line prints it as one line where no bar can
    be drawn). :meth:`expect` adds stages that a later decision calls for.

    Args:
      show: ``True``, ``False`` or ``show(stage, index, total)``.
      desc: the bar's label.
      total: the stages expected at the start.
    """

    def __init__(self, show: bool | Callable[[str, int, int], None], *, desc: str = "", total: int):
        self._show = show if callable(show) else None
        self._index = 0
        self._total = total
        self._bar: Any = None
        if show is True and interactive():
            from tqdm.auto import tqdm

            # leave=False: the bar goes when the work is done; the result is printed after it.
            self._bar = tqdm(total=total, desc=desc, unit="stage", leave=False, dynamic_ncols=True)

    def expect(self, stages: int) -> None:
        """Adds ``stages`` more stages to the total."""
        self._total += stages
        if self._bar is not None:
            self._bar.total = self._total
            self._bar.refresh()

    def stage(self, text: str) -> None:
        """Starts the next stage, described by ``text``; the previous one is done."""
        self._index += 1
        if self._index > self._total:
            raise ValueError(
                f"stage {self._index} of {self._total} ({text!r}): call expect() for stages "
                "beyond the announced total"
            )
        if self._show is not None:
            self._show(text, self._index, self._total)
        if self._bar is not None:
            self._bar.n = self._index - 1
            self._bar.set_postfix_str(text)  # refreshes the bar

    def close(self) -> None:
        """Removes the bar, if one is shown."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> StageProgress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
