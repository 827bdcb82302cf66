"""Several processes (``jax.distributed``): errors raised by all of them, shares joined.

Every process runs the same program, and a collective waits until every process has joined
it: a process that raises before one leaves the others waiting there for good. So a check
whose outcome can differ between processes (each checks its own share of the data; process 0
alone checks the checkpoint directory) does not raise at once. Its outcome rides on the next
exchange of the processes, :func:`together` (one ``process_allgather`` of a few bytes, which
also carries the numbers the caller needs from every process), and every process raises the
first failing process's error, naming that process. With one process nothing is exchanged and
an error is raised as it is.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from typing import TypeVar

import jax
import numpy as np

from jaxtrain.train._errors import (
    CheckpointCorruptError,
    CheckpointDirectoryError,
    CheckpointMismatchError,
)

__all__ = ["check_same_layout", "check_same_run", "example_layout", "joined_shares", "together"]

_T = TypeVar("_T")

# An error's message travels as this many bytes of UTF-8, cut short beyond.
_MESSAGE_BYTES = 2048
# The errors every process rebuilds from a message: a failing process's error is raised
# everywhere as the first of these it is an instance of (a LabelError as a ValueError),
# anything else as a RuntimeError naming its type.
_KINDS = (
    CheckpointCorruptError,
    CheckpointDirectoryError,
    CheckpointMismatchError,
    ValueError,
    OSError,
    RuntimeError,
)


def together(
    task: Callable[[], _T],
    *,
    numbers: Callable[[_T], Sequence[int]] | None = None,
    count: int = 0,
) -> tuple[_T, np.ndarray]:
    """``task()`` run by this process, its outcome learnt by every process in one exchange.

    Every process must call this at the same point (it is a collective), each with its own
    ``task``: a check of its own data, or process 0's work on a shared directory and nothing
    on the others. The exchange also stands for a barrier: no process returns before every
    one has finished its task.

    Args:
      task: what this process does.
      numbers: ``count`` ints of the task's result that every process learns, e.g. the size
        of its share.
      count: how many ``numbers`` give.

    Returns:
      ``(task's result, numbers)``, ``numbers[p]`` being process p's (int64 ``[P, count]``).

    Raises:
      The first failing process's error, on every process and with the same message,
      prefixed with ``"process p: "`` (on the failing process, raised from the original).
      With one process, the task's own error, unchanged.
    """
    if jax.process_count() == 1:
        result = task()
        values = numbers(result) if numbers is not None else ()
        return result, np.asarray(values, np.int64).reshape(1, count)
    result, failure, values = None, None, [0] * count
    try:
        result = task()
        if numbers is not None:
            values = [int(v) for v in numbers(result)]
    except Exception as error:
        failure = error
    rows = _exchanged(_packed(failure, values))
    head = np.ascontiguousarray(rows[:, : 8 * (1 + count)]).view(np.int64)
    for process, (kind, *_) in enumerate(head.tolist()):
        if kind >= 0:
            text = rows[process, 8 * (1 + count) :].tobytes().rstrip(b"\0")
            error = _KINDS[kind](f"process {process}: {text.decode(errors='ignore')}")
            raise error from failure
    return result, head[:, 1:]


def _packed(failure: Exception | None, values: Sequence[int]) -> np.ndarray:
    """This process's part of the exchange as bytes: the kind of its error (-1: none), its
    ``values``, then its error's message."""
    kind, text = -1, ""
    if failure is not None:
        kind = next((i for i, k in enumerate(_KINDS) if isinstance(failure, k)), len(_KINDS) - 1)
        text = str(failure)
        if not isinstance(failure, _KINDS):
            text = f"{type(failure).__name__}: {text}"
    data = text.encode()
    if len(data) > _MESSAGE_BYTES:
        data = data[: _MESSAGE_BYTES - 3] + "…".encode()
    message = np.zeros(_MESSAGE_BYTES, np.uint8)
    message[: len(data)] = np.frombuffer(data, np.uint8)
    head = np.asarray([kind, *values], np.int64).view(np.uint8)
    return np.concatenate([head, message])


def _exchanged(local: np.ndarray) -> np.ndarray:
    """Every process's ``local`` (the same shape and dtype everywhere), stacked by process."""
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(local))


def example_layout(arrays: Sequence[np.ndarray]) -> int:
    """A digest of the shape and dtype of one example of each array (the dtype JAX stores it
    in): shares that differ in it cannot be batched or joined together."""
    text = ";".join(f"{jax.dtypes.canonicalize_dtype(a.dtype)}{a.shape[1:]}" for a in arrays)
    return zlib.crc32(text.encode())


def check_same_layout(layouts: np.ndarray, name: str) -> None:
    """Refuses shares whose examples differ in shape or dtype (``layouts``: each process's
    :func:`example_layout`), on every process alike."""
    differ = np.flatnonzero(layouts != layouts[0])
    if differ.size:
        raise ValueError(
            f"every process must pass {name} whose examples have the same shape and dtype; "
            f"process {int(differ[0])}'s differ from process 0's (compare x.shape[1:], "
            "x.dtype, y.shape[1:] and y.dtype there)"
        )


def joined_shares(arrays: Sequence[np.ndarray], lengths: Sequence[int]) -> tuple[np.ndarray, ...]:
    """Every process's share of ``arrays`` joined in process order, on every process.

    Process p holds ``lengths[p]`` examples (axis 0) of each array, of one layout on every
    process (:func:`example_layout`). The shares may differ in length: each process's
    examples travel as rows of bytes, padded to the longest share, in one exchange, and the
    padding is cut off again, so every example is there exactly once.
    """
    arrays = [np.ascontiguousarray(a, jax.dtypes.canonicalize_dtype(a.dtype)) for a in arrays]
    local = len(arrays[0])
    widths = [int(np.prod(a.shape[1:], dtype=np.int64)) * a.dtype.itemsize for a in arrays]
    rows = np.concatenate(
        [
            a.reshape(local, -1 if local else w // a.dtype.itemsize).view(np.uint8)
            for a, w in zip(arrays, widths, strict=True)
        ],
        axis=1,
    )
    padded = np.zeros((max(lengths), rows.shape[1]), np.uint8)
    padded[:local] = rows
    gathered = _exchanged(padded)
    whole = np.concatenate([gathered[p, :n] for p, n in enumerate(lengths)])
    joined, start = [], 0
    for a, width in zip(arrays, widths, strict=True):
        part = np.ascontiguousarray(whole[:, start : start + width]).view(a.dtype)
        joined.append(part.reshape(len(whole), *a.shape[1:]))
        start += width
    return tuple(joined)


def check_same_run(digests: dict[str, int]) -> None:
    """Refuses, on every process alike, a run whose processes were given different
    arguments or initial values: each of ``digests`` (a name, and this process's CRC-32 of
    it) is compared with process 0's.

    Processes that differ in the batch size or the run's length wait for each other in
    different collectives for good; ones that differ in the initial parameters or the
    optimizer run to the end, each with its own copy of a state that is meant to be one, and
    a checkpoint keeps process 0's. With one process nothing is exchanged.

    Raises:
      ValueError: naming the first process that differs and what differs.
    """
    if jax.process_count() == 1:
        return
    names = list(digests)
    _, exchanged = together(lambda: [digests[n] for n in names], numbers=list, count=len(names))
    for process in range(1, len(exchanged)):
        differ = [
            n for n, a, b in zip(names, exchanged[0], exchanged[process], strict=True) if a != b
        ]
        if differ:
            raise ValueError(
                f"process {process}'s {', '.join(differ)} "
                f"{'differs' if len(differ) == 1 else 'differ'} from process 0's: every "
                "process must call fit with the same arguments, the same initial model and the "
                "same optimizer (the same seed), each with its own share of the data"
            )
