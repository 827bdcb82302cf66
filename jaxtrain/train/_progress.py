"""A tqdm bar over the steps, shown only where someone is watching (a terminal or a notebook)."""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["ProgressBar", "interactive"]


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
    """``tqdm.auto`` over ``total`` steps, updated once per epoch; silent when not shown."""

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
