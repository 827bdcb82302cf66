"""Classification and regression losses and the accuracy metric (lecture §5).

Every loss reads ``loss(predictions, targets, ..., *, reduction="mean")`` and accepts what its
optax namesake accepts, in the same positions (``softmax_cross_entropy(logits, labels, axis,
where)``, ``mse(predictions, targets=None)``). The one difference is the default reduction:
optax returns per-example (or elementwise) values, jaxtrain their mean; ``reduction="none"``
gives optax's values, ``"sum"`` their sum. Class labels may be integer indices or one-hot / soft
targets. Shapes and dtypes are checked before any computation; integer label values are checked
too whenever they are concrete (not traced by ``jit``, ``grad`` or ``vmap``). Floating-point
targets are not value-checked: the losses are linear in them, so derivatives with respect to
them work, finite differences included.

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
