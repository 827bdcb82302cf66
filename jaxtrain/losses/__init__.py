"""Classification and regression losses and the accuracy metric (lecture §5).

Every loss reads ``loss(predictions, targets, *, reduction="mean")``: ``reduction="none"`` gives
the per-example (or elementwise) values equal to ``optax.losses``, ``"sum"`` their sum. Class
labels may be integer indices or one-hot / soft targets. Shapes and dtypes are checked before
any computation; label values are checked too whenever they are concrete (outside ``jit``).

:func:`chunked_mean` takes the mean of any of them (or of a pytree of them) over a whole data
set, a fixed number of examples at a time: evaluation, full-batch curvature and the diagnosis
all compute the loss of a data set with it.
"""

from jaxtrain.losses._accuracy import accuracy
from jaxtrain.losses._chunked import chunked_mean
from jaxtrain.losses._cross_entropy import sigmoid_binary_cross_entropy, softmax_cross_entropy
from jaxtrain.losses._squared_error import mse

__all__ = [
    "accuracy",
    "chunked_mean",
    "mse",
    "sigmoid_binary_cross_entropy",
    "softmax_cross_entropy",
]
