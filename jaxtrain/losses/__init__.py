"""Classification and regression losses and the accuracy metric (lecture §5).

Every loss reads ``loss(predictions, targets, *, reduction="mean")``: ``reduction="none"`` gives
the per-example (or elementwise) values equal to ``optax.losses``, ``"sum"`` their sum. Class
labels may be integer indices or one-hot / soft targets. Shapes and dtypes are checked before
any computation; label values are checked too whenever they are concrete (outside ``jit``).
"""

from jaxtrain.losses._accuracy import accuracy
from jaxtrain.losses._cross_entropy import sigmoid_binary_cross_entropy, softmax_cross_entropy
from jaxtrain.losses._squared_error import mse

__all__ = [
    "accuracy",
    "mse",
    "sigmoid_binary_cross_entropy",
    "softmax_cross_entropy",
]
