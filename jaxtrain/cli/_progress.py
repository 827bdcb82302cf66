"""What a long command shows while it works: a bar on a terminal, one line per stage otherwise."""

from __future__ import annotations

import sys
from collections.abc import Callable

__all__ = ["progress"]


def progress(command: str) -> bool | Callable[[str, int, int], None]:
    """The ``progress`` argument for ``command``'s long computation.

    On a terminal, ``True``: a tqdm bar over the stages (see
    :class:`jaxtrain.train._progress.StageProgress`). Elsewhere (a pipe, a log file, CI) a bar's
    carriage returns would garble the log, so each stage is one line on stderr as it starts,
    ``jaxtrain diagnose [2/5]: training mlp-2x64-relu, seed 1``; stdout stays the result's.
    """
    if sys.stderr.isatty():
        return True

    def line(stage: str, index: int, total: int) -> None:
        print(f"jaxtrain {command} [{index}/{total}]: {stage}", file=sys.stderr, flush=True)

    return line
