"""The training loop, batches and checkpoints (lecture §1 and §3).

:func:`fit` trains any model of the functional contract with any ``optax`` optimizer:
shuffled minibatches of any size (1 to the whole set), whole epochs as one compiled loop
(``lax.fori_loop``; ``lax.scan`` over batches fed from the host), a :class:`History` of
per-step and per-epoch curves, orbax checkpoints that resume exactly and are verified when
read back, a clear stop on a non-finite step, and data parallelism over a device mesh.
:func:`evaluate` scores a model in evaluation mode.
"""

from jaxtrain.train._batching import epoch_batches
from jaxtrain.train._checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from jaxtrain.train._errors import (
    CheckpointCorruptError,
    CheckpointDirectoryError,
    CheckpointMismatchError,
    NonFiniteLossError,
)
from jaxtrain.train._evaluate import evaluate
from jaxtrain.train._fit import fit
from jaxtrain.train._history import History
from jaxtrain.train._state import TrainState

__all__ = [
    "Checkpoint",
    "CheckpointCorruptError",
    "CheckpointDirectoryError",
    "CheckpointMismatchError",
    "History",
    "NonFiniteLossError",
    "TrainState",
    "epoch_batches",
    "evaluate",
    "fit",
    "load_checkpoint",
    "save_checkpoint",
]
